//! Secrets engines. Every engine implements [`Engine`] and declares its paths in a route table
//! ([`crate::route`]); the pipeline has already authenticated, authorized and audited the
//! request before an engine sees it, and an engine can only reach its own storage [`View`].

mod database;
mod kv_v1;
mod kv_v2;
pub(crate) mod mount_state;
pub(crate) mod transit;

pub(crate) use database::StaticRotationJob;
pub(crate) use kv_v2::rotation::KvRotationJob;
pub(crate) use transit::{TransitRotationJob, adopt_rotation_jobs};

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::barrier::View;
use crate::error::{Error, Result};
use crate::mount::MountEntry;
use crate::request::{Operation, Response};
use crate::route::{Matched, Routes, ignored_fields_warning};
use crate::system::Ctx;

/// What a backend receives: the request relative to its mount, already matched against the
/// backend's route table, and nothing about HTTP or the caller's token. `Debug` shows no data:
/// it carries plaintexts and secret values.
pub(crate) struct EngineRequest {
    /// The settled operation (`Create`/`Update` already decided).
    pub(crate) operation: Operation,
    /// Path relative to the mount (no leading slash).
    pub(crate) path: String,
    /// Request fields.
    pub(crate) data: Map<String, Value>,
    /// The mount's storage, and only that.
    pub(crate) view: View,
    /// The mount's configuration.
    pub(crate) mount: Arc<MountEntry>,
    /// Which declared path matched, and where its parameters are.
    pub(crate) matched: Matched,
}

impl EngineRequest {
    /// The value of path parameter `name` (`{name}` in the matched pattern).
    pub(crate) fn param(&self, name: &str) -> &str {
        self.matched.param(&self.path, name)
    }
}

impl std::fmt::Debug for EngineRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineRequest")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_keys", &self.data.len())
            .field("mount", &self.mount.path)
            .finish_non_exhaustive()
    }
}

/// A logical backend mounted at a path: a secrets engine, or one of the system backends
/// (`sys/`, `auth/token/`). Its route table says what it serves; the pipeline has matched,
/// authenticated, authorized and audited the request and checked its operation and fields
/// before `handle` sees it.
#[async_trait]
pub(crate) trait Engine: Send + Sync {
    /// The backend's paths.
    fn routes(&self) -> &'static dyn Routes;

    /// For writes on a path declared with an existence check: whether the object exists, so
    /// the pipeline can tell `create` from `update` before the ACL check.
    async fn exists(&self, req: &EngineRequest) -> Result<bool> {
        let _ = req;
        Ok(true)
    }

