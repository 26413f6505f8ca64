//! SHA-256 and HMAC-SHA-256.

use aws_lc_rs::{digest, hmac};

/// Computes SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 of the concatenation of `parts`, without first copying them into one buffer.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Computes HMAC-SHA-256 of `data` under `key` (any key length).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// An HMAC-SHA-256 key with its inner and outer pads precomputed, for keys used on every
/// request (token hashing, audit HMACs): signing skips the two key-schedule hashes.
///
/// The key schedule is key material: it lives on the heap, `mlock`ed best effort (see
/// [`mlock_supported`](crate::mlock_supported)), and aws-lc cleanses it on drop
/// (`HMAC_CTX_cleanup`).
pub struct HmacKey(Box<hmac::Key>);

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey([redacted])")
    }
}

impl HmacKey {
    /// Prepares `key` (any length).
    pub fn new(key: &[u8]) -> HmacKey {
        let schedule = Box::new(hmac::Key::new(hmac::HMAC_SHA256, key));
        crate::memlock::lock_best_effort(&*schedule as *const hmac::Key, size_of::<hmac::Key>());
        HmacKey(schedule)
    }

    /// HMAC-SHA-256 of `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.0, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hash_like_their_concatenation() {
        // FIPS 180-2 example: SHA-256("abc").
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hex::encode(sha256(b"abc")), abc);
        assert_eq!(hex::encode(sha256_parts(&[b"a", b"", b"bc"])), abc);
    }

    #[test]
    fn prepared_key_matches_one_shot() {
        let key = HmacKey::new(b"Jefe");
        assert_eq!(
            key.sign(b"what do ya want for nothing?"),
            hmac_sha256(b"Jefe", b"what do ya want for nothing?")
        );
        assert_eq!(format!("{key:?}"), "HmacKey([redacted])");
    }

    #[test]
    fn sha256_abc() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_sha256_rfc4231_case2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
