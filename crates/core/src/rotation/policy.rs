//! Rotation policies: what a secret's metadata says about its cryptoperiod, and the presets.
//!
//! A policy arrives as the `rotation` field of a KV v2 metadata write: a preset's name, or an
//! object whose members override the preset's (or stand alone). Every mistake is a 400 that
//! names the field; nothing is stored then.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::fields::parse_duration_secs;
use crate::generate::secret::Generator;

/// Shortest period a policy may have.
const MIN_PERIOD_SECS: u64 = 60;
const DAY: u64 = 86_400;
/// The two-phase grace when neither the policy nor its preset sets one.
const DEFAULT_GRACE_SECS: u64 = DAY;
/// The data field a single-value generator writes when the policy names none.
pub(crate) const DEFAULT_FIELD: &str = "value";
/// The data field that carries the next value during a two-phase rotation.
pub(crate) const NEXT_FIELD: &str = "next";

/// How a new value replaces the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Strategy {
    /// The new value becomes current at once.
    #[default]
    Replace,
    /// The new value is published as `next` beside the current one, then promoted after the
    /// grace (and validation).
    TwoPhase,
}

impl Strategy {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Strategy::Replace => "replace",
            Strategy::TwoPhase => "two-phase",
        }
    }
}

/// A secret's rotation policy, as stored in its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RotationPolicy {
    /// The preset it started from, if any (shown; its values were copied in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) preset: Option<String>,
    /// Seconds between rotations.
    pub(crate) period: u64,
    /// Seconds before the due time when `rotation.due_soon` is announced (0: never).
    pub(crate) notify_before: u64,
    pub(crate) strategy: Strategy,
    /// What makes new values; `None`: rotated by hand (coffre reminds and marks overdue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) generator: Option<Generator>,
    /// Two-phase: seconds between publishing `next` and promoting it.
    pub(crate) grace: u64,
    /// Two-phase: a URL that must confirm the next value's fingerprint before promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) validate: Option<String>,
    /// The data field a single-value generator writes.
    pub(crate) field: String,
}

/// A named starting point: the seeds' cryptoperiods.
pub(crate) struct Preset {
    pub(crate) name: &'static str,
    pub(crate) period_days: u64,
    pub(crate) notify_days: u64,
    pub(crate) strategy: Strategy,
    /// A generator's JSON (`None`: rotated by hand, e.g. certificates issued elsewhere).
    pub(crate) generator: Option<&'static str>,
    pub(crate) what: &'static str,
}

/// The presets, in the order docs/ROTATION.md lists them.
pub(crate) const PRESETS: &[Preset] = &[
    Preset {
        name: "database-encryption-key",
        period_days: 90,
        notify_days: 7,
        strategy: Strategy::Replace,
        generator: Some("aes-256"),
        what: "keys that encrypt database columns or files",
    },
    Preset {
        name: "jwt-signing",
        period_days: 30,
        notify_days: 3,
        strategy: Strategy::TwoPhase,
        generator: Some("jwt-hmac"),
        what: "JWT HMAC signing secrets (verifiers accept current and next during the grace)",
    },
    Preset {
        name: "api-key",
        period_days: 60,
        notify_days: 5,
        strategy: Strategy::Replace,
        generator: Some("api-key"),
        what: "API keys (sk-…)",
    },
    Preset {
        name: "session-key",
        period_days: 7,
        notify_days: 1,
        strategy: Strategy::TwoPhase,
        generator: Some("base64"),
        what: "session signing or encryption keys",
    },
    Preset {
        name: "hmac-key",
        period_days: 30,
        notify_days: 3,
        strategy: Strategy::TwoPhase,
        generator: Some("hex"),
        what: "HMAC keys (webhook signatures, tokens)",
    },
    Preset {
        name: "rsa",
        period_days: 365,
        notify_days: 30,
        strategy: Strategy::TwoPhase,
        generator: Some("rsa"),
        what: "RSA key pairs",
    },
    Preset {
        name: "tls-certificate",
        period_days: 365,
        notify_days: 30,
        strategy: Strategy::Replace,
        generator: None,
        what: "TLS certificates (issued elsewhere: coffre reminds and marks them overdue)",
    },
    Preset {
        name: "smtp",
        period_days: 180,
        notify_days: 14,
        strategy: Strategy::Replace,
        generator: Some("password"),
        what: "SMTP and other service passwords",
    },
];

