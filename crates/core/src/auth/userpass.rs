//! The userpass auth method (`auth/userpass/`, Vault's API): users with an Argon2id password
//! hash and token settings, and a login that checks the password.
//!
//! Storage below the mount: `user/<name>` → [`User`]. Names are lower-cased, as in Vault.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::token_params::{self, TokenParams};
use super::{AuthMethod, Login, cidr, password};
use crate::barrier::View;
use crate::engines::{Engine, EngineRequest};
use crate::error::{Error, Result};
use crate::fields;
use crate::request::{Operation, Response};
use crate::route::{FieldKind, PathClass, Routes, Table, WRITE, field, path};
use crate::system::Ctx;
use crate::token::TokenEntry;

const USER_PREFIX: &str = "user/";
/// The answer to every bad login, whatever was wrong.
const BAD_LOGIN: &str = "invalid username or password";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Login,
    Users,
    User,
    Password,
    Policies,
}

static PASSWORD: crate::route::Field = field("password", FieldKind::Str, "The user's password.");

static ROUTES: LazyLock<Table<Route>> = LazyLock::new(|| {
    let mut user_fields = vec![PASSWORD];
    user_fields.extend_from_slice(token_params::FIELDS);
    Table::new(
        "The userpass auth method lets users log in with a username and a password.",
        vec![
            path("login/{username}", Route::Login)
                .ops(WRITE)
                .fields(&[PASSWORD])
                .class(PathClass::Login)
                .help("Log in with a username and password.", ""),
            path("users/?", Route::Users)
                .ops(&[Operation::List])
                .help("List the users.", ""),
            path("users/{username}/password", Route::Password)
                .ops(WRITE)
                .fields(&[PASSWORD])
                .help("Change a user's password.", ""),
            path("users/{username}/policies", Route::Policies)
                .ops(WRITE)
                .fields(&[
                    field(
                        "token_policies",
                        FieldKind::StrList,
                        "Policies of the user's tokens.",
                    ),
                    field(
                        "policies",
                        FieldKind::StrList,
                        "Deprecated: token_policies.",
                    ),
                ])
                .help("Change a user's policies.", ""),
            path("users/{username}", Route::User)
                .ops(&[Operation::Read, Operation::Delete])
                .ops(WRITE)
                .fields(&user_fields)
                .existence_check()
                .help("Create, read, update or delete a user.", ""),
        ],
    )
});

/// A user as stored. `Debug` leaves the hash out.
#[derive(Clone, Serialize, Deserialize)]
struct User {
    /// Argon2id PHC string.
    password_hash: String,
    #[serde(default)]
    token: TokenParams,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Lower-cases and checks a username: letters, digits, `_`, `.`, `-`; not starting with `-`,
/// not starting or ending with `.`.
fn username(raw: &str) -> Result<String> {
    let name = raw.to_lowercase();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !name.starts_with('-')
        && !name.starts_with('.')
        && !name.ends_with('.');
    if ok {
        Ok(name)
    } else {
        Err(Error::invalid(format!("invalid username \"{raw}\"")))
    }
}

async fn load(view: &View, name: &str) -> Result<Option<User>> {
    view.get_json(&format!("{USER_PREFIX}{name}"), "userpass user")
        .await
}

async fn store(view: &View, name: &str, user: &User) -> Result<()> {
    view.put_json(&format!("{USER_PREFIX}{name}"), user).await
}

/// The password field, required and non-empty.
fn password_field(data: &Map<String, Value>) -> Result<Zeroizing<String>> {
    match fields::opt_str(data, "password")? {
        Some(p) if !p.is_empty() => Ok(Zeroizing::new(p.to_string())),
        _ => Err(Error::invalid("missing password")),
    }
}

/// The userpass backend of one mount.
pub(crate) struct Userpass;

#[async_trait]
impl Engine for Userpass {
    fn routes(&self) -> &'static dyn Routes {
        &*ROUTES
    }

    async fn exists(&self, req: &EngineRequest) -> Result<bool> {
        let name = username(req.param("username"))?;
        Ok(load(&req.view, &name).await?.is_some())
    }

