//! A login, from the pipeline's side: lockout, the method's credential check, the bound
//! CIDRs, then a token minted with the user's or role's settings inside the mount's TTLs.
//! Login tokens are orphans of the login's namespace, as in Vault.

use std::net::IpAddr;
use std::sync::Arc;

use super::lockout::Counted;
use super::token_params::{TokenParams, normalize_policies};
use super::{Login, cidr};
use crate::audit::BackgroundChange;
use crate::core::Unsealed;
use crate::engines::{Engine, EngineRequest};
use crate::error::{Error, Result};
use crate::mount::MountEntry;
use crate::namespace::Tenant;
use crate::request::{Operation, Response};
use crate::token::{SYSTEM_MAX_TTL, TokenEntry, TokenStore};

/// Runs a login request the pipeline routed to `method`'s login path (already audited).
pub(crate) async fn run(
    unsealed: &Unsealed,
    tenant: &Arc<Tenant>,
    engine: &dyn Engine,
    req: EngineRequest,
    remote: Option<&str>,
    mfa: &[zeroize::Zeroizing<String>],
) -> Result<Option<Response>> {
    let method = engine.auth_method().ok_or(Error::UnsupportedPath)?;
    let unknown = engine
        .routes()
        .meta(&req.matched)
        .check(req.operation, &req.data)?;
    let client: Option<IpAddr> = remote.and_then(|r| r.parse().ok());
    let mount = req.mount.clone();
    let lockout = mount.config.user_lockout.clone().unwrap_or_default();
    let name = method.lockout_name(&req).filter(|_| !lockout.disable);
    let now = unsealed.barrier.clock().now_unix_secs();
    if let Some(name) = &name
        && tenant
            .lockouts
            .is_locked(&mount.accessor, name, &lockout, now)
    {
        // The same answer whether the credentials were right or not.
        return Err(Error::PermissionDenied);
    }
    let login = match method.login(&req, client).await {
        Ok(login) => login,
        Err(Error::InvalidCredentials(msg)) => {
            if let Some(name) = &name
                && tenant
                    .lockouts
                    .fail(&mount.accessor, name, &lockout, now)
                    .await?
                    == Counted::Locked
            {
                audit_lock(tenant, &mount, name).await;
            }
            return Err(Error::InvalidRequest(msg));
        }
        Err(e) => return Err(e),
    };
    if let Some(name) = &name {
        tenant.lockouts.succeeded(&mount.accessor, name);
    }
    let entity = tenant
        .identity
        .entity_for_login(
            &mount.accessor,
            &mount.kind,
            &mount.path,
            &login.alias_name,
            unsealed.barrier.clock().now_unix_nanos(),
        )
        .await?;
    if entity.disabled {
        return Err(Error::PermissionDeniedMsg("entity is disabled".into()));
    }
    let path = format!("{}{}", mount.path, req.path);
    let groups: Vec<String> = tenant
        .identity
        .resolve(&entity.id)
        .map(|r| r.groups.iter().map(|g| g.id.clone()).collect())
        .unwrap_or_default();
    let constraints = tenant.mfa.constraints(&mount, &entity.id, &groups);
    if !constraints.is_empty() {
        if mfa.is_empty() {
            // Two phases: the login waits for `sys/mfa/validate`.
            let id = tenant.mfa.park(
                mount,
                path,
                login,
                entity.id.clone(),
                constraints.clone(),
                now,
            );
            return Ok(Some(crate::mfa::requirement_response(&id, &constraints)));
        }
        let payload = crate::mfa::payload_from_headers(&tenant.mfa, mfa)?;
        tenant
            .mfa
            .satisfy(&constraints, &entity.id, &payload, now)
            .await?;
    }
    let mut resp = finish(tenant, &mount, &path, login, &entity.id, now).await?;
    if !unknown.is_empty() {
        resp.warnings
            .push(crate::route::ignored_fields_warning(&unknown));
    }
    Ok(Some(resp))
}

