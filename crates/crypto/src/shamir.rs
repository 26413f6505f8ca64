//! Shamir secret sharing over GF(256), via `vsss-rs`.
//!
//! A share is `x-coordinate (1..=255) || one y-byte per secret byte`, so a 32-byte secret
//! gives 33-byte shares. Shares are not authenticated: a wrong or insufficient set of
//! shares combines to garbage without error, so callers must verify the result (e.g. it
//! must decrypt the root-key blob).

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use vsss_rs::Gf256;
use zeroize::Zeroizing;

use crate::{CryptoError, SecretBytes, rng};

/// x-coordinate of the single share of a 1-of-1 split (a constant polynomial).
const SINGLE_SHARE_X: u8 = 1;

/// Splits `secret` into `shares` shares, any `threshold` of which recover it.
///
/// Rules follow Vault: `1 <= threshold <= shares`, and `threshold >= 2` whenever
/// `shares > 1`. A 1-of-1 split yields one share `[1] || secret`.
///
/// # Errors
/// [`CryptoError::InvalidShamirParameters`] for bad counts or an empty secret,
/// [`CryptoError::Rng`] if randomness fails.
pub fn split_secret(
    secret: &[u8],
    shares: u8,
    threshold: u8,
) -> Result<Vec<SecretBytes>, CryptoError> {
    let invalid = CryptoError::InvalidShamirParameters;
    if secret.is_empty() {
        return Err(invalid("secret must not be empty"));
    }
    if shares == 0 {
        return Err(invalid("shares must be at least 1"));
    }
    if threshold == 0 {
        return Err(invalid("threshold must be at least 1"));
    }
    if threshold > shares {
        return Err(invalid("threshold must not exceed shares"));
    }
    if shares > 1 && threshold < 2 {
        return Err(invalid("threshold must be at least 2 when shares > 1"));
    }
    if shares == 1 {
        let mut share = Vec::with_capacity(secret.len() + 1);
        share.push(SINGLE_SHARE_X);
        share.extend_from_slice(secret);
        return Ok(vec![SecretBytes::new(share)]);
    }
    let mut generator = AwsLcRng { failed: false };
    let split = Gf256::split_bytes(
        usize::from(threshold),
        usize::from(shares),
        secret,
        &mut generator,
    )
    .map_err(|_| invalid("rejected by the sharing scheme"))?;
    let split: Vec<SecretBytes> = split.into_iter().map(SecretBytes::new).collect();
    if generator.failed {
        return Err(CryptoError::Rng);
    }
    Ok(split)
}

/// Recombines shares produced by [`split_secret`].
///
/// Give at least the threshold number of shares; fewer (or foreign) shares silently yield a
/// wrong value.
///
/// # Errors
/// [`CryptoError::InvalidShares`] for no shares, too-short or differently sized shares,
/// an x-coordinate of 0, or two shares with the same x-coordinate.
pub fn combine_shares(shares: &[SecretBytes]) -> Result<SecretBytes, CryptoError> {
    let invalid = CryptoError::InvalidShares;
    let first = shares.first().ok_or(invalid("no shares given"))?;
    let len = first.len();
    if len < 2 {
        return Err(invalid("share too short"));
    }
    let mut seen = [false; 256];
    for share in shares {
        let (&x, _) = share
            .expose()
            .split_first()
            .ok_or(invalid("share too short"))?;
        if share.len() != len {
            return Err(invalid("shares differ in length"));
        }
        if x == 0 {
            return Err(invalid("share has x-coordinate 0"));
        }
        let slot = &mut seen[usize::from(x)];
        if *slot {
            return Err(invalid("duplicate shares"));
        }
        *slot = true;
    }
    if let [single] = shares {
        // A 1-of-1 share holds the secret itself after its x-coordinate.
        return Ok(SecretBytes::from_slice(
            single.expose().get(1..).unwrap_or_default(),
        ));
    }
    let raw: Zeroizing<Vec<Vec<u8>>> =
        Zeroizing::new(shares.iter().map(|s| s.expose().to_vec()).collect());
    let secret =
        Gf256::combine_bytes(&raw[..]).map_err(|_| invalid("rejected by the sharing scheme"))?;
    Ok(SecretBytes::new(secret))
}

/// Adapts the aws-lc-rs CSPRNG to the infallible generator `vsss-rs` expects.
///
/// On failure it records the fact and yields zeros; [`split_secret`] then discards the
/// (zeroized) shares and returns [`CryptoError::Rng`].
struct AwsLcRng {
    failed: bool,
}

impl TryRng for AwsLcRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if rng::fill_random(dst).is_err() {
            self.failed = true;
            dst.fill(0);
        }
        Ok(())
    }
}

impl TryCryptoRng for AwsLcRng {}

#[cfg(test)]
mod tests;
