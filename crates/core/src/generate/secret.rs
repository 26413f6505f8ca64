//! The generators a rotation policy names: what a new secret value is made of.
//!
//! | `type` | Value | Options (defaults) |
//! |---|---|---|
//! | `password` | a password | `length` (24), `symbols` (true), `exclude` (""), or `policy`: a password policy's name |
//! | `api-key` | `sk-` + base62 | `prefix` ("sk-"), `bytes` of entropy (32) |
//! | `hex` | lowercase hex | `bytes` (32) |
//! | `base64` | standard base64 | `bytes` (32) |
//! | `uuid` | a random (v4) UUID | |
//! | `aes-256` | 32 random bytes, base64 | |
//! | `jwt-hmac` | an HS256/HS512 secret, base64url without padding | `bytes` (64) |
//! | `ed25519` | a key pair, PKCS#8 / SPKI PEM | |
//! | `rsa` | a key pair, PKCS#8 / SPKI PEM | `bits` (2048, 3072 or 4096) |
//!
//! Every byte comes from the system CSPRNG (aws-lc). Values are zeroized when dropped and
//! never logged.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::password::{CharsetRule, PasswordPolicy};
use super::uniform_below;
use crate::error::{Error, Result};

/// The generator types, for error messages and docs.
pub(crate) const GENERATOR_TYPES: &[&str] = &[
    "password", "api-key", "hex", "base64", "uuid", "aes-256", "jwt-hmac", "ed25519", "rsa",
];

/// Fewest and most random bytes a `bytes` option may ask for.
const BYTES: std::ops::RangeInclusive<usize> = 16..=1024;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const SYMBOLS: &str = "!#$%&*+-.:=?@^_~";

/// A generator and its options, as a rotation policy stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Generator {
    /// A password: built-in character classes, or a named password policy.
    Password {
        #[serde(default = "default_password_length")]
        length: usize,
        #[serde(default = "yes")]
        symbols: bool,
        #[serde(default)]
        exclude: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<String>,
    },
    /// An API key: a prefix and base62 text carrying `bytes` of entropy.
    ApiKey {
        #[serde(default = "default_api_prefix")]
        prefix: String,
        #[serde(default = "default_bytes")]
        bytes: usize,
    },
    /// Random bytes as hex.
    Hex {
        #[serde(default = "default_bytes")]
        bytes: usize,
    },
    /// Random bytes as base64.
    Base64 {
        #[serde(default = "default_bytes")]
        bytes: usize,
    },
    /// A version 4 UUID. (Variants without options are empty structs: serde ignores unknown
    /// fields of a unit variant even under `deny_unknown_fields`.)
    Uuid {},
    /// An AES-256 key (base64).
    #[serde(rename = "aes-256")]
    Aes256 {},
    /// A JWT HMAC secret (base64url, no padding).
    JwtHmac {
        #[serde(default = "default_jwt_bytes")]
        bytes: usize,
    },
    /// An Ed25519 key pair.
    Ed25519 {},
    /// An RSA key pair.
    Rsa {
        #[serde(default = "default_rsa_bits")]
        bits: u32,
    },
}

fn default_password_length() -> usize {
    24
}
fn yes() -> bool {
    true
}
fn default_api_prefix() -> String {
    "sk-".into()
}
fn default_bytes() -> usize {
    32
}
fn default_jwt_bytes() -> usize {
    64
}
fn default_rsa_bits() -> u32 {
    2048
}

/// What a generator made.
pub(crate) enum Generated {
    /// One value, stored in the policy's field.
    One(Zeroizing<String>),
    /// A key pair, stored as `private_key` and `public_key`.
    Pair {
        private_pem: Zeroizing<String>,
        public_pem: String,
    },
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Generated([redacted])")
    }
}

