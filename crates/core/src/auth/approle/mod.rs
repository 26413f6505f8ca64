//! The AppRole auth method (`auth/approle/`, Vault's API): roles with a role id, secret ids
//! generated or given, and a login with both. Secret ids may be limited in uses, time and
//! client addresses; `tidy/secret-id` removes the expired ones.

mod secret_ids;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::token_params::{self, TokenParams};
use super::{AuthMethod, Login, cidr};
use crate::barrier::View;
use crate::clock::rfc3339_nanos;
use crate::engines::{Engine, EngineRequest};
use crate::error::{Error, Result};
use crate::fields;
use crate::request::{Operation, Response};
use crate::route::{Field, FieldKind, PathClass, Routes, Table, WRITE, field, path};
use crate::system::Ctx;
use crate::token::TokenEntry;
pub(crate) use secret_ids::Shared;
use secret_ids::{Role, SecretId, Store};

/// The answer to every bad login, whatever was wrong.
const BAD_LOGIN: &str = "invalid role or secret ID";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Login,
    Roles,
    Role,
    RoleId,
    SecretIds,
    CustomSecretId,
    SecretIdLookup,
    SecretIdDestroy,
    AccessorLookup,
    AccessorDestroy,
    Tidy,
}

const ROLE_FIELDS: &[Field] = &[
    field(
        "bind_secret_id",
        FieldKind::Bool,
        "Logins need a secret id (default true).",
    ),
    field(
        "secret_id_bound_cidrs",
        FieldKind::StrList,
        "Client addresses secret ids may be used from.",
    ),
    field(
        "bound_cidr_list",
        FieldKind::StrList,
        "Deprecated: secret_id_bound_cidrs.",
    ),
    field(
        "secret_id_num_uses",
        FieldKind::Int,
        "Uses per secret id (0: unlimited).",
    ),
    field(
        "secret_id_ttl",
        FieldKind::Duration,
        "Lifetime of secret ids (0: unlimited).",
    ),
    field(
        "local_secret_ids",
        FieldKind::Bool,
        "Accepted for compatibility (one cluster).",
    ),
    field(
        "role_id",
        FieldKind::Str,
        "The role id (default: a random UUID).",
    ),
];

const SECRET_ID_FIELDS: &[Field] = &[
    field(
        "metadata",
        FieldKind::Any,
        "A map of strings, or its JSON text, added to the token's metadata.",
    ),
    field(
        "cidr_list",
        FieldKind::StrList,
        "Client addresses the secret id may be used from.",
    ),
    field(
        "token_bound_cidrs",
        FieldKind::StrList,
        "Client addresses the tokens may be used from.",
    ),
    field(
        "ttl",
        FieldKind::Duration,
        "Lifetime of the secret id (at most the role's).",
    ),
    field(
        "num_uses",
        FieldKind::Int,
        "Uses of the secret id (at most the role's).",
    ),
];

static SECRET_ID: Field = field("secret_id", FieldKind::Str, "The secret id.");
static ACCESSOR: Field = field(
    "secret_id_accessor",
    FieldKind::Str,
    "The secret id's accessor.",
);

