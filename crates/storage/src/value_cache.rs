//! Recently read values of the embedded store, kept in memory ahead of redb.
//!
//! A point read that hits here skips redb's read transaction, table lookup and B-tree walk:
//! about 2 µs of a 35 µs audited KV v2 read on the bench VM (6% of its profile). This is
//! Vault's physical cache (`cache_size`), and like Vault's it holds what the backend stores:
//! the barrier's ciphertext. Nothing decrypted is ever cached here (DESIGN §7).
//!
//! Coherence comes from [`CoherentCache`]: the writer thread calls [`ValueCache::invalidate`]
//! after each commit and before answering the writers, and a fill that raced a commit is taken
//! back out.

use std::sync::Arc;

use quick_cache::Weighter;

use coffre_sync::{CoherentCache, Ticket};

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
pub(crate) struct ValueCache(CoherentCache<String, Arc<[u8]>, ByteWeight>);

impl ValueCache {
    /// A cache of at most `capacity_bytes` (keys, values and per-entry overhead). `None` when
    /// `capacity_bytes` is 0: caching disabled.
    pub(crate) fn new(capacity_bytes: usize) -> Option<Self> {
        if capacity_bytes == 0 {
            return None;
        }
        let capacity = capacity_bytes as u64;
        // Typical entry: a 40-80 byte key and a 100-300 byte ciphertext.
        let estimated_items = (capacity / 256) as usize;
        Some(Self(CoherentCache::with_weighter(
            estimated_items,
            capacity,
            ByteWeight,
        )))
    }

    /// The cached value of `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        self.0.get(key)
    }

    /// Take before reading `key` from the database.
    pub(crate) fn ticket(&self) -> Ticket {
        self.0.ticket()
    }

    /// Cache `value`, read from the database after `ticket` was taken.
    pub(crate) fn fill(&self, ticket: Ticket, key: &str, value: &[u8]) {
        if value.len() <= MAX_VALUE_BYTES {
            self.0.fill(ticket, key, Arc::from(value));
        }
    }

    /// Forget `keys`: called by the writer after every commit, before it answers the writers.
    pub(crate) fn invalidate<'a>(&self, keys: impl Iterator<Item = &'a str>) {
        self.0.invalidate(keys);
    }

    /// Bytes currently charged against the capacity.
    #[cfg(test)]
    fn weight(&self) -> u64 {
        self.0.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_capacity_disables_the_cache() {
        assert!(ValueCache::new(0).is_none());
    }

    #[test]
    fn capacity_counts_bytes_and_big_values_are_skipped() {
        let c = ValueCache::new(64 << 10).expect("non-zero capacity");
        for i in 0..2_000 {
            let t = c.ticket();
            c.fill(t, &format!("key/{i}"), &[7u8; 200]);
        }
        assert!(c.weight() <= 64 << 10, "weight {}", c.weight());
        let t = c.ticket();
        c.fill(t, "small", b"v");
        assert_eq!(c.get("small").as_deref(), Some(&b"v"[..]));
        c.invalidate(["small"].into_iter());
        assert!(c.get("small").is_none());
        let t = c.ticket();
        c.fill(t, "big", &vec![0u8; MAX_VALUE_BYTES + 1]);
        assert!(c.get("big").is_none());
    }
}
