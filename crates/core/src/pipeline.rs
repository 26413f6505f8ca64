//! The one request pipeline: route (mount, then the backend's route table) → authenticate
//! (unless the path is unauthenticated) → settle create/update → authorize (ACL + sudo, as the
//! table declares) → audit → count the token use → check the operation and fields → dispatch.
//! Every backend, `sys/` and `auth/token/` included, is reached the same way, only through
//! [`Unsealed::handle`], and dispatch requires an [`Authorized`] proof that only
//! [`Unsealed::authorize`] can mint.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::audit::{AuditRecord, Audited};
use crate::core::Unsealed;
use crate::engines::{self, Engine, EngineRequest};
use crate::error::{Error, Result};
use crate::events::Outcome;
use crate::mount::{MountEntry, Router};
use crate::namespace::Tenant;
use crate::policy::{Acl, Op};
use crate::request::{Operation, Request, Response};
use crate::route::{PathClass, help_response};
use crate::system::Ctx;
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
    /// The requested path is root-protected.
    path_needs_sudo: bool,
    /// The namespace the token belongs to (the request's, or an ancestor of it).
    pub(crate) token_tenant: Arc<Tenant>,
    /// The request's namespace relative to the token's (`""` when the same, `team-a/` for a
    /// root token in `team-a`): the token's policies name paths from its own namespace.
    acl_prefix: String,
}

impl Authorized {
    /// Checks `op` on another spelling of the requested path. Handlers that canonicalize a
    /// name taken from the path (lower-casing a policy name, trimming slashes off a mount
    /// path) call this with the canonical path when it differs from the requested one, so a
    /// rule written for the canonical path (say a `deny`) cannot be sidestepped by spelling it
    /// differently. The canonical path is the same route, so it needs `sudo` when the
    /// requested one did.
    pub(crate) fn also_allows(&self, op: Operation, path: &str) -> Result<()> {
        if self.token.is_root() {
            return Ok(());
        }
        let decision = self
            .acl
            .check(acl_op(op), &self.acl_path(path), &Map::new());
        if !decision.allowed || (self.path_needs_sudo && !decision.sudo) {
            return Err(Error::PermissionDenied);
        }
        Ok(())
    }

    /// A path of the request's namespace as the token's policies name it.
    pub(crate) fn acl_path<'p>(&self, path: &'p str) -> std::borrow::Cow<'p, str> {
        if self.acl_prefix.is_empty() {
            std::borrow::Cow::Borrowed(path)
        } else {
            std::borrow::Cow::Owned(format!("{}{path}", self.acl_prefix))
        }
    }

    /// The caller's token string (for `lookup-self`).
    pub(crate) fn raw_token(&self) -> &str {
        self.raw_token.expose()
    }
}

fn acl_op(op: Operation) -> Op {
    match op {
        Operation::Read => Op::Read,
        Operation::List => Op::List,
        Operation::Create => Op::Create,
        Operation::Update => Op::Update,
        Operation::Delete => Op::Delete,
        Operation::Patch => Op::Patch,
        // Never checked against rules: help is open to every valid token (Vault's rule).
        Operation::Help => Op::Read,
    }
}

/// Where a request goes once authorized.
enum Target {
    /// No mount serves the path.
    Nowhere,
    /// A mount serves it but declares no such path (`rel` is relative to the mount).
    Unmatched(Arc<dyn Engine>, String),
    /// A declared path of a backend.
    Backend(EngineRequest, Arc<dyn Engine>),
    /// A login path of an auth method, served through its login seam.
    Login(EngineRequest, Arc<dyn Engine>),
}

/// A routed request: where it goes and what its path declares.
struct Resolved {
    target: Target,
    mount: Option<Arc<MountEntry>>,
    class: PathClass,
    /// The path needs `sudo` (its spec says so, or it is reserved as root-protected).
    sudo: bool,
    /// Its writes change nothing stored ([`crate::route::PathMeta::changes_nothing`]).
    changes_nothing: bool,
}

impl Resolved {
    /// Whether a standby serves the request itself: reads do, and writes that change
    /// nothing stored. A read that turns out to write (a token's last use) is refused by
    /// the storage when it tries, before anything was written, and goes to the active node
    /// the same way.
    fn served_on_standby(&self, op: Operation) -> bool {
        matches!(op, Operation::Read | Operation::List | Operation::Help) || self.changes_nothing
    }