static ROUTES: LazyLock<Table<Route>> = LazyLock::new(|| {
    let mut role_fields = ROLE_FIELDS.to_vec();
    role_fields.extend_from_slice(token_params::FIELDS);
    let mut custom_fields = SECRET_ID_FIELDS.to_vec();
    custom_fields.push(SECRET_ID);
    Table::new(
        "The AppRole auth method lets machines and applications log in with a role id and a \
         secret id.",
        vec![
            path("login", Route::Login)
                .ops(WRITE)
                .fields(&[field("role_id", FieldKind::Str, "The role id."), SECRET_ID])
                .class(PathClass::Login)
                .help("Log in with a role id and a secret id.", ""),
            path("role/?", Route::Roles)
                .ops(&[Operation::List])
                .help("List the roles.", ""),
            path("role/{role_name}/role-id", Route::RoleId)
                .ops(&[Operation::Read])
                .ops(WRITE)
                .fields(&[field("role_id", FieldKind::Str, "The new role id.")])
                .help("Read or set a role's role id.", ""),
            path("role/{role_name}/secret-id/?", Route::SecretIds)
                .ops(&[Operation::List])
                .ops(WRITE)
                .fields(SECRET_ID_FIELDS)
                .help(
                    "Generate a secret id, or list the accessors of a role's secret ids.",
                    "",
                ),
            path("role/{role_name}/custom-secret-id", Route::CustomSecretId)
                .ops(WRITE)
                .fields(&custom_fields)
                .help("Register a secret id of the caller's choosing.", ""),
            path("role/{role_name}/secret-id/lookup", Route::SecretIdLookup)
                .ops(WRITE)
                .fields(&[SECRET_ID])
                .help("Read a secret id's properties.", ""),
            path("role/{role_name}/secret-id/destroy", Route::SecretIdDestroy)
                .ops(&[Operation::Delete])
                .ops(WRITE)
                .fields(&[SECRET_ID])
                .help("Destroy a secret id.", ""),
            path(
                "role/{role_name}/secret-id-accessor/lookup",
                Route::AccessorLookup,
            )
            .ops(WRITE)
            .fields(&[ACCESSOR])
            .help("Read a secret id's properties by its accessor.", ""),
            path(
                "role/{role_name}/secret-id-accessor/destroy",
                Route::AccessorDestroy,
            )
            .ops(&[Operation::Delete])
            .ops(WRITE)
            .fields(&[ACCESSOR])
            .help("Destroy a secret id by its accessor.", ""),
            path("role/{role_name}", Route::Role)
                .ops(&[Operation::Read, Operation::Delete])
                .ops(WRITE)
                .fields(&role_fields)
                .existence_check()
                .help("Create, read, update or delete a role.", ""),
            path("tidy/secret-id", Route::Tidy)
                .ops(WRITE)
                .help("Remove expired secret ids.", ""),
        ],
    )
});

/// Checks a role name: letters, digits and `_-.@`, starting and ending with a letter or digit.
fn role_name(raw: &str) -> Result<&str> {
    let ok = !raw.is_empty()
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
        && raw.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && raw.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(raw)
    } else {
        Err(Error::invalid(format!("invalid role name \"{raw}\"")))
    }
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The AppRole backend of one mount.
pub(crate) struct AppRole {
    shared: Arc<Shared>,
}

impl AppRole {
    pub(crate) fn new(shared: Arc<Shared>) -> AppRole {
        AppRole { shared }
    }

    fn store<'a>(&'a self, req: &'a EngineRequest) -> Store<'a> {
        Store {
            view: &req.view,
            shared: &self.shared,
        }
    }
}

fn role_response(role: &Role) -> Response {
    let mut d = Map::new();
    d.insert("bind_secret_id".into(), json!(role.bind_secret_id));
    d.insert("local_secret_ids".into(), json!(role.local_secret_ids));
    d.insert(
        "secret_id_bound_cidrs".into(),
        if role.secret_id_bound_cidrs.is_empty() {
            Value::Null
        } else {
            json!(role.secret_id_bound_cidrs)
        },
    );
    d.insert("secret_id_num_uses".into(), json!(role.secret_id_num_uses));
    d.insert("secret_id_ttl".into(), json!(role.secret_id_ttl));
    role.token.to_api(&mut d);
    // OpenBao shows the legacy `policies` mirror only for roles written with it.
    d.remove("policies");
    Response::with_data(d)
}

fn secret_id_response(e: &SecretId) -> Response {
    let time = |s: i64| json!(rfc3339_nanos(s.saturating_mul(1_000_000_000)));
    let mut d = Map::new();
    d.insert("cidr_list".into(), json!(e.cidr_list));
    d.insert("creation_time".into(), time(e.creation_time));
    d.insert(
        "expiration_time".into(),
        e.expiration_time
            .map_or(json!("0001-01-01T00:00:00Z"), time),
    );
    d.insert("last_updated_time".into(), time(e.last_updated_time));
    d.insert("metadata".into(), json!(e.metadata));
    d.insert("secret_id_accessor".into(), json!(e.accessor));
    d.insert("secret_id_num_uses".into(), json!(e.num_uses));
    d.insert("secret_id_ttl".into(), json!(e.ttl));
    d.insert("token_bound_cidrs".into(), json!(e.token_bound_cidrs));
    Response::with_data(d)
}

/// A secret id's metadata: a map of strings, or (as hvac sends it) its JSON text.
fn metadata(data: &Map<String, Value>) -> Result<BTreeMap<String, String>> {
    match data.get("metadata") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(BTreeMap::new()),
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|_| {
            Error::invalid("failed to parse \"metadata\": expected a JSON object of strings")
        }),
        Some(Value::Object(_)) => Ok(fields::opt_string_map(data, "metadata")?.unwrap_or_default()),
        Some(_) => Err(Error::invalid("\"metadata\" must be a map of strings")),
    }
}

