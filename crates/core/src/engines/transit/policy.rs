//! The transit key model: what is stored ([`StoredKey`], JSON behind the barrier) and what is
//! cached ([`Key`], parsed and ready to use).
//!
//! Storage layout inside the mount's view: `policy/<name>` holds one [`StoredKey`] with every
//! live version. Key bytes are serialized as base64 through zeroizing buffers (see
//! [`secret_b64`]); the whole JSON document is built in a zeroizing buffer as well.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffre_crypto::transit::kem::HybridKemKey;
use coffre_crypto::transit::symmetric::random_secret;
use coffre_crypto::{
    AeadAlgorithm, AeadKey, SecretBytes, SigningAlgorithm, SigningKey, TransitCryptoError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::clock::rfc3339_nanos;
use crate::error::{Error, Result};

/// Storage prefix of keys inside the mount's view.
pub(super) const POLICY_PREFIX: &str = "policy/";
/// Smallest and largest `key_size` of `hmac` keys, in bytes.
pub(super) const HMAC_MIN_KEY_SIZE: usize = 32;
pub(super) const HMAC_MAX_KEY_SIZE: usize = 512;

/// Maps a crypto error to the core's: the client's fault → 400, ours → 500.
pub(super) fn crypto_err(e: TransitCryptoError) -> Error {
    if e.is_client_error() {
        Error::invalid(e.to_string())
    } else {
        Error::Internal(e.to_string())
    }
}

/// A transit key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum KeyType {
    Aes128Gcm96,
    Aes256Gcm96,
    ChaCha20Poly1305,
    Hmac,
    Ed25519,
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    MlDsa65,
    X25519MlKem768,
}

impl KeyType {
    /// Parses a `type` field. `mldsa-65` (OpenBao's spelling) is accepted for `ml-dsa-65`.
    pub(super) fn parse(s: &str) -> Option<KeyType> {
        Some(match s {
            "aes128-gcm96" => KeyType::Aes128Gcm96,
            "aes256-gcm96" => KeyType::Aes256Gcm96,
            "chacha20-poly1305" => KeyType::ChaCha20Poly1305,
            "hmac" => KeyType::Hmac,
            "ed25519" => KeyType::Ed25519,
            "ecdsa-p256" => KeyType::EcdsaP256,
            "ecdsa-p384" => KeyType::EcdsaP384,
            "rsa-2048" => KeyType::Rsa2048,
            "rsa-3072" => KeyType::Rsa3072,
            "rsa-4096" => KeyType::Rsa4096,
            "ml-dsa-65" | "mldsa-65" => KeyType::MlDsa65,
            "x25519-ml-kem-768" => KeyType::X25519MlKem768,
            _ => return None,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            KeyType::Aes128Gcm96 => "aes128-gcm96",
            KeyType::Aes256Gcm96 => "aes256-gcm96",
            KeyType::ChaCha20Poly1305 => "chacha20-poly1305",
            KeyType::Hmac => "hmac",
            KeyType::Ed25519 => "ed25519",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::MlDsa65 => "ml-dsa-65",
            KeyType::X25519MlKem768 => "x25519-ml-kem-768",
        }
    }

    pub(super) fn aead(self) -> Option<AeadAlgorithm> {
        match self {
            KeyType::Aes128Gcm96 => Some(AeadAlgorithm::Aes128Gcm),
            KeyType::Aes256Gcm96 => Some(AeadAlgorithm::Aes256Gcm),
            KeyType::ChaCha20Poly1305 => Some(AeadAlgorithm::ChaCha20Poly1305),
            _ => None,
        }
    }

    pub(super) fn signing(self) -> Option<SigningAlgorithm> {
        match self {
            KeyType::Ed25519 => Some(SigningAlgorithm::Ed25519),
            KeyType::EcdsaP256 => Some(SigningAlgorithm::EcdsaP256),
            KeyType::EcdsaP384 => Some(SigningAlgorithm::EcdsaP384),
            KeyType::Rsa2048 => Some(SigningAlgorithm::Rsa2048),
            KeyType::Rsa3072 => Some(SigningAlgorithm::Rsa3072),
            KeyType::Rsa4096 => Some(SigningAlgorithm::Rsa4096),
            KeyType::MlDsa65 => Some(SigningAlgorithm::MlDsa65),
            _ => None,
        }
    }

    pub(super) fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    pub(super) fn supports_encryption(self) -> bool {
        self.aead().is_some() || self.is_rsa() || self == KeyType::X25519MlKem768
    }

    pub(super) fn supports_signing(self) -> bool {
        self.signing().is_some()
    }

    pub(super) fn supports_derivation(self) -> bool {
        self.aead().is_some() || self == KeyType::Ed25519
    }

    /// Associated data is authenticated (AEAD ciphers and the hybrid key's AES-GCM).
    pub(super) fn supports_associated_data(self) -> bool {
        self.aead().is_some() || self == KeyType::X25519MlKem768
    }

    /// Has a public key to show (`keys` entries with `public_key`).
    pub(super) fn is_asymmetric(self) -> bool {
        self.signing().is_some() || self == KeyType::X25519MlKem768
    }

    /// Generation is slow enough to keep off the async executor.
    pub(super) fn slow_to_generate(self) -> bool {
        self.is_rsa() || matches!(self, KeyType::MlDsa65 | KeyType::X25519MlKem768)
    }

    /// The `name` shown in asymmetric `keys` entries.
    fn public_name(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "P-256",
            KeyType::EcdsaP384 => "P-384",
            other => other.as_str(),
        }
    }
}

