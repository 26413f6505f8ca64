//! The system backends: `sys/` and `auth/token/`. They are mounted and routed like any engine
//! (a route table, the [`Engine`] trait) and differ in one thing only: they manage the core
//! itself, so their handlers can open the [`Ctx`] that the pipeline passes to every backend and
//! reach the core and the caller through it. Secrets engines, in another module, cannot: the
//! fields are private to this one.

mod alerts;
mod identity;
mod leases;
mod locked_users;
mod metrics;
mod mfa;
mod mounts;
mod namespaces;
mod password_policies;
mod policies;
mod quotas;
mod remount;
mod rotation;
mod sys;
mod token;

pub(crate) use remount::Migrations;

use std::sync::Arc;

use async_trait::async_trait;

use crate::core::Unsealed;
use crate::engines::{Engine, EngineRequest};
use crate::error::{Error, Result};
use crate::namespace::Tenant;
use crate::pipeline::Authorized;
use crate::request::Response;
use crate::route::Routes;

pub(crate) use token::{auth_response, tidy as tidy_tokens};

/// Where a system handler works: the unsealed core, and the namespace the request is in (its
/// mounts, policies and tokens are the ones the handler sees).
pub(crate) struct Scope<'a> {
    pub(crate) unsealed: &'a Unsealed,
    pub(crate) tenant: &'a Arc<Tenant>,
}

/// What the pipeline gives a backend besides its request: the core, the request's namespace
/// and the authorized caller (`None` on an unauthenticated path).
pub(crate) struct Ctx<'a> {
    core: Option<Scope<'a>>,
    caller: Option<&'a Authorized>,
}

impl<'a> Ctx<'a> {
    /// The context of a request the pipeline dispatches.
    pub(crate) fn new(
        unsealed: &'a Unsealed,
        tenant: &'a Arc<Tenant>,
        caller: Option<&'a Authorized>,
    ) -> Ctx<'a> {
        Ctx {
            core: Some(Scope { unsealed, tenant }),
            caller,
        }
    }

    /// A context without a core, for driving a secrets engine in its unit tests.
    #[cfg(test)]
    pub(crate) fn detached() -> Ctx<'static> {
        Ctx {
            core: None,
            caller: None,
        }
    }

    fn core(&self) -> Result<&Scope<'a>> {
        self.core
            .as_ref()
            .ok_or_else(|| Error::Internal("system backend called without the core".into()))
    }

    fn caller(&self) -> Result<&'a Authorized> {
        self.caller.ok_or(Error::PermissionDenied)
    }

    /// The caller's token display name (`""` without a caller), which secrets engines may
    /// put in what they create (a database user's name), as Vault's templates do.
    pub(crate) fn display_name(&self) -> &'a str {
        self.caller.map_or("", |a| a.token.display_name.as_str())
    }
}

/// The `sys/` backend.
pub(crate) struct SysBackend;

#[async_trait]
impl Engine for SysBackend {
    fn routes(&self) -> &'static dyn Routes {
        &*sys::ROUTES
    }

    async fn handle(&self, req: EngineRequest, ctx: &Ctx<'_>) -> Result<Option<Response>> {
        sys::handle(ctx.core()?, &req, ctx.caller).await
    }
}

/// The `identity/` backend: the namespace's identity store.
pub(crate) struct IdentityBackend;

#[async_trait]
impl Engine for IdentityBackend {
    fn routes(&self) -> &'static dyn Routes {
        &*identity::ROUTES
    }

    async fn handle(&self, req: EngineRequest, ctx: &Ctx<'_>) -> Result<Option<Response>> {
        identity::handle(ctx.core()?, &req, ctx.caller()?).await
    }
}

/// The `auth/token/` backend: the token store's API.
pub(crate) struct TokenBackend;

#[async_trait]
impl Engine for TokenBackend {
    fn routes(&self) -> &'static dyn Routes {
        &*token::ROUTES
    }

    async fn handle(&self, req: EngineRequest, ctx: &Ctx<'_>) -> Result<Option<Response>> {
        token::handle(ctx.core()?, &req, ctx.caller()?).await
    }
}
