//! User lockout, as Vault's: after `lockout_threshold` failed logins for one name (a username,
//! a role id) on one auth mount, with no more than `lockout_counter_reset` between failures,
//! the name is locked for `lockout_duration`; while locked every login for it is refused with
//! a plain 403, whether the credentials are right or not.
//!
//! Failure counts live in memory (a restart forgets half-made attempts, as in Vault); a lock
//! is also written to storage, so it survives a restart and `sys/locked-users` lists it.
//! Names that do not exist are counted and locked too (OpenBao does not lock them): otherwise
//! the sixth attempt would tell which names exist.
//!
//! Storage below the namespace: `sys/locked-users/<mount accessor>/<hex of the name>` →
//! [`StoredLock`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields;

/// Where locks are stored, below the namespace's view.
const LOCK_PREFIX: &str = "sys/locked-users/";
/// Most names whose failures are tracked at once; beyond it the longest-quiet unlocked one is
/// forgotten, so a flood of made-up names cannot grow memory without bound.
const MAX_TRACKED: usize = 100_000;

/// Vault's defaults: 5 failures, 15 minutes locked, counter reset after 15 quiet minutes.
pub(crate) const DEFAULT_THRESHOLD: u64 = 5;
const DEFAULT_DURATION: u64 = 15 * 60;
const DEFAULT_COUNTER_RESET: u64 = 15 * 60;

/// A mount's `user_lockout_config` as tuned; unset fields take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutConfig {
    /// Failures that lock (0: the default).
    #[serde(default)]
    pub threshold: u64,
    /// Seconds a lock lasts (0: the default).
    #[serde(default)]
    pub duration: u64,
    /// Seconds without a failure after which the count starts over (0: the default).
    #[serde(default)]
    pub counter_reset: u64,
    /// No lockout on this mount.
    #[serde(default)]
    pub disable: bool,
}

impl LockoutConfig {
    fn threshold(&self) -> u64 {
        if self.threshold == 0 {
            DEFAULT_THRESHOLD
        } else {
            self.threshold
        }
    }
    fn duration(&self) -> u64 {
        if self.duration == 0 {
            DEFAULT_DURATION
        } else {
            self.duration
        }
    }
    fn counter_reset(&self) -> u64 {
        if self.counter_reset == 0 {
            DEFAULT_COUNTER_RESET
        } else {
            self.counter_reset
        }
    }

    /// Applies a tune request's `user_lockout_config` object (fields given are changed, the
    /// others kept, as OpenBao does).
    pub(crate) fn apply(&mut self, data: &Map<String, Value>) -> Result<()> {
        let field = |name: &str| format!("user_lockout_config.{name}");
        if let Some(n) = fields::opt_i64(data, "lockout_threshold")
            .map_err(|_| Error::invalid(format!("invalid {}", field("lockout_threshold"))))?
        {
            self.threshold = u64::try_from(n)
                .map_err(|_| Error::invalid(format!("invalid {}", field("lockout_threshold"))))?;
        }
        for (name, slot) in [
            ("lockout_duration", &mut self.duration),
            ("lockout_counter_reset", &mut self.counter_reset),
        ] {
            if let Some(secs) = fields::opt_duration_secs(data, name)
                .map_err(|_| Error::invalid(format!("invalid {}", field(name))))?
            {
                *slot = secs;
            }
        }
        if let Some(b) = fields::opt_bool(data, "disable_lockout")
            .map_err(|_| Error::invalid(format!("invalid {}", field("disable_lockout"))))?
        {
            self.disable = b;
        }
        if let Some(k) = data.keys().find(|k| {
            !matches!(
                k.as_str(),
                "lockout_threshold"
                    | "lockout_duration"
                    | "lockout_counter_reset"
                    | "disable_lockout"
            )
        }) {
            return Err(Error::invalid(format!("unknown field {}", field(k))));
        }
        Ok(())
    }

    /// The fields as `sys/auth/:path/tune` shows them (flat) and `sys/auth/:path` nests them.
    pub(crate) fn to_api(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("user_lockout_threshold".into(), self.threshold.into());
        m.insert("user_lockout_duration".into(), self.duration.into());
        m.insert(
            "user_lockout_counter_reset_duration".into(),
            self.counter_reset.into(),
        );
        m.insert("user_lockout_disable".into(), self.disable.into());
        m
    }
}

/// What is known about one name's failures.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u64,
    last: i64,
    /// Unix seconds the lock began.
    locked_at: Option<i64>,
}

/// What is stored for a lock.
#[derive(Serialize, Deserialize)]
struct StoredLock {
    /// The locked name, in clear (the key holds it hex-encoded).
    name: String,
    locked_at: i64,
}

/// The outcome of a failed login for the lockout.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Counted {
    /// Counted; not locked.
    Counted,
    /// This failure locked the name.
    Locked,
}

