//! Transit's symmetric ciphers — AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305, all with a
//! 96-bit nonce and a 128-bit tag — and HKDF-SHA256 for per-context key derivation.
//!
//! Ciphertext layout (Vault's): `nonce(12) ‖ ciphertext ‖ tag(16)`.

use std::fmt;

use aws_lc_rs::aead::{
    AES_128_GCM, AES_256_GCM, Aad, Algorithm, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
};
use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use super::{Result, TransitCryptoError};
use crate::SecretBytes;

/// Nonce length of every transit AEAD.
pub const NONCE_LEN: usize = 12;
/// Tag length of every transit AEAD.
pub const TAG_LEN: usize = 16;

/// A transit AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// AES-128 in GCM mode.
    Aes128Gcm,
    /// AES-256 in GCM mode.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439).
    ChaCha20Poly1305,
}

impl AeadAlgorithm {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes256Gcm | Self::ChaCha20Poly1305 => 32,
        }
    }

    fn aws(self) -> &'static Algorithm {
        match self {
            Self::Aes128Gcm => &AES_128_GCM,
            Self::Aes256Gcm => &AES_256_GCM,
            Self::ChaCha20Poly1305 => &CHACHA20_POLY1305,
        }
    }
}

/// A symmetric AEAD key: the raw bytes (for derivation and export) and the prepared cipher.
/// `Debug` prints the algorithm only.
pub struct AeadKey {
    alg: AeadAlgorithm,
    raw: SecretBytes,
    key: LessSafeKey,
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AeadKey({:?}, [redacted])", self.alg)
    }
}

impl AeadKey {
    /// A key from raw bytes.
    ///
    /// # Errors
    /// [`TransitCryptoError::BadInput`] if `raw` has the wrong length.
    pub fn new(alg: AeadAlgorithm, raw: &[u8]) -> Result<Self> {
        if raw.len() != alg.key_len() {
            return Err(TransitCryptoError::bad_input(format!(
                "invalid key length {} (want {})",
                raw.len(),
                alg.key_len()
            )));
        }
        let unbound = UnboundKey::new(alg.aws(), raw)
            .map_err(|_| TransitCryptoError::Internal("aead key rejected"))?;
        Ok(Self {
            alg,
            raw: SecretBytes::from_slice(raw),
            key: LessSafeKey::new(unbound),
        })
    }

    /// A fresh random key.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if the system generator fails.
    pub fn generate(alg: AeadAlgorithm) -> Result<Self> {
        let raw = random_secret(alg.key_len())?;
        Self::new(alg, raw.expose())
    }

    /// The algorithm.
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.alg
    }

    /// The raw key bytes (for storage, derivation and export).
    pub fn expose_raw(&self) -> &[u8] {
        self.raw.expose()
    }

    /// Derives the per-context key Vault derives for `derived` keys:
    /// `HKDF-SHA256(ikm = key, salt = "", info = context)`, `key_len + extra` bytes. The first
    /// `key_len` bytes become the returned key; the `extra` bytes (convergent encryption's
    /// nonce key) are returned alongside.
    ///
    /// # Errors
    /// [`TransitCryptoError::BadInput`] for an empty context.
    pub fn derive(&self, context: &[u8], extra: usize) -> Result<(AeadKey, SecretBytes)> {
        if context.is_empty() {
            return Err(TransitCryptoError::bad_input(
                "missing 'context' for key derivation; the key was created using a derived key, \
                 which means additional, per-request information must be included in order to \
                 perform operations with the key",
            ));
        }
        let len = self.alg.key_len();
        let okm = hkdf_sha256(self.raw.expose(), &[], &[context], len + extra)?;
        let key = AeadKey::new(self.alg, &okm.expose()[..len])?;
        Ok((key, SecretBytes::from_slice(&okm.expose()[len..])))
    }

    /// Encrypts with a fresh random nonce; returns `nonce ‖ ciphertext ‖ tag`.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if the generator or the cipher fails.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::fill_random(&mut nonce).map_err(|_| TransitCryptoError::Internal("rng failed"))?;
        self.seal_with_nonce(&nonce, aad, plaintext)
    }

    /// Encrypts with a caller-chosen nonce (convergent encryption, test vectors); returns
    /// `nonce ‖ ciphertext ‖ tag`. The nonce must never repeat under one key for distinct
    /// plaintexts.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if the cipher fails (input too long).
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| TransitCryptoError::Internal("aead seal failed"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Verifies and decrypts `nonce ‖ ciphertext ‖ tag`.
    ///
    /// # Errors
    /// [`TransitCryptoError::BadInput`] if the input is shorter than a nonce,
    /// [`TransitCryptoError::AuthenticationFailed`] on a wrong key/AAD or tampering.
    pub fn open(&self, aad: &[u8], data: &[u8]) -> Result<SecretBytes> {
        if data.len() < NONCE_LEN {
            return Err(TransitCryptoError::bad_input("invalid ciphertext length"));
        }
        let (nonce, rest) = data.split_at(NONCE_LEN);
        if rest.len() < TAG_LEN {
            return Err(TransitCryptoError::AuthenticationFailed);
        }
        let mut nonce_arr = [0u8; NONCE_LEN];
        nonce_arr.copy_from_slice(nonce);
        let mut buf = Zeroizing::new(rest.to_vec());
        let len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce_arr),
                Aad::from(aad),
                &mut buf[..],
            )
            .map_err(|_| TransitCryptoError::AuthenticationFailed)?
            .len();
        let mut plain = std::mem::take(&mut *buf);
        plain.truncate(len);
        Ok(SecretBytes::new(plain))
    }
}

