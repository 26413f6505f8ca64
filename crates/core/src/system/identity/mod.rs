//! The `identity/` backend (always mounted, as in Vault): entities, entity aliases, internal
//! groups and lookups, over the namespace's [`IdentityStore`](crate::identity::IdentityStore).

mod entities;
mod groups;

pub(super) use entities::inactive;

use std::sync::{Arc, LazyLock};

use serde_json::{Map, Value, json};

use super::Scope;
use crate::clock::rfc3339_nanos;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::fields;
use crate::identity::{Alias, Change, Entity, Group};
use crate::pipeline::Authorized;
use crate::request::{Operation, Response};
use crate::route::{FieldKind, Table, WRITE, field, path};
use entities::{delete_entity, entity_api, write_alias, write_entity};
use groups::{delete_group, group_api, write_group};

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
