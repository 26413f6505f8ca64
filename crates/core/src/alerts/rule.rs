//! Alert rules: a condition on events, a threshold over a sliding window, a severity, a
//! cooldown and the channels to notify.
//!
//! A rule belongs to the namespace it was written in and sees the events of that namespace and
//! of those below it (the root's rules see everything), never another tenant's.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::events::{Event, EventKind, Outcome};
use crate::fields;

/// How loud an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Worth looking at.
    Warning,
    /// Worth waking someone.
    Critical,
}

impl Severity {
    /// Its name in the API, in labels and in notifications.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    fn parse(s: &str) -> Result<Severity> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            _ => Err(Error::invalid(format!(
                "severity {s:?} unknown: use info, warning or critical"
            ))),
        }
    }
}

/// Whose events a rule counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// All matching events in one window.
    None,
    /// One window per caller (its entity id or token name; without one, its address).
    Identity,
}

/// Which events a rule counts. Every field set must match; an empty list matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Event types: `request`, `anomaly`, or a background event's name (`rotation.failed`).
    #[serde(default)]
    pub events: Vec<String>,
    /// Request operations (`read`, `create`, `update`, `delete`, `list`).
    #[serde(default)]
    pub operations: Vec<String>,
    /// Outcomes (`ok`, `denied`, `client_error`, `server_error`).
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// Glob over the event's namespace path (relative to the rule's namespace).
    #[serde(default)]
    pub namespace: String,
    /// Glob over the mount path (`secret/`).
    #[serde(default)]
    pub mount: String,
    /// Globs over the request path, any of which may match.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Glob over the caller.
    #[serde(default)]
    pub identity: String,
    /// Only reads of secrets marked critical (KV v2 `custom_metadata` `critical=true`).
    #[serde(default)]
    pub critical: bool,
}

/// One alert rule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its name, unique in its namespace.
    pub name: String,
    /// What it is for, shown in notifications.
    #[serde(default)]
    pub description: String,
    /// Which events count.
    pub condition: Condition,
    /// How many matching events within `window_secs` fire the alert.
    pub threshold: u32,
    /// The sliding window.
    pub window_secs: u64,
    /// Whose events share a window.
    pub group_by: GroupBy,
    /// How loud.
    pub severity: Severity,
    /// After firing, the same rule and group stays quiet this long.
    pub cooldown_secs: u64,
    /// The channels (names in the rule's namespace) to notify.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Whether it is evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

const EVENT_TYPES_HINT: &str = "request, anomaly or a background event (rotation.failed, …)";

impl Rule {
    /// A rule from the API's fields (`sys/alerts/rules/:name`).
    pub fn from_api(name: &str, data: &Map<String, Value>) -> Result<Rule> {
        check_name(name)?;
        let list = |key: &str| -> Result<Vec<String>> {
            Ok(fields::opt_string_list(data, key)?.unwrap_or_default())
        };
        let text = |key: &str| -> Result<String> {
            Ok(fields::opt_str(data, key)?.unwrap_or("").to_string())
        };
        let condition = Condition {
            events: list("events")?,
            operations: list("operations")?,
            outcomes: list("outcomes")?,
            namespace: text("namespace")?,
            mount: text("mount")?,
            paths: list("paths")?,
            identity: text("identity")?,
            critical: fields::opt_bool(data, "critical")?.unwrap_or(false),
        };
        if condition.events.is_empty() {
            return Err(Error::invalid(format!(
                "\"events\" is required: {EVENT_TYPES_HINT}"
            )));
        }
        for op in &condition.operations {
            if !matches!(
                op.as_str(),
                "read" | "create" | "update" | "delete" | "list" | "patch"
            ) {
                return Err(Error::invalid(format!("operation {op:?} unknown")));
            }
        }
        for outcome in &condition.outcomes {
            if !matches!(
                outcome.as_str(),
                "ok" | "denied" | "client_error" | "server_error"
            ) {
                return Err(Error::invalid(format!(
                    "outcome {outcome:?} unknown: use ok, denied, client_error or server_error"
                )));
            }
        }
        let threshold = fields::opt_i64(data, "threshold")?.unwrap_or(1);
        let threshold = u32::try_from(threshold)
            .ok()
            .filter(|t| *t >= 1)
            .ok_or_else(|| Error::invalid("\"threshold\" must be at least 1"))?;
        let window_secs = fields::opt_duration_secs(data, "window")?.unwrap_or(300);
        if window_secs == 0 {
            return Err(Error::invalid("\"window\" must be at least 1s"));
        }
        let group_by = match fields::opt_str(data, "group_by")?.unwrap_or("none") {
            "none" | "" => GroupBy::None,
            "identity" => GroupBy::Identity,
            other => {
                return Err(Error::invalid(format!(
                    "group_by {other:?} unknown: use none or identity"
                )));
            }
        };
        Ok(Rule {
            name: name.to_string(),
            description: text("description")?,
            condition,
            threshold,
            window_secs,
            group_by,
            severity: Severity::parse(fields::opt_str(data, "severity")?.unwrap_or("warning"))?,
            cooldown_secs: fields::opt_duration_secs(data, "cooldown")?.unwrap_or(0),
            channels: list("channels")?,
            enabled: fields::opt_bool(data, "enabled")?.unwrap_or(true),
        })
    }

