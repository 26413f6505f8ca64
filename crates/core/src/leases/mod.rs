//! Leases: the lifetime of the dynamic secrets engines hand out (a database user that exists
//! for an hour), the one seam every such engine plugs into.
//!
//! An engine's response asks for a lease with [`NewLease`] (TTL, max TTL, renewable, and what
//! it needs to revoke the secret later). The pipeline registers it ([`register`]) before the
//! response leaves: the response carries `lease_id`, `lease_duration` and `renewable` as
//! Vault's do, and if the lease cannot be stored the engine revokes the secret at once, so
//! nothing outlives its lease. A lease never outlives the token that asked for it (its max
//! expiry is capped by the token's), and revoking the token expires its leases at once.
//!
//! Revocation goes through the issuing engine ([`crate::engines::Engine::revoke_lease`]).
//! Expiry runs on the job runner: one job per namespace (kind [`crate::jobs::LEASE_EXPIRY`])
//! wakes at the earliest expiry, revokes what has expired and sleeps until the next one. A
//! revocation that fails is retried with backoff; after [`MAX_REVOKE_ATTEMPTS`] the lease is
//! marked irrevocable and stays until `revoke-force`, as in Vault.
//!
//! The store ([`store`]) reads nothing at unseal: lease state scales to any number of leases
//! without slowing unseal.

mod store;

pub(crate) use store::{LEASES_PREFIX, Lease, LeaseStore, TokenRef};

use async_trait::async_trait;
use futures_util::StreamExt as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::jobs::{self, JobRecord, JobTarget, Next};
use crate::namespace::Tenant;
use crate::system::Scope;

/// Failed revocations after which a lease is marked irrevocable.
pub(crate) const MAX_REVOKE_ATTEMPTS: u32 = 6;
/// Leases one expiry pass revokes at once.
const REVOKE_CONCURRENCY: usize = 64;
/// Most leases one expiry pass revokes; the rest wait for the next pass (a second later).
const EXPIRY_LIMIT: usize = 1_000;
/// The id of a namespace's lease-expiry job.
const EXPIRY_JOB: &str = "lease-expiry";

/// What an engine's response asks for: a lease on the secret it returns.
#[derive(Clone, Default)]
pub struct NewLease {
    /// Seconds until it expires unless renewed.
    pub ttl: u64,
    /// Seconds after issue no renewal goes past (0: only the token's expiry limits it).
    pub max_ttl: u64,
    /// Whether `sys/leases/renew` may extend it.
    pub renewable: bool,
    /// What the engine needs to revoke the secret (never a password: it is stored).
    pub internal: Map<String, Value>,
}

impl std::fmt::Debug for NewLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLease")
            .field("ttl", &self.ttl)
            .field("max_ttl", &self.max_ttl)
            .finish_non_exhaustive()
    }
}

/// The caller a lease is registered for.
pub(crate) struct Holder<'a> {
    /// The namespace holding the token.
    pub(crate) namespace_id: &'a str,
    pub(crate) token_hash: &'a [u8; 32],
    /// The token's expiry (Unix seconds), if it has one.
    pub(crate) token_expire: Option<i64>,
}

