//! Per-mount state shared by every engine instance of a mount: the parsed-key cache, the
//! write lock, and the background auto-rotator.
//!
//! Every engine instance of a mount gets the same [`Shared`] from the core's
//! [`MountStates`](crate::engines::mount_state::MountStates), so there is one cache and one
//! writer per mount. When the last engine instance of a mount is dropped (mount disabled,
//! server sealed), the state — and every cached key — is dropped and zeroized, and the
//! rotator, which only holds a weak reference, stops at its next tick.
//!
//! Cache coherence: every change to a key is made under [`Shared::write`], persisted, then
//! installed in the cache together with a generation bump. A reader that missed the cache only
//! inserts what it loaded if no change happened meanwhile (same generation), so a slow reader
//! can never put an outdated key back into the cache.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use super::policy::{Key, POLICY_PREFIX, StoredKey};
use crate::barrier::View;
use crate::error::Result;

/// How often the rotator looks for keys due for rotation.
pub(super) const ROTATION_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// What the rotator needs to know about a key: its period and the creation time of its
/// latest version (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RotationEntry {
    pub(super) period_secs: u64,
    pub(super) latest_created_secs: i64,
}

impl RotationEntry {
    pub(super) fn of(stored: &StoredKey) -> Option<RotationEntry> {
        let period = stored.config.auto_rotate_period;
        if period == 0 {
            return None;
        }
        let latest = stored
            .versions
            .get(&stored.config.latest_version)
            .map(|v| v.creation_time.div_euclid(1_000_000_000))
            .unwrap_or(0);
        Some(RotationEntry {
            period_secs: period,
            latest_created_secs: latest,
        })
    }

    pub(super) fn due(&self, now_secs: i64) -> bool {
        now_secs.saturating_sub(self.latest_created_secs)
            >= i64::try_from(self.period_secs).unwrap_or(i64::MAX)
    }
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<Key>>,
    generation: u64,
}

/// What the background rotator needs: the mount's storage, its entry (for audit entries), and
/// the audit log, through which every automatic rotation is recorded.
#[derive(Clone)]
pub(crate) struct RotatorContext {
    pub(crate) view: View,
    pub(crate) mount: Arc<crate::mount::MountEntry>,
    pub(crate) background: crate::audit::BackgroundAudit,
}

/// State shared by the engine instances of one mount.
#[derive(Default)]
pub(super) struct Shared {
    cache: RwLock<Cache>,
    /// Serializes every change to the mount's keys.
    pub(super) write: tokio::sync::Mutex<()>,
    /// What the rotator works with, captured from the first engine instance.
    rotator: OnceLock<RotatorContext>,
    /// Keys with automatic rotation. `None` until the rotator has scanned storage once.
    rotation: Mutex<Option<BTreeMap<String, RotationEntry>>>,
    rotator_started: AtomicBool,
}

fn storage_key(name: &str) -> String {
    format!("{POLICY_PREFIX}{name}")
}

/// Reads and parses a key's stored form.
pub(super) async fn read_stored(view: &View, name: &str) -> Result<Option<StoredKey>> {
    match view.get(&storage_key(name)).await? {
        None => Ok(None),
        Some(raw) => StoredKey::from_json(raw.expose()).map(Some),
    }
}

impl Shared {
    /// The cached key, loading it on a miss. A hot path takes one read lock and clones an `Arc`.
    pub(super) async fn load(&self, view: &View, name: &str) -> Result<Option<Arc<Key>>> {
        let generation = {
            let cache = self.cache.read();
            if let Some(k) = cache.keys.get(name) {
                return Ok(Some(k.clone()));
            }
            cache.generation
        };
        let Some(stored) = read_stored(view, name).await? else {
            return Ok(None);
        };
        let key = Arc::new(Key::build(&stored, None)?);
        let mut cache = self.cache.write();
        if cache.generation == generation {
            cache.keys.insert(name.to_string(), key.clone());
        }
        Ok(Some(key))
    }

    /// The cached key without touching storage.
    pub(super) fn cached(&self, name: &str) -> Option<Arc<Key>> {
        self.cache.read().keys.get(name).cloned()
    }

    /// Stores `stored` and installs the parsed key in the cache. Call with [`Self::write`]
    /// held. `reuse` lends already parsed versions (never for restores).
    pub(super) async fn persist(
        &self,
        view: &View,
        stored: &StoredKey,
        reuse: Option<&Key>,
    ) -> Result<Arc<Key>> {
        let key = Arc::new(Key::build(stored, reuse)?);
        let json = stored.to_json()?;
        view.put(&storage_key(&stored.config.name), &json).await?;
        {
            let mut cache = self.cache.write();
            cache.generation += 1;
            cache.keys.insert(stored.config.name.clone(), key.clone());
        }
        self.track_rotation(&stored.config.name, RotationEntry::of(stored));
        Ok(key)
    }

    /// Deletes a key. Call with [`Self::write`] held.
    pub(super) async fn remove(&self, view: &View, name: &str) -> Result<()> {
        view.delete(&storage_key(name)).await?;
        {
            let mut cache = self.cache.write();
            cache.generation += 1;
            cache.keys.remove(name);
        }
        self.track_rotation(name, None);
        Ok(())
    }

    fn track_rotation(&self, name: &str, entry: Option<RotationEntry>) {
        if let Some(index) = self.rotation.lock().as_mut() {
            match entry {
                Some(e) => {
                    index.insert(name.to_string(), e);
                }
                None => {
                    index.remove(name);
                }
            }
        }
    }

    /// Names of keys due for rotation at `now_secs`, scanning storage the first time.
    /// Call with [`Self::write`] held.
    pub(super) async fn due_for_rotation(&self, view: &View, now_secs: i64) -> Result<Vec<String>> {
        if self.rotation.lock().is_none() {
            let mut index = BTreeMap::new();
            for name in view.list(POLICY_PREFIX).await? {
                if name.ends_with('/') {
                    continue;
                }
                if let Some(stored) = read_stored(view, &name).await?
                    && let Some(e) = RotationEntry::of(&stored)
                {
                    index.insert(name, e);
                }
            }
            *self.rotation.lock() = Some(index);
        }
        Ok(self
            .rotation
            .lock()
            .as_ref()
            .map(|index| {
                index
                    .iter()
                    .filter(|(_, e)| e.due(now_secs))
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Starts the background rotator once per mount state (needs a Tokio runtime; a no-op
    /// without one). The task holds a weak reference and ends when the state is dropped.
    pub(super) fn ensure_rotator(self: &Arc<Self>, ctx: &RotatorContext) {
        // Hot path: one atomic load once everything is set up.
        if self.rotator_started.load(Ordering::Acquire) {
            return;
        }
        let _ = self.rotator.get_or_init(|| ctx.clone());
        if self.rotator_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.rotator_started.store(false, Ordering::Release);
            return;
        };
        let weak = Arc::downgrade(self);
        handle.spawn(async move {
            loop {
                tokio::time::sleep(ROTATION_CHECK_INTERVAL).await;
                let Some(shared) = weak.upgrade() else {
                    break;
                };
                let Some(ctx) = shared.rotator.get().cloned() else {
                    continue;
                };
                if let Err(e) = super::keys::rotate_due_keys(
                    &shared,
                    &ctx,
                    crate::clock::Clock::now_unix_secs(&**ctx.view.clock()),
                )
                .await
                {
                    tracing::warn!(error = %e, "transit auto-rotation failed");
                }
            }
        });
    }
}
