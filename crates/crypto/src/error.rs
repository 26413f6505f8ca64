//! The crate's single error type.

/// Errors returned by every fallible operation of this crate.
///
/// Messages never contain key material or plaintext.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A key was not exactly 32 bytes long.
    #[error("invalid key length")]
    InvalidKeyLength,
    /// An envelope could not be decoded (too short, truncated).
    #[error("malformed ciphertext")]
    MalformedCiphertext,
    /// An envelope carries a version byte this build does not understand.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// An envelope names a key term the keyring does not hold.
    #[error("unknown key term {0}")]
    UnknownTerm(u32),
    /// AEAD tag verification failed: wrong key, wrong AAD or tampered data.
    #[error("message authentication failed")]
    AuthenticationFailed,
    /// `split_secret` was called with invalid share/threshold counts or an empty secret.
    #[error("invalid shamir parameters: {0}")]
    InvalidShamirParameters(&'static str),
    /// `combine_shares` was given an unusable set of shares.
    #[error("invalid shamir shares: {0}")]
    InvalidShares(&'static str),
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// A serialized keyring could not be parsed.
    #[error("malformed keyring")]
    MalformedKeyring,
    /// The keyring already uses the largest possible term and cannot rotate further.
    #[error("key term space exhausted")]
    TermExhausted,
    /// A password hash could not be made (bad parameters) or read (not a PHC string).
    #[error("password hash: {0}")]
    PasswordHash(&'static str),
}
