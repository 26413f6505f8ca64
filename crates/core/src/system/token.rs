//! `auth/token/*`: create (plain, orphan, from a role), lookup, renew, revoke, accessors,
//! roles and tidy. The caller is always authenticated and authorized by the pipeline first.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::Scope;
use crate::clock::rfc3339_nanos;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::fields;
use crate::namespace::Tenant;
use crate::pipeline::Authorized;
use crate::request::{Operation, Response};
use crate::route::{Field, FieldKind, Table, WRITE, field, path};
use crate::token::{SYSTEM_MAX_TTL, TokenEntry, TokenRole, TokenStore};

fn secs_to_i64(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// The handler an `auth/token/` path goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Create,
    CreateOrphan,
    CreateRole,
    LookupSelf,
    Lookup,
    LookupAccessor,
    RenewSelf,
    Renew,
    RenewAccessor,
    RevokeSelf,
    Revoke,
    RevokeOrphan,
    RevokeAccessor,
    Accessors,
    Roles,
    Role,
    Tidy,
}

const TOKEN: Field = field("token", FieldKind::Str, "The token.");
const ACCESSOR: Field = field("accessor", FieldKind::Str, "The token's accessor.");
const INCREMENT: Field = field(
    "increment",
    FieldKind::Duration,
    "The lease extension asked for (0: the token's TTL).",
);
const CREATE_FIELDS: [Field; 12] = [
    field(
        "policies",
        FieldKind::StrList,
        "Policies of the token (a subset of the caller's unless root or sudo).",
    ),
    field("ttl", FieldKind::Duration, "Time to live."),
    field(
        "explicit_max_ttl",
        FieldKind::Duration,
        "A hard limit on the token's life.",
    ),
    field(
        "period",
        FieldKind::Duration,
        "Renewals extend a periodic token by this much, forever.",
    ),
    field(
        "num_uses",
        FieldKind::Int,
        "How many requests the token may make (0: unlimited).",
    ),
    field(
        "no_parent",
        FieldKind::Bool,
        "An orphan token (root or sudo only).",
    ),
    field(
        "no_default_policy",
        FieldKind::Bool,
        "Leave out the default policy.",
    ),
    field(
        "renewable",
        FieldKind::Bool,
        "Whether the token can be renewed.",
    ),
    field(
        "display_name",
        FieldKind::Str,
        "A name shown in lookups and audit entries.",
    ),
    field(
        "meta",
        FieldKind::Map,
        "Metadata shown in lookups and audit entries.",
    ),
    field("type", FieldKind::Str, "service or batch."),
    field("id", FieldKind::Str, "The token's value (root only)."),
];
const ROLE_FIELDS: [Field; 10] = [
    field(
        "allowed_policies",
        FieldKind::StrList,
        "Policies tokens of the role may have.",
    ),
    field(
        "disallowed_policies",
        FieldKind::StrList,
        "Policies tokens of the role may not have.",
    ),
    field("orphan", FieldKind::Bool, "Tokens of the role are orphans."),
    field(
        "renewable",
        FieldKind::Bool,
        "Tokens of the role can be renewed.",
    ),
    field(
        "path_suffix",
        FieldKind::Str,
        "Appended to the role path of tokens.",
    ),
    field("token_type", FieldKind::Str, "service or batch."),
    field(
        "token_period",
        FieldKind::Duration,
        "The period of tokens of the role.",
    ),
    field(
        "token_explicit_max_ttl",
        FieldKind::Duration,
        "Hard TTL limit of tokens of the role.",
    ),
    field(
        "token_no_default_policy",
        FieldKind::Bool,
        "Leave out the default policy.",
    ),
    field("period", FieldKind::Duration, "The period (older name)."),
];

