//! The token settings every login method's users and roles carry, as Vault's `tokenutil`
//! defines them: `token_policies`, `token_ttl`, `token_max_ttl`, `token_period`,
//! `token_explicit_max_ttl`, `token_no_default_policy`, `token_num_uses`, `token_type`,
//! `token_bound_cidrs`, and the legacy names some clients still send (`policies`, `ttl`,
//! `max_ttl`, `period`, `bound_cidrs`; hvac's userpass sends `policies`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::cidr;
use crate::error::{Error, Result};
use crate::fields;
use crate::route::{Field, FieldKind, field};

/// The route fields of [`TokenParams`], for the tables of users and roles.
pub(crate) const FIELDS: &[Field] = &[
    field(
        "token_policies",
        FieldKind::StrList,
        "Policies of tokens made at login.",
    ),
    field(
        "policies",
        FieldKind::StrList,
        "Deprecated: token_policies.",
    ),
    field(
        "token_ttl",
        FieldKind::Duration,
        "Initial TTL of tokens made at login.",
    ),
    field("ttl", FieldKind::Duration, "Deprecated: token_ttl."),
    field(
        "token_max_ttl",
        FieldKind::Duration,
        "Longest a token made at login may live, renewals included.",
    ),
    field("max_ttl", FieldKind::Duration, "Deprecated: token_max_ttl."),
    field(
        "token_period",
        FieldKind::Duration,
        "Makes tokens periodic with this period.",
    ),
    field("period", FieldKind::Duration, "Deprecated: token_period."),
    field(
        "token_explicit_max_ttl",
        FieldKind::Duration,
        "Hard cap on the lifetime of tokens.",
    ),
    field(
        "token_no_default_policy",
        FieldKind::Bool,
        "Do not add the default policy.",
    ),
    field(
        "token_num_uses",
        FieldKind::Int,
        "Uses per token (0: unlimited).",
    ),
    field(
        "token_type",
        FieldKind::Str,
        "service, batch, default, default-service or default-batch.",
    ),
    field(
        "token_bound_cidrs",
        FieldKind::StrList,
        "Client addresses tokens may be used from.",
    ),
    field(
        "bound_cidrs",
        FieldKind::StrList,
        "Deprecated: token_bound_cidrs.",
    ),
    field(
        "token_strictly_bind_ip",
        FieldKind::Bool,
        "Accepted for compatibility; must be false.",
    ),
];

/// Token settings of a user or role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenParams {
    #[serde(default)]
    pub(crate) policies: Vec<String>,
    /// Seconds (0: the mount's default).
    #[serde(default)]
    pub(crate) ttl: u64,
    /// Seconds (0: the mount's maximum).
    #[serde(default)]
    pub(crate) max_ttl: u64,
    #[serde(default)]
    pub(crate) period: u64,
    #[serde(default)]
    pub(crate) explicit_max_ttl: u64,
    #[serde(default)]
    pub(crate) no_default_policy: bool,
    #[serde(default)]
    pub(crate) num_uses: i64,
    /// As given (`""` is `default`).
    #[serde(default)]
    pub(crate) token_type: String,
    /// Canonical text (see [`cidr::display`]).
    #[serde(default)]
    pub(crate) bound_cidrs: Vec<String>,
}

/// The value of `name`, or of its legacy spelling when only that is given.
fn either<'a>(data: &'a Map<String, Value>, name: &'a str, legacy: &'a str) -> &'a str {
    if data.contains_key(name) || !data.contains_key(legacy) {
        name
    } else {
        legacy
    }
}

