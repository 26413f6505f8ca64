//! Metrics: a subscriber of the event stream that keeps Prometheus counters and latency
//! summaries, rendered by `sys/metrics?format=prometheus`.
//!
//! Each core has its own recorder (the `metrics` facade's local recorder, never a global
//! one), fed from its own task: the request path only publishes events. Names follow Vault
//! where Vault has one (`vault_core_handle_request`, `vault_core_unsealed`); the rest are
//! the seeds' (`secret_access_total`, `rotation_events_total`, …).
//!
//! **Label cardinality is bounded.** No label ever holds a secret's path or a caller: the
//! labels are a namespace's path and a mount's path (both created by operators, not by
//! requests), an engine type, an operation, an outcome and a rotation result. Even so, at
//! most [`MAX_LOCATIONS`] distinct (namespace, mount) pairs get labels of their own; events
//! of any further pair are counted under `namespace="_other", mount="_other"`.

use std::collections::HashSet;
use std::sync::Arc;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tokio::sync::mpsc;

use super::{Event, EventBus, EventKind, Outcome};
use crate::request::Operation;

/// Distinct (namespace, mount) label pairs kept; further pairs share `_other`.
pub const MAX_LOCATIONS: usize = 1_000;
/// Events the metrics task may fall behind by before it loses some (counted).
const QUEUE: usize = 65_536;
/// Buckets of `coffre_request_duration_seconds`.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// A core's metrics.
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Subscribes to `bus` and starts the task that records its events. Needs a Tokio
    /// runtime.
    pub fn start(bus: &EventBus) -> Arc<Metrics> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "coffre_request_duration_seconds".into(),
                ),
                LATENCY_BUCKETS,
            )
            // Only refused for an empty bucket list, which the constant is not.
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, describe);
        let recorder = Arc::new(recorder);
        let events = bus.subscribe("metrics", QUEUE);
        tokio::spawn(record_events(recorder.clone(), events));
        Arc::new(Metrics { recorder, handle })
    }

    /// The Prometheus text exposition, with the gauges of the moment set first.
    pub fn render(&self, now: &Gauges<'_>) -> String {
        metrics::with_local_recorder(&*self.recorder, || {
            metrics::gauge!("vault_core_unsealed").set(f64::from(u8::from(now.unsealed)));
            metrics::gauge!("vault_core_active").set(f64::from(u8::from(now.active)));
            for (subscriber, dropped) in now.dropped {
                metrics::counter!("coffre_events_dropped_total", "subscriber" => *subscriber)
                    .absolute(*dropped);
            }
        });
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// The help text of every metric (Prometheus's `# HELP`).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("vault_core_unsealed", "1 when the core is unsealed.");
    describe_gauge!("vault_core_active", "1 when this node is the active one.");
    describe_histogram!(
        "vault_core_handle_request",
        "Time to handle a request, in milliseconds (as Vault reports it)."
    );
    describe_histogram!(
        "coffre_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to handle a request, by engine type (class) and operation."
    );
    describe_counter!(
        "coffre_requests_total",
        "Requests by engine type (class), operation and outcome."
    );
    describe_counter!(
        "secret_access_total",
        "Reads of secrets (kv, database) that were served."
    );
    describe_counter!(
        "secret_access_failures_total",
        "Reads of secrets that failed: nothing there, bad input, or a server error."
    );
    describe_counter!(
        "secret_unauthorized_access_total",
        "Reads of secrets refused for want of a valid token or a policy allowing them."
    );
    describe_counter!(
        "rotation_events_total",
        "Rotation events (due_soon, published, rotated, failed, overdue, rolled_back)."
    );
    describe_counter!(
        "coffre_events_dropped_total",
        "Events a subscriber of the event stream lost because its queue was full."
    );
}

/// What is true at the moment of a scrape.
#[derive(Debug)]
pub struct Gauges<'a> {
    /// The core is unsealed.
    pub unsealed: bool,
    /// This node is the active one.
    pub active: bool,
    /// Events each subscriber lost ([`EventBus::dropped`]).
    pub dropped: &'a [(&'static str, u64)],
}

async fn record_events(recorder: Arc<PrometheusRecorder>, mut events: mpsc::Receiver<Arc<Event>>) {
    let mut locations = Locations::default();
    while let Some(event) = events.recv().await {
        metrics::with_local_recorder(&*recorder, || record(&event, &mut locations));
    }
}

/// The (namespace, mount) pairs given labels of their own so far.
#[derive(Default)]
struct Locations {
    seen: HashSet<(String, String)>,
}