    /// The request's fields: moved into the backend's request once routed there.
    fn data<'a>(&'a self, req: &'a Request) -> &'a Map<String, Value> {
        match &self.target {
            Target::Backend(ereq, _) | Target::Login(ereq, _) => &ereq.data,
            _ => &req.data,
        }
    }
}

/// The audit record of an admitted request (`data` for the request entry, `None` for the
/// response entry).
fn record<'a>(
    req: &'a Request,
    tenant: &'a Tenant,
    auth: Option<&'a Authorized>,
    mount: Option<&'a MountEntry>,
    data: Option<&'a Map<String, Value>>,
) -> AuditRecord<'a> {
    AuditRecord {
        request_id: &req.id,
        operation: req.operation,
        path: &req.path,
        data,
        remote_addr: req.remote_addr.as_deref(),
        token: auth.map(Authorized::raw_token),
        token_hash: auth.map(|a| &a.token_hash),
        auth: auth.map(|a| &*a.token),
        mount,
        namespace: Some(&tenant.ns),
        background: None,
    }
}

/// An authenticated caller, not yet authorized.
struct Caller {
    token: crate::request::ClientToken,
    hash: [u8; 32],
    entry: Arc<TokenEntry>,
    /// The namespace whose token store holds the token.
    tenant: Arc<Tenant>,
}

impl Unsealed {
    /// Finds the mount and the declared path serving the request. Pure: no storage access,
    /// so it can run before authentication (which it must, to know whether the path needs a
    /// token at all).
    fn route(&self, req: &mut Request, router: &Router, in_root: bool) -> Resolved {
        let Some((route, rel)) = router.route(&req.path) else {
            return Resolved {
                target: Target::Nowhere,
                mount: None,
                class: PathClass::Authenticated,
                sudo: false,
                changes_nothing: false,
            };
        };
        let routes = route.engine.routes();
        // A server-wide path is not there at all outside the root namespace.
        let matched = routes
            .find(rel)
            .filter(|m| in_root || !routes.meta(m).root_namespace_only);
        let sudo = routes.needs_sudo(rel, matched.as_ref());
        let class = matched
            .as_ref()
            .map_or(PathClass::Authenticated, |m| routes.meta(m).class);
        let changes_nothing = matched
            .as_ref()
            .is_some_and(|m| routes.meta(m).changes_nothing);
        let target = match matched {
            Some(matched) => {
                let ereq = EngineRequest {
                    operation: req.operation,
                    path: rel.to_string(),
                    data: std::mem::take(&mut req.data),
                    view: route.view.clone(),
                    mount: route.entry.clone(),
                    matched,
                };
                if class == PathClass::Login {
                    Target::Login(ereq, route.engine.clone())
                } else {
                    Target::Backend(ereq, route.engine.clone())
                }
            }
            None => Target::Unmatched(route.engine.clone(), rel.to_string()),
        };
        Resolved {
            target,
            mount: Some(route.entry.clone()),
            class,
            sudo,
            changes_nothing,
        }
    }

    /// Resolves the caller's token; a missing, unknown, expired or used-up token is a 403. On
    /// success the token moves out of the request into the [`Caller`].
    ///
    /// The token's suffix names the namespace that holds it (none: the root). That namespace
    /// must be the request's or an ancestor of it: a token never reaches a sibling's or a
    /// parent's paths.
    async fn authenticate(&self, req: &mut Request, tenant: &Arc<Tenant>) -> Result<Caller> {
        let Some(token) = req.token.as_ref().filter(|t| !t.expose().is_empty()) else {
            return Err(Error::PermissionDenied);
        };
        let holder = self.namespaces.of_token(token.expose());
        if !holder.contains(tenant) {
            return Err(Error::PermissionDenied);
        }
        let hash = holder.tokens.hash(token.expose());
        let entry = self
            .namespaces
            .lookup_token(&holder, &hash)
            .await?
            .ok_or(Error::PermissionDenied)?;
        if entry.num_uses < 0
            || !crate::auth::login::token_allows(&entry, req.remote_addr.as_deref())
            || !(entry.mount_accessor.is_empty()
                || holder
                    .router
                    .load()
                    .auth_mount(&entry.mount_accessor)
                    .is_some())
        {
            return Err(Error::PermissionDenied);
        }
        let token = req.token.take().ok_or(Error::PermissionDenied)?;
        Ok(Caller {
            token,
            hash,
            entry,
            tenant: holder,
        })
    }