pub(crate) static ROUTES: LazyLock<Table<Route>> = LazyLock::new(|| {
    use Operation::{Delete, List, Read};
    let write = |pattern, route| path(pattern, route).ops(WRITE);
    Table::new(
        "The token credential backend is always enabled and built in: it creates, looks up, \
         renews and revokes tokens, and manages token roles.",
        vec![
            write("create", Route::Create)
                .fields(&CREATE_FIELDS)
                .arbitrary_fields()
                .help("The token create path is used to create new tokens.", ""),
            write("create-orphan", Route::CreateOrphan)
                .fields(&CREATE_FIELDS)
                .arbitrary_fields()
                .help("The token create path is used to create new orphan tokens.", ""),
            write("create/{role}", Route::CreateRole)
                .fields(&CREATE_FIELDS)
                .arbitrary_fields()
                .help("This endpoint allows creating a token via a token role.", ""),
            path("lookup-self", Route::LookupSelf)
                .changes_nothing()
                .ops(&[Read])
                .ops(WRITE)
                .help("This endpoint will lookup a token and its properties.", ""),
            path("lookup", Route::Lookup)
                .changes_nothing()
                .ops(&[Read])
                .ops(WRITE)
                .fields(&[TOKEN])
                .help("This endpoint will lookup a token and its properties.", ""),
            write("lookup-accessor", Route::LookupAccessor)
                .changes_nothing()
                .fields(&[ACCESSOR])
                .help("This endpoint will lookup a token associated with the given accessor and its properties. Response will not contain the token ID.", ""),
            write("renew-self", Route::RenewSelf)
                .fields(&[INCREMENT])
                .help("This endpoint will renew the token used to call it and prevent expiration.", ""),
            write("renew", Route::Renew)
                .fields(&[TOKEN, INCREMENT])
                .help("This endpoint will renew the given token and prevent expiration.", ""),
            write("renew-accessor", Route::RenewAccessor)
                .fields(&[ACCESSOR, INCREMENT])
                .help("This endpoint will renew a token associated with the given accessor and its properties. Response will not contain the token ID.", ""),
            write("revoke-self", Route::RevokeSelf)
                .help("This endpoint will delete the token used to call it and all of its child tokens.", ""),
            write("revoke", Route::Revoke)
                .fields(&[TOKEN])
                .help("This endpoint will delete the given token and all of its child tokens.", ""),
            write("revoke-orphan", Route::RevokeOrphan)
                .fields(&[TOKEN])
                .sudo()
                .help("This endpoint will delete the token and orphan its child tokens.", ""),
            write("revoke-accessor", Route::RevokeAccessor)
                .fields(&[ACCESSOR])
                .help("This endpoint will delete the token associated with the accessor and all of its child tokens.", ""),
            path("accessors/?", Route::Accessors)
                .ops(&[List])
                .sudo()
                .help("List token accessors, which can then be be used to iterate and discover their properties or revoke them. Because this can be used to cause a denial of service, this endpoint requires 'sudo' capability in addition to 'list'.", ""),
            path("roles/?", Route::Roles)
                .ops(&[List])
                .help("This endpoint lists configured roles.", ""),
            path("roles/{role}", Route::Role)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&ROLE_FIELDS)
                .arbitrary_fields()
                .help("Create, read, update and delete token roles.", ""),
            write("tidy", Route::Tidy).help(
                "This endpoint performs cleanup tasks that can be run if certain error conditions have occurred.",
                "",
            ),
        ],
    )
});