fn secs(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Stores a lease for the secret at `path` (the request path in its namespace, e.g.
/// `database/creds/app`) issued by the mount with uuid `mount`. Returns the lease written.
pub(crate) async fn register(
    tenant: &Tenant,
    mount: &str,
    path: &str,
    holder: Option<&Holder<'_>>,
    new: NewLease,
    now: i64,
) -> Result<Lease> {
    // 24 letters and digits, as OpenBao's lease ids end.
    let random = crate::generate::secret::alphanumeric(24)?;
    let id = format!("{}/{random}", path.trim_end_matches('/'));
    let mut max_expire = if new.max_ttl > 0 {
        now.saturating_add(secs(new.max_ttl))
    } else {
        i64::MAX
    };
    if let Some(t) = holder.and_then(|h| h.token_expire) {
        max_expire = max_expire.min(t);
    }
    let expire = now.saturating_add(secs(new.ttl)).min(max_expire);
    let lease = Lease {
        id,
        mount: mount.to_string(),
        issue_time: now,
        expire_time: expire,
        last_renewal: 0,
        ttl: new.ttl,
        max_expire,
        renewable: new.renewable,
        token: holder.map(|h| TokenRef {
            namespace: h.namespace_id.to_string(),
            hash: hex::encode(h.token_hash),
        }),
        internal: new.internal,
        ..Lease::default()
    };
    // The expiry job first: if the lease write then fails, the job wakes to nothing.
    schedule_expiry(tenant, expire).await?;
    let _guard = tenant.leases.lock(&lease.id).lock().await;
    tenant.leases.put(None, &lease).await?;
    Ok(lease)
}

/// The engine instance that issued a secret, to revoke it if its lease cannot be stored.
pub(crate) struct Issuer<'a> {
    pub(crate) engine: &'a dyn crate::engines::Engine,
    pub(crate) view: &'a crate::barrier::View,
    pub(crate) mount: &'a crate::mount::MountEntry,
}

/// Registers the lease `resp` asks for and puts its id, duration and renewability in the
/// response. If the lease cannot be stored, the engine revokes the secret before the error
/// goes back: nothing lives on without a lease.
pub(crate) async fn attach(
    tenant: &Tenant,
    issuer: &Issuer<'_>,
    path: &str,
    holder: Option<&Holder<'_>>,
    resp: &mut crate::request::Response,
    now: i64,
) -> Result<()> {
    let Some(new) = resp.lease.take() else {
        return Ok(());
    };
    let internal = new.internal.clone();
    match register(tenant, &issuer.mount.uuid, path, holder, new, now).await {
        Ok(lease) => {
            resp.lease_id = lease.id;
            resp.lease_duration = u64::try_from(lease.expire_time - now).unwrap_or(0);
            resp.renewable = lease.renewable;
            Ok(())
        }
        Err(e) => {
            let orphan = Lease {
                mount: issuer.mount.uuid.clone(),
                internal,
                ..Lease::default()
            };
            if let Err(undo) = issuer.engine.revoke_lease(&orphan, issuer.view).await {
                tracing::error!(error = %undo.public_message(), "a secret whose lease could not be stored could not be revoked either");
            }
            Err(e)
        }
    }
}

/// Makes the namespace's expiry job wake by `at`.
async fn schedule_expiry(tenant: &Tenant, at: i64) -> Result<()> {
    tenant
        .jobs
        .schedule(EXPIRY_JOB, jobs::LEASE_EXPIRY, JobTarget::default(), at, 0)
        .await
}

/// Revokes lease `id` through its engine and removes it. `force` removes it even when the
/// engine fails (`revoke-force`). Returns `false` when there is no such lease.
pub(crate) async fn revoke(scope: &Scope<'_>, id: &str, force: bool, now: i64) -> Result<bool> {
    revoke_when(scope, id, force, now, |_| true).await
}

/// [`revoke`] if `when` holds for the stored lease (read under its lock).
async fn revoke_when(
    scope: &Scope<'_>,
    id: &str,
    force: bool,
    now: i64,
    when: impl Fn(&Lease) -> bool,
) -> Result<bool> {
    let leases = &scope.tenant.leases;
    let _guard = leases.lock(id).lock().await;
    let Some(lease) = leases.get(id).await?.filter(|l| when(l)) else {
        return Ok(false);
    };
    match revoke_in_engine(scope, &lease).await {
        Ok(()) => {}
        Err(e) if force => {
            tracing::warn!(lease = %id, error = %e.public_message(), "lease force-revoked: its engine could not revoke it");
        }
        Err(e) => {
            record_failure(scope, lease, &e, now).await?;
            return Err(e);
        }
    }
    leases.remove(&lease).await?;
    Ok(true)
}

/// Asks the issuing engine to revoke `lease`. A lease whose mount is gone has nothing left
/// to revoke it through (disabling a mount revokes its leases first).
async fn revoke_in_engine(scope: &Scope<'_>, lease: &Lease) -> Result<()> {
    match crate::engines::find_route(scope, &lease.mount, |_| true) {
        Some(route) => route.engine.revoke_lease(lease, &route.view).await,
        None => Ok(()),
    }
}

/// Counts a failed revocation: the lease is retried after a backoff, or marked irrevocable.
async fn record_failure(scope: &Scope<'_>, lease: Lease, error: &Error, now: i64) -> Result<()> {
    let mut next = lease.clone();
    next.revoke_attempts = next.revoke_attempts.saturating_add(1);
    next.last_error = Some(error.public_message());
    if next.revoke_attempts >= MAX_REVOKE_ATTEMPTS {
        next.irrevocable = true;
        tracing::warn!(lease = %lease.id, "lease marked irrevocable after repeated revocation failures");
    } else {
        next.expire_time = now.saturating_add(jobs::backoff_secs(next.revoke_attempts));
        schedule_expiry(scope.tenant, next.expire_time).await?;
    }
    scope.tenant.leases.put(Some(&lease), &next).await
}

/// What a renewal answers.
pub(crate) struct Renewed {
    pub(crate) lease: Lease,
    /// Seconds until the renewed lease expires.
    pub(crate) duration: u64,
    pub(crate) warnings: Vec<String>,
}

/// Renews lease `id` by `increment` seconds (default: its TTL), within its max expiry.
pub(crate) async fn renew(
    scope: &Scope<'_>,
    id: &str,
    increment: Option<u64>,
    now: i64,
) -> Result<Renewed> {
    let leases = &scope.tenant.leases;
    let _guard = leases.lock(id).lock().await;
    let lease = leases
        .get(id)
        .await?
        .filter(|l| !l.irrevocable && l.expire_time > now)
        .ok_or_else(|| Error::invalid("lease not found or lease is not renewable"))?;
    if !lease.renewable {
        return Err(Error::invalid("lease is not renewable"));
    }
    let increment = increment.filter(|i| *i > 0).unwrap_or(lease.ttl);
    let wanted = now.saturating_add(secs(increment));
    let expire = wanted.min(lease.max_expire);
    let mut warnings = Vec::new();
    if expire < wanted {
        warnings.push(format!(
            "TTL of \"{increment}s\" exceeded the effective max_ttl of \"{}s\"; TTL value is capped accordingly",
            expire - now
        ));
    }
    if let Some(route) = crate::engines::find_route(scope, &lease.mount, |_| true) {
        route
            .engine
            .renew_lease(&lease, expire, &route.view)
            .await?;
    }
    let mut next = lease.clone();
    next.expire_time = expire;
    next.last_renewal = now;
    leases.put(Some(&lease), &next).await?;
    Ok(Renewed {
        lease: next,
        duration: u64::try_from(expire - now).unwrap_or(0),
        warnings,
    })
}

/// Revokes every lease below `prefix` (`revoke-prefix`, `revoke-force`, disabling a mount).
/// Stops at the first failure unless `force`. Returns how many were revoked.
pub(crate) async fn revoke_prefix(
    scope: &Scope<'_>,
    prefix: &str,
    force: bool,
    now: i64,
) -> Result<usize> {
    let mut revoked = 0;
    for id in scope.tenant.leases.with_prefix(prefix).await? {
        if revoke(scope, &id, force, now).await? {
            revoked += 1;
        }
    }
    Ok(revoked)
}

/// Expires now every lease of the tokens `hashes` of the namespace `token_namespace`, in it
/// and in every namespace below it (a token's leases live where it asked for them). The
/// expiry job revokes them within a second; the token's revocation does not wait on a
/// database.
pub(crate) async fn expire_of_tokens(
    tenants: &[std::sync::Arc<Tenant>],
    token_namespace: &Tenant,
    hashes: &[[u8; 32]],
    now: i64,
) -> Result<()> {
    let base = &token_namespace.ns.path;
    for tenant in tenants
        .iter()
        .filter(|t| t.ns.path.starts_with(base.as_str()))
    {
        let mut any = false;
        for hash in hashes {
            let token = TokenRef {
                namespace: token_namespace.ns.id.clone(),
                hash: hex::encode(hash),
            };
            for id in tenant.leases.of_token(&token).await? {
                let _guard = tenant.leases.lock(&id).lock().await;
                if let Some(lease) = tenant.leases.get(&id).await?
                    && !lease.irrevocable
                    && lease.expire_time > now
                {
                    let next = Lease {
                        expire_time: now,
                        ..lease.clone()
                    };
                    tenant.leases.put(Some(&lease), &next).await?;
                    any = true;
                }
            }
        }
        if any {
            schedule_expiry(tenant, now).await?;
        }
    }
    Ok(())
}

/// The handler of [`jobs::LEASE_EXPIRY`] jobs: revokes the namespace's expired leases.
pub(crate) struct LeaseExpiryJob;

#[async_trait]
impl jobs::Handler for LeaseExpiryJob {
    /// An expired credential is revoked as soon as it can be: never held back by pacing.
    fn paced(&self) -> bool {
        false
    }

    async fn run(&self, scope: &Scope<'_>, _job: &JobRecord, now: i64) -> Result<Next> {
        let ids = scope.tenant.leases.expired(now, EXPIRY_LIMIT).await?;
        let mut outcomes = futures_util::stream::iter(ids)
            .map(|id| async move { (revoke_expired(scope, &id, now).await, id) })
            .buffer_unordered(REVOKE_CONCURRENCY);
        while let Some((outcome, id)) = outcomes.next().await {
            if let Err(e) = outcome {
                tracing::warn!(lease = %id, error = %e.public_message(), "could not revoke an expired lease; retrying later");
            }
        }
        Ok(match scope.tenant.leases.next_expiry().await? {
            Some(at) => Next::At { wake: at, due: 0 },
            None => Next::Remove,
        })
    }
}

/// Revokes an expired lease as a background change of the `lease-expiry` job.
async fn revoke_expired(scope: &Scope<'_>, id: &str, now: i64) -> Result<()> {
    let path = format!("sys/leases/revoke/{id}");
    let change = crate::audit::BackgroundChange {
        job: EXPIRY_JOB,
        operation: crate::request::Operation::Update,
        path: &path,
        mount: None,
        data: None,
    };
    scope
        .tenant
        .background
        // Renewed since the expiry index was read: not expired any more.
        .record(
            &change,
            revoke_when(scope, id, false, now, |l| l.expire_time <= now),
        )
        .await
        .map(|_| ())
}