fn required<'a>(data: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    fields::opt_str(data, name)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid(format!("missing {name}")))
}

#[async_trait]
impl Engine for AppRole {
    fn routes(&self) -> &'static dyn Routes {
        &*ROUTES
    }

    async fn exists(&self, req: &EngineRequest) -> Result<bool> {
        let name = role_name(req.param("role_name"))?;
        Ok(self.store(req).role(name).await?.is_some())
    }

    async fn handle(&self, req: EngineRequest, _ctx: &Ctx<'_>) -> Result<Option<Response>> {
        let route = ROUTES.route(&req.matched).ok_or(Error::UnsupportedPath)?;
        let store = self.store(&req);
        let now = req.view.clock().now_unix_secs();
        match route {
            // Logins go through the pipeline's login seam, never here.
            Route::Login => Err(Error::UnsupportedPath),
            Route::Roles => Ok(Response::keys(store.roles().await?)),
            Route::Tidy => {
                let removed = {
                    let _guard = self.shared.lock.lock().await;
                    store.tidy(now).await?
                };
                let mut resp = Response::empty();
                resp.status = Some(202);
                resp.warnings.push(format!(
                    "Tidy operation completed: {removed} expired secret IDs removed."
                ));
                Ok(Some(resp))
            }
            _ => self.role_route(route, &req, &store, now).await,
        }
    }

    fn auth_method(&self) -> Option<&dyn AuthMethod> {
        Some(self)
    }
}

impl AppRole {
    /// The routes below `role/:role_name`.
    async fn role_route(
        &self,
        route: Route,
        req: &EngineRequest,
        store: &Store<'_>,
        now: i64,
    ) -> Result<Option<Response>> {
        let name = role_name(req.param("role_name"))?;
        let data = &req.data;
        if route == Route::Role {
            return match req.operation {
                Operation::Read => Ok(store.role(name).await?.map(|r| role_response(&r))),
                Operation::Delete => {
                    let _guard = self.shared.lock.lock().await;
                    if let Some(role) = store.role(name).await? {
                        store.delete_role(name, &role).await?;
                    }
                    Ok(Some(Response::empty()))
                }
                _ => self.write_role(store, name, data).await,
            };
        }
        let role = store.role(name).await?;
        let Some(role) = role else {
            return match (route, req.operation) {
                (Route::RoleId, Operation::Read) | (Route::SecretIds, Operation::List) => Ok(None),
                _ => Err(Error::NotFound(format!("role \"{name}\" does not exist"))),
            };
        };
        match route {
            Route::RoleId if req.operation == Operation::Read => {
                let mut d = Map::new();
                d.insert("role_id".into(), json!(role.role_id));
                Ok(Some(Response::with_data(d)))
            }
            Route::RoleId => {
                let role_id = required(data, "role_id")?.to_string();
                let _guard = self.shared.lock.lock().await;
                let old = store.role(name).await?.ok_or(Error::UnsupportedPath)?;
                let new = Role {
                    role_id,
                    ..old.clone()
                };
                store.put_role(name, &new, Some(&old)).await?;
                Ok(Some(Response::empty()))
            }
            Route::SecretIds if req.operation == Operation::List => {
                Ok(Response::keys(store.accessors(name).await?))
            }
            Route::SecretIds => {
                self.new_secret_id(store, name, &role, data, new_uuid(), now)
                    .await
            }
            Route::CustomSecretId => {
                let secret = required(data, "secret_id")?.to_string();
                self.new_secret_id(store, name, &role, data, secret, now)
                    .await
            }
            Route::SecretIdLookup | Route::SecretIdDestroy => {
                let secret = required(data, "secret_id")?;
                let found = store.secret_id(name, secret).await?;
                self.lookup_or_destroy(route == Route::SecretIdDestroy, store, name, found)
                    .await
            }
            Route::AccessorLookup | Route::AccessorDestroy => {
                let accessor = required(data, "secret_id_accessor")?;
                let found = store.secret_id_by_accessor(name, accessor).await?;
                if found.is_none() {
                    return Err(Error::invalid(format!(
                        "failed to find accessor entry for secret_id_accessor: \"{accessor}\""
                    )));
                }
                self.lookup_or_destroy(route == Route::AccessorDestroy, store, name, found)
                    .await
            }
            Route::Login | Route::Roles | Route::Role | Route::Tidy => Err(Error::UnsupportedPath),
        }
    }

