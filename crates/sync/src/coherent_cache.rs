//! A bounded cache in front of a store that lock-free readers fill and writers keep current.
//!
//! Readers look up, and on a miss read the store and [`CoherentCache::fill`] what they read.
//! Writers change the store first, then call [`CoherentCache::invalidate`] or
//! [`CoherentCache::replace`] before they report the change. The race to close is a reader
//! that read the old value just before a write and fills it just after the writer's update: it
//! would shadow the write (a revoked token that keeps working, say). Every fill therefore
//! carries the epoch it started under ([`CoherentCache::ticket`]); writers bump the epoch, and
//! a fill whose epoch moved is dropped. The check and the insert happen under the same lock
//! as the writer's bump and update, so there is no moment at which a stale value is visible
//! after the writer reported its write. Hits take no lock of ours; only misses and writes do.
//! The argument is on [`CoherentCache::fill`].
//!
//! Eviction is quick_cache's (S3-FIFO, sharded locks), bounded by total weight.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, UnitWeighter, Weighter};

/// See the module documentation.
pub struct CoherentCache<K, V, W = UnitWeighter> {
    entries: Cache<K, V, W>,
    /// Bumped by every writer update, under `update`.
    epoch: AtomicU64,
    /// Held by a writer's bump-and-update and by a fill's check-and-insert.
    update: Mutex<()>,
}

/// Taken before reading the store; hands the read's result to [`CoherentCache::fill`].
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> CoherentCache<K, V> {
    /// A cache of at most `items` entries.
    pub fn with_items(items: usize) -> Self {
        Self::with_weighter(items, items as u64, UnitWeighter)
    }
}

impl<K: Eq + Hash, V: Clone, W: Weighter<K, V> + Clone> CoherentCache<K, V, W> {
    /// A cache of at most `capacity` in weight (`estimated_items` sizes its tables).
    pub fn with_weighter(estimated_items: usize, capacity: u64, weighter: W) -> Self {
        Self {
            entries: Cache::with_weighter(estimated_items.max(16), capacity, weighter),
            epoch: AtomicU64::new(0),
            update: Mutex::new(()),
        }
    }

    /// The cached value of `key`, if any.
    pub fn get<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<V> {
        self.entries.get(key)
    }

    /// Take before reading `key` from the store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::SeqCst))
    }

    /// Cache `value`, which was read from the store after `ticket` was taken.
    ///
    /// Why no stale value is served after a write was reported: a writer changes the store,
    /// then (under `update`) bumps `epoch` and removes or replaces the entry, then reports. If
    /// our read saw the old value, the write finished after the read began, so its bump came
    /// after `ticket` was taken. Under `update`, either the bump has happened (the epoch moved:
    /// we drop the value), or it has not, and then the writer's remove or replace runs after our
    /// insert and before the writer reports. An unrelated write also moves the epoch and costs
    /// this fill, which is only a later miss.
    pub fn fill<Q>(&self, ticket: Ticket, key: &Q, value: V)
    where
        Q: Hash + Equivalent<K> + ToOwned<Owned = K> + ?Sized,
    {
        let _update = self.update.lock();
        if self.epoch.load(Ordering::SeqCst) == ticket.0 {
            self.entries.insert(key.to_owned(), value);
        }
    }

    /// Writer side: forget `keys`, after the store changed and before the change is reported.
    pub fn invalidate<'a, Q>(&self, keys: impl IntoIterator<Item = &'a Q>)
    where
        Q: Hash + Equivalent<K> + ?Sized + 'a,
    {
        let _update = self.update.lock();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for key in keys {
            self.entries.remove(key);
        }
    }

    /// Writer side: `key` now holds `value` in the store (written before this call).
    pub fn replace(&self, key: K, value: V) {
        let _update = self.update.lock();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.insert(key, value);
    }

    /// Writer side: forget everything (a change that may affect any entry), after the store
    /// changed and before the change is reported.
    pub fn clear(&self) {
        let _update = self.update.lock();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
    }

    /// Entries currently cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Weight currently charged against the capacity.
    pub fn weight(&self) -> u64 {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(c: &CoherentCache<String, u32>, key: &str, value: u32) {
        let t = c.ticket();
        c.fill(t, key, value);
    }

    #[test]
    fn fill_then_get() {
        let c = CoherentCache::with_items(100);
        fill(&c, "a", 1);
        assert_eq!(c.get("a"), Some(1));
        assert_eq!(c.get("b"), None);
    }

    #[test]
    fn invalidate_removes_the_written_keys_only() {
        let c = CoherentCache::with_items(100);
        fill(&c, "a", 1);
        fill(&c, "b", 2);
        c.invalidate(["a"]);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("b"), Some(2));
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_not_kept() {
        // The read began before the write (ticket taken), the writer invalidated, and only then
        // the read's old value arrives: it must not be served afterwards.
        let c: CoherentCache<String, u32> = CoherentCache::with_items(100);
        let t = c.ticket();
        c.invalidate(["a"]);
        c.fill(t, "a", 1);
        assert_eq!(c.get("a"), None);
        fill(&c, "a", 2);
        assert_eq!(c.get("a"), Some(2), "a fill under a fresh ticket is kept");
    }

    #[test]
    fn a_fill_that_raced_a_clear_is_not_kept() {
        let c: CoherentCache<String, u32> = CoherentCache::with_items(100);
        fill(&c, "b", 2);
        let t = c.ticket();
        c.clear();
        c.fill(t, "a", 1);
        assert_eq!(c.get("a"), None);
        assert_eq!(c.get("b"), None);
    }

    #[test]
    fn a_fill_that_raced_a_replace_does_not_shadow_it() {
        let c: CoherentCache<String, u32> = CoherentCache::with_items(100);
        let t = c.ticket();
        c.replace("a".into(), 2);
        c.fill(t, "a", 1);
        assert_eq!(c.get("a"), Some(2), "the old value must not be served");
    }

    /// Fillers race a writer over one key of an in-memory "store". After each update the
    /// writer reads through the cache: it must never see an older value. Millions of
    /// interleavings per second make the window between a stale insert and its removal (what
    /// an insert-then-recheck fill would leave open) show up within the run.
    #[test]
    fn no_stale_value_is_served_after_an_update_is_reported() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let cache: Arc<CoherentCache<String, u64>> = Arc::new(CoherentCache::with_items(16));
        let store = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let fillers: Vec<_> = (0..3)
            .map(|_| {
                let (cache, store, stop) = (cache.clone(), store.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if cache.get("k").is_none() {
                            let t = cache.ticket();
                            let v = store.load(Ordering::SeqCst);
                            cache.fill(t, "k", v);
                        }
                    }
                })
            })
            .collect();
        for i in 1..=20_000u64 {
            store.store(i, Ordering::SeqCst);
            cache.invalidate(["k"]);
            if let Some(v) = cache.get("k") {
                assert!(v >= i, "served {v} after update {i} was reported");
            }
        }
        stop.store(true, Ordering::Relaxed);
        for f in fillers {
            f.join().expect("filler");
        }
    }

    #[test]
    fn bounded_by_items() {
        let c = CoherentCache::with_items(50);
        for i in 0..1_000u32 {
            fill(&c, &format!("k{i}"), i);
        }
        assert!(c.len() <= 50, "{} entries", c.len());
    }
}
