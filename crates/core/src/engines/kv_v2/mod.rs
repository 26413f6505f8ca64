//! KV version 2: versioned key/value secrets, API-compatible with Vault's `kv-v2`.
//!
//! Routes (relative to the mount, declared in [`routes`]): `config`, `data/<key>`,
//! `metadata/<key>`, `delete/<key>`, `undelete/<key>`, `destroy/<key>`, `subkeys/<key>`, and
//! coffre's `rotate/<key>`, `promote/<key>`, `rollback/<key>` ([`rotation`]). Storage layout
//! and locking are described in [`store`].
//!
//! Every read-modify-write of a key holds that key's lock (shared by every engine instance of
//! the mount, see [`store::mount_locks`]), so a check-and-set write can never let two writers
//! win.

mod fields;
pub(crate) mod rotation;
mod routes;
mod store;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{Engine, EngineRequest};
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields::{opt_bool, opt_i64};
use crate::quota::SecretCount;
use crate::request::{Operation, Response};
use crate::route::Routes;
use crate::system::Ctx;
use fields::{
    cas_option, custom_metadata_field, merge_patch, mismatch, opt_signed_duration, opt_u32,
    opt_unsigned_duration, strip_values, validate_custom_metadata, versions_list,
};
use routes::{INVALID_PATH, ROUTES, Route};
use std::sync::Arc;

use store::{Config, KeyMeta, MountLocks, fmt_time, go_duration, valid_key};

/// The KV v2 engine. Data lives in the mount's view; the per-key locks live in a process-wide
/// table keyed by mount uuid, shared by every instance of the same mount.
#[derive(Debug)]
pub(crate) struct KvV2 {
    /// The mount's lock table, looked up once here rather than in the global table on every
    /// request (that lookup took a contended mutex on the hot path).
    locks: Arc<MountLocks>,
    /// The namespace's `max_secrets` count: a secret is a key with metadata.
    secrets: Arc<SecretCount>,
    /// Jobs, password policies and audit, for rotating the mount's secrets.
    rotation: crate::rotation::Services,
}

impl KvV2 {
    /// A new engine instance for the mount with this uuid.
    pub(crate) fn new(mount_uuid: &str, ctx: &crate::engines::EngineContext<'_>) -> KvV2 {
        KvV2 {
            locks: ctx.states.get(mount_uuid),
            secrets: ctx.secrets.clone(),
            rotation: ctx.rotation.clone(),
        }
    }
}

/// Versions-list operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionsOp {
    Delete,
    Undelete,
    Destroy,
}

fn cas_required_error() -> Error {
    Error::invalid("check-and-set parameter required for this call")
}

/// Vault's check-and-set rule: when `options.cas` is present it must equal the current
/// version (0 = the key has no version yet); when absent, writes are refused if the mount or
/// the key requires CAS.
fn check_cas(data: &Map<String, Value>, config: &Config, meta: &KeyMeta) -> Result<()> {
    match cas_option(data)? {
        Some(cas) if u64::try_from(cas).ok() != Some(meta.current_version) => Err(Error::invalid(
            "check-and-set parameter did not match the current version",
        )),
        None if config.cas_required || meta.cas_required => Err(cas_required_error()),
        _ => Ok(()),
    }
}

fn empty() -> Result<Option<Response>> {
    Ok(Some(Response::empty()))
}

/// The `data` object of a write or patch.
fn data_field(data: &Map<String, Value>) -> Result<&Map<String, Value>> {
    match data.get("data") {
        None | Some(Value::Null) => Err(Error::invalid("no data provided")),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(mismatch("data", "a map")),
    }
}