    async fn handle(&self, req: EngineRequest, _ctx: &Ctx<'_>) -> Result<Option<Response>> {
        let route = ROUTES.route(&req.matched).ok_or(Error::UnsupportedPath)?;
        let view = &req.view;
        match route {
            // Logins go through the pipeline's login seam, never here.
            Route::Login => Err(Error::UnsupportedPath),
            Route::Users => {
                let keys = view.list(USER_PREFIX).await?;
                Ok(Response::keys(keys))
            }
            Route::User => {
                let name = username(req.param("username"))?;
                match req.operation {
                    Operation::Read => Ok(load(view, &name).await?.map(|u| {
                        let mut d = Map::new();
                        u.token.to_api(&mut d);
                        Response::with_data(d)
                    })),
                    Operation::Delete => {
                        view.delete(&format!("{USER_PREFIX}{name}")).await?;
                        Ok(Some(Response::empty()))
                    }
                    _ => write_user(view, &name, &req.data, req.operation).await,
                }
            }
            Route::Password => {
                let name = username(req.param("username"))?;
                let mut user = load(view, &name)
                    .await?
                    .ok_or_else(|| Error::invalid(format!("username does not exist: {name}")))?;
                user.password_hash = password::hash(password_field(&req.data)?).await?;
                store(view, &name, &user).await?;
                Ok(Some(Response::empty()))
            }
            Route::Policies => {
                let name = username(req.param("username"))?;
                let mut user = load(view, &name)
                    .await?
                    .ok_or_else(|| Error::invalid(format!("username does not exist: {name}")))?;
                let mut only = Map::new();
                for k in ["token_policies", "policies"] {
                    if let Some(v) = req.data.get(k) {
                        only.insert(k.into(), v.clone());
                    }
                }
                if only.is_empty() {
                    return Err(Error::invalid("missing token_policies"));
                }
                user.token.apply(&only)?;
                store(view, &name, &user).await?;
                Ok(Some(Response::empty()))
            }
        }
    }

    fn auth_method(&self) -> Option<&dyn AuthMethod> {
        Some(self)
    }
}

/// Creates or updates a user: a new user needs a password; an update keeps what it does not
/// name.
async fn write_user(
    view: &View,
    name: &str,
    data: &Map<String, Value>,
    op: Operation,
) -> Result<Option<Response>> {
    let existing = load(view, name).await?;
    let mut token = existing
        .as_ref()
        .map(|u| u.token.clone())
        .unwrap_or_default();
    token.apply(data)?;
    let password_hash = match (fields::opt_str(data, "password")?, existing) {
        (Some(p), _) if !p.is_empty() => password::hash(Zeroizing::new(p.to_string())).await?,
        (_, Some(u)) if op == Operation::Update => u.password_hash,
        _ => return Err(Error::invalid("missing password")),
    };
    store(
        view,
        name,
        &User {
            password_hash,
            token,
        },
    )
    .await?;
    Ok(Some(Response::empty()))
}

#[async_trait]
impl AuthMethod for Userpass {
    fn lockout_name(&self, req: &EngineRequest) -> Option<String> {
        Some(req.param("username").to_lowercase())
    }

    async fn login(&self, req: &EngineRequest, client: Option<IpAddr>) -> Result<Login> {
        let given = password_field(&req.data)?;
        // A name that cannot exist is checked like an unknown one: same answer, same time.
        let name = username(req.param("username")).ok();
        let user = match &name {
            Some(n) => load(&req.view, n).await?,
            None => None,
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let good = password::verify(given, stored).await?;
        let (Some(name), Some(user), true) = (name, user, good) else {
            return Err(Error::InvalidCredentials(BAD_LOGIN.into()));
        };
        // After the password, so an address outside the user's CIDRs learns nothing more.
        if !cidr::allows(&cidr::from_stored(&user.token.bound_cidrs), client) {
            return Err(Error::PermissionDeniedMsg(
                "login request originated from invalid CIDR".into(),
            ));
        }
        Ok(Login {
            display_name: name.clone(),
            metadata: BTreeMap::from([("username".to_string(), name.clone())]),
            alias_name: name,
            token: user.token,
        })
    }

    async fn renew_check(&self, view: &View, token: &TokenEntry) -> Result<()> {
        let name = token.meta.get("username").map(String::as_str).unwrap_or("");
        let user = load(view, name)
            .await?
            .ok_or_else(|| Error::invalid("user no longer exists, not renewing"))?;
        super::same_policies(token, &user.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_as_vault_takes_them() {
        assert_eq!(username("Alice").ok().as_deref(), Some("alice"));
        assert_eq!(username("a.b-c_d").ok().as_deref(), Some("a.b-c_d"));
        for bad in ["", "-a", ".a", "a.", "a b", "a/b", "é"] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }
}
