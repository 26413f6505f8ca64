//! Alerting: rules over the event stream ([`crate::events`]) that notify channels.
//!
//! One subscriber task evaluates every rule on each event, against sliding windows kept per
//! (rule, group) and timed by the events' own clock ([`window`]). A rule that fires records an
//! [`Alert`] (kept in memory, the last [`KEPT`]), publishes an alert event (so metrics count
//! it) and hands the alert to each of its channels' queues without waiting ([`channel`]).
//!
//! Rules and channels are stored per namespace (`sys/alerts/rules/`, `sys/alerts/channels/`)
//! and loaded with the unsealed state; a rule sees the events of its namespace and of those
//! below it, and notifies only its own namespace's channels. The root namespace starts with
//! the seed rules ([`rule::defaults`]), written once at the first unseal.

pub mod channel;
pub mod rule;
mod window;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock, Weak};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde::Serialize;

use crate::barrier::View;
use crate::error::Result;
use crate::events::{Event, EventBus, EventKind};
pub use channel::Channel;
use channel::Dispatcher;
pub use rule::{Rule, Severity};

/// Storage prefix of a namespace's rules (relative to its view).
pub(crate) const RULES_PREFIX: &str = "sys/alerts/rules/";
/// Storage prefix of a namespace's channels.
pub(crate) const CHANNELS_PREFIX: &str = "sys/alerts/channels/";
/// Written once the seed rules are (so deleting one keeps it deleted).
const SEEDED: &str = "sys/alerts/seeded";
/// Fired alerts and dead letters kept in memory.
pub const KEPT: usize = 1_000;
/// Events the evaluator may fall behind by before it loses some (counted by the bus).
const QUEUE: usize = 65_536;

/// What the event that fired an alert was.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    /// `request`, `anomaly` or the background event's name.
    pub event_type: String,
    /// Its namespace.
    pub namespace: String,
    /// Its mount.
    pub mount: String,
    /// Its path.
    pub path: String,
    /// The request's operation, if a request.
    pub operation: Option<&'static str>,
    /// Who.
    pub identity: Option<String>,
    /// From where.
    pub remote_addr: Option<String>,
    /// How it ended.
    pub outcome: &'static str,
    /// For an anomaly: why it is unusual.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// One fired alert, as channels receive it.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Random id.
    pub id: String,
    /// The rule.
    pub rule: String,
    /// The rule's description.
    pub description: String,
    /// The namespace the rule belongs to (`""`: root).
    pub namespace: String,
    /// `info`, `warning` or `critical`.
    pub severity: &'static str,
    /// When (RFC 3339).
    pub fired_at: String,
    /// When (Unix seconds).
    pub fired_at_unix: i64,
    /// Matching events the window held.
    pub count: u32,
    /// The rule's window.
    pub window_seconds: u64,
    /// The group (the caller, for a rule grouped by identity).
    pub group: String,
    /// The event that fired it.
    pub event: EventSummary,
}

impl Alert {
    /// The namespace as shown to people (`root` for the root).
    pub fn namespace_label(&self) -> &str {
        if self.namespace.is_empty() {
            "root"
        } else {
            &self.namespace
        }
    }
}

/// A notification that could not be delivered.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The channel.
    pub channel: String,
    /// Why.
    pub error: String,
    /// What.
    pub alert: Alert,
}

/// The dead letters, newest last.
#[derive(Default)]
pub struct DeadLetters {
    kept: Mutex<VecDeque<DeadLetter>>,
}

impl DeadLetters {
    fn push(&self, channel: &str, alert: &Alert, error: String) {
        let mut kept = self.kept.lock();
        if kept.len() >= KEPT {
            kept.pop_front();
        }
        kept.push_back(DeadLetter {
            channel: channel.to_string(),
            error,
            alert: alert.clone(),
        });
    }
}

/// Rules of every namespace, with the namespace each belongs to.
type RuleSet = Vec<(String, Arc<Rule>)>;
/// Channels by (namespace, name).
type ChannelSet = HashMap<(String, String), Arc<Dispatcher>>;

/// The alerting of one core. Lives with the event bus, so it outlives unseals.
#[derive(Default)]
pub struct Alerting {
    rules: ArcSwap<RuleSet>,
    channels: ArcSwap<ChannelSet>,
    fired: Mutex<VecDeque<Arc<Alert>>>,
    dead: Arc<DeadLetters>,
    started: OnceLock<()>,
    /// Serializes [`open`]: two changes at once must not leave the older load in place.
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Alerting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerting")
            .field("rules", &self.rules.load().len())
            .finish_non_exhaustive()
    }
}

impl Alerting {
    /// Starts evaluating the rules on `bus`'s events (once). Needs a Tokio runtime.
    pub(crate) fn start(self: &Arc<Self>, bus: &Arc<EventBus>) {
        if self.started.set(()).is_err() {
            return;
        }
        let events = bus.subscribe("alerts", QUEUE);
        tokio::spawn(evaluate(Arc::downgrade(self), Arc::downgrade(bus), events));
    }

    /// The recent alerts of namespace `owner` and those below it, newest last.
    pub fn fired(&self, owner: &str) -> Vec<Arc<Alert>> {
        self.fired
            .lock()
            .iter()
            .filter(|a| a.namespace.starts_with(owner))
            .cloned()
            .collect()
    }

    /// The dead letters of namespace `owner`'s channels and those below, newest last.
    pub fn dead_letters(&self, owner: &str) -> Vec<DeadLetter> {
        self.dead
            .kept
            .lock()
            .iter()
            .filter(|d| d.alert.namespace.starts_with(owner))
            .cloned()
            .collect()
    }