impl Locations {
    /// The labels of `event`'s namespace and mount: its own, or `_other` past the bound.
    fn of(&mut self, event: &Event) -> (String, String) {
        let pair = (event.namespace.clone(), event.mount.clone());
        if self.seen.contains(&pair) {
            return pair;
        }
        if self.seen.len() < MAX_LOCATIONS {
            self.seen.insert(pair.clone());
            return pair;
        }
        ("_other".into(), "_other".into())
    }
}

/// Whether an engine type holds secrets whose reads count as secret accesses.
fn holds_secrets(mount_type: &str) -> bool {
    matches!(mount_type, "kv" | "database")
}

fn record(event: &Event, locations: &mut Locations) {
    match &event.kind {
        EventKind::Request {
            operation,
            mount_type,
            duration_nanos,
        } => {
            #[allow(clippy::cast_precision_loss)]
            let secs = *duration_nanos as f64 / 1e9;
            // Vault's summary, in milliseconds as Vault reports it.
            metrics::histogram!("vault_core_handle_request").record(secs * 1e3);
            let class = if mount_type.is_empty() {
                "none".to_string()
            } else {
                mount_type.clone()
            };
            let op = operation.as_str();
            metrics::histogram!("coffre_request_duration_seconds", "class" => class.clone(), "op" => op)
                .record(secs);
            metrics::counter!("coffre_requests_total", "class" => class, "op" => op, "outcome" => event.outcome.name())
                .increment(1);
            if holds_secrets(mount_type) && *operation == Operation::Read {
                let (namespace, mount) = locations.of(event);
                let name = match event.outcome {
                    Outcome::Ok => "secret_access_total",
                    Outcome::Denied => "secret_unauthorized_access_total",
                    Outcome::ClientError | Outcome::ServerError => "secret_access_failures_total",
                };
                metrics::counter!(name, "namespace" => namespace, "mount" => mount).increment(1);
            }
        }
        EventKind::Background { name } => {
            if let Some(result) = name.strip_prefix("rotation.") {
                let (namespace, mount) = locations.of(event);
                metrics::counter!("rotation_events_total", "result" => result, "namespace" => namespace, "mount" => mount)
                    .increment(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ns: &str, mount: &str, outcome: Outcome) -> Event {
        Event {
            time_unix_nanos: 0,
            namespace: ns.into(),
            mount: mount.into(),
            path: format!("{mount}data/x"),
            identity: None,
            remote_addr: None,
            outcome,
            kind: EventKind::Request {
                operation: Operation::Read,
                mount_type: "kv".into(),
                duration_nanos: 1_000_000,
            },
        }
    }

    #[test]
    fn past_the_bound_locations_share_one_label() {
        let mut locations = Locations::default();
        for i in 0..MAX_LOCATIONS {
            let e = request("", &format!("m{i}/"), Outcome::Ok);
            assert_eq!(locations.of(&e).1, format!("m{i}/"));
        }
        let late = request("", "late/", Outcome::Ok);
        assert_eq!(locations.of(&late), ("_other".into(), "_other".into()));
        let known = request("", "m0/", Outcome::Ok);
        assert_eq!(
            locations.of(&known).1,
            "m0/",
            "a known pair keeps its labels"
        );
    }

    #[tokio::test]
    async fn events_become_counters_and_summaries() {
        let bus = EventBus::default();
        let metrics = Metrics::start(&bus);
        bus.publish(request("", "secret/", Outcome::Ok));
        bus.publish(request("", "secret/", Outcome::Ok));
        bus.publish(request("team-a/", "kv/", Outcome::Denied));
        let mut rotated = request("", "secret/", Outcome::Ok);
        rotated.kind = EventKind::Background {
            name: "rotation.rotated",
        };
        bus.publish(rotated);
        let gauges = Gauges {
            unsealed: true,
            active: true,
            dropped: &[("metrics", 0)],
        };
        // The task records asynchronously: wait until it has.
        let mut text = String::new();
        for _ in 0..100 {
            text = metrics.render(&gauges);
            if text.contains("rotation_events_total") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            text.contains(r#"secret_access_total{namespace="",mount="secret/"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"secret_unauthorized_access_total{namespace="team-a/",mount="kv/"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"rotation_events_total{result="rotated",namespace="",mount="secret/"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("vault_core_unsealed 1"), "{text}");
        assert!(text.contains("vault_core_handle_request_count 3"), "{text}");
        assert!(
            text.contains(
                r#"coffre_request_duration_seconds_bucket{class="kv",op="read",le="0.001"} 3"#
            ),
            "{text}"
        );
    }
}
