//! Salted HMAC of sensitive audit values, as Vault: `hmac-sha256:<hex>`.

use coffre_crypto::{Key256, hmac_sha256};
use serde_json::Value;

/// A device's salt (kept behind the barrier).
pub struct Salt(Key256);

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt([redacted])")
    }
}

impl Salt {
    /// Wraps key material.
    pub fn new(key: Key256) -> Salt {
        Salt(key)
    }

    /// `hmac-sha256:<hex>` of `input`.
    pub fn hash(&self, input: &str) -> String {
        format!(
            "hmac-sha256:{}",
            hex::encode(hmac_sha256(self.0.expose(), input.as_bytes()))
        )
    }

    /// Replaces every string leaf of `value` with its HMAC (maps and arrays are walked;
    /// numbers, bools and nulls pass through).
    pub fn hash_leaves(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.hash(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.hash_leaves(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.hash_leaves(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_hashed_structure_kept() {
        let salt = Salt::new(Key256::from_slice(&[7u8; 32]).expect("key"));
        let mut v = json!({"a": "secret", "n": 5, "l": ["x", true], "m": {"k": "v"}});
        salt.hash_leaves(&mut v);
        let h = salt.hash("secret");
        assert_eq!(v["a"], json!(h));
        assert_eq!(v["n"], json!(5));
        assert_eq!(v["l"][1], json!(true));
        assert!(
            v["m"]["k"]
                .as_str()
                .is_some_and(|s| s.starts_with("hmac-sha256:"))
        );
        assert!(!v.to_string().contains("secret\""));
    }
}