/// Serves a request the table matched; `req.path` is relative to `auth/token/`.
pub(super) async fn handle(
    scope: &Scope<'_>,
    req: &EngineRequest,
    auth: &Authorized,
) -> Result<Option<Response>> {
    let route = ROUTES.route(&req.matched).ok_or(Error::UnsupportedPath)?;
    let data = &req.data;
    let now = || scope.unsealed.barrier.clock().now_unix_secs();
    match route {
        Route::Create => create(scope, data, auth, CreateKind::Normal)
            .await
            .map(Some),
        Route::CreateOrphan => create(scope, data, auth, CreateKind::Orphan)
            .await
            .map(Some),
        Route::CreateRole => {
            let role = CreateKind::Role(req.param("role").to_string());
            create(scope, data, auth, role).await.map(Some)
        }
        Route::LookupSelf => Ok(Some(lookup_response(
            now(),
            &auth.token,
            Some(auth.raw_token()),
            &auth.token_tenant,
        ))),
        Route::Lookup => lookup(scope, data, auth).await.map(Some),
        Route::LookupAccessor => lookup_accessor(scope, data).await.map(Some),
        Route::RenewSelf => {
            let inc = fields::opt_duration_secs(data, "increment")?;
            renew(&auth.token_tenant, &auth.token_hash, auth.raw_token(), inc)
                .await
                .map(Some)
        }
        Route::Renew => {
            let token = required_str(data, "token")?;
            let inc = fields::opt_duration_secs(data, "increment")?;
            renew(scope.tenant, &scope.tenant.tokens.hash(&token), &token, inc)
                .await
                .map(Some)
        }
        Route::RenewAccessor => {
            let accessor = required_str(data, "accessor")?;
            let inc = fields::opt_duration_secs(data, "increment")?;
            let (hash, _) = scope
                .tenant
                .tokens
                .lookup_accessor(&accessor)
                .await?
                .ok_or_else(|| Error::invalid("invalid accessor"))?;
            renew(scope.tenant, &hash, "", inc).await.map(Some)
        }
        Route::RevokeSelf => {
            scope
                .unsealed
                .namespaces
                .revoke_token_tree(&auth.token_tenant, &auth.token_hash)
                .await?;
            Ok(Some(Response::empty()))
        }
        Route::Revoke => {
            let token = required_str(data, "token")?;
            let hash = scope.tenant.tokens.hash(&token);
            scope
                .unsealed
                .namespaces
                .revoke_token_tree(scope.tenant, &hash)
                .await?;
            Ok(Some(Response::empty()))
        }
        Route::RevokeOrphan => {
            let token = required_str(data, "token")?;
            let hash = scope.tenant.tokens.hash(&token);
            scope
                .unsealed
                .namespaces
                .revoke_token_orphan(scope.tenant, &hash)
                .await?;
            Ok(Some(Response::empty()))
        }
        Route::RevokeAccessor => {
            let accessor = required_str(data, "accessor")?;
            let mut resp = Response::empty();
            match scope.tenant.tokens.lookup_accessor(&accessor).await? {
                Some((hash, _)) => {
                    scope
                        .unsealed
                        .namespaces
                        .revoke_token_tree(scope.tenant, &hash)
                        .await?
                }
                None => resp
                    .warnings
                    .push("No token found with this accessor".into()),
            }
            Ok(Some(resp))
        }
        Route::Accessors => keys_response(scope.tenant.tokens.accessors().await?),
        Route::Roles => keys_response(scope.tenant.tokens.roles().await?),
        Route::Role => role_op(&scope.tenant.tokens, req.param("role"), req.operation, data).await,
        Route::Tidy => {
            let namespaces = &scope.unsealed.namespaces;
            let due = namespaces.tidy_candidates(scope.tenant).await?;
            let removed = namespaces.revoke_tokens(scope.tenant, &due).await?;
            // 202 as OpenBao, although the tidy has finished by the time it answers.
            let mut resp = Response {
                status: Some(202),
                ..Response::empty()
            };
            resp.warnings.push(format!(
                "Tidy operation finished: {removed} expired or used-up token(s) and their \
                 children revoked."
            ));
            Ok(Some(resp))
        }
    }
}

fn keys_response(keys: Vec<String>) -> Result<Option<Response>> {
    Ok(Response::keys(keys))
}

fn required_str(data: &Map<String, Value>, name: &str) -> Result<String> {
    fields::opt_str(data, name)?
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::invalid(format!("missing required field '{name}'")))
}

enum CreateKind {
    Normal,
    Orphan,
    Role(String),
}

fn normalize_policies(mut policies: Vec<String>) -> Vec<String> {
    for p in &mut policies {
        *p = p.trim().to_lowercase();
    }
    policies.retain(|p| !p.is_empty());
    policies.sort();
    policies.dedup();
    policies
}

