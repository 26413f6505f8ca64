//! Key material and primitives behind the Transit secrets engine ("encryption as a service").
//!
//! Everything here is a thin, typed layer over `aws-lc-rs`; no primitive is implemented in this
//! crate. Private key bytes only ever live in zeroizing containers ([`SecretBytes`],
//! `aws-lc-rs` key objects that free and wipe their memory), and every type that holds key
//! material prints `[redacted]` in `Debug`.
//!
//! * [`symmetric`]: AES-128/256-GCM and ChaCha20-Poly1305 with 96-bit nonces, HKDF-SHA256.
//! * [`digest`]: the hash functions and HMACs Transit offers.
//! * [`signing`]: Ed25519, ECDSA P-256/P-384, RSA (PSS, PKCS#1 v1.5 and OAEP) and ML-DSA-65.
//! * [`kem`]: the hybrid X25519 + ML-KEM-768 encryption key.
//! * [`pem`]: PEM armour for exported keys.
//!
//! [`SecretBytes`]: crate::SecretBytes

pub mod digest;
mod error;
pub mod kem;
pub mod pem;
pub mod signing;
pub mod symmetric;

pub use error::TransitCryptoError;

/// Result alias for this module.
pub type Result<T, E = TransitCryptoError> = std::result::Result<T, E>;