    /// Checks the token's policies for `op` on `path`, and `sudo` where the path needs it.
    /// Help is open to every valid token; an unauthenticated path skips the rules (its
    /// handler decides, knowing the caller). A refusal hands the caller back, for its audit entry.
    async fn authorize(
        &self,
        caller: Caller,
        tenant: &Tenant,
        op: Operation,
        path: &str,
        data: &Map<String, Value>,
        resolved: &Resolved,
    ) -> std::result::Result<Authorized, (Error, Caller)> {
        let identity = (!caller.entry.entity_id.is_empty())
            .then(|| caller.tenant.identity.resolve(&caller.entry.entity_id))
            .flatten();
        if identity.as_ref().is_some_and(|r| r.entity.disabled) {
            return Err((Error::PermissionDenied, caller));
        }
        let acl = match &identity {
            Some(r) => {
                caller
                    .tenant
                    .policies
                    .acl_for_entity(&caller.entry.policies, r)
                    .await
            }
            None => caller.tenant.policies.acl_for(&caller.entry.policies).await,
        };
        let acl = match acl {
            Ok(acl) => acl,
            Err(e) => return Err((e, caller)),
        };
        let acl_prefix = tenant
            .ns
            .path
            .strip_prefix(&caller.tenant.ns.path)
            .unwrap_or_default()
            .to_string();
        let sudo = if op == Operation::Help || resolved.class == PathClass::Unauthenticated {
            caller.entry.is_root()
        } else {
            let full;
            let acl_path = if acl_prefix.is_empty() {
                path
            } else {
                full = format!("{acl_prefix}{path}");
                &full
            };
            let decision = acl.check(acl_op(op), acl_path, data);
            if !decision.allowed || (resolved.sudo && !decision.sudo) {
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
            path_needs_sudo: resolved.sudo,
            token_tenant: caller.tenant,
            acl_prefix,
        })
    }

    /// Logs a request that was refused before dispatch (authentication, the existence check
    /// or the ACL). The request fails either way, so an audit failure here only gets logged.
    async fn audit_refused(
        &self,
        req: &Request,
        tenant: Option<&Tenant>,
        data: &Map<String, Value>,
        caller: Option<&Caller>,
        mount: Option<&MountEntry>,
        err: &Error,
    ) {
        let rec = AuditRecord {
            request_id: &req.id,
            operation: req.operation,
            path: &req.path,
            data: Some(data),
            remote_addr: req.remote_addr.as_deref(),
            token: caller
                .map(|c| c.token.expose())
                .or(req.token.as_ref().map(|t| t.expose())),
            token_hash: None,
            auth: caller.map(|c| &*c.entry),
            mount,
            namespace: tenant.map(|t| &t.ns),
            background: None,
        };
        if let Err(e) = self.audit.log_request(&rec, Some(err)).await {
            tracing::error!(error = %e, "could not audit a refused request");
        }
    }

    /// Authenticates (where the path needs a token), settles POST/PUT into create or update
    /// with the path's existence check, and authorizes. `Ok(None)`: an unauthenticated path
    /// called without a token.
    async fn admit(
        &self,
        req: &mut Request,
        tenant: &Arc<Tenant>,
        resolved: &mut Resolved,
    ) -> std::result::Result<Option<Authorized>, (Error, Option<Caller>)> {
        if resolved.class == PathClass::Login {
            // Ignored, not checked: a client logging in again still sends its old token.
            req.token = None;
            return Ok(None);
        }
        let anonymous = req.token.as_ref().is_none_or(|t| t.expose().is_empty());
        if resolved.class == PathClass::Unauthenticated && anonymous {
            return Ok(None);
        }
        let caller = self
            .authenticate(req, tenant)
            .await
            .map_err(|e| (e, None))?;
        if let Target::Backend(ereq, engine) = &mut resolved.target {
            match engines::settle(&**engine, ereq).await {
                Ok(()) => req.operation = ereq.operation,
                Err(e) => return Err((e, Some(caller))),
            }
        }
        let data = resolved.data(req);
        self.authorize(caller, tenant, req.operation, &req.path, data, resolved)
            .await
            .map(Some)
            .map_err(|(e, c)| (e, Some(c)))
    }

