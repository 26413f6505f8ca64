//! The durable side of the job runner: one record per job and a due-index, in a namespace's
//! storage below `sys/jobs/`.
//!
//! | Key | Value |
//! |---|---|
//! | `job/<id>` | [`JobRecord`] |
//! | `due/<wake, 20 digits>/<id>` | empty: the index entry, sorted by the time the job wakes |
//!
//! Wake times are zero-padded Unix seconds, so the storage order is the time order and "what
//! is due at `now`" is one range read from `due/` up to `due/<now + 1>`: its cost follows the
//! number of jobs due, not the number of jobs. A record and its index entry always change in
//! one atomic commit, so the index never points at a time the record does not say.
//!
//! Every change to a job holds that job's lock (one of 64 shards per namespace): the runner
//! and the owners of jobs (an engine scheduling a secret's rotation) never interleave a
//! read-modify-write of one job, while different jobs change in parallel (and share the
//! store's group commits).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::barrier::{View, to_json};
use crate::error::Result;

const JOB_PREFIX: &str = "job/";
const DUE_PREFIX: &str = "due/";

/// Where a namespace's job store lives in its view.
pub(crate) const JOBS_PREFIX: &str = "sys/jobs/";

/// One job: what it is for, when it wakes, and how its current due time has gone so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct JobRecord {
    /// Which handler runs it (see [`super::Kind`]).
    pub(crate) kind: String,
    /// What the job works on, in the handler's terms (e.g. a mount uuid and a secret's key).
    pub(crate) target: JobTarget,
    /// Unix seconds: when the runner next looks at the job (its index entry's time).
    pub(crate) wake_at: i64,
    /// Unix seconds: when the work is due (0: not known to the runner). A failure at or after
    /// this time makes the job overdue.
    pub(crate) due_at: i64,
    /// Attempts started for the current due time and not finished. Written before each
    /// attempt runs, so a crash in the middle counts too (and a crash loop backs off).
    pub(crate) attempt: u32,
    /// The job failed after it was due and has not succeeded since.
    pub(crate) overdue: bool,
    /// Why the last attempt failed (the error's public message).
    pub(crate) last_error: Option<String>,
}

/// The object a job works on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct JobTarget {
    /// A mount's uuid (empty for the namespace's own jobs).
    pub(crate) mount: String,
    /// A key inside the mount.
    pub(crate) key: String,
}

const LOCK_SHARDS: usize = 64;

/// A namespace's jobs. Cloning shares the locks.
#[derive(Clone, Debug)]
pub(crate) struct JobStore {
    view: View,
    locks: Arc<[tokio::sync::Mutex<()>]>,
}

fn index_key(wake_at: i64, id: &str) -> String {
    format!("{DUE_PREFIX}{:020}/{id}", wake_at.max(0))
}

impl JobStore {
    /// The job store in `view` (a namespace's view below [`JOBS_PREFIX`]).
    pub(crate) fn new(view: View) -> JobStore {
        JobStore {
            view,
            locks: (0..LOCK_SHARDS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// The lock guarding job `id`'s record and index entries.
    fn lock(&self, id: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        id.hash(&mut h);
        let i = usize::try_from(h.finish() % LOCK_SHARDS as u64).unwrap_or(0);
        &self.locks[i]
    }

    /// The record of job `id`.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<JobRecord>> {
        self.view
            .get_json(&format!("{JOB_PREFIX}{id}"), "job record")
            .await
    }

    /// The ids of at most `limit` jobs whose wake time is at or before `now`, earliest first.
    pub(crate) async fn due(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        let end = format!("{DUE_PREFIX}{:020}", now.saturating_add(1).max(0));
        let keys = self.view.scan_range(DUE_PREFIX, &end, limit).await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.rsplit_once('/').map(|(_, id)| id.to_string()))
            .collect())
    }

    /// How many jobs wake at or before `until`.
    #[cfg(test)]
    pub(crate) async fn count_due(&self, until: i64) -> Result<usize> {
        Ok(self.due(until, usize::MAX).await?.len())
    }

    /// Writes `next` as job `id`'s record (`None` removes the job), moving its index entry,
    /// in one commit. `current` is what the caller read under the lock.
    async fn write(
        &self,
        id: &str,
        current: Option<&JobRecord>,
        next: Option<&JobRecord>,
    ) -> Result<()> {
        let mut ops: Vec<(String, Option<Vec<u8>>)> = Vec::with_capacity(3);
        if let Some(cur) = current
            && next.is_none_or(|n| n.wake_at != cur.wake_at)
        {
            ops.push((index_key(cur.wake_at, id), None));
        }
        match next {
            Some(n) => {
                if current.is_none_or(|c| c.wake_at != n.wake_at) {
                    ops.push((index_key(n.wake_at, id), Some(Vec::new())));
                }
                ops.push((format!("{JOB_PREFIX}{id}"), Some(to_json(n)?)));
            }
            None => ops.push((format!("{JOB_PREFIX}{id}"), None)),
        }
        self.view.batch(ops).await
    }

    /// Makes sure job `id` exists and wakes no later than `wake_at` (an owner scheduling its
    /// object: a new rotation policy, a shorter period). A job already waking earlier keeps
    /// its time: waking early is harmless, since a handler finds nothing to do and says when
    /// to come back, while waking late would miss a due time.
    pub(crate) async fn schedule(
        &self,
        id: &str,
        kind: &str,
        target: JobTarget,
        wake_at: i64,
        due_at: i64,
    ) -> Result<()> {
        let _guard = self.lock(id).lock().await;
        let current = self.get(id).await?;
        let mut next = current.clone().unwrap_or_else(|| JobRecord {
            kind: kind.to_string(),
            target,
            wake_at,
            due_at,
            ..JobRecord::default()
        });
        next.wake_at = next.wake_at.min(wake_at);
        next.due_at = due_at;
        if current.as_ref() == Some(&next) {
            return Ok(());
        }
        self.write(id, current.as_ref(), Some(&next)).await
    }

