//! Best-effort `mlock` of pages holding key material.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once any lock attempt has failed (e.g. `RLIMIT_MEMLOCK` exhausted, unsupported OS).
static LOCK_FAILED: AtomicBool = AtomicBool::new(false);

/// Reports whether every `mlock` attempt so far has succeeded.
///
/// Returns `false` once any attempt to lock key memory failed; key material is still
/// usable then, it may merely be swapped out.
pub fn mlock_supported() -> bool {
    !LOCK_FAILED.load(Ordering::Relaxed)
}

/// Locks the pages spanning `len` bytes at `ptr` into RAM, best effort.
///
/// The guard is deliberately forgotten: `mlock` works per page and several keys may share a
/// page, so unlocking when one key is dropped could unlock another live key.
pub(crate) fn lock_best_effort<T>(ptr: *const T, len: usize) {
    match region::lock(ptr, len) {
        Ok(guard) => std::mem::forget(guard),
        Err(_) => LOCK_FAILED.store(true, Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn locking_key_memory_does_not_fail_loudly() {
        // Only a smoke test: whether mlock succeeds depends on RLIMIT_MEMLOCK.
        let key = crate::Key256::generate().expect("key");
        let _ = super::mlock_supported();
        drop(key);
    }
}