/// A locked name, for `sys/locked-users`.
pub(crate) struct Locked {
    pub(crate) mount_accessor: String,
    pub(crate) name: String,
}

/// The lockout state of one namespace.
pub(crate) struct Lockouts {
    view: View,
    by_name: parking_lot::Mutex<HashMap<(String, String), Failures>>,
}

fn lock_key(accessor: &str, name: &str) -> String {
    format!("{LOCK_PREFIX}{accessor}/{}", hex::encode(name))
}

impl Lockouts {
    /// Loads the stored locks of the namespace whose storage is `view`.
    pub(crate) async fn open(view: View) -> Result<Lockouts> {
        let mut by_name = HashMap::new();
        for accessor in view.list(LOCK_PREFIX).await? {
            let accessor = accessor.trim_end_matches('/').to_string();
            let sub = format!("{LOCK_PREFIX}{accessor}/");
            for key in view.list(&sub).await? {
                let Some(raw) = view.get(&format!("{sub}{key}")).await? else {
                    continue;
                };
                let lock: StoredLock = serde_json::from_slice(raw.expose())
                    .map_err(|e| Error::Internal(format!("corrupt lock entry: {e}")))?;
                by_name.insert(
                    (accessor.clone(), lock.name),
                    Failures {
                        count: 0,
                        last: lock.locked_at,
                        locked_at: Some(lock.locked_at),
                    },
                );
            }
        }
        Ok(Lockouts {
            view,
            by_name: parking_lot::Mutex::new(by_name),
        })
    }

