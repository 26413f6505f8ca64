//! A batching hand-off queue from many producers (async request tasks) to one consumer thread
//! (the storage writer, an audit writer).
//!
//! `std::sync::mpsc` spins before it parks; with the server on one core that spin took CPU
//! from the request tasks (profiled: the audit writer spent most of its samples spinning in
//! `recv_timeout`). Here the consumer sleeps on a condition variable, producers only notify
//! when it actually sleeps, and the consumer takes everything queued at once, which is what
//! group commit wants anyway.

use std::time::Duration;

use parking_lot::{Condvar, Mutex};

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
        let consumer = std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match c.take(None) {
                    Take::Items(v) => got.extend(v),
                    Take::TimedOut => {}
                    Take::Closed => return got,
                }
            }
        });
        for i in 0..1000 {
            assert!(q.push(i).is_ok());
        }
        q.close();
        let got = consumer.join().expect("consumer");
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }
}
