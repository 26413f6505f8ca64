//! Argon2id hashing off the async threads. Each hash takes tens of milliseconds and 19 MiB, so
//! it runs on the blocking pool, at most one per core at a time: a burst of logins waits in
//! line instead of taking every thread and a gigabyte of memory.

use std::sync::LazyLock;

use coffre_crypto::password::{self, PasswordParams};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|_| Error::Internal("password hashing unavailable".into()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// A PHC string of `password` with the default parameters.
pub(crate) async fn hash(password: Zeroizing<String>) -> Result<String> {
    blocking(move || password::hash_password(password.as_bytes(), PasswordParams::DEFAULT))
        .await?
        .map_err(|e| Error::Internal(e.to_string()))
}

/// Whether `password` matches `stored`; with no stored hash (no such user) it takes the same
/// time and answers `false`.
pub(crate) async fn verify(password: Zeroizing<String>, stored: Option<String>) -> Result<bool> {
    blocking(move || password::verify_or_dummy(password.as_bytes(), stored.as_deref())).await
}