async fn create(
    scope: &Scope<'_>,
    data: &Map<String, Value>,
    auth: &Authorized,
    kind: CreateKind,
) -> Result<Response> {
    let caller = &auth.token;
    let privileged = caller.is_root() || auth.sudo;
    let role = match &kind {
        CreateKind::Role(name) => Some(
            scope
                .tenant
                .tokens
                .role(name)
                .await?
                .ok_or_else(|| Error::invalid(format!("unknown role {name}")))?,
        ),
        _ => None,
    };
    if caller.token_type == "batch" {
        return Err(Error::invalid("batch tokens cannot create more tokens"));
    }

    let id = fields::opt_str(data, "id")?.filter(|s| !s.is_empty());
    if id.is_some() && !caller.is_root() {
        return Err(Error::invalid(
            "root or sudo privileges required to specify token id",
        ));
    }
    if id.is_some_and(|i| i.contains('.') && !i.starts_with("hvs.") && !i.starts_with("s.")) {
        return Err(Error::invalid(
            "token IDs can not contain a '.' except as part of a prefix",
        ));
    }
    let requested = fields::opt_string_list(data, "policies")?.map(normalize_policies);
    // A caller from a namespace above this one: its token lives in another store, and its
    // policy names mean policies of its own namespace. As in OpenBao, only root or sudo may
    // make one, with policies named explicitly (or by a role) and never `root`; unless an
    // orphan, it is the caller's child across the stores, and it cannot outlive the caller.
    let foreign = !std::ptr::eq(&*auth.token_tenant, &**scope.tenant);
    if foreign {
        if !privileged {
            return Err(Error::PermissionDeniedMsg(
                "creating a token in a namespace below the caller's needs root or sudo".into(),
            ));
        }
        let role_names = role
            .as_ref()
            .is_some_and(|r| !r.allowed_policies.is_empty());
        if requested.is_none() && !role_names {
            return Err(Error::invalid(
                "policies must be named: the calling token's policies belong to another namespace",
            ));
        }
        if requested
            .as_ref()
            .is_some_and(|p| p.iter().any(|p| p == "root"))
        {
            return Err(Error::invalid(
                "root tokens may not be created from a parent namespace",
            ));
        }
    }
    let no_default = fields::opt_bool(data, "no_default_policy")?.unwrap_or(false)
        || role.as_ref().is_some_and(|r| r.token_no_default_policy);
    let mut warnings = Vec::new();

    // Policies: default to the caller's; must be a subset unless root/sudo or a role allows.
    let mut policies = match (&requested, &role) {
        (Some(p), _) => p.clone(),
        (None, Some(r)) if !r.allowed_policies.is_empty() => r.allowed_policies.clone(),
        _ => caller
            .policies
            .iter()
            .filter(|p| p.as_str() != "default" || !no_default)
            .cloned()
            .collect(),
    };
    // A role's allowed_policies replace the caller's policies as the bound; a role without
    // them (and a plain create) is bounded by what the caller holds, unless root or sudo.
    let role_bound = role.as_ref().filter(|r| !r.allowed_policies.is_empty());
    if let Some(r) = role_bound {
        if let Some(bad) = policies
            .iter()
            .find(|p| p.as_str() != "default" && !r.allowed_policies.contains(p))
        {
            return Err(Error::invalid(format!(
                "token policies ([{bad}]) must be subset of the role's allowed policies"
            )));
        }
    } else if !privileged
        && let Some(bad) = policies
            .iter()
            .find(|p| p.as_str() != "default" && !caller.policies.contains(p))
    {
        return Err(Error::invalid(format!(
            "child policies must be subset of parent: {bad} is not held by the calling token"
        )));
    }
    if let Some(r) = &role
        && let Some(bad) = policies.iter().find(|p| r.disallowed_policies.contains(p))
    {
        return Err(Error::invalid(format!(
            "token policy {bad} is disallowed by this role"
        )));
    }
    // As in Vault: only a root token can create a root token (sudo or a role is not enough).
    if policies.iter().any(|p| p == "root") && !caller.is_root() {
        return Err(Error::PermissionDeniedMsg(
            "root tokens may not be created without parent token being root".into(),
        ));
    }
    if !no_default && !policies.iter().any(|p| p == "root") {
        policies.push("default".into());
    }
    let policies = normalize_policies(policies);
    if policies.is_empty() {
        return Err(Error::invalid("token must have at least one policy"));
    }
    for p in &policies {
        if p != "root" && !scope.tenant.policies.exists(p).await? {
            warnings.push(format!("Policy \"{p}\" does not exist"));
        }
    }

    let token_type = match fields::opt_str(data, "type")? {
        Some("batch") => "batch",
        Some("service") | Some("") | None => match role.as_ref().map(|r| r.token_type.as_str()) {
            Some("batch") | Some("default-batch") => "batch",
            _ => "service",
        },
        Some(other) => return Err(Error::invalid(format!("unsupported token type {other}"))),
    };
    if token_type == "batch" && policies.iter().any(|p| p == "root") {
        return Err(Error::invalid("batch tokens cannot have the root policy"));
    }

    let no_parent = fields::opt_bool(data, "no_parent")?.unwrap_or(false);
    let orphan = match &kind {
        CreateKind::Orphan => true,
        CreateKind::Role(_) => role.as_ref().is_some_and(|r| r.orphan),
        CreateKind::Normal => {
            if no_parent && !privileged {
                return Err(Error::invalid(
                    "root or sudo privileges required to create orphan token",
                ));
            }
            no_parent
        }
    };

    let period = match fields::opt_duration_secs(data, "period")? {
        Some(p) if p > 0 => {
            if !privileged && role.is_none() {
                return Err(Error::invalid(
                    "root or sudo privileges required to create periodic token",
                ));
            }
            p
        }
        _ => role.as_ref().map_or(0, |r| r.token_period),
    };
    let mut explicit_max = fields::opt_duration_secs(data, "explicit_max_ttl")?.unwrap_or(0);
    if let Some(r) = &role
        && r.token_explicit_max_ttl > 0
        && (explicit_max == 0 || explicit_max > r.token_explicit_max_ttl)
    {
        explicit_max = r.token_explicit_max_ttl;
    }
    if explicit_max > SYSTEM_MAX_TTL {
        warnings.push(format!(
            "explicit_max_ttl of {explicit_max}s is greater than the system max TTL of {SYSTEM_MAX_TTL}s; clamped"
        ));
        explicit_max = SYSTEM_MAX_TTL;
    }
    let requested_ttl = match fields::opt_duration_secs(data, "ttl")? {
        Some(t) => Some(t),
        None => fields::opt_duration_secs(data, "lease")?,
    };
    let is_root_policy = policies.iter().any(|p| p == "root");
    let mut ttl = if period > 0 {
        period
    } else {
        match requested_ttl {
            Some(t) if t > 0 => t.min(SYSTEM_MAX_TTL),
            _ if is_root_policy => 0,
            _ => SYSTEM_MAX_TTL,
        }
    };
    if explicit_max > 0 && (ttl == 0 || ttl > explicit_max) {
        ttl = explicit_max;
    }
    if foreign && caller.expire_time.is_some() {
        let left = caller.ttl_remaining(scope.unsealed.barrier.clock().now_unix_secs());
        if ttl == 0 || ttl > left {
            ttl = left.max(1);
            explicit_max = ttl;
            warnings.push("TTL capped at the calling token's remaining TTL".into());
        }
    }
    let num_uses = match fields::opt_i64(data, "num_uses")? {
        Some(n) if n < 0 => return Err(Error::invalid("number of uses cannot be negative")),
        Some(n) => n,
        None => role.as_ref().map_or(0, |r| r.token_num_uses),
    };
    let renewable = fields::opt_bool(data, "renewable")?.unwrap_or(true)
        && role.as_ref().is_none_or(|r| r.renewable)
        && token_type == "service";
    let display = fields::opt_str(data, "display_name")?
        .filter(|s| !s.is_empty())
        .unwrap_or("");
    let display_name = if display.is_empty() {
        "token".to_string()
    } else {
        format!(
            "token-{}",
            display.to_lowercase().replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                "-"
            )
        )
    };
    let meta: BTreeMap<String, String> = fields::opt_string_map(data, "meta")?.unwrap_or_default();
    let path = match &kind {
        CreateKind::Normal => "auth/token/create".to_string(),
        CreateKind::Orphan => "auth/token/create-orphan".to_string(),
        CreateKind::Role(name) => {
            let suffix = role.as_ref().map_or("", |r| r.path_suffix.as_str());
            if suffix.is_empty() {
                format!("auth/token/create/{name}")
            } else {
                format!("auth/token/create/{name}/{suffix}")
            }
        }
    };

    let now = scope.unsealed.barrier.clock().now_unix_secs();
    let token = scope.tenant.tokens.new_token(token_type == "batch", id)?;
    let entry = TokenEntry {
        id_hash: String::new(),
        accessor: if token_type == "batch" {
            String::new()
        } else {
            TokenStore::new_accessor()?
        },
        policies,
        path,
        display_name,
        creation_time: now,
        creation_ttl: ttl,
        expire_time: (ttl > 0).then(|| now.saturating_add(secs_to_i64(ttl))),
        explicit_max_ttl: explicit_max,
        period,
        num_uses,
        renewable,
        meta,
        // A parent in another store is set by `create_child_below`.
        parent: (!orphan && !foreign).then(|| hex::encode(auth.token_hash)),
        parent_namespace: None,
        token_type: token_type.into(),
        role: match &kind {
            CreateKind::Role(n) => Some(n.clone()),
            _ => None,
        },
        last_renewal_time: None,
        max_ttl: 0,
        // A child of a login's token goes with the login's mount, and acts for the same entity
        // (Vault's rules), within the caller's namespace.
        mount_accessor: if foreign {
            String::new()
        } else {
            caller.mount_accessor.clone()
        },
        entity_id: if foreign {
            String::new()
        } else {
            caller.entity_id.clone()
        },
        bound_cidrs: role
            .as_ref()
            .map(|r| r.token_bound_cidrs.clone())
            .unwrap_or_default(),
    };
    let entry = if foreign && !orphan {
        scope
            .unsealed
            .namespaces
            .create_child_below(
                &auth.token_tenant,
                &auth.token_hash,
                scope.tenant,
                &token,
                entry,
            )
            .await?
    } else {
        scope.tenant.tokens.create(&token, entry).await?
    };
    let mut resp = auth_response(now, &entry, &token, scope.tenant);
    resp.warnings = warnings;
    Ok(resp)
}

