//! `sys/mounts` (enable, read, tune, disable), `sys/auth` (the token method) and
//! `sys/internal/ui/mounts`. A mount change commits the new table, then publishes a router
//! built from it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Scope;
use crate::engines::{EngineRequest, normalize_type};
use crate::error::{Error, Result};
use crate::fields::{self, parse_duration_secs};
use crate::mount::{
    self, MOUNTS_PATH, MountConfig, MountEntry, Router, accessor_for, normalize_mount_path,
};
use crate::pipeline::Authorized;
use crate::request::{Operation, Response};

/// Which of the two APIs over the one mount table a request came through: `sys/mounts` for
/// secrets engines, `sys/auth` for auth methods (stored as `auth/<path>/` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Secrets,
    Auth,
}

impl Kind {
    /// The table path of a mount named `raw` in a request (`x` → `x/` or `auth/x/`).
    fn table_path(self, raw: &str) -> Result<String> {
        let path = normalize_mount_path(raw)?;
        Ok(match self {
            Kind::Secrets => path,
            Kind::Auth => format!("auth/{path}"),
        })
    }

    /// The route a request for mount `path` (a table path) is spelled as canonically.
    fn canonical_route(self, path: &str, suffix: &str) -> String {
        match self {
            Kind::Secrets => format!("sys/mounts/{}{suffix}", path.trim_end_matches('/')),
            Kind::Auth => format!("sys/{}{suffix}", path.trim_end_matches('/')),
        }
    }

    /// The path a listing shows for a table path (`auth/` is left off for auth mounts).
    fn shown(self, path: &str) -> &str {
        match self {
            Kind::Secrets => path,
            Kind::Auth => path.strip_prefix("auth/").unwrap_or(path),
        }
    }

    fn missing(self, path: &str) -> Error {
        match self {
            Kind::Secrets => Error::invalid(format!("No secret engine mount at {path}")),
            Kind::Auth => Error::invalid(format!("No auth engine at {}", self.shown(path))),
        }
    }

    fn holds(self, entry: &MountEntry) -> bool {
        entry.is_auth() == (self == Kind::Auth)
    }
}

/// `sys/mounts` or `sys/auth`: every mount of the kind.
pub(super) async fn list_mounts(scope: &Scope<'_>, kind: Kind) -> Response {
    let table = scope.tenant.mounts.lock().await;
    let mut data: Map<String, Value> = table
        .entries
        .iter()
        .filter(|e| kind.holds(e))
        .map(|e| (kind.shown(&e.path).to_string(), e.to_api()))
        .collect();
    match kind {
        Kind::Auth => {
            data.insert("token/".into(), token_auth_mount());
        }
        // Always mounted, as in OpenBao, and listed with the secrets engines.
        Kind::Secrets => {
            data.insert("identity/".into(), mount::identity_entry().to_api());
        }
    }
    Response::with_data(data).injected()
}

/// Parses a `config` object of a mount request into (default_lease_ttl, max_lease_ttl, force_no_cache).
fn parse_ttl(data: &Map<String, Value>, name: &str) -> Result<Option<u64>> {
    match data.get(name) {
        Some(Value::String(s)) if s == "system" || s.is_empty() => Ok(Some(0)),
        Some(Value::String(s)) => parse_duration_secs(s)
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("invalid duration for {name}: \"{s}\""))),
        _ => fields::opt_duration_secs(data, name),
    }
}

fn apply_config(config: &mut MountConfig, data: &Map<String, Value>) -> Result<()> {
    if let Some(ttl) = parse_ttl(data, "default_lease_ttl")? {
        config.default_lease_ttl = ttl;
    }
    if let Some(ttl) = parse_ttl(data, "max_lease_ttl")? {
        config.max_lease_ttl = ttl;
    }
    if let Some(b) = fields::opt_bool(data, "force_no_cache")? {
        config.force_no_cache = b;
    }
    if config.max_lease_ttl != 0 && config.default_lease_ttl > config.max_lease_ttl {
        return Err(Error::invalid(
            "default_lease_ttl cannot be greater than max_lease_ttl",
        ));
    }
    Ok(())
}

