//! The job runner: the one seam every periodic task of the core runs on (token tidy and
//! secret rotation now; lease expiry, audit checkpoints, backups and sync later).
//!
//! A job is a durable record in its namespace's [`JobStore`] with an index entry at the time
//! it wakes. A *pass* ([`Runner::run_due`]) reads, per namespace, the index entries up to the
//! clock's now (a range read: its cost follows what is due, not how many jobs exist) and runs
//! each job's [`Handler`]:
//!
//! 1. The attempt is recorded first (`attempt + 1`), so a crash in the middle of a run is
//!    counted and a job that keeps crashing the process backs off like one that fails.
//! 2. The handler does its work and says when to wake next ([`Next`]).
//! 3. Success resets the attempts and moves the index entry; failure keeps the due time,
//!    marks the job overdue once it is past due, and retries after a backoff (30 s doubling
//!    to an hour).
//!
//! **At most once per due time.** The runner may call a handler again for the same due time
//! (a crash between the handler's effect and step 3). Handlers therefore record "done for due
//! time T" in the same atomic commit as their effect and check it first; rotation keeps it in
//! the secret's metadata beside the new version. The runner alone cannot promise more without
//! a commit spanning the handler's storage and its own.
//!
//! **Time** comes from the core's [`Clock`](crate::clock::Clock), so tests move a
//! [`ManualClock`](crate::clock::ManualClock) and call [`Core::run_jobs`](crate::Core::run_jobs)
//! instead of waiting. A background task runs a pass every second of real time.
//!
//! **One node.** Passes run only where [`Unsealed::is_active_node`] holds: with several nodes
//! on one database, the active node alone runs jobs (standbys would otherwise rotate twice).

mod store;

use std::collections::HashSet;

use async_trait::async_trait;
use futures_util::StreamExt as _;

pub(crate) use store::{JOBS_PREFIX, JobRecord, JobStore, JobTarget};

use crate::core::Unsealed;
use crate::error::{Error, Result};
use crate::system::Scope;

/// Kind of the namespace's token tidy (expired tokens removed from storage).
pub(crate) const TOKEN_TIDY: &str = "token-tidy";
/// Kind of a KV v2 secret's rotation (see [`crate::rotation`]).
pub(crate) const KV_ROTATION: &str = "kv-rotation";
/// Kind of a transit key's automatic rotation.
pub(crate) const TRANSIT_ROTATION: &str = "transit-rotation";
/// Kind of a database static role's rotation.
pub(crate) const DB_STATIC_ROTATION: &str = "db-static-rotation";
/// Kind of a namespace's lease expiry (see [`crate::leases`]).
pub(crate) const LEASE_EXPIRY: &str = "lease-expiry";

/// How often expired tokens are removed from storage.
const TIDY_INTERVAL_SECS: i64 = 60;
/// Most jobs one pass runs per namespace; the rest wait for the next pass.
const PASS_LIMIT: usize = 1_000;
/// Jobs of one namespace run at once within a pass.
const CONCURRENCY: usize = 32;
/// The share of wall time a paced pass spends running jobs: after each group of
/// [`CONCURRENCY`] jobs it rests nine times as long as the group took, so a burst of due
/// rotations leaves the server's requests most of the machine (a rotation is a durable write
/// too: at a quarter of the time, KV writes measured 0.88-0.94x of alone; docs/ROTATION.md,
/// `coffre-bench scheduler`).
const PACED_SHARE: f64 = 0.1;
/// First retry delay after a failure; it doubles per attempt up to [`MAX_BACKOFF_SECS`].
const FIRST_BACKOFF_SECS: i64 = 30;
/// The longest retry delay: a failing job wakes no later than this after its last attempt.
pub(crate) const MAX_BACKOFF_SECS: i64 = 3_600;

/// What a handler says after a successful run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wake again at `wake` (Unix seconds); the work is next due at `due` (0: unknown).
    At {
        /// When the runner looks at the job again.
        wake: i64,
        /// When the work is due.
        due: i64,
    },
    /// Nothing left to do: the job is removed.
    Remove,
}

