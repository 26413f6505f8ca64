//! The mount table (which engine serves which path prefix) and the router built from it.
//!
//! The table is stored behind the barrier at [`MOUNTS_PATH`]. Each mount keeps its data under
//! `logical/<uuid>/`; the uuid is private (storage prefix), the accessor is its public id.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::barrier::View;
use crate::engines::{self, Engine};
use crate::error::{Error, Result};

/// Storage key of the mount table.
pub(crate) const MOUNTS_PATH: &str = "core/mounts";
/// Where the mounts' own storage lives: `logical/<uuid>/` in their namespace's view.
pub(crate) const LOGICAL_PREFIX: &str = "logical/";
/// `core/purge/<uuid>`: the data of a disabled mount still to be removed. Written in the same
/// commit as the table without the mount, deleted once its data is gone, and resumed at unseal,
/// so a crash at any point between the two finishes on restart.
const PURGE_PREFIX: &str = "core/purge/";

/// The marker to commit with a table that drops `entry`.
pub(crate) fn purge_marker(entry: &MountEntry) -> (String, Option<Vec<u8>>) {
    (
        format!("{PURGE_PREFIX}{}", entry.uuid),
        Some(entry.storage_prefix().into_bytes()),
    )
}

/// Removes the data of a disabled mount, then its marker. `namespace` is the storage of the
/// namespace the mount was in.
pub(crate) async fn purge(namespace: &View, uuid: &str) -> Result<()> {
    namespace
        .sub(&format!("{LOGICAL_PREFIX}{uuid}/"))
        .clear()
        .await?;
    namespace.delete(&format!("{PURGE_PREFIX}{uuid}")).await?;
    tracing::info!(uuid, "data of a disabled mount removed");
    Ok(())
}

/// Finishes purges that a crash or an error interrupted (at unseal).
pub(crate) async fn resume_purges(namespace: &View) -> Result<()> {
    for uuid in namespace.list(PURGE_PREFIX).await? {
        purge(namespace, &uuid).await?;
    }
    Ok(())
}
/// Vault's default lease TTL for mounts: 768h.
pub const DEFAULT_LEASE_TTL: u64 = 768 * 3600;

/// Prefixes that belong to the system and can never be mounted over.
const PROTECTED_PREFIXES: &[&str] = &["sys/", "auth/", "audit/", "cubbyhole/", "identity/"];

/// Per-mount tunables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct MountConfig {
    /// Seconds; 0 means the system default.
    pub default_lease_ttl: u64,
    /// Seconds; 0 means the system default.
    pub max_lease_ttl: u64,
    /// Kept for compatibility; caching decisions are ours.
    pub force_no_cache: bool,
    /// `unauth`: `sys/internal/ui/mounts` lists the mount to callers without a token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub listing_visibility: String,
    /// Auth mounts: the type of the tokens their logins make (`default-service` when empty;
    /// `service` or `batch` force it, `default-*` let a role choose).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_type: String,
    /// Auth mounts: the tuned lockout (`None`: Vault's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_lockout: Option<crate::auth::LockoutConfig>,
}

/// One mounted engine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountEntry {
    /// Path prefix, ending in `/` (e.g. `secret/`).
    pub path: String,
    /// Engine type, e.g. `kv`, `system`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    pub description: String,
    /// Private id: the storage prefix is `logical/<uuid>/`.
    pub uuid: String,
    /// Public id, e.g. `kv_1b2c3d4e`.
    pub accessor: String,
    /// Tunables.
    pub config: MountConfig,
    /// Engine options, e.g. `version` for kv.
    pub options: BTreeMap<String, String>,
    /// Not replicated (always false here; kept for the wire shape).
    pub local: bool,
    /// Seal wrapping (accepted, not used: everything is behind the barrier anyway).
    pub seal_wrap: bool,
}

impl MountEntry {
    /// Storage prefix of this mount's data.
    pub fn storage_prefix(&self) -> String {
        format!("{LOGICAL_PREFIX}{}/", self.uuid)
    }

    /// Effective default lease TTL in seconds.
    pub fn default_lease_ttl(&self) -> u64 {
        if self.config.default_lease_ttl == 0 {
            DEFAULT_LEASE_TTL
        } else {
            self.config.default_lease_ttl
        }
    }

    /// Effective max lease TTL in seconds.
    pub fn max_lease_ttl(&self) -> u64 {
        if self.config.max_lease_ttl == 0 {
            DEFAULT_LEASE_TTL
        } else {
            self.config.max_lease_ttl
        }
    }

    /// Whether this is an auth method's mount (under `auth/`).
    pub fn is_auth(&self) -> bool {
        self.path.starts_with("auth/")
    }

    /// The token type an auth mount shows.
    fn token_type(&self) -> &str {
        if self.config.token_type.is_empty() {
            "default-service"
        } else {
            &self.config.token_type
        }
    }

