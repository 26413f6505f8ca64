//! Request-field parsing specific to KV v2 (signed durations, version lists, `options.cas`,
//! `custom_metadata` with Vault's limits, JSON merge patch).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fields::parse_duration_secs;

pub(super) fn mismatch(name: &str, want: &str) -> Error {
    Error::invalid(format!(
        "Field validation failed: error converting input for field \"{name}\": expected {want}"
    ))
}

/// An optional duration in seconds that may be negative (`"-1s"`, `-1`).
pub(super) fn opt_signed_duration(data: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    let parse = |s: &str| -> Option<i64> {
        let s = s.trim();
        match s.strip_prefix('-') {
            Some(rest) => parse_duration_secs(rest)
                .and_then(|v| i64::try_from(v).ok())
                .map(|v| -v),
            None => parse_duration_secs(s.strip_prefix('+').unwrap_or(s))
                .and_then(|v| i64::try_from(v).ok()),
        }
    };
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| mismatch(name, "a duration")),
        Some(Value::String(s)) => parse(s)
            .map(Some)
            .ok_or_else(|| mismatch(name, "a duration")),
        Some(_) => Err(mismatch(name, "a duration")),
    }
}

/// An optional non-negative duration in seconds.
pub(super) fn opt_unsigned_duration(data: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match opt_signed_duration(data, name)? {
        Some(v) if v < 0 => Err(Error::invalid(format!(
            "Field validation failed: error converting input for field \"{name}\": cannot provide negative value '{v}'"
        ))),
        other => Ok(other),
    }
}

/// An optional non-negative integer that must fit in `u32` (`max_versions`).
pub(super) fn opt_u32(data: &Map<String, Value>, name: &str) -> Result<Option<u32>> {
    match crate::fields::opt_i64(data, name)? {
        None => Ok(None),
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| mismatch(name, "a non-negative integer")),
    }
}

/// Vault's `TypeCommaIntSlice`: `[1, "2"]`, `"1,2"` or `3`.
pub(super) fn versions_list(data: &Map<String, Value>) -> Result<Vec<i64>> {
    let err = || mismatch("versions", "a list of integers");
    let one = |v: &Value| -> Result<i64> {
        match v {
            Value::Number(n) => n.as_i64().ok_or_else(err),
            Value::String(s) => s.trim().parse().map_err(|_| err()),
            _ => Err(err()),
        }
    };
    match data.get("versions") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|_| err()))
            .collect(),
        Some(v @ Value::Number(_)) => Ok(vec![one(v)?]),
        Some(_) => Err(err()),
    }
}

/// `options.cas`, weakly decoded like Go's mapstructure (`null` decodes to 0). `Ok(None)` when
/// absent.
pub(super) fn cas_option(data: &Map<String, Value>) -> Result<Option<i64>> {
    let options = match data.get("options") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(mismatch("options", "a map")),
    };
    let Some(raw) = options.get("cas") else {
        return Ok(None);
    };
    let bad = || Error::invalid("error parsing check-and-set parameter");
    let cas = match raw {
        Value::Null => 0,
        Value::Bool(b) => i64::from(*b),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or_else(bad)?,
        Value::String(s) if s.is_empty() => 0,
        Value::String(s) => s.trim().parse().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    Ok(Some(cas))
}

const MAX_CUSTOM_METADATA_KEYS: usize = 64;
const MAX_CUSTOM_METADATA_KEY_LEN: usize = 128;
const MAX_CUSTOM_METADATA_VALUE_LEN: usize = 512;
const CM_PREFIX: &str = "custom_metadata validation failed";

/// Go's `hashicorp/go-multierror` rendering.
fn multierror(errs: &[String]) -> String {
    let head = if errs.len() == 1 {
        "1 error occurred:".to_string()
    } else {
        format!("{} errors occurred:", errs.len())
    };
    format!("{head}\n\t* {}\n\n", errs.join("\n\t* "))
}

fn printable(s: &str) -> bool {
    s.chars()
        .all(|c| !c.is_control() && (c == ' ' || !c.is_whitespace()))
}

/// The `custom_metadata` object of a request. Values are weakly turned into strings; with
/// `keep_nulls`, `null` values stay `None` (a merge patch removes those keys), otherwise they
/// become empty strings (and fail validation, as in Vault).
pub(super) fn custom_metadata_field(
    data: &Map<String, Value>,
    keep_nulls: bool,
) -> Result<Option<BTreeMap<String, Option<String>>>> {
    let obj = match data.get("custom_metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(mismatch("custom_metadata", "a map")),
    };
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let s = match v {
            Value::Null if keep_nulls => None,
            Value::Null => Some(String::new()),
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
            Value::Array(_) | Value::Object(_) => {
                return Err(Error::invalid(format!(
                    "{CM_PREFIX}: value for key \"{k}\" must be a string"
                )));
            }
        };
        out.insert(k.clone(), s);
    }
    Ok(Some(out))
}

