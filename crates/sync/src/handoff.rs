//! A batching hand-off queue from many producers (async request tasks) to one consumer thread
//! (the storage writer, an audit writer).
//!
//! `std::sync::mpsc` spins before it parks; with the server on one core that spin took CPU
//! from the request tasks (profiled: the audit writer spent most of its samples spinning in
//! `recv_timeout`). Here the consumer sleeps on a condition variable, producers only notify
//! when it actually sleeps, and the consumer takes everything queued at once, which is what
//! group commit wants anyway.

use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Starts the consumer thread of a [`Handoff`] (a writer) under the name `name`.
///
/// On Linux the thread runs under `SCHED_BATCH`: the same share of the CPU as the request
/// threads, but waking it never preempts them. Without this, each producer's notify switched
/// the core to the consumer at once, so it wrote one-item batches and two context switches were
/// paid per request (profiled: ~35% of a pinned server's time in `finish_task_switch`). Now the
/// consumer runs once the request threads block or their slice ends, and takes everything
/// queued by then; on an idle core that is immediately, so latency does not suffer.
pub fn spawn_consumer<F>(name: String, body: F) -> std::io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new().name(name).spawn(move || {
        batch_scheduling();
        body();
    })
}

/// The workspace denies `unsafe`; this is the one exception, because no vetted safe wrapper
/// (rustix included) exposes `sched_setscheduler`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn batch_scheduling() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` only reads `param`, a valid value on this stack frame; pid 0
    // means the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "SCHED_BATCH not applied");
    }
}

#[cfg(not(target_os = "linux"))]
fn batch_scheduling() {}

struct State<T> {
    items: Vec<T>,
    closed: bool,
    consumer_waiting: bool,
}

/// A multi-producer, single-consumer queue whose consumer takes batches.
pub struct Handoff<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

/// What [`Handoff::take`] found.
pub enum Take<T> {
    /// Everything queued, in order (never empty).
    Items(Vec<T>),
    /// Nothing arrived before the timeout.
    TimedOut,
    /// Closed and drained: the consumer should stop.
    Closed,
}

impl<T> Default for Handoff<T> {
    fn default() -> Self {
        Handoff {
            state: Mutex::new(State {
                items: Vec::new(),
                closed: false,
                consumer_waiting: false,
            }),
            ready: Condvar::new(),
        }
    }
}

impl<T> Handoff<T> {
    /// Queues `item`; gives it back if the queue is closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(item);
        }
        s.items.push(item);
        let wake = s.consumer_waiting;
        drop(s);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Waits up to `timeout` (forever with `None`) and takes everything queued.
    pub fn take(&self, timeout: Option<Duration>) -> Take<T> {
        let mut s = self.state.lock();
        loop {
            if !s.items.is_empty() {
                return Take::Items(std::mem::take(&mut s.items));
            }
            if s.closed {
                return Take::Closed;
            }
            s.consumer_waiting = true;
            let timed_out = match timeout {
                Some(t) => self.ready.wait_for(&mut s, t).timed_out(),
                None => {
                    self.ready.wait(&mut s);
                    false
                }
            };
            s.consumer_waiting = false;
            if timed_out && s.items.is_empty() && !s.closed {
                return Take::TimedOut;
            }
        }
    }

    /// Refuses new items; the consumer still drains what is queued, then sees `Closed`.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn batches_in_order_and_drains_after_close() {
        let q = Arc::new(Handoff::default());
        for i in 0..5 {
            assert!(q.push(i).is_ok());
        }
        match q.take(None) {
            Take::Items(v) => assert_eq!(v, vec![0, 1, 2, 3, 4]),
            _ => panic!("expected items"),
        }
        assert!(matches!(
            q.take(Some(Duration::from_millis(10))),
            Take::TimedOut
        ));
        assert!(q.push(9).is_ok());
        q.close();
        assert!(q.push(10).is_err());
        assert!(matches!(q.take(None), Take::Items(v) if v == vec![9]));
        assert!(matches!(q.take(None), Take::Closed));
    }

    #[test]
    fn wakes_a_sleeping_consumer() {
        let q = Arc::new(Handoff::default());
        let c = q.clone();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let consumer = spawn_consumer("test-consumer".into(), move || {
            loop {
                match c.take(None) {
                    Take::Items(v) => sink.lock().extend(v),
                    Take::TimedOut => {}
                    Take::Closed => return,
                }
            }
        })
        .expect("spawn");
        for i in 0..1000 {
            assert!(q.push(i).is_ok());
        }
        q.close();
        consumer.join().expect("consumer");
        assert_eq!(*got.lock(), (0..1000).collect::<Vec<_>>());
    }

    #[cfg(target_os = "linux")]
    #[test]
    #[allow(unsafe_code)]
    fn consumer_runs_under_sched_batch() {
        let policy = spawn_consumer("test-policy".into(), || {
            // SAFETY: no arguments besides pid 0, the calling thread.
            let p = unsafe { libc::sched_getscheduler(0) };
            if p != libc::SCHED_BATCH {
                // Some sandboxes (seccomp) or libcs refuse the call; spawn_consumer then runs
                // the thread as it is. Only then may the policy differ.
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: as in `batch_scheduling`.
                let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
                assert_ne!(rc, 0, "SCHED_BATCH is allowed here but was not applied");
                eprintln!("skipped: this platform refuses sched_setscheduler");
            }
        })
        .expect("spawn");
        policy.join().expect("consumer thread saw SCHED_BATCH");
    }
}
