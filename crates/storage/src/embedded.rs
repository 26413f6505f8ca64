//! The embedded backend: one redb file, durable writes, group commit.
//!
//! Writes: a dedicated writer thread owns every write transaction. Callers send their op and a
//! oneshot reply channel; the writer takes the first queued request, drains whatever else is
//! already queued (up to [`GroupCommitConfig::max_group`]), applies all of them in order in ONE
//! write transaction, commits once with `Durability::Immediate` (one fsync), then answers every
//! caller. No artificial delay: groups form naturally from requests that queue up while the
//! previous commit is being fsync'd.
//!
//! Reads: `get`/`list`/`scan` call `begin_read()` directly on the calling (async) thread. redb
//! read transactions are MVCC snapshots that never wait for the writer, and reads are served
//! from redb's page cache, so they are short CPU-bound work (~1 µs per point read) — cheaper
//! than a hop through `spawn_blocking`. A cold-cache read may touch the disk; that is accepted.
//! Point reads go through a [`ValueCache`] of recently read values first (see its module for
//! how it stays coherent with the writer).

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::value_cache::ValueCache;
use crate::{Backend, Op, Result, StorageError, list_one_level};
use coffre_sync::handoff::{self, Handoff, Take};

/// The single table: `&str` key -> `&[u8]` value.
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// Name of the database file inside the data directory.
const FILE_NAME: &str = "coffre.redb";

macro_rules! from_redb {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                StorageError::Database(e.to_string())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
);

/// Default size of redb's page cache. redb's own default (1 GiB) would let the cache alone
/// exceed the memory budget of a small server; the working set of secrets is usually far
/// smaller, and the OS page cache still holds the file.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Default size of the cache of recently read values (ciphertext) in front of redb.
pub const DEFAULT_VALUE_CACHE_BYTES: usize = 16 << 20;

/// Tuning for the writer thread and the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupCommitConfig {
    /// Most requests applied in one write transaction (one fsync). `1` disables grouping;
    /// `0` is treated as `1`. Default 1024.
    pub max_group: usize,
    /// redb page cache size in bytes. Default [`DEFAULT_CACHE_BYTES`].
    pub cache_bytes: usize,
    /// Size in bytes of the cache of recently read values; 0 disables it. Default
    /// [`DEFAULT_VALUE_CACHE_BYTES`].
    pub value_cache_bytes: usize,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            max_group: 1024,
            cache_bytes: DEFAULT_CACHE_BYTES,
            value_cache_bytes: DEFAULT_VALUE_CACHE_BYTES,
        }
    }
}

impl GroupCommitConfig {
    /// Set [`GroupCommitConfig::max_group`].
    pub fn with_max_group(mut self, max_group: usize) -> Self {
        self.max_group = max_group;
        self
    }

    /// Set [`GroupCommitConfig::cache_bytes`].
    pub fn with_cache_bytes(mut self, cache_bytes: usize) -> Self {
        self.cache_bytes = cache_bytes;
        self
    }

    /// Set [`GroupCommitConfig::value_cache_bytes`].
    pub fn with_value_cache_bytes(mut self, value_cache_bytes: usize) -> Self {
        self.value_cache_bytes = value_cache_bytes;
        self
    }
}

/// A write waiting for the writer thread. Values are owned so they can cross threads.
enum WriteOp {
    Put(String, Vec<u8>),
    Delete(String),
    Cas {
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    },
    Batch(Vec<Op>),
}

impl WriteOp {
    /// Every key this op may change.
    fn keys(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            WriteOp::Put(key, _) | WriteOp::Delete(key) | WriteOp::Cas { key, .. } => {
                (Some(key.as_str()), &[][..])
            }
            WriteOp::Batch(ops) => (None, ops.as_slice()),
        };
        one.into_iter().chain(many.iter().map(Op::key))
    }
}

struct Request {
    op: WriteOp,
    /// `Ok(true)` for plain writes and successful CAS, `Ok(false)` for a CAS mismatch.
    reply: oneshot::Sender<Result<bool>>,
}

struct Shared {
    db: Database,
    commits: AtomicU64,
    /// `None` when disabled (`value_cache_bytes` 0).
    values: Option<ValueCache>,
}

