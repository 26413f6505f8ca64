//! AES-256-GCM with caller-supplied 96-bit nonces.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::{Zeroize, Zeroizing};

use crate::{CryptoError, Key256, SecretBytes};

/// Nonce length of AES-256-GCM in bytes.
pub const AES_GCM_NONCE_LEN: usize = 12;
/// Authentication tag length of AES-256-GCM in bytes.
pub const AES_GCM_TAG_LEN: usize = 16;

/// An AES-256-GCM key, ready to seal and open. `Debug` prints `[redacted]`.
///
/// Nonces must never repeat under one key; callers use random nonces and rotate keys
/// well before 2^32 encryptions.
pub struct Aes256Gcm {
    // `None` only if aws-lc-rs refused a 32-byte key, which it does not do; kept so that
    // construction stays infallible without a panic path.
    key: Option<LessSafeKey>,
}

impl Aes256Gcm {
    /// Builds the cipher from a 256-bit key.
    pub fn new(key: &Key256) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, key.expose())
            .ok()
            .map(LessSafeKey::new);
        Self { key }
    }

    fn key(&self) -> Result<&LessSafeKey, CryptoError> {
        self.key.as_ref().ok_or(CryptoError::InvalidKeyLength)
    }

    /// Encrypts `plaintext`, authenticating `aad`; returns `ciphertext || tag(16)`.
    ///
    /// # Errors
    /// [`CryptoError::AuthenticationFailed`] if the underlying seal operation fails
    /// (e.g. plaintext too long for GCM).
    pub fn seal(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = self.key()?;
        let mut out = Vec::with_capacity(plaintext.len() + AES_GCM_TAG_LEN);
        out.extend_from_slice(plaintext);
        match key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut out,
        ) {
            Ok(()) => Ok(out),
            Err(_) => {
                out.zeroize();
                Err(CryptoError::AuthenticationFailed)
            }
        }
    }

    /// Verifies and decrypts `ciphertext || tag`, authenticating `aad`.
    ///
    /// # Errors
    /// [`CryptoError::AuthenticationFailed`] on a wrong key, wrong nonce, wrong AAD,
    /// tampered or truncated input.
    pub fn open(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let key = self.key()?;
        if ciphertext_and_tag.len() < AES_GCM_TAG_LEN {
            return Err(CryptoError::AuthenticationFailed);
        }
        let mut buf = Zeroizing::new(ciphertext_and_tag.to_vec());
        let len = key
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut buf[..],
            )
            .map_err(|_| CryptoError::AuthenticationFailed)?
            .len();
        let mut plain = std::mem::take(&mut *buf);
        plain.truncate(len);
        Ok(SecretBytes::new(plain))
    }
}

impl fmt::Debug for Aes256Gcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Aes256Gcm([redacted])")
    }
}

#[cfg(test)]
mod tests;
