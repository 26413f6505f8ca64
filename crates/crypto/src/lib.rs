//! coffre's cryptography: AES-256-GCM, the barrier envelope format, the barrier keyring,
//! Shamir secret sharing and zeroizing secret types.
//!
//! Every primitive comes from `aws-lc-rs`; Shamir sharing over GF(256) comes from `vsss-rs`.
//! This crate performs no I/O. Key material lives only in zeroize-on-drop types whose
//! `Debug` output is `[redacted]`, and key pages are `mlock`ed where the OS allows.

#![forbid(unsafe_code)]

mod aead;
mod audit_key;
mod envelope;
mod error;
mod hash;
mod keyring;
mod keyring_codec;
mod memlock;
pub mod password;
mod rng;
mod secret;
mod shamir;
pub mod transit;

pub use aead::{AES_GCM_NONCE_LEN, AES_GCM_TAG_LEN, Aes256Gcm};
pub use audit_key::{AuditSigningKey, verify_ed25519};
pub use envelope::{
    ENVELOPE_HEADER_LEN, ENVELOPE_MIN_LEN, ENVELOPE_VERSION, Envelope, decode_envelope,
    decrypt_with_key, encode_envelope, encrypt_with_key,
};
pub use error::CryptoError;
pub use hash::{HmacKey, hmac_sha256, sha256, sha256_parts};
pub use keyring::{Keyring, TermInfo};
pub use memlock::mlock_supported;
pub use rng::{fill_random, random_array};
pub use secret::{Key256, SecretBytes, ct_eq};
pub use shamir::{combine_shares, split_secret};
pub use transit::TransitCryptoError;
pub use transit::digest::HashAlgorithm;
pub use transit::kem::HybridKemKey;
pub use transit::signing::{
    EcdsaEncoding, PssSaltLength, RsaPadding, SignOptions, SigningAlgorithm, SigningKey,
};
pub use transit::symmetric::{AeadAlgorithm, AeadKey, hkdf_sha256};
