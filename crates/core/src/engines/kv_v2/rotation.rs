//! Rotation of KV v2 secrets: the policy in the metadata, the `rotate/`, `promote/` and
//! `rollback/` paths, the job that rotates on schedule, and the calendar's view of a secret.
//!
//! Every change a rotation makes is one version write, committed together with the rotation
//! state in the secret's metadata ([`RotationState`]): the new version moves the period's start,
//! so a job that runs again for the same due time (after a crash) finds nothing due. A
//! two-phase rotation is two such writes: *publish* (a version with the current value and
//! `next`), then *promote* (a version where `next` has become the field's value). Between
//! them the secret always has its current value, and a reader sees both.
//!
//! The responses of these paths never carry a value: a policy may grant `update` on
//! `<mount>/rotate/*` without `read` on `<mount>/data/*`.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::store::{self, KeyMeta, MountLocks};
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::generate::secret::{Generated, fingerprint};
use crate::jobs::{self, JobRecord, JobTarget, Next};
use crate::mount::MountEntry;
use crate::request::Response;
use crate::rotation::policy::{self, NEXT_FIELD, RotationPolicy, Strategy};
use crate::rotation::schedule::{self, Pending, RotationState, Step};
use crate::rotation::{Event, Services, announce, announce_failure, time};
use crate::system::Scope;

const NANOS: i64 = 1_000_000_000;

/// The job id of `key`'s rotation in the mount with this uuid. The key is hashed: ids are
/// storage keys of one level, and need not repeat the secret's path.
pub(super) fn job_id(mount_uuid: &str, key: &str) -> String {
    crate::jobs::object_job_id("kv", mount_uuid, key)
}

/// The secret a rotation works on.
pub(super) struct Secret<'a> {
    pub(super) view: &'a View,
    pub(super) locks: &'a MountLocks,
    pub(super) services: &'a Services,
    pub(super) mount: &'a MountEntry,
    pub(super) key: &'a str,
}

impl Secret<'_> {
    /// `<mount path><key>`, as the calendar and events show it.
    fn path(&self) -> String {
        format!("{}{}", self.mount.path, self.key)
    }

    fn now(&self) -> i64 {
        self.view.clock().now_unix_secs()
    }
}

/// When the value current in `meta` became current (Unix seconds).
fn current_since(meta: &KeyMeta) -> i64 {
    meta.versions
        .get(&meta.current_version)
        .map(|v| v.created_time)
        .or(meta.created_time)
        .unwrap_or(0)
        .div_euclid(NANOS)
}

// ----- metadata -----

/// The rotation members of a metadata write or patch (`None`: not given, keep).
#[derive(Default)]
pub(super) struct MetaChanges {
    rotation: Option<Option<RotationPolicy>>,
    criticality: Option<Option<String>>,
    owner: Option<Option<String>>,
}