/// The policies a token gets from its entity and the entity's groups (none without one).
fn identity_policies(tenant: &Tenant, entry: &TokenEntry) -> Vec<String> {
    if entry.entity_id.is_empty() {
        return Vec::new();
    }
    tenant
        .identity
        .resolve(&entry.entity_id)
        .map(|r| r.policies.clone())
        .unwrap_or_default()
}

/// The `auth` block for a token of `tenant`.
pub(crate) fn auth_response(
    now: i64,
    entry: &TokenEntry,
    token: &str,
    tenant: &Tenant,
) -> Response {
    let token_policies: Vec<&String> = entry.policies.iter().collect();
    let mut auth = Map::new();
    auth.insert("client_token".into(), json!(token));
    auth.insert("accessor".into(), json!(entry.accessor));
    auth.insert("policies".into(), json!(entry.policies));
    auth.insert("token_policies".into(), json!(token_policies));
    // OpenBao leaves the key out when there are none.
    let identity = identity_policies(tenant, entry);
    if !identity.is_empty() {
        let mut all: Vec<&String> = entry.policies.iter().chain(identity.iter()).collect();
        all.sort();
        all.dedup();
        auth.insert("policies".into(), json!(all));
        auth.insert("identity_policies".into(), json!(identity));
    }
    auth.insert(
        "metadata".into(),
        if entry.meta.is_empty() {
            Value::Null
        } else {
            json!(entry.meta)
        },
    );
    let ttl = entry.ttl_remaining(now);
    auth.insert("lease_duration".into(), json!(ttl));
    // A token without a TTL has no lease to renew (a root token): not renewable here.
    auth.insert("renewable".into(), json!(entry.renewable && ttl != 0));
    auth.insert("entity_id".into(), json!(entry.entity_id));
    auth.insert("token_type".into(), json!(entry.token_type));
    auth.insert("orphan".into(), json!(entry.parent.is_none()));
    auth.insert("mfa_requirement".into(), Value::Null);
    auth.insert("num_uses".into(), json!(entry.num_uses.max(0)));
    Response {
        auth: Some(auth),
        ..Response::default()
    }
}