/// Serde for secret bytes as standard base64, through zeroizing buffers only.
pub(super) mod secret_b64 {
    use super::*;
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub(in super::super) fn serialize<S: Serializer>(
        v: &SecretBytes,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let encoded = Zeroizing::new(STANDARD.encode(v.expose()));
        s.serialize_str(&encoded)
    }

    struct B64;

    impl Visitor<'_> for B64 {
        type Value = SecretBytes;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("base64 key bytes")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretBytes, E> {
            let mut out = Zeroizing::new(Vec::with_capacity(v.len() * 3 / 4 + 3));
            STANDARD
                .decode_vec(v, &mut out)
                .map_err(|_| E::custom("invalid base64 key bytes"))?;
            Ok(SecretBytes::new(std::mem::take(&mut *out)))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<SecretBytes, E> {
            let v = Zeroizing::new(v);
            self.visit_str(&v)
        }
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<SecretBytes, D::Error> {
        d.deserialize_str(B64)
    }
}

/// When a backup or restore happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct EventInfo {
    /// RFC 3339.
    pub(super) time: String,
    pub(super) version: u32,
}

/// A key's settings (everything but the versions).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct KeyConfig {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) key_type: String,
    pub(super) derived: bool,
    #[serde(default)]
    pub(super) convergent_encryption: bool,
    pub(super) exportable: bool,
    pub(super) allow_plaintext_backup: bool,
    pub(super) deletion_allowed: bool,
    pub(super) min_decryption_version: u32,
    pub(super) min_encryption_version: u32,
    pub(super) min_available_version: u32,
    pub(super) latest_version: u32,
    /// Seconds; 0 disables automatic rotation.
    pub(super) auto_rotate_period: u64,
    /// `hmac` keys only: key length in bytes.
    #[serde(default)]
    pub(super) key_size: usize,
    #[serde(default)]
    pub(super) backup_info: Option<EventInfo>,
    #[serde(default)]
    pub(super) restore_info: Option<EventInfo>,
}

/// One key version as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredVersion {
    /// Unix nanoseconds.
    pub(super) creation_time: i64,
    /// Raw key (symmetric, hmac), PKCS#8 DER (signing keys) or the hybrid key's serialization.
    #[serde(with = "secret_b64")]
    pub(super) key: SecretBytes,
    /// The version's HMAC key (equal to `key` for `hmac` keys).
    #[serde(with = "secret_b64")]
    pub(super) hmac_key: SecretBytes,
}

/// A key as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredKey {
    pub(super) config: KeyConfig,
    pub(super) versions: BTreeMap<u32, StoredVersion>,
}

impl StoredKey {
    /// Parses the stored JSON.
    pub(super) fn from_json(raw: &[u8]) -> Result<StoredKey> {
        serde_json::from_slice(raw)
            .map_err(|e| Error::Internal(format!("corrupt transit key: {e}")))
    }

    /// Serializes into a zeroizing buffer sized up front, so no partial copy of the key bytes
    /// is left behind by a reallocation.
    pub(super) fn to_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        let estimate = 1024
            + self
                .versions
                .values()
                .map(|v| (v.key.len() + v.hmac_key.len()) * 4 / 3 + 128)
                .sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(estimate));
        serde_json::to_writer(&mut *out, self)
            .map_err(|e| Error::Internal(format!("encode transit key: {e}")))?;
        Ok(out)
    }

    pub(super) fn key_type(&self) -> Result<KeyType> {
        KeyType::parse(&self.config.key_type).ok_or_else(|| {
            Error::Internal(format!(
                "stored key has unknown type {}",
                self.config.key_type
            ))
        })
    }
}

/// Parsed key material of one version.
pub(super) enum Material {
    Aead(AeadKey),
    /// `hmac` keys: the material is the version's HMAC key.
    Hmac,
    Signing(SigningKey),
    Hybrid(HybridKemKey),
}

/// One parsed key version. Immutable once created.
pub(super) struct Version {
    pub(super) creation_time: i64,
    pub(super) hmac_key: SecretBytes,
    pub(super) material: Material,
    /// The public key as shown by `keys/:name` (asymmetric types).
    pub(super) public_key: Option<String>,
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Version")
            .field("creation_time", &self.creation_time)
            .finish_non_exhaustive()
    }
}

