//! Typed bodies of the `sys/` endpoints the client wraps.
//!
//! Every struct keeps the fields it does not know in `extra`, so serializing it back gives the
//! server's object unchanged (the CLI's `--format json` relies on this).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ClientError;

/// Response of `PUT /v1/sys/init`.
///
/// Its `Debug` output hides the keys and the root token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct InitResponse {
    /// Unseal key shares, hex encoded.
    pub keys: Vec<String>,
    /// The same shares, base64 encoded.
    #[serde(default)]
    pub keys_base64: Vec<String>,
    /// The initial root token.
    pub root_token: String,
    /// Other fields (`recovery_keys`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for InitResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitResponse")
            .field("keys", &format_args!("<{} redacted>", self.keys.len()))
            .field(
                "keys_base64",
                &format_args!("<{} redacted>", self.keys_base64.len()),
            )
            .field("root_token", &"<redacted>")
            .field(
                "extra",
                &format_args!("{:?}", self.extra.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

/// The seal-status object returned by `sys/seal-status` and `sys/unseal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealStatus {
    /// Seal type (`shamir`, …).
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether the server has been initialized.
    pub initialized: bool,
    /// Whether the server is sealed.
    pub sealed: bool,
    /// Threshold: shares needed to unseal.
    #[serde(default)]
    pub t: u32,
    /// Total number of shares.
    #[serde(default)]
    pub n: u32,
    /// Shares entered so far in the current unseal attempt.
    #[serde(default)]
    pub progress: u32,
    /// Nonce of the current unseal attempt (`""` when idle).
    #[serde(default)]
    pub nonce: String,
    /// Server version.
    #[serde(default)]
    pub version: String,
    /// Storage backend type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    /// Cluster name (only when unsealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster id (only when unsealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Other fields (`migration`, `build_date`, `recovery_seal`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Barrier key status (`GET /v1/sys/key-status`, the `data` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// Current key term (starts at 1, +1 per rotation).
    pub term: u64,
    /// When the current term was installed (RFC 3339).
    #[serde(default)]
    pub install_time: String,
    /// Encryptions done with the current term.
    #[serde(default)]
    pub encryptions: u64,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl KeyStatus {
    /// Extracts the key status from a `sys/key-status` response: its `data` object, or the
    /// top level when there is no `data` (the route also injects the fields there).
    pub fn from_response(resp: &Value) -> Result<KeyStatus, ClientError> {
        let obj = match resp.get("data") {
            Some(data @ Value::Object(_)) => data,
            _ => resp,
        };
        KeyStatus::deserialize(obj).map_err(|e| ClientError::Decode(format!("key status: {e}")))
    }
}

/// Body of `GET /v1/sys/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Whether the server has been initialized.
    pub initialized: bool,
    /// Whether the server is sealed.
    pub sealed: bool,
    /// Whether this node is a standby.
    #[serde(default)]
    pub standby: bool,
    /// Whether this node is a performance standby.
    #[serde(default)]
    pub performance_standby: bool,
    /// Server time, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time_utc: Option<i64>,
    /// Server version.
    #[serde(default)]
    pub version: String,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Other fields (`replication_*_mode`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seal_status_round_trip() {
        let raw = json!({
            "type": "shamir", "initialized": true, "sealed": true, "t": 3, "n": 5,
            "progress": 1, "nonce": "abc", "version": "0.1.0", "migration": false,
            "recovery_seal": false, "storage_type": "file", "build_date": "x"
        });
        let s: SealStatus = serde_json::from_value(raw.clone()).expect("decode");
        assert_eq!(s.type_, "shamir");
        assert_eq!((s.t, s.n, s.progress), (3, 5, 1));
        assert_eq!(s.storage_type.as_deref(), Some("file"));
        assert_eq!(s.cluster_id, None);
        assert_eq!(serde_json::to_value(&s).expect("encode"), raw);
    }

    #[test]
    fn init_debug_hides_secrets() {
        let r: InitResponse = serde_json::from_value(json!({
            "keys": ["deadbeef"], "keys_base64": ["3q2+7w=="], "root_token": "hvs.secret"
        }))
        .expect("decode");
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("deadbeef"));
        assert!(!dbg.contains("3q2+7w=="));
        assert!(!dbg.contains("hvs.secret"));
    }

    #[test]
    fn key_status_from_envelope_or_top_level() {
        let env = json!({"request_id": "x", "data": {"term": 2, "install_time": "t", "encryptions": 7},
                         "term": 2, "install_time": "t", "encryptions": 7});
        let k = KeyStatus::from_response(&env).expect("decode");
        assert_eq!((k.term, k.encryptions), (2, 7));
        assert!(k.extra.is_empty());
        let top = json!({"term": 1, "install_time": "t"});
        assert_eq!(KeyStatus::from_response(&top).expect("decode").term, 1);
        assert!(KeyStatus::from_response(&json!({"data": null})).is_err());
    }
}
