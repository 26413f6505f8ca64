//! Creating, changing and deleting namespaces, and opening them all at unseal.
//!
//! Creation commits the namespace's keyring and its entry together ([`Barrier::create_namespace_key`]),
//! then writes its initial stores with the new key. Deletion commits, in one write, the new key
//! table without the namespace's keyring, the removal of its entry and a purge marker: from that
//! commit on the namespace's data cannot be decrypted (crypto-shredding). Its ciphertext is then
//! removed in the background; a crash leaves the marker, and the next unseal finishes the job.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    NAMESPACES_PREFIX, NamespaceEntry, Namespaces, Tenant, initial_entries, new_id, storage_prefix,
};
use crate::audit::{BackgroundAudit, BackgroundChange};
use crate::barrier::{Barrier, NamespaceKey, View};
use crate::core::Unsealed;
use crate::engines::mount_state::MountStates;
use crate::error::{Error, Result};
use crate::request::Operation;

/// `core/namespace-purge/<id>`: a deleted namespace whose ciphertext is still to be removed.
const PURGE_PREFIX: &str = "core/namespace-purge/";

fn encode(entry: &NamespaceEntry) -> Result<Vec<u8>> {
    serde_json::to_vec(entry).map_err(|e| Error::Internal(format!("encode namespace: {e}")))
}

/// Opens the root namespace and every namespace in the table.
pub(crate) async fn open_all(
    barrier: &Arc<Barrier>,
    background: &BackgroundAudit,
    states: &MountStates,
) -> Result<Namespaces> {
    let root = Arc::new(
        Tenant::open(
            NamespaceEntry::root(),
            View::new(barrier.clone(), ""),
            None,
            background,
            states,
        )
        .await?,
    );
    let mut entries = Vec::new();
    for id in barrier.list(NAMESPACES_PREFIX).await? {
        let raw = barrier
            .get(&format!("{NAMESPACES_PREFIX}{id}"))
            .await?
            .ok_or_else(|| Error::Internal(format!("namespace {id} vanished")))?;
        let entry: NamespaceEntry = serde_json::from_slice(raw.expose())
            .map_err(|e| Error::Internal(format!("corrupt namespace entry {id}: {e}")))?;
        // The entry and the key are committed and removed together, so a crash cannot leave
        // one without the other; storage restored from before a deletion, with the keys of
        // after it, can. Such a namespace was shredded: nothing decrypts its data.
        let Some(key) = barrier.namespace_key(&entry.id) else {
            tracing::warn!(id = %entry.id, path = %entry.path, "namespace entry without a key (deleted): its data cannot be decrypted and is not served");
            continue;
        };
        entries.push((entry, key));
    }
    // Parents first, so each namespace's secret count can point at its parent's.
    entries.sort_by_key(|(e, _)| e.path.len());
    let mut opened: BTreeMap<String, Arc<Tenant>> = BTreeMap::new();
    opened.insert(String::new(), root.clone());
    for (entry, key) in entries {
        let Some(parent) = entry.parent_path().and_then(|p| opened.get(p)).cloned() else {
            tracing::warn!(path = %entry.path, "namespace without its parent: not served");
            continue;
        };
        let view = View::of_namespace(barrier.clone(), entry.storage_prefix(), key);
        let path = entry.path.clone();
        let tenant = Tenant::open(entry, view, Some(&parent.secrets), background, states).await?;
        opened.insert(path, Arc::new(tenant));
    }
    let others: Vec<_> = opened
        .values()
        .filter(|t| !t.ns.is_root())
        .cloned()
        .collect();
    if !others.is_empty() {
        tracing::info!(count = others.len(), "namespaces opened");
    }
    let namespaces = Namespaces::new(root, others);
    for tenant in namespaces.all() {
        let cap = tenant.entry().max_secrets;
        if cap > 0 {
            tenant
                .apply_max_secrets(cap, &namespaces.below(&tenant.ns.path))
                .await?;
        }
    }
    Ok(namespaces)
}