    async fn write_role(
        &self,
        store: &Store<'_>,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<Option<Response>> {
        let _guard = self.shared.lock.lock().await;
        let old = store.role(name).await?;
        let mut role = old.clone().unwrap_or(Role {
            role_id: new_uuid(),
            bind_secret_id: true,
            secret_id_bound_cidrs: Vec::new(),
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            local_secret_ids: false,
            token: TokenParams::default(),
        });
        if let Some(id) = fields::opt_str(data, "role_id")?.filter(|s| !s.is_empty()) {
            role.role_id = id.to_string();
        }
        if let Some(b) = fields::opt_bool(data, "bind_secret_id")? {
            role.bind_secret_id = b;
        }
        let cidr_field = if data.contains_key("secret_id_bound_cidrs") {
            "secret_id_bound_cidrs"
        } else {
            "bound_cidr_list"
        };
        if let Some(list) = fields::opt_string_list(data, cidr_field)? {
            role.secret_id_bound_cidrs = cidr::display(&cidr::parse(cidr_field, &list)?);
        }
        if let Some(n) = fields::opt_i64(data, "secret_id_num_uses")? {
            if n < 0 {
                return Err(Error::invalid("\"secret_id_num_uses\" cannot be negative"));
            }
            role.secret_id_num_uses = n;
        }
        if let Some(t) = fields::opt_duration_secs(data, "secret_id_ttl")? {
            role.secret_id_ttl = t;
        }
        if let Some(b) = fields::opt_bool(data, "local_secret_ids")? {
            role.local_secret_ids = b;
        }
        role.token.apply(data)?;
        if !role.bind_secret_id
            && role.secret_id_bound_cidrs.is_empty()
            && role.token.bound_cidrs.is_empty()
        {
            return Err(Error::invalid(
                "at least one constraint should be enabled on the role: bind_secret_id, \
                 secret_id_bound_cidrs or token_bound_cidrs",
            ));
        }
        store.put_role(name, &role, old.as_ref()).await?;
        Ok(Some(Response::empty()))
    }

    async fn new_secret_id(
        &self,
        store: &Store<'_>,
        name: &str,
        role: &Role,
        data: &Map<String, Value>,
        secret: String,
        now: i64,
    ) -> Result<Option<Response>> {
        let list = |f: &str| -> Result<Vec<String>> {
            let given = fields::opt_string_list(data, f)?.unwrap_or_default();
            Ok(cidr::display(&cidr::parse(f, &given)?))
        };
        let cidr_list = list("cidr_list")?;
        let token_bound_cidrs = list("token_bound_cidrs")?;
        // A secret id may narrow the role's limits, never widen them.
        let ttl = match fields::opt_duration_secs(data, "ttl")? {
            Some(t) if role.secret_id_ttl > 0 && (t == 0 || t > role.secret_id_ttl) => {
                return Err(Error::invalid(
                    "ttl cannot be longer than the role's secret_id_ttl",
                ));
            }
            Some(t) if t > 0 => t,
            _ => role.secret_id_ttl,
        };
        let num_uses = match fields::opt_i64(data, "num_uses")? {
            Some(n) if n < 0 => return Err(Error::invalid("num_uses cannot be negative")),
            Some(n) if role.secret_id_num_uses > 0 && (n == 0 || n > role.secret_id_num_uses) => {
                return Err(Error::invalid(
                    "num_uses cannot be higher than the role's secret_id_num_uses",
                ));
            }
            Some(n) if n > 0 => n,
            _ => role.secret_id_num_uses,
        };
        let entry = SecretId {
            accessor: new_uuid(),
            creation_time: now,
            expiration_time: (ttl > 0)
                .then(|| now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))),
            last_updated_time: now,
            metadata: metadata(data)?,
            num_uses,
            ttl,
            cidr_list,
            token_bound_cidrs,
        };
        {
            let _guard = self.shared.lock.lock().await;
            store.put_secret_id(name, &secret, &entry).await?;
        }
        let mut d = Map::new();
        d.insert("secret_id".into(), json!(secret));
        d.insert("secret_id_accessor".into(), json!(entry.accessor));
        d.insert("secret_id_num_uses".into(), json!(entry.num_uses));
        d.insert("secret_id_ttl".into(), json!(entry.ttl));
        Ok(Some(Response::with_data(d)))
    }

    async fn lookup_or_destroy(
        &self,
        destroy: bool,
        store: &Store<'_>,
        name: &str,
        found: Option<(String, SecretId)>,
    ) -> Result<Option<Response>> {
        let Some((hash, entry)) = found else {
            // OpenBao answers an unknown secret id with an empty 204 for both.
            return Ok(Some(Response::empty()));
        };
        if destroy {
            let _guard = self.shared.lock.lock().await;
            store.delete_secret_id(name, &hash, &entry.accessor).await?;
            return Ok(Some(Response::empty()));
        }
        Ok(Some(secret_id_response(&entry)))
    }

    /// Checks and spends a secret id at login; `Ok(None)`: no such secret id.
    async fn spend_secret_id(
        &self,
        store: &Store<'_>,
        name: &str,
        secret: &str,
        now: i64,
    ) -> Result<Option<SecretId>> {
        let Some((hash, entry)) = store.secret_id(name, secret).await? else {
            return Ok(None);
        };
        if entry.num_uses == 0 && !entry.is_expired(now) {
            return Ok(Some(entry));
        }
        // Use counts and expiry change the entry: under the lock, from a fresh read.
        let _guard = self.shared.lock.lock().await;
        let Some((hash, mut entry)) = store
            .secret_id(name, secret)
            .await?
            .filter(|(h, _)| *h == hash)
        else {
            return Ok(None);
        };
        if entry.is_expired(now) {
            store.delete_secret_id(name, &hash, &entry.accessor).await?;
            return Ok(None);
        }
        if entry.num_uses == 1 {
            store.delete_secret_id(name, &hash, &entry.accessor).await?;
        } else if entry.num_uses > 1 {
            entry.num_uses -= 1;
            entry.last_updated_time = now;
            store.update_secret_id(name, &hash, &entry).await?;
        }
        Ok(Some(entry))
    }
}

