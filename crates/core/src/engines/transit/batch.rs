//! Request plumbing shared by the data operations: `batch_input`, base64 fields, versioned
//! `vault:vN:` strings and the status of partially failed batches.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::fields::{opt_i64, opt_str};
use crate::request::Response;

/// The literal prefix of every versioned value.
pub(super) const PREFIX: &str = "vault:v";

/// `vault:v<version>:<payload>`.
pub(super) fn versioned(version: u32, payload: &str) -> String {
    format!("{PREFIX}{version}:{payload}")
}

/// Splits `vault:vN:payload`. `what` names the value in errors (`ciphertext`, `signature`,
/// `HMAC`). Version 0 reads as 1 (keys once started at 0).
pub(super) fn parse_versioned<'a>(value: &'a str, what: &str) -> Result<(u32, &'a str)> {
    let rest = value
        .strip_prefix(PREFIX)
        .ok_or_else(|| Error::invalid(format!("invalid {what}: no prefix")))?;
    let (ver, payload) = rest
        .split_once(':')
        .ok_or_else(|| Error::invalid(format!("invalid {what}: wrong number of fields")))?;
    let ver: u32 = ver.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid {what}: version number could not be decoded"
        ))
    })?;
    Ok((ver.max(1), payload))
}

/// Decodes a standard base64 field (Vault sends every binary input this way).
pub(super) fn b64(value: &str, field: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(value.trim())
        .map_err(|e| Error::invalid(format!("failed to base64-decode {field}: {e}")))
}

/// Decodes either standard or URL-safe (JWS) base64.
pub(super) fn b64_any(value: &str, field: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(value)
        .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')))
        .map_err(|e| Error::invalid(format!("failed to base64-decode {field}: {e}")))
}

/// An optional base64 field of `item`, decoded; absent or empty is empty.
pub(super) fn opt_b64(item: &Map<String, Value>, field: &str) -> Result<Vec<u8>> {
    match opt_str(item, field)? {
        None | Some("") => Ok(Vec::new()),
        Some(s) => b64(s, field),
    }
}

/// The `batch_input` items, if the request is a batch.
/// Most items one batch request may carry. A batch runs on the request's task; without a cap
/// a single 32 MiB body could keep a worker busy for hours (e.g. RSA-4096 signatures).
pub(super) const MAX_BATCH_ITEMS: usize = 1000;

pub(super) fn items(data: &Map<String, Value>) -> Result<Option<Vec<Map<String, Value>>>> {
    match data.get("batch_input") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(Error::invalid("missing batch input to process"));
            }
            if items.len() > MAX_BATCH_ITEMS {
                return Err(Error::invalid(format!(
                    "batch_input has {} items; at most {MAX_BATCH_ITEMS} are allowed per request",
                    items.len()
                )));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(m.clone()),
                    _ => Err(Error::invalid(format!(
                        "failed to parse batch input: item {i} is not an object"
                    ))),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some)
        }
        Some(Value::String(s)) => {
            // Some clients send the array JSON-encoded as a string.
            let parsed: Value = serde_json::from_str(s)
                .map_err(|e| Error::invalid(format!("failed to parse batch input: {e}")))?;
            let mut m = Map::new();
            m.insert("batch_input".into(), parsed);
            items(&m)
        }
        Some(_) => Err(Error::invalid(
            "failed to parse batch input: expected a list of objects",
        )),
    }
}

/// The item's `key_version` (0 = latest).
pub(super) fn key_version(item: &Map<String, Value>) -> Result<i64> {
    Ok(opt_i64(item, "key_version")?.unwrap_or(0))
}

/// The item's `reference`, echoed back in its result.
pub(super) fn reference(item: &Map<String, Value>) -> Value {
    match item.get("reference") {
        Some(Value::String(s)) => json!(s),
        Some(Value::Null) | None => json!(""),
        Some(other) => json!(other.to_string()),
    }
}

/// Tracks how a batch went, for the response status.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Outcome {
    pub(super) success: bool,
    pub(super) user_error: bool,
    pub(super) internal_error: bool,
}

impl Outcome {
    /// Records one item's error and returns its message.
    pub(super) fn fail(&mut self, e: &Error) -> String {
        if e.kind() == ErrorKind::Internal {
            tracing::warn!(error = %e, "transit batch item failed");
            self.internal_error = true;
        } else {
            self.user_error = true;
        }
        e.public_message()
    }

