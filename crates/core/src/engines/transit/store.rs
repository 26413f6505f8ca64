//! Per-mount state shared by every engine instance of a mount: the parsed-key cache, the
//! write lock, and the scheduler of the keys' rotation jobs.
//!
//! Every engine instance of a mount gets the same [`Shared`] from the core's
//! [`MountStates`](crate::engines::mount_state::MountStates), so there is one cache and one
//! writer per mount. When the last engine instance of a mount is dropped (mount disabled,
//! server sealed), the state — and every cached key — is dropped and zeroized.
//!
//! Cache coherence: every change to a key is made under [`Shared::write`], persisted, then
//! installed in the cache together with a generation bump. A reader that missed the cache only
//! inserts what it loaded if no change happened meanwhile (same generation), so a slow reader
//! can never put an outdated key back into the cache.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use super::policy::{Key, POLICY_PREFIX, StoredKey};
use crate::barrier::View;
use crate::error::Result;

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<Key>>,
    generation: u64,
}

/// State shared by the engine instances of one mount.
#[derive(Default)]
pub(super) struct Shared {
    cache: RwLock<Cache>,
    /// Serializes every change to the mount's keys.
    pub(super) write: tokio::sync::Mutex<()>,
    /// Schedules the rotation jobs of the mount's keys; set by the first engine instance.
    pub(super) scheduler: OnceLock<super::rotation::Scheduler>,
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
        // The job first: if the write then fails, the job wakes, finds nothing due and goes
        // away; the other order could leave a period that nothing ever acts on.
        if let Some(scheduler) = self.scheduler.get() {
            scheduler.schedule(stored).await?;
        }
        view.put(&storage_key(&stored.config.name), &json).await?;
        {
            let mut cache = self.cache.write();
            cache.generation += 1;
            cache.keys.insert(stored.config.name.clone(), key.clone());
        }
        Ok(key)
    }

    /// Another node changed `stored` (a key of the mount's view): the cached key of that name,
    /// if any, is dropped, and the generation moves on so a load that read storage before the
    /// change does not put the old key back.
    pub(super) fn invalidate(&self, stored: &str) {
        if let Some(name) = stored.strip_prefix(POLICY_PREFIX) {
            let mut cache = self.cache.write();
            cache.generation += 1;
            cache.keys.remove(name);
        }
    }

    /// Deletes a key. Call with [`Self::write`] held.
    pub(super) async fn remove(&self, view: &View, name: &str) -> Result<()> {
        view.delete(&storage_key(name)).await?;
        {
            let mut cache = self.cache.write();
            cache.generation += 1;
            cache.keys.remove(name);
        }
        Ok(())
    }
}