    /// The API form.
    pub fn to_api(&self) -> Map<String, Value> {
        let c = &self.condition;
        let mut d = Map::new();
        d.insert("name".into(), json!(self.name));
        d.insert("description".into(), json!(self.description));
        d.insert("events".into(), json!(c.events));
        d.insert("operations".into(), json!(c.operations));
        d.insert("outcomes".into(), json!(c.outcomes));
        d.insert("namespace".into(), json!(c.namespace));
        d.insert("mount".into(), json!(c.mount));
        d.insert("paths".into(), json!(c.paths));
        d.insert("identity".into(), json!(c.identity));
        d.insert("critical".into(), json!(c.critical));
        d.insert("threshold".into(), json!(self.threshold));
        d.insert("window".into(), json!(self.window_secs));
        d.insert("group_by".into(), json!(self.group_by));
        d.insert("severity".into(), json!(self.severity.name()));
        d.insert("cooldown".into(), json!(self.cooldown_secs));
        d.insert("channels".into(), json!(self.channels));
        d.insert("enabled".into(), json!(self.enabled));
        d
    }

    /// Whether `event` counts for this rule, which lives in namespace `owner`.
    pub fn matches(&self, owner: &str, event: &Event) -> bool {
        let Some(namespace) = event.namespace.strip_prefix(owner) else {
            return false;
        };
        let c = &self.condition;
        let (kind, operation) = match &event.kind {
            EventKind::Request { operation, .. } => ("request", Some(operation.as_str())),
            EventKind::Background { name } => (*name, None),
            EventKind::Anomaly { .. } => ("anomaly", None),
            // An alert never counts for a rule: one could otherwise feed itself.
            EventKind::Alert { .. } => return false,
        };
        any_or_empty(&c.events, kind)
            && (c.operations.is_empty()
                || operation.is_some_and(|op| c.operations.iter().any(|o| o == op)))
            && any_or_empty(&c.outcomes, event.outcome.name())
            && glob(&c.namespace, namespace)
            && glob(&c.mount, &event.mount)
            && (c.paths.is_empty() || c.paths.iter().any(|p| glob(p, &event.path)))
            && glob(&c.identity, event.identity.as_deref().unwrap_or(""))
            && (!c.critical || event.critical)
    }

    /// The window `event` counts in.
    pub fn group_of(&self, event: &Event) -> String {
        match self.group_by {
            GroupBy::None => String::new(),
            GroupBy::Identity => event
                .identity
                .clone()
                .or_else(|| event.remote_addr.clone())
                .unwrap_or_default(),
        }
    }
}

fn any_or_empty(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|v| v == value)
}

/// Names of rules and channels: letters, digits, `-`, `_` and `.`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::invalid(format!(
            "invalid name {name:?}: letters, digits, '-', '_' and '.' only"
        )));
    }
    Ok(())
}

