//! Rotation as a first-class object: policies with cryptoperiods ([`policy`]), the schedule
//! they give ([`schedule`]), the validation webhook of two-phase rotations ([`validate`]) and
//! the events rotations announce.
//!
//! The engines own the rotation of their objects: a KV v2 secret's policy and state live in
//! its metadata, and its job (kind [`crate::jobs::KV_ROTATION`]) runs through the KV engine.
//! This module holds what does not depend on where the secret lives.

pub(crate) mod policy;
pub(crate) mod schedule;
pub(crate) mod validate;

use serde_json::{Map, Value};

use crate::audit::{BackgroundAudit, BackgroundChange};
use crate::mount::MountEntry;
use crate::request::Operation;

/// The events rotation announces. Each is an audit entry of a background job of that name
/// now, and an event for alert rules once the event stream exists (observability issue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The notice window of a due time began.
    DueSoon,
    /// A new value became current (replace, or a two-phase promotion).
    Rotated,
    /// A two-phase rotation published its next value.
    Published,
    /// An attempt failed (it is retried with backoff).
    Failed,
    /// The due time passed without a successful rotation.
    Overdue,
    /// A previous value was restored.
    RolledBack,
}

impl Event {
    /// The event's name, as audit entries carry it (`request.background`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Event::DueSoon => "rotation.due_soon",
            Event::Rotated => "rotation.rotated",
            Event::Published => "rotation.published",
            Event::Failed => "rotation.failed",
            Event::Overdue => "rotation.overdue",
            Event::RolledBack => "rotation.rolled_back",
        }
    }
}

/// Records `event` about the object at `path` in the audit log. `data` carries no secret
/// (times, versions, fingerprints, errors). A failure is logged: the event is lost, nothing
/// else is (the change it reports was audited as a change already).
pub(crate) async fn announce(
    audit: &BackgroundAudit,
    event: Event,
    path: &str,
    mount: Option<&MountEntry>,
    data: Map<String, Value>,
) {
    let change = BackgroundChange {
        job: event.name(),
        operation: Operation::Update,
        path,
        mount,
        data: Some(&data),
    };
    if let Err(e) = audit.record(&change, async { Ok(()) }).await {
        tracing::warn!(error = %e, event = event.name(), "could not audit a rotation event");
    }
    tracing::info!(event = event.name(), path, "rotation event");
}

/// A time as the calendar and events show it (RFC 3339), or null for "never" (0).
pub(crate) fn time(secs: i64) -> Value {
    if secs <= 0 {
        Value::Null
    } else {
        Value::String(crate::clock::rfc3339_nanos(
            secs.saturating_mul(1_000_000_000),
        ))
    }
}

/// A line of `sys/rotation/calendar` for an object whose rotation is one step (a transit key,
/// a database static role); KV v2 secrets add their notice and two-phase states.
pub(crate) struct CalendarEntry<'a> {
    /// `<mount path><what the object is called there>`, as events name it too.
    pub(crate) path: String,
    pub(crate) mount: &'a MountEntry,
    pub(crate) job: &'a crate::jobs::JobRecord,
    /// Unix seconds: when it is due.
    pub(crate) due: i64,
    /// Unix seconds: since when the current value is (0: unknown).
    pub(crate) since: i64,
    /// Unix seconds of the last rotation (0: never).
    pub(crate) last_rotated: i64,
    pub(crate) rotations: Option<u64>,
    pub(crate) strategy: &'a str,
}

impl CalendarEntry<'_> {
    /// The entry's members at `now`.
    pub(crate) fn into_map(self, now: i64) -> Map<String, Value> {
        let failing = self.job.attempt > 0 && self.job.last_error.is_some();
        let state = match () {
            () if failing => "failing",
            () if self.due <= now => "overdue",
            () => "ok",
        };
        let mut entry = Map::new();
        entry.insert("state".into(), Value::from(state));
        entry.insert("next_due".into(), time(self.due));
        entry.insert("current_since".into(), time(self.since));
        entry.insert("last_rotated".into(), time(self.last_rotated));
        if let Some(n) = self.rotations {
            entry.insert("rotations".into(), Value::from(n));
        }
        entry.insert("path".into(), Value::from(self.path));
        entry.insert("mount".into(), Value::from(self.mount.path.as_str()));
        entry.insert("key".into(), Value::from(self.job.target.key.as_str()));
        entry.insert(
            "overdue".into(),
            Value::from(self.job.overdue || self.due <= now),
        );
        entry.insert("attempts".into(), Value::from(self.job.attempt));
        entry.insert(
            "last_error".into(),
            self.job.last_error.clone().map_or(Value::Null, Value::from),
        );
        entry.insert("strategy".into(), Value::from(self.strategy));
        for absent in ["preset", "criticality", "owner"] {
            entry.insert(absent.into(), Value::Null);
        }
        entry.insert("due_unix".into(), Value::from(self.due));
        entry
    }
}

