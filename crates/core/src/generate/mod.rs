//! Generators of secret values, from the system CSPRNG (aws-lc's): passwords from Vault-style
//! password policies ([`password`]) and the generators rotation policies name ([`secret`]:
//! API keys, hex, base64, UUIDs, AES keys, JWT HMAC secrets, Ed25519 and RSA key pairs).
//! Generated values are never logged.

pub(crate) mod password;
pub(crate) mod secret;

use crate::error::{Error, Result};

/// A uniformly random index below `n` (`n > 0`), by rejection sampling so no value is more
/// likely than another.
pub(crate) fn uniform_below(n: u32) -> Result<u32> {
    if n == 0 {
        return Err(Error::Internal("uniform_below(0)".into()));
    }
    // The largest multiple of n that fits in a u32: values at or above it are drawn again.
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let v = u32::from_le_bytes(coffre_crypto::random_array()?);
        if v < zone {
            return Ok(v % n);
        }
    }
}