#[async_trait]
impl Engine for KvV2 {
    fn routes(&self) -> &'static dyn Routes {
        &*ROUTES
    }

    async fn count_secrets(&self, view: &View) -> Result<u64> {
        store::count_secrets(view).await
    }

    async fn invalidate(&self, key: &str) {
        self.locks.invalidate(key).await;
    }

    async fn exists(&self, req: &EngineRequest) -> Result<bool> {
        let key = req.param("path");
        if !valid_key(key) {
            return Ok(false);
        }
        // Under the key's read lock the answer may be cached, absent or not: the write that
        // usually follows then finds it without a second lookup.
        let _guard = self.locks.key(key).read().await;
        Ok(store::load_meta(&req.view, &self.locks, key)
            .await?
            .is_some())
    }

    async fn handle(&self, req: EngineRequest, _ctx: &Ctx<'_>) -> Result<Option<Response>> {
        let route = ROUTES.route(&req.matched).ok_or(Error::UnsupportedPath)?;
        // Blobs of the first storage layout move before the mount serves anything (once per
        // process; concurrent first requests wait for it).
        self.locks
            .migrated
            .get_or_try_init(|| async {
                let moved = store::migrate_legacy_versions(&req.view).await?;
                if moved > 0 {
                    tracing::info!(mount = %req.mount.path, moved, "kv-v2: version blobs moved to the current layout");
                }
                Ok::<(), Error>(())
            })
            .await?;
        if matches!(route, Route::Rotate | Route::Promote | Route::Rollback) {
            let key = req.param("path");
            if !valid_key(key) {
                return Err(Error::UnsupportedPath);
            }
            let secret = rotation::Secret {
                view: &req.view,
                locks: &self.locks,
                services: &self.rotation,
                mount: &req.mount,
                key,
            };
            return match route {
                Route::Rollback => {
                    let to = opt_i64(&req.data, "version")?
                        .map(|v| {
                            u64::try_from(v).map_err(|_| mismatch("version", "a version number"))
                        })
                        .transpose()?;
                    rotation::rollback(&secret, to).await
                }
                _ => {
                    let dry_run = opt_bool(&req.data, "dry_run")?.unwrap_or(false);
                    rotation::by_hand(&secret, route == Route::Promote, dry_run).await
                }
            };
        }
        let meta_ctx = MetaCtx {
            services: &self.rotation,
            mount: &req.mount,
        };
        dispatch(route, &req, &self.locks, &self.secrets, &meta_ctx).await
    }
}

/// What metadata writes need to schedule a secret's rotation.
struct MetaCtx<'a> {
    services: &'a crate::rotation::Services,
    mount: &'a crate::mount::MountEntry,
}

async fn dispatch(
    route: Route,
    req: &EngineRequest,
    locks: &MountLocks,
    secrets: &SecretCount,
    rot: &MetaCtx<'_>,
) -> Result<Option<Response>> {
    let view = &req.view;
    let data = &req.data;
    let op = req.operation;
    let key = req.param("path");
    // The table has checked the operation; arms it excludes are unreachable.
    match route {
        Route::Config => match op {
            Operation::Read => config_read(view, locks).await,
            _ => config_write(view, data, locks).await,
        },
        Route::Metadata if op == Operation::List => metadata_list(view, key, data, locks).await,
        Route::Data | Route::Metadata | Route::Subkeys if !valid_key(key) => {
            Err(Error::UnsupportedPath)
        }
        Route::Data => match op {
            Operation::Read => data_read(view, key, data, locks).await,
            Operation::Patch => data_patch(view, key, data, locks).await,
            Operation::Delete => data_delete(view, key, locks).await,
            _ => data_write(view, key, data, locks, secrets).await,
        },
        Route::Metadata => match op {
            Operation::Read => metadata_read(view, key, locks).await,
            Operation::Patch => metadata_patch(view, key, data, locks, rot).await,
            Operation::Delete => metadata_delete(view, key, locks, secrets).await,
            _ => metadata_write(view, key, data, locks, secrets, rot).await,
        },
        Route::Delete => versions_op(view, key, data, locks, VersionsOp::Delete).await,
        Route::Undelete => versions_op(view, key, data, locks, VersionsOp::Undelete).await,
        Route::Destroy => versions_op(view, key, data, locks, VersionsOp::Destroy).await,
        Route::Subkeys => subkeys_read(view, key, data, locks).await,
        Route::Rotate | Route::Promote | Route::Rollback => Err(Error::UnsupportedPath),
        Route::Elsewhere => Ok(Some(Response {
            status: Some(404),
            warnings: vec![INVALID_PATH.into()],
            ..Response::default()
        })),
    }
}

// ----- config -----

