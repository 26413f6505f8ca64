//! The `identity/` backend (always mounted, as in Vault): entities, entity aliases, internal
//! groups and lookups, over the namespace's [`IdentityStore`](crate::identity::IdentityStore).

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use serde_json::{Map, Value, json};

use super::Scope;
use crate::auth::token_params::normalize_policies;
use crate::clock::rfc3339_nanos;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::fields;
use crate::identity::{Alias, Change, Entity, Group, IdentityStore, State};
use crate::pipeline::Authorized;
use crate::request::{Operation, Response};
use crate::route::{FieldKind, Table, WRITE, field, path};

/// The handler an `identity/` path goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Entity,
    EntityIds,
    EntityById,
    EntityNames,
    EntityByName,
    Alias,
    AliasIds,
    AliasById,
    Group,
    GroupIds,
    GroupById,
    GroupNames,
    GroupByName,
    LookupEntity,
    LookupGroup,
    TotpMethods,
    TotpMethod,
    TotpAdminGenerate,
    TotpGenerate,
    TotpAdminDestroy,
    Enforcements,
    Enforcement,
}

const ENTITY_FIELDS: &[crate::route::Field] = &[
    field("name", FieldKind::Str, "The entity's name."),
    field("id", FieldKind::Str, "The entity's id (to update one)."),
    field(
        "policies",
        FieldKind::StrList,
        "Policies given to the entity's tokens.",
    ),
    field("metadata", FieldKind::Map, "Free key/value strings."),
    field(
        "disabled",
        FieldKind::Bool,
        "Refuse the entity's tokens and logins.",
    ),
];
const ALIAS_FIELDS: &[crate::route::Field] = &[
    field(
        "name",
        FieldKind::Str,
        "The name the auth mount knows the entity by.",
    ),
    field("id", FieldKind::Str, "The alias's id (to update one)."),
    field(
        "canonical_id",
        FieldKind::Str,
        "The entity the alias belongs to.",
    ),
    field(
        "mount_accessor",
        FieldKind::Str,
        "The auth mount's accessor.",
    ),
    field("custom_metadata", FieldKind::Map, "Free key/value strings."),
];
const GROUP_FIELDS: &[crate::route::Field] = &[
    field("name", FieldKind::Str, "The group's name."),
    field("id", FieldKind::Str, "The group's id (to update one)."),
    field(
        "type",
        FieldKind::Str,
        "internal (external groups are not supported).",
    ),
    field(
        "policies",
        FieldKind::StrList,
        "Policies given to the members' tokens.",
    ),
    field("metadata", FieldKind::Map, "Free key/value strings."),
    field("member_entity_ids", FieldKind::StrList, "Member entities."),
    field(
        "member_group_ids",
        FieldKind::StrList,
        "Member groups (their members get these policies too).",
    ),
];
const LOOKUP_FIELDS: &[crate::route::Field] = &[
    field("name", FieldKind::Str, ""),
    field("id", FieldKind::Str, ""),
    field("alias_id", FieldKind::Str, ""),
    field("alias_name", FieldKind::Str, ""),
    field("alias_mount_accessor", FieldKind::Str, ""),
    field("type", FieldKind::Str, ""),
];

