//! Entities and their aliases: `entity…`, `entity-alias…`, `sys/identity/inactive`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{id_name, namespace_id, now_nanos, strings, time};
use crate::auth::token_params::normalize_policies;
use crate::clock::rfc3339_nanos;
use crate::error::{Error, Result};
use crate::fields;
use crate::identity::{Alias, Change, Entity, IdentityStore, State};
use crate::request::Response;
use crate::system::Scope;

pub(in crate::system) fn entity_api(scope: &Scope<'_>, state: &State, e: &Entity) -> Response {
    let ns = namespace_id(scope);
    let direct = state.direct_groups(&e.id);
    let inherited = state.inherited_groups(&direct);
    let aliases: Vec<Value> = state
        .aliases_of(&e.id)
        .iter()
        .map(|a| Value::Object(a.to_api(&ns)))
        .collect();
    let all: Vec<&String> = direct.iter().chain(inherited.iter()).collect();
    let mut d = Map::new();
    d.insert("id".into(), json!(e.id));
    d.insert("name".into(), json!(e.name));
    d.insert("aliases".into(), json!(aliases));
    d.insert("policies".into(), json!(e.policies));
    d.insert(
        "metadata".into(),
        if e.metadata.is_empty() {
            Value::Null
        } else {
            json!(e.metadata)
        },
    );
    d.insert("disabled".into(), json!(e.disabled));
    d.insert("creation_time".into(), time(e.creation_time));
    d.insert("last_update_time".into(), time(e.last_update_time));
    d.insert("direct_group_ids".into(), json!(direct));
    d.insert("inherited_group_ids".into(), json!(inherited));
    d.insert("group_ids".into(), json!(all));
    d.insert("merged_entity_ids".into(), Value::Null);
    d.insert("namespace_id".into(), json!(ns));
    Response::with_data(d)
}

/// Creates or updates an entity: `existing` when the path named it, else the one `id` or
/// `name` names, else a new one.
pub(in crate::system) async fn write_entity(
    scope: &Scope<'_>,
    store: &IdentityStore,
    data: &Map<String, Value>,
    existing: Option<Arc<Entity>>,
) -> Result<Option<Response>> {
    let _guard = store.lock().await;
    let name = fields::opt_str(data, "name")?.filter(|n| !n.is_empty());
    let existing = {
        let state = store.read();
        match (
            existing,
            fields::opt_str(data, "id")?.filter(|i| !i.is_empty()),
        ) {
            // Re-read under the lock: the entity may have changed since the path was matched.
            (Some(e), _) => state.entities.get(&e.id).cloned(),
            (None, Some(id)) => Some(
                state
                    .entities
                    .get(id)
                    .cloned()
                    .ok_or_else(|| Error::NotFound("entity not found".into()))?,
            ),
            (None, None) => name.and_then(|n| state.entity_by_name(n).cloned()),
        }
    };
    let now = now_nanos(scope);
    let created = existing.is_none();
    let mut e = match existing {
        Some(e) => (*e).clone(),
        None => Entity::new(name, now)?,
    };
    if let Some(n) = name
        && n != e.name
    {
        if store.read().entity_by_name(n).is_some() {
            return Err(Error::invalid(format!(
                "entity name \"{n}\" is already in use"
            )));
        }
        e.name = n.to_string();
    }
    if let Some(p) = strings(data, "policies")? {
        e.policies = normalize_policies(p);
    }
    if let Some(m) = fields::opt_string_map(data, "metadata")? {
        e.metadata = m;
    }
    if let Some(d) = fields::opt_bool(data, "disabled")? {
        e.disabled = d;
    }
    e.last_update_time = now;
    let (id, name) = (e.id.clone(), e.name.clone());
    store.apply(vec![Change::Entity(Arc::new(e))]).await?;
    if created {
        let mut resp = id_name(&id, &name);
        if let Some(d) = resp.data.as_mut() {
            d.insert("aliases".into(), Value::Null);
        }
        return Ok(Some(resp));
    }
    Ok(Some(Response::empty()))
}

/// Deletes an entity with its aliases, and takes it out of every group.
pub(in crate::system) async fn delete_entity(
    store: &IdentityStore,
    found: Option<Arc<Entity>>,
) -> Result<Option<Response>> {
    let Some(e) = found else {
        return Ok(Some(Response::empty()));
    };
    let _guard = store.lock().await;
    let changes = {
        let state = store.read();
        let mut changes: Vec<Change> = state
            .aliases_of(&e.id)
            .iter()
            .map(|a| Change::DeleteAlias(a.id.clone()))
            .collect();
        for g in state
            .groups
            .values()
            .filter(|g| g.member_entity_ids.contains(&e.id))
        {
            let mut g = (**g).clone();
            g.member_entity_ids.retain(|m| *m != e.id);
            g.modify_index += 1;
            changes.push(Change::Group(Arc::new(g)));
        }
        changes.push(Change::DeleteEntity(e.id.clone()));
        changes
    };
    store.apply(changes).await?;
    Ok(Some(Response::empty()))
}