impl Version {
    fn parse(kind: KeyType, stored: &StoredVersion) -> Result<Version> {
        let key = stored.key.expose();
        let (material, public_key) = if let Some(alg) = kind.aead() {
            (
                Material::Aead(AeadKey::new(alg, key).map_err(crypto_err)?),
                None,
            )
        } else if let Some(alg) = kind.signing() {
            let k = SigningKey::from_pkcs8(alg, key).map_err(crypto_err)?;
            let public = k.public_key_formatted().map_err(crypto_err)?;
            (Material::Signing(k), Some(public))
        } else if kind == KeyType::X25519MlKem768 {
            let k = HybridKemKey::from_bytes(key).map_err(crypto_err)?;
            let public = STANDARD.encode(k.public_key());
            (Material::Hybrid(k), Some(public))
        } else {
            (Material::Hmac, None)
        };
        Ok(Version {
            creation_time: stored.creation_time,
            hmac_key: stored.hmac_key.clone(),
            material,
            public_key,
        })
    }

    pub(super) fn signing(&self) -> Option<&SigningKey> {
        match &self.material {
            Material::Signing(k) => Some(k),
            _ => None,
        }
    }
}

/// Generates the bytes of a new version. Slow for RSA: run off the executor.
pub(super) fn generate_version(
    kind: KeyType,
    key_size: usize,
    now_nanos: i64,
) -> Result<StoredVersion> {
    let hmac_key = random_secret(32).map_err(crypto_err)?;
    let key = if let Some(alg) = kind.aead() {
        SecretBytes::from_slice(AeadKey::generate(alg).map_err(crypto_err)?.expose_raw())
    } else if let Some(alg) = kind.signing() {
        SigningKey::generate(alg).map_err(crypto_err)?.1
    } else if kind == KeyType::X25519MlKem768 {
        HybridKemKey::generate()
            .and_then(|k| k.to_bytes())
            .map_err(crypto_err)?
    } else {
        let size = if key_size == 0 {
            HMAC_MIN_KEY_SIZE
        } else {
            key_size
        };
        random_secret(size).map_err(crypto_err)?
    };
    let hmac_key = if kind == KeyType::Hmac {
        key.clone()
    } else {
        hmac_key
    };
    Ok(StoredVersion {
        creation_time: now_nanos,
        key,
        hmac_key,
    })
}

/// A parsed key, cached per mount.
#[derive(Debug)]
pub(super) struct Key {
    pub(super) kind: KeyType,
    pub(super) config: KeyConfig,
    pub(super) versions: BTreeMap<u32, Arc<Version>>,
}

impl Key {
    /// Parses `stored`, reusing already parsed versions of `previous` (same number, same
    /// creation time: versions never change once created).
    pub(super) fn build(stored: &StoredKey, previous: Option<&Key>) -> Result<Key> {
        let kind = stored.key_type()?;
        let mut versions = BTreeMap::new();
        for (n, v) in &stored.versions {
            let reused = previous.and_then(|p| p.versions.get(n)).filter(|p| {
                p.creation_time == v.creation_time && p.hmac_key.ct_eq(v.hmac_key.expose())
            });
            let parsed = match reused {
                Some(p) => p.clone(),
                None => Arc::new(Version::parse(kind, v)?),
            };
            versions.insert(*n, parsed);
        }
        Ok(Key {
            kind,
            config: stored.config.clone(),
            versions,
        })
    }

    pub(super) fn name(&self) -> &str {
        &self.config.name
    }

    pub(super) fn latest(&self) -> u32 {
        self.config.latest_version
    }

    /// A version that still exists.
    pub(super) fn version(&self, n: u32) -> Result<&Arc<Version>> {
        self.versions
            .get(&n)
            .ok_or_else(|| Error::invalid("no such key version"))
    }