impl Generated {
    /// The fields this value sets in a secret's data: `{field: value}` or the key pair's two.
    pub(crate) fn fields(&self, field: &str) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            Generated::One(v) => {
                m.insert(field.to_string(), Value::String(v.to_string()));
            }
            Generated::Pair {
                private_pem,
                public_pem,
            } => {
                m.insert("private_key".into(), Value::String(private_pem.to_string()));
                m.insert("public_key".into(), Value::String(public_pem.clone()));
            }
        }
        m
    }
}

/// The hex SHA-256 of what identifies a value without disclosing it: a single value itself,
/// a key pair's public key. A validator proves it holds the new value by answering this.
pub(crate) fn fingerprint(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.as_str(),
        Value::Object(m) => m.get("public_key").and_then(Value::as_str).unwrap_or(""),
        _ => "",
    };
    hex::encode(coffre_crypto::sha256(text.as_bytes()))
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid rotation policy: generator: {msg}"))
}

fn check_bytes(bytes: usize) -> Result<()> {
    if BYTES.contains(&bytes) {
        Ok(())
    } else {
        Err(invalid(format!(
            "bytes must be between {} and {}",
            BYTES.start(),
            BYTES.end()
        )))
    }
}

impl Generator {
    /// Parses a policy's `generator`: a type name, or an object with `type` and options.
    pub(crate) fn from_json(value: &Value) -> Result<Generator> {
        let object = match value {
            Value::String(t) => serde_json::json!({ "type": t }),
            Value::Object(_) => value.clone(),
            _ => return Err(invalid("must be a type name or an object with a type")),
        };
        let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
        if !GENERATOR_TYPES.contains(&kind) {
            return Err(invalid(format!(
                "unknown type \"{kind}\" (one of {})",
                GENERATOR_TYPES.join(", ")
            )));
        }
        let generator: Generator = serde_json::from_value(object).map_err(invalid)?;
        generator.check()?;
        Ok(generator)
    }

    fn check(&self) -> Result<()> {
        match self {
            Generator::Password { length, .. } if !(8..=100).contains(length) => {
                Err(invalid("length must be between 8 and 100"))
            }
            Generator::Password {
                symbols, exclude, ..
            } => {
                // The built-in classes must keep every class non-empty after exclusions.
                self.builtin_policy(*symbols, exclude).map(|_| ())
            }
            Generator::ApiKey { prefix, bytes } => {
                if prefix.len() > 32 || prefix.chars().any(|c| c.is_control() || c == ' ') {
                    return Err(invalid("prefix must be at most 32 printable characters"));
                }
                check_bytes(*bytes)
            }
            Generator::Hex { bytes } | Generator::Base64 { bytes } => check_bytes(*bytes),
            Generator::JwtHmac { bytes } if *bytes < 32 => Err(invalid(
                "bytes must be at least 32 for a JWT HMAC secret (RFC 7518 §3.2)",
            )),
            Generator::JwtHmac { bytes } => check_bytes(*bytes),
            Generator::Rsa { bits } if ![2048, 3072, 4096].contains(bits) => {
                Err(invalid("bits must be 2048, 3072 or 4096"))
            }
            _ => Ok(()),
        }
    }

    /// The name of the password policy this generator uses, if any.
    pub(crate) fn password_policy(&self) -> Option<&str> {
        match self {
            Generator::Password { policy, .. } => policy.as_deref(),
            _ => None,
        }
    }

    /// Whether the generator makes a key pair (stored as `private_key`/`public_key`).
    pub(crate) fn is_pair(&self) -> bool {
        matches!(self, Generator::Ed25519 {} | Generator::Rsa { .. })
    }