pub(crate) static ROUTES: LazyLock<Table<Route>> = LazyLock::new(|| {
    use Operation::{Delete, List, Read};
    let rwd = |p: &'static str, r: Route, f: &'static [crate::route::Field]| {
        path(p, r).ops(&[Read, Delete]).ops(WRITE).fields(f)
    };
    Table::new(
        "The identity store: entities, their aliases on auth mounts, and groups.",
        vec![
            path("entity", Route::Entity)
                .ops(WRITE)
                .fields(ENTITY_FIELDS)
                .help(
                    "Create an entity, or update the one named or given by id.",
                    "",
                ),
            path("entity/id/?", Route::EntityIds)
                .ops(&[List])
                .help("List entities by id.", ""),
            rwd("entity/id/{id}", Route::EntityById, ENTITY_FIELDS)
                .help("Read, update or delete an entity by id.", ""),
            path("entity/name/?", Route::EntityNames)
                .ops(&[List])
                .help("List entities by name.", ""),
            rwd("entity/name/{name}", Route::EntityByName, ENTITY_FIELDS)
                .help("Create, read, update or delete an entity by name.", ""),
            path("entity-alias", Route::Alias)
                .ops(WRITE)
                .fields(ALIAS_FIELDS)
                .help("Create an entity alias.", ""),
            path("entity-alias/id/?", Route::AliasIds)
                .ops(&[List])
                .help("List aliases by id.", ""),
            rwd("entity-alias/id/{id}", Route::AliasById, ALIAS_FIELDS)
                .help("Read, update or delete an alias.", ""),
            path("group", Route::Group)
                .ops(WRITE)
                .fields(GROUP_FIELDS)
                .help(
                    "Create a group, or update the one named or given by id.",
                    "",
                ),
            path("group/id/?", Route::GroupIds)
                .ops(&[List])
                .help("List groups by id.", ""),
            rwd("group/id/{id}", Route::GroupById, GROUP_FIELDS)
                .help("Read, update or delete a group by id.", ""),
            path("group/name/?", Route::GroupNames)
                .ops(&[List])
                .help("List groups by name.", ""),
            rwd("group/name/{name}", Route::GroupByName, GROUP_FIELDS)
                .help("Create, read, update or delete a group by name.", ""),
            path("lookup/entity", Route::LookupEntity)
                .ops(WRITE)
                .fields(LOOKUP_FIELDS)
                .help(
                    "Find an entity by name, id, alias id, or alias name and mount.",
                    "",
                ),
            path("mfa/method/totp/?", Route::TotpMethods)
                .ops(&[List])
                .ops(WRITE)
                .fields(super::mfa::METHOD_FIELDS)
                .help("List the TOTP MFA methods, or create one.", ""),
            path("mfa/method/totp/admin-generate", Route::TotpAdminGenerate)
                .ops(WRITE)
                .fields(super::mfa::ENROL_FIELDS)
                .help(
                    "Enrol an entity in a TOTP method: its otpauth URL, QR code and backup codes.",
                    "",
                ),
            path("mfa/method/totp/generate", Route::TotpGenerate)
                .ops(WRITE)
                .fields(super::mfa::ENROL_FIELDS)
                .help("Enrol the calling token's entity in a TOTP method.", ""),
            path("mfa/method/totp/admin-destroy", Route::TotpAdminDestroy)
                .ops(WRITE)
                .fields(super::mfa::ENROL_FIELDS)
                .help("Remove an entity's enrolment in a TOTP method.", ""),
            rwd(
                "mfa/method/totp/{method_id}",
                Route::TotpMethod,
                super::mfa::METHOD_FIELDS,
            )
            .help("Read, update or delete a TOTP method.", ""),
            path("mfa/login-enforcement/?", Route::Enforcements)
                .ops(&[List])
                .help("List the login enforcements.", ""),
            rwd(
                "mfa/login-enforcement/{name}",
                Route::Enforcement,
                super::mfa::ENFORCEMENT_FIELDS,
            )
            .help("Create, read, update or delete a login enforcement.", ""),
            path("lookup/group", Route::LookupGroup)
                .ops(WRITE)
                .fields(LOOKUP_FIELDS)
                .help("Find a group by name or id.", ""),
        ],
    )
});

fn namespace_id(scope: &Scope<'_>) -> String {
    let ns = &scope.tenant.ns;
    if ns.is_root() {
        "root".into()
    } else {
        ns.id.clone()
    }
}

fn time(nanos: i64) -> Value {
    json!(rfc3339_nanos(nanos))
}

fn null_if_empty(v: &[String]) -> Value {
    if v.is_empty() { Value::Null } else { json!(v) }
}