pub(in crate::system) async fn write_alias(
    scope: &Scope<'_>,
    store: &IdentityStore,
    data: &Map<String, Value>,
    existing: Option<Arc<Alias>>,
) -> Result<Option<Response>> {
    let _guard = store.lock().await;
    let s =
        |k: &str| fields::opt_str(data, k).map(|v| v.filter(|v| !v.is_empty()).map(str::to_string));
    let existing = match (existing, s("id")?) {
        (Some(a), _) => store.read().aliases.get(&a.id).cloned(),
        (None, Some(id)) => Some(
            store
                .read()
                .aliases
                .get(&id)
                .cloned()
                .ok_or_else(|| Error::NotFound("entity alias not found".into()))?,
        ),
        (None, None) => None,
    };
    let now = now_nanos(scope);
    let mut alias = match &existing {
        Some(a) => (**a).clone(),
        None => {
            let name = s("name")?.ok_or_else(|| Error::invalid("missing alias name"))?;
            let accessor =
                s("mount_accessor")?.ok_or_else(|| Error::invalid("missing mount_accessor"))?;
            let canonical =
                s("canonical_id")?.ok_or_else(|| Error::invalid("missing canonical_id"))?;
            Alias::new(&canonical, &accessor, "", "", &name, now)
        }
    };
    if let Some(n) = s("name")? {
        alias.name = n;
    }
    if let Some(a) = s("mount_accessor")? {
        alias.mount_accessor = a;
    }
    if let Some(c) = s("canonical_id")? {
        alias.canonical_id = c;
    }
    if let Some(m) = fields::opt_string_map(data, "custom_metadata")? {
        alias.custom_metadata = m;
    }
    // From the router's snapshot, not the mount table's lock: a mount being disabled holds
    // that lock while it removes its aliases under this store's lock.
    let router = scope.tenant.router.load_full();
    let mount = router
        .auth_mount(&alias.mount_accessor)
        .map(|r| r.entry.clone())
        .ok_or_else(|| {
            Error::invalid(format!(
                "invalid mount accessor \"{}\"",
                alias.mount_accessor
            ))
        })?;
    alias.mount_type = mount.kind.clone();
    alias.mount_path = mount.path.clone();
    {
        let state = store.read();
        if !state.entities.contains_key(&alias.canonical_id) {
            return Err(Error::invalid("invalid canonical ID: no such entity"));
        }
        if state
            .alias_of(&alias.mount_accessor, &alias.name)
            .is_some_and(|a| a.id != alias.id)
        {
            return Err(Error::invalid(
                "alias already exists for this mount and name",
            ));
        }
        if state
            .aliases_of(&alias.canonical_id)
            .iter()
            .any(|a| a.mount_accessor == alias.mount_accessor && a.id != alias.id)
        {
            return Err(Error::invalid(
                "alias already exists for requested entity and mount accessor",
            ));
        }
    }
    alias.last_update_time = now;
    let (id, canonical) = (alias.id.clone(), alias.canonical_id.clone());
    store.apply(vec![Change::Alias(Arc::new(alias))]).await?;
    let mut d = Map::new();
    d.insert("id".into(), json!(id));
    d.insert("canonical_id".into(), json!(canonical));
    Ok(Some(Response::with_data(d)))
}

/// `sys/identity/inactive`: the entities without a login through any alias in `days` days
/// (default 30), never-used ones included, oldest first.
pub(in crate::system) fn inactive(
    scope: &Scope<'_>,
    data: &Map<String, Value>,
) -> Result<Response> {
    let days = fields::opt_i64(data, "days")?.unwrap_or(30);
    if days < 0 {
        return Err(Error::invalid("\"days\" cannot be negative"));
    }
    let now = scope.unsealed.barrier.clock().now_unix_secs();
    let cutoff = now.saturating_sub(days.saturating_mul(86_400));
    let state = scope.tenant.identity.read();
    let secs = |t: i64| json!(rfc3339_nanos(t.saturating_mul(1_000_000_000)));
    let mut rows: Vec<(Option<i64>, Value)> = state
        .entities
        .values()
        .filter_map(|e| {
            let aliases = state.aliases_of(&e.id);
            let last = aliases.iter().filter_map(|a| a.last_login).max();
            if last.is_some_and(|t| t >= cutoff) {
                return None;
            }
            let aliases: Vec<Value> = aliases
                .iter()
                .map(|a| {
                    json!({
                        "name": a.name,
                        "mount_path": a.mount_path,
                        "mount_accessor": a.mount_accessor,
                        "last_login_time": a.last_login.map_or(Value::Null, secs),
                    })
                })
                .collect();
            let direct = state.direct_groups(&e.id);
            let mut group_policies: Vec<&String> = direct
                .iter()
                .chain(state.inherited_groups(&direct).iter())
                .filter_map(|g| state.groups.get(g))
                .flat_map(|g| g.policies.iter())
                .collect();
            group_policies.sort();
            group_policies.dedup();
            Some((
                last,
                json!({
                    "id": e.id,
                    "name": e.name,
                    "policies": e.policies,
                    "group_policies": group_policies,
                    "disabled": e.disabled,
                    "last_login_time": last.map_or(Value::Null, secs),
                    "aliases": aliases,
                }),
            ))
        })
        .collect();
    rows.sort_by_key(|(last, _)| *last);
    let mut d = Map::new();
    d.insert("days".into(), json!(days));
    d.insert(
        "entities".into(),
        Value::Array(rows.into_iter().map(|(_, v)| v).collect()),
    );
    Ok(Response::with_data(d))
}
