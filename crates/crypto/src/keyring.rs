//! The barrier keyring: AES-256-GCM keys numbered by term.
//!
//! A keyring is immutable apart from its per-term encryption counters; rotation returns a
//! new keyring. The newest (highest) term is active for encryption, every term decrypts.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::envelope::{decode_envelope, seal_envelope};
use crate::{Aes256Gcm, CryptoError, Key256, SecretBytes};

/// Public, non-secret facts about one key term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermInfo {
    /// The term number (starts at 1).
    pub term: u32,
    /// When the term was installed, in nanoseconds since the Unix epoch.
    pub install_time_unix_nanos: i64,
    /// How many encryptions this term has performed (tracked for the GCM nonce bound).
    pub encryptions: u64,
}

/// One term's key, its ready cipher and its encryption counter.
pub(crate) struct TermKey {
    pub(crate) term: u32,
    pub(crate) install_time_unix_nanos: i64,
    pub(crate) key: Key256,
    cipher: Aes256Gcm,
    pub(crate) encryptions: AtomicU64,
}

impl TermKey {
    pub(crate) fn new(term: u32, install_time_unix_nanos: i64, key: Key256, count: u64) -> Self {
        let cipher = Aes256Gcm::new(&key);
        Self {
            term,
            install_time_unix_nanos,
            key,
            cipher,
            encryptions: AtomicU64::new(count),
        }
    }

    fn info(&self) -> TermInfo {
        TermInfo {
            term: self.term,
            install_time_unix_nanos: self.install_time_unix_nanos,
            encryptions: self.encryptions.load(Ordering::Relaxed),
        }
    }
}

/// Barrier keys numbered by term. `Debug` shows terms and counters, never keys.
///
/// Cloning is cheap and clones share their counters.
#[derive(Clone)]
pub struct Keyring {
    /// All terms, strictly ascending; never empty.
    pub(crate) terms: Vec<Arc<TermKey>>,
    /// The highest term (also the last element of `terms`).
    pub(crate) active: Arc<TermKey>,
}

impl Keyring {
    /// Creates a keyring holding one fresh random key as term 1.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if key generation fails.
    pub fn generate(install_time_unix_nanos: i64) -> Result<Keyring, CryptoError> {
        let active = Arc::new(TermKey::new(
            1,
            install_time_unix_nanos,
            Key256::generate()?,
            0,
        ));
        Ok(Keyring {
            terms: vec![active.clone()],
            active,
        })
    }

    /// Returns a new keyring with a fresh key as term `max + 1`, which becomes active.
    ///
    /// Old terms are kept for decryption. Their counters carry over and stay shared with
    /// `self`, so encryptions made through either keyring are counted in both.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if key generation fails, [`CryptoError::TermExhausted`] at
    /// term `u32::MAX`.
    pub fn rotate(&self, install_time_unix_nanos: i64) -> Result<Keyring, CryptoError> {
        let term = self
            .active
            .term
            .checked_add(1)
            .ok_or(CryptoError::TermExhausted)?;
        let active = Arc::new(TermKey::new(
            term,
            install_time_unix_nanos,
            Key256::generate()?,
            0,
        ));
        let mut terms = self.terms.clone();
        terms.push(active.clone());
        Ok(Keyring { terms, active })
    }

    /// The term used for new encryptions.
    pub fn active_term(&self) -> TermInfo {
        self.active.info()
    }

    /// All terms, ascending.
    pub fn terms(&self) -> Vec<TermInfo> {
        self.terms.iter().map(|t| t.info()).collect()
    }

    /// Encrypts under the active term with a random nonce; returns an envelope.
    ///
    /// `aad` binds the ciphertext to its context (the storage key), so it cannot be moved
    /// to another path. Increments the active term's counter.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if no nonce can be drawn.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.active.encryptions.fetch_add(1, Ordering::Relaxed);
        seal_envelope(&self.active.cipher, self.active.term, aad, plaintext)
    }

    /// Decrypts an envelope made under any term of this keyring.
    ///
    /// # Errors
    /// Envelope decode errors, [`CryptoError::UnknownTerm`], or
    /// [`CryptoError::AuthenticationFailed`] on a wrong AAD or tampering.
    pub fn decrypt(&self, aad: &[u8], envelope: &[u8]) -> Result<SecretBytes, CryptoError> {
        let env = decode_envelope(envelope)?;
        let entry = self
            .terms
            .binary_search_by_key(&env.term, |t| t.term)
            .ok()
            .and_then(|i| self.terms.get(i))
            .ok_or(CryptoError::UnknownTerm(env.term))?;
        entry.cipher.open(&env.nonce, aad, env.ciphertext)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active_term", &self.active.term)
            .field("terms", &self.terms())
            .finish()
    }
}

#[cfg(test)]
mod tests;