    /// Handles the request. `Ok(None)` on a read or list means "nothing there" (404). `ctx`
    /// gives the system backends the core and the caller; secrets engines cannot open it.
    async fn handle(&self, req: EngineRequest, ctx: &Ctx<'_>) -> Result<Option<Response>>;

    /// Another node changed `key` (relative to the mount's view) in the shared storage: drop
    /// whatever is cached of it, so the next request reads storage. Engines that cache nothing
    /// have nothing to do.
    async fn invalidate(&self, key: &str) {
        let _ = key;
    }

    /// Revokes what `lease` stands for (a database user), as its expiry or a revocation asks.
    /// The lease store removes the lease once this succeeds. Engines that hand out no leases
    /// have nothing to revoke.
    async fn revoke_lease(&self, lease: &crate::leases::Lease, view: &View) -> Result<()> {
        let _ = (lease, view);
        Ok(())
    }

    /// Extends what `lease` stands for to `expire` (Unix seconds) before a renewal is stored
    /// (a database user's `VALID UNTIL`). Nothing to do by default.
    async fn renew_lease(
        &self,
        lease: &crate::leases::Lease,
        expire: i64,
        view: &View,
    ) -> Result<()> {
        let _ = (lease, expire, view);
        Ok(())
    }

    /// How many secrets the mount stores (for a namespace's `max_secrets`); 0 for engines that
    /// store none. `view` is the mount's storage.
    async fn count_secrets(&self, view: &View) -> Result<u64> {
        let _ = view;
        Ok(0)
    }

    /// The backend's login seam, when it is an auth method (its paths of class
    /// [`PathClass::Login`](crate::route::PathClass::Login) are served through it).
    fn auth_method(&self) -> Option<&dyn crate::auth::AuthMethod> {
        None
    }
}

/// Settles a POST/PUT into create or update: the existence check when the path declares
/// one, else update.
pub(crate) async fn settle(engine: &dyn Engine, req: &mut EngineRequest) -> Result<()> {
    if req.operation.is_write() {
        let meta = engine.routes().meta(&req.matched);
        req.operation = if meta.existence_check && !engine.exists(req).await? {
            Operation::Create
        } else {
            Operation::Update
        };
    }
    Ok(())
}

/// Checks the operation and the declared fields, then hands the request to the backend;
/// fields the path does not declare are ignored with a warning, as Vault does.
pub(crate) async fn serve(
    engine: &dyn Engine,
    req: EngineRequest,
    ctx: &Ctx<'_>,
) -> Result<Option<Response>> {
    let unknown = engine
        .routes()
        .meta(&req.matched)
        .check(req.operation, &req.data)?;
    let mut resp = engine.handle(req, ctx).await?;
    // Like Vault, only a response with a body carries the warning (a 204 stays a 204).
    if !unknown.is_empty()
        && let Some(r) = resp.as_mut()
        && !r.is_empty()
    {
        r.warnings.push(ignored_fields_warning(&unknown));
    }
    Ok(resp)
}

/// Drives `engine` as the pipeline does after authorization (match, existence check, operation
/// and field checks, handler), for engine unit tests.
#[cfg(test)]
pub(crate) async fn drive(
    engine: &dyn Engine,
    operation: Operation,
    path: &str,
    data: Map<String, Value>,
    view: View,
    mount: Arc<MountEntry>,
) -> Result<Option<Response>> {
    let mut req = request_for(engine, operation, path, data, view, mount)?;
    settle(engine, &mut req).await?;
    serve(engine, req, &Ctx::detached()).await
}

/// The request for `path` as the pipeline builds it: matched against the engine's table.
#[cfg(test)]
pub(crate) fn request_for(
    engine: &dyn Engine,
    operation: Operation,
    path: &str,
    data: Map<String, Value>,
    view: View,
    mount: Arc<MountEntry>,
) -> Result<EngineRequest> {
    let matched = engine.routes().find(path).ok_or(Error::UnsupportedPath)?;
    Ok(EngineRequest {
        operation,
        path: path.to_string(),
        data,
        view,
        mount,
        matched,
    })
}

/// Whether the path `engine` serves at `path` declares an existence check.
#[cfg(test)]
pub(crate) fn has_existence_check(engine: &dyn Engine, path: &str) -> bool {
    let routes = engine.routes();
    routes
        .find(path)
        .is_some_and(|m| routes.meta(&m).existence_check)
}

/// Engine types that `sys/mounts` accepts.
pub const MOUNTABLE_TYPES: &[&str] = &["kv", "kv-v1", "kv-v2", "transit", "database"];

/// Checks and normalizes the type and options of a new mount (aliases like `kv-v1` resolve here).
pub fn normalize_type(
    kind: &str,
    options: &mut std::collections::BTreeMap<String, String>,
) -> Result<String> {
    match kind {
        "kv" | "kv-v1" => {
            // No version is version 1, and stays unstated in the options, as in OpenBao.
            let Some(version) = options.get("version").map(String::as_str) else {
                return Ok("kv".into());
            };
            match version {
                "" | "1" => {
                    options.insert("version".into(), "1".into());
                    Ok("kv".into())
                }
                "2" => {
                    options.insert("version".into(), "2".into());
                    Ok("kv".into())
                }
                other => Err(Error::invalid(format!("invalid kv version \"{other}\""))),
            }
        }
        "transit" => Ok("transit".into()),
        "database" => Ok("database".into()),
        // Vault's alias: a kv mount of version 2 (listed as type "kv").
        "kv-v2" => match options.get("version").map(String::as_str) {
            None | Some("" | "2") => {
                options.insert("version".into(), "2".into());
                Ok("kv".into())
            }
            Some(other) => Err(Error::invalid(format!(
                "kv-v2 mounts are version 2, not \"{other}\""
            ))),
        },
        "system" | "token" | "cubbyhole" | "identity" => Err(Error::invalid(format!(
            "cannot mount \"{kind}\" of type \"{kind}\""
        ))),
        other => Err(Error::invalid(format!(
            "plugin not found in the catalog: {other}"
        ))),
    }
}

/// `sys/tools/random[/:bytes]`, served by the same code as transit's `random`.
pub(crate) fn transit_random(rest: &str, data: &Map<String, Value>) -> Result<Response> {
    transit::random_response(rest, data)
}

/// `sys/tools/hash[/:algorithm]`, served by the same code as transit's `hash`.
pub(crate) fn transit_hash(rest: &str, data: &Map<String, Value>) -> Result<Response> {
    transit::hash_response(Some(rest), data)
}

/// The rotation calendar's entry for `job`, from the engine owning its object; `None` for a
/// job that is not a rotation, or whose object or policy is gone.
pub(crate) async fn rotation_calendar_entry(
    scope: &crate::system::Scope<'_>,
    job: &crate::jobs::JobRecord,
    now: i64,
) -> Result<Option<Map<String, Value>>> {
    match job.kind.as_str() {
        crate::jobs::KV_ROTATION => kv_v2::rotation::calendar_entry(scope, job, now).await,
        crate::jobs::TRANSIT_ROTATION => transit::calendar_entry(scope, job, now).await,
        crate::jobs::DB_STATIC_ROTATION => database::calendar_entry(scope, job, now).await,
        _ => Ok(None),
    }
}

/// The mount with this uuid in the scope's namespace, if it is still mounted and `is` accepts
/// its entry (background jobs find the mount they belong to this way).
pub(crate) fn find_route(
    scope: &crate::system::Scope<'_>,
    uuid: &str,
    is: impl Fn(&MountEntry) -> bool,
) -> Option<crate::mount::Route> {
    scope
        .tenant
        .router
        .load()
        .routes()
        .iter()
        .find(|r| r.entry.uuid == uuid && is(&r.entry))
        .map(|r| crate::mount::Route {
            entry: r.entry.clone(),
            engine: r.engine.clone(),
            view: r.view.clone(),
        })
}

/// What an engine instance is built with, besides its mount entry.
pub(crate) struct EngineContext<'a> {
    /// Where background changes (auto-rotation) are audited.
    pub(crate) background: &'a crate::audit::BackgroundAudit,
    /// The per-mount state shared by the mount's instances.
    pub(crate) states: &'a mount_state::MountStates,
    /// The namespace's `max_secrets` count, which the KV engines keep.
    pub(crate) secrets: &'a Arc<crate::quota::SecretCount>,
    /// What rotating the mount's objects needs from the namespace.
    pub(crate) rotation: &'a crate::rotation::Services,
}

/// Creates the engine for a mount entry.
pub(crate) fn instantiate(entry: &MountEntry, ctx: &EngineContext<'_>) -> Result<Arc<dyn Engine>> {
    match entry.kind.as_str() {
        "kv" if entry.options.get("version").map(String::as_str) == Some("2") => {
            Ok(Arc::new(kv_v2::KvV2::new(&entry.uuid, ctx)))
        }
        "kv" => Ok(Arc::new(kv_v1::KvV1::new(entry, ctx))),
        "transit" => Ok(Arc::new(transit::Transit::new(entry, ctx))),
        "database" => Ok(Arc::new(database::Database::new(entry, ctx))),
        "userpass" => Ok(Arc::new(crate::auth::userpass::Userpass)),
        "approle" => Ok(Arc::new(crate::auth::approle::AppRole::new(
            ctx.states.get(&entry.uuid),
        ))),
        "system" => Ok(Arc::new(crate::system::SysBackend)),
        "token" => Ok(Arc::new(crate::system::TokenBackend)),
        "identity" => Ok(Arc::new(crate::system::IdentityBackend)),
        other => Err(Error::Internal(format!(
            "mount {} has unknown engine type {other}",
            entry.path
        ))),
    }
}