/// The default, persistent [`Backend`] (`storage_type` "embedded"): `<dir>/coffre.redb`.
///
/// Dropping it closes the request channel and joins the writer thread, which first finishes
/// (and answers) every request already queued. That join may block for one commit.
pub struct RedbBackend {
    shared: Arc<Shared>,
    queue: Arc<Handoff<Request>>,
    writer: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl std::fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbBackend")
            .field("path", &self.path)
            .field("commits", &self.commit_count())
            .finish()
    }
}

impl RedbBackend {
    /// Open (or create) the store in `dir`, creating `dir` and `<dir>/coffre.redb` as needed.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, GroupCommitConfig::default())
    }

    /// [`RedbBackend::open`] with explicit group-commit tuning.
    pub fn open_with(dir: &Path, config: GroupCommitConfig) -> Result<Self> {
        create_dir(dir)?;
        let path = dir.join(FILE_NAME);
        let db = redb::Builder::new()
            .set_cache_size(config.cache_bytes)
            .create(&path)?;

        // Create the table up front so readers never see "table does not exist".
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(TABLE)?;
        txn.commit()?;

        let shared = Arc::new(Shared {
            db,
            commits: AtomicU64::new(0),
            values: ValueCache::new(config.value_cache_bytes),
        });
        let queue = Arc::new(Handoff::default());
        let max_group = config.max_group.max(1);
        let writer = handoff::spawn_consumer("coffre-storage-writer".into(), {
            let shared = Arc::clone(&shared);
            let queue = Arc::clone(&queue);
            move || writer_loop(&shared, &queue, max_group)
        })
        .map_err(|e| StorageError::Io(format!("spawning storage writer thread: {e}")))?;

        Ok(Self {
            shared,
            queue,
            writer: Some(writer),
            path,
        })
    }

    /// Number of write transactions the writer thread has committed since open. With
    /// concurrent writers this is lower than the number of writes (group commit).
    pub fn commit_count(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue a write for the writer thread and wait for its durable commit.
    ///
    /// If the caller's future is dropped after the request was queued, the write still happens.
    async fn submit(&self, op: WriteOp) -> Result<bool> {
        let (reply, rx) = oneshot::channel();
        self.queue
            .push(Request { op, reply })
            .map_err(|_| StorageError::Closed)?;
        rx.await.map_err(|_| StorageError::Closed)?
    }

    /// Run `f` on the table in a fresh read snapshot.
    fn read<T>(&self, f: impl FnOnce(&redb::ReadOnlyTable<&str, &[u8]>) -> Result<T>) -> Result<T> {
        let txn = self.shared.db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        f(&table)
    }
}

impl Drop for RedbBackend {
    fn drop(&mut self) {
        // Closing the queue ends the writer loop once what is queued is committed.
        self.queue.close();
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("storage writer thread panicked");
        }
    }
}

#[cfg(unix)]
fn create_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    // The directory holds the (encrypted) barrier; keep it private to the service user.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StorageError::Io(format!("creating {}: {e}", dir.display())))
}

#[cfg(not(unix))]
fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StorageError::Io(format!("creating {}: {e}", dir.display())))
}

fn writer_loop(shared: &Shared, queue: &Handoff<Request>, max_group: usize) {
    let mut group: Vec<Request> = Vec::with_capacity(max_group.min(1024));
    // Everything queued while the previous commit ran becomes the next group (one fsync).
    loop {
        let batch = match queue.take(None) {
            Take::Items(batch) => batch,
            Take::TimedOut => continue,
            Take::Closed => return,
        };
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            group.extend(batch.by_ref().take(max_group));
            commit_group(shared, &mut group);
        }
    }
}

/// Where a write transaction failed.
enum Failure {
    /// Could not start the transaction: nothing was attempted.
    Begin(StorageError),
    /// An op failed while being applied; the transaction was aborted.
    Apply(StorageError),
    /// The commit itself failed; nothing in the transaction is durable.
    Commit(StorageError),
}

