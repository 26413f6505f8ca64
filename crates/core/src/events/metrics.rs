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

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use tokio::sync::mpsc;

use super::{Event, EventBus, EventKind, Outcome};
use crate::request::Operation;

/// Distinct (namespace, mount) label pairs kept; further pairs share `_other`.
pub const MAX_LOCATIONS: usize = 1_000;
/// Events the metrics task may fall behind by before it loses some (counted).
const QUEUE: usize = 65_536;
/// How often the metrics task folds histogram samples (see [`record_events`]).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
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
        tokio::spawn(record_events(recorder.clone(), handle.clone(), events));
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
    describe_counter!(
        "alerts_fired_total",
        "Alerts fired, by rule, severity and the namespace of the rule's event."
    );
    describe_counter!(
        "coffre_anomalies_total",
        "Accesses the anomaly detector found unusual, by finding."
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

async fn record_events(
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    mut events: mpsc::Receiver<Arc<Event>>,
) {
    let mut state = State::default();
    // Histogram samples wait in the recorder until an upkeep folds them into their summaries
    // and buckets: without one between scrapes they would pile up.
    let mut upkeep = tokio::time::interval(UPKEEP_EVERY);
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = upkeep.tick() => {
                handle.run_upkeep();
                continue;
            }
        };
        let Some(event) = event else { return };
        // Everything queued, under one entry into the recorder.
        metrics::with_local_recorder(&*recorder, || {
            state.record(&event);
            while let Ok(next) = events.try_recv() {
                state.record(&next);
            }
        });
    }
}

/// A request metric pair: its counter and its duration histogram.
type RequestHandles = (metrics::Counter, metrics::Histogram);

/// The metrics task's state: the label pairs seen, and the handles of the metrics it
/// records per request, registered once (a handle records without a registry lookup).
#[derive(Default)]
struct State {
    locations: Locations,
    handle_request: Option<metrics::Histogram>,
    /// By engine type, then (operation, outcome): the request counter and the duration.
    requests: HashMap<String, HashMap<(Operation, Outcome), RequestHandles>>,
    /// By namespace, then mount: the secret reads served, refused and failed.
    access: HashMap<String, HashMap<String, [metrics::Counter; 3]>>,
}

/// The (namespace, mount) pairs given labels of their own so far.
#[derive(Default)]
struct Locations {
    seen: HashSet<(String, String)>,
}

impl Locations {
    /// The labels of a namespace and mount: their own, or `_other` past the bound.
    fn of(&mut self, namespace: &str, mount: &str) -> (String, String) {
        let pair = (namespace.to_string(), mount.to_string());
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

impl State {
    fn record(&mut self, event: &Event) {
        match &event.kind {
            EventKind::Request {
                operation,
                mount_type,
                duration_nanos,
            } => {
                #[allow(clippy::cast_precision_loss)]
                let secs = *duration_nanos as f64 / 1e9;
                // Vault's summary, in milliseconds as Vault reports it.
                self.handle_request
                    .get_or_insert_with(|| metrics::histogram!("vault_core_handle_request"))
                    .record(secs * 1e3);
                if let Some((count, duration)) =
                    self.request_handles(mount_type, *operation, event.outcome)
                {
                    count.increment(1);
                    duration.record(secs);
                }
                if holds_secrets(mount_type) && *operation == Operation::Read {
                    let slot = match event.outcome {
                        Outcome::Ok => 0,
                        Outcome::Denied => 1,
                        Outcome::ClientError | Outcome::ServerError => 2,
                    };
                    self.access_handles(event)[slot].increment(1);
                }
            }
            EventKind::Background { name } => {
                if let Some(result) = name.strip_prefix("rotation.") {
                    let (namespace, mount) = self.locations.of(&event.namespace, &event.mount);
                    metrics::counter!("rotation_events_total", "result" => result, "namespace" => namespace, "mount" => mount)
                        .increment(1);
                }
            }
            EventKind::Anomaly { finding, .. } => {
                metrics::counter!("coffre_anomalies_total", "kind" => *finding).increment(1);
            }
            EventKind::Alert { rule, severity } => {
                // Rule names are written by operators, per namespace: bounded like mounts.
                let (namespace, _) = self.locations.of(&event.namespace, "");
                metrics::counter!("alerts_fired_total", "rule" => rule.clone(), "severity" => *severity, "namespace" => namespace)
                    .increment(1);
            }
        }
    }

    fn request_handles(
        &mut self,
        mount_type: &str,
        op: Operation,
        outcome: Outcome,
    ) -> Option<&RequestHandles> {
        // Looked up by &str first: no allocation once the class is known.
        if !self.requests.contains_key(mount_type) {
            self.requests.insert(mount_type.to_string(), HashMap::new());
        }
        let by_class = self.requests.get_mut(mount_type)?;
        Some(by_class.entry((op, outcome)).or_insert_with(|| {
            let class = if mount_type.is_empty() {
                "none".to_string()
            } else {
                mount_type.to_string()
            };
            (
                metrics::counter!("coffre_requests_total", "class" => class.clone(), "op" => op.as_str(), "outcome" => outcome.name()),
                metrics::histogram!("coffre_request_duration_seconds", "class" => class, "op" => op.as_str()),
            )
        }))
    }

    fn access_handles(&mut self, event: &Event) -> &[metrics::Counter; 3] {
        let known = self
            .access
            .get(&event.namespace)
            .is_some_and(|m| m.contains_key(&event.mount));
        let (namespace, mount) = if known {
            (event.namespace.clone(), event.mount.clone())
        } else {
            self.locations.of(&event.namespace, &event.mount)
        };
        self.access
            .entry(namespace.clone())
            .or_default()
            .entry(mount.clone())
            .or_insert_with(|| {
                let labels = |name: &'static str| {
                    metrics::counter!(name, "namespace" => namespace.clone(), "mount" => mount.clone())
                };
                [
                    labels("secret_access_total"),
                    labels("secret_unauthorized_access_total"),
                    labels("secret_access_failures_total"),
                ]
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ns: &str, mount: &str, outcome: Outcome) -> Event {
        Event::kv_read(ns, mount, &format!("{mount}data/x"), outcome)
    }

    #[test]
    fn past_the_bound_locations_share_one_label() {
        let mut locations = Locations::default();
        for i in 0..MAX_LOCATIONS {
            assert_eq!(locations.of("", &format!("m{i}/")).1, format!("m{i}/"));
        }
        assert_eq!(
            locations.of("", "late/"),
            ("_other".into(), "_other".into())
        );
        assert_eq!(
            locations.of("", "m0/").1,
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