/// Who may hold a secret, as the seeds' inventory ranks it.
pub(crate) const CRITICALITIES: &[&str] = &["critical", "high", "moderate", "low"];

fn invalid(field: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid rotation policy: {field}: {msg}"))
}

fn duration(data: &Map<String, Value>, name: &str) -> Result<Option<u64>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(name, "must be a duration such as \"30d\" or \"12h\"")),
        Some(Value::String(s)) => parse_duration_secs(s)
            .map(Some)
            .ok_or_else(|| invalid(name, "must be a duration such as \"30d\" or \"12h\"")),
        Some(_) => Err(invalid(
            name,
            "must be a duration such as \"30d\" or \"12h\"",
        )),
    }
}

fn string<'a>(data: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(name, "must be a string")),
    }
}

const MEMBERS: &[&str] = &[
    "preset",
    "period",
    "notify_before",
    "strategy",
    "generator",
    "rotator",
    "grace",
    "validate",
    "field",
];

impl RotationPolicy {
    /// Parses the `rotation` field of a metadata write: `None` when it removes the policy
    /// (`null`, `""` or `{}`).
    pub(crate) fn from_json(value: &Value) -> Result<Option<RotationPolicy>> {
        let data = match value {
            Value::Null => return Ok(None),
            Value::String(s) if s.is_empty() => return Ok(None),
            Value::String(s) => {
                let mut m = Map::new();
                m.insert("preset".into(), Value::String(s.clone()));
                m
            }
            Value::Object(m) if m.is_empty() => return Ok(None),
            Value::Object(m) => m.clone(),
            _ => {
                return Err(Error::invalid(
                    "invalid rotation policy: must be a preset's name or an object",
                ));
            }
        };
        if let Some(unknown) = data.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
            return Err(invalid(
                unknown,
                format!("unknown member (known: {})", MEMBERS.join(", ")),
            ));
        }
        let preset = match string(&data, "preset")? {
            Some(name) => Some(PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
                invalid(
                    "preset",
                    format!(
                        "unknown preset \"{name}\" (one of {})",
                        PRESETS
                            .iter()
                            .map(|p| p.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?),
            None => None,
        };
        if let Some(rotator) = string(&data, "rotator")? {
            return Err(invalid(
                "rotator",
                format!("unknown rotator \"{rotator}\": this server has none (use a generator)"),
            ));
        }
        let period = match (duration(&data, "period")?, preset) {
            (Some(p), _) => p,
            (None, Some(p)) => p.period_days * DAY,
            (None, None) => return Err(invalid("period", "required without a preset")),
        };
        if period < MIN_PERIOD_SECS {
            return Err(invalid("period", "must be at least 1m"));
        }
        let notify_before = duration(&data, "notify_before")?
            .or(preset.map(|p| p.notify_days * DAY))
            .unwrap_or(0);
        if notify_before >= period {
            return Err(invalid("notify_before", "must be shorter than the period"));
        }
        let strategy = match string(&data, "strategy")? {
            Some("replace") => Strategy::Replace,
            Some("two-phase") => Strategy::TwoPhase,
            Some(other) => {
                return Err(invalid(
                    "strategy",
                    format!("unknown strategy \"{other}\" (replace or two-phase)"),
                ));
            }
            None => preset.map_or(Strategy::Replace, |p| p.strategy),
        };
        let generator = match data.get("generator") {
            Some(Value::Null) | None => preset
                .and_then(|p| p.generator)
                .map(|g| Generator::from_json(&Value::String(g.into())))
                .transpose()?,
            Some(g) => Some(Generator::from_json(g)?),
        };
        let grace = match (duration(&data, "grace")?, strategy) {
            (Some(g), Strategy::TwoPhase) => g,
            (None, Strategy::TwoPhase) => DEFAULT_GRACE_SECS.min(period / 2),
            (Some(_), Strategy::Replace) => {
                return Err(invalid("grace", "only a two-phase rotation has a grace"));
            }
            (None, Strategy::Replace) => 0,
        };
        if strategy == Strategy::TwoPhase && grace >= period {
            return Err(invalid("grace", "must be shorter than the period"));
        }
        let validate = string(&data, "validate")?.map(str::to_string);
        if let Some(url) = &validate {
            check_url(url)?;
            if strategy != Strategy::TwoPhase {
                return Err(invalid(
                    "validate",
                    "needs strategy two-phase (a replaced value is current before it could be checked)",
                ));
            }
        }
        if strategy == Strategy::TwoPhase && generator.is_none() {
            return Err(invalid(
                "strategy",
                "a two-phase rotation needs a generator to make the next value",
            ));
        }
        let field = string(&data, "field")?.unwrap_or(DEFAULT_FIELD).to_string();
        if field.is_empty() || field == NEXT_FIELD || field.len() > 128 {
            return Err(invalid(
                "field",
                "must be a non-empty name other than \"next\"",
            ));
        }
        if generator.as_ref().is_some_and(Generator::is_pair) && field != DEFAULT_FIELD {
            return Err(invalid(
                "field",
                "a key pair is always stored as private_key and public_key",
            ));
        }
        Ok(Some(RotationPolicy {
            preset: preset.map(|p| p.name.to_string()),
            period,
            notify_before,
            strategy,
            generator,
            grace,
            validate,
            field,
        }))
    }

    /// The policy as metadata reads show it.
    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(p) = &self.preset {
            m.insert("preset".into(), json!(p));
        }
        m.insert("period".into(), json!(human_duration(self.period)));
        m.insert(
            "notify_before".into(),
            json!(human_duration(self.notify_before)),
        );
        m.insert("strategy".into(), json!(self.strategy.name()));
        m.insert(
            "generator".into(),
            self.generator
                .as_ref()
                .and_then(|g| serde_json::to_value(g).ok())
                .unwrap_or(Value::Null),
        );
        if self.strategy == Strategy::TwoPhase {
            m.insert("grace".into(), json!(human_duration(self.grace)));
        }
        if let Some(v) = &self.validate {
            m.insert("validate".into(), json!(v));
        }
        m.insert("field".into(), json!(self.field));
        Value::Object(m)
    }
}

/// A validator URL: absolute http or https with a host.
fn check_url(url: &str) -> Result<()> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| invalid("validate", format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(invalid("validate", "must be an http or https URL"));
    }
    Ok(())
}

