//! A backend that injects faults: failed writes, writes that land but report an error (a lost
//! acknowledgement), a crash point after which nothing more reaches the disk, added latency,
//! and reads held at a gate so a test can interleave a race deterministically.
//!
//! Faults are armed on a key prefix: a write matches when any key it touches starts with the
//! prefix (for a batch, any of its ops). Each armed fault fires a given number of times.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::{Backend, Op, Result, StorageError};

/// What an armed write fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteFault {
    /// Refuse the write; nothing is applied.
    Fail,
    /// Apply the write, then report an error (the acknowledgement was lost).
    FailAfterApply,
    /// Apply the write, then "crash": this and every later write report an error and apply
    /// nothing, as if the process had died right after this commit.
    CrashAfterApply,
}

struct Armed {
    prefix: String,
    fault: WriteFault,
    times: usize,
}

struct HeldGet {
    prefix: String,
    hold: Hold,
}

/// A read held at a gate: [`Hold::reached`] waits until the read has taken its value from the
/// store, [`Hold::release`] lets it return that value. Whatever the test does in between
/// happens while the read is in flight.
#[derive(Clone, Default)]
pub struct Hold {
    inner: Arc<HoldInner>,
}

#[derive(Default)]
struct HoldInner {
    arrived: Notify,
    arrived_flag: AtomicBool,
    released: Notify,
    released_flag: AtomicBool,
}

impl Hold {
    /// Waits until the held read has arrived (and read its value).
    pub async fn reached(&self) {
        while !self.inner.arrived_flag.load(Ordering::SeqCst) {
            let notified = self.inner.arrived.notified();
            if self.inner.arrived_flag.load(Ordering::SeqCst) {
                break;
            }
            notified.await;
        }
    }

    /// Lets the held read return.
    pub fn release(&self) {
        self.inner.released_flag.store(true, Ordering::SeqCst);
        self.inner.released.notify_waiters();
    }

    async fn wait_released(&self) {
        self.inner.arrived_flag.store(true, Ordering::SeqCst);
        self.inner.arrived.notify_waiters();
        while !self.inner.released_flag.load(Ordering::SeqCst) {
            let notified = self.inner.released.notified();
            if self.inner.released_flag.load(Ordering::SeqCst) {
                break;
            }
            notified.await;
        }
    }
}

/// See the module documentation.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    armed: Mutex<Vec<Armed>>,
    failing_reads: Mutex<Vec<(String, usize)>>,
    held: Mutex<Vec<HeldGet>>,
    crashed: AtomicBool,
    write_delay: Mutex<Option<Duration>>,
}

impl std::fmt::Debug for FaultyBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyBackend")
            .field("inner", &self.inner)
            .field("crashed", &self.crashed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

fn injected(what: &str) -> StorageError {
    StorageError::Database(format!("injected fault: {what}"))
}

impl FaultyBackend {
    /// Wraps `inner`; no fault is armed.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        FaultyBackend {
            inner,
            armed: Mutex::new(Vec::new()),
            failing_reads: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            crashed: AtomicBool::new(false),
            write_delay: Mutex::new(None),
        }
    }

    /// The wrapped backend: what "the disk" holds (reopen a core on it after a crash point).
    pub fn inner(&self) -> Arc<dyn Backend> {
        self.inner.clone()
    }

    fn arm(&self, prefix: &str, fault: WriteFault, times: usize) {
        self.armed.lock().push(Armed {
            prefix: prefix.to_owned(),
            fault,
            times,
        });
    }

    /// The next `times` writes touching `prefix` fail and apply nothing.
    pub fn fail_writes(&self, prefix: &str, times: usize) {
        self.arm(prefix, WriteFault::Fail, times);
    }

    /// The next `times` writes touching `prefix` are applied, then report an error.
    pub fn fail_after_write(&self, prefix: &str, times: usize) {
        self.arm(prefix, WriteFault::FailAfterApply, times);
    }

    /// The next write touching `prefix` is applied; from then on no write applies and every
    /// write (that one included) reports an error.
    pub fn crash_after_write(&self, prefix: &str) {
        self.arm(prefix, WriteFault::CrashAfterApply, 1);
    }

    /// Whether a crash point was reached.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// Every write waits `delay` before it is applied (`None` for no delay).
    pub fn delay_writes(&self, delay: Option<Duration>) {
        *self.write_delay.lock() = delay;
    }

    /// The next read of a key starting with `prefix` reads its value, then waits for
    /// [`Hold::release`] before returning it.
    pub fn hold_next_get(&self, prefix: &str) -> Hold {
        let hold = Hold::default();
        self.held.lock().push(HeldGet {
            prefix: prefix.to_owned(),
            hold: hold.clone(),
        });
        hold
    }

    /// The next `times` reads (get, list, scan) of keys starting with `prefix` fail.
    pub fn fail_reads(&self, prefix: &str, times: usize) {
        self.failing_reads.lock().push((prefix.to_owned(), times));
    }

    fn read_fault(&self, key: &str) -> Result<()> {
        let mut failing = self.failing_reads.lock();
        let Some(i) = failing
            .iter()
            .position(|(p, n)| *n > 0 && key.starts_with(p.as_str()))
        else {
            return Ok(());
        };
        failing[i].1 -= 1;
        if failing[i].1 == 0 {
            failing.remove(i);
        }
        Err(injected("read refused"))
    }

    /// The fault armed for a write touching `keys`, consuming one firing.
    fn take_fault<'a>(&self, mut keys: impl Iterator<Item = &'a str>) -> Option<WriteFault> {
        let mut armed = self.armed.lock();
        let keys: Vec<&str> = keys.by_ref().collect();
        let i = armed
            .iter()
            .position(|a| a.times > 0 && keys.iter().any(|k| k.starts_with(&a.prefix)))?;
        armed[i].times -= 1;
        let fault = armed[i].fault;
        if armed[i].times == 0 {
            armed.remove(i);
        }
        Some(fault)
    }

    /// Runs `apply` under the armed faults for a write touching `keys`.
    async fn write<'a, F>(&self, keys: impl Iterator<Item = &'a str>, apply: F) -> Result<()>
    where
        F: std::future::Future<Output = Result<()>>,
    {
        let delay = *self.write_delay.lock();
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if self.crashed() {
            return Err(injected("crashed"));
        }
        match self.take_fault(keys) {
            None => apply.await,
            Some(WriteFault::Fail) => Err(injected("write refused")),
            Some(WriteFault::FailAfterApply) => {
                apply.await?;
                Err(injected("acknowledgement lost"))
            }
            Some(WriteFault::CrashAfterApply) => {
                apply.await?;
                self.crashed.store(true, Ordering::SeqCst);
                Err(injected("crashed"))
            }
        }
    }
}