    /// Runs a request through the pipeline. Every request that reaches it gets a request
    /// entry (a refusal records its error) and, once dispatched, a response entry; a response
    /// whose entry cannot be written is not sent.
    pub(crate) async fn handle(&self, mut req: Request) -> Result<Option<Response>> {
        let started = std::time::Instant::now();
        let tenant = match self.namespaces.resolve(&req.namespace, &req.path) {
            Ok(resolution) => {
                req.path = resolution.path;
                resolution.tenant
            }
            Err(e) => {
                self.audit_refused(&req, None, &req.data, None, None, &e)
                    .await;
                return Err(e);
            }
        };
        let tenant = self.token_namespace(&req).unwrap_or(tenant);
        let router = tenant.router.load_full();
        let mut resolved = self.route(&mut req, &router, tenant.ns.is_root());
        // What a standby does not serve goes to the active node (the server sends it on),
        // before anything here authenticates or audits it: the active node does both.
        if !resolved.served_on_standby(req.operation) && !self.is_active_node() {
            return Err(Error::standby());
        }
        // Before authentication, so a flood is turned away cheaply. Not audited (OpenBao's
        // default): a flood of refusals would otherwise be a flood of audit entries.
        self.check_quota(&req, &tenant, &resolved)?;
        let auth = match self.admit(&mut req, &tenant, &mut resolved).await {
            Ok(auth) => auth,
            Err((e, caller)) => {
                let data = resolved.data(&req);
                let mount = resolved.mount.as_deref();
                self.audit_refused(&req, Some(&tenant), data, caller.as_ref(), mount, &e)
                    .await;
                let identity = caller.as_ref().map(|c| &*c.entry);
                let outcome = Outcome::of_error(e.kind());
                self.publish(&req, &tenant, mount, identity, (outcome, false), started);
                return Err(e);
            }
        };
        let mount = resolved.mount.clone();
        // Fail closed: nothing runs unless the request entry was written.
        let data = Some(resolved.data(&req));
        let audited = self
            .audit
            .log_request(
                &record(&req, &tenant, auth.as_ref(), mount.as_deref(), data),
                None,
            )
            .await?;

        // A limited-use token spends one use per authorized request; the last use revokes it
        // once the request is done.
        let mut revoke_after = false;
        let result = match self.spend_use(auth.as_ref()).await {
            Ok(last) => {
                revoke_after = last;
                self.dispatch(
                    resolved.target,
                    &req,
                    &tenant,
                    mount.as_deref(),
                    auth.as_ref(),
                    audited,
                )
                .await
            }
            Err(e) => Err(e),
        };

        let response_record = record(&req, &tenant, auth.as_ref(), mount.as_deref(), None);
        let logged = self.audit.log_response(&response_record, &result).await;
        if revoke_after
            && let Some(auth) = &auth
            && let Err(e) = self
                .namespaces
                .revoke_token_tree(&auth.token_tenant, &auth.token_hash)
                .await
        {
            tracing::warn!(error = %e, "could not revoke a used-up token");
        }
        logged?;
        let token = auth.as_ref().map(|a| &*a.token);
        let outcome = match &result {
            // A read that finds nothing is answered 404.
            Ok(None) if matches!(req.operation, Operation::Read | Operation::List) => {
                Outcome::ClientError
            }
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::of_error(e.kind()),
        };
        let critical = matches!(&result, Ok(Some(r)) if r.critical);
        self.publish(
            &req,
            &tenant,
            mount.as_deref(),
            token,
            (outcome, critical),
            started,
        );
        result
    }

    /// Publishes the request's event ([`crate::events`]), once its entries are written.
    fn publish(
        &self,
        req: &Request,
        tenant: &Tenant,
        mount: Option<&MountEntry>,
        token: Option<&TokenEntry>,
        (outcome, critical): (Outcome, bool),
        started: std::time::Instant,
    ) {
        use crate::events::{Event, EventKind};
        let events = self.audit.events();
        if !events.has_subscribers() {
            return;
        }
        let identity = token.map(|t| {
            if t.entity_id.is_empty() {
                t.display_name.clone()
            } else {
                t.entity_id.clone()
            }
        });
        events.publish(Event {
            time_unix_nanos: self.barrier.clock().now_unix_nanos(),
            namespace: tenant.ns.path.clone(),
            mount: mount.map(|m| m.path.clone()).unwrap_or_default(),
            path: req.path.clone(),
            identity,
            remote_addr: req.remote_addr.clone(),
            outcome,
            critical,
            kind: EventKind::Request {
                operation: req.operation,
                mount_type: mount.map(|m| m.kind.clone()).unwrap_or_default(),
                duration_nanos: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            },
        });
    }

