//! Ed25519 keys for signing audit-log checkpoints (aws-lc-rs). The private key exists only as
//! PKCS#8 bytes in a zeroizing buffer; the public key is plain.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::error::CryptoError;
use crate::secret::SecretBytes;

/// An Ed25519 signing key. `Debug` shows only the public key.
pub struct AuditSigningKey {
    pair: Ed25519KeyPair,
    pkcs8: SecretBytes,
}

impl std::fmt::Debug for AuditSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigningKey")
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl AuditSigningKey {
    /// A fresh random key.
    pub fn generate() -> Result<AuditSigningKey, CryptoError> {
        let doc =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| CryptoError::Rng)?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Loads a key from its PKCS#8 encoding.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<AuditSigningKey, CryptoError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| CryptoError::InvalidKeyLength)?;
        Ok(AuditSigningKey {
            pair,
            pkcs8: SecretBytes::new_locked(pkcs8.to_vec()),
        })
    }

    /// The PKCS#8 encoding, for storage behind the barrier.
    pub fn to_pkcs8(&self) -> SecretBytes {
        self.pkcs8.clone()
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

/// Verifies an Ed25519 signature.
pub fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_and_reload() {
        let key = AuditSigningKey::generate().expect("generate");
        let sig = key.sign(b"head");
        assert!(verify_ed25519(&key.public_key(), b"head", &sig));
        assert!(!verify_ed25519(&key.public_key(), b"other", &sig));
        let reloaded = AuditSigningKey::from_pkcs8(key.to_pkcs8().expose()).expect("reload");
        assert_eq!(reloaded.public_key(), key.public_key());
        assert!(!format!("{key:?}").contains(&hex::encode(key.to_pkcs8().expose())));
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1, TEST 1: empty message.
        let pk = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .expect("hex");
        let sig = hex::decode(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        )
        .expect("hex");
        assert!(verify_ed25519(&pk, b"", &sig));
    }
}
