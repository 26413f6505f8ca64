//! Zeroizing containers for secret material.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, memlock, rng};

/// Compares two byte strings in constant time (for equal lengths).
///
/// Returns `false` when the lengths differ; the length itself is not treated as secret.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Secret bytes of arbitrary length (plaintexts, shares, serialized keyrings).
///
/// The buffer is zeroized on drop; `Debug` prints `[redacted]`.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `v`; it will be zeroized when dropped.
    pub fn new(v: Vec<u8>) -> Self {
        Self(Zeroizing::new(v))
    }

    /// Copies `b` into a new secret buffer.
    pub fn from_slice(b: &[u8]) -> Self {
        Self::new(b.to_vec())
    }

    /// Like [`SecretBytes::new`], for long-lived key material (a private key kept for the
    /// whole unsealed lifetime): the buffer is also `mlock`ed, best effort. Transient secrets
    /// (plaintexts read per request, shares) use `new`: locking costs a system call and pins
    /// pages that are never unlocked, which the per-request path must not pay.
    pub fn new_locked(v: Vec<u8>) -> Self {
        if v.capacity() > 0 {
            memlock::lock_best_effort(v.as_ptr(), v.capacity());
        }
        Self::new(v)
    }

    /// Borrows the secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with `other`; `false` on length mismatch.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(&self.0, other)
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A 256-bit symmetric key.
///
/// Heap-allocated so it never moves, `mlock`ed best effort (see
/// [`mlock_supported`](crate::mlock_supported)), zeroized on drop; `Debug` prints `[redacted]`.
pub struct Key256(Box<[u8; 32]>);

impl Key256 {
    /// Key length in bytes.
    pub const LEN: usize = 32;

    fn zeroed() -> Self {
        let boxed = Box::new([0u8; 32]);
        memlock::lock_best_effort(&*boxed as *const [u8; 32], Self::LEN);
        Self(boxed)
    }

    /// Generates a fresh random key.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the system generator fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Self::zeroed();
        rng::fill_random(&mut key.0[..])?;
        Ok(key)
    }

    /// Copies a key from a 32-byte slice.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKeyLength`] unless `b` is exactly 32 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, CryptoError> {
        if b.len() != Self::LEN {
            return Err(CryptoError::InvalidKeyLength);
        }
        let mut key = Self::zeroed();
        key.0.copy_from_slice(b);
        Ok(key)
    }

    /// Borrows the raw key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Clone for Key256 {
    fn clone(&self) -> Self {
        let mut key = Self::zeroed();
        key.0.copy_from_slice(&self.0[..]);
        key
    }
}

impl Drop for Key256 {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Key256 {}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
        let s = SecretBytes::from_slice(b"xyz");
        assert!(s.ct_eq(b"xyz"));
        assert!(!s.ct_eq(b"xy"));
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
        assert!(SecretBytes::default().is_empty());
    }

    #[test]
    fn key_from_slice_checks_length() {
        assert!(matches!(
            Key256::from_slice(&[0u8; 31]),
            Err(CryptoError::InvalidKeyLength)
        ));
        assert!(matches!(
            Key256::from_slice(&[0u8; 33]),
            Err(CryptoError::InvalidKeyLength)
        ));
        let k = Key256::from_slice(&[7u8; 32]).expect("key");
        assert_eq!(k.expose(), &[7u8; 32]);
        assert_eq!(k.clone().expose(), k.expose());
    }

    #[test]
    fn generated_keys_differ() {
        let a = Key256::generate().expect("key");
        let b = Key256::generate().expect("key");
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn debug_is_redacted() {
        let k = Key256::from_slice(&[0xab; 32]).expect("key");
        let dbg = format!("{k:?} {:?}", SecretBytes::from_slice(&[0xab; 32]));
        assert_eq!(dbg, "[redacted] [redacted]");
        assert!(!dbg.contains("ab, ") && !dbg.contains("171"));
    }
}
