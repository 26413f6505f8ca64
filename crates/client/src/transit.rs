//! The transit secrets engine (`<mount>/keys/…`, `encrypt`, `decrypt`, `sign`, `verify`,
//! `datakey`): encryption, signing and data keys as a service.
//!
//! Plaintexts and signed inputs are raw bytes here; the client base64-encodes them for the
//! wire (see [`base64_encode`] and [`base64_decode`] for the server's base64 fields).

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{Client, ClientError, Method, Result, list_method};

/// Path of a transit endpoint: `<mount>/<sub>/<name>`, e.g. `transit_path("transit",
/// "encrypt", "k")` is `transit/encrypt/k` (an empty `name` gives `<mount>/<sub>`).
pub fn transit_path(mount: &str, sub: &str, name: &str) -> String {
    let mount = mount.trim_matches('/');
    let name = name.trim_matches('/');
    match (mount.is_empty(), name.is_empty()) {
        (true, true) => sub.to_string(),
        (true, false) => format!("{sub}/{name}"),
        (false, true) => format!("{mount}/{sub}"),
        (false, false) => format!("{mount}/{sub}/{name}"),
    }
}

/// Body of `POST <mount>/keys/:name` (creates a key). Unset fields take the server's
/// defaults (an `aes256-gcm96` key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TransitKeyCreate {
    /// Key type: `aes256-gcm96`, `aes128-gcm96`, `chacha20-poly1305`, `hmac`, `ed25519`,
    /// `ecdsa-p256`, `ecdsa-p384`, `rsa-2048`, `rsa-3072`, `rsa-4096`, `ml-dsa-65`,
    /// `x25519-ml-kem-768`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// Derive a key per `context` (every operation then needs a context).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// Convergent encryption (needs `derived`): same context and plaintext, same ciphertext.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub convergent_encryption: bool,
    /// Allow exporting the key material (cannot be undone).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exportable: bool,
    /// Allow plaintext backups of the key (cannot be undone).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_plaintext_backup: bool,
    /// Rotate the key automatically this often, in seconds (0: never; else at least 1 hour).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_rotate_period: Option<u64>,
    /// Key size in bytes (`hmac` keys only, 32–512).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u64>,
}

/// Body of `POST <mount>/keys/:name/config`: only the fields that are set are sent (and
/// changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TransitKeyConfig {
    /// Oldest version that may still decrypt or verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_decryption_version: Option<u64>,
    /// Oldest version that may encrypt or sign (0: the latest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_encryption_version: Option<u64>,
    /// Whether `DELETE keys/:name` is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_allowed: Option<bool>,
    /// Allow exporting the key material (one-way: `false` is ignored by the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exportable: Option<bool>,
    /// Allow plaintext backups (one-way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_plaintext_backup: Option<bool>,
    /// Automatic rotation period in seconds (0: never; else at least 1 hour).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_rotate_period: Option<u64>,
}

/// Options of `sign` and `verify`. Unset fields take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TransitSignOptions {
    /// Digest of the input (`sha2-256` default; ignored by Ed25519 and ML-DSA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_algorithm: Option<String>,
    /// RSA padding: `pss` (default) or `pkcs1v15`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    /// The input already is the digest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prehashed: bool,
    /// ECDSA signature encoding: `asn1` (default) or `jws`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marshaling_algorithm: Option<String>,
    /// Base64 context (derived Ed25519 keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Key version to sign with (sign only; default the latest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u64>,
}

/// Kind of data key made by `datakey/:type/:name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKeyKind {
    /// The response has both the wrapped key (`ciphertext`) and the key itself (`plaintext`).
    Plaintext,
    /// The response has only the wrapped key.
    Wrapped,
}

impl DataKeyKind {
    /// The path segment: `plaintext` or `wrapped`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataKeyKind::Plaintext => "plaintext",
            DataKeyKind::Wrapped => "wrapped",
        }
    }
}

fn to_map(value: &impl Serialize, what: &str) -> Result<Map<String, Value>> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ClientError::Config(format!("cannot encode {what}"))),
        Err(e) => Err(ClientError::Config(format!("cannot encode {what}: {e}"))),
    }
}

fn non_empty(resp: Option<Value>, what: &str) -> Result<Value> {
    resp.ok_or_else(|| ClientError::Decode(format!("{what}: empty response")))
}

/// The string field `name` of a response's `data` (or of the top level without an
/// envelope).
pub fn transit_field<'a>(resp: &'a Value, name: &str) -> Option<&'a str> {
    resp.get("data")
        .filter(|d| d.is_object())
        .unwrap_or(resp)
        .get(name)
        .and_then(Value::as_str)
}