/// Shell-like matching: `*` any run of characters (`/` included), `?` one character; an
/// empty pattern matches anything. Iterative with one backtrack point, so linear-ish and
/// never recursive on request data.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The rules every core starts with in its root namespace (the product's seeds): edited or
/// deleted like any other once written.
pub fn defaults() -> Vec<Rule> {
    let rule = |name: &str, description: &str, condition: Condition| Rule {
        name: name.into(),
        description: description.into(),
        condition,
        threshold: 1,
        window_secs: 300,
        group_by: GroupBy::None,
        severity: Severity::Warning,
        cooldown_secs: 0,
        channels: Vec::new(),
        enabled: true,
    };
    let on = |events: &[&str]| Condition {
        events: events.iter().map(|e| (*e).to_string()).collect(),
        ..Condition::default()
    };
    let denied = Condition {
        outcomes: vec![Outcome::Denied.name().into()],
        ..on(&["request"])
    };
    vec![
        Rule {
            threshold: 5,
            group_by: GroupBy::Identity,
            cooldown_secs: 300,
            ..rule(
                "repeated-access-failures",
                "5 failed accesses within 5 minutes by one caller",
                Condition {
                    outcomes: vec!["denied".into(), "client_error".into()],
                    ..on(&["request"])
                },
            )
        },
        Rule {
            group_by: GroupBy::Identity,
            cooldown_secs: 60,
            ..rule(
                "unauthorized-access",
                "a request the policy refused",
                denied.clone(),
            )
        },
        Rule {
            severity: Severity::Critical,
            ..rule(
                "critical-secret-read",
                "a read of a secret marked critical",
                Condition {
                    operations: vec!["read".into()],
                    outcomes: vec!["ok".into()],
                    critical: true,
                    ..on(&["request"])
                },
            )
        },
        rule(
            "production-secret-modified",
            "a write or delete under a prod path",
            Condition {
                operations: vec![
                    "create".into(),
                    "update".into(),
                    "patch".into(),
                    "delete".into(),
                ],
                outcomes: vec!["ok".into()],
                paths: vec!["*/prod/*".into(), "prod/*".into()],
                ..on(&["request"])
            },
        ),
        Rule {
            severity: Severity::Critical,
            ..rule(
                "rotation-failed",
                "a rotation failed",
                on(&["rotation.failed"]),
            )
        },
        rule(
            "rotation-overdue",
            "a secret is past its rotation date",
            on(&["rotation.overdue"]),
        ),
        Rule {
            severity: Severity::Info,
            ..rule(
                "rotation-notice",
                "a secret is within its rotation notice window",
                on(&["rotation.due_soon"]),
            )
        },
        Rule {
            threshold: 3,
            window_secs: 3600,
            group_by: GroupBy::Identity,
            cooldown_secs: 3600,
            severity: Severity::Critical,
            ..rule(
                "violation-threshold",
                "3 policy violations within an hour by one caller",
                denied,
            )
        },
        Rule {
            group_by: GroupBy::Identity,
            cooldown_secs: 900,
            ..rule(
                "access-anomaly",
                "unusual access for this caller",
                on(&["anomaly"]),
            )
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ns: &str, path: &str, outcome: Outcome) -> Event {
        Event::kv_read(ns, "secret/", path, outcome)
    }

    #[test]
    fn globs_match_as_documented() {
        assert!(glob("", "anything"));
        assert!(glob("*/prod/*", "secret/data/prod/db"));
        assert!(!glob("*/prod/*", "secret/data/production/db"));
        assert!(glob("secret/?ata/*", "secret/data/x"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("**", ""));
    }

    #[test]
    fn a_rule_sees_its_namespace_and_those_below_only() {
        let rule = Rule::from_api(
            "r",
            serde_json::json!({"events": ["request"], "outcomes": ["denied"], "paths": ["secret/data/*"]})
                .as_object()
                .expect("object"),
        )
        .expect("rule");
        assert!(rule.matches("", &read("team/", "secret/data/a", Outcome::Denied)));
        assert!(rule.matches("team/", &read("team/", "secret/data/a", Outcome::Denied)));
        assert!(!rule.matches("other/", &read("team/", "secret/data/a", Outcome::Denied)));
        assert!(!rule.matches("", &read("", "secret/data/a", Outcome::Ok)));
        assert!(!rule.matches("", &read("", "kv/a", Outcome::Denied)));
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let bad = |v: serde_json::Value| {
            Rule::from_api("r", v.as_object().expect("object"))
                .expect_err("refused")
                .to_string()
        };
        assert!(bad(json!({})).contains("events"));
        assert!(bad(json!({"events": ["request"], "threshold": 0})).contains("threshold"));
        assert!(bad(json!({"events": ["request"], "severity": "loud"})).contains("severity"));
        assert!(bad(json!({"events": ["request"], "outcomes": ["meh"]})).contains("outcome"));
        assert!(Rule::from_api("a b", &Map::new()).is_err());
    }

    #[test]
    fn the_seed_rules_round_trip_through_the_api_form() {
        for rule in defaults() {
            let again = Rule::from_api(&rule.name, &rule.to_api()).expect("parses");
            assert_eq!(again, rule);
        }
    }
}