/// Announces a failed attempt of rotation job `job` on the object at `path`:
/// `rotation.overdue` the first time it fails at or after its due time, and
/// `rotation.failed` every time.
pub(crate) async fn announce_failure(
    audit: &BackgroundAudit,
    path: &str,
    mount: &MountEntry,
    job: &crate::jobs::JobRecord,
    error: &crate::error::Error,
    newly_overdue: bool,
) {
    let mut data = Map::new();
    data.insert("error".into(), Value::String(error.public_message()));
    data.insert("attempt".into(), Value::from(job.attempt));
    data.insert("retry_at".into(), time(job.wake_at));
    data.insert("due".into(), time(job.due_at));
    if newly_overdue {
        announce(audit, Event::Overdue, path, Some(mount), data.clone()).await;
    }
    announce(audit, Event::Failed, path, Some(mount), data).await;
}

/// What an engine needs from its namespace to rotate its objects: the job store to schedule
/// them, the password policies generators may name, and the audit log for background changes
/// and events. Built with each routing snapshot; clones share everything.
#[derive(Clone)]
pub(crate) struct Services {
    pub(crate) jobs: crate::jobs::JobStore,
    /// The namespace's password policies (read only).
    password_policies: crate::barrier::View,
    pub(crate) audit: BackgroundAudit,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("rotation::Services").finish_non_exhaustive()
    }
}

impl Services {
    /// The services of the namespace whose storage is `namespace`.
    pub(crate) fn new(
        jobs: &crate::jobs::JobStore,
        namespace: &crate::barrier::View,
        audit: &BackgroundAudit,
    ) -> Services {
        Services {
            jobs: jobs.clone(),
            password_policies: namespace.sub(crate::generate::password::STORAGE_PREFIX),
            audit: audit.clone(),
        }
    }

    /// The namespace's path (`""` for the root), as validation webhooks are told it.
    pub(crate) fn namespace_path(&self) -> &str {
        self.audit.namespace_path()
    }

    /// A password from the namespace's password policy `name`, or, without one, 24 letters and
    /// digits with at least one lowercase, one uppercase and one digit (about 142 bits).
    pub(crate) async fn password(
        &self,
        policy: Option<&str>,
    ) -> crate::error::Result<zeroize::Zeroizing<String>> {
        use crate::generate::password::{CharsetRule, PasswordPolicy};
        let policy = match policy.filter(|p| !p.is_empty()) {
            Some(name) => {
                let raw = self.password_policies.get(name).await?.ok_or_else(|| {
                    crate::error::Error::invalid(format!(
                        "password_policy: the password policy \"{name}\" does not exist"
                    ))
                })?;
                PasswordPolicy::parse(&String::from_utf8_lossy(raw.expose()))?
            }
            None => {
                let rule = |chars: &str| CharsetRule {
                    charset: chars.chars().collect(),
                    min_chars: 1,
                };
                PasswordPolicy::from_rules(
                    24,
                    vec![
                        rule("abcdefghijklmnopqrstuvwxyz"),
                        rule("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                        rule("0123456789"),
                    ],
                )?
            }
        };
        policy.generate()
    }

    /// A new value from `generator` (loading the password policy it names, if any).
    pub(crate) async fn generate(
        &self,
        generator: &crate::generate::secret::Generator,
    ) -> crate::error::Result<crate::generate::secret::Generated> {
        let named = match generator.password_policy() {
            Some(name) => {
                let raw = self.password_policies.get(name).await?.ok_or_else(|| {
                    crate::error::Error::invalid(format!(
                        "the generator's password policy \"{name}\" does not exist"
                    ))
                })?;
                Some(crate::generate::password::PasswordPolicy::parse(
                    &String::from_utf8_lossy(raw.expose()),
                )?)
            }
            None => None,
        };
        generator.generate(named.as_ref()).await
    }
}
