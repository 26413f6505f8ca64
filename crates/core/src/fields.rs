//! Typed access to request fields with Vault's weak typing: bools accept `true`/`"true"`/`1`,
//! integers accept `"5"`, durations accept `"1h"`, `"90m"`, `"3600"` and `3600`, string lists
//! accept arrays or comma-separated strings. A value of the wrong type is a 400 that names the
//! field.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

fn mismatch(name: &str, want: &str) -> Error {
    Error::invalid(format!(
        "Field validation failed: error converting input for field \"{name}\": expected {want}"
    ))
}

/// An optional string field.
pub fn opt_str<'a>(data: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(mismatch(name, "a string")),
    }
}

/// An optional string field, also accepting numbers and bools rendered as text.
pub fn opt_string_lenient(data: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(mismatch(name, "a string")),
    }
}

/// Parses a bool the way Go's `strconv.ParseBool` does.
pub fn parse_bool_str(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// An optional bool field.
pub fn opt_bool(data: &Map<String, Value>, name: &str) -> Result<Option<bool>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(mismatch(name, "a bool")),
        },
        Some(Value::String(s)) => parse_bool_str(s)
            .map(Some)
            .ok_or_else(|| mismatch(name, "a bool")),
        Some(_) => Err(mismatch(name, "a bool")),
    }
}

/// An optional signed integer field.
pub fn opt_i64(data: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| mismatch(name, "an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| mismatch(name, "an integer")),
        Some(_) => Err(mismatch(name, "an integer")),
    }
}

/// Parses a Go-style duration (`1h30m`, `90s`, `500ms` rounds down) or plain seconds.
pub fn parse_duration_secs(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let mut total: u128 = 0; // nanoseconds
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_ns: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let part = number * unit_ns;
        if !part.is_finite() || part < 0.0 {
            return None;
        }
        total = total.checked_add(part as u128)?;
    }
    u64::try_from(total / 1_000_000_000).ok()
}

/// An optional duration field in seconds.
pub fn opt_duration_secs(data: &Map<String, Value>, name: &str) -> Result<Option<u64>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| mismatch(name, "a duration")),
        Some(Value::String(s)) => parse_duration_secs(s)
            .map(Some)
            .ok_or_else(|| mismatch(name, "a duration")),
        Some(_) => Err(mismatch(name, "a duration")),
    }
}

/// An optional list of strings: a JSON array of strings or one comma-separated string.
pub fn opt_string_list(data: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(mismatch(name, "a list of strings")),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(mismatch(name, "a list of strings")),
    }
}

/// An optional map of strings (JSON object whose values are strings, numbers or bools).
pub fn opt_string_map(
    data: &Map<String, Value>,
    name: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(mismatch(name, "a map of strings")),
                };
                Ok((k.clone(), s))
            })
            .collect::<Result<_>>()
            .map(Some),
        Some(_) => Err(mismatch(name, "a map of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("3600"), Some(3600));
        assert_eq!(parse_duration_secs("1h"), Some(3600));
        assert_eq!(parse_duration_secs("90m"), Some(5400));
        assert_eq!(parse_duration_secs("1h30m10s"), Some(5410));
        assert_eq!(parse_duration_secs("768h"), Some(2_764_800));
        assert_eq!(parse_duration_secs("1.5h"), Some(5400));
        assert_eq!(parse_duration_secs("abc"), None);
        assert_eq!(parse_duration_secs("10x"), None);
        assert_eq!(parse_duration_secs(""), None);
    }

    #[test]
    fn weak_typing() {
        let d =
            map(json!({"b1": "true", "b2": 1, "b3": "nope", "i": "5", "l": "a, b,,c", "n": null}));
        assert_eq!(opt_bool(&d, "b1").ok(), Some(Some(true)));
        assert_eq!(opt_bool(&d, "b2").ok(), Some(Some(true)));
        assert!(opt_bool(&d, "b3").is_err());
        assert_eq!(opt_i64(&d, "i").ok(), Some(Some(5)));
        assert_eq!(
            opt_string_list(&d, "l").ok(),
            Some(Some(vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(opt_str(&d, "n").ok(), Some(None));
        assert_eq!(opt_str(&d, "missing").ok(), Some(None));
        assert!(opt_str(&d, "b2").is_err());
    }
}
