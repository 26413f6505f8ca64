//! The one request pipeline: authenticate → route → settle create/update → authorize
//! (ACL + sudo) → count the token use → dispatch. An engine can only be reached through
//! [`Unsealed::handle`], and dispatch requires an [`Authorized`] proof that only
//! [`Unsealed::authorize`] can mint.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::audit::{AuditRecord, Audited};
use crate::auth_token;
use crate::core::Unsealed;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::policy::{Acl, Op};
use crate::request::{Operation, Request, Response};
use crate::sys;
use crate::token::TokenEntry;

/// Proof that the ACL allowed a request, with what handlers need to know about the caller.
/// The private field keeps other modules from constructing one, so skipping the check does
/// not compile.
pub(crate) struct Authorized {
    _private: (),
    /// The caller's token entry.
    pub(crate) token: Arc<TokenEntry>,
    /// The caller's token hash (its storage id).
    pub(crate) token_hash: [u8; 32],
    raw_token: crate::request::ClientToken,
    /// The matched rule grants `sudo` (or the token is root).
    pub(crate) sudo: bool,
    /// The caller's compiled ACL.
    pub(crate) acl: Arc<Acl>,
}

impl Authorized {
    /// Checks `op` on another path too. Handlers that canonicalize a name taken from the path
    /// (lower-casing a policy name, trimming slashes off a mount path) call this with the
    /// canonical path when it differs from the requested one, so a rule written for the
    /// canonical path (say a `deny`) cannot be sidestepped by spelling it differently.
    pub(crate) fn also_allows(&self, op: Operation, path: &str) -> Result<()> {
        if self.token.is_root() {
            return Ok(());
        }
        let decision = self.acl.check(acl_op(op), path, &Map::new());
        if !decision.allowed || (requires_sudo(path) && !decision.sudo) {
            return Err(Error::PermissionDenied);
        }
        Ok(())
    }

    /// The caller's token string (for `lookup-self`).
    pub(crate) fn raw_token(&self) -> &str {
        self.raw_token.expose()
    }
}

/// Paths that need `sudo` in addition to the operation's capability (Vault's "root paths").
pub(crate) fn requires_sudo(path: &str) -> bool {
    const EXACT: &[&str] = &[
        "sys/audit",
        "sys/remount",
        "sys/rotate",
        "sys/rotate/keyring",
        "sys/rotate/root",
        "sys/config/cors",
        "sys/leases",
        "sys/seal",
        "sys/step-down",
        "auth/token/accessors",
        "auth/token/accessors/",
    ];
    const PREFIX: &[&str] = &[
        "sys/auth/",
        "sys/audit/",
        "sys/raw",
        "sys/config/auditing/",
        "sys/plugins/catalog/",
        "sys/leases/lookup/",
        "sys/revoke-prefix/",
        "sys/leases/revoke-prefix/",
        "sys/revoke-force/",
        "sys/leases/revoke-force/",
        "auth/token/revoke-orphan",
    ];
    // A trailing slash does not escape an exact root path (`sys/seal/` is `sys/seal`).
    let folder = path.strip_suffix('/').unwrap_or(path);
    EXACT.contains(&path) || EXACT.contains(&folder) || PREFIX.iter().any(|p| path.starts_with(p))
}

fn acl_op(op: Operation) -> Op {
    match op {
        Operation::Read => Op::Read,
        Operation::List => Op::List,
        Operation::Create => Op::Create,
        Operation::Update => Op::Update,
        Operation::Delete => Op::Delete,
        Operation::Patch => Op::Patch,
    }
}

/// Where a request goes once authorized.
enum Target {
    Sys(String),
    Token(String),
    Engine(EngineRequest, Arc<dyn crate::engines::Engine>),
    Nowhere,
}

/// An authenticated caller, not yet authorized.
struct Caller {
    token: crate::request::ClientToken,
    hash: [u8; 32],
    entry: Arc<TokenEntry>,
}

