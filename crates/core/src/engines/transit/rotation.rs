//! Transit keys on the job runner, and rollback.
//!
//! A key with an `auto_rotate_period` (set directly, or through a `rotation` policy) has a job
//! of kind [`jobs::TRANSIT_ROTATION`] waking when the period has elapsed since its latest
//! version was created. The job adds a version, as `keys/:name/rotate` would, audited as a
//! background change and announced as `rotation.rotated`; a failure is retried with the
//! runner's backoff and announced as `rotation.failed` / `rotation.overdue`. The new version
//! moves the period's start, so a job run again for the same due time (after a crash) finds
//! nothing due: at most one rotation per due time, as for KV secrets.
//!
//! Every change to a key schedules its job ([`Scheduler::schedule`], from
//! [`Shared::persist`]), so the job follows a changed period or a rotation by hand. Keys
//! written before the job runner existed get their jobs from [`adopt`], once per mount.
//!
//! `keys/:name/rollback` brings an older version's key material back as a new latest version:
//! ciphertexts and signatures of every version stay valid, new ones use the restored
//! material, and the cryptoperiod starts again. It refuses a version below
//! `min_decryption_version` (retired on purpose) or trimmed away.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::policy::{POLICY_PREFIX, StoredKey, StoredVersion};
use super::store::{Shared, read_stored};
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::jobs::{self, JobRecord, JobStore, JobTarget, Next};
use crate::mount::MountEntry;
use crate::request::{Operation, Response};
use crate::rotation::{Event, announce, announce_failure, time};
use crate::system::Scope;

const NANOS: i64 = 1_000_000_000;

/// Where a mount's view records that its keys' jobs exist (see [`adopt`]).
const ADOPTED_MARKER: &str = "rotation-jobs-adopted";

/// The job id of key `name`'s rotation in the mount with this uuid.
fn job_id(mount_uuid: &str, name: &str) -> String {
    crate::jobs::object_job_id("transit", mount_uuid, name)
}

/// When the latest version of `stored` was created (Unix seconds).
fn latest_created(stored: &StoredKey) -> i64 {
    stored
        .versions
        .get(&stored.config.latest_version)
        .map(|v| v.creation_time.div_euclid(NANOS))
        .unwrap_or(0)
}

/// When `stored` is next due to rotate (Unix seconds), or `None` without automatic rotation.
fn due_at(stored: &StoredKey) -> Option<i64> {
    let period = stored.config.auto_rotate_period;
    (period > 0)
        .then(|| latest_created(stored).saturating_add(i64::try_from(period).unwrap_or(i64::MAX)))
}

/// Schedules the rotation jobs of one mount's keys.
pub(crate) struct Scheduler {
    jobs: JobStore,
    mount_uuid: String,
}

impl Scheduler {
    pub(super) fn new(jobs: &JobStore, mount_uuid: &str) -> Scheduler {
        Scheduler {
            jobs: jobs.clone(),
            mount_uuid: mount_uuid.to_string(),
        }
    }

    /// Makes sure `stored`'s job wakes by its due time (nothing without a period: a job left
    /// from an earlier period wakes, finds none and goes away).
    pub(super) async fn schedule(&self, stored: &StoredKey) -> Result<()> {
        schedule_in(&self.jobs, &self.mount_uuid, stored).await
    }
}

async fn schedule_in(jobs: &JobStore, mount_uuid: &str, stored: &StoredKey) -> Result<()> {
    let Some(due) = due_at(stored) else {
        return Ok(());
    };
    let name = &stored.config.name;
    let target = JobTarget {
        mount: mount_uuid.to_string(),
        key: name.clone(),
    };
    jobs.schedule(
        &job_id(mount_uuid, name),
        jobs::TRANSIT_ROTATION,
        target,
        due,
        due,
    )
    .await
}

/// Schedules the jobs of every key with a period in the namespace's transit mounts that has
/// not had it done yet (keys written before rotation ran on the job runner). Once per mount:
/// a marker in the mount's view records it, so later unseals read one key per mount.
pub(crate) async fn adopt(scope: &Scope<'_>) -> Result<()> {
    let routes = scope.tenant.router.load();
    for route in routes.routes().iter().filter(|r| r.entry.kind == "transit") {
        adopt_mount(&scope.tenant.jobs, &route.view, &route.entry.uuid).await?;
    }
    Ok(())
}

/// [`adopt`] for the mount with this view and uuid.
pub(super) async fn adopt_mount(jobs: &JobStore, view: &View, mount_uuid: &str) -> Result<()> {
    if view.get(ADOPTED_MARKER).await?.is_some() {
        return Ok(());
    }
    for name in view.list(POLICY_PREFIX).await? {
        if name.ends_with('/') {
            continue;
        }
        if let Some(stored) = read_stored(view, &name).await? {
            schedule_in(jobs, mount_uuid, &stored).await?;
        }
    }
    view.put(ADOPTED_MARKER, b"1").await
}

/// What rotating a key in the background needs besides the key.
pub(super) struct Background<'a> {
    pub(super) shared: &'a Shared,
    pub(super) view: &'a View,
    pub(super) mount: &'a MountEntry,
    pub(super) audit: &'a crate::audit::BackgroundAudit,
}