impl MetaChanges {
    /// Reads and checks `rotation`, `criticality` and `owner`; a bad one is a 400 naming it.
    pub(super) fn parse(data: &Map<String, Value>) -> Result<MetaChanges> {
        Ok(MetaChanges {
            rotation: data
                .get("rotation")
                .map(RotationPolicy::from_json)
                .transpose()?,
            criticality: data
                .get("criticality")
                .map(policy::criticality)
                .transpose()?,
            owner: data.get("owner").map(policy::owner).transpose()?,
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rotation.is_none() && self.criticality.is_none() && self.owner.is_none()
    }

    /// Applies the changes to `meta`.
    pub(super) fn apply(self, meta: &mut KeyMeta) {
        if let Some(rotation) = self.rotation {
            if rotation.is_none() {
                meta.rotation_state.pending = None;
            }
            meta.rotation = rotation;
        }
        if let Some(c) = self.criticality {
            meta.criticality = c;
        }
        if let Some(o) = self.owner {
            meta.owner = o;
        }
    }
}

/// Makes sure `key`'s job wakes in time for what `meta`'s policy asks. Called before the
/// metadata is saved: if the save then fails, the job wakes, finds no policy and goes away;
/// the other order could leave a policy that nothing ever runs.
pub(super) async fn schedule(
    services: &Services,
    mount: &MountEntry,
    key: &str,
    meta: &KeyMeta,
    now: i64,
) -> Result<()> {
    let Some(policy) = &meta.rotation else {
        return Ok(());
    };
    let (wake, due) = match schedule::plan(policy, &meta.rotation_state, current_since(meta), now) {
        Step::Wait { wake, due } => (wake, due),
        other => (now, other.due()),
    };
    schedule_job(services, mount, key, wake, due).await
}

/// Makes `key`'s job wake no later than `wake`.
async fn schedule_job(
    services: &Services,
    mount: &MountEntry,
    key: &str,
    wake: i64,
    due: i64,
) -> Result<()> {
    let target = JobTarget {
        mount: mount.uuid.clone(),
        key: key.to_string(),
    };
    let id = job_id(&mount.uuid, key);
    services
        .jobs
        .schedule(&id, jobs::KV_ROTATION, target, wake, due)
        .await
}

/// What a metadata read adds, only when set (a secret without them reads exactly as in Vault):
/// `rotation` (the policy) with `rotation_status`, `criticality` and `owner`.
pub(super) fn show(meta: &KeyMeta, now: i64, out: &mut Map<String, Value>) {
    if let Some(policy) = &meta.rotation {
        out.insert("rotation".into(), policy.to_json());
        out.insert(
            "rotation_status".into(),
            status(policy, &meta.rotation_state, current_since(meta), now),
        );
    }
    if let Some(c) = &meta.criticality {
        out.insert("criticality".into(), json!(c));
    }
    if let Some(o) = &meta.owner {
        out.insert("owner".into(), json!(o));
    }
}

/// The state a calendar and a metadata read show.
fn status(policy: &RotationPolicy, state: &RotationState, since: i64, now: i64) -> Value {
    let step = schedule::plan(policy, state, since, now);
    let phase = match (&state.pending, step) {
        (Some(_), _) => "pending_promotion",
        (None, Step::Rotate { .. }) => "overdue",
        (None, Step::Notify { .. }) => "due_soon",
        (None, Step::Wait { .. }) if state.notified_for == step.due() => "due_soon",
        (None, _) => "ok",
    };
    json!({
        "state": phase,
        "next_due": time(step.due()),
        "current_since": time(since),
        "last_rotated": time(state.last_rotated),
        "rotations": state.rotations,
        "previous_version": state.previous_version,
        "pending_version": state.pending.as_ref().map(|p| p.version),
    })
}

// ----- rotate, promote, rollback -----

/// Why a rotation step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// The job found it due.
    Schedule,
    /// `rotate/` or `promote/` by hand: now, due or not.
    Force,
}

/// What one step did.
pub(super) struct Done {
    /// What the response of `rotate/` shows.
    report: Map<String, Value>,
    /// When the job should look again.
    next: Next,
}

/// Runs what `key`'s rotation has to do now (or, forced, rotates or promotes now), under the
/// key's write lock.
pub(super) async fn advance(secret: &Secret<'_>, trigger: Trigger, dry_run: bool) -> Result<Done> {
    let _guard = secret.locks.key(secret.key).write().await;
    let Some(meta) = store::load_meta(secret.view, secret.locks, secret.key).await? else {
        return gone(secret, "the secret does not exist");
    };
    let Some(policy) = meta.rotation.clone() else {
        return gone(secret, "the secret has no rotation policy");
    };
    let now = secret.now();
    let mut step = schedule::plan(&policy, &meta.rotation_state, current_since(&meta), now);
    if trigger == Trigger::Force {
        step = match step {
            Step::Promote { .. } | Step::Wait { .. } if meta.rotation_state.pending.is_some() => {
                Step::Promote { due: now }
            }
            Step::Rotate { due } => Step::Rotate { due },
            _ => Step::Rotate { due: now },
        };
    }
    let mut report = Map::new();
    report.insert("path".into(), json!(secret.path()));
    report.insert("strategy".into(), json!(policy.strategy.name()));
    report.insert("dry_run".into(), json!(dry_run));
    if dry_run {
        report.insert(
            "would".into(),
            json!(match step {
                Step::Wait { .. } => "wait",
                Step::Notify { .. } => "notify",
                Step::Rotate { .. } if policy.strategy == Strategy::TwoPhase => "publish",
                Step::Rotate { .. } => "rotate",
                Step::Promote { .. } => "promote",
            }),
        );
        report.insert("due".into(), time(step.due()));
        return Ok(Done {
            report,
            next: Next::At {
                wake: now,
                due: step.due(),
            },
        });
    }
    let meta = match step {
        Step::Wait { wake, due } => {
            report.insert("rotated".into(), json!(false));
            report.insert("due".into(), time(due));
            return Ok(Done {
                report,
                next: Next::At { wake, due },
            });
        }
        Step::Notify { due } => notify(secret, meta, due).await?,
        Step::Rotate { due } => rotate(secret, &policy, meta, due, &mut report).await?,
        Step::Promote { .. } => promote(secret, &policy, meta, trigger, &mut report).await?,
    };
    let after = schedule::plan(&policy, &meta.rotation_state, current_since(&meta), now);
    let (wake, due) = match after {
        Step::Wait { wake, due } => (wake, due),
        other => (now, other.due()),
    };
    report.insert("next_due".into(), time(due));
    Ok(Done {
        report,
        next: Next::At { wake, due },
    })
}

fn gone(secret: &Secret<'_>, why: &str) -> Result<Done> {
    let mut report = Map::new();
    report.insert("path".into(), json!(secret.path()));
    report.insert("rotated".into(), json!(false));
    report.insert("reason".into(), json!(why));
    Ok(Done {
        report,
        next: Next::Remove,
    })
}

/// The data of the current version, or an empty map when it is deleted or destroyed.
async fn current_data(secret: &Secret<'_>, meta: &KeyMeta) -> Result<Map<String, Value>> {
    let now = secret.view.clock().now_unix_nanos();
    match meta.versions.get(&meta.current_version) {
        Some(vm) if vm.is_live(now) => {
            store::load_version(secret.view, secret.key, meta.current_version).await
        }
        _ => Ok(Map::new()),
    }
}

/// Writes `data` as the next version with `meta`'s (updated) rotation state, audited as a
/// background change of the rotation job when the job makes it.
async fn write_version(
    secret: &Secret<'_>,
    meta: KeyMeta,
    data: &Map<String, Value>,
    action: &str,
) -> Result<KeyMeta> {
    let config = store::load_config(secret.view, secret.locks).await?;
    let path = format!("{}{action}/{}", secret.mount.path, secret.key);
    let change = crate::audit::BackgroundChange {
        job: "rotation",
        operation: crate::request::Operation::Update,
        path: &path,
        mount: Some(secret.mount),
        data: None,
    };
    let mut written = meta.clone();
    secret
        .services
        .audit
        .record(&change, async {
            let now = secret.view.clock().now_unix_nanos();
            let deletion = store::deletion_time(now, &config, &written);
            let (n, pruned) = written.add_version(now, deletion, config.max_versions);
            store::save_version_and_meta(secret.view, secret.locks, secret.key, n, data, &written)
                .await?;
            if let Some(last) = pruned {
                let _ = store::cleanup_pruned(secret.view, secret.key, last).await;
            }
            Ok(())
        })
        .await?;
    Ok(written)
}

async fn notify(secret: &Secret<'_>, mut meta: KeyMeta, due: i64) -> Result<KeyMeta> {
    // Announced before it is recorded: a crash in between repeats the notice rather than
    // losing it.
    let mut data = Map::new();
    data.insert("due".into(), time(due));
    announce(
        &secret.services.audit,
        Event::DueSoon,
        &secret.path(),
        Some(secret.mount),
        data,
    )
    .await;
    meta.rotation_state.notified_for = due;
    store::save_meta(secret.view, secret.locks, secret.key, &meta).await?;
    Ok(meta)
}

async fn rotate(
    secret: &Secret<'_>,
    policy: &RotationPolicy,
    mut meta: KeyMeta,
    due: i64,
    report: &mut Map<String, Value>,
) -> Result<KeyMeta> {
    if meta.rotation_state.pending.is_some() {
        return Err(Error::invalid(
            "a rotation is waiting for promotion: promote or roll it back first",
        ));
    }
    let generator = policy.generator.as_ref().ok_or_else(|| {
        Error::invalid(
            "the rotation policy has no generator: rotate this secret by writing a new version",
        )
    })?;
    let generated = secret.services.generate(generator).await?;
    let mut data = current_data(secret, &meta).await?;
    data.remove(NEXT_FIELD);
    let now = secret.now();
    let from = meta.current_version;
    let (event, action) = match policy.strategy {
        Strategy::Replace => {
            data.extend(generated.fields(&policy.field));
            meta.rotation_state.previous_version = from;
            meta.rotation_state.last_rotated = now;
            meta.rotation_state.rotations += 1;
            (Event::Rotated, "rotated")
        }
        Strategy::TwoPhase => {
            data.insert(NEXT_FIELD.into(), next_value(&generated, &policy.field));
            meta.rotation_state.pending = Some(Pending {
                version: from + 1,
                from_version: from,
                published_at: now,
            });
            (Event::Published, "published")
        }
    };
    let fp = fingerprint(&next_value(&generated, &policy.field));
    drop(generated);
    let meta = write_version(secret, meta, &data, "rotate").await?;
    report.insert(
        "rotated".into(),
        json!(policy.strategy == Strategy::Replace),
    );
    report.insert("phase".into(), json!(action));
    report.insert("version".into(), json!(meta.current_version));
    report.insert("fingerprint".into(), json!(fp));
    let mut event_data = Map::new();
    event_data.insert("due".into(), time(due));
    event_data.insert("version".into(), json!(meta.current_version));
    event_data.insert("fingerprint".into(), json!(fp));
    announce(
        &secret.services.audit,
        event,
        &secret.path(),
        Some(secret.mount),
        event_data,
    )
    .await;
    Ok(meta)
}

/// The value `next` carries: the string, or the key pair's object.
fn next_value(generated: &Generated, field: &str) -> Value {
    match generated {
        Generated::One(v) => Value::String(v.to_string()),
        Generated::Pair { .. } => Value::Object(generated.fields(field)),
    }
}

async fn promote(
    secret: &Secret<'_>,
    policy: &RotationPolicy,
    mut meta: KeyMeta,
    trigger: Trigger,
    report: &mut Map<String, Value>,
) -> Result<KeyMeta> {
    let Some(pending) = meta.rotation_state.pending.clone() else {
        return Err(Error::invalid("no rotation is waiting for promotion"));
    };
    let mut data = current_data(secret, &meta).await?;
    let Some(next) = data.remove(NEXT_FIELD) else {
        // A write by hand replaced the published version: it settled the rotation.
        meta.rotation_state.pending = None;
        store::save_meta(secret.view, secret.locks, secret.key, &meta).await?;
        report.insert("rotated".into(), json!(false));
        report.insert(
            "reason".into(),
            json!("the published next value was replaced by a write"),
        );
        return Ok(meta);
    };
    let fp = fingerprint(&next);
    if let Some(url) = &policy.validate {
        let path = secret.path();
        crate::rotation::validate::confirm(
            url,
            &crate::rotation::validate::Check {
                namespace: secret.services.namespace_path(),
                path: &path,
                version: pending.version,
                fingerprint: &fp,
            },
        )
        .await?;
    }
    match next {
        Value::Object(pair) if policy.generator.as_ref().is_some_and(|g| g.is_pair()) => {
            data.extend(pair);
        }
        value => {
            data.insert(policy.field.clone(), value);
        }
    }
    let now = secret.now();
    meta.rotation_state.pending = None;
    meta.rotation_state.previous_version = pending.from_version;
    meta.rotation_state.last_rotated = now;
    meta.rotation_state.rotations += 1;
    let meta = write_version(secret, meta, &data, "promote").await?;
    report.insert("rotated".into(), json!(true));
    report.insert("phase".into(), json!("promoted"));
    report.insert("version".into(), json!(meta.current_version));
    report.insert("fingerprint".into(), json!(fp));
    report.insert("by_hand".into(), json!(trigger == Trigger::Force));
    let mut event_data = Map::new();
    event_data.insert("version".into(), json!(meta.current_version));
    event_data.insert("fingerprint".into(), json!(fp));
    announce(
        &secret.services.audit,
        Event::Rotated,
        &secret.path(),
        Some(secret.mount),
        event_data,
    )
    .await;
    Ok(meta)
}

/// `rollback/<key>`: restores version `to` (default: the one before the last rotation, or,
/// while a two-phase rotation is pending, the one it was published from) as a new version.
pub(super) async fn rollback(secret: &Secret<'_>, to: Option<u64>) -> Result<Option<Response>> {
    let _guard = secret.locks.key(secret.key).write().await;
    let Some(mut meta) = store::load_meta(secret.view, secret.locks, secret.key).await? else {
        return Ok(None);
    };
    let state = &meta.rotation_state;
    let target = to
        .or(state.pending.as_ref().map(|p| p.from_version))
        .or((state.previous_version > 0).then_some(state.previous_version))
        .ok_or_else(|| {
            Error::invalid("version: nothing to roll back to (the secret was never rotated)")
        })?;
    let now_nanos = secret.view.clock().now_unix_nanos();
    let vm = meta.versions.get(&target).ok_or_else(|| {
        Error::invalid(format!("version: version {target} does not exist any more"))
    })?;
    if vm.destroyed {
        return Err(Error::invalid(format!(
            "version: version {target} is destroyed"
        )));
    }
    if vm.is_deleted(now_nanos) {
        return Err(Error::invalid(format!(
            "version: version {target} is deleted (undelete it first)"
        )));
    }
    if target == meta.current_version && meta.rotation_state.pending.is_none() {
        return Err(Error::invalid(format!(
            "version: version {target} is the current version"
        )));
    }
    let mut data = store::load_version(secret.view, secret.key, target).await?;
    data.remove(NEXT_FIELD);
    let replaced = meta.current_version;
    meta.rotation_state.pending = None;
    meta.rotation_state.previous_version = replaced;
    let config = store::load_config(secret.view, secret.locks).await?;
    let deletion = store::deletion_time(now_nanos, &config, &meta);
    let (n, pruned) = meta.add_version(now_nanos, deletion, config.max_versions);
    store::save_version_and_meta(secret.view, secret.locks, secret.key, n, &data, &meta).await?;
    if let Some(last) = pruned {
        let _ = store::cleanup_pruned(secret.view, secret.key, last).await;
    }
    let mut event_data = Map::new();
    event_data.insert("restored_version".into(), json!(target));
    event_data.insert("replaced_version".into(), json!(replaced));
    event_data.insert("version".into(), json!(n));
    announce(
        &secret.services.audit,
        Event::RolledBack,
        &secret.path(),
        Some(secret.mount),
        event_data,
    )
    .await;
    let mut out = Map::new();
    out.insert("path".into(), json!(secret.path()));
    out.insert("version".into(), json!(n));
    out.insert("restored_version".into(), json!(target));
    Ok(Some(Response::with_data(out)))
}

/// `rotate/<key>` and `promote/<key>` by hand.
pub(super) async fn by_hand(
    secret: &Secret<'_>,
    promote_only: bool,
    dry_run: bool,
) -> Result<Option<Response>> {
    if promote_only {
        let pending = {
            let _guard = secret.locks.key(secret.key).read().await;
            store::load_meta(secret.view, secret.locks, secret.key)
                .await?
                .is_some_and(|m| m.rotation_state.pending.is_some())
        };
        if !pending {
            return Err(Error::invalid("no rotation is waiting for promotion"));
        }
    }
    let done = advance(secret, Trigger::Force, dry_run).await?;
    if done.next == Next::Remove {
        return Err(Error::invalid(
            done.report
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("nothing to rotate")
                .to_string(),
        ));
    }
    if let Next::At { wake, due } = done.next
        && !dry_run
    {
        schedule_job(secret.services, secret.mount, secret.key, wake, due).await?;
    }
    Ok(Some(Response::with_data(done.report)))
}

// ----- the job -----

/// The handler of [`jobs::KV_ROTATION`] jobs.
pub(crate) struct KvRotationJob;

/// The KV v2 mount with this uuid in the namespace, if it is still mounted.
fn find_mount(scope: &Scope<'_>, uuid: &str) -> Option<crate::mount::Route> {
    crate::engines::find_route(scope, uuid, |e| {
        e.kind == "kv" && e.options.get("version").map(String::as_str) == Some("2")
    })
}

fn services_of(scope: &Scope<'_>) -> Services {
    Services::new(
        &scope.tenant.jobs,
        &scope.tenant.view,
        &scope.tenant.background,
    )
}

#[async_trait]
impl jobs::Handler for KvRotationJob {
    async fn run(&self, scope: &Scope<'_>, job: &JobRecord, _now: i64) -> Result<Next> {
        let Some(route) = find_mount(scope, &job.target.mount) else {
            return Ok(Next::Remove);
        };
        let locks = scope
            .unsealed
            .mount_states
            .get::<MountLocks>(&route.entry.uuid);
        let services = services_of(scope);
        let secret = Secret {
            view: &route.view,
            locks: &locks,
            services: &services,
            mount: &route.entry,
            key: &job.target.key,
        };
        Ok(advance(&secret, Trigger::Schedule, false).await?.next)
    }

