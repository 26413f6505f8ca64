//! The barrier envelope: the on-disk format of every encrypted value (no I/O).
//!
//! Layout: `version u8 (=1) | term u32 big-endian | nonce 12 | ciphertext || tag (>= 16)`.

use crate::aead::{AES_GCM_NONCE_LEN, AES_GCM_TAG_LEN};
use crate::{Aes256Gcm, CryptoError, Key256, SecretBytes, rng};

/// The only envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes before the ciphertext: version, term and nonce.
pub const ENVELOPE_HEADER_LEN: usize = 1 + 4 + AES_GCM_NONCE_LEN;
/// Shortest valid envelope: header plus an authentication tag (empty plaintext).
pub const ENVELOPE_MIN_LEN: usize = ENVELOPE_HEADER_LEN + AES_GCM_TAG_LEN;

/// A decoded envelope borrowing its ciphertext from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// Key term the value was encrypted under.
    pub term: u32,
    /// The 96-bit GCM nonce.
    pub nonce: [u8; 12],
    /// `ciphertext || tag`, at least 16 bytes.
    pub ciphertext: &'a [u8],
}

/// Serializes an envelope (version [`ENVELOPE_VERSION`]).
pub fn encode_envelope(term: u32, nonce: &[u8; 12], ciphertext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + ciphertext.len());
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&term.to_be_bytes());
    out.extend_from_slice(nonce);
    out.extend_from_slice(ciphertext);
    out
}

/// Parses an envelope without decrypting it.
///
/// # Errors
/// [`CryptoError::UnsupportedVersion`] for an unknown version byte,
/// [`CryptoError::MalformedCiphertext`] if the input is shorter than [`ENVELOPE_MIN_LEN`].
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope<'_>, CryptoError> {
    let (&version, rest) = bytes
        .split_first()
        .ok_or(CryptoError::MalformedCiphertext)?;
    if version != ENVELOPE_VERSION {
        return Err(CryptoError::UnsupportedVersion(version));
    }
    let (term, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(CryptoError::MalformedCiphertext)?;
    let (nonce, ciphertext) = rest
        .split_first_chunk::<AES_GCM_NONCE_LEN>()
        .ok_or(CryptoError::MalformedCiphertext)?;
    if ciphertext.len() < AES_GCM_TAG_LEN {
        return Err(CryptoError::MalformedCiphertext);
    }
    Ok(Envelope {
        term: u32::from_be_bytes(*term),
        nonce: *nonce,
        ciphertext,
    })
}

/// Encrypts `plaintext` under a single key with a random nonce, in envelope format.
///
/// Used for the root key → keyring blob (term 0).
///
/// # Errors
/// [`CryptoError::Rng`] if no nonce can be drawn, or a seal failure.
pub fn encrypt_with_key(
    key: &Key256,
    term: u32,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal_envelope(&Aes256Gcm::new(key), term, aad, plaintext)
}

/// Decrypts an envelope produced by [`encrypt_with_key`] (the term is not checked).
///
/// # Errors
/// Decode errors as in [`decode_envelope`]; [`CryptoError::AuthenticationFailed`] on a
/// wrong key, wrong AAD or tampering.
pub fn decrypt_with_key(
    key: &Key256,
    aad: &[u8],
    envelope: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let env = decode_envelope(envelope)?;
    Aes256Gcm::new(key).open(&env.nonce, aad, env.ciphertext)
}

/// Seals under `cipher` with a fresh random nonce and wraps the result in an envelope.
pub(crate) fn seal_envelope(
    cipher: &Aes256Gcm,
    term: u32,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let nonce = rng::random_array::<AES_GCM_NONCE_LEN>()?;
    let ciphertext = cipher.seal(&nonce, aad, plaintext)?;
    Ok(encode_envelope(term, &nonce, &ciphertext))
}

#[cfg(test)]
mod tests;
