//! The authenticated `sys/` routes: mounts, barrier rotation, key status.
//! (`sys/init`, `sys/unseal`, `sys/seal-status`, `sys/seal`, `sys/health` work while sealed and
//! are served by the server's raw handlers through [`crate::Core`] directly.)

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::clock::rfc3339_nanos;
use crate::core::Unsealed;
use crate::engines::normalize_type;
use crate::error::{Error, Result};
use crate::fields::{self, parse_duration_secs};
use crate::mount::{
    self, MOUNTS_PATH, MountConfig, MountEntry, Router, accessor_for, normalize_mount_path,
};
use crate::pipeline::Authorized;
use crate::policy_store::normalize_name;
use crate::request::{Operation, Response};

/// Routes a request whose path is below `sys/`; `rel` is the part after `sys/`.
pub(crate) async fn handle(
    core: &Unsealed,
    rel: &str,
    op: Operation,
    data: &Map<String, Value>,
    auth: &Authorized,
) -> Result<Option<Response>> {
    if let Some(resp) = policy_routes(core, rel, op, data, auth).await? {
        return Ok(resp);
    }
    match rel {
        "capabilities-self" | "capabilities" | "capabilities-accessor" => match op {
            Operation::Update | Operation::Create => {
                capabilities(core, rel, data, auth).await.map(Some)
            }
            _ => Err(Error::UnsupportedOperation),
        },
        "auth" | "auth/" => match op {
            Operation::Read => Ok(Some(list_auth())),
            _ => Err(Error::UnsupportedOperation),
        },
        "audit" | "audit/" => match op {
            Operation::Read => {
                let mut resp = Response::with_data(core.audit.list()).injected();
                if core.audit.is_empty() {
                    resp.warnings.push(NO_AUDIT_WARNING.into());
                }
                Ok(Some(resp))
            }
            _ => Err(Error::UnsupportedOperation),
        },
        "internal/ui/mounts" | "internal/ui/mounts/" => match op {
            Operation::Read => Ok(Some(ui_mounts_all(core, auth).await)),
            _ => Err(Error::UnsupportedOperation),
        },
        "mounts" | "mounts/" => match op {
            Operation::Read => Ok(Some(list_mounts(core).await)),
            _ => Err(Error::UnsupportedOperation),
        },
        "rotate" | "rotate/keyring" => match op {
            Operation::Update | Operation::Create => {
                core.barrier.rotate().await?;
                Ok(Some(Response::empty()))
            }
            _ => Err(Error::UnsupportedOperation),
        },
        "key-status" => match op {
            Operation::Read => Ok(Some(key_status(core))),
            _ => Err(Error::UnsupportedOperation),
        },
        _ => {
            if let Some(path) = rel.strip_prefix("internal/ui/mounts/") {
                return ui_mount(core, path, auth).await.map(Some);
            }
            if rel == "tools/random" || rel.starts_with("tools/random/") {
                if !op.is_write() {
                    return Err(Error::UnsupportedOperation);
                }
                let rest = rel
                    .strip_prefix("tools/random")
                    .unwrap_or("")
                    .trim_start_matches('/');
                return crate::engines::transit_random(rest, data).map(Some);
            }
            if rel == "tools/hash" || rel.starts_with("tools/hash/") {
                if !op.is_write() {
                    return Err(Error::UnsupportedOperation);
                }
                let rest = rel
                    .strip_prefix("tools/hash")
                    .unwrap_or("")
                    .trim_start_matches('/');
                return crate::engines::transit_hash(rest, data).map(Some);
            }
            if let Some(name) = rel.strip_prefix("audit/") {
                let canonical = format!("sys/audit/{}", name.trim_matches('/'));
                if canonical != format!("sys/{rel}") {
                    auth.also_allows(op, &canonical)?;
                }
                return audit_device_op(core, name, op, data).await;
            }
            if let Some(name) = rel.strip_prefix("audit-hash/") {
                if !op.is_write() {
                    return Err(Error::UnsupportedOperation);
                }
                let input = fields::opt_str(data, "input")?
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| Error::invalid("the \"input\" parameter is required"))?;
                let mut d = Map::new();
                d.insert("hash".into(), json!(core.audit.hash(name, input)?));
                return Ok(Some(Response::with_data(d).injected()));
            }
            if let Some(name) = rel.strip_prefix("audit-chain/") {
                if op != Operation::Read {
                    return Err(Error::UnsupportedOperation);
                }
                return Ok(core.audit.chain(name).map(Response::with_data));
            }
            if let Some(path) = rel.strip_prefix("auth/") {
                return auth_mount_op(path, op);
            }
            if let Some(rest) = rel.strip_prefix("mounts/") {
                if let Some(path) = rest.strip_suffix("/tune") {
                    let canonical = format!(
                        "sys/mounts/{}/tune",
                        normalize_mount_path(path)?.trim_end_matches('/')
                    );
                    if canonical != format!("sys/{rel}") {
                        auth.also_allows(op, &canonical)?;
                    }
                    return tune(core, path, op, data).await.map(Some);
                }
                let canonical = format!(
                    "sys/mounts/{}",
                    normalize_mount_path(rest)?.trim_end_matches('/')
                );
                if canonical != format!("sys/{rel}") {
                    auth.also_allows(op, &canonical)?;
                }
                return mount_op(core, rest, op, data).await.map(Some);
            }
            Err(Error::UnsupportedPath)
        }
    }
}