    /// One `batch_results` item of a verify operation (HMAC or signature): `valid`, the error
    /// when the item could not be checked, and the item's `reference`.
    pub(super) fn verify_item(&mut self, item: &Map<String, Value>, res: Result<bool>) -> Value {
        let mut r = Map::new();
        match res {
            Ok(valid) => {
                r.insert("valid".into(), json!(valid));
            }
            Err(e) => {
                r.insert("valid".into(), json!(false));
                r.insert("error".into(), json!(self.fail(&e)));
            }
        }
        r.insert("reference".into(), reference(item));
        Value::Object(r)
    }

    /// Vault's rule for encrypt/decrypt/rewrap batches: any failed item makes the response
    /// 400 (500 if only internal errors), still with the normal envelope;
    /// `partial_failure_response_code` overrides it when at least one item succeeded.
    pub(super) fn apply(self, data: &Map<String, Value>, resp: &mut Response) -> Result<()> {
        if !self.user_error && !self.internal_error {
            return Ok(());
        }
        let mut code = if self.user_error { 400 } else { 500 };
        if self.success
            && let Some(want) = opt_i64(data, "partial_failure_response_code")?
        {
            match u16::try_from(want) {
                Ok(c) if (1..=599).contains(&c) => code = c,
                _ => resp.warnings.push(format!(
                    "invalid HTTP response code override from partial_failure_response_code, reverting to {code}"
                )),
            }
        }
        resp.status = Some(code);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_values() {
        assert_eq!(versioned(3, "abc"), "vault:v3:abc");
        assert_eq!(
            parse_versioned("vault:v3:abc", "ciphertext").ok(),
            Some((3, "abc"))
        );
        assert_eq!(
            parse_versioned("vault:v0:x:y", "ciphertext").ok(),
            Some((1, "x:y"))
        );
        let msg = |s: &str| {
            parse_versioned(s, "ciphertext")
                .err()
                .map(|e| e.to_string())
        };
        assert_eq!(
            msg("v1:abc").as_deref(),
            Some("invalid ciphertext: no prefix")
        );
        assert_eq!(
            msg("vault:v1abc").as_deref(),
            Some("invalid ciphertext: wrong number of fields")
        );
        assert_eq!(
            msg("vault:vX:abc").as_deref(),
            Some("invalid ciphertext: version number could not be decoded")
        );
        assert!(parse_versioned("vault:v-1:abc", "ciphertext").is_err());
    }

    #[test]
    fn batch_items() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(items(&m(json!({}))).expect("ok").is_none());
        assert!(items(&m(json!({"batch_input": []}))).is_err());
        assert!(items(&m(json!({"batch_input": [1]}))).is_err());
        assert!(items(&m(json!({"batch_input": {"a": 1}}))).is_err());
        assert_eq!(
            items(&m(json!({"batch_input": [{"a": 1}, {}]})))
                .expect("ok")
                .map(|v| v.len()),
            Some(2)
        );
        assert_eq!(
            items(&m(json!({"batch_input": "[{\"a\":1}]"})))
                .expect("ok")
                .map(|v| v.len()),
            Some(1)
        );
    }

    #[test]
    fn partial_failure_codes() {
        let data = |v: Value| v.as_object().cloned().unwrap_or_default();
        let mut resp = Response::empty();
        Outcome {
            success: true,
            user_error: true,
            internal_error: false,
        }
        .apply(&data(json!({})), &mut resp)
        .expect("apply");
        assert_eq!(resp.status, Some(400));
        let mut resp = Response::empty();
        Outcome {
            success: true,
            user_error: true,
            internal_error: false,
        }
        .apply(
            &data(json!({"partial_failure_response_code": 207})),
            &mut resp,
        )
        .expect("apply");
        assert_eq!(resp.status, Some(207));
        let mut resp = Response::empty();
        Outcome {
            success: false,
            user_error: true,
            internal_error: false,
        }
        .apply(
            &data(json!({"partial_failure_response_code": 207})),
            &mut resp,
        )
        .expect("apply");
        assert_eq!(resp.status, Some(400));
        let mut resp = Response::empty();
        Outcome {
            success: true,
            user_error: false,
            internal_error: true,
        }
        .apply(
            &data(json!({"partial_failure_response_code": 9000})),
            &mut resp,
        )
        .expect("apply");
        assert_eq!(resp.status, Some(500));
        assert_eq!(resp.warnings.len(), 1);
        let mut resp = Response::empty();
        Outcome {
            success: true,
            ..Outcome::default()
        }
        .apply(&data(json!({})), &mut resp)
        .expect("apply");
        assert_eq!(resp.status, None);
    }
}