    fn builtin_policy(&self, symbols: bool, exclude: &str) -> Result<PasswordPolicy> {
        let length = match self {
            Generator::Password { length, .. } => *length,
            _ => default_password_length(),
        };
        let mut classes = vec![LOWER, UPPER, DIGITS];
        if symbols {
            classes.push(SYMBOLS);
        }
        let rules = classes
            .into_iter()
            .map(|class| {
                let charset: Vec<char> = class.chars().filter(|c| !exclude.contains(*c)).collect();
                if charset.is_empty() {
                    return Err(invalid("exclude removes a whole character class"));
                }
                Ok(CharsetRule {
                    charset,
                    min_chars: 1,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        PasswordPolicy::from_rules(length, rules)
    }

    /// Makes a new value. `named` is the password policy the generator names, loaded by the
    /// caller (`None` when it names none). RSA key generation runs on the blocking pool.
    pub(crate) async fn generate(&self, named: Option<&PasswordPolicy>) -> Result<Generated> {
        let one = |s: String| Ok(Generated::One(Zeroizing::new(s)));
        match self {
            Generator::Password {
                symbols, exclude, ..
            } => match named {
                Some(policy) => Ok(Generated::One(policy.generate()?)),
                None => Ok(Generated::One(
                    self.builtin_policy(*symbols, exclude)?.generate()?,
                )),
            },
            Generator::ApiKey { prefix, bytes } => {
                let mut out = Zeroizing::new(prefix.clone());
                for _ in 0..base62_len(*bytes) {
                    let i = uniform_below(62)? as usize;
                    out.push(char::from(BASE62[i]));
                }
                Ok(Generated::One(out))
            }
            Generator::Hex { bytes } => one(hex::encode(random(*bytes)?.as_slice())),
            Generator::Base64 { bytes } => {
                one(base64::engine::general_purpose::STANDARD.encode(random(*bytes)?.as_slice()))
            }
            Generator::Aes256 {} => {
                one(base64::engine::general_purpose::STANDARD.encode(random(32)?.as_slice()))
            }
            Generator::JwtHmac { bytes } => {
                one(base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(random(*bytes)?.as_slice()))
            }
            Generator::Uuid {} => {
                let b: [u8; 16] = coffre_crypto::random_array()?;
                one(uuid::Builder::from_random_bytes(b).into_uuid().to_string())
            }
            Generator::Ed25519 {} => key_pair(coffre_crypto::SigningAlgorithm::Ed25519).await,
            Generator::Rsa { bits } => {
                let alg = match bits {
                    4096 => coffre_crypto::SigningAlgorithm::Rsa4096,
                    3072 => coffre_crypto::SigningAlgorithm::Rsa3072,
                    _ => coffre_crypto::SigningAlgorithm::Rsa2048,
                };
                key_pair(alg).await
            }
        }
    }
}

/// `len` random letters and digits, each equally likely (accessors, database user names).
pub(crate) fn alphanumeric(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        out.push(char::from(BASE62[uniform_below(62)? as usize]));
    }
    Ok(out)
}

/// Base62 characters carrying at least `bytes * 8` bits (each carries log2(62) ≈ 5.954).
fn base62_len(bytes: usize) -> usize {
    (bytes * 8 * 1000).div_ceil(5954)
}

fn random(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; len]);
    coffre_crypto::fill_random(&mut buf)?;
    Ok(buf)
}

async fn key_pair(alg: coffre_crypto::SigningAlgorithm) -> Result<Generated> {
    tokio::task::spawn_blocking(move || {
        let (key, pkcs8) = coffre_crypto::SigningKey::generate(alg)
            .map_err(|e| Error::Internal(format!("key generation failed: {e}")))?;
        let spki = key
            .public_key_spki_der()
            .map_err(|e| Error::Internal(format!("public key encoding failed: {e}")))?;
        Ok(Generated::Pair {
            private_pem: coffre_crypto::transit::pem::encode("PRIVATE KEY", pkcs8.expose()),
            public_pem: coffre_crypto::transit::pem::encode("PUBLIC KEY", &spki).to_string(),
        })
    })
    .await
    .map_err(|e| Error::Internal(format!("key generation task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gen_of(v: Value) -> Generator {
        Generator::from_json(&v).expect("ok")
    }

    async fn one(g: &Generator) -> String {
        match g.generate(None).await.expect("ok") {
            Generated::One(v) => v.to_string(),
            Generated::Pair { .. } => panic!("expected one value"),
        }
    }

    #[tokio::test]
    async fn each_single_value_generator_makes_its_shape() {
        let pw = one(&gen_of(
            json!({"type": "password", "length": 30, "exclude": "0O1lI"}),
        ))
        .await;
        assert_eq!(pw.chars().count(), 30);
        assert!(!pw.contains(['0', 'O', '1', 'l', 'I']));
        assert!(pw.chars().any(|c| c.is_ascii_lowercase()));
        assert!(pw.chars().any(|c| c.is_ascii_uppercase()));
        assert!(pw.chars().any(|c| c.is_ascii_digit()));
        assert!(pw.chars().any(|c| SYMBOLS.contains(c)));

        let key = one(&gen_of(json!("api-key"))).await;
        assert!(key.starts_with("sk-"));
        assert_eq!(key.len(), 3 + 43, "32 bytes need 43 base62 characters");
        assert!(key[3..].bytes().all(|b| BASE62.contains(&b)));

        let hex = one(&gen_of(json!({"type": "hex", "bytes": 16}))).await;
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));

        let b64 = one(&gen_of(json!("base64"))).await;
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&b64)
                .expect("ok")
                .len(),
            32
        );
        let aes = one(&gen_of(json!("aes-256"))).await;
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&aes)
                .expect("ok")
                .len(),
            32
        );
        let jwt = one(&gen_of(json!("jwt-hmac"))).await;
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&jwt)
                .expect("ok")
                .len(),
            64
        );
        let id = one(&gen_of(json!("uuid"))).await;
        assert_eq!(uuid::Uuid::parse_str(&id).expect("ok").get_version_num(), 4);
        assert_ne!(one(&gen_of(json!("uuid"))).await, id, "fresh each time");
    }

    #[tokio::test]
    async fn key_pairs_are_pem_and_usable() {
        let g = gen_of(json!("ed25519"));
        assert!(g.is_pair());
        let Generated::Pair {
            private_pem,
            public_pem,
        } = g.generate(None).await.expect("ok")
        else {
            panic!("a pair")
        };
        assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let fields = Generated::Pair {
            private_pem,
            public_pem: public_pem.clone(),
        }
        .fields("value");
        assert_eq!(fields.len(), 2);
        assert_eq!(
            fingerprint(&Value::Object(fields)),
            hex::encode(coffre_crypto::sha256(public_pem.as_bytes()))
        );
    }

    #[test]
    fn bad_generators_are_refused_with_the_reason() {
        for (v, needle) in [
            (json!("bogus"), "unknown type \"bogus\""),
            (json!({"type": "hex", "bytes": 4}), "bytes must be between"),
            (json!({"type": "rsa", "bits": 1024}), "bits must be"),
            (json!({"type": "jwt-hmac", "bytes": 16}), "at least 32"),
            (json!({"type": "password", "length": 4}), "length must be"),
            (
                json!({"type": "password", "exclude": "0123456789"}),
                "whole character class",
            ),
            (json!({"type": "uuid", "bytes": 3}), "unknown field"),
            (json!(7), "type name"),
        ] {
            let err = Generator::from_json(&v).expect_err("refused").to_string();
            assert!(err.contains(needle), "{v}: {err}");
            assert!(err.contains("generator"), "{err}");
        }
    }

    #[test]
    fn base62_carries_the_asked_entropy() {
        for bytes in [16usize, 32, 64] {
            let chars = base62_len(bytes);
            assert!(chars as f64 * 62f64.log2() >= (bytes * 8) as f64);
            assert!(((chars - 1) as f64) * 62f64.log2() < (bytes * 8) as f64);
        }
    }
}