impl Unsealed {
    /// Resolves the caller's token; a missing, unknown, expired or used-up token is a 403. On
    /// success the token moves out of the request into the [`Caller`].
    async fn authenticate(&self, req: &mut Request) -> Result<Caller> {
        let Some(token) = req.token.as_ref().filter(|t| !t.expose().is_empty()) else {
            return Err(Error::PermissionDenied);
        };
        let hash = self.tokens.hash(token.expose());
        let entry = self
            .tokens
            .lookup_hash(&hash)
            .await?
            .ok_or(Error::PermissionDenied)?;
        if entry.num_uses < 0 {
            return Err(Error::PermissionDenied);
        }
        let token = req.token.take().ok_or(Error::PermissionDenied)?;
        Ok(Caller { token, hash, entry })
    }

    /// Checks the token's policies for `op` on `path`, and `sudo` where the path needs it.
    /// `ui_mounts` skips the rule check (the handler checks against the ACL itself). A refusal
    /// hands the caller back, for its audit entry.
    async fn authorize(
        &self,
        caller: Caller,
        op: Operation,
        path: &str,
        data: &Map<String, Value>,
        ui_mounts: bool,
    ) -> std::result::Result<Authorized, (Error, Caller)> {
        let acl = match self.policies.acl_for(&caller.entry.policies).await {
            Ok(acl) => acl,
            Err(e) => return Err((e, caller)),
        };
        let sudo = if ui_mounts {
            caller.entry.is_root()
        } else {
            let decision = acl.check(acl_op(op), path, data);
            if !decision.allowed || (requires_sudo(path) && !decision.sudo) {
                return Err((Error::PermissionDenied, caller));
            }
            decision.sudo || decision.root
        };
        Ok(Authorized {
            _private: (),
            token: caller.entry,
            token_hash: caller.hash,
            raw_token: caller.token,
            sudo,
            acl,
        })
    }

    /// Logs a request that was refused before dispatch (authentication, routing, the
    /// existence check or the ACL). The request fails either way, so an audit failure here
    /// only gets logged.
    async fn audit_refused(
        &self,
        req: &Request,
        data: &Map<String, Value>,
        caller: Option<(&str, &TokenEntry)>,
        mount: Option<&crate::mount::MountEntry>,
        err: &Error,
    ) {
        let rec = AuditRecord {
            request_id: &req.id,
            operation: req.operation,
            path: &req.path,
            data: Some(data),
            remote_addr: req.remote_addr.as_deref(),
            token: caller
                .map(|c| c.0)
                .or(req.token.as_ref().map(|t| t.expose())),
            token_hash: None,
            auth: caller.map(|c| c.1),
            mount,
            background: None,
        };
        if let Err(e) = self.audit.log_request(&rec, Some(err)).await {
            tracing::error!(error = %e, "could not audit a refused request");
        }
    }

    /// Routes the request and settles POST/PUT into create or update (the existence check).
    async fn resolve(
        &self,
        req: &mut Request,
        router: &crate::mount::Router,
    ) -> Result<(Target, Option<Arc<crate::mount::MountEntry>>)> {
        if let Some(rel) = req
            .path
            .strip_prefix("auth/token/")
            .or((req.path == "auth/token").then_some(""))
        {
            return Ok((Target::Token(rel.to_string()), None));
        }
        let Some((route, rel)) = router.route(&req.path) else {
            return Ok((Target::Nowhere, None));
        };
        let mount = Some(route.entry.clone());
        let Some(engine) = route.engine.clone() else {
            return Ok((Target::Sys(rel.to_string()), mount));
        };
        let mut ereq = EngineRequest {
            operation: req.operation,
            path: rel.to_string(),
            data: std::mem::take(&mut req.data),
            view: route.view.clone(),
            mount: route.entry.clone(),
        };
        if req.operation.is_write() {
            let exists = engine.exists(&ereq).await;
            let exists = match exists {
                Ok(e) => e,
                Err(e) => {
                    // Keep the data with the request, for its audit entry.
                    req.data = ereq.data;
                    return Err(e);
                }
            };
            ereq.operation = match exists {
                Some(false) => Operation::Create,
                Some(true) | None => Operation::Update,
            };
            req.operation = ereq.operation;
        }
        Ok((Target::Engine(ereq, engine), mount))
    }