/// The `valid` flag of a `verify` response.
pub fn transit_valid(resp: &Value) -> Option<bool> {
    resp.get("data")
        .filter(|d| d.is_object())
        .unwrap_or(resp)
        .get("valid")
        .and_then(Value::as_bool)
}

impl Client {
    /// `POST <mount>/keys/:name`: creates a key; the response's `data` is the key info (an
    /// existing key is left as it is, with a warning).
    pub async fn transit_create_key(
        &self,
        mount: &str,
        name: &str,
        req: &TransitKeyCreate,
    ) -> Result<Option<Value>> {
        let body = Value::Object(to_map(req, "key parameters")?);
        let path = transit_path(mount, "keys", name);
        self.request_with(Method::POST, &path, &[], Some(&body), None)
            .await
    }

    /// `GET <mount>/keys/:name`: the key info, or `None` when there is no such key.
    pub async fn transit_read_key(&self, mount: &str, name: &str) -> Result<Option<Value>> {
        let path = transit_path(mount, "keys", name);
        self.request_with_or_none(Method::GET, &path, &[], None)
            .await
    }

    /// `LIST <mount>/keys`: the key names under `data.keys`, or `None` when there are none.
    pub async fn transit_list_keys(&self, mount: &str) -> Result<Option<Value>> {
        let path = transit_path(mount, "keys", "");
        self.request_with_or_none(list_method(), &path, &[], None)
            .await
    }

    /// `POST <mount>/keys/:name/rotate`: adds a key version; the response is the key info.
    pub async fn transit_rotate_key(&self, mount: &str, name: &str) -> Result<Option<Value>> {
        let path = format!("{}/rotate", transit_path(mount, "keys", name));
        self.request_with(Method::POST, &path, &[], Some(&json!({})), None)
            .await
    }

    /// `POST <mount>/keys/:name/config`: changes the settings set in `config`.
    pub async fn transit_configure_key(
        &self,
        mount: &str,
        name: &str,
        config: &TransitKeyConfig,
    ) -> Result<Option<Value>> {
        let body = Value::Object(to_map(config, "key configuration")?);
        let path = format!("{}/config", transit_path(mount, "keys", name));
        self.request_with(Method::POST, &path, &[], Some(&body), None)
            .await
    }

    /// `DELETE <mount>/keys/:name` (the key must have `deletion_allowed`).
    pub async fn transit_delete_key(&self, mount: &str, name: &str) -> Result<Option<Value>> {
        let path = transit_path(mount, "keys", name);
        self.request_with(Method::DELETE, &path, &[], None, None)
            .await
    }

    /// `POST <mount>/encrypt/:name`: `data.ciphertext` (`vault:vN:…`) and `data.key_version`.
    /// `context` is base64 (derived keys).
    pub async fn transit_encrypt(
        &self,
        mount: &str,
        name: &str,
        plaintext: &[u8],
        context: Option<&str>,
        key_version: Option<u64>,
    ) -> Result<Value> {
        let mut body = json!({ "plaintext": base64_encode(plaintext) });
        if let Some(ctx) = context {
            body["context"] = json!(ctx);
        }
        if let Some(v) = key_version {
            body["key_version"] = json!(v);
        }
        let path = transit_path(mount, "encrypt", name);
        let resp = self
            .request_with(Method::POST, &path, &[], Some(&body), None)
            .await?;
        non_empty(resp, &path)
    }

    /// `POST <mount>/decrypt/:name`: `data.plaintext`, base64 (see [`transit_plaintext`]).
    pub async fn transit_decrypt(
        &self,
        mount: &str,
        name: &str,
        ciphertext: &str,
        context: Option<&str>,
    ) -> Result<Value> {
        let mut body = json!({ "ciphertext": ciphertext });
        if let Some(ctx) = context {
            body["context"] = json!(ctx);
        }
        let path = transit_path(mount, "decrypt", name);
        let resp = self
            .request_with(Method::POST, &path, &[], Some(&body), None)
            .await?;
        non_empty(resp, &path)
    }

    /// `POST <mount>/sign/:name`: `data.signature` (`vault:vN:…`) and `data.key_version`.
    pub async fn transit_sign(
        &self,
        mount: &str,
        name: &str,
        input: &[u8],
        opts: &TransitSignOptions,
    ) -> Result<Value> {
        let mut body = to_map(opts, "sign options")?;
        body.insert("input".into(), json!(base64_encode(input)));
        let path = transit_path(mount, "sign", name);
        let resp = self
            .request_with(Method::POST, &path, &[], Some(&Value::Object(body)), None)
            .await?;
        non_empty(resp, &path)
    }