    /// Whether this is a built-in mount (`sys/`, `auth/token/`) rather than one a user enabled.
    fn builtin(&self) -> bool {
        matches!(self.kind.as_str(), "system" | "token" | "identity")
    }

    /// The object `sys/mounts` shows for this entry (every field vaultrs requires), shaped as
    /// OpenBao shapes it: built-in mounts have no options and no deprecation status.
    pub fn to_api(&self) -> Value {
        let mut config = json!({
            "default_lease_ttl": self.config.default_lease_ttl,
            "max_lease_ttl": self.config.max_lease_ttl,
            "force_no_cache": self.config.force_no_cache,
        });
        if !self.config.listing_visibility.is_empty() {
            config["listing_visibility"] = json!(self.config.listing_visibility);
        }
        match self.kind.as_str() {
            "system" => config["passthrough_request_headers"] = json!(["Accept"]),
            "identity" => config["passthrough_request_headers"] = json!(["Authorization"]),
            _ => {}
        }
        if self.is_auth() {
            config["token_type"] = json!(self.token_type());
            if let Some(lockout) = &self.config.user_lockout {
                config["user_lockout_config"] = Value::Object(lockout.to_api());
            }
        }
        let mut api = json!({
            "type": self.kind,
            "description": self.description,
            "accessor": self.accessor,
            "uuid": self.uuid,
            "local": self.local,
            "seal_wrap": self.seal_wrap,
            "external_entropy_access": false,
            "options": if self.builtin() { Value::Null } else { json!(self.options) },
            "plugin_version": "",
            "running_plugin_version": "",
            "running_sha256": "",
            "config": config,
        });
        if !self.builtin() {
            api["deprecation_status"] = json!("supported");
        }
        api
    }

    /// The object `sys/mounts/:path/tune` shows.
    pub fn tune_api(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("default_lease_ttl".into(), json!(self.default_lease_ttl()));
        m.insert("max_lease_ttl".into(), json!(self.max_lease_ttl()));
        m.insert("force_no_cache".into(), json!(self.config.force_no_cache));
        if !self.config.listing_visibility.is_empty() {
            m.insert(
                "listing_visibility".into(),
                json!(self.config.listing_visibility),
            );
        }
        m.insert("description".into(), json!(self.description));
        if self.is_auth() {
            m.insert("token_type".into(), json!(self.token_type()));
            if let Some(lockout) = &self.config.user_lockout {
                m.extend(lockout.to_api());
            }
        } else {
            m.insert("options".into(), json!(self.options));
        }
        m
    }
}

/// The whole table, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct MountTable {
    /// All mounts, in no particular order.
    pub entries: Vec<MountEntry>,
}

/// Normalizes a user-supplied mount path: trims slashes, checks characters, appends `/`.
pub fn normalize_mount_path(raw: &str) -> Result<String> {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::invalid("mount path cannot be empty"));
    }
    if trimmed
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        || trimmed
            .chars()
            .any(|c| c.is_control() || c == '*' || c == '+')
    {
        return Err(Error::invalid(format!("invalid mount path \"{raw}\"")));
    }
    Ok(format!("{trimmed}/"))
}

impl MountTable {
    /// The table of a freshly initialized server: only `sys/`.
    pub fn initial() -> Result<MountTable> {
        Ok(MountTable {
            entries: vec![MountEntry {
                path: "sys/".into(),
                kind: "system".into(),
                description: "system endpoints used for control, policy and debugging".into(),
                uuid: uuid::Uuid::new_v4().to_string(),
                accessor: accessor_for(
                    "system",
                    &MountTable {
                        entries: Vec::new(),
                    },
                )?,
                config: MountConfig::default(),
                options: BTreeMap::new(),
                local: false,
                seal_wrap: true,
            }],
        })
    }

    /// Finds a mount by its exact path (with trailing `/`).
    pub fn get(&self, path: &str) -> Option<&MountEntry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Checks that a new auth mount may go at `path` (`auth/<name>/`): not over the token
    /// method, not over or under another auth mount.
    pub fn check_new_auth_path(&self, path: &str) -> Result<()> {
        let token = token_auth_entry().path;
        if path.starts_with(&token) || token.starts_with(path) {
            return Err(Error::InvalidRequest(
                "path is already in use at token/".into(),
            ));
        }
        self.check_conflicts(path)
    }

    /// Builds a new entry for `path` after checking conflicts and protected prefixes.
    pub fn check_new_path(&self, path: &str) -> Result<()> {
        if PROTECTED_PREFIXES.iter().any(|p| path.starts_with(p)) {
            // 400 as OpenBao (not 403: nothing about the caller's rights is at stake).
            return Err(Error::InvalidRequest(format!("cannot mount \"{path}\"")));
        }
        self.check_conflicts(path)
    }

    fn check_conflicts(&self, path: &str) -> Result<()> {
        if let Some(existing) = self
            .entries
            .iter()
            .find(|e| e.path.starts_with(path) || path.starts_with(e.path.as_str()))
        {
            return Err(Error::InvalidRequest(format!(
                "path is already in use at {}",
                existing
                    .path
                    .strip_prefix("auth/")
                    .unwrap_or(&existing.path)
            )));
        }
        Ok(())
    }
}