async fn config_read(view: &View, locks: &MountLocks) -> Result<Option<Response>> {
    let config = store::load_config(view, locks).await?;
    let mut data = Map::new();
    data.insert("max_versions".into(), config.max_versions.into());
    data.insert("cas_required".into(), config.cas_required.into());
    // Check-and-set on metadata writes is not implemented: never required.
    data.insert("metadata_cas_required".into(), false.into());
    data.insert(
        "delete_version_after".into(),
        go_duration(config.delete_version_after).into(),
    );
    Ok(Some(Response::with_data(data)))
}

async fn config_write(
    view: &View,
    data: &Map<String, Value>,
    locks: &MountLocks,
) -> Result<Option<Response>> {
    let max = opt_u32(data, "max_versions")?;
    let cas = opt_bool(data, "cas_required")?;
    let dva = opt_signed_duration(data, "delete_version_after")?;
    if max.is_none() && cas.is_none() && dva.is_none() {
        return empty();
    }
    let _guard = locks.config.lock().await;
    let mut config = store::read_config(view).await?;
    if let Some(max) = max {
        config.max_versions = max;
    }
    if let Some(cas) = cas {
        config.cas_required = cas;
    }
    if let Some(dva) = dva {
        // Vault: negative disables the feature mount-wide (stored as -1s), zero clears it.
        config.delete_version_after = if dva < 0 { -1 } else { dva };
    }
    store::save_config(view, locks, &config).await?;
    empty()
}

// ----- data -----

/// What reading one version of a key found.
enum VersionRead {
    /// No such key or version.
    Missing,
    /// Soft-deleted or destroyed: the 404 envelope with its metadata (Vault's shape).
    Gone(Response),
    /// Live: the metadata object, the secret, and whether the key is marked critical.
    Live(Map<String, Value>, Map<String, Value>, bool),
}