async fn list_mounts(core: &Unsealed) -> Response {
    let table = core.mounts.lock().await;
    let data: Map<String, Value> = table
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.to_api()))
        .collect();
    Response::with_data(data).injected()
}

fn key_status(core: &Unsealed) -> Response {
    let info = core.barrier.key_status();
    let mut data = Map::new();
    data.insert("term".into(), json!(info.term));
    data.insert(
        "install_time".into(),
        json!(rfc3339_nanos(info.install_time_unix_nanos)),
    );
    data.insert("encryptions".into(), json!(info.encryptions));
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

async fn mount_op(
    core: &Unsealed,
    raw_path: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Response> {
    let path = normalize_mount_path(raw_path)?;
    match op {
        Operation::Read => {
            let table = core.mounts.lock().await;
            let entry = table
                .get(&path)
                .ok_or_else(|| Error::invalid(format!("No secret engine mount at {path}")))?;
            match entry.to_api() {
                Value::Object(m) => Ok(Response::with_data(m).injected()),
                _ => Err(Error::Internal("mount entry is not an object".into())),
            }
        }
        Operation::Create | Operation::Update => enable_mount(core, path, data).await,
        Operation::Delete => disable_mount(core, &path).await,
        _ => Err(Error::UnsupportedOperation),
    }
}

async fn enable_mount(
    core: &Unsealed,
    path: String,
    data: &Map<String, Value>,
) -> Result<Response> {
    let kind = fields::opt_str(data, "type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::invalid("missing or empty 'type' field"))?;
    let mut options: BTreeMap<String, String> =
        fields::opt_string_map(data, "options")?.unwrap_or_default();
    let kind = normalize_type(kind, &mut options)?;
    let mut config = MountConfig::default();
    if let Some(Value::Object(cfg)) = data.get("config") {
        apply_config(&mut config, cfg)?;
    } else if !matches!(data.get("config"), None | Some(Value::Null)) {
        return Err(Error::invalid("'config' must be an object"));
    }

    let mut table = core.mounts.lock().await;
    table.check_new_path(&path)?;
    let entry = MountEntry {
        accessor: accessor_for(&kind, &table)?,
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
    commit_table(core, &mut table, next).await?;
    tracing::info!(path = %entry.path, kind = %entry.kind, "mount enabled");
    Ok(Response::empty())
}

async fn disable_mount(core: &Unsealed, path: &str) -> Result<Response> {
    let mut table = core.mounts.lock().await;
    let Some(entry) = table.get(path).cloned() else {
        return Ok(Response::empty());
    };
    if entry.kind == "system" {
        return Err(Error::invalid(format!("cannot unmount \"{path}\"")));
    }
    let mut next = table.clone();
    next.entries.retain(|e| e.path != path);
    // The table goes in one commit with a purge marker: from then on the mount is gone, and
    // its data is removed now or, after a crash or an error, at the next unseal.
    commit_table_with(core, &mut table, next, vec![mount::purge_marker(&entry)]).await?;
    tracing::info!(path = %path, "mount disabled");
    if let Err(e) = mount::purge(&core.barrier, &entry.uuid).await {
        tracing::warn!(error = %e, path = %path, "removing a disabled mount's data failed; resumed at the next unseal");
    }
    Ok(Response::empty())
}

/// What `sys/mounts/:path/tune` applies (`options` only to restate the current kv version).
const TUNABLE: &[&str] = &[
    "default_lease_ttl",
    "max_lease_ttl",
    "description",
    "options",
];

async fn tune(
    core: &Unsealed,
    raw_path: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Response> {
    let path = normalize_mount_path(raw_path)?;
    let mut table = core.mounts.lock().await;
    let entry = table
        .get(&path)
        .cloned()
        .ok_or_else(|| Error::invalid(format!("No secret engine mount at {path}")))?;
    match op {
        Operation::Read => Ok(Response::with_data(entry.tune_api()).injected()),
        Operation::Create | Operation::Update => {
            // Refuse what is not applied rather than answer 204 and ignore it.
            if let Some(key) = data.keys().find(|k| !TUNABLE.contains(&k.as_str())) {
                return Err(Error::invalid(format!(
                    "tuning \"{key}\" is not supported; tunable: {}",
                    TUNABLE.join(", ")
                )));
            }
            let mut updated = entry;
            apply_config(&mut updated.config, data)?;
            if let Some(d) = fields::opt_str(data, "description")? {
                updated.description = d.to_string();
            }
            if let Some(opts) = fields::opt_string_map(data, "options")?
                && opts
                    .get("version")
                    .is_some_and(|v| Some(v) != updated.options.get("version"))
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
            commit_table(core, &mut table, next).await?;
            Ok(Response::empty())
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

/// Said on `sys/audit` while no device is enabled.
const NO_AUDIT_WARNING: &str = "no audit device is enabled: requests are not audited (declare one with [[audit]] in the \
     server configuration)";

/// Persists a new mount table, then publishes a router built from it.
async fn commit_table(
    core: &Unsealed,
    current: &mut crate::mount::MountTable,
    next: crate::mount::MountTable,
) -> Result<()> {
    commit_table_with(core, current, next, Vec::new()).await
}

/// [`commit_table`] with more entries written in the same atomic commit.
async fn commit_table_with(
    core: &Unsealed,
    current: &mut crate::mount::MountTable,
    next: crate::mount::MountTable,
    mut also: Vec<(String, Option<Vec<u8>>)>,
) -> Result<()> {
    let router = Router::build(
        &next,
        &core.barrier,
        &core.audit.background(),
        &core.mount_states,
    )?;
    let bytes =
        serde_json::to_vec(&next).map_err(|e| Error::Internal(format!("encode mounts: {e}")))?;
    also.push((MOUNTS_PATH.into(), Some(bytes)));
    core.barrier.batch(also).await?;
    *current = next;
    core.router.store(std::sync::Arc::new(router));
    Ok(())
}

/// `sys/policies/acl[/...]` and the legacy `sys/policy[/...]`. `None` when `rel` is neither.
async fn policy_routes(
    core: &Unsealed,
    rel: &str,
    op: Operation,
    data: &Map<String, Value>,
    auth: &Authorized,
) -> Result<Option<Option<Response>>> {
    let (legacy, name) = if let Some(n) = rel.strip_prefix("policies/acl") {
        (false, n.trim_start_matches('/'))
    } else if let Some(n) = rel.strip_prefix("policy") {
        if !(n.is_empty() || n.starts_with('/')) {
            return Ok(None);
        }
        (true, n.trim_start_matches('/'))
    } else {
        return Ok(None);
    };
    if name.is_empty() {
        // ACL policies are listed with LIST; the legacy path also with a plain GET.
        if !matches!(
            (legacy, op),
            (false, Operation::List) | (true, Operation::Read) | (true, Operation::List)
        ) {
            return Err(Error::UnsupportedOperation);
        }
        let names = core.policies.list().await?;
        let mut d = Map::new();
        d.insert("keys".into(), json!(names));
        if legacy {
            d.insert("policies".into(), json!(names));
            return Ok(Some(Some(Response::with_data(d).injected())));
        }
        return Ok(Some(Some(Response::with_data(d))));
    }
    let raw_name = name.trim_end_matches('/');
    let name = normalize_name(raw_name)?;
    let canonical = format!(
        "{}{name}",
        if legacy {
            "sys/policy/"
        } else {
            "sys/policies/acl/"
        }
    );
    if canonical != format!("sys/{rel}") {
        auth.also_allows(op, &canonical)?;
    }
    let resp = match op {
        Operation::Read => {
            let text = if name == "root" {
                Some(String::new())
            } else {
                core.policies.text(&name).await?
            };
            text.map(|t| {
                let mut d = Map::new();
                d.insert("name".into(), json!(name));
                d.insert(if legacy { "rules" } else { "policy" }.into(), json!(t));
                let r = Response::with_data(d);
                if legacy { r.injected() } else { r }
            })
        }
        Operation::Create | Operation::Update => {
            let text = match fields::opt_str(data, "policy")? {
                Some(t) if !t.is_empty() => t.to_string(),
                _ if legacy => fields::opt_str(data, "rules")?.unwrap_or("").to_string(),
                _ => String::new(),
            };
            let text = decode_maybe_base64(&text);
            core.policies.put(&name, &text).await?;
            let mut r = Response::empty();
            if name != raw_name {
                r.warnings
                    .push(format!("policy name was converted to lowercase: {name}"));
            }
            Some(r)
        }
        Operation::Delete => {
            core.policies.delete(&name).await?;
            Some(Response::empty())
        }
        _ => return Err(Error::UnsupportedOperation),
    };
    Ok(Some(resp))
}

/// OpenBao accepts a policy body that is base64 of the HCL/JSON text.
fn decode_maybe_base64(text: &str) -> String {
    use base64::Engine as _;
    let trimmed = text.trim();
    if trimmed.contains('"') || trimmed.contains('{') || trimmed.is_empty() {
        return text.to_string();
    }
    base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| text.to_string())
}

/// `sys/capabilities-self`, `sys/capabilities` (`token`), `sys/capabilities-accessor`.
async fn capabilities(
    core: &Unsealed,
    rel: &str,
    data: &Map<String, Value>,
    auth: &Authorized,
) -> Result<Response> {
    let mut paths = fields::opt_string_list(data, "paths")?.unwrap_or_default();
    if let Some(p) = fields::opt_str(data, "path")? {
        paths.push(p.to_string());
    }
    if paths.is_empty() {
        return Err(Error::invalid("missing paths"));
    }
    let policies: Vec<String> = match rel {
        "capabilities-self" => auth.token.policies.clone(),
        "capabilities" => {
            let token = fields::opt_str(data, "token")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::invalid("missing token"))?;
            match core.tokens.lookup(token).await? {
                Some(e) => e.policies.clone(),
                None => Vec::new(),
            }
        }
        _ => {
            let accessor = fields::opt_str(data, "accessor")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::invalid("missing accessor"))?;
            match core.tokens.lookup_accessor(accessor).await? {
                Some((_, e)) => e.policies.clone(),
                None => return Err(Error::invalid("invalid accessor")),
            }
        }
    };
    let acl = core.policies.acl_for(&policies).await?;
    let mut d = Map::new();
    for path in &paths {
        let path = path.trim_start_matches('/');
        let caps = if policies.is_empty() {
            vec!["deny"]
        } else {
            acl.capabilities(path).names()
        };
        d.insert(path.to_string(), json!(caps));
    }
    if paths.len() == 1
        && let Some(v) = d.get(paths[0].trim_start_matches('/')).cloned()
    {
        d.insert("capabilities".into(), v);
    }
    Ok(Response::with_data(d).injected())
}

/// The token auth method is always mounted; it is the only one so far.
fn token_auth_mount() -> Value {
    json!({
        "type": "token",
        "description": "token based credentials",
        "accessor": "auth_token_root",
        "uuid": "auth-token",
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "options": null,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
        "deprecation_status": "supported",
        "config": {
            "default_lease_ttl": 0,
            "max_lease_ttl": 0,
            "force_no_cache": false,
            "token_type": "default-service",
        },
    })
}

fn list_auth() -> Response {
    let mut d = Map::new();
    d.insert("token/".into(), token_auth_mount());
    Response::with_data(d).injected()
}

fn auth_mount_op(path: &str, op: Operation) -> Result<Option<Response>> {
    let path = path.trim_end_matches('/');
    if path == "token/tune" {
        if op != Operation::Read {
            return Err(Error::invalid("token auth method cannot be tuned"));
        }
        let mut d = Map::new();
        d.insert(
            "default_lease_ttl".into(),
            json!(crate::token::SYSTEM_MAX_TTL),
        );
        d.insert("max_lease_ttl".into(), json!(crate::token::SYSTEM_MAX_TTL));
        d.insert("force_no_cache".into(), json!(false));
        d.insert("description".into(), json!("token based credentials"));
        d.insert("token_type".into(), json!("default-service"));
        d.insert("options".into(), Value::Null);
        return Ok(Some(Response::with_data(d).injected()));
    }
    match (path, op) {
        ("token", Operation::Read) => match token_auth_mount() {
            Value::Object(m) => Ok(Some(Response::with_data(m).injected())),
            _ => Err(Error::Internal("auth mount is not an object".into())),
        },
        ("token", _) => Err(Error::invalid("token auth method cannot be changed")),
        (_, Operation::Read) => Ok(None),
        _ => Err(Error::invalid(
            "only the token auth method is available in this build",
        )),
    }
}

/// `sys/internal/ui/mounts/:path`: which mount serves `path` and its KV version, for the
/// `vault`/`bao` CLIs. Allowed when the caller has any capability on the path.
async fn ui_mount(core: &Unsealed, path: &str, auth: &Authorized) -> Result<Response> {
    let router = core.router.load_full();
    let Some((route, _)) = router.route(path) else {
        return Err(Error::PermissionDenied);
    };
    let entry = &route.entry;
    let caps = auth.acl.capabilities(path).names();
    let mount_caps = auth.acl.capabilities(&entry.path).names();
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
    auth.acl.is_root()
        || auth.acl.rules().any(|(pattern, caps)| {
            if caps.is_deny() {
                return false;
            }
            let literal = pattern.split(['*', '+']).next().unwrap_or("");
            literal.starts_with(mount) || mount.starts_with(literal)
        })
}

async fn ui_mounts_all(core: &Unsealed, auth: &Authorized) -> Response {
    let table = core.mounts.lock().await;
    let secret: Map<String, Value> = table
        .entries
        .iter()
        .filter(|e| e.kind != "system")
        .filter(|e| {
            auth.token.is_root()
                || auth.acl.capabilities(&e.path).names() != ["deny"]
                || has_any_below(auth, &e.path)
        })
        .map(|e| (e.path.clone(), e.to_api()))
        .collect();
    let mut auth_mounts = Map::new();
    auth_mounts.insert("token/".into(), token_auth_mount());
    let mut d = Map::new();
    d.insert("secret".into(), Value::Object(secret));
    d.insert("auth".into(), Value::Object(auth_mounts));
    Response::with_data(d)
}

/// `sys/audit/:name`: enable (only when the config allows it) or disable a device.
async fn audit_device_op(
    core: &Unsealed,
    name: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>> {
    match op {
        Operation::Create | Operation::Update => {
            let kind = fields::opt_str(data, "type")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::invalid("missing audit device type"))?;
            let options = match data.get("options") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            let description = fields::opt_str(data, "description")?.unwrap_or("");
            core.audit.enable(name, kind, &options, description).await?;
            Ok(Some(Response::empty()))
        }
        Operation::Delete => {
            core.audit.disable(name).await?;
            Ok(Some(Response::empty()))
        }
        _ => Err(Error::UnsupportedOperation),
    }
}