    /// The key information `keys/:name` returns. `context` selects the derived public keys of
    /// derived Ed25519 keys.
    pub(super) fn info(&self, context: Option<&[u8]>) -> Result<Map<String, Value>> {
        let c = &self.config;
        let mut m = Map::new();
        m.insert("name".into(), json!(c.name));
        m.insert("type".into(), json!(self.kind.as_str()));
        m.insert("derived".into(), json!(c.derived));
        m.insert("deletion_allowed".into(), json!(c.deletion_allowed));
        m.insert(
            "min_available_version".into(),
            json!(c.min_available_version),
        );
        m.insert(
            "min_decryption_version".into(),
            json!(c.min_decryption_version),
        );
        m.insert(
            "min_encryption_version".into(),
            json!(c.min_encryption_version),
        );
        m.insert("latest_version".into(), json!(c.latest_version));
        m.insert("exportable".into(), json!(c.exportable));
        m.insert(
            "allow_plaintext_backup".into(),
            json!(c.allow_plaintext_backup),
        );
        m.insert(
            "supports_encryption".into(),
            json!(self.kind.supports_encryption()),
        );
        m.insert(
            "supports_decryption".into(),
            json!(self.kind.supports_encryption()),
        );
        m.insert(
            "supports_signing".into(),
            json!(self.kind.supports_signing()),
        );
        m.insert(
            "supports_derivation".into(),
            json!(self.kind.supports_derivation()),
        );
        m.insert("auto_rotate_period".into(), json!(c.auto_rotate_period));
        m.insert("imported_key".into(), json!(false));
        // No soft deletion here (a deleted key is gone); the field is on every OpenBao answer.
        m.insert("soft_deleted".into(), json!(false));
        if self.kind == KeyType::Hmac {
            m.insert("key_size".into(), json!(c.key_size));
        }
        if let Some(b) = &c.backup_info {
            m.insert("backup_info".into(), json!(b));
        }
        if let Some(r) = &c.restore_info {
            m.insert("restore_info".into(), json!(r));
        }
        if c.derived {
            m.insert("kdf".into(), json!("hkdf_sha256"));
            m.insert(
                "convergent_encryption".into(),
                json!(c.convergent_encryption),
            );
            if c.convergent_encryption {
                // OpenBao's -1: each key version uses the latest convergent scheme (v3).
                m.insert("convergent_encryption_version".into(), json!(-1));
            }
        }
        let mut keys = Map::new();
        for (n, v) in &self.versions {
            let entry = if self.kind.is_asymmetric() {
                let public = match (&v.material, c.derived) {
                    (Material::Signing(k), true) => match context {
                        Some(ctx) if !ctx.is_empty() => {
                            let d = k.derive_ed25519(ctx).map_err(crypto_err)?;
                            STANDARD.encode(d.public_key_raw())
                        }
                        _ => String::new(),
                    },
                    _ => v.public_key.clone().unwrap_or_default(),
                };
                json!({
                    "name": self.kind.public_name(),
                    "public_key": public,
                    "creation_time": rfc3339_nanos(v.creation_time),
                    "certificate_chain": "",
                })
            } else {
                json!(v.creation_time.div_euclid(1_000_000_000))
            };
            keys.insert(n.to_string(), entry);
        }
        // OpenBao does not list the versions of an HMAC key.
        if self.kind != KeyType::Hmac {
            m.insert("keys".into(), Value::Object(keys));
        }
        Ok(m)
    }
}

/// Transit key names: Vault's `\w(([\w-.@]+)?\w)?` (ASCII word characters at both ends).
pub(super) fn valid_name(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().last()) else {
        return false;
    };
    word(first)
        && word(last)
        && name
            .chars()
            .all(|c| word(c) || matches!(c, '-' | '.' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "k1", "my-key.v2@x", "_x_"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a/b", "a b", ".", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn stored_json_round_trip_keeps_bytes() {
        let v = generate_version(KeyType::Aes256Gcm96, 0, 5).expect("gen");
        let raw = v.key.expose().to_vec();
        let stored = StoredKey {
            config: KeyConfig {
                name: "k".into(),
                key_type: "aes256-gcm96".into(),
                derived: false,
                convergent_encryption: false,
                exportable: false,
                allow_plaintext_backup: false,
                deletion_allowed: false,
                min_decryption_version: 1,
                min_encryption_version: 0,
                min_available_version: 0,
                latest_version: 1,
                auto_rotate_period: 0,
                key_size: 0,
                backup_info: None,
                restore_info: None,
            },
            versions: BTreeMap::from([(1, v)]),
        };
        let json = stored.to_json().expect("json");
        let back = StoredKey::from_json(&json).expect("parse");
        assert_eq!(back.versions[&1].key.expose(), raw.as_slice());
        assert_eq!(back.config, stored.config);
        let key = Key::build(&back, None).expect("build");
        assert_eq!(key.versions.len(), 1);
        assert!(!format!("{key:?}").contains(&STANDARD.encode(&raw)));
    }

    #[test]
    fn type_names_round_trip() {
        for t in [
            KeyType::Aes128Gcm96,
            KeyType::Aes256Gcm96,
            KeyType::ChaCha20Poly1305,
            KeyType::Hmac,
            KeyType::Ed25519,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Rsa2048,
            KeyType::Rsa3072,
            KeyType::Rsa4096,
            KeyType::MlDsa65,
            KeyType::X25519MlKem768,
        ] {
            assert_eq!(KeyType::parse(t.as_str()), Some(t));
        }
        assert_eq!(KeyType::parse("mldsa-65"), Some(KeyType::MlDsa65));
        assert_eq!(KeyType::parse("des"), None);
    }
}