#[async_trait::async_trait]
impl Backend for FaultyBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read_fault(key)?;
        let value = self.inner.get(key).await?;
        let hold = {
            let mut held = self.held.lock();
            held.iter()
                .position(|h| key.starts_with(h.prefix.as_str()))
                .map(|i| held.remove(i).hold)
        };
        if let Some(hold) = hold {
            hold.wait_released().await;
        }
        Ok(value)
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.write(std::iter::once(key), self.inner.put(key, value))
            .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.write(std::iter::once(key), self.inner.delete(key))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.read_fault(prefix)?;
        self.inner.list(prefix).await
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.read_fault(prefix)?;
        self.inner.scan(prefix).await
    }

    async fn scan_range(&self, start: &str, end: &str, limit: usize) -> Result<Vec<String>> {
        self.read_fault(start)?;
        self.inner.scan_range(start, end, limit).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool> {
        let mut swapped = false;
        let apply = async {
            swapped = self.inner.compare_and_swap(key, expected, new).await?;
            Ok(())
        };
        self.write(std::iter::once(key), apply).await?;
        Ok(swapped)
    }

    async fn batch(&self, ops: Vec<Op>) -> Result<()> {
        let keys: Vec<String> = ops.iter().map(|o| o.key().to_owned()).collect();
        self.write(keys.iter().map(String::as_str), self.inner.batch(ops))
            .await
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryBackend;

    fn faulty() -> FaultyBackend {
        FaultyBackend::new(Arc::new(InMemoryBackend::new()))
    }

    #[tokio::test]
    async fn passes_the_conformance_suite_with_no_fault_armed() {
        crate::testing::conformance(&faulty()).await;
    }

    #[tokio::test]
    async fn failed_writes_apply_nothing_and_fire_the_given_number_of_times() {
        let b = faulty();
        b.fail_writes("a/", 1);
        assert!(b.put("a/x", b"1".to_vec()).await.is_err());
        assert_eq!(b.get("a/x").await.expect("get"), None);
        b.put("a/x", b"2".to_vec()).await.expect("second write");
        assert_eq!(b.get("a/x").await.expect("get"), Some(b"2".to_vec()));
    }

    #[tokio::test]
    async fn a_lost_acknowledgement_applies_the_write() {
        let b = faulty();
        b.fail_after_write("a/", 1);
        let ops = vec![Op::Put("z".into(), b"0".to_vec()), Op::Delete("a/y".into())];
        b.put("a/y", b"1".to_vec()).await.expect_err("lost ack");
        assert_eq!(b.get("a/y").await.expect("get"), Some(b"1".to_vec()));
        b.batch(ops).await.expect("no fault left");
    }

    #[tokio::test]
    async fn after_a_crash_point_nothing_more_is_applied() {
        let b = faulty();
        b.crash_after_write("m");
        b.put("other", b"1".to_vec()).await.expect("unmatched");
        assert!(b.put("m", b"1".to_vec()).await.is_err());
        assert!(b.crashed());
        assert!(b.put("other", b"2".to_vec()).await.is_err());
        let disk = b.inner();
        assert_eq!(disk.get("m").await.expect("get"), Some(b"1".to_vec()));
        assert_eq!(disk.get("other").await.expect("get"), Some(b"1".to_vec()));
    }

    #[tokio::test]
    async fn failed_reads_fire_the_given_number_of_times() {
        let b = faulty();
        b.put("r/x", b"1".to_vec()).await.expect("put");
        b.fail_reads("r/", 1);
        assert!(b.get("r/x").await.is_err());
        assert_eq!(b.get("r/x").await.expect("get"), Some(b"1".to_vec()));
    }

    #[tokio::test]
    async fn a_held_read_returns_what_it_read_before_a_later_write() {
        let b = Arc::new(faulty());
        b.put("k", b"old".to_vec()).await.expect("put");
        let hold = b.hold_next_get("k");
        let reader = tokio::spawn({
            let b = b.clone();
            async move { b.get("k").await.expect("get") }
        });
        hold.reached().await;
        b.put("k", b"new".to_vec()).await.expect("put");
        hold.release();
        assert_eq!(reader.await.expect("join"), Some(b"old".to_vec()));
        assert_eq!(b.get("k").await.expect("get"), Some(b"new".to_vec()));
    }
}
