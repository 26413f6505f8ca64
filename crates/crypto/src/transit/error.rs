//! The error type of the transit primitives.

/// Why a transit primitive failed. Messages never contain key material or plaintext.
///
/// The categories matter to callers: [`BadInput`](Self::BadInput),
/// [`AuthenticationFailed`](Self::AuthenticationFailed) and
/// [`Unsupported`](Self::Unsupported) are the client's doing (HTTP 400);
/// [`Internal`](Self::Internal) is ours.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitCryptoError {
    /// The input cannot be processed (wrong length, malformed encoding, too long …).
    #[error("{0}")]
    BadInput(String),
    /// AEAD tag verification (or KEM decapsulation + AEAD) failed: wrong key, wrong context,
    /// wrong associated data or tampered ciphertext.
    #[error("cipher: message authentication failed")]
    AuthenticationFailed,
    /// The combination of key type and options is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// Stored key material could not be parsed, or the library failed unexpectedly.
    #[error("{0}")]
    Internal(&'static str),
}

impl TransitCryptoError {
    /// Shorthand for [`TransitCryptoError::BadInput`].
    pub fn bad_input(msg: impl Into<String>) -> Self {
        Self::BadInput(msg.into())
    }

    /// Shorthand for [`TransitCryptoError::Unsupported`].
    pub fn unsupported(msg: impl Into<String>) -> Self {
        Self::Unsupported(msg.into())
    }

    /// Whether the caller (not the server) is at fault.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Internal(_))
    }
}
