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
    /// The kernel's count of this process's locked memory (`VmLck` in `/proc/self/status`).
    fn locked_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmLck:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Where the OS allows locking (a non-zero `RLIMIT_MEMLOCK`, or root), key material is
    /// locked: `mlock_supported` stays true and the kernel counts locked pages.
    #[test]
    fn key_material_is_locked_where_the_os_allows_it() {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock);
        let can_lock = limit.current.is_none_or(|n| n >= 4 * 1024 * 1024)
            || rustix::process::geteuid().is_root();
        let key = crate::Key256::generate().expect("key");
        let hmac = crate::HmacKey::new(key.expose());
        let secret = crate::SecretBytes::new_locked(vec![7u8; 4096]);
        if !can_lock {
            println!("SKIPPED: RLIMIT_MEMLOCK is below 4 MiB here, mlock cannot be checked");
            return;
        }
        assert!(
            super::mlock_supported(),
            "an mlock failed although the limit allows it"
        );
        let Some(before) = locked_kib() else {
            println!("SKIPPED: /proc/self/status has no VmLck on this OS");
            return;
        };
        assert!(before >= 4, "VmLck is {before} kB with keys alive");
        // Each kind of key material adds locked pages of its own: 1 MiB of locked secret
        // bytes, and a thousand HMAC key schedules (each well over 256 bytes). The margins
        // leave room for other tests of this process locking and unlocking meanwhile.
        let secrets: Vec<_> = (0..64)
            .map(|i| crate::SecretBytes::new_locked(vec![i as u8; 16 * 1024]))
            .collect();
        let with_secrets = locked_kib().unwrap_or(0);
        assert!(
            with_secrets >= before + 768,
            "SecretBytes::new_locked: VmLck {before} kB -> {with_secrets} kB for 1 MiB"
        );
        let hmacs: Vec<_> = (0..1024u32)
            .map(|i| crate::HmacKey::new(&i.to_be_bytes()))
            .collect();
        let with_hmacs = locked_kib().unwrap_or(0);
        assert!(
            with_hmacs >= with_secrets + 128,
            "HmacKey: VmLck {with_secrets} kB -> {with_hmacs} kB for 1024 key schedules"
        );
        drop((secrets, hmacs));
        drop((key, hmac, secret));
    }
}