/// Token information as `lookup*` returns it. `id` is `None` for accessor lookups; `namespace`
/// is the path of the namespace holding the token (`""`: the root, not shown, as OpenBao).
pub(crate) fn lookup_response(
    now: i64,
    entry: &TokenEntry,
    id: Option<&str>,
    tenant: &Tenant,
) -> Response {
    let namespace = tenant.ns.path.as_str();
    let mut d = Map::new();
    d.insert("id".into(), json!(id.unwrap_or("")));
    d.insert("accessor".into(), json!(entry.accessor));
    d.insert("policies".into(), json!(entry.policies));
    d.insert("path".into(), json!(entry.path));
    d.insert(
        "meta".into(),
        if entry.meta.is_empty() {
            Value::Null
        } else {
            json!(entry.meta)
        },
    );
    d.insert("display_name".into(), json!(entry.display_name));
    d.insert("num_uses".into(), json!(entry.num_uses.max(0)));
    d.insert("orphan".into(), json!(entry.parent.is_none()));
    d.insert("creation_time".into(), json!(entry.creation_time));
    d.insert("creation_ttl".into(), json!(entry.creation_ttl));
    d.insert("ttl".into(), json!(entry.ttl_remaining(now)));
    d.insert("explicit_max_ttl".into(), json!(entry.explicit_max_ttl));
    d.insert(
        "expire_time".into(),
        entry.expire_time.map_or(Value::Null, |t| {
            json!(rfc3339_nanos(t.saturating_mul(1_000_000_000)))
        }),
    );
    d.insert(
        "issue_time".into(),
        json!(rfc3339_nanos(
            entry.creation_time.saturating_mul(1_000_000_000)
        )),
    );
    d.insert("renewable".into(), json!(entry.renewable));
    d.insert("entity_id".into(), json!(entry.entity_id));
    let identity_policies = identity_policies(tenant, entry);
    if !identity_policies.is_empty() {
        d.insert("identity_policies".into(), json!(identity_policies));
    }
    if !entry.bound_cidrs.is_empty() {
        d.insert("bound_cidrs".into(), json!(entry.bound_cidrs));
    }
    d.insert("type".into(), json!(entry.token_type));
    if entry.period > 0 {
        d.insert("period".into(), json!(entry.period));
    }
    if let Some(role) = &entry.role {
        d.insert("role".into(), json!(role));
    }
    if !namespace.is_empty() {
        d.insert("namespace_path".into(), json!(namespace));
    }
    if let Some(t) = entry.last_renewal_time {
        d.insert("last_renewal_time".into(), json!(t));
        d.insert(
            "last_renewal".into(),
            json!(rfc3339_nanos(t.saturating_mul(1_000_000_000))),
        );
    }
    Response::with_data(d)
}