/// Counts again the secrets of every capped namespace from `tenant` up (after a change that
/// removed many at once, such as disabling a mount).
pub(crate) async fn recount_secrets(core: &Unsealed, tenant: &Tenant) -> Result<()> {
    let mut next = Some(tenant.ns.path.clone());
    while let Some(path) = next {
        let Some(t) = core.namespaces.by_path(&path) else {
            break;
        };
        let cap = t.entry().max_secrets;
        if cap > 0 {
            t.apply_max_secrets(cap, &core.namespaces.below(&path))
                .await?;
        }
        next = t.ns.parent_path().map(str::to_string);
    }
    Ok(())
}

/// Creates namespace `name` below `parent`, or, when it exists, replaces its custom metadata
/// (`PUT sys/namespaces/:name` does both, as in OpenBao: no metadata given clears it).
/// `max_secrets`: `None` keeps an existing namespace's cap (none for a new one).
pub(crate) async fn create_or_update(
    core: &Unsealed,
    parent: &Tenant,
    name: &str,
    custom_metadata: BTreeMap<String, String>,
    max_secrets: Option<u64>,
) -> Result<NamespaceEntry> {
    let _write = core.namespaces.write.lock().await;
    let path = format!("{}{name}/", parent.ns.path);
    if let Some(existing) = core.namespaces.by_path(&path) {
        let mut entry = existing.entry();
        entry.custom_metadata = custom_metadata;
        if let Some(cap) = max_secrets {
            entry.max_secrets = cap;
        }
        return replace_entry(core, &existing, entry).await;
    }
    let max_secrets = max_secrets.unwrap_or(0);
    if core.namespaces.by_path(&parent.ns.path).is_none() {
        return Err(Error::NamespaceNotFound(
            "parent namespace was deleted".into(),
        ));
    }
    let all = core.namespaces.all();
    let entry = NamespaceEntry {
        id: new_id(|id| all.iter().any(|t| t.ns.id == id))?,
        uuid: uuid::Uuid::new_v4().to_string(),
        path,
        custom_metadata,
        max_secrets,
    };
    let key = core
        .barrier
        .create_namespace_key(
            &entry.id,
            vec![(
                format!("{NAMESPACES_PREFIX}{}", entry.id),
                Some(encode(&entry)?),
            )],
        )
        .await?;
    let view = View::of_namespace(core.barrier.clone(), entry.storage_prefix(), key);
    view.batch(initial_entries(view.clock().now_unix_nanos())?)
        .await?;
    let tenant = Tenant::open(
        entry.clone(),
        view,
        Some(&parent.secrets),
        &core.audit.background(),
        &core.mount_states,
    )
    .await?;
    tenant.apply_max_secrets(entry.max_secrets, &[]).await?;
    core.namespaces.insert(Arc::new(tenant));
    tracing::info!(path = %entry.path, id = %entry.id, "namespace created");
    Ok(entry)
}

/// Stores a changed entry (custom metadata) and publishes it.
async fn replace_entry(
    core: &Unsealed,
    existing: &Tenant,
    entry: NamespaceEntry,
) -> Result<NamespaceEntry> {
    core.barrier
        .put(
            &format!("{NAMESPACES_PREFIX}{}", entry.id),
            &encode(&entry)?,
        )
        .await?;
    let cap_changed = existing.entry().max_secrets != entry.max_secrets;
    existing.set_entry(&entry);
    if cap_changed {
        existing
            .apply_max_secrets(entry.max_secrets, &core.namespaces.below(&entry.path))
            .await?;
    }
    Ok(entry)
}

/// `PATCH sys/namespaces/:name`: a JSON merge patch of the custom metadata (`null` removes a
/// key; a `null` patch clears it all).
pub(crate) async fn patch_metadata(
    core: &Unsealed,
    path: &str,
    patch: Option<&serde_json::Map<String, serde_json::Value>>,
    max_secrets: Option<u64>,
) -> Result<Option<NamespaceEntry>> {
    let _write = core.namespaces.write.lock().await;
    let Some(existing) = core.namespaces.by_path(path) else {
        return Ok(None);
    };
    let mut entry = existing.entry();
    if let Some(cap) = max_secrets {
        entry.max_secrets = cap;
    }
    match patch {
        None => entry.custom_metadata.clear(),
        Some(patch) => {
            for (k, v) in patch {
                match v {
                    serde_json::Value::Null => {
                        entry.custom_metadata.remove(k);
                    }
                    serde_json::Value::String(s) => {
                        entry.custom_metadata.insert(k.clone(), s.clone());
                    }
                    _ => {
                        return Err(Error::invalid(
                            "metadata patch can only have string or null values",
                        ));
                    }
                }
            }
        }
    }
    replace_entry(core, &existing, entry).await.map(Some)
}

