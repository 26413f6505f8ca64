//! The core's one error type. `kind()` is the single place that decides what category (and so
//! which HTTP status) an error belongs to; the server maps categories to statuses exhaustively.

use coffre_crypto::CryptoError;
use coffre_storage::StorageError;

/// What went wrong, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or not valid for the current state (HTTP 400).
    InvalidRequest,
    /// Missing or invalid token, or the policy does not allow the operation (HTTP 403).
    PermissionDenied,
    /// Nothing is at the path, or no route matches (HTTP 404).
    NotFound,
    /// The route exists but does not support the operation (HTTP 405).
    UnsupportedOperation,
    /// The path conflicts with an existing object (HTTP 409).
    Conflict,
    /// A quota refused the request (HTTP 429, with `Retry-After`).
    TooManyRequests,
    /// The server is sealed (HTTP 503).
    Sealed,
    /// A write reached a standby node: the active node serves it (the server forwards it
    /// there, or answers 503 when it cannot).
    Standby,
    /// The storage cannot be reached now; a retry may succeed (HTTP 503, reason shown).
    Unavailable,
    /// Our own failure or a failing dependency (HTTP 500).
    Internal,
}

/// Errors returned by the core. Messages are safe to show to clients: they never contain
/// secret values or key material.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The barrier is sealed.
    #[error("Vault is sealed")]
    Sealed,
    /// Missing/unknown token or an ACL denial.
    #[error("permission denied")]
    PermissionDenied,
    /// Denied with a specific message (e.g. `bad token` on lookup).
    #[error("{0}")]
    PermissionDeniedMsg(String),
    /// Bad input from the client; the message says what.
    #[error("{0}")]
    InvalidRequest(String),
    /// A login's credentials were wrong (a 400, as Vault answers; the login counts it toward
    /// the name's lockout). The message is the same whatever was wrong.
    #[error("{0}")]
    InvalidCredentials(String),
    /// No mount matches the path.
    #[error("no handler for route \"{0}\". route entry not found.")]
    NoHandler(String),
    /// The request names a namespace that does not exist (or was deleted).
    #[error("{0}")]
    NamespaceNotFound(String),
    /// An object the request acts on does not exist (a 404 that says what).
    #[error("{0}")]
    NotFound(String),
    /// A mount matched but nothing inside it handles the path.
    #[error("unsupported path")]
    UnsupportedPath,
    /// The route does not support the operation.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// A path is already taken.
    #[error("{0}")]
    Conflict(String),
    /// The storage backend failed.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// Encryption or decryption failed; for stored data this means corruption or tampering.
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] CryptoError),
    /// A rate-limit quota refused the request.
    #[error("request path \"{path}\": rate limit quota exceeded")]
    RateLimited {
        /// The request's path (with its namespace).
        path: String,
        /// When the client may try again.
        retry_after_secs: u64,
    },
    /// A namespace's secret count is at its `max_secrets` cap.
    #[error("{0}")]
    QuotaExceeded(String),
    /// No audit device could record the request: it was refused (fail-closed).
    #[error("failed to audit request")]
    AuditFailed,
    /// A bug or an impossible state on our side.
    #[error("internal error: {0}")]
    Internal(String),
    /// A system coffre depends on failed (a database unreachable or refusing a statement): a
    /// 500 whose message is shown, since it names the cause and carries no secret.
    #[error("{0}")]
    Upstream(String),
}

impl Error {
    /// The category of this error; the server turns it into an HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Sealed => ErrorKind::Sealed,
            Error::PermissionDenied | Error::PermissionDeniedMsg(_) => ErrorKind::PermissionDenied,
            Error::InvalidRequest(_) | Error::InvalidCredentials(_) => ErrorKind::InvalidRequest,
            Error::NoHandler(_)
            | Error::UnsupportedPath
            | Error::NamespaceNotFound(_)
            | Error::NotFound(_) => ErrorKind::NotFound,
            Error::UnsupportedOperation => ErrorKind::UnsupportedOperation,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::RateLimited { .. } | Error::QuotaExceeded(_) => ErrorKind::TooManyRequests,
            Error::Storage(StorageError::Standby) => ErrorKind::Standby,
            Error::Storage(StorageError::Unavailable(_)) => ErrorKind::Unavailable,
            Error::Storage(_)
            | Error::Crypto(_)
            | Error::Internal(_)
            | Error::AuditFailed
            | Error::Upstream(_) => ErrorKind::Internal,
        }
    }

    /// The refusal of a write on a standby node.
    pub fn standby() -> Self {
        Error::Storage(StorageError::Standby)
    }

    /// Shorthand for [`Error::InvalidRequest`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidRequest(msg.into())
    }

    /// Seconds after which a refused client may retry (`Retry-After`), for quota refusals.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The message a client may see. Internal errors are not described beyond their category:
    /// the detail goes to the server log.
    pub fn public_message(&self) -> String {
        match self.kind() {
            ErrorKind::Internal if !matches!(self, Error::AuditFailed | Error::Upstream(_)) => {
                "internal error".to_string()
            }
            _ => self.to_string(),
        }
    }
}

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
