//! The event stream: one typed stream of what happens in the core, which metrics, alert rules
//! and anomaly detection subscribe to (DESIGN.md §8, "Events").
//!
//! The pipeline publishes one [`Event`] per request once its audit entries are written
//! (refused requests too), and background changes (rotation events among them) are
//! published by the audit broker as it records them. Publishing never waits: each subscriber
//! has a bounded queue, and an event that finds a queue full is dropped for that subscriber
//! and counted ([`EventBus::dropped`]), so a slow subscriber loses events, never requests.
//! With no subscriber, publishing is one `ArcSwap` load and nothing is built.
//!
//! Events carry no secret: paths, names, outcomes and timings only (no request data, no
//! token).

pub mod metrics;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use crate::error::ErrorKind;
use crate::request::Operation;

/// How a request or a background change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// No token, a bad token, or the policy refused it (HTTP 403).
    Denied,
    /// The caller's error: bad input, nothing at the path, an unsupported operation, a
    /// conflict or a quota (HTTP 4xx).
    ClientError,
    /// The server could not serve it: sealed, standby, storage unavailable, internal (5xx).
    ServerError,
}

impl Outcome {
    /// The outcome of an error of `kind`.
    pub fn of_error(kind: ErrorKind) -> Outcome {
        match kind {
            ErrorKind::PermissionDenied => Outcome::Denied,
            ErrorKind::InvalidRequest
            | ErrorKind::NotFound
            | ErrorKind::UnsupportedOperation
            | ErrorKind::Conflict
            | ErrorKind::TooManyRequests => Outcome::ClientError,
            ErrorKind::Sealed
            | ErrorKind::Standby
            | ErrorKind::Unavailable
            | ErrorKind::Internal => Outcome::ServerError,
        }
    }

    /// Its name in metrics labels and alert rules.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A request the pipeline answered (or refused).
    Request {
        /// The operation, as settled by the pipeline (create or update for a write).
        operation: Operation,
        /// The mount's engine type (`kv`, `transit`, `userpass`, `system`), empty when no
        /// mount serves the path.
        mount_type: String,
        /// Nanoseconds from the pipeline's start to the response entry written.
        duration_nanos: u64,
    },
    /// A change a background job made, or an event it announced (`rotation.rotated`,
    /// `rotation.failed`, …): the job's name as the audit log records it.
    Background {
        /// The job or event name.
        name: &'static str,
    },
    /// An access the anomaly detector found unusual for its caller.
    Anomaly {
        /// What was unusual (`burst`, `new_secret`, `new_network`, `off_hours`, `fan_out`).
        finding: &'static str,
        /// How unusual, in thousandths (1000: at the flagging threshold).
        score_milli: u32,
        /// Why, in plain words.
        explanation: String,
    },
    /// An alert rule fired ([`crate::alerts`]).
    Alert {
        /// The rule's name.
        rule: String,
        /// Its severity (`info`, `warning`, `critical`).
        severity: &'static str,
    },
}

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When it happened (Unix nanoseconds, the core's clock).
    pub time_unix_nanos: i64,
    /// The namespace's path (`""` for the root).
    pub namespace: String,
    /// The mount's path (`secret/`), empty when no mount serves the path.
    pub mount: String,
    /// The request's (or the change's) path, relative to the namespace.
    pub path: String,
    /// Who: the caller's entity id, or its token's display name without one; `None` for an
    /// unauthenticated request or a background job.
    pub identity: Option<String>,
    /// The client's address as the pipeline knows it.
    pub remote_addr: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Whether it read a secret marked critical (KV v2 `custom_metadata` `critical=true`).
    pub critical: bool,
    /// What happened.
    pub kind: EventKind,
}

#[cfg(test)]
impl Event {
    /// A KV read of `path` in `namespace`'s `mount` that took 1 ms, for unit tests.
    pub(crate) fn kv_read(namespace: &str, mount: &str, path: &str, outcome: Outcome) -> Event {
        Event {
            time_unix_nanos: 0,
            namespace: namespace.into(),
            mount: mount.into(),
            path: path.into(),
            identity: None,
            remote_addr: None,
            outcome,
            critical: false,
            kind: EventKind::Request {
                operation: Operation::Read,
                mount_type: "kv".into(),
                duration_nanos: 1_000_000,
            },
        }
    }
}

/// One subscriber's queue.
struct Subscriber {
    name: &'static str,
    queue: mpsc::Sender<Arc<Event>>,
    dropped: AtomicU64,
}