    /// Replaces the rules and channels (`loaded`: per namespace). Channels that did not
    /// change keep their queue and task.
    pub(crate) fn publish(&self, loaded: Vec<(String, Vec<Rule>, Vec<Channel>)>) -> Result<()> {
        let old = self.channels.load_full();
        let mut rules = Vec::new();
        let mut channels = HashMap::new();
        for (owner, ns_rules, ns_channels) in loaded {
            rules.extend(ns_rules.into_iter().map(|r| (owner.clone(), Arc::new(r))));
            for c in ns_channels {
                let key = (owner.clone(), c.name.clone());
                let dispatcher = match old.get(&key) {
                    Some(d) if *d.channel == c => d.clone(),
                    _ => Arc::new(Dispatcher::start(Arc::new(c), self.dead.clone())?),
                };
                channels.insert(key, dispatcher);
            }
        }
        self.rules.store(Arc::new(rules));
        self.channels.store(Arc::new(channels));
        Ok(())
    }

    fn fire(&self, owner: &str, rule: &Rule, count: u32, event: &Event) -> Arc<Alert> {
        let secs = event.time_unix_nanos.div_euclid(1_000_000_000);
        let (event_type, operation, explanation) = match &event.kind {
            EventKind::Request { operation, .. } => {
                ("request".to_string(), Some(operation.as_str()), None)
            }
            EventKind::Background { name } => ((*name).to_string(), None, None),
            EventKind::Anomaly {
                finding,
                explanation,
                ..
            } => (
                format!("anomaly.{finding}"),
                None,
                Some(explanation.clone()),
            ),
            EventKind::Alert { .. } => ("alert".to_string(), None, None),
        };
        let alert = Arc::new(Alert {
            id: uuid::Uuid::new_v4().to_string(),
            rule: rule.name.clone(),
            description: rule.description.clone(),
            namespace: owner.to_string(),
            severity: rule.severity.name(),
            fired_at: crate::clock::rfc3339_nanos(event.time_unix_nanos),
            fired_at_unix: secs,
            count,
            window_seconds: rule.window_secs,
            group: rule.group_of(event),
            event: EventSummary {
                event_type,
                namespace: event.namespace.clone(),
                mount: event.mount.clone(),
                path: event.path.clone(),
                operation,
                identity: event.identity.clone(),
                remote_addr: event.remote_addr.clone(),
                outcome: event.outcome.name(),
                explanation,
            },
        });
        {
            let mut fired = self.fired.lock();
            if fired.len() >= KEPT {
                fired.pop_front();
            }
            fired.push_back(alert.clone());
        }
        let channels = self.channels.load();
        for name in &rule.channels {
            match channels.get(&(owner.to_string(), name.clone())) {
                Some(d) => d.send(&alert, &self.dead),
                None => self
                    .dead
                    .push(name, &alert, format!("no channel named {name:?}")),
            }
        }
        alert
    }
}

/// The evaluator: counts each event for every rule it matches, fires those at threshold.
async fn evaluate(
    alerting: Weak<Alerting>,
    bus: Weak<EventBus>,
    mut events: tokio::sync::mpsc::Receiver<Arc<Event>>,
) {
    let mut windows: HashMap<(String, String), window::Windows> = HashMap::new();
    while let Some(event) = events.recv().await {
        let Some(alerting) = alerting.upgrade() else {
            return;
        };
        let rules = alerting.rules.load();
        for (owner, rule) in rules.iter() {
            if !rule.enabled || !rule.matches(owner, &event) {
                continue;
            }
            let limits = window::Limits {
                threshold: rule.threshold,
                window_secs: rule.window_secs,
                cooldown_secs: rule.cooldown_secs,
            };
            let fired = windows
                .entry((owner.clone(), rule.name.clone()))
                .or_default()
                .count(&rule.group_of(&event), event.time_unix_nanos, limits);
            if let Some(count) = fired {
                let alert = alerting.fire(owner, rule, count, &event);
                if let Some(bus) = bus.upgrade() {
                    bus.publish(Event {
                        kind: EventKind::Alert {
                            rule: alert.rule.clone(),
                            severity: alert.severity,
                        },
                        ..(*event).clone()
                    });
                }
            }
        }
    }
}

/// The rules and channels stored in one namespace.
pub(crate) async fn load(view: &View) -> Result<(Vec<Rule>, Vec<Channel>)> {
    let rules = view.get_all_json(RULES_PREFIX, "alert rule").await?;
    let channels = view.get_all_json(CHANNELS_PREFIX, "alert channel").await?;
    Ok((rules, channels))
}

/// Loads every namespace's rules and channels into `alerting` (`views`: namespace path, its
/// storage). On the active node, writes the seed rules into the root first if they never
/// were.
pub(crate) async fn open(
    alerting: &Alerting,
    views: &[(String, View)],
    active: bool,
) -> Result<()> {
    let _one_at_a_time = alerting.reloading.lock().await;
    if active
        && let Some((_, root)) = views.iter().find(|(ns, _)| ns.is_empty())
        && root.get(SEEDED).await?.is_none()
    {
        for rule in rule::defaults() {
            root.put_json(&format!("{RULES_PREFIX}{}", rule.name), &rule)
                .await?;
        }
        root.put(SEEDED, b"1").await?;
    }
    let mut loaded = Vec::with_capacity(views.len());
    for (ns, view) in views {
        let (rules, channels) = load(view).await?;
        loaded.push((ns.clone(), rules, channels));
    }
    alerting.publish(loaded)
}