    /// The namespace a token path is served in when it is not the request's, as OpenBao
    /// routes them: the `-self` paths concern the caller's token, so they go to the token's
    /// namespace wherever they are sent; `lookup`, `renew`, `revoke` and `revoke-orphan` go to
    /// the namespace of the token they name. The ACL still decides, from the caller's
    /// namespace (which must contain the one chosen here).
    fn token_namespace(&self, req: &Request) -> Option<Arc<Tenant>> {
        match req.path.as_str() {
            "auth/token/lookup-self" | "auth/token/renew-self" | "auth/token/revoke-self" => req
                .token
                .as_ref()
                .filter(|t| !t.expose().is_empty())
                .map(|t| self.namespaces.of_token(t.expose())),
            // A token without a namespace suffix leaves the request where it is (OpenBao).
            "auth/token/lookup"
            | "auth/token/renew"
            | "auth/token/revoke"
            | "auth/token/revoke-orphan" => req
                .data
                .get("token")
                .and_then(Value::as_str)
                .and_then(|t| t.rsplit_once('.'))
                .and_then(|(_, id)| self.namespaces.by_id(id)),
            _ => None,
        }
    }

    /// Applies the request's rate-limit rule, if any. `sys/quotas/` is exempt, so a quota can
    /// always be fixed.
    fn check_quota(&self, req: &Request, tenant: &Tenant, resolved: &Resolved) -> Result<()> {
        let mount = resolved.mount.as_deref().map_or("", |m| m.path.as_str());
        let rel = match &resolved.target {
            Target::Backend(ereq, _) | Target::Login(ereq, _) => ereq.path.as_str(),
            Target::Unmatched(_, rel) => rel.as_str(),
            Target::Nowhere => req.path.as_str(),
        };
        if mount == "sys/" && rel.starts_with("quotas/") {
            return Ok(());
        }
        let target = crate::quota::Target {
            namespace: &tenant.ns.path,
            mount,
            rel,
        };
        let client = req.remote_addr.as_deref().unwrap_or("");
        self.quotas
            .check(&target, client, self.barrier.clock().now_unix_nanos())
    }

    /// Counts one use of a limited-use token; `true` when it was the last one. A token used
    /// up concurrently is refused.
    async fn spend_use(&self, auth: Option<&Authorized>) -> Result<bool> {
        let Some(auth) = auth.filter(|a| a.token.num_uses > 0) else {
            return Ok(false);
        };
        match auth.token_tenant.tokens.use_once(&auth.token_hash).await? {
            None => Err(Error::PermissionDenied),
            Some(left) => Ok(left == 0),
        }
    }

    /// Sends an authorized, audited request to its backend (or answers its help).
    async fn dispatch(
        &self,
        target: Target,
        req: &Request,
        tenant: &Arc<Tenant>,
        mount: Option<&MountEntry>,
        auth: Option<&Authorized>,
        _audited: Audited,
    ) -> Result<Option<Response>> {
        if req.operation == Operation::Help {
            let (engine, rel, matched) = match &target {
                Target::Nowhere => return Err(Error::NoHandler(req.path.clone())),
                Target::Unmatched(engine, rel) => (engine, rel.as_str(), None),
                Target::Backend(ereq, engine) | Target::Login(ereq, engine) => {
                    (engine, ereq.path.as_str(), Some(&ereq.matched))
                }
            };
            let mount_path = mount.map_or("", |m| m.path.as_str());
            return help_response(engine.routes(), mount_path, rel, matched)
                .map(|help| Some(Response::with_data(help)))
                .ok_or(Error::UnsupportedPath);
        }
        match target {
            Target::Nowhere => Err(Error::NoHandler(req.path.clone())),
            Target::Unmatched(..) => Err(Error::UnsupportedPath),
            Target::Login(ereq, engine) => {
                crate::auth::login::run(
                    self,
                    tenant,
                    &*engine,
                    ereq,
                    req.remote_addr.as_deref(),
                    &req.mfa,
                )
                .await
            }
            Target::Backend(ereq, engine) => {
                let view = ereq.view.clone();
                let mut resp =
                    engines::serve(&*engine, ereq, &Ctx::new(self, tenant, auth)).await?;
                if let (Some(r), Some(mount)) = (resp.as_mut(), mount)
                    && r.lease.is_some()
                {
                    let holder = auth.map(|a| crate::leases::Holder {
                        namespace_id: &a.token_tenant.ns.id,
                        token_hash: &a.token_hash,
                        token_expire: a.token.expire_time,
                    });
                    let issuer = crate::leases::Issuer {
                        engine: &*engine,
                        view: &view,
                        mount,
                    };
                    let now = self.barrier.clock().now_unix_secs();
                    crate::leases::attach(tenant, &issuer, &req.path, holder.as_ref(), r, now)
                        .await?;
                }
                Ok(resp)
            }
        }
    }
}