/// Lower-cases, trims, sorts and dedups policy names (as Vault does).
pub(crate) fn normalize_policies(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = list
        .into_iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl TokenParams {
    /// Applies the fields `data` gives; the others keep their value.
    pub(crate) fn apply(&mut self, data: &Map<String, Value>) -> Result<()> {
        if let Some(p) = fields::opt_string_list(data, either(data, "token_policies", "policies"))?
        {
            self.policies = normalize_policies(p);
        }
        for (name, legacy, slot) in [
            ("token_ttl", "ttl", &mut self.ttl),
            ("token_max_ttl", "max_ttl", &mut self.max_ttl),
            ("token_period", "period", &mut self.period),
            ("token_explicit_max_ttl", "", &mut self.explicit_max_ttl),
        ] {
            if let Some(v) = fields::opt_duration_secs(data, either(data, name, legacy))? {
                *slot = v;
            }
        }
        if let Some(b) = fields::opt_bool(data, "token_no_default_policy")? {
            self.no_default_policy = b;
        }
        if let Some(n) = fields::opt_i64(data, "token_num_uses")? {
            if n < 0 {
                return Err(Error::invalid("\"token_num_uses\" cannot be negative"));
            }
            self.num_uses = n;
        }
        if let Some(t) = fields::opt_str(data, "token_type")? {
            if !matches!(
                t,
                "" | "default" | "service" | "batch" | "default-service" | "default-batch"
            ) {
                return Err(Error::invalid(format!("invalid \"token_type\": \"{t}\"")));
            }
            self.token_type = if t == "default" {
                String::new()
            } else {
                t.to_string()
            };
        }
        let cidrs_field = either(data, "token_bound_cidrs", "bound_cidrs");
        if let Some(list) = fields::opt_string_list(data, cidrs_field)? {
            self.bound_cidrs = cidr::display(&cidr::parse(cidrs_field, &list)?);
        }
        if fields::opt_bool(data, "token_strictly_bind_ip")? == Some(true) {
            return Err(Error::invalid(
                "\"token_strictly_bind_ip\" is not supported",
            ));
        }
        if self.max_ttl > 0 && self.ttl > self.max_ttl {
            return Err(Error::invalid(
                "\"token_ttl\" cannot be greater than \"token_max_ttl\"",
            ));
        }
        if self.token_type.ends_with("batch") && self.period > 0 {
            return Err(Error::invalid("batch tokens cannot be periodic"));
        }
        Ok(())
    }

    /// Adds the fields as reads show them (with the legacy `policies` mirror).
    pub(crate) fn to_api(&self, out: &mut Map<String, Value>) {
        out.insert("token_policies".into(), json!(self.policies));
        out.insert("policies".into(), json!(self.policies));
        out.insert("token_ttl".into(), json!(self.ttl));
        out.insert("token_max_ttl".into(), json!(self.max_ttl));
        out.insert("token_period".into(), json!(self.period));
        out.insert(
            "token_explicit_max_ttl".into(),
            json!(self.explicit_max_ttl),
        );
        out.insert(
            "token_no_default_policy".into(),
            json!(self.no_default_policy),
        );
        out.insert("token_num_uses".into(), json!(self.num_uses));
        out.insert(
            "token_type".into(),
            json!(if self.token_type.is_empty() {
                "default"
            } else {
                &self.token_type
            }),
        );
        out.insert("token_bound_cidrs".into(), json!(self.bound_cidrs));
        out.insert("token_strictly_bind_ip".into(), json!(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn legacy_names_and_weak_types() {
        let mut p = TokenParams::default();
        p.apply(&obj(
            json!({"policies": "Dev, ops", "ttl": "1h", "token_max_ttl": 7200,
            "bound_cidrs": "127.0.0.1/32,10.0.0.0/8", "token_num_uses": "3"}),
        ))
        .expect("apply");
        assert_eq!(p.policies, ["dev", "ops"]);
        assert_eq!((p.ttl, p.max_ttl, p.num_uses), (3600, 7200, 3));
        assert_eq!(p.bound_cidrs, ["127.0.0.1", "10.0.0.0/8"]);
        // The new name wins over the legacy one.
        p.apply(&obj(json!({"token_policies": ["a"], "policies": ["b"]})))
            .expect("apply");
        assert_eq!(p.policies, ["a"]);
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut p = TokenParams::default();
        for (data, name) in [
            (json!({"token_type": "weird"}), "token_type"),
            (json!({"token_num_uses": -1}), "token_num_uses"),
            (
                json!({"token_bound_cidrs": "300.0.0.1/8"}),
                "token_bound_cidrs",
            ),
            (
                json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
                "token_ttl",
            ),
        ] {
            let err = p.clone().apply(&obj(data)).expect_err("bad");
            assert!(err.to_string().contains(name), "{err}");
        }
        assert!(p.apply(&obj(json!({"token_ttl": "soon"}))).is_err());
    }
}