    /// Whether `name` is locked on the mount at `now`. An expired lock is forgotten (its
    /// stored entry is removed by the next failure or unlock, or stays harmlessly).
    pub(crate) fn is_locked(
        &self,
        accessor: &str,
        name: &str,
        cfg: &LockoutConfig,
        now: i64,
    ) -> bool {
        let mut map = self.by_name.lock();
        let key = (accessor.to_string(), name.to_string());
        match map.get(&key).and_then(|f| f.locked_at) {
            Some(at) if now < at.saturating_add(secs(cfg.duration())) => true,
            Some(_) => {
                map.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Counts a failed login; the one that reaches the threshold locks the name (and writes
    /// the lock).
    pub(crate) async fn fail(
        &self,
        accessor: &str,
        name: &str,
        cfg: &LockoutConfig,
        now: i64,
    ) -> Result<Counted> {
        let locked = {
            let mut map = self.by_name.lock();
            if map.len() >= MAX_TRACKED
                && !map.contains_key(&(accessor.to_string(), name.to_string()))
            {
                evict_one(&mut map);
            }
            let f = map
                .entry((accessor.to_string(), name.to_string()))
                .or_insert(Failures {
                    count: 0,
                    last: now,
                    locked_at: None,
                });
            if now.saturating_sub(f.last) > secs(cfg.counter_reset()) {
                f.count = 0;
            }
            f.count += 1;
            f.last = now;
            if f.count >= cfg.threshold() && f.locked_at.is_none() {
                f.locked_at = Some(now);
                true
            } else {
                false
            }
        };
        if !locked {
            return Ok(Counted::Counted);
        }
        let value = serde_json::to_vec(&StoredLock {
            name: name.to_string(),
            locked_at: now,
        })
        .map_err(|e| Error::Internal(format!("encode lock: {e}")))?;
        self.view.put(&lock_key(accessor, name), &value).await?;
        Ok(Counted::Locked)
    }

    /// A successful login starts the count over.
    pub(crate) fn succeeded(&self, accessor: &str, name: &str) {
        let mut map = self.by_name.lock();
        let key = (accessor.to_string(), name.to_string());
        if map.get(&key).is_some_and(|f| f.locked_at.is_none()) {
            map.remove(&key);
        }
    }

    /// Lifts a lock (and the count); `false` when the name was not locked.
    pub(crate) async fn unlock(&self, accessor: &str, name: &str) -> Result<bool> {
        let was = self
            .by_name
            .lock()
            .remove(&(accessor.to_string(), name.to_string()))
            .is_some_and(|f| f.locked_at.is_some());
        self.view.delete(&lock_key(accessor, name)).await?;
        Ok(was)
    }

    /// The names locked at `now` under each mount's config (`config_of` gives it by accessor;
    /// `None`: the mount is gone, its locks are not listed).
    pub(crate) fn locked(
        &self,
        now: i64,
        config_of: impl Fn(&str) -> Option<LockoutConfig>,
    ) -> Vec<Locked> {
        let map = self.by_name.lock();
        let mut out: Vec<Locked> = map
            .iter()
            .filter_map(|((accessor, name), f)| {
                let cfg = config_of(accessor)?;
                let at = f.locked_at?;
                (now < at.saturating_add(secs(cfg.duration()))).then(|| Locked {
                    mount_accessor: accessor.clone(),
                    name: name.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.mount_accessor, &a.name).cmp(&(&b.mount_accessor, &b.name)));
        out
    }

    /// Forgets every lock and count of a disabled mount (its stored locks go with it).
    pub(crate) async fn forget_mount(&self, accessor: &str) -> Result<()> {
        self.by_name.lock().retain(|(a, _), _| a != accessor);
        self.view
            .sub(&format!("{LOCK_PREFIX}{accessor}/"))
            .clear()
            .await
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// Drops the unlocked entry that failed longest ago (or, if every entry is locked, the oldest
/// lock: its stored entry still holds it).
fn evict_one(map: &mut HashMap<(String, String), Failures>) {
    let victim = map
        .iter()
        .min_by_key(|(_, f)| (f.locked_at.is_some(), f.last))
        .map(|(k, _)| k.clone());
    if let Some(k) = victim {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LockoutConfig {
        LockoutConfig::default()
    }

    async fn view() -> View {
        let backend = std::sync::Arc::new(coffre_storage::InMemoryBackend::new());
        let barrier =
            crate::barrier::test_barrier(backend, crate::barrier::DEFAULT_MAX_ENCRYPTIONS_PER_TERM)
                .await;
        View::new(std::sync::Arc::new(barrier), "")
    }

    async fn lockouts() -> Lockouts {
        Lockouts::open(view().await).await.expect("open")
    }

    #[tokio::test]
    async fn the_fifth_failure_locks_for_fifteen_minutes() {
        let l = lockouts().await;
        for i in 0..4 {
            assert_eq!(
                l.fail("acc", "alice", &cfg(), 100 + i).await.expect("fail"),
                Counted::Counted
            );
            assert!(!l.is_locked("acc", "alice", &cfg(), 100 + i));
        }
        assert_eq!(
            l.fail("acc", "alice", &cfg(), 104).await.expect("fail"),
            Counted::Locked
        );
        assert!(l.is_locked("acc", "alice", &cfg(), 105));
        assert!(!l.is_locked("acc", "bob", &cfg(), 105));
        assert!(!l.is_locked("other", "alice", &cfg(), 105));
        assert!(l.is_locked("acc", "alice", &cfg(), 104 + 899));
        assert!(!l.is_locked("acc", "alice", &cfg(), 104 + 900));
    }

    #[tokio::test]
    async fn quiet_time_resets_the_count_and_success_clears_it() {
        let l = lockouts().await;
        for i in 0..4 {
            l.fail("acc", "alice", &cfg(), i).await.expect("fail");
        }
        // More than 15 minutes later the count starts over.
        assert_eq!(
            l.fail("acc", "alice", &cfg(), 3 + 901).await.expect("fail"),
            Counted::Counted
        );
        for i in 0..3 {
            l.fail("acc", "alice", &cfg(), 905 + i).await.expect("fail");
        }
        l.succeeded("acc", "alice");
        assert_eq!(
            l.fail("acc", "alice", &cfg(), 910).await.expect("fail"),
            Counted::Counted
        );
    }

    #[tokio::test]
    async fn locks_survive_a_reopen_and_unlock_lifts_them() {
        let view = view().await;
        let l = Lockouts::open(view.clone()).await.expect("open");
        let tight = LockoutConfig {
            threshold: 2,
            ..cfg()
        };
        l.fail("acc", "a/b", &tight, 1).await.expect("fail");
        l.fail("acc", "a/b", &tight, 2).await.expect("fail");
        let reopened = Lockouts::open(view.clone()).await.expect("open");
        assert!(reopened.is_locked("acc", "a/b", &tight, 3));
        let listed = reopened.locked(3, |_| Some(tight.clone()));
        assert_eq!((listed.len(), listed[0].name.as_str()), (1, "a/b"));
        assert!(reopened.unlock("acc", "a/b").await.expect("unlock"));
        assert!(!reopened.is_locked("acc", "a/b", &tight, 3));
        let again = Lockouts::open(view).await.expect("open");
        assert!(!again.is_locked("acc", "a/b", &tight, 3));
    }

    #[test]
    fn tuning_merges_and_names_the_bad_field() {
        let mut c = LockoutConfig {
            threshold: 3,
            ..cfg()
        };
        let data = serde_json::json!({"lockout_duration": "10m"});
        c.apply(data.as_object().expect("obj")).expect("apply");
        assert_eq!((c.threshold, c.duration), (3, 600));
        let bad = serde_json::json!({"lockout_threshold": "x"});
        let err = c.apply(bad.as_object().expect("obj")).expect_err("bad");
        assert!(err.to_string().contains("lockout_threshold"), "{err}");
        let unknown = serde_json::json!({"threshold": 1});
        assert!(c.apply(unknown.as_object().expect("obj")).is_err());
    }
}
