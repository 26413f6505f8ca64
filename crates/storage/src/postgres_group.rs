//! Group commit for [`PostgresBackend`](crate::PostgresBackend): concurrent batches are
//! written in one transaction, up to [`COMMITTERS`] transactions at a time.
//!
//! Each batch goes to a committer task, which takes whatever else has queued meanwhile and
//! runs the group on a spawned task of its own, so a caller that goes away (a request
//! cancelled mid-write) never abandons the others' transaction half-way. Every batch of a
//! group gets the group's outcome: all committed, or none.
//!
//! Why: a transaction that calls `pg_notify` (every write of a node of several) holds a
//! database-wide lock from just before its commit until the commit is on disk, so such
//! transactions cannot share one WAL flush: 32 writers made 32 flushes one after the other.
//! One transaction for the group makes it one flush, one fence check and one notification.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::{Op, Result, StorageError};

/// Transactions of one backend in flight at once (each a group).
pub(crate) const COMMITTERS: usize = 4;
/// Operations per group at most (a bound on one transaction's size).
const MAX_GROUP_OPS: usize = 4096;

struct Waiting {
    ops: Vec<Op>,
    done: oneshot::Sender<Result<()>>,
}

/// The sending side; the committer task ends when it is dropped.
pub(crate) struct GroupCommitter {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl GroupCommitter {
    /// Starts the committer task; `commit` writes one group's operations in one transaction.
    pub(crate) fn spawn<F, Fut>(commit: F) -> GroupCommitter
    where
        F: Fn(Vec<Op>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, commit));
        GroupCommitter { queue }
    }

    /// Writes `ops` atomically, possibly in one transaction with other callers' batches.
    pub(crate) async fn commit(&self, ops: Vec<Op>) -> Result<()> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Waiting { ops, done })
            .map_err(|_| StorageError::Closed)?;
        answer.await.map_err(|_| StorageError::Closed)?
    }
}

async fn run<F, Fut>(mut rx: mpsc::UnboundedReceiver<Waiting>, commit: F)
where
    F: Fn(Vec<Op>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(COMMITTERS));
    while let Some(first) = rx.recv().await {
        // Wait for a free transaction slot first: what queues meanwhile joins this group.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut ops_count = first.ops.len();
        let mut group = vec![first];
        while ops_count < MAX_GROUP_OPS {
            match rx.try_recv() {
                Ok(w) => {
                    ops_count += w.ops.len();
                    group.push(w);
                }
                Err(_) => break,
            }
        }
        let mut ops = Vec::with_capacity(ops_count);
        let mut answers = Vec::with_capacity(group.len());
        for w in group {
            ops.extend(w.ops);
            answers.push(w.done);
        }
        let transaction = commit(ops);
        tokio::spawn(async move {
            let outcome = transaction.await;
            for a in answers {
                let _ = a.send(outcome.clone());
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_batches_share_transactions_and_all_get_the_outcome() {
        let groups = Arc::new(Mutex::new(Vec::<usize>::new()));
        let seen = groups.clone();
        let committer = Arc::new(GroupCommitter::spawn(move |ops: Vec<Op>| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                seen.lock()
                    .map_err(|_| StorageError::Closed)?
                    .push(ops.len());
                if ops.iter().any(|o| o.key() == "fail") {
                    return Err(StorageError::Database("refused".into()));
                }
                Ok(())
            }
        }));
        let mut tasks = Vec::new();
        for i in 0..64 {
            let c = committer.clone();
            tasks.push(tokio::spawn(async move {
                c.commit(vec![Op::Put(format!("k{i}"), vec![1])]).await
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("committed");
        }
        let sizes = groups.lock().expect("lock").clone();
        assert_eq!(
            sizes.iter().sum::<usize>(),
            64,
            "every op written once: {sizes:?}"
        );
        assert!(
            sizes.len() < 64,
            "some batches shared a transaction: {sizes:?}"
        );
        // A failing group fails every batch in it, and nothing else.
        let err = committer
            .commit(vec![Op::Put("fail".into(), vec![])])
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("refused"), "{err}");
        committer
            .commit(vec![Op::Put("after".into(), vec![])])
            .await
            .expect("a later group commits");
    }

    #[tokio::test]
    async fn a_cancelled_caller_does_not_abandon_its_group() {
        let written = Arc::new(Mutex::new(0usize));
        let w = written.clone();
        let committer = Arc::new(GroupCommitter::spawn(move |ops: Vec<Op>| {
            let w = w.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                *w.lock().map_err(|_| StorageError::Closed)? += ops.len();
                Ok(())
            }
        }));
        let c = committer.clone();
        let cancelled = tokio::spawn(async move { c.commit(vec![Op::Delete("a".into())]).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        cancelled.abort();
        committer
            .commit(vec![Op::Delete("b".into())])
            .await
            .expect("committed");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(*written.lock().expect("lock"), 2, "both ops were written");
    }
}