/// Deletes the namespace at `path`: destroys its key durably, withdraws it, and removes its
/// data in the background. `Ok(false)`: there was none.
pub(crate) async fn delete(core: &Unsealed, path: &str) -> Result<bool> {
    let _write = core.namespaces.write.lock().await;
    let Some(tenant) = core.namespaces.by_path(path) else {
        return Ok(false);
    };
    if tenant.ns.is_root() {
        return Err(Error::invalid("unable to delete root namespace"));
    }
    if !core.namespaces.children(path).is_empty() {
        // OpenBao answers 400 here too.
        return Err(Error::invalid(
            "unable to delete namespace containing child namespaces",
        ));
    }
    let id = tenant.ns.id.clone();
    let destroyed = core
        .barrier
        .destroy_namespace_key(
            &id,
            vec![
                (format!("{NAMESPACES_PREFIX}{id}"), None),
                (
                    format!("{PURGE_PREFIX}{id}"),
                    Some(tenant.ns.storage_prefix().into_bytes()),
                ),
            ],
        )
        .await?;
    core.namespaces.remove(path);
    forget_quotas(core, path).await;
    // Its secrets no longer count towards the caps above it.
    if let Some(parent) = tenant
        .ns
        .parent_path()
        .and_then(|p| core.namespaces.by_path(p))
    {
        recount_secrets(core, &parent).await?;
    }
    tracing::info!(path, id = %id, "namespace deleted: its key is destroyed");
    spawn_purge(
        core.barrier.clone(),
        core.audit.background(),
        id,
        path.to_string(),
        destroyed,
    );
    Ok(true)
}

/// Drops the rate-limit rules stored in a deleted namespace (its storage is gone) and those
/// its ancestors wrote for it (so a namespace created later at the same path starts clean).
async fn forget_quotas(core: &Unsealed, path: &str) {
    let _write = core.quotas.write.lock().await;
    let mut kept = Vec::new();
    for (owner, rule) in core.quotas.all() {
        if owner == path {
            continue;
        }
        if rule.namespace == path {
            if let Some(tenant) = core.namespaces.by_path(&owner) {
                let key = format!("{}{}", crate::quota::RATE_LIMIT_PREFIX, rule.name);
                if let Err(e) = tenant.view.delete(&key).await {
                    tracing::warn!(error = %e, quota = %rule.name, "could not remove the quota of a deleted namespace");
                }
            }
            continue;
        }
        kept.push((owner, rule));
    }
    core.quotas.publish(kept);
}

/// Removes a deleted namespace's ciphertext, audited as a background change.
fn spawn_purge(
    barrier: Arc<Barrier>,
    background: BackgroundAudit,
    id: String,
    path: String,
    destroyed: Option<Arc<NamespaceKey>>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        // Writes encrypted before the key was destroyed may still be landing: wait for them,
        // so the scan below sees all the ciphertext there will ever be.
        if let Some(key) = &destroyed {
            key.quiesce().await;
        }
        let audit_path = format!("sys/namespaces/{path}");
        let change = BackgroundChange {
            job: "namespace-purge",
            operation: Operation::Delete,
            path: &audit_path,
            mount: None,
            data: None,
        };
        if let Err(e) = background.record(&change, purge(&barrier, &id)).await {
            tracing::warn!(error = %e, id, "removing a deleted namespace's data failed; resumed at the next unseal");
        }
    });
}

async fn purge(barrier: &Arc<Barrier>, id: &str) -> Result<()> {
    View::new(barrier.clone(), storage_prefix(id))
        .clear()
        .await?;
    barrier.delete(&format!("{PURGE_PREFIX}{id}")).await?;
    tracing::info!(id, "data of a deleted namespace removed");
    Ok(())
}

/// Finishes the purges of namespaces deleted before a crash (at unseal).
pub(crate) async fn resume_purges(barrier: &Arc<Barrier>) -> Result<()> {
    for id in barrier.list(PURGE_PREFIX).await? {
        purge(barrier, &id).await?;
    }
    Ok(())
}