async fn lookup(
    scope: &Scope<'_>,
    data: &Map<String, Value>,
    auth: &Authorized,
) -> Result<Response> {
    let Some(token) = fields::opt_str(data, "token")?.filter(|t| !t.is_empty()) else {
        return Ok(lookup_response(
            scope.unsealed.barrier.clock().now_unix_secs(),
            &auth.token,
            Some(auth.raw_token()),
            &auth.token_tenant,
        ));
    };
    match scope.tenant.tokens.lookup(token).await? {
        Some(entry) => Ok(lookup_response(
            scope.unsealed.barrier.clock().now_unix_secs(),
            &entry,
            Some(token),
            scope.tenant,
        )),
        None => Err(Error::PermissionDeniedMsg("bad token".into())),
    }
}

async fn lookup_accessor(scope: &Scope<'_>, data: &Map<String, Value>) -> Result<Response> {
    let accessor = required_str(data, "accessor")?;
    match scope.tenant.tokens.lookup_accessor(&accessor).await? {
        Some((_, entry)) => Ok(lookup_response(
            scope.unsealed.barrier.clock().now_unix_secs(),
            &entry,
            None,
            scope.tenant,
        )),
        None => Err(Error::invalid("invalid accessor")),
    }
}

async fn renew(
    tenant: &Tenant,
    hash: &[u8; 32],
    token: &str,
    increment: Option<u64>,
) -> Result<Response> {
    // A login's token renews only while its login would still succeed (the user or role
    // exists, its policies are the same), as Vault's auth methods decide.
    if let Some(current) = tenant.tokens.lookup_hash(hash).await?
        && !current.mount_accessor.is_empty()
    {
        let router = tenant.router.load_full();
        let method = router
            .auth_mount(&current.mount_accessor)
            .ok_or_else(|| Error::invalid("the auth method that made the token is gone"))?;
        if let Some(m) = method.engine.auth_method() {
            m.renew_check(&method.view, &current).await?;
        }
    }
    let entry = tenant.tokens.renew(hash, increment).await?;
    // The TTL as of the renewal itself: a clock read after it may have crossed a second and
    // answered one second short of the increment granted.
    let renewed_at = entry
        .last_renewal_time
        .unwrap_or_else(|| tenant.tokens.now());
    Ok(auth_response(renewed_at, &entry, token, tenant))
}