/// One kind of job.
#[async_trait]
pub(crate) trait Handler: Send + Sync {
    /// Runs `job` at `now` (Unix seconds). Must be idempotent per due time (see the module
    /// documentation): the runner may call it again after a crash.
    async fn run(&self, scope: &Scope<'_>, job: &JobRecord, now: i64) -> Result<Next>;

    /// Told after a failed attempt was recorded; `newly_overdue` is true once per due time,
    /// on the first failure at or after it.
    async fn failed(&self, scope: &Scope<'_>, job: &JobRecord, error: &Error, newly_overdue: bool) {
        let _ = (scope, job, error, newly_overdue);
    }

    /// Whether a paced pass rests after running this kind (see [`PACED_SHARE`]). Kinds that
    /// must not wait (revoking expired credentials) say no.
    fn paced(&self) -> bool {
        true
    }
}

fn handler(kind: &str) -> Option<&'static dyn Handler> {
    match kind {
        TOKEN_TIDY => Some(&TokenTidy),
        KV_ROTATION => Some(&crate::engines::KvRotationJob),
        TRANSIT_ROTATION => Some(&crate::engines::TransitRotationJob),
        LEASE_EXPIRY => Some(&crate::leases::LeaseExpiryJob),
        DB_STATIC_ROTATION => Some(&crate::engines::StaticRotationJob),
        _ => None,
    }
}

/// The id of the job of object `name` in the mount with uuid `mount_uuid`, for the kind
/// `prefix` (`kv`, `transit`, `dbs`). The name is hashed: ids are storage keys of one level,
/// and need not repeat an object's path.
pub(crate) fn object_job_id(prefix: &str, mount_uuid: &str, name: &str) -> String {
    let digest = coffre_crypto::sha256(name.as_bytes());
    format!("{prefix}-{mount_uuid}-{}", hex::encode(&digest[..16]))
}

/// The delay before retry `attempt` (1 = the first retry).
pub(crate) fn backoff_secs(attempt: u32) -> i64 {
    let doublings = attempt.saturating_sub(1).min(16);
    (FIRST_BACKOFF_SECS << doublings).min(MAX_BACKOFF_SECS)
}

/// How a pass spends its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Run every due job as fast as possible (explicit passes: tests, `Core::run_jobs`).
    FlatOut,
    /// Rest between groups of jobs so that running them takes at most a tenth of the wall
    /// time (the background tick); groups of kinds that are not paced (lease expiry) do not
    /// rest.
    Paced,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Jobs whose handler succeeded.
    pub succeeded: usize,
    /// Jobs whose handler failed (they retry after a backoff).
    pub failed: usize,
}

/// The unsealed core's runner: serializes passes (a background tick and an explicit
/// [`Core::run_jobs`](crate::Core::run_jobs) never run one job twice at once) and remembers
/// which namespaces have their recurring jobs.
#[derive(Default)]
pub(crate) struct Runner {
    /// Held for a whole pass; holds the namespaces whose recurring jobs exist.
    pass: tokio::sync::Mutex<HashSet<String>>,
}

impl Runner {
    /// Runs every job due at `now` in every namespace.
    pub(crate) async fn run_due(&self, unsealed: &Unsealed, now: i64, pace: Pace) -> PassReport {
        let mut report = PassReport::default();
        if !unsealed.is_active_node() {
            return report;
        }
        let mut ensured = self.pass.lock().await;
        for tenant in unsealed.namespaces.all() {
            let scope = Scope {
                unsealed,
                tenant: &tenant,
            };
            if !ensured.contains(&tenant.ns.id) {
                match ensure_recurring(&scope, now).await {
                    Ok(()) => {
                        ensured.insert(tenant.ns.id.clone());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, namespace = %tenant.ns.path, "could not schedule the namespace's jobs");
                    }
                }
            }
            let ids = match tenant.jobs.due(now, PASS_LIMIT).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, namespace = %tenant.ns.path, "could not read the due jobs");
                    continue;
                }
            };
            // Jobs of one pass are independent: run up to CONCURRENCY at once, so their
            // durable writes share the store's group commits instead of one fsync each.
            let scope = &scope;
            for group in ids.chunks(CONCURRENCY) {
                // A node that stepped down during the pass starts no more jobs (what it
                // would write is fenced anyway; this spares the attempts).
                if !unsealed.is_active_node() {
                    return report;
                }
                let started = std::time::Instant::now();
                let mut outcomes = futures_util::stream::iter(group.to_vec())
                    .map(|id| async move { (run_one(scope, &id, now).await, id) })
                    .buffer_unordered(CONCURRENCY);
                let mut rest = false;
                while let Some(((outcome, paced), id)) = outcomes.next().await {
                    rest |= paced;
                    match outcome {
                        Ok(true) => report.succeeded += 1,
                        Ok(false) => report.failed += 1,
                        Err(e) => {
                            report.failed += 1;
                            tracing::warn!(error = %e, job = %id, namespace = %tenant.ns.path, "could not record a job's run");
                        }
                    }
                }
                if pace == Pace::Paced && rest {
                    let rest = started.elapsed().mul_f64((1.0 - PACED_SHARE) / PACED_SHARE);
                    tokio::time::sleep(rest).await;
                }
            }
        }
        report
    }
}