    /// `POST <mount>/verify/:name`: `data.valid` (see [`transit_valid`]); a wrong signature
    /// is `false`, not an error.
    pub async fn transit_verify(
        &self,
        mount: &str,
        name: &str,
        input: &[u8],
        signature: &str,
        opts: &TransitSignOptions,
    ) -> Result<Value> {
        let mut body = to_map(opts, "verify options")?;
        body.remove("key_version");
        body.insert("input".into(), json!(base64_encode(input)));
        body.insert("signature".into(), json!(signature));
        let path = transit_path(mount, "verify", name);
        let resp = self
            .request_with(Method::POST, &path, &[], Some(&Value::Object(body)), None)
            .await?;
        non_empty(resp, &path)
    }

    /// `POST <mount>/datakey/plaintext|wrapped/:name`: a new random key of `bits` (128, 256
    /// or 512; default 256) encrypted with the named key: `data.ciphertext`,
    /// `data.key_version` and, for [`DataKeyKind::Plaintext`], `data.plaintext` (base64).
    pub async fn transit_datakey(
        &self,
        mount: &str,
        name: &str,
        kind: DataKeyKind,
        bits: Option<u32>,
        context: Option<&str>,
    ) -> Result<Value> {
        let mut body = json!({});
        if let Some(bits) = bits {
            body["bits"] = json!(bits);
        }
        if let Some(ctx) = context {
            body["context"] = json!(ctx);
        }
        let path = transit_path(mount, &format!("datakey/{}", kind.as_str()), name);
        let resp = self
            .request_with(Method::POST, &path, &[], Some(&body), None)
            .await?;
        non_empty(resp, &path)
    }
}

/// The decoded `data.plaintext` of a `decrypt` (or `datakey/plaintext`) response.
pub fn transit_plaintext(resp: &Value) -> Result<Vec<u8>> {
    let text = transit_field(resp, "plaintext")
        .ok_or_else(|| ClientError::Decode("no plaintext in the response".into()))?;
    base64_decode(text)
}

/// Standard, padded base64 (RFC 4648 §4), as the transit API uses.
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64; padding is optional, whitespace is not allowed.
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let engine = if text.ends_with('=') {
        &base64::engine::general_purpose::STANDARD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    engine
        .decode(text)
        .map_err(|_| ClientError::Decode("invalid base64".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(transit_path("transit", "encrypt", "k"), "transit/encrypt/k");
        assert_eq!(
            transit_path("/team/transit/", "keys", ""),
            "team/transit/keys"
        );
        assert_eq!(
            transit_path("transit", "datakey/wrapped", "k"),
            "transit/datakey/wrapped/k"
        );
        assert_eq!(transit_path("", "keys", "k"), "keys/k");
    }

    #[test]
    fn base64_round_trips() {
        for (raw, b64) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (&[0xff, 0xfe, 0x00, 0x80], "//4AgA=="),
        ] {
            assert_eq!(base64_encode(raw), b64);
            assert_eq!(base64_decode(b64).expect(b64), raw);
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).expect("all"), all);
        assert_eq!(base64_decode("Zm8").expect("unpadded"), b"fo");
        for bad in [
            "Z", "Zm9v!", "Zg===", "Zg=", "Zm9v=", "Zh==", "Zm 9v", "Zm9v\n",
        ] {
            assert!(base64_decode(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(
            serde_json::to_value(TransitKeyCreate::default()).expect("json"),
            json!({})
        );
        let req = TransitKeyCreate {
            key_type: Some("ed25519".into()),
            derived: true,
            exportable: true,
            auto_rotate_period: Some(3600),
            ..TransitKeyCreate::default()
        };
        assert_eq!(
            serde_json::to_value(&req).expect("json"),
            json!({"type": "ed25519", "derived": true, "exportable": true,
                   "auto_rotate_period": 3600})
        );
        let cfg = TransitKeyConfig {
            deletion_allowed: Some(false),
            min_decryption_version: Some(2),
            ..TransitKeyConfig::default()
        };
        assert_eq!(
            serde_json::to_value(&cfg).expect("json"),
            json!({"deletion_allowed": false, "min_decryption_version": 2})
        );
        let opts = TransitSignOptions {
            hash_algorithm: Some("sha2-512".into()),
            prehashed: true,
            ..TransitSignOptions::default()
        };
        assert_eq!(
            to_map(&opts, "x").expect("map"),
            json!({"hash_algorithm": "sha2-512", "prehashed": true})
                .as_object()
                .cloned()
                .expect("object")
        );
    }

    #[test]
    fn response_fields() {
        let resp = json!({"data": {"plaintext": "aGk=", "valid": true}});
        assert_eq!(transit_plaintext(&resp).expect("plaintext"), b"hi");
        assert_eq!(transit_valid(&resp), Some(true));
        assert_eq!(
            transit_field(&json!({"ciphertext": "c"}), "ciphertext"),
            Some("c")
        );
        assert!(transit_plaintext(&json!({"data": {}})).is_err());
        assert_eq!(transit_valid(&json!({"data": null})), None);
    }
}
