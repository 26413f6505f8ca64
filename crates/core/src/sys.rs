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
    MOUNTS_PATH, MountConfig, MountEntry, Router, accessor_for, normalize_mount_path,
};
use crate::pipeline::Authorized;
use crate::request::{Operation, Request, Response};

/// Routes a request whose path is below `sys/`; `rel` is the part after `sys/`.
pub(crate) async fn handle(
    core: &Unsealed,
    rel: &str,
    req: Request,
    _auth: Authorized,
) -> Result<Option<Response>> {
    let op = req.operation;
    match rel {
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
            if let Some(rest) = rel.strip_prefix("mounts/") {
                if let Some(path) = rest.strip_suffix("/tune") {
                    return tune(core, path, op, &req.data).await.map(Some);
                }
                return mount_op(core, rest, op, &req.data).await.map(Some);
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
        accessor: accessor_for(&kind)?,
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
    // The table is written first: a crash after it leaves orphaned (still encrypted) data under
    // the old uuid, never a mount whose data is half gone.
    let view = crate::barrier::View::new(core.barrier.clone(), entry.storage_prefix());
    commit_table(core, &mut table, next).await?;
    view.clear().await?;
    tracing::info!(path = %path, "mount disabled");
    Ok(Response::empty())
}

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
        Operation::Read => Ok(Response::with_data(entry.tune_api())),
        Operation::Create | Operation::Update => {
            let mut updated = entry;
            apply_config(&mut updated.config, data)?;
            if let Some(d) = fields::opt_str(data, "description")? {
                updated.description = d.to_string();
            }
            if let Some(opts) = fields::opt_string_map(data, "options")? {
                if opts
                    .get("version")
                    .is_some_and(|v| Some(v) != updated.options.get("version"))
                {
                    return Err(Error::invalid(
                        "changing the kv version is not supported yet",
                    ));
                }
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

/// Persists a new mount table, then publishes a router built from it.
async fn commit_table(
    core: &Unsealed,
    current: &mut crate::mount::MountTable,
    next: crate::mount::MountTable,
) -> Result<()> {
    let router = Router::build(&next, &core.barrier)?;
    let bytes =
        serde_json::to_vec(&next).map_err(|e| Error::Internal(format!("encode mounts: {e}")))?;
    core.barrier.put(MOUNTS_PATH, &bytes).await?;
    *current = next;
    core.router.store(std::sync::Arc::new(router));
    Ok(())
}
