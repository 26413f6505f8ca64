//! coffre's storage layer: a dumb, ordered `key -> bytes` store. No crypto happens here; the
//! core encrypts every value before it reaches a [`Backend`].
//!
//! Keys are `/`-separated paths such as `core/keyring` or `logical/<uuid>/foo/bar`; values are
//! opaque bytes. Two backends ship with the crate:
//!
//! * [`RedbBackend`] ("embedded"): a single redb file, every acknowledged write is durable, and
//!   concurrent writers are group-committed (one fsync for many writes).
//! * [`InMemoryBackend`] ("inmem"): a `BTreeMap`, for tests and dev mode.
//! * [`PostgresBackend`] ("postgresql"): a table in PostgreSQL, for several nodes on one
//!   database.
//!
//! With the `testing` feature, [`testing::conformance`] checks any backend against the contract.

use std::ops::Bound;

mod embedded;
mod memory;
mod postgres;
mod postgres_group;
mod postgres_ha;
mod postgres_sql;
mod postgres_tls;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod value_cache;

pub use embedded::{
    DEFAULT_CACHE_BYTES, DEFAULT_VALUE_CACHE_BYTES, GroupCommitConfig, RedbBackend,
};
pub use memory::InMemoryBackend;
pub use postgres::{PostgresBackend, PostgresConfig};
pub use postgres_ha::{Change, Ha, LeaderInfo, Member, NodeInfo};
pub use postgres_tls::{PgTls, PgTlsParams, TlsMode, split_tls_params};

/// Result alias used throughout the crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Errors from a storage backend. Messages never include stored values (keys are not secret,
/// but we don't echo them either).
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// A filesystem operation outside the database failed (e.g. creating the data directory).
    #[error("storage I/O error: {0}")]
    Io(String),
    /// The database engine reported an error (open, transaction, table, commit, corruption).
    #[error("storage database error: {0}")]
    Database(String),
    /// The backend (its writer thread) is no longer running.
    #[error("storage backend is shut down")]
    Closed,
    /// The database cannot be reached now (down, restarting, a broken connection): a retry
    /// may succeed, and nothing of the failed call was committed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A write on a node that is not the active one of several sharing the storage (or has
    /// just stopped being it): refused before anything was written.
    #[error("this node is a standby: writes go to the active node")]
    Standby,
}

/// One write in an atomic [`Backend::batch`].
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to the value.
    Put(String, Vec<u8>),
    /// Remove `key` (a missing key is fine).
    Delete(String),
}

impl Op {
    /// The key this op touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Put(k, _) | Op::Delete(k) => k,
        }
    }
}

// Manual Debug: never print values.
impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Put(k, v) => write!(f, "Put({k:?}, <{} bytes>)", v.len()),
            Op::Delete(k) => write!(f, "Delete({k:?})"),
        }
    }
}

/// An ordered key -> bytes store.
///
/// Every write method returns `Ok` only once the write is durable (for persistent backends).
#[async_trait::async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// The value stored under `key`, if any. An empty value is `Some(vec![])`, not `None`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Store `value` under `key`, replacing any previous value. Durable when it returns `Ok`.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()>;

    /// Remove `key`. Deleting a missing key is `Ok`.
    async fn delete(&self, key: &str) -> Result<()>;

    /// One level below `prefix` (like Vault): for keys `a/b`, `a/c/d`, `a/c/e` and prefix `a/`
    /// the result is `["b", "c/"]`; sorted, deduplicated. Prefix `""` lists the top level.
    ///
    /// `prefix` is matched as a plain string prefix: `list("a")` over key `ab/c` yields `"b/"`,
    /// and over `a/b` yields `"/"`. Callers that mean a folder pass a trailing `/`. A key equal
    /// to `prefix` itself is not listed (its remainder would be the empty name).
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Every full key starting with `prefix` (plain string prefix), sorted, recursive.
    async fn scan(&self, prefix: &str) -> Result<Vec<String>>;

    /// At most `limit` keys `k` with `start <= k < end`, sorted: a bounded walk of one key range
    /// (the job runner's due-index reads what is due without touching what is not). The
    /// default filters a [`Backend::scan`] of the common prefix; ordered backends override it
    /// with a range read that stops at `end` or after `limit` keys.
    async fn scan_range(&self, start: &str, end: &str, limit: usize) -> Result<Vec<String>> {
        let common: String = start
            .chars()
            .zip(end.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a)
            .collect();
        let mut keys = self.scan(&common).await?;
        keys.retain(|k| k.as_str() >= start && k.as_str() < end);
        keys.truncate(limit);
        Ok(keys)
    }

    /// Atomically: if the current value equals `expected` (`None` = absent) apply `new`
    /// (`None` = delete) and return `true`; otherwise return `false` and change nothing.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool>;

    /// All ops applied in order, atomically and durably, or none of them.
    async fn batch(&self, ops: Vec<Op>) -> Result<()>;

    /// Name reported as seal-status `storage_type`, e.g. `"embedded"`, `"inmem"`.
    fn kind(&self) -> &'static str;
}

/// Shared implementation of [`Backend::list`] over any ordered key space.
///
/// `seek(bound)` returns the smallest key satisfying the lower `bound`, if any. Instead of
/// walking every key below a folder, the walk jumps over each folder once it is found: all keys
/// `<prefix><name>/...` sort before `<prefix><name>0` because `'0'` is the byte after `'/'`.
pub(crate) fn list_one_level(
    prefix: &str,
    mut seek: impl FnMut(Bound<&str>) -> Result<Option<String>>,
) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut lower: Bound<String> = Bound::Included(prefix.to_owned());
    loop {
        let next = match &lower {
            Bound::Included(s) => seek(Bound::Included(s.as_str()))?,
            Bound::Excluded(s) => seek(Bound::Excluded(s.as_str()))?,
            Bound::Unbounded => seek(Bound::Unbounded)?,
        };
        let Some(key) = next else { break };
        let Some(rest) = key.strip_prefix(prefix) else {
            break;
        };
        match rest.find('/') {
            None => {
                if !rest.is_empty() {
                    out.push(rest.to_owned());
                }
                lower = Bound::Excluded(key);
            }
            Some(i) => {
                out.push(rest[..=i].to_owned());
                lower = Bound::Included(format!("{prefix}{}0", &rest[..i]));
            }
        }
    }
    // Already in order by construction; sort + dedup keeps the contract obvious and cheap.
    out.sort();
    out.dedup();
    Ok(out)
}