#[async_trait]
impl AuthMethod for AppRole {
    fn lockout_name(&self, req: &EngineRequest) -> Option<String> {
        fields::opt_str(&req.data, "role_id")
            .ok()
            .flatten()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    async fn login(&self, req: &EngineRequest, client: Option<IpAddr>) -> Result<Login> {
        let role_id = required(&req.data, "role_id")?;
        let store = self.store(req);
        let now = req.view.clock().now_unix_secs();
        let Some((name, role)) = store.role_by_id(role_id).await? else {
            return Err(Error::InvalidCredentials(BAD_LOGIN.into()));
        };
        let mut metadata = BTreeMap::new();
        let mut token = role.token.clone();
        if role.bind_secret_id {
            let secret = required(&req.data, "secret_id")?;
            let Some(entry) = self.spend_secret_id(&store, &name, secret, now).await? else {
                return Err(Error::InvalidCredentials(BAD_LOGIN.into()));
            };
            if !cidr::allows(&cidr::from_stored(&entry.cidr_list), client) {
                return Err(Error::PermissionDeniedMsg(
                    "source address unauthorized through CIDR restrictions on the secret ID".into(),
                ));
            }
            if !entry.token_bound_cidrs.is_empty() {
                token.bound_cidrs = entry.token_bound_cidrs.clone();
            }
            metadata = entry.metadata;
        }
        if !cidr::allows(&cidr::from_stored(&role.secret_id_bound_cidrs), client) {
            return Err(Error::PermissionDeniedMsg(
                "source address unauthorized through CIDR restrictions on the role".into(),
            ));
        }
        metadata.insert("role_name".into(), name);
        Ok(Login {
            // Vault's default alias of an AppRole login: the role id.
            alias_name: role_id.to_string(),
            // The token shows the mount's path only (`approle`), as in Vault.
            display_name: String::new(),
            metadata,
            token,
        })
    }

    async fn renew_check(&self, view: &View, token: &TokenEntry) -> Result<()> {
        let name = token
            .meta
            .get("role_name")
            .map(String::as_str)
            .unwrap_or("");
        let store = Store {
            view,
            shared: &self.shared,
        };
        let role = store
            .role(name)
            .await?
            .ok_or_else(|| Error::invalid(format!("role {name} does not exist during renewal")))?;
        super::same_policies(token, &role.token)
    }
}