/// Creates the namespace's recurring jobs, and the jobs of objects written before they had
/// one (transit keys with a period from before rotation ran here).
async fn ensure_recurring(scope: &Scope<'_>, now: i64) -> Result<()> {
    scope
        .tenant
        .jobs
        .ensure(TOKEN_TIDY, TOKEN_TIDY, now + TIDY_INTERVAL_SECS)
        .await?;
    crate::engines::adopt_rotation_jobs(scope).await
}

/// Runs job `id`: `Ok(true)` when its handler succeeded (errors are the runner's own
/// bookkeeping failing: the job then runs again at the next pass), and whether its kind is
/// paced.
async fn run_one(scope: &Scope<'_>, id: &str, now: i64) -> (Result<bool>, bool) {
    let record = match scope.tenant.jobs.get(id).await {
        Ok(record) => record,
        Err(e) => return (Err(e), true),
    };
    let paced = record
        .as_ref()
        .and_then(|r| handler(&r.kind))
        .is_none_or(|h| h.paced());
    (run_record(scope, id, record, now).await, paced)
}

/// [`run_one`] once the job's record is read.
async fn run_record(
    scope: &Scope<'_>,
    id: &str,
    record: Option<JobRecord>,
    now: i64,
) -> Result<bool> {
    let jobs = &scope.tenant.jobs;
    let Some(record) = record else {
        jobs.drop_orphan(id, now).await?;
        return Ok(true);
    };
    let Some(handler) = handler(&record.kind) else {
        // A kind this build does not know (written by a newer one): left for it, looked at
        // again in an hour rather than at every pass.
        tracing::warn!(job = %id, kind = %record.kind, "job of an unknown kind skipped");
        jobs.update(id, |mut r| {
            r.wake_at = now + MAX_BACKOFF_SECS;
            Some(r)
        })
        .await?;
        return Ok(false);
    };
    let Some(claimed) = jobs
        .update(id, |mut r| {
            r.attempt = r.attempt.saturating_add(1);
            Some(r)
        })
        .await?
    else {
        return Ok(true);
    };
    match handler.run(scope, &claimed, now).await {
        Ok(Next::Remove) => {
            jobs.remove(id).await?;
            Ok(true)
        }
        Ok(Next::At { wake, due }) => {
            jobs.update(id, |mut r| {
                // An owner that scheduled the job earlier while it ran (a new lease expiring
                // sooner) keeps its time: the handler's answer could not know of it.
                let rescheduled = r.wake_at != claimed.wake_at;
                let wake = if rescheduled {
                    wake.min(r.wake_at)
                } else {
                    wake
                };
                r.wake_at = wake.max(now + 1);
                r.due_at = due;
                r.attempt = 0;
                r.overdue = false;
                r.last_error = None;
                Some(r)
            })
            .await?;
            Ok(true)
        }
        Err(error) => {
            let overdue = claimed.due_at > 0 && now >= claimed.due_at;
            let newly_overdue = overdue && !claimed.overdue;
            let written = jobs
                .update(id, |mut r| {
                    r.wake_at = now + backoff_secs(r.attempt);
                    r.overdue = r.overdue || overdue;
                    r.last_error = Some(error.public_message());
                    Some(r)
                })
                .await?;
            if newly_overdue {
                tracing::warn!(job = %id, kind = %claimed.kind, error = %error.public_message(), "job overdue");
            }
            handler
                .failed(
                    scope,
                    written.as_ref().unwrap_or(&claimed),
                    &error,
                    newly_overdue,
                )
                .await;
            Ok(false)
        }
    }
}

/// Removes the namespace's expired tokens every minute.
struct TokenTidy;

#[async_trait]
impl Handler for TokenTidy {
    async fn run(&self, scope: &Scope<'_>, _job: &JobRecord, now: i64) -> Result<Next> {
        crate::system::tidy_tokens(scope).await?;
        Ok(Next::At {
            wake: now + TIDY_INTERVAL_SECS,
            due: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_30s_to_an_hour() {
        let b: Vec<i64> = (1..=9).map(backoff_secs).collect();
        assert_eq!(b, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff_secs(0), 30);
        assert_eq!(backoff_secs(u32::MAX), 3600);
    }
}