/// `n` random bytes in a zeroizing buffer.
///
/// # Errors
/// [`TransitCryptoError::Internal`] if the system generator fails.
pub fn random_secret(n: usize) -> Result<SecretBytes> {
    let mut raw = Zeroizing::new(vec![0u8; n]);
    crate::fill_random(&mut raw).map_err(|_| TransitCryptoError::Internal("rng failed"))?;
    Ok(SecretBytes::new(std::mem::take(&mut *raw)))
}

struct OkmLen(usize);

impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869): `len` bytes from `ikm`, `salt` and the concatenation of `info`.
/// An empty salt is the RFC's default (a string of zeros).
///
/// # Errors
/// [`TransitCryptoError::BadInput`] if `len` exceeds 255 × 32 bytes.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[&[u8]], len: usize) -> Result<SecretBytes> {
    if len == 0 || len > 255 * 32 {
        return Err(TransitCryptoError::bad_input("invalid HKDF output length"));
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let okm = prk
        .expand(info, OkmLen(len))
        .map_err(|_| TransitCryptoError::Internal("hkdf expand failed"))?;
    let mut buf = Zeroizing::new(vec![0u8; len]);
    okm.fill(&mut buf)
        .map_err(|_| TransitCryptoError::Internal("hkdf fill failed"))?;
    Ok(SecretBytes::new(std::mem::take(&mut *buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALGS: [AeadAlgorithm; 3] = [
        AeadAlgorithm::Aes128Gcm,
        AeadAlgorithm::Aes256Gcm,
        AeadAlgorithm::ChaCha20Poly1305,
    ];

    #[test]
    fn round_trip_and_tamper() {
        for alg in ALGS {
            let k = AeadKey::generate(alg).expect("key");
            assert_eq!(k.expose_raw().len(), alg.key_len());
            let ct = k.seal(b"ad", b"hello").expect("seal");
            assert_eq!(ct.len(), NONCE_LEN + 5 + TAG_LEN);
            assert_eq!(k.open(b"ad", &ct).expect("open").expose(), b"hello");
            assert_eq!(
                k.open(b"other", &ct).err(),
                Some(TransitCryptoError::AuthenticationFailed)
            );
            for i in 0..ct.len() {
                let mut bad = ct.clone();
                bad[i] ^= 1;
                assert!(k.open(b"ad", &bad).is_err(), "{alg:?} byte {i}");
            }
            assert!(matches!(
                k.open(b"", &ct[..5]),
                Err(TransitCryptoError::BadInput(_))
            ));
            assert!(k.open(b"ad", &ct[..NONCE_LEN + 3]).is_err());
        }
    }

    #[test]
    fn wrong_key_length_is_rejected() {
        assert!(AeadKey::new(AeadAlgorithm::Aes256Gcm, &[0u8; 16]).is_err());
        assert!(AeadKey::new(AeadAlgorithm::Aes128Gcm, &[0u8; 16]).is_ok());
    }

    #[test]
    fn derivation_is_deterministic_per_context() {
        let k = AeadKey::new(AeadAlgorithm::Aes256Gcm, &[7u8; 32]).expect("key");
        let (a, extra) = k.derive(b"ctx-a", 32).expect("derive");
        let (a2, _) = k.derive(b"ctx-a", 0).expect("derive");
        let (b, _) = k.derive(b"ctx-b", 0).expect("derive");
        assert_eq!(a.expose_raw(), a2.expose_raw());
        assert_ne!(a.expose_raw(), b.expose_raw());
        assert_eq!(extra.len(), 32);
        assert!(k.derive(b"", 0).is_err());
    }

    #[test]
    fn hkdf_rfc5869_case1() {
        let ikm = [0x0bu8; 22];
        let salt = hex::decode("000102030405060708090a0b0c").expect("hex");
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").expect("hex");
        let okm = hkdf_sha256(&ikm, &salt, &[&info[..5], &info[5..]], 42).expect("hkdf");
        assert_eq!(
            hex::encode(okm.expose()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let k = AeadKey::new(AeadAlgorithm::Aes256Gcm, &[0xab; 32]).expect("key");
        assert_eq!(format!("{k:?}"), "AeadKey(Aes256Gcm, [redacted])");
    }
}