/// Rotates key `name` if it is due at `now`, and says when to look again. The rotation is
/// audited before and after (fail-closed: a rotation that cannot be audited does not happen).
pub(super) async fn rotate_if_due(bg: &Background<'_>, name: &str, now: i64) -> Result<Next> {
    let _guard = bg.shared.write.lock().await;
    let Some(stored) = read_stored(bg.view, name).await? else {
        return Ok(Next::Remove);
    };
    let Some(due) = due_at(&stored) else {
        return Ok(Next::Remove);
    };
    if now < due {
        return Ok(Next::At { wake: due, due });
    }
    let rotate_path = format!("{}keys/{name}/rotate", bg.mount.path);
    let change = crate::audit::BackgroundChange {
        job: "rotation",
        operation: Operation::Update,
        path: &rotate_path,
        mount: Some(bg.mount),
        data: None,
    };
    let key = bg
        .audit
        .record(
            &change,
            super::keys::rotate_locked(bg.shared, bg.view, stored),
        )
        .await?;
    let mut data = Map::new();
    data.insert("due".into(), time(due));
    data.insert("version".into(), json!(key.latest()));
    let path = format!("{}keys/{name}", bg.mount.path);
    announce(bg.audit, Event::Rotated, &path, Some(bg.mount), data).await;
    let next = read_stored(bg.view, name)
        .await?
        .as_ref()
        .and_then(due_at)
        .unwrap_or(now);
    Ok(Next::At {
        wake: next,
        due: next,
    })
}

/// The transit mount with this uuid in the namespace, if it is still mounted.
fn find_mount(scope: &Scope<'_>, uuid: &str) -> Option<crate::mount::Route> {
    crate::engines::find_route(scope, uuid, |e| e.kind == "transit")
}

/// The handler of [`jobs::TRANSIT_ROTATION`] jobs.
pub(crate) struct TransitRotationJob;

#[async_trait]
impl jobs::Handler for TransitRotationJob {
    async fn run(&self, scope: &Scope<'_>, job: &JobRecord, now: i64) -> Result<Next> {
        let Some(route) = find_mount(scope, &job.target.mount) else {
            return Ok(Next::Remove);
        };
        let shared = scope.unsealed.mount_states.get::<Shared>(&route.entry.uuid);
        let bg = Background {
            shared: &shared,
            view: &route.view,
            mount: &route.entry,
            audit: &scope.tenant.background,
        };
        rotate_if_due(&bg, &job.target.key, now).await
    }

    async fn failed(&self, scope: &Scope<'_>, job: &JobRecord, error: &Error, newly_overdue: bool) {
        let Some(route) = find_mount(scope, &job.target.mount) else {
            return;
        };
        let path = format!("{}keys/{}", route.entry.path, job.target.key);
        let audit = &scope.tenant.background;
        announce_failure(audit, &path, &route.entry, job, error, newly_overdue).await;
    }
}

/// The calendar's entry for job `job` (a transit key's rotation), or `None` when the key or
/// its period is gone.
pub(crate) async fn calendar_entry(
    scope: &Scope<'_>,
    job: &JobRecord,
    now: i64,
) -> Result<Option<Map<String, Value>>> {
    let Some(route) = find_mount(scope, &job.target.mount) else {
        return Ok(None);
    };
    let Some(stored) = read_stored(&route.view, &job.target.key).await? else {
        return Ok(None);
    };
    let Some(due) = due_at(&stored) else {
        return Ok(None);
    };
    let since = latest_created(&stored);
    let rotations = u64::from(stored.config.latest_version.saturating_sub(1));
    let entry = crate::rotation::CalendarEntry {
        path: format!("{}keys/{}", route.entry.path, job.target.key),
        mount: &route.entry,
        job,
        due,
        since,
        last_rotated: if rotations > 0 { since } else { 0 },
        rotations: Some(rotations),
        strategy: "new-version",
    };
    Ok(Some(entry.into_map(now)))
}

/// `POST keys/:name/rollback` with an optional `version` (default: the one before the
/// latest): that version's key material becomes a new latest version.
pub(super) async fn rollback(
    shared: &Shared,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
    announce_to: (&MountEntry, &crate::audit::BackgroundAudit),
) -> Result<Response> {
    let _guard = shared.write.lock().await;
    let Some(mut stored) = read_stored(view, name).await? else {
        return Err(Error::invalid("key not found"));
    };
    let latest = stored.config.latest_version;
    let to = match crate::fields::opt_i64(data, "version")? {
        Some(v) => u32::try_from(v)
            .map_err(|_| Error::invalid(format!("version: version {v} does not exist")))?,
        None if latest > 1 => latest - 1,
        None => {
            return Err(Error::invalid(
                "version: the key has one version: nothing to roll back to",
            ));
        }
    };
    if to == 0 || to >= latest {
        return Err(Error::invalid(format!(
            "version: must be an earlier version than the latest ({latest})"
        )));
    }
    if to < stored.config.min_decryption_version {
        return Err(Error::invalid(format!(
            "version: version {to} is below min_decryption_version ({}): it was retired and is \
             not brought back",
            stored.config.min_decryption_version
        )));
    }
    let source = stored
        .versions
        .get(&to)
        .ok_or_else(|| Error::invalid(format!("version: version {to} was trimmed")))?;
    let copy = StoredVersion {
        creation_time: view.clock().now_unix_nanos(),
        key: source.key.clone(),
        hmac_key: source.hmac_key.clone(),
    };
    let next = latest
        .checked_add(1)
        .ok_or_else(|| Error::invalid("key version space exhausted"))?;
    stored.versions.insert(next, copy);
    stored.config.latest_version = next;
    let previous = shared.cached(name);
    let key = shared.persist(view, &stored, previous.as_deref()).await?;
    let (mount, audit) = announce_to;
    let mut event = Map::new();
    event.insert("restored_version".into(), json!(to));
    event.insert("replaced_version".into(), json!(latest));
    event.insert("version".into(), json!(next));
    let path = format!("{}keys/{name}", mount.path);
    announce(audit, Event::RolledBack, &path, Some(mount), event).await;
    let mut out = key.info(None)?;
    out.insert("path".into(), json!(path));
    out.insert("restored_version".into(), json!(to));
    out.insert("version".into(), json!(next));
    Ok(Response::with_data(out))
}