fn entity_api(scope: &Scope<'_>, state: &State, e: &Entity) -> Response {
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

fn group_api(scope: &Scope<'_>, state: &State, g: &Group) -> Response {
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

fn id_name(id: &str, name: &str) -> Response {
    let mut d = Map::new();
    d.insert("id".into(), json!(id));
    d.insert("name".into(), json!(name));
    Response::with_data(d)
}

fn strings(data: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    fields::opt_string_list(data, name)
}

fn now_nanos(scope: &Scope<'_>) -> i64 {
    scope.unsealed.barrier.clock().now_unix_nanos()
}

pub(super) async fn handle(
    scope: &Scope<'_>,
    req: &EngineRequest,
    auth: &Authorized,
) -> Result<Option<Response>> {
    let route = ROUTES.route(&req.matched).ok_or(Error::UnsupportedPath)?;
    let store = &scope.tenant.identity;
    let (op, data) = (req.operation, &req.data);
    match route {
        Route::TotpMethods => return super::mfa::methods(scope, req).await,
        Route::TotpMethod => return super::mfa::method(scope, req).await,
        Route::TotpAdminGenerate => return super::mfa::enrol(scope, req, auth, true, false).await,
        Route::TotpGenerate => return super::mfa::enrol(scope, req, auth, false, false).await,
        Route::TotpAdminDestroy => return super::mfa::enrol(scope, req, auth, true, true).await,
        Route::Enforcements => return Ok(super::mfa::enforcements(scope)),
        Route::Enforcement => return super::mfa::enforcement(scope, req).await,
        _ => {}
    }
    match route {
        Route::Entity => write_entity(scope, store, data, None).await,
        Route::EntityByName => {
            let name = req.param("name");
            let found = store.read().entity_by_name(name).cloned();
            match op {
                Operation::Read => Ok(found.map(|e| entity_api(scope, &store.read(), &e))),
                Operation::Delete => delete_entity(store, found).await,
                _ => {
                    let mut data = data.clone();
                    data.insert("name".into(), json!(name));
                    write_entity(scope, store, &data, found).await
                }
            }
        }
        Route::EntityById => {
            let found = store.read().entities.get(req.param("id")).cloned();
            match op {
                Operation::Read => Ok(found.map(|e| entity_api(scope, &store.read(), &e))),
                Operation::Delete => delete_entity(store, found).await,
                _ => match found {
                    Some(e) => write_entity(scope, store, data, Some(e)).await,
                    None => Err(Error::NotFound("entity not found".into())),
                },
            }
        }
        Route::EntityIds => {
            let state = store.read();
            let mut ids: Vec<&Arc<Entity>> = state.entities.values().collect();
            ids.sort_by(|a, b| a.id.cmp(&b.id));
            let ns = namespace_id(scope);
            let info: Map<String, Value> = ids
                .iter()
                .map(|e| {
                    let aliases: Vec<Value> = state
                        .aliases_of(&e.id)
                        .iter()
                        .map(|a| Value::Object(a.to_api(&ns)))
                        .collect();
                    (e.id.clone(), json!({"name": e.name, "aliases": aliases}))
                })
                .collect();
            Ok(keys_with_info(
                ids.iter().map(|e| e.id.clone()).collect(),
                info,
            ))
        }
        Route::EntityNames => {
            let mut names: Vec<String> = store
                .read()
                .entities
                .values()
                .map(|e| e.name.clone())
                .collect();
            names.sort();
            Ok(Response::keys(names))
        }
        Route::Alias => write_alias(scope, store, data, None).await,
        Route::AliasById => {
            let found = store.read().aliases.get(req.param("id")).cloned();
            match (op, found) {
                (Operation::Read, found) => {
                    Ok(found.map(|a| Response::with_data(a.to_api(&namespace_id(scope)))))
                }
                (Operation::Delete, Some(a)) => {
                    let _guard = store.lock().await;
                    store.apply(vec![Change::DeleteAlias(a.id.clone())]).await?;
                    Ok(Some(Response::empty()))
                }
                (Operation::Delete, None) => Ok(Some(Response::empty())),
                (_, Some(a)) => write_alias(scope, store, data, Some(a)).await,
                (_, None) => Err(Error::NotFound("entity alias not found".into())),
            }
        }
        Route::AliasIds => {
            let state = store.read();
            let mut ids: Vec<&Arc<Alias>> = state.aliases.values().collect();
            ids.sort_by(|a, b| a.id.cmp(&b.id));
            let ns = namespace_id(scope);
            let info: Map<String, Value> = ids
                .iter()
                .map(|a| (a.id.clone(), Value::Object(a.to_api(&ns))))
                .collect();
            Ok(keys_with_info(
                ids.iter().map(|a| a.id.clone()).collect(),
                info,
            ))
        }
        Route::Group => write_group(scope, store, data, None).await,
        Route::GroupByName => {
            let name = req.param("name");
            let found = store.read().group_by_name(name).cloned();
            match op {
                Operation::Read => Ok(found.map(|g| group_api(scope, &store.read(), &g))),
                Operation::Delete => delete_group(store, found).await,
                _ => {
                    let mut data = data.clone();
                    data.insert("name".into(), json!(name));
                    write_group(scope, store, &data, found).await
                }
            }
        }
        Route::GroupById => {
            let found = store.read().groups.get(req.param("id")).cloned();
            match op {
                Operation::Read => Ok(found.map(|g| group_api(scope, &store.read(), &g))),
                Operation::Delete => delete_group(store, found).await,
                _ => match found {
                    Some(g) => write_group(scope, store, data, Some(g)).await,
                    None => Err(Error::NotFound("group not found".into())),
                },
            }
        }
        Route::GroupIds => {
            let state = store.read();
            let mut ids: Vec<&Arc<Group>> = state.groups.values().collect();
            ids.sort_by(|a, b| a.id.cmp(&b.id));
            let info: Map<String, Value> = ids
                .iter()
                .map(|g| (g.id.clone(), json!({"name": g.name})))
                .collect();
            Ok(keys_with_info(
                ids.iter().map(|g| g.id.clone()).collect(),
                info,
            ))
        }
        Route::GroupNames => {
            let mut names: Vec<String> = store
                .read()
                .groups
                .values()
                .map(|g| g.name.clone())
                .collect();
            names.sort();
            Ok(Response::keys(names))
        }
        Route::LookupEntity => {
            let state = store.read();
            let s = |k: &str| fields::opt_str(data, k).map(|v| v.filter(|v| !v.is_empty()));
            let found = if let Some(id) = s("id")? {
                state.entities.get(id).cloned()
            } else if let Some(name) = s("name")? {
                state.entity_by_name(name).cloned()
            } else if let Some(alias) = s("alias_id")? {
                state
                    .aliases
                    .get(alias)
                    .and_then(|a| state.entities.get(&a.canonical_id))
                    .cloned()
            } else if let (Some(name), Some(acc)) = (s("alias_name")?, s("alias_mount_accessor")?) {
                state
                    .alias_of(acc, name)
                    .and_then(|a| state.entities.get(&a.canonical_id))
                    .cloned()
            } else {
                return Err(Error::invalid(
                    "one of name, id, alias_id, or alias_name with alias_mount_accessor is required",
                ));
            };
            // Nothing found is an empty 204, as in Vault.
            Ok(Some(found.map_or_else(Response::empty, |e| {
                entity_api(scope, &state, &e)
            })))
        }
        Route::LookupGroup => {
            let state = store.read();
            let s = |k: &str| fields::opt_str(data, k).map(|v| v.filter(|v| !v.is_empty()));
            let found = if let Some(id) = s("id")? {
                state.groups.get(id).cloned()
            } else if let Some(name) = s("name")? {
                state.group_by_name(name).cloned()
            } else {
                return Err(Error::invalid("one of name or id is required"));
            };
            Ok(Some(found.map_or_else(Response::empty, |g| {
                group_api(scope, &state, &g)
            })))
        }
        Route::TotpMethods
        | Route::TotpMethod
        | Route::TotpAdminGenerate
        | Route::TotpGenerate
        | Route::TotpAdminDestroy
        | Route::Enforcements
        | Route::Enforcement => Err(Error::UnsupportedPath),
    }
}

fn keys_with_info(keys: Vec<String>, info: Map<String, Value>) -> Option<Response> {
    let mut resp = Response::keys(keys)?;
    if let Some(d) = resp.data.as_mut() {
        d.insert("key_info".into(), Value::Object(info));
    }
    Some(resp)
}

/// Creates or updates an entity: `existing` when the path named it, else the one `id` or
/// `name` names, else a new one.
async fn write_entity(
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
async fn delete_entity(
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

async fn write_alias(
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
    let mount = {
        let table = scope.tenant.mounts.lock().await;
        table
            .entries
            .iter()
            .find(|m| m.is_auth() && m.accessor == alias.mount_accessor)
            .cloned()
    }
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

async fn write_group(
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
async fn delete_group(
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

/// `sys/identity/inactive`: the entities without a login through any alias in `days` days
/// (default 30), never-used ones included, oldest first.
pub(super) fn inactive(scope: &Scope<'_>, data: &Map<String, Value>) -> Result<Response> {
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