/// Vault's limits on custom metadata: at most 64 keys; keys 1..=128 bytes and values 1..=512
/// bytes, all printable.
pub(super) fn validate_custom_metadata(m: &BTreeMap<String, String>) -> Result<()> {
    if m.len() > MAX_CUSTOM_METADATA_KEYS {
        return Err(Error::invalid(multierror(&[format!(
            "{CM_PREFIX}: payload must contain at most {MAX_CUSTOM_METADATA_KEYS} keys, provided {}",
            m.len()
        )])));
    }
    let mut errs = Vec::new();
    for (k, v) in m {
        if k.is_empty() || k.len() > MAX_CUSTOM_METADATA_KEY_LEN {
            errs.push(format!(
                "{CM_PREFIX}: length of key {k:?} is {} but must be 0 < len(key) <= {MAX_CUSTOM_METADATA_KEY_LEN}",
                k.len()
            ));
        }
        if v.is_empty() || v.len() > MAX_CUSTOM_METADATA_VALUE_LEN {
            errs.push(format!(
                "{CM_PREFIX}: length of value for key {k:?} is {} but must be 0 < len(value) <= {MAX_CUSTOM_METADATA_VALUE_LEN}",
                v.len()
            ));
        }
        if !printable(k) {
            errs.push(format!(
                "{CM_PREFIX}: key {k:?} contains unprintable characters"
            ));
        }
        if !printable(v) {
            errs.push(format!(
                "{CM_PREFIX}: value for key {k:?} contains unprintable characters"
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(multierror(&errs)))
    }
}

/// RFC 7386 JSON merge patch of `patch` onto `target`.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Vault's subkeys view: leaves (and empty objects, and objects at `max_depth`) become `null`.
/// `max_depth` 0 means unlimited.
pub(super) fn strip_values(map: &mut Map<String, Value>, max_depth: i64) {
    fn walk(map: &mut Map<String, Value>, depth: i64, max_depth: i64) {
        for v in map.values_mut() {
            match v {
                Value::Object(inner)
                    if (max_depth == 0 || depth < max_depth) && !inner.is_empty() =>
                {
                    walk(inner, depth + 1, max_depth);
                }
                _ => *v = Value::Null,
            }
        }
    }
    walk(map, 1, max_depth);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "k": [1]});
        merge_patch(
            &mut t,
            &json!({"a": "z", "c": {"f": null, "h": 1}, "k": {"x": 1}, "n": {"o": null}}),
        );
        assert_eq!(
            t,
            json!({"a": "z", "c": {"d": "e", "h": 1}, "k": {"x": 1}, "n": {}})
        );
    }

    #[test]
    fn subkeys_depth() {
        let data = obj(json!({"a": 1, "b": {"c": {"d": 2}, "e": {}}, "f": [1]}));
        let mut all = data.clone();
        strip_values(&mut all, 0);
        assert_eq!(
            Value::Object(all),
            json!({"a": null, "b": {"c": {"d": null}, "e": null}, "f": null})
        );
        let mut one = data.clone();
        strip_values(&mut one, 1);
        assert_eq!(Value::Object(one), json!({"a": null, "b": null, "f": null}));
        let mut two = data;
        strip_values(&mut two, 2);
        assert_eq!(
            Value::Object(two),
            json!({"a": null, "b": {"c": null, "e": null}, "f": null})
        );
    }

    #[test]
    fn weak_fields() {
        let d = obj(json!({"versions": "1, 2", "d": "-1s", "e": "1h", "options": {"cas": "3"}}));
        assert_eq!(versions_list(&d).ok(), Some(vec![1, 2]));
        assert_eq!(
            versions_list(&obj(json!({"versions": [1, "4"]}))).ok(),
            Some(vec![1, 4])
        );
        assert_eq!(opt_signed_duration(&d, "d").ok(), Some(Some(-1)));
        assert_eq!(opt_signed_duration(&d, "e").ok(), Some(Some(3600)));
        assert!(opt_unsigned_duration(&d, "d").is_err());
        assert_eq!(cas_option(&d).ok(), Some(Some(3)));
        assert_eq!(cas_option(&obj(json!({"options": {}}))).ok(), Some(None));
        assert!(cas_option(&obj(json!({"options": {"cas": "x"}}))).is_err());
    }

    #[test]
    fn custom_metadata_limits() {
        let ok: BTreeMap<String, String> = [("owner".to_string(), "me".to_string())].into();
        assert!(validate_custom_metadata(&ok).is_ok());
        let empty_value: BTreeMap<String, String> = [("k".to_string(), String::new())].into();
        let msg = validate_custom_metadata(&empty_value)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.starts_with("1 error occurred:\n\t* custom_metadata validation failed"));
        let many: BTreeMap<String, String> = (0..65)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        assert!(validate_custom_metadata(&many).is_err());
    }
}