    /// Creates job `id` waking at `wake_at` unless it exists (the namespace's recurring jobs).
    pub(crate) async fn ensure(&self, id: &str, kind: &str, wake_at: i64) -> Result<()> {
        let _guard = self.lock(id).lock().await;
        if self.get(id).await?.is_some() {
            return Ok(());
        }
        let record = JobRecord {
            kind: kind.to_string(),
            wake_at,
            ..JobRecord::default()
        };
        self.write(id, None, Some(&record)).await
    }

    /// Changes job `id`'s record with `change` (which sees the stored record) and moves its
    /// index entry to match. `change` returning `None` removes the job. A job that no longer
    /// exists stays gone. Returns the record written.
    pub(crate) async fn update(
        &self,
        id: &str,
        change: impl FnOnce(JobRecord) -> Option<JobRecord>,
    ) -> Result<Option<JobRecord>> {
        let _guard = self.lock(id).lock().await;
        let Some(current) = self.get(id).await? else {
            return Ok(None);
        };
        let next = change(current.clone());
        if next.as_ref() != Some(&current) {
            self.write(id, Some(&current), next.as_ref()).await?;
        }
        Ok(next)
    }

    /// Removes job `id` (and its index entry).
    pub(crate) async fn remove(&self, id: &str) -> Result<()> {
        self.update(id, |_| None).await.map(|_| ())
    }

    /// Removes an index entry whose record is gone (left by an older layout or a bug), so
    /// the runner does not find it again.
    pub(crate) async fn drop_orphan(&self, id: &str, now: i64) -> Result<()> {
        let _guard = self.lock(id).lock().await;
        if self.get(id).await?.is_some() {
            return Ok(());
        }
        let stale: Vec<(String, Option<Vec<u8>>)> = self
            .view
            .scan_range(
                DUE_PREFIX,
                &index_key(now.saturating_add(1), ""),
                usize::MAX,
            )
            .await?
            .into_iter()
            .filter(|k| k.ends_with(&format!("/{id}")))
            .map(|k| (k, None))
            .collect();
        self.view.batch(stale).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> JobStore {
        let backend: Arc<dyn coffre_storage::Backend> =
            Arc::new(coffre_storage::InMemoryBackend::new());
        let barrier = Arc::new(crate::barrier::test_barrier(backend, 1 << 30).await);
        JobStore::new(View::new(barrier, JOBS_PREFIX))
    }

    #[tokio::test]
    async fn due_reads_only_what_is_due_in_time_order() {
        let s = store().await;
        for (id, wake) in [("c", 300), ("a", 100), ("b", 200), ("late", 10_000)] {
            s.schedule(id, "k", JobTarget::default(), wake, wake)
                .await
                .expect("ok");
        }
        assert!(s.due(99, 10).await.expect("ok").is_empty());
        assert_eq!(s.due(100, 10).await.expect("ok"), ["a"]);
        assert_eq!(s.due(250, 10).await.expect("ok"), ["a", "b"]);
        assert_eq!(s.due(9_999, 2).await.expect("ok"), ["a", "b"], "limit");
        assert_eq!(s.count_due(i64::MAX - 1).await.expect("ok"), 4);
    }

    #[tokio::test]
    async fn schedule_only_moves_a_job_earlier_and_update_moves_its_index() {
        let s = store().await;
        s.schedule("j", "k", JobTarget::default(), 500, 500)
            .await
            .expect("ok");
        s.schedule("j", "k", JobTarget::default(), 900, 900)
            .await
            .expect("ok");
        assert_eq!(s.get("j").await.expect("ok").expect("ok").wake_at, 500);
        s.schedule("j", "k", JobTarget::default(), 200, 200)
            .await
            .expect("ok");
        assert_eq!(s.due(200, 10).await.expect("ok"), ["j"]);

        s.update("j", |mut r| {
            r.wake_at = 1_000;
            Some(r)
        })
        .await
        .expect("ok");
        assert!(
            s.due(999, 10).await.expect("ok").is_empty(),
            "old entry gone"
        );
        assert_eq!(s.due(1_000, 10).await.expect("ok"), ["j"]);
        assert_eq!(
            s.view.scan(DUE_PREFIX).await.expect("ok").len(),
            1,
            "one index entry per job"
        );

        s.remove("j").await.expect("ok");
        assert!(s.get("j").await.expect("ok").is_none());
        assert!(
            s.view.scan("").await.expect("ok").is_empty(),
            "nothing left"
        );
    }

    #[tokio::test]
    async fn ensure_creates_once_and_orphans_are_dropped() {
        let s = store().await;
        s.ensure("tidy", "token-tidy", 60).await.expect("ok");
        s.ensure("tidy", "token-tidy", 9_999).await.expect("ok");
        assert_eq!(s.get("tidy").await.expect("ok").expect("ok").wake_at, 60);

        s.view.put(&index_key(50, "ghost"), b"").await.expect("ok");
        assert_eq!(s.due(100, 10).await.expect("ok"), ["ghost", "tidy"]);
        s.drop_orphan("ghost", 100).await.expect("ok");
        assert_eq!(s.due(100, 10).await.expect("ok"), ["tidy"]);
    }
}
