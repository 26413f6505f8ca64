//! Internal groups: `group…`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{id_name, namespace_id, now_nanos, null_if_empty, strings, time};
use crate::auth::token_params::normalize_policies;
use crate::error::{Error, Result};
use crate::fields;
use crate::identity::{Change, Group, IdentityStore, State};
use crate::request::Response;
use crate::system::Scope;

pub(in crate::system) fn group_api(scope: &Scope<'_>, state: &State, g: &Group) -> Response {
    let mut d = Map::new();
    d.insert("id".into(), json!(g.id));
    d.insert("name".into(), json!(g.name));
    d.insert("type".into(), json!("internal"));
    d.insert("policies".into(), json!(g.policies));
    d.insert(
        "metadata".into(),
        if g.metadata.is_empty() {
            Value::Null
        } else {
            json!(g.metadata)
        },
    );
    d.insert("member_entity_ids".into(), json!(g.member_entity_ids));
    d.insert(
        "member_group_ids".into(),
        null_if_empty(&g.member_group_ids),
    );
    d.insert(
        "parent_group_ids".into(),
        null_if_empty(&state.parent_groups(&g.id)),
    );
    d.insert("alias".into(), json!({}));
    d.insert("creation_time".into(), time(g.creation_time));
    d.insert("last_update_time".into(), time(g.last_update_time));
    d.insert("modify_index".into(), json!(g.modify_index));
    d.insert("namespace_id".into(), json!(namespace_id(scope)));
    Response::with_data(d)
}

pub(in crate::system) async fn write_group(
    scope: &Scope<'_>,
    store: &IdentityStore,
    data: &Map<String, Value>,
    existing: Option<Arc<Group>>,
) -> Result<Option<Response>> {
    if let Some(t) = fields::opt_str(data, "type")?.filter(|t| !t.is_empty() && *t != "internal") {
        return Err(Error::invalid(format!(
            "group type \"{t}\" is not supported: internal only"
        )));
    }
    let _guard = store.lock().await;
    let name = fields::opt_str(data, "name")?.filter(|n| !n.is_empty());
    let existing = {
        let state = store.read();
        match (
            existing,
            fields::opt_str(data, "id")?.filter(|i| !i.is_empty()),
        ) {
            (Some(g), _) => state.groups.get(&g.id).cloned(),
            (None, Some(id)) => Some(
                state
                    .groups
                    .get(id)
                    .cloned()
                    .ok_or_else(|| Error::NotFound("group not found".into()))?,
            ),
            (None, None) => name.and_then(|n| state.group_by_name(n).cloned()),
        }
    };
    let now = now_nanos(scope);
    let created = existing.is_none();
    let mut g = match existing {
        Some(g) => (*g).clone(),
        None => Group::new(name, now),
    };
    {
        let state = store.read();
        if let Some(n) = name
            && n != g.name
        {
            if state.group_by_name(n).is_some() {
                return Err(Error::invalid(format!(
                    "group name \"{n}\" is already in use"
                )));
            }
            g.name = n.to_string();
        }
        if let Some(p) = strings(data, "policies")? {
            g.policies = normalize_policies(p);
        }
        if let Some(m) = fields::opt_string_map(data, "metadata")? {
            g.metadata = m;
        }
        if let Some(members) = strings(data, "member_entity_ids")? {
            if let Some(bad) = members.iter().find(|m| !state.entities.contains_key(*m)) {
                return Err(Error::invalid(format!(
                    "entity id \"{bad}\" does not exist"
                )));
            }
            g.member_entity_ids = dedup(members);
        }
        if let Some(members) = strings(data, "member_group_ids")? {
            if let Some(bad) = members.iter().find(|m| !state.groups.contains_key(*m)) {
                return Err(Error::invalid(format!("group id \"{bad}\" does not exist")));
            }
            // A group among its own members, directly or through them, is a cycle.
            let members: BTreeSet<String> = members.into_iter().collect();
            let above = state.inherited_groups(&BTreeSet::from([g.id.clone()]));
            if members.contains(&g.id) || above.iter().any(|p| members.contains(p)) {
                return Err(Error::invalid("member group ids would make a cycle"));
            }
            g.member_group_ids = members.into_iter().collect();
        }
    }
    g.last_update_time = now;
    g.modify_index += 1;
    let (id, gname) = (g.id.clone(), g.name.clone());
    store.apply(vec![Change::Group(Arc::new(g))]).await?;
    Ok(Some(if created {
        id_name(&id, &gname)
    } else {
        Response::empty()
    }))
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Deletes a group and takes it out of the groups it was a member of.
pub(in crate::system) async fn delete_group(
    store: &IdentityStore,
    found: Option<Arc<Group>>,
) -> Result<Option<Response>> {
    let Some(g) = found else {
        return Ok(Some(Response::empty()));
    };
    let _guard = store.lock().await;
    let mut changes: Vec<Change> = store
        .read()
        .groups
        .values()
        .filter(|p| p.member_group_ids.contains(&g.id))
        .map(|p| {
            let mut p = (**p).clone();
            p.member_group_ids.retain(|m| *m != g.id);
            p.modify_index += 1;
            Change::Group(Arc::new(p))
        })
        .collect();
    changes.push(Change::DeleteGroup(g.id.clone()));
    store.apply(changes).await?;
    Ok(Some(Response::empty()))
}