async fn role_op(
    tokens: &TokenStore,
    name: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::invalid("invalid role name"));
    }
    match op {
        Operation::Read => Ok(tokens.role(name).await?.map(|r| role_response(&r))),
        Operation::Delete => {
            tokens.delete_role(name).await?;
            Ok(Some(Response::empty()))
        }
        Operation::Create | Operation::Update => {
            let mut role = tokens.role(name).await?.unwrap_or_else(|| TokenRole {
                name: name.to_string(),
                renewable: true,
                ..TokenRole::default()
            });
            if let Some(p) = fields::opt_string_list(data, "allowed_policies")? {
                role.allowed_policies = normalize_policies(p);
            }
            if let Some(p) = fields::opt_string_list(data, "disallowed_policies")? {
                role.disallowed_policies = normalize_policies(p);
            }
            if let Some(b) = fields::opt_bool(data, "orphan")? {
                role.orphan = b;
            }
            if let Some(b) = fields::opt_bool(data, "renewable")? {
                role.renewable = b;
            }
            if let Some(s) = fields::opt_str(data, "path_suffix")? {
                role.path_suffix = s.to_string();
            }
            if let Some(p) = fields::opt_duration_secs(data, "token_period")?
                .or(fields::opt_duration_secs(data, "period")?)
            {
                role.token_period = p;
            }
            if let Some(p) = fields::opt_duration_secs(data, "token_explicit_max_ttl")?
                .or(fields::opt_duration_secs(data, "explicit_max_ttl")?)
            {
                role.token_explicit_max_ttl = p;
            }
            if let Some(t) = fields::opt_str(data, "token_type")? {
                match t {
                    "" | "service" | "batch" | "default-service" | "default-batch" => {
                        role.token_type = t.to_string();
                    }
                    other => return Err(Error::invalid(format!("invalid token_type {other}"))),
                }
            }
            if let Some(b) = fields::opt_bool(data, "token_no_default_policy")? {
                role.token_no_default_policy = b;
            }
            if let Some(n) = fields::opt_i64(data, "token_num_uses")? {
                role.token_num_uses = n.max(0);
            }
            let cidrs = if data.contains_key("token_bound_cidrs") {
                "token_bound_cidrs"
            } else {
                "bound_cidrs"
            };
            if let Some(list) = fields::opt_string_list(data, cidrs)? {
                role.token_bound_cidrs =
                    crate::auth::cidr::display(&crate::auth::cidr::parse(cidrs, &list)?);
            }
            tokens.put_role(&role).await?;
            Ok(Some(Response::empty()))
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

fn role_response(r: &TokenRole) -> Response {
    let mut d = Map::new();
    d.insert("name".into(), json!(r.name));
    d.insert("allowed_policies".into(), json!(r.allowed_policies));
    d.insert("disallowed_policies".into(), json!(r.disallowed_policies));
    d.insert("allowed_policies_glob".into(), json!([]));
    d.insert("disallowed_policies_glob".into(), json!([]));
    d.insert("orphan".into(), json!(r.orphan));
    d.insert("renewable".into(), json!(r.renewable));
    d.insert("path_suffix".into(), json!(r.path_suffix));
    d.insert("allowed_entity_aliases".into(), Value::Null);
    d.insert("token_period".into(), json!(r.token_period));
    d.insert(
        "token_explicit_max_ttl".into(),
        json!(r.token_explicit_max_ttl),
    );
    // The deprecated names read 0, as in OpenBao: the settings live in the `token_` fields.
    d.insert("period".into(), json!(0));
    d.insert("explicit_max_ttl".into(), json!(0));
    d.insert(
        "token_type".into(),
        json!(if r.token_type.is_empty() {
            "default-service"
        } else {
            r.token_type.as_str()
        }),
    );
    d.insert(
        "token_no_default_policy".into(),
        json!(r.token_no_default_policy),
    );
    d.insert("token_num_uses".into(), json!(r.token_num_uses));
    // Shown once set, as in OpenBao.
    if !r.token_bound_cidrs.is_empty() {
        d.insert("token_bound_cidrs".into(), json!(r.token_bound_cidrs));
    }
    Response::with_data(d)
}

/// The periodic token tidy, as a background change: audited (job `token-tidy`) when there is
/// something to remove, and then done. Returns how many tokens were removed.
pub(crate) async fn tidy(scope: &Scope<'_>) -> Result<usize> {
    let namespaces = &scope.unsealed.namespaces;
    let due = namespaces.tidy_candidates(scope.tenant).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut data = Map::new();
    data.insert("tokens".into(), Value::from(due.len()));
    let change = crate::audit::BackgroundChange {
        job: "token-tidy",
        operation: Operation::Delete,
        path: "auth/token/tidy",
        mount: None,
        data: Some(&data),
    };
    scope
        .tenant
        .background
        .record(&change, namespaces.revoke_tokens(scope.tenant, &due))
        .await
}
