//! Generators of secret values, from the system CSPRNG (aws-lc's): passwords from Vault-style
//! password policies now; API keys, keys and key pairs with the rotation work (issue 14).
//! Generated values are never logged.

pub(crate) mod password;

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
