//! Hash functions and HMACs offered by Transit (`hash`, `hmac`, and the digests signed by
//! ECDSA and RSA keys).

use aws_lc_rs::{digest, hmac};

use super::{Result, TransitCryptoError};

/// A hash function. Names follow Vault's (`sha2-256`, `sha3-384`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1 (legacy; only for verifying/producing signatures where a caller insists).
    Sha1,
    /// SHA-224.
    Sha2_224,
    /// SHA-256.
    Sha2_256,
    /// SHA-384.
    Sha2_384,
    /// SHA-512.
    Sha2_512,
    /// SHA3-256.
    Sha3_256,
    /// SHA3-384.
    Sha3_384,
    /// SHA3-512.
    Sha3_512,
}

impl HashAlgorithm {
    /// Parses a Vault hash name. `sha3-224` is not offered by the crypto library and is
    /// reported as unsupported by callers (this returns `None` for it like for any unknown name).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sha1" => Self::Sha1,
            "sha2-224" => Self::Sha2_224,
            "sha2-256" => Self::Sha2_256,
            "sha2-384" => Self::Sha2_384,
            "sha2-512" => Self::Sha2_512,
            "sha3-256" => Self::Sha3_256,
            "sha3-384" => Self::Sha3_384,
            "sha3-512" => Self::Sha3_512,
            _ => return None,
        })
    }

    /// The Vault name of the algorithm.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha2_224 => "sha2-224",
            Self::Sha2_256 => "sha2-256",
            Self::Sha2_384 => "sha2-384",
            Self::Sha2_512 => "sha2-512",
            Self::Sha3_256 => "sha3-256",
            Self::Sha3_384 => "sha3-384",
            Self::Sha3_512 => "sha3-512",
        }
    }

    pub(crate) fn aws(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha2_224 => &digest::SHA224,
            Self::Sha2_256 => &digest::SHA256,
            Self::Sha2_384 => &digest::SHA384,
            Self::Sha2_512 => &digest::SHA512,
            Self::Sha3_256 => &digest::SHA3_256,
            Self::Sha3_384 => &digest::SHA3_384,
            Self::Sha3_512 => &digest::SHA3_512,
        }
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        self.aws().output_len()
    }

    /// Hashes `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.aws(), data).as_ref().to_vec()
    }

    fn hmac_alg(self) -> Result<hmac::Algorithm> {
        Ok(match self {
            Self::Sha2_224 => hmac::HMAC_SHA224,
            Self::Sha2_256 => hmac::HMAC_SHA256,
            Self::Sha2_384 => hmac::HMAC_SHA384,
            Self::Sha2_512 => hmac::HMAC_SHA512,
            other => {
                return Err(TransitCryptoError::unsupported(format!(
                    "unsupported algorithm {} for HMAC",
                    other.name()
                )));
            }
        })
    }

    /// HMAC of `data` under `key` (any key length). SHA-1 and SHA-3 HMACs are unsupported.
    ///
    /// # Errors
    /// [`TransitCryptoError::Unsupported`] for SHA-1 and SHA-3.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        let key = hmac::Key::new(self.hmac_alg()?, key);
        Ok(hmac::sign(&key, data).as_ref().to_vec())
    }

    /// Verifies `tag` over `data` in constant time.
    ///
    /// # Errors
    /// [`TransitCryptoError::Unsupported`] for SHA-1 and SHA-3.
    pub fn hmac_verify(self, key: &[u8], data: &[u8], tag: &[u8]) -> Result<bool> {
        let key = hmac::Key::new(self.hmac_alg()?, key);
        Ok(hmac::verify(&key, data, tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha2_224,
            HashAlgorithm::Sha2_256,
            HashAlgorithm::Sha2_384,
            HashAlgorithm::Sha2_512,
            HashAlgorithm::Sha3_256,
            HashAlgorithm::Sha3_384,
            HashAlgorithm::Sha3_512,
        ] {
            assert_eq!(HashAlgorithm::from_name(alg.name()), Some(alg));
            assert_eq!(alg.digest(b"").len(), alg.output_len());
        }
        assert_eq!(HashAlgorithm::from_name("sha3-224"), None);
        assert_eq!(HashAlgorithm::from_name("md5"), None);
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            hex::encode(HashAlgorithm::Sha2_256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(HashAlgorithm::Sha3_256.digest(b"abc")),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        // RFC 4231 test case 2.
        let mac = HashAlgorithm::Sha2_512
            .hmac(b"Jefe", b"what do ya want for nothing?")
            .expect("hmac");
        assert_eq!(
            hex::encode(&mac),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        assert!(
            HashAlgorithm::Sha2_512
                .hmac_verify(b"Jefe", b"what do ya want for nothing?", &mac)
                .expect("verify")
        );
        assert!(
            !HashAlgorithm::Sha2_512
                .hmac_verify(b"Jefe", b"what do ya want for nothing!", &mac)
                .expect("verify")
        );
        assert!(HashAlgorithm::Sha3_256.hmac(b"k", b"d").is_err());
    }
}