/// Apply `group` in one transaction, commit once, answer every request; drains `group`.
fn commit_group(shared: &Shared, group: &mut Vec<Request>) {
    match run_txn(shared, group.iter().map(|r| &r.op)) {
        Ok(results) => {
            for (req, res) in group.drain(..).zip(results) {
                // The caller may have given up waiting; its write is committed regardless.
                let _ = req.reply.send(Ok(res));
            }
        }
        Err(Failure::Apply(e)) if group.len() > 1 => {
            // One request could not be applied (e.g. a value over redb's size limit). Don't
            // fail its neighbours for it: retry each request in its own transaction.
            tracing::warn!(error = %e, size = group.len(), "storage group apply failed; retrying singly");
            for req in group.drain(..) {
                let res = run_txn(shared, std::iter::once(&req.op))
                    .map(|mut r| r.pop().unwrap_or(true))
                    .map_err(Failure::into_error);
                let _ = req.reply.send(res);
            }
        }
        Err(failure) => {
            let e = failure.into_error();
            tracing::error!(error = %e, size = group.len(), "storage write transaction failed");
            for req in group.drain(..) {
                let _ = req.reply.send(Err(e.clone()));
            }
        }
    }
}

impl Failure {
    fn into_error(self) -> StorageError {
        match self {
            Failure::Begin(e) | Failure::Apply(e) | Failure::Commit(e) => e,
        }
    }
}

/// One durable write transaction over `ops`, in order. Returns each op's result.
fn run_txn<'a>(
    shared: &Shared,
    ops: impl Iterator<Item = &'a WriteOp> + Clone,
) -> std::result::Result<Vec<bool>, Failure> {
    let mut txn = shared
        .db
        .begin_write()
        .map_err(|e| Failure::Begin(e.into()))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| Failure::Begin(e.into()))?;
    match apply_all(&txn, ops.clone()) {
        Ok(results) => {
            let committed = txn.commit();
            // Before anyone is told the write happened (and also when the commit failed, when
            // what is on disk is not known): no reader may be served an older cached value.
            if let Some(values) = &shared.values {
                values.invalidate(ops.flat_map(WriteOp::keys));
            }
            committed.map_err(|e| Failure::Commit(e.into()))?;
            shared.commits.fetch_add(1, Ordering::Relaxed);
            Ok(results)
        }
        Err(e) => {
            if let Err(abort) = txn.abort() {
                tracing::warn!(error = %abort, "aborting storage write transaction failed");
            }
            Err(Failure::Apply(e))
        }
    }
}

fn apply_all<'a>(
    txn: &redb::WriteTransaction,
    ops: impl Iterator<Item = &'a WriteOp>,
) -> Result<Vec<bool>> {
    let mut table = txn.open_table(TABLE)?;
    ops.map(|op| apply(&mut table, op)).collect()
}

fn apply(table: &mut redb::Table<&str, &[u8]>, op: &WriteOp) -> Result<bool> {
    match op {
        WriteOp::Put(key, value) => {
            table.insert(key.as_str(), value.as_slice())?;
        }
        WriteOp::Delete(key) => {
            table.remove(key.as_str())?;
        }
        WriteOp::Cas { key, expected, new } => {
            // Evaluated against the transaction's state, i.e. after earlier ops in the group.
            let matches = {
                let current = table.get(key.as_str())?;
                match (&current, expected) {
                    (None, None) => true,
                    (Some(cur), Some(exp)) => cur.value() == exp.as_slice(),
                    _ => false,
                }
            };
            if !matches {
                return Ok(false);
            }
            match new {
                Some(value) => {
                    table.insert(key.as_str(), value.as_slice())?;
                }
                None => {
                    table.remove(key.as_str())?;
                }
            }
        }
        WriteOp::Batch(ops) => {
            // No validation needed: an error here aborts the whole transaction, so the batch
            // is applied completely or not at all.
            for op in ops {
                match op {
                    Op::Put(key, value) => {
                        table.insert(key.as_str(), value.as_slice())?;
                    }
                    Op::Delete(key) => {
                        table.remove(key.as_str())?;
                    }
                }
            }
        }
    }
    Ok(true)
}