    /// Runs a request through the pipeline. Every request that reaches it gets a request
    /// entry (a refusal records its error) and, once dispatched, a response entry; a response
    /// whose entry cannot be written is not sent.
    pub(crate) async fn handle(&self, mut req: Request) -> Result<Option<Response>> {
        let caller = match self.authenticate(&mut req).await {
            Ok(c) => c,
            Err(e) => {
                self.audit_refused(&req, &req.data, None, None, &e).await;
                return Err(e);
            }
        };
        let router = self.router.load_full();
        let (target, mount) = match self.resolve(&mut req, &router).await {
            Ok(t) => t,
            Err(e) => {
                let who = Some((caller.token.expose(), &*caller.entry));
                self.audit_refused(&req, &req.data, who, None, &e).await;
                return Err(e);
            }
        };
        let op = req.operation;

        // sys/internal/ui/mounts/* is open to any token with some capability on the mount;
        // the handler checks that itself against the caller's ACL.
        let ui_mounts =
            matches!(&target, Target::Sys(rel) if rel.starts_with("internal/ui/mounts"));
        let data = match &target {
            Target::Engine(ereq, _) => &ereq.data,
            _ => &req.data,
        };
        let auth = match self.authorize(caller, op, &req.path, data, ui_mounts).await {
            Ok(a) => a,
            Err((e, caller)) => {
                let who = Some((caller.token.expose(), &*caller.entry));
                self.audit_refused(&req, data, who, mount.as_deref(), &e)
                    .await;
                return Err(e);
            }
        };

        let rec = AuditRecord {
            request_id: &req.id,
            operation: op,
            path: &req.path,
            data: Some(data),
            remote_addr: req.remote_addr.as_deref(),
            token: Some(auth.raw_token()),
            token_hash: Some(&auth.token_hash),
            auth: Some(&auth.token),
            mount: mount.as_deref(),
            background: None,
        };
        // Fail closed: nothing runs unless the request entry was written.
        let audited = self.audit.log_request(&rec, None).await?;
        let rec = AuditRecord {
            request_id: &req.id,
            operation: op,
            path: &req.path,
            data: None,
            remote_addr: req.remote_addr.as_deref(),
            token: Some(auth.raw_token()),
            token_hash: Some(&auth.token_hash),
            auth: Some(&auth.token),
            mount: mount.as_deref(),
            background: None,
        };

        // A limited-use token spends one use per authorized request; the last use revokes it
        // once the request is done.
        let mut revoke_after = false;
        let result = match self.spend_use(&auth).await {
            Ok(last) => {
                revoke_after = last;
                self.dispatch(target, &req, &auth, audited).await
            }
            Err(e) => Err(e),
        };

        let logged = self.audit.log_response(&rec, &result).await;
        if revoke_after && let Err(e) = self.tokens.revoke_tree(&auth.token_hash).await {
            tracing::warn!(error = %e, "could not revoke a used-up token");
        }
        logged?;
        result
    }

    /// Counts one use of a limited-use token; `true` when it was the last one. A token used
    /// up concurrently is refused.
    async fn spend_use(&self, auth: &Authorized) -> Result<bool> {
        if auth.token.num_uses <= 0 {
            return Ok(false);
        }
        match self.tokens.use_once(&auth.token_hash).await? {
            None => Err(Error::PermissionDenied),
            Some(left) => Ok(left == 0),
        }
    }

    /// Sends an authorized, audited request to its handler.
    async fn dispatch(
        &self,
        target: Target,
        req: &Request,
        auth: &Authorized,
        _audited: Audited,
    ) -> Result<Option<Response>> {
        match target {
            Target::Nowhere => Err(Error::NoHandler(req.path.clone())),
            Target::Sys(rel) => sys::handle(self, &rel, req.operation, &req.data, auth).await,
            Target::Token(rel) => {
                auth_token::handle(self, &rel, req.operation, &req.data, auth).await
            }
            Target::Engine(ereq, engine) => engine.handle(ereq).await,
        }
    }
}