/// The stream's publishers and subscribers. One per core; it outlives unseals.
#[derive(Default)]
pub struct EventBus {
    subscribers: ArcSwap<Vec<Arc<Subscriber>>>,
    /// The metrics subscriber, once started ([`EventBus::start_metrics`]).
    metrics: std::sync::OnceLock<Arc<metrics::Metrics>>,
    /// The alert rules and channels ([`crate::alerts`]); evaluated once started.
    alerting: Arc<crate::alerts::Alerting>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.subscribers.load().len())
            .finish()
    }
}

impl EventBus {
    /// A new subscriber `name` whose queue holds up to `capacity` events: what arrives while
    /// it is full is dropped for it and counted.
    pub fn subscribe(&self, name: &'static str, capacity: usize) -> mpsc::Receiver<Arc<Event>> {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let subscriber = Arc::new(Subscriber {
            name,
            queue,
            dropped: AtomicU64::new(0),
        });
        self.subscribers.rcu(|current| {
            let mut next: Vec<Arc<Subscriber>> = current
                .iter()
                .filter(|s| !s.queue.is_closed())
                .cloned()
                .collect();
            next.push(subscriber.clone());
            next
        });
        receiver
    }

    /// Whether anyone listens (callers skip building an event when nobody does).
    pub fn has_subscribers(&self) -> bool {
        !self.subscribers.load().is_empty()
    }

    /// Hands `event` to every subscriber without waiting.
    pub fn publish(&self, event: Event) {
        let subscribers = self.subscribers.load();
        if subscribers.is_empty() {
            return;
        }
        let event = Arc::new(event);
        for s in subscribers.iter() {
            match s.queue.try_send(event.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Starts the metrics subscriber (once; later calls return the same). Needs a Tokio
    /// runtime. The server starts it at boot, so every request from then on is counted.
    pub fn start_metrics(&self) -> Arc<metrics::Metrics> {
        self.metrics
            .get_or_init(|| metrics::Metrics::start(self))
            .clone()
    }

    /// Starts evaluating the alert rules (once). Needs a Tokio runtime; the server starts it
    /// at boot.
    pub fn start_alerting(self: &Arc<Self>) {
        self.alerting.start(self);
    }

    /// The alert rules, channels, fired alerts and dead letters.
    pub fn alerting(&self) -> &Arc<crate::alerts::Alerting> {
        &self.alerting
    }

    /// The metrics subscriber, if started.
    pub fn metrics(&self) -> Option<&Arc<metrics::Metrics>> {
        self.metrics.get()
    }

    /// Events each subscriber lost to a full queue: (name, count).
    pub fn dropped(&self) -> Vec<(&'static str, u64)> {
        self.subscribers
            .load()
            .iter()
            .map(|s| (s.name, s.dropped.load(Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> Event {
        Event {
            time_unix_nanos: n,
            namespace: String::new(),
            mount: "secret/".into(),
            path: "secret/data/a".into(),
            identity: None,
            remote_addr: None,
            outcome: Outcome::Ok,
            critical: false,
            kind: EventKind::Background { name: "test" },
        }
    }

    #[tokio::test]
    async fn every_subscriber_gets_each_event_and_a_full_one_loses_them_counted() {
        let bus = EventBus::default();
        assert!(!bus.has_subscribers());
        bus.publish(event(0)); // nobody listens: nothing happens
        let mut fast = bus.subscribe("fast", 16);
        let _slow = bus.subscribe("slow", 1);
        for n in 1..=3 {
            bus.publish(event(n));
        }
        for n in 1..=3 {
            assert_eq!(fast.recv().await.expect("event").time_unix_nanos, n);
        }
        assert_eq!(bus.dropped(), vec![("fast", 0), ("slow", 2)]);
    }

    #[test]
    fn a_closed_subscriber_is_skipped_and_pruned() {
        let bus = EventBus::default();
        drop(bus.subscribe("gone", 1));
        bus.publish(event(1));
        let _live = bus.subscribe("live", 1);
        assert_eq!(
            bus.dropped(),
            vec![("live", 0)],
            "the closed one was pruned"
        );
    }

    #[test]
    fn outcomes_follow_the_error_kinds() {
        assert_eq!(
            Outcome::of_error(ErrorKind::PermissionDenied),
            Outcome::Denied
        );
        assert_eq!(Outcome::of_error(ErrorKind::NotFound), Outcome::ClientError);
        assert_eq!(Outcome::of_error(ErrorKind::Internal), Outcome::ServerError);
    }
}