#[async_trait::async_trait]
impl Backend for RedbBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let Some(values) = &self.shared.values else {
            return self.read(|table| Ok(table.get(key)?.map(|v| v.value().to_vec())));
        };
        if let Some(hit) = values.get(key) {
            return Ok(Some(hit.to_vec()));
        }
        let ticket = values.ticket();
        self.read(|table| {
            Ok(table.get(key)?.map(|v| {
                values.fill(ticket, key, v.value());
                v.value().to_vec()
            }))
        })
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.submit(WriteOp::Put(key.to_owned(), value))
            .await
            .map(drop)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.submit(WriteOp::Delete(key.to_owned())).await.map(drop)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.read(|table| {
            list_one_level(prefix, |lower| {
                match table.range::<&str>((lower, Bound::Unbounded))?.next() {
                    Some(entry) => Ok(Some(entry?.0.value().to_owned())),
                    None => Ok(None),
                }
            })
        })
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.read(|table| {
            let mut out = Vec::new();
            for entry in table.range::<&str>(prefix..)? {
                let (key, _) = entry?;
                let key = key.value();
                if !key.starts_with(prefix) {
                    break;
                }
                out.push(key.to_owned());
            }
            Ok(out)
        })
    }

    async fn scan_range(&self, start: &str, end: &str, limit: usize) -> Result<Vec<String>> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.read(|table| {
            let mut out = Vec::new();
            for entry in table.range::<&str>(start..end)? {
                if out.len() >= limit {
                    break;
                }
                let (key, _) = entry?;
                out.push(key.value().to_owned());
            }
            Ok(out)
        })
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool> {
        self.submit(WriteOp::Cas {
            key: key.to_owned(),
            expected: expected.map(<[u8]>::to_vec),
            new,
        })
        .await
    }

    async fn batch(&self, ops: Vec<Op>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.submit(WriteOp::Batch(ops)).await.map(drop)
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(op: WriteOp) -> (Request, oneshot::Receiver<Result<bool>>) {
        let (reply, rx) = oneshot::channel();
        (Request { op, reply }, rx)
    }

    /// A CAS that fails inside a group does not affect the other writes in that group, and
    /// CAS sees the effects of earlier ops in the same group. Calls the writer's group step
    /// directly so the grouping is deterministic.
    #[tokio::test]
    async fn failed_cas_in_group_does_not_affect_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = RedbBackend::open(dir.path()).expect("open");
        b.put("k/cas", b"old".to_vec()).await.expect("put");
        let before = b.commit_count();

        let (r1, a1) = request(WriteOp::Put("k/a".into(), b"1".to_vec()));
        let (r2, a2) = request(WriteOp::Cas {
            key: "k/cas".into(),
            expected: Some(b"wrong".to_vec()),
            new: Some(b"new".to_vec()),
        });
        let (r3, a3) = request(WriteOp::Put("k/b".into(), b"2".to_vec()));
        // Sees r1's put within the same transaction.
        let (r4, a4) = request(WriteOp::Cas {
            key: "k/a".into(),
            expected: Some(b"1".to_vec()),
            new: Some(b"1b".to_vec()),
        });
        let (r5, a5) = request(WriteOp::Batch(vec![
            Op::Put("k/c".into(), vec![]),
            Op::Delete("k/missing".into()),
        ]));
        let mut group = vec![r1, r2, r3, r4, r5];
        commit_group(&b.shared, &mut group);
        assert!(group.is_empty());

        assert!(a1.await.expect("reply").expect("put ok"));
        assert!(!a2.await.expect("reply").expect("cas answered"));
        assert!(a3.await.expect("reply").expect("put ok"));
        assert!(a4.await.expect("reply").expect("cas ok"));
        assert!(a5.await.expect("reply").expect("batch ok"));
        assert_eq!(
            b.commit_count(),
            before + 1,
            "one commit for the whole group"
        );

        assert_eq!(b.get("k/a").await.expect("get"), Some(b"1b".to_vec()));
        assert_eq!(b.get("k/b").await.expect("get"), Some(b"2".to_vec()));
        assert_eq!(b.get("k/c").await.expect("get"), Some(vec![]));
        assert_eq!(b.get("k/cas").await.expect("get"), Some(b"old".to_vec()));
    }

    #[tokio::test]
    async fn debug_does_not_print_values() {
        let m = crate::InMemoryBackend::new();
        m.put("k", b"supersecret".to_vec()).await.expect("put");
        assert!(!format!("{m:?}").contains("supersecret"));
        let op = Op::Put("k".into(), b"supersecret".to_vec());
        assert!(!format!("{op:?}").contains("supersecret"));
    }
}