/// Seconds as the policy shows them: whole days as `30d`, else `12h`, `90m` or `45s`
/// combinations (what [`parse_duration_secs`] reads back).
pub(crate) fn human_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [("d", DAY), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// A secret's `criticality` from a metadata write (`""` or `null` clears it).
pub(crate) fn criticality(value: &Value) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) if CRITICALITIES.contains(&s.as_str()) => Ok(Some(s.clone())),
        _ => Err(Error::invalid(format!(
            "invalid criticality: must be one of {}",
            CRITICALITIES.join(", ")
        ))),
    }
}

/// A secret's `owner` from a metadata write (`""` or `null` clears it).
pub(crate) fn owner(value: &Value) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) if s.len() <= 256 && !s.chars().any(char::is_control) => {
            Ok(Some(s.clone()))
        }
        _ => Err(Error::invalid(
            "invalid owner: must be a string of at most 256 printable characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Option<RotationPolicy>> {
        RotationPolicy::from_json(&v)
    }

    #[test]
    fn presets_carry_the_seeds_periods() {
        let expect = [
            ("database-encryption-key", 90, 7),
            ("jwt-signing", 30, 3),
            ("api-key", 60, 5),
            ("session-key", 7, 1),
            ("hmac-key", 30, 3),
            ("rsa", 365, 30),
            ("tls-certificate", 365, 30),
            ("smtp", 180, 14),
        ];
        for (name, period, notify) in expect {
            let p = parse(json!(name)).expect("ok").expect("ok");
            assert_eq!(p.period, period * DAY, "{name}");
            assert_eq!(p.notify_before, notify * DAY, "{name}");
            assert_eq!(p.preset.as_deref(), Some(name));
        }
        let jwt = parse(json!("jwt-signing")).expect("ok").expect("ok");
        assert_eq!(jwt.strategy, Strategy::TwoPhase);
        assert_eq!(jwt.grace, DAY);
        assert!(
            parse(json!("tls-certificate"))
                .expect("ok")
                .expect("ok")
                .generator
                .is_none()
        );
    }

    #[test]
    fn members_override_the_preset_and_round_trip() {
        let p = parse(json!({"preset": "api-key", "period": "10d", "field": "key"}))
            .expect("ok")
            .expect("ok");
        assert_eq!((p.period, p.notify_before), (10 * DAY, 5 * DAY));
        assert_eq!(p.field, "key");
        let shown = p.to_json();
        assert_eq!(shown["period"], "10d");
        assert_eq!(shown["generator"]["type"], "api-key");
        // What a read shows is accepted back unchanged (a read-modify-write keeps it).
        assert_eq!(parse(shown).expect("ok").expect("ok"), p);
        assert_eq!(parse(json!(null)).expect("ok"), None);
        assert_eq!(parse(json!({})).expect("ok"), None);
    }

    #[test]
    fn bad_policies_name_the_field() {
        for (v, needle) in [
            (json!("nope"), "preset: unknown preset"),
            (
                json!({"period": "1d", "strategy": "blue"}),
                "strategy: unknown",
            ),
            (
                json!({"period": "1d", "generator": "x"}),
                "generator: unknown type",
            ),
            (json!({"generator": "hex"}), "period: required"),
            (json!({"period": "30s"}), "period: must be at least"),
            (json!({"period": "soon"}), "period: must be a duration"),
            (
                json!({"period": "1d", "strategy": "two-phase", "generator": "hex", "grace": "2d"}),
                "grace: must be shorter",
            ),
            (
                json!({"period": "1d", "grace": "1h"}),
                "grace: only a two-phase",
            ),
            (
                json!({"period": "10d", "notify_before": "10d"}),
                "notify_before: must be shorter",
            ),
            (
                json!({"preset": "jwt-signing", "validate": "ftp://x/"}),
                "validate: must be an http",
            ),
            (
                json!({"preset": "api-key", "validate": "https://x/"}),
                "validate: needs strategy two-phase",
            ),
            (
                json!({"period": "1d", "colour": "red"}),
                "colour: unknown member",
            ),
            (json!({"preset": "api-key", "field": "next"}), "field:"),
            (json!({"preset": "rsa", "field": "pem"}), "field:"),
            (json!({"period": "1d", "rotator": "postgres"}), "rotator:"),
            (json!(3), "preset's name or an object"),
        ] {
            let err = parse(v.clone()).expect_err("refused").to_string();
            assert!(err.contains(needle), "{v}: {err}");
        }
    }

    #[test]
    fn durations_read_back() {
        for secs in [60u64, 90, 3_600, DAY, 30 * DAY, DAY + 3_661] {
            assert_eq!(parse_duration_secs(&human_duration(secs)), Some(secs));
        }
        assert_eq!(human_duration(30 * DAY), "30d");
        assert_eq!(human_duration(DAY + 3_661), "1d1h1m1s");
    }

    #[test]
    fn criticality_and_owner() {
        assert_eq!(
            criticality(&json!("high")).expect("ok").as_deref(),
            Some("high")
        );
        assert_eq!(criticality(&json!("")).expect("ok"), None);
        assert!(criticality(&json!("urgent")).is_err());
        assert_eq!(
            owner(&json!("team-payments")).expect("ok").as_deref(),
            Some("team-payments")
        );
        assert!(owner(&json!(5)).is_err());
    }
}