/// A fresh public accessor, e.g. `kv_1b2c3d4e`.
/// A new mount accessor: the type and 128 random bits, distinct from every accessor in
/// `table` (a collision is astronomically unlikely; checked anyway, since accessors are ids).
pub(crate) fn accessor_for(kind: &str, table: &MountTable) -> Result<String> {
    loop {
        let raw: [u8; 16] = coffre_crypto::random_array()?;
        let accessor = format!("{}_{}", kind.replace('-', "_"), hex::encode(raw));
        if !table.entries.iter().any(|e| e.accessor == accessor) {
            return Ok(accessor);
        }
    }
}

/// One routable mount: its entry, its backend and its storage view.
pub(crate) struct Route {
    pub(crate) entry: Arc<MountEntry>,
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) view: View,
}

/// An immutable routing snapshot, rebuilt when the mount table changes.
pub(crate) struct Router {
    /// Longest path first, so the first match is the longest prefix.
    routes: Vec<Route>,
}

/// The token auth method's entry: always mounted at `auth/token/`, not in the stored table.
/// Its data is the token store's (`sys/token/`, reached through the core, not this view).
pub(crate) fn token_auth_entry() -> MountEntry {
    MountEntry {
        path: "auth/token/".into(),
        kind: "token".into(),
        description: "token based credentials".into(),
        uuid: "auth-token".into(),
        accessor: "auth_token_root".into(),
        config: MountConfig::default(),
        options: BTreeMap::new(),
        local: false,
        seal_wrap: false,
    }
}

/// The identity store's entry: always mounted at `identity/`, not in the stored table (its
/// data is the namespace's identity store, reached through the core).
pub(crate) fn identity_entry() -> MountEntry {
    MountEntry {
        path: "identity/".into(),
        kind: "identity".into(),
        description: "identity store".into(),
        uuid: "identity".into(),
        accessor: "identity_root".into(),
        config: MountConfig::default(),
        options: BTreeMap::new(),
        local: false,
        seal_wrap: false,
    }
}

impl Router {
    pub(crate) fn build(
        table: &MountTable,
        namespace: &View,
        secrets: &Arc<crate::quota::SecretCount>,
        background: &crate::audit::BackgroundAudit,
        jobs: &crate::jobs::JobStore,
        states: &engines::mount_state::MountStates,
    ) -> Result<Router> {
        let rotation = crate::rotation::Services::new(jobs, namespace, background);
        let mut routes = Vec::with_capacity(table.entries.len() + 1);
        let builtin = [token_auth_entry(), identity_entry()];
        for entry in table.entries.iter().chain(builtin.iter()) {
            let view = namespace.sub(&entry.storage_prefix());
            let engine = engines::instantiate(
                entry,
                &engines::EngineContext {
                    background,
                    states,
                    secrets,
                    rotation: &rotation,
                },
            )?;
            routes.push(Route {
                view,
                entry: Arc::new(entry.clone()),
                engine,
            });
        }
        routes.sort_by_key(|r| std::cmp::Reverse(r.entry.path.len()));
        Ok(Router { routes })
    }

    /// The mount serving `path` and the path relative to it. A path equal to a mount without
    /// its trailing slash (`secret` for `secret/`) routes to that mount's root.
    /// The auth mount with this accessor, if one is routed.
    pub(crate) fn auth_mount(&self, accessor: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.entry.is_auth() && r.entry.accessor == accessor)
    }

    /// Every route, longest mount path first.
    pub(crate) fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub(crate) fn route<'a>(&'a self, path: &'a str) -> Option<(&'a Route, &'a str)> {
        self.routes.iter().find_map(|r| {
            let mount = r.entry.path.as_str();
            if let Some(rest) = path.strip_prefix(mount) {
                Some((r, rest))
            } else if mount.strip_suffix('/') == Some(path) {
                Some((r, ""))
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_normalized_and_checked() {
        assert_eq!(normalize_mount_path("/kv1/").ok().as_deref(), Some("kv1/"));
        assert_eq!(normalize_mount_path("a/b").ok().as_deref(), Some("a/b/"));
        assert!(normalize_mount_path("").is_err());
        assert!(normalize_mount_path("a//b").is_err());
        assert!(normalize_mount_path("a/../b").is_err());
    }

    #[test]
    fn conflicts_in_both_directions() {
        let mut table = MountTable::initial().expect("table");
        let mut e = table.entries[0].clone();
        e.path = "secret/".into();
        e.kind = "kv".into();
        table.entries.push(e);
        assert!(matches!(
            table.check_new_path("secret/"),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            table.check_new_path("secret/sub/"),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            table.check_new_path("sys/x/"),
            Err(Error::InvalidRequest(_))
        ));
        assert!(table.check_new_path("secrets/").is_ok());
    }
}