/// `sys/mounts/:path` or `sys/auth/:path`: read, enable or disable a mount.
pub(super) async fn mount_op(
    scope: &Scope<'_>,
    req: &EngineRequest,
    auth: &Authorized,
    kind: Kind,
) -> Result<Response> {
    let (raw_path, op, data) = (req.param("path"), req.operation, &req.data);
    let path = kind.table_path(raw_path)?;
    let canonical = kind.canonical_route(&path, "");
    if canonical != format!("sys/{}", req.path) {
        auth.also_allows(op, &canonical)?;
    }
    if path == mount::token_auth_entry().path {
        return match op {
            Operation::Read => match token_auth_mount() {
                Value::Object(m) => Ok(Response::with_data(m).injected()),
                _ => Err(Error::Internal("auth mount is not an object".into())),
            },
            Operation::Delete => Err(Error::invalid(
                "token credential backend cannot be disabled",
            )),
            _ => Err(Error::invalid("path is already in use at token/")),
        };
    }
    match op {
        Operation::Read => {
            let table = scope.tenant.mounts.lock().await;
            let entry = table
                .get(&path)
                .filter(|e| kind.holds(e))
                .ok_or_else(|| kind.missing(&path))?;
            match entry.to_api() {
                Value::Object(m) => Ok(Response::with_data(m).injected()),
                _ => Err(Error::Internal("mount entry is not an object".into())),
            }
        }
        Operation::Create | Operation::Update => enable_mount(scope, path, data, kind).await,
        Operation::Delete => disable_mount(scope, &path, kind).await,
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn enable_mount(
    scope: &Scope<'_>,
    path: String,
    data: &Map<String, Value>,
    table_kind: Kind,
) -> Result<Response> {
    let kind = fields::opt_str(data, "type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::invalid("missing or empty 'type' field"))?;
    let mut options: BTreeMap<String, String> =
        fields::opt_string_map(data, "options")?.unwrap_or_default();
    let kind = match table_kind {
        Kind::Secrets => normalize_type(kind, &mut options)?,
        Kind::Auth => crate::auth::normalize_auth_type(kind)?,
    };
    let mut config = MountConfig::default();
    if let Some(Value::Object(cfg)) = data.get("config") {
        apply_config(&mut config, cfg)?;
    } else if !matches!(data.get("config"), None | Some(Value::Null)) {
        return Err(Error::invalid("'config' must be an object"));
    }

    let mut table = scope.tenant.mounts.lock().await;
    match table_kind {
        Kind::Secrets => table.check_new_path(&path)?,
        Kind::Auth => table.check_new_auth_path(&path)?,
    }
    let entry = MountEntry {
        // Vault names auth mounts' accessors `auth_<type>_…`.
        accessor: match table_kind {
            Kind::Secrets => accessor_for(&kind, &table)?,
            Kind::Auth => accessor_for(&format!("auth_{kind}"), &table)?,
        },
        path,
        kind,
        description: fields::opt_str(data, "description")?
            .unwrap_or("")
            .to_string(),
        uuid: uuid::Uuid::new_v4().to_string(),
        config,
        options,
        local: fields::opt_bool(data, "local")?.unwrap_or(false),
        seal_wrap: fields::opt_bool(data, "seal_wrap")?.unwrap_or(false),
    };
    let mut next = table.clone();
    next.entries.push(entry.clone());
    commit_table(scope, &mut table, next).await?;
    tracing::info!(path = %entry.path, kind = %entry.kind, "mount enabled");
    Ok(Response::empty())
}

async fn disable_mount(scope: &Scope<'_>, path: &str, kind: Kind) -> Result<Response> {
    let mut table = scope.tenant.mounts.lock().await;
    let Some(entry) = table.get(path).filter(|e| kind.holds(e)).cloned() else {
        return Ok(Response::empty());
    };
    if entry.kind == "system" {
        return Err(Error::invalid(format!("cannot unmount \"{path}\"")));
    }
    // Its leases first, through the engine (as Vault: a lease that cannot be revoked keeps
    // the mount, and the error says why). Mount paths end with `/`, as lease ids start.
    let now = scope.tenant.view.clock().now_unix_secs();
    crate::leases::revoke_prefix(scope, &entry.path, false, now)
        .await
        .map_err(|e| {
            Error::invalid(format!(
                "failed to revoke the mount's leases: {}",
                e.public_message()
            ))
        })?;
    let mut next = table.clone();
    next.entries.retain(|e| e.path != path);
    // The table goes in one commit with a purge marker: from then on the mount is gone, and
    // its data is removed now or, after a crash or an error, at the next unseal.
    commit_table_with(scope, &mut table, next, vec![mount::purge_marker(&entry)]).await?;
    tracing::info!(path = %path, "mount disabled");
    if entry.is_auth() {
        if let Err(e) = scope.tenant.lockouts.forget_mount(&entry.accessor).await {
            tracing::warn!(error = %e, path = %path, "removing a disabled auth mount's locks failed");
        }
        if let Err(e) = scope.tenant.identity.forget_mount(&entry.accessor).await {
            tracing::warn!(error = %e, path = %path, "removing a disabled auth mount's aliases failed");
        }
    }
    if let Err(e) = mount::purge(&scope.tenant.view, &entry.uuid).await {
        tracing::warn!(error = %e, path = %path, "removing a disabled mount's data failed; resumed at the next unseal");
    }
    // The mount's secrets are gone: the caps of this namespace and those above count again.
    if scope.tenant.secrets.active() {
        crate::namespace::recount_secrets(scope.unsealed, scope.tenant).await?;
    }
    Ok(Response::empty())
}

/// What `sys/mounts/:path/tune` applies (`options` only to restate the current kv version).
/// Anything else (`audit_non_hmac_request_keys`, plugin versions, …) is refused, not ignored.
const TUNABLE: &[&str] = &[
    "default_lease_ttl",
    "max_lease_ttl",
    "force_no_cache",
    "listing_visibility",
    "description",
    "options",
];
/// What `sys/auth/:path/tune` applies besides [`TUNABLE`].
const AUTH_TUNABLE: &[&str] = &["token_type", "user_lockout_config"];

/// The token method's tune settings (it cannot be tuned).
fn token_tune() -> Map<String, Value> {
    let mut d = Map::new();
    d.insert(
        "default_lease_ttl".into(),
        json!(crate::token::SYSTEM_MAX_TTL),
    );
    d.insert("max_lease_ttl".into(), json!(crate::token::SYSTEM_MAX_TTL));
    d.insert("force_no_cache".into(), json!(false));
    d.insert("description".into(), json!("token based credentials"));
    d.insert("token_type".into(), json!("default-service"));
    d
}

/// Applies the auth-only tunables of a tune request.
fn apply_auth_tune(entry: &mut MountEntry, given: &Map<String, Value>) -> Result<()> {
    if let Some(t) = fields::opt_str(given, "token_type")? {
        if !matches!(t, "default-service" | "default-batch" | "service" | "batch") {
            return Err(Error::invalid(format!("invalid token_type \"{t}\"")));
        }
        entry.config.token_type = t.to_string();
    }
    match given.get("user_lockout_config") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(cfg)) => {
            let mut lockout = entry.config.user_lockout.clone().unwrap_or_default();
            lockout.apply(cfg)?;
            entry.config.user_lockout = Some(lockout);
            Ok(())
        }
        Some(_) => Err(Error::invalid("'user_lockout_config' must be an object")),
    }
}

/// `sys/mounts/:path/tune` or `sys/auth/:path/tune`: read or change a mount's tunables.
pub(super) async fn tune(
    scope: &Scope<'_>,
    req: &EngineRequest,
    auth: &Authorized,
    kind: Kind,
) -> Result<Response> {
    let (raw_path, op, data) = (req.param("path"), req.operation, &req.data);
    let path = kind.table_path(raw_path)?;
    let canonical = kind.canonical_route(&path, "/tune");
    if canonical != format!("sys/{}", req.path) {
        auth.also_allows(op, &canonical)?;
    }
    if path == mount::token_auth_entry().path {
        return match op {
            Operation::Read => Ok(Response::with_data(token_tune()).injected()),
            _ => Err(Error::invalid("token auth method cannot be tuned")),
        };
    }
    let mut table = scope.tenant.mounts.lock().await;
    let entry = table
        .get(&path)
        .filter(|e| kind.holds(e))
        .cloned()
        .ok_or_else(|| kind.missing(&path))?;
    match op {
        Operation::Read => Ok(Response::with_data(entry.tune_api()).injected()),
        Operation::Create | Operation::Update => {
            let extra: &[&str] = if kind == Kind::Auth {
                AUTH_TUNABLE
            } else {
                &[]
            };
            // Refuse what is not applied rather than answer 204 and ignore it.
            if let Some(key) = data
                .keys()
                .find(|k| !TUNABLE.contains(&k.as_str()) && !extra.contains(&k.as_str()))
            {
                return Err(Error::invalid(format!(
                    "tuning \"{key}\" is not supported; tunable: {}",
                    TUNABLE
                        .iter()
                        .chain(extra)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let mut updated = entry;
            // In a tune an empty value means "unchanged" (`bao secrets tune` sends every
            // flag, empty when not given), where at mount time it means the default.
            let given: Map<String, Value> = data
                .iter()
                .filter(|(_, v)| v.as_str() != Some(""))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            apply_config(&mut updated.config, &given)?;
            if let Some(v) = fields::opt_str(&given, "listing_visibility")? {
                if !matches!(v, "unauth" | "hidden") {
                    return Err(Error::invalid(format!(
                        "listing_visibility \"{v}\" is not supported: unauth or hidden"
                    )));
                }
                updated.config.listing_visibility = v.to_string();
            }
            if let Some(d) = fields::opt_str(data, "description")? {
                updated.description = d.to_string();
            }
            if kind == Kind::Auth {
                apply_auth_tune(&mut updated, &given)?;
            }
            if let Some(opts) = fields::opt_string_map(data, "options")?
                && opts.get("version").is_some_and(|v| {
                    v != updated.options.get("version").map_or("1", String::as_str)
                })
            {
                return Err(Error::invalid(
                    "changing the kv version is not supported yet",
                ));
            }
            let mut next = table.clone();
            for e in &mut next.entries {
                if e.path == path {
                    *e = updated.clone();
                }
            }
            commit_table(scope, &mut table, next).await?;
            Ok(Response::empty())
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

/// Persists a new mount table, then publishes a router built from it.
pub(super) async fn commit_table(
    scope: &Scope<'_>,
    current: &mut crate::mount::MountTable,
    next: crate::mount::MountTable,
) -> Result<()> {
    commit_table_with(scope, current, next, Vec::new()).await
}

/// [`commit_table`] with more entries written in the same atomic commit.
async fn commit_table_with(
    scope: &Scope<'_>,
    current: &mut crate::mount::MountTable,
    next: crate::mount::MountTable,
    mut also: Vec<(String, Option<Vec<u8>>)>,
) -> Result<()> {
    let router = Router::build(
        &next,
        &scope.tenant.view,
        &scope.tenant.secrets,
        &scope.tenant.background,
        &scope.tenant.jobs,
        &scope.unsealed.mount_states,
    )?;
    let bytes =
        serde_json::to_vec(&next).map_err(|e| Error::Internal(format!("encode mounts: {e}")))?;
    also.push((MOUNTS_PATH.into(), Some(bytes)));
    scope.tenant.view.batch(also).await?;
    *current = next;
    scope.tenant.router.store(std::sync::Arc::new(router));
    Ok(())
}

/// The token auth method is always mounted, and not in the stored table.
fn token_auth_mount() -> Value {
    let mut api = mount::token_auth_entry().to_api();
    api["options"] = Value::Null;
    api["config"]["token_type"] = json!("default-service");
    api
}

/// `sys/internal/ui/mounts/:path`: which mount serves `path` and its KV version, for the
/// `vault`/`bao` CLIs. Allowed when the caller has any capability on the path.
pub(super) async fn ui_mount(
    scope: &Scope<'_>,
    path: &str,
    caller: Option<&Authorized>,
) -> Result<Response> {
    // No mount is listed to anonymous callers (no `listing_visibility` yet).
    let auth = caller.ok_or(Error::PermissionDenied)?;
    let router = scope.tenant.router.load_full();
    let Some((route, _)) = router.route(path) else {
        return Err(Error::PermissionDenied);
    };
    let entry = &route.entry;
    let caps = auth.acl.capabilities(&auth.acl_path(path)).names();
    let mount_caps = auth.acl.capabilities(&auth.acl_path(&entry.path)).names();
    if !auth.token.is_root()
        && caps == ["deny"]
        && mount_caps == ["deny"]
        && !has_any_below(auth, &entry.path)
    {
        return Err(Error::PermissionDenied);
    }
    let mut d = match entry.to_api() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    d.insert("path".into(), json!(entry.path));
    Ok(Response::with_data(d))
}

/// Whether the ACL grants anything at or below a mount (Vault's
/// `HasNonDenyCapabilitiesWithPrefix`): some rule whose pattern lies under the mount, or a
/// glob/`+` rule that can match paths under it, grants a non-deny capability.
fn has_any_below(auth: &Authorized, mount: &str) -> bool {
    let mount = &*auth.acl_path(mount);
    auth.acl.is_root()
        || auth.acl.rules().any(|(pattern, caps)| {
            if caps.is_deny() {
                return false;
            }
            let literal = pattern.split(['*', '+']).next().unwrap_or("");
            literal.starts_with(mount) || mount.starts_with(literal)
        })
}

/// `sys/internal/ui/mounts`: the mounts the caller can use (`sys/` too, as OpenBao); an
/// anonymous caller sees only those tuned `listing_visibility=unauth`.
pub(super) async fn ui_mounts_all(scope: &Scope<'_>, caller: Option<&Authorized>) -> Response {
    let table = scope.tenant.mounts.lock().await;
    let mut secret: Map<String, Value> = table
        .entries
        .iter()
        .filter(|e| !e.is_auth())
        .filter_map(|e| match caller {
            Some(auth)
                if auth.token.is_root()
                    || auth.acl.capabilities(&auth.acl_path(&e.path)).names() != ["deny"]
                    || has_any_below(auth, &e.path) =>
            {
                Some((e.path.clone(), e.to_api()))
            }
            Some(_) => None,
            // Anonymous callers see the mounts tuned `listing_visibility=unauth`, and only
            // what the UI needs to find them.
            None if e.config.listing_visibility == "unauth" => Some((
                e.path.clone(),
                json!({"type": e.kind, "description": e.description, "options": e.options}),
            )),
            None => None,
        })
        .collect();
    // The always-mounted identity store, to callers that can use it (as OpenBao lists it).
    let identity = mount::identity_entry();
    if let Some(auth) = caller
        && (auth.token.is_root()
            || auth
                .acl
                .capabilities(&auth.acl_path(&identity.path))
                .names()
                != ["deny"]
            || has_any_below(auth, &identity.path))
    {
        secret.insert(identity.path.clone(), identity.to_api());
    }
    let mut auth_mounts = Map::new();
    if caller.is_some() {
        auth_mounts.insert("token/".into(), token_auth_mount());
    }
    for e in table.entries.iter().filter(|e| e.is_auth()) {
        let shown = Kind::Auth.shown(&e.path).to_string();
        if caller.is_some() {
            auth_mounts.insert(shown, e.to_api());
        } else if e.config.listing_visibility == "unauth" {
            auth_mounts.insert(
                shown,
                json!({"type": e.kind, "description": e.description, "options": e.options}),
            );
        }
    }
    let mut d = Map::new();
    d.insert("secret".into(), Value::Object(secret));
    d.insert("auth".into(), Value::Object(auth_mounts));
    Response::with_data(d)
}
