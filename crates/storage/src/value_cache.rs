//! Recently read values of the embedded store, kept in memory ahead of redb.
//!
//! A point read that hits here skips redb's read transaction, table lookup and B-tree walk:
//! about 2 µs of a 35 µs audited KV v2 read on the bench VM (6% of its profile). This is
//! Vault's physical cache (`cache_size`), and like Vault's it holds what the backend stores:
//! the barrier's ciphertext. Nothing decrypted is ever cached here (DESIGN §7).
//!
//! Coherence. Only the writer thread changes the database, and it calls [`ValueCache::invalidate`]
//! after each commit and before answering the writers, so a write that has been acknowledged is
//! never shadowed by an older cached value. The one race is a reader that read the old value
//! from redb just before a commit and inserts it just after the invalidation. Every fill
//! therefore carries the invalidation epoch it started under ([`ValueCache::ticket`]); after
//! inserting, [`ValueCache::fill`] checks the epoch again and takes its own entry back out if an
//! invalidation ran in between. The proof that this is enough is on `fill`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// Bytes charged per entry beyond key and value: the map slot, the `Arc` header, the key's
/// `String` header. A rough figure; it only has to keep many tiny entries from looking free.
const ENTRY_OVERHEAD: u64 = 64;

/// Values larger than this are not cached: one big blob would evict many small hot ones.
const MAX_VALUE_BYTES: usize = 64 << 10;

#[derive(Clone)]
struct ByteWeight;

impl Weighter<String, Arc<[u8]>> for ByteWeight {
    fn weight(&self, key: &String, value: &Arc<[u8]>) -> u64 {
        (key.len() + value.len()) as u64 + ENTRY_OVERHEAD
    }
}

/// A bounded cache of stored values (ciphertext), coherent with the writer thread.
pub(crate) struct ValueCache {
    entries: Cache<String, Arc<[u8]>, ByteWeight>,
    /// Bumped by every invalidation; see [`ValueCache::fill`].
    epoch: AtomicU64,
}

/// Taken before reading redb; hands the read's result to [`ValueCache::fill`].
#[derive(Clone, Copy)]
pub(crate) struct Ticket(u64);

impl ValueCache {
    /// A cache of at most `capacity_bytes` (keys, values and per-entry overhead). `None` when
    /// `capacity_bytes` is 0: caching disabled.
    pub(crate) fn new(capacity_bytes: usize) -> Option<Self> {
        if capacity_bytes == 0 {
            return None;
        }
        let capacity = capacity_bytes as u64;
        // Typical entry: a 40-80 byte key and a 100-300 byte ciphertext.
        let estimated_items = (capacity / 256).max(16) as usize;
        Some(Self {
            entries: Cache::with_weighter(estimated_items, capacity, ByteWeight),
            epoch: AtomicU64::new(0),
        })
    }

    /// The cached value of `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        self.entries.get(key)
    }

    /// Take before reading `key` from the database.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::SeqCst))
    }

    /// Cache `value`, which was read from the database after `ticket` was taken.
    ///
    /// Why a stale value cannot stay: the writer commits, then bumps `epoch`, then removes the
    /// keys it wrote ([`ValueCache::invalidate`]). If our read saw the old value, the commit
    /// came after the read began, so the bump did not happen before `ticket` was taken. Either
    /// the bump precedes our re-check below (we see it and remove our own insert), or it comes
    /// after the re-check, and then the writer's `remove` runs after our `insert` and takes the
    /// stale value out. Removing an entry that a newer fill put there costs one miss, nothing
    /// more.
    pub(crate) fn fill(&self, ticket: Ticket, key: &str, value: &[u8]) {
        if value.len() > MAX_VALUE_BYTES {
            return;
        }
        self.entries.insert(key.to_owned(), Arc::from(value));
        if self.epoch.load(Ordering::SeqCst) != ticket.0 {
            self.entries.remove(key);
        }
    }

    /// Forget `keys`: called by the writer after every commit, before it answers the writers.
    pub(crate) fn invalidate<'a>(&self, keys: impl Iterator<Item = &'a str>) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for key in keys {
            self.entries.remove(key);
        }
    }

    /// Bytes currently charged against the capacity.
    #[cfg(test)]
    fn weight(&self) -> u64 {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ValueCache {
        ValueCache::new(1 << 20).expect("non-zero capacity")
    }

    #[test]
    fn zero_capacity_disables_the_cache() {
        assert!(ValueCache::new(0).is_none());
    }

    #[test]
    fn fill_then_get() {
        let c = cache();
        let t = c.ticket();
        c.fill(t, "a", b"one");
        assert_eq!(c.get("a").as_deref(), Some(&b"one"[..]));
        assert!(c.get("b").is_none());
    }

    #[test]
    fn invalidate_removes_the_written_keys_only() {
        let c = cache();
        let t = c.ticket();
        c.fill(t, "a", b"one");
        let t = c.ticket();
        c.fill(t, "b", b"two");
        c.invalidate(["a"].into_iter());
        assert!(c.get("a").is_none());
        assert_eq!(c.get("b").as_deref(), Some(&b"two"[..]));
    }

    #[test]
    fn a_fill_that_raced_a_commit_is_not_kept() {
        // The read began before the commit (ticket taken), the writer invalidated, and only then
        // the read's (old) value arrives: it must not be served afterwards.
        let c = cache();
        let t = c.ticket();
        c.invalidate(["a"].into_iter());
        c.fill(t, "a", b"old");
        assert!(c.get("a").is_none());
        // A fill under a fresh ticket is kept.
        let t = c.ticket();
        c.fill(t, "a", b"new");
        assert_eq!(c.get("a").as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn capacity_is_respected_and_big_values_skipped() {
        let c = ValueCache::new(64 << 10).expect("non-zero capacity");
        for i in 0..2_000 {
            let t = c.ticket();
            c.fill(t, &format!("key/{i}"), &[7u8; 200]);
        }
        assert!(c.weight() <= 64 << 10, "weight {}", c.weight());
        let t = c.ticket();
        c.fill(t, "big", &vec![0u8; MAX_VALUE_BYTES + 1]);
        assert!(c.get("big").is_none());
    }
}
