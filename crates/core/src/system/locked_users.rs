//! `sys/locked-users` (the names locked out of this namespace's auth mounts, shaped as
//! OpenBao shapes them) and `sys/locked-users/:mount_accessor/unlock/:alias_identifier`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Scope;
use crate::engines::EngineRequest;
use crate::error::Result;
use crate::fields;
use crate::request::Response;

pub(super) async fn list(scope: &Scope<'_>, data: &Map<String, Value>) -> Result<Response> {
    let only = fields::opt_str(data, "mount_accessor")?.filter(|a| !a.is_empty());
    let now = scope.unsealed.barrier.clock().now_unix_secs();
    let configs: BTreeMap<String, _> = {
        let table = scope.tenant.mounts.lock().await;
        table
            .entries
            .iter()
            .filter(|e| e.is_auth())
            .map(|e| {
                (
                    e.accessor.clone(),
                    e.config.user_lockout.clone().unwrap_or_default(),
                )
            })
            .collect()
    };
    let mut by_mount: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for locked in scope
        .tenant
        .lockouts
        .locked(now, |a| configs.get(a).cloned())
    {
        if only.is_none_or(|a| a == locked.mount_accessor) {
            by_mount
                .entry(locked.mount_accessor)
                .or_default()
                .push(locked.name);
        }
    }
    let total: usize = by_mount.values().map(Vec::len).sum();
    let mounts: Vec<Value> = by_mount
        .into_iter()
        .map(|(accessor, names)| {
            json!({"mount_accessor": accessor, "counts": names.len(), "alias_identifiers": names})
        })
        .collect();
    let ns = &scope.tenant.ns;
    let mut d = Map::new();
    d.insert(
        "by_namespace".into(),
        json!([{
            "namespace_id": if ns.is_root() { "root" } else { ns.id.as_str() },
            "namespace_path": ns.path,
            "counts": total,
            "mount_accessors": mounts,
        }]),
    );
    d.insert("total".into(), json!(total));
    Ok(Response::with_data(d))
}

/// Lifts a lock. The request itself is the audit record of the unlock; unlocking a name that
/// is not locked is a no-op (204), as in OpenBao.
pub(super) async fn unlock(scope: &Scope<'_>, req: &EngineRequest) -> Result<Response> {
    let accessor = req.param("mount_accessor");
    let name = req.param("alias_identifier");
    let was_locked = scope.tenant.lockouts.unlock(accessor, name).await?;
    if was_locked {
        tracing::info!(
            mount_accessor = accessor,
            "a locked login name was unlocked"
        );
    }
    Ok(Response::empty())
}