    async fn failed(&self, scope: &Scope<'_>, job: &JobRecord, error: &Error, newly_overdue: bool) {
        let Some(route) = find_mount(scope, &job.target.mount) else {
            return;
        };
        let path = format!("{}{}", route.entry.path, job.target.key);
        let audit = &scope.tenant.background;
        announce_failure(audit, &path, &route.entry, job, error, newly_overdue).await;
    }
}

/// The calendar's entry for job `job` (a KV rotation), or `None` when its secret or policy is
/// gone.
pub(crate) async fn calendar_entry(
    scope: &Scope<'_>,
    job: &JobRecord,
    now: i64,
) -> Result<Option<Map<String, Value>>> {
    let Some(route) = find_mount(scope, &job.target.mount) else {
        return Ok(None);
    };
    let locks = scope
        .unsealed
        .mount_states
        .get::<MountLocks>(&route.entry.uuid);
    let Some(meta) = store::peek_meta(&route.view, &locks, &job.target.key).await? else {
        return Ok(None);
    };
    let Some(policy) = &meta.rotation else {
        return Ok(None);
    };
    let Value::Object(mut entry) = status(policy, &meta.rotation_state, current_since(&meta), now)
    else {
        return Ok(None);
    };
    if job.attempt > 0 && job.last_error.is_some() {
        entry.insert("state".into(), json!("failing"));
    }
    entry.insert(
        "path".into(),
        json!(format!("{}{}", route.entry.path, job.target.key)),
    );
    entry.insert("mount".into(), json!(route.entry.path));
    entry.insert("key".into(), json!(job.target.key));
    entry.insert(
        "overdue".into(),
        json!(
            job.overdue
                || schedule::due_at(policy, current_since(&meta)) <= now
                    && meta.rotation_state.pending.is_none()
        ),
    );
    entry.insert("attempts".into(), json!(job.attempt));
    entry.insert("last_error".into(), json!(job.last_error));
    entry.insert("strategy".into(), json!(policy.strategy.name()));
    entry.insert("preset".into(), json!(policy.preset));
    entry.insert("criticality".into(), json!(meta.criticality));
    entry.insert("owner".into(), json!(meta.owner));
    entry.insert("due_unix".into(), json!(job.due_at));
    Ok(Some(entry))
}
