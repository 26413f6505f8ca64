//! Auth methods: backends mounted under `auth/` that turn credentials into a token. Each is an
//! [`Engine`](crate::engines::Engine) (its users, roles and config are ordinary routes) that
//! also implements [`AuthMethod`], the one login seam: its login routes are declared
//! [`PathClass::Login`](crate::route::PathClass::Login), and for them the pipeline calls
//! [`AuthMethod::login`] through [`login::run`], which applies lockout, the bound CIDRs and
//! the mount's TTLs and mints the token. A method never creates tokens itself, so every later
//! method (cert, OIDC, JWT) is one more module here, not another pipeline.

pub(crate) mod approle;
pub(crate) mod cidr;
pub(crate) mod lockout;
pub(crate) mod login;
mod password;
pub(crate) mod token_params;
pub(crate) mod userpass;

use std::collections::BTreeMap;
use std::net::IpAddr;

use async_trait::async_trait;

use crate::barrier::View;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::token::TokenEntry;
use token_params::TokenParams;

pub use lockout::LockoutConfig;
pub(crate) use lockout::Lockouts;

/// Auth method types that `sys/auth` enables (besides the always-mounted `token`).
pub const AUTH_TYPES: &[&str] = &["userpass", "approle"];

/// Checks the type of a new auth mount.
pub(crate) fn normalize_auth_type(kind: &str) -> Result<String> {
    if AUTH_TYPES.contains(&kind) {
        Ok(kind.to_string())
    } else {
        Err(Error::invalid(format!(
            "plugin not found in the catalog: {kind}"
        )))
    }
}

/// What a method answers for good credentials: who logged in and what their token gets.
#[derive(Debug)]
pub(crate) struct Login {
    /// The name the mount knows the caller by (the username, the role id): the alias that
    /// resolves to an identity entity.
    pub(crate) alias_name: String,
    /// Who logged in, for the token's display name (`alice`: the token shows
    /// `userpass-alice`, the mount's path first, as Vault names them).
    pub(crate) display_name: String,
    /// The token's metadata, e.g. `{"username": "alice"}`.
    pub(crate) metadata: BTreeMap<String, String>,
    /// The user's or role's token settings.
    pub(crate) token: TokenParams,
}

/// The login seam of an auth method.
#[async_trait]
pub(crate) trait AuthMethod: Send + Sync {
    /// The name a login request is for (a username, a role id), read before the login runs:
    /// failures are counted and locked per name. `None`: the request names nobody (it then
    /// fails on its own).
    fn lockout_name(&self, req: &EngineRequest) -> Option<String>;

    /// Checks the credentials of a login request. Bad credentials are
    /// [`Error::InvalidCredentials`] (they count toward lockout); any other error is not
    /// counted. `client` is the caller's address, for the method's own bound CIDRs.
    async fn login(&self, req: &EngineRequest, client: Option<IpAddr>) -> Result<Login>;

    /// Whether a token its login made may be renewed (`view` is the mount's storage): Vault's
    /// methods refuse once the user or role is gone or its policies changed.
    async fn renew_check(&self, view: &View, token: &TokenEntry) -> Result<()> {
        let _ = (view, token);
        Ok(())
    }
}

/// Refuses the renewal of a token whose login's policies are no longer `current`'s.
pub(crate) fn same_policies(token: &TokenEntry, current: &TokenParams) -> Result<()> {
    let mut wanted = current.policies.clone();
    if !current.no_default_policy {
        wanted.push("default".into());
    }
    if token_params::normalize_policies(wanted) != token.policies {
        return Err(Error::invalid("policies have changed, not renewing"));
    }
    Ok(())
}