/// Reads version `requested` of `key` (0 or less: the current one) under the key's read lock.
/// `field` names the member that is null in the [`VersionRead::Gone`] response.
async fn read_version(
    view: &View,
    key: &str,
    requested: i64,
    locks: &MountLocks,
    field: &str,
) -> Result<VersionRead> {
    let _guard = locks.key(key).read().await;
    let Some(meta) = store::load_meta(view, locks, key).await? else {
        return Ok(VersionRead::Missing);
    };
    let n = u64::try_from(requested)
        .ok()
        .filter(|v| *v > 0)
        .unwrap_or(meta.current_version);
    let Some(vm) = meta.versions.get(&n) else {
        return Ok(VersionRead::Missing);
    };
    let mut out = Map::new();
    out.insert("metadata".into(), Value::Object(meta.version_json(n, vm)));
    if !vm.is_live(view.clock().now_unix_nanos()) {
        out.insert(field.into(), Value::Null);
        let mut resp = Response::with_data(out);
        resp.status = Some(404);
        return Ok(VersionRead::Gone(resp));
    }
    let secret = store::load_version(view, key, n).await?;
    let critical = meta
        .custom_metadata
        .as_ref()
        .and_then(|m| m.get("critical"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(VersionRead::Live(out, secret, critical))
}

async fn data_read(
    view: &View,
    key: &str,
    data: &Map<String, Value>,
    locks: &MountLocks,
) -> Result<Option<Response>> {
    let requested = opt_i64(data, "version")?.unwrap_or(0);
    match read_version(view, key, requested, locks, "data").await? {
        VersionRead::Missing => Ok(None),
        VersionRead::Gone(resp) => Ok(Some(resp)),
        VersionRead::Live(mut out, secret, critical) => {
            out.insert("data".into(), Value::Object(secret));
            Ok(Some(Response {
                critical,
                ..Response::with_data(out)
            }))
        }
    }
}

/// Stores `secret` as the next version of `key` (the caller holds the key's write lock and
/// has checked CAS) and builds the write response.
async fn append_version(
    view: &View,
    locks: &MountLocks,
    key: &str,
    config: &Config,
    mut meta: KeyMeta,
    secret: &Map<String, Value>,
) -> Result<Option<Response>> {
    let now = view.clock().now_unix_nanos();
    let deletion = store::deletion_time(now, config, &meta);
    let (n, pruned) = meta.add_version(now, deletion, config.max_versions);
    store::save_version_and_meta(view, locks, key, n, secret, &meta).await?;
    let vm = meta.versions.get(&n).cloned().unwrap_or_default();
    let mut resp = Response::with_data(meta.version_json(n, &vm));
    if let Some(last) = pruned
        && let Some(w) = store::cleanup_pruned(view, key, last).await
    {
        resp.warnings.push(w);
    }
    Ok(Some(resp))
}

async fn data_write(
    view: &View,
    key: &str,
    data: &Map<String, Value>,
    locks: &MountLocks,
    secrets: &SecretCount,
) -> Result<Option<Response>> {
    let secret = data_field(data)?;
    let config = store::load_config(view, locks).await?;
    let _guard = locks.key(key).write().await;
    let existing = store::load_meta(view, locks, key).await?;
    let admission = match existing {
        None => Some(secrets.admit()?),
        Some(_) => None,
    };
    let meta = existing.unwrap_or_default();
    check_cas(data, &config, &meta)?;
    let resp = append_version(view, locks, key, &config, meta, secret).await?;
    if let Some(a) = admission {
        a.keep();
    }
    Ok(resp)
}

async fn data_patch(
    view: &View,
    key: &str,
    data: &Map<String, Value>,
    locks: &MountLocks,
) -> Result<Option<Response>> {
    let patch = data_field(data)?;
    let _guard = locks.key(key).write().await;
    let Some(meta) = store::load_meta(view, locks, key).await? else {
        return Ok(Some(Response::status_only(404)));
    };
    let config = store::load_config(view, locks).await?;
    check_cas(data, &config, &meta)?;
    let n = meta.current_version;
    let Some(vm) = meta.versions.get(&n) else {
        return Ok(Some(Response::status_only(404)));
    };
    if !vm.is_live(view.clock().now_unix_nanos()) {
        let mut resp = Response::with_data(meta.version_json(n, vm));
        resp.status = Some(404);
        return Ok(Some(resp));
    }
    let mut merged = Value::Object(store::load_version(view, key, n).await?);
    merge_patch(&mut merged, &Value::Object(patch.clone()));
    let Value::Object(merged) = merged else {
        return Err(Error::Internal("merge patch produced a non-object".into()));
    };
    append_version(view, locks, key, &config, meta, &merged).await
}

async fn data_delete(view: &View, key: &str, locks: &MountLocks) -> Result<Option<Response>> {
    let _guard = locks.key(key).write().await;
    let Some(mut meta) = store::load_meta(view, locks, key).await? else {
        return empty();
    };
    let now = view.clock().now_unix_nanos();
    let n = meta.current_version;
    match meta.versions.get_mut(&n) {
        Some(vm) if vm.is_live(now) => vm.deletion_time = Some(now),
        _ => return empty(),
    }
    store::save_meta(view, locks, key, &meta).await?;
    empty()
}

// ----- delete / undelete / destroy -----

async fn versions_op(
    view: &View,
    key: &str,
    data: &Map<String, Value>,
    locks: &MountLocks,
    kind: VersionsOp,
) -> Result<Option<Response>> {
    let versions = versions_list(data)?;
    if versions.is_empty() {
        return Err(Error::invalid(match kind {
            VersionsOp::Destroy => "no version number provided",
            _ => "No version number provided",
        }));
    }
    let config = match kind {
        VersionsOp::Undelete => Some(store::load_config(view, locks).await?),
        _ => None,
    };
    let _guard = locks.key(key).write().await;
    let Some(mut meta) = store::load_meta(view, locks, key).await? else {
        return empty();
    };
    let now = view.clock().now_unix_nanos();
    let numbers: Vec<u64> = versions
        .iter()
        .filter_map(|v| u64::try_from(*v).ok())
        .collect();
    // Computed before borrowing the versions mutably.
    let undelete_deletion = config
        .as_ref()
        .and_then(|c| store::deletion_time(now, c, &meta));
    for n in &numbers {
        let Some(vm) = meta.versions.get_mut(n) else {
            continue;
        };
        if vm.destroyed {
            continue;
        }
        match kind {
            VersionsOp::Delete => {
                if !vm.is_deleted(now) {
                    vm.deletion_time = Some(now);
                }
            }
            VersionsOp::Undelete => vm.deletion_time = undelete_deletion,
            VersionsOp::Destroy => vm.destroyed = true,
        }
    }
    if kind == VersionsOp::Destroy {
        store::save_meta_and_destroy(view, locks, key, &meta, &numbers).await?;
    } else {
        store::save_meta(view, locks, key, &meta).await?;
    }
    empty()
}

// ----- metadata -----

async fn metadata_list(
    view: &View,
    prefix: &str,
    data: &Map<String, Value>,
    locks: &MountLocks,
) -> Result<Option<Response>> {
    let exclude_deleted = opt_bool(data, "exclude_deleted")?.unwrap_or(false);
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let mut keys = store::list_meta(view, &prefix).await?;
    if exclude_deleted {
        let mut kept = Vec::with_capacity(keys.len());
        for name in keys {
            if !name.ends_with('/')
                && let Ok(Some(meta)) =
                    store::peek_meta(view, locks, &format!("{prefix}{name}")).await
                && meta
                    .versions
                    .get(&meta.current_version)
                    .is_some_and(|vm| vm.deletion_time.is_some())
            {
                continue;
            }
            kept.push(name);
        }
        keys = kept;
    }
    if keys.is_empty() {
        return Ok(None);
    }
    let mut out = Map::new();
    out.insert("keys".into(), json!(keys));
    Ok(Some(Response::with_data(out)))
}

async fn metadata_read(view: &View, key: &str, locks: &MountLocks) -> Result<Option<Response>> {
    let _guard = locks.key(key).read().await;
    let Some(meta) = store::load_meta(view, locks, key).await? else {
        return Ok(None);
    };
    let versions: Map<String, Value> = meta
        .versions
        .iter()
        .map(|(n, vm)| (n.to_string(), Value::Object(vm.times_json())))
        .collect();
    let mut out = Map::new();
    out.insert("cas_required".into(), meta.cas_required.into());
    out.insert("created_time".into(), fmt_time(meta.created_time).into());
    out.insert("current_version".into(), meta.current_version.into());
    out.insert(
        "current_metadata_version".into(),
        meta.current_metadata_version.into(),
    );
    // Check-and-set on metadata writes is not implemented: never required.
    out.insert("metadata_cas_required".into(), false.into());
    out.insert("custom_metadata".into(), meta.custom_metadata_json());
    out.insert(
        "delete_version_after".into(),
        go_duration(meta.delete_version_after).into(),
    );
    out.insert("max_versions".into(), meta.max_versions.into());
    out.insert("oldest_version".into(), meta.oldest_version.into());
    out.insert("updated_time".into(), fmt_time(meta.updated_time).into());
    out.insert("versions".into(), Value::Object(versions));
    rotation::show(&meta, view.clock().now_unix_secs(), &mut out);
    Ok(Some(Response::with_data(out)))
}

/// The warning Vault gives when a key asks not to require CAS but the mount does.
fn cas_required_warning(cas: Option<bool>, config: &Config) -> Option<Response> {
    (cas == Some(false) && config.cas_required).then(|| Response {
        warnings: vec![
            "\"cas_required\" set to false, but is mandated by backend config. This value will be ignored."
                .into(),
        ],
        ..Response::default()
    })
}

/// A custom-metadata map without the "remove" markers; `None` when empty.
fn normalize_custom(
    m: std::collections::BTreeMap<String, String>,
) -> Option<std::collections::BTreeMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

async fn metadata_write(
    view: &View,
    key: &str,
    data: &Map<String, Value>,
    locks: &MountLocks,
    secrets: &SecretCount,
    rot: &MetaCtx<'_>,
) -> Result<Option<Response>> {
    let rotation_changes = rotation::MetaChanges::parse(data)?;
    let max = opt_u32(data, "max_versions")?;
    let cas = opt_bool(data, "cas_required")?;
    let dva = opt_unsigned_duration(data, "delete_version_after")?;
    let custom = match custom_metadata_field(data, false)? {
        None => None,
        Some(m) => {
            let m: std::collections::BTreeMap<String, String> = m
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect();
            validate_custom_metadata(&m)?;
            Some(m)
        }
    };
    if max.is_none()
        && cas.is_none()
        && dva.is_none()
        && custom.is_none()
        && rotation_changes.is_empty()
    {
        return empty();
    }
    let config = store::load_config(view, locks).await?;
    let _guard = locks.key(key).write().await;
    let mut admission = None;
    let mut meta = match store::load_meta(view, locks, key).await? {
        Some(m) => m,
        None => {
            admission = Some(secrets.admit()?);
            let now = view.clock().now_unix_nanos();
            KeyMeta {
                created_time: Some(now),
                updated_time: Some(now),
                ..KeyMeta::default()
            }
        }
    };
    if let Some(max) = max {
        meta.max_versions = max;
    }
    if let Some(cas) = cas {
        meta.cas_required = cas;
    }
    if let Some(dva) = dva {
        meta.delete_version_after = dva;
    }
    if let Some(custom) = custom {
        meta.custom_metadata = normalize_custom(custom);
    }
    commit_meta(view, locks, key, meta, rotation_changes, rot).await?;
    if let Some(a) = admission {
        a.keep();
    }
    Ok(Some(cas_required_warning(cas, &config).unwrap_or_default()))
}

/// Saves the metadata a write or patch changed: with its rotation members applied, its
/// metadata version bumped, and the secret's rotation job scheduled first (see
/// [`rotation::schedule`]). The caller holds the key's write lock.
async fn commit_meta(
    view: &View,
    locks: &MountLocks,
    key: &str,
    mut meta: KeyMeta,
    changes: rotation::MetaChanges,
    rot: &MetaCtx<'_>,
) -> Result<()> {
    changes.apply(&mut meta);
    meta.current_metadata_version += 1;
    let now = view.clock().now_unix_secs();
    rotation::schedule(rot.services, rot.mount, key, &meta, now).await?;
    store::save_meta(view, locks, key, &meta).await
}

async fn metadata_patch(
    view: &View,
    key: &str,
    data: &Map<String, Value>,
    locks: &MountLocks,
    rot: &MetaCtx<'_>,
) -> Result<Option<Response>> {
    let rotation_changes = rotation::MetaChanges::parse(data)?;
    let max = opt_u32(data, "max_versions")?;
    let cas = opt_bool(data, "cas_required")?;
    let dva = opt_unsigned_duration(data, "delete_version_after")?;
    let custom = custom_metadata_field(data, true)?;
    if let Some(custom) = &custom {
        let present: std::collections::BTreeMap<String, String> = custom
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        validate_custom_metadata(&present)?;
    }
    let config = store::load_config(view, locks).await?;
    let _guard = locks.key(key).write().await;
    let Some(mut meta) = store::load_meta(view, locks, key).await? else {
        return Ok(None);
    };
    if let Some(max) = max {
        meta.max_versions = max;
    }
    if let Some(cas) = cas {
        meta.cas_required = cas;
    }
    if let Some(dva) = dva {
        meta.delete_version_after = dva;
    }
    if let Some(custom) = custom {
        let mut merged = meta.custom_metadata.take().unwrap_or_default();
        for (k, v) in custom {
            match v {
                Some(v) => merged.insert(k, v),
                None => merged.remove(&k),
            };
        }
        validate_custom_metadata(&merged)?;
        meta.custom_metadata = normalize_custom(merged);
    }
    commit_meta(view, locks, key, meta, rotation_changes, rot).await?;
    Ok(Some(cas_required_warning(cas, &config).unwrap_or_default()))
}

async fn metadata_delete(
    view: &View,
    key: &str,
    locks: &MountLocks,
    secrets: &SecretCount,
) -> Result<Option<Response>> {
    let _guard = locks.key(key).write().await;
    let counted = secrets.active() && store::load_meta(view, locks, key).await?.is_some();
    store::delete_meta_and_versions(view, locks, key).await?;
    if counted {
        secrets.removed();
    }
    empty()
}

// ----- subkeys -----

async fn subkeys_read(
    view: &View,
    key: &str,
    data: &Map<String, Value>,
    locks: &MountLocks,
) -> Result<Option<Response>> {
    let depth = opt_i64(data, "depth")?.unwrap_or(0);
    let requested = opt_i64(data, "version")?.unwrap_or(0);
    match read_version(view, key, requested, locks, "subkeys").await? {
        VersionRead::Missing => Ok(None),
        VersionRead::Gone(resp) => Ok(Some(resp)),
        VersionRead::Live(mut out, mut secret, _) => {
            strip_values(&mut secret, depth);
            out.insert("subkeys".into(), Value::Object(secret));
            Ok(Some(Response::with_data(out)))
        }
    }
}
