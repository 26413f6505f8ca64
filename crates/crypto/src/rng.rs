//! Randomness from the aws-lc-rs system CSPRNG.

use crate::CryptoError;

/// Fills `buf` with cryptographically secure random bytes.
///
/// # Errors
/// [`CryptoError::Rng`] if the system generator fails.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Rng)
}

/// Returns an array of `N` cryptographically secure random bytes.
///
/// # Errors
/// [`CryptoError::Rng`] if the system generator fails.
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    fill_random(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_arrays_differ() {
        let a = random_array::<32>().expect("rng");
        let b = random_array::<32>().expect("rng");
        assert_ne!(a, b);
    }

    #[test]
    fn fill_random_accepts_empty() {
        fill_random(&mut []).expect("rng");
    }
}