/// Records the moment a name was locked (the failed login itself has its own entries).
async fn audit_lock(tenant: &Tenant, mount: &MountEntry, name: &str) {
    let path = format!("sys/locked-users/{}/lock/{name}", mount.accessor);
    let change = BackgroundChange {
        job: "user-lockout",
        operation: Operation::Update,
        path: &path,
        mount: Some(mount),
        data: None,
    };
    if let Err(e) = tenant.background.record(&change, async { Ok(()) }).await {
        tracing::error!(error = %e, "could not audit a user lockout");
    }
    tracing::warn!(mount = %mount.path, "login locked after repeated failures");
}

/// The type of a login token: the user's or role's, unless the mount forces one.
fn token_type(params: &TokenParams, mount: &MountEntry) -> &'static str {
    let mount_type = mount.config.token_type.as_str();
    match (mount_type, params.token_type.as_str()) {
        ("service", _) => "service",
        ("batch", _) => "batch",
        (_, "service") => "service",
        (_, "batch") => "batch",
        ("default-batch", _) | (_, "default-batch") => "batch",
        _ => "service",
    }
}

/// Mints the token of a login whose credentials (and MFA) were checked, in the namespace's
/// store, and answers its `auth` block.
pub(crate) async fn finish(
    tenant: &Tenant,
    mount: &MountEntry,
    path: &str,
    login: Login,
    entity_id: &str,
    now: i64,
) -> Result<Response> {
    let params = login.token;
    let mut warnings = Vec::new();
    let mut policies = params.policies.clone();
    if !params.no_default_policy {
        policies.push("default".into());
    }
    let policies = normalize_policies(policies);
    let batch = token_type(&params, mount) == "batch";
    let mount_max = mount.max_lease_ttl().min(SYSTEM_MAX_TTL);
    let mut max = if params.max_ttl > 0 {
        params.max_ttl
    } else {
        mount_max
    };
    if max > mount_max {
        warnings.push(format!(
            "token_max_ttl of {max}s is greater than the mount's max TTL of {mount_max}s; capped"
        ));
        max = mount_max;
    }
    let mut ttl = if params.period > 0 {
        params.period
    } else if params.ttl > 0 {
        params.ttl
    } else {
        mount.default_lease_ttl()
    };
    if params.period == 0 && ttl > max {
        ttl = max;
    }
    if params.explicit_max_ttl > 0 && ttl > params.explicit_max_ttl {
        ttl = params.explicit_max_ttl;
    }
    let token = tenant.tokens.new_token(batch, None)?;
    let entry = TokenEntry {
        id_hash: String::new(),
        accessor: if batch {
            String::new()
        } else {
            TokenStore::new_accessor()?
        },
        policies,
        path: path.to_string(),
        display_name: display_name(mount, &login.display_name),
        creation_time: now,
        creation_ttl: ttl,
        expire_time: Some(now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))),
        explicit_max_ttl: params.explicit_max_ttl,
        max_ttl: if params.period > 0 { 0 } else { max },
        mount_accessor: mount.accessor.clone(),
        entity_id: entity_id.to_string(),
        period: params.period,
        num_uses: params.num_uses,
        renewable: !batch,
        meta: login.metadata,
        parent: None,
        parent_namespace: None,
        token_type: if batch { "batch" } else { "service" }.into(),
        role: None,
        last_renewal_time: None,
        bound_cidrs: params.bound_cidrs,
    };
    let entry = tenant.tokens.create(&token, entry).await?;
    let mut resp = crate::system::auth_response(now, &entry, &token, tenant);
    resp.warnings = warnings;
    Ok(resp)
}

/// A login token's display name, as Vault makes it: the mount's path below `auth/` with `/`
/// as `-`, then the method's name for the caller (`auth/team/up/` and `alice`: `team-up-alice`).
fn display_name(mount: &MountEntry, name: &str) -> String {
    let source = mount
        .path
        .strip_prefix("auth/")
        .unwrap_or(&mount.path)
        .replace('/', "-");
    let source = source.trim_end_matches('-');
    if name.is_empty() {
        source.to_string()
    } else {
        format!("{source}-{name}")
    }
}

/// Whether a token bound to CIDRs may be used by `client` (see [`cidr::allows`]).
pub(crate) fn token_allows(entry: &TokenEntry, remote: Option<&str>) -> bool {
    entry.bound_cidrs.is_empty()
        || cidr::allows(
            &cidr::from_stored(&entry.bound_cidrs),
            remote.and_then(|r| r.parse().ok()),
        )
}
