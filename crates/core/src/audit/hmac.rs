//! Salted HMAC of sensitive audit values, as Vault: `hmac-sha256:<hex>`.

use coffre_crypto::{HmacKey, Key256};

/// A device's salt (kept behind the barrier), prepared as an HMAC key.
pub struct Salt(HmacKey);

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt([redacted])")
    }
}

impl Salt {
    /// Wraps key material.
    pub fn new(key: Key256) -> Salt {
        Salt(HmacKey::new(key.expose()))
    }

    /// `hmac-sha256:<hex>` of `input`.
    pub fn hash(&self, input: &str) -> String {
        let mut out = String::with_capacity(12 + 64);
        out.push_str("hmac-sha256:");
        super::chain::push_hex32(&mut out, &self.0.sign(input.as_bytes()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_format_and_deterministic() {
        let salt = Salt::new(Key256::from_slice(&[7u8; 32]).expect("key"));
        let h = salt.hash("secret");
        assert!(h.starts_with("hmac-sha256:") && h.len() == 12 + 64, "{h}");
        assert_eq!(h, salt.hash("secret"));
        assert_ne!(h, salt.hash("secret2"));
        let other = Salt::new(Key256::from_slice(&[8u8; 32]).expect("key"));
        assert_ne!(h, other.hash("secret"));
    }
}
