//! Binary serialization of a [`Keyring`] (secret: contains every key).
//!
//! Layout, all integers big-endian:
//! `version u8 (=1) | count u32 | count × (term u32 | install_time i64 | encryptions u64 | key 32)`
//! with terms strictly ascending and non-zero.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::keyring::TermKey;
use crate::{CryptoError, Key256, Keyring, SecretBytes};

const KEYRING_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4;
const ENTRY_LEN: usize = 4 + 8 + 8 + Key256::LEN;

impl Keyring {
    /// Serializes every term, key and counter. The result is secret.
    pub fn to_bytes(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN * self.terms.len());
        out.push(KEYRING_VERSION);
        // A keyring cannot hold more than u32::MAX terms (terms are distinct u32s).
        let count = u32::try_from(self.terms.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for t in &self.terms {
            out.extend_from_slice(&t.term.to_be_bytes());
            out.extend_from_slice(&t.install_time_unix_nanos.to_be_bytes());
            out.extend_from_slice(&t.encryptions.load(Ordering::Relaxed).to_be_bytes());
            out.extend_from_slice(t.key.expose());
        }
        SecretBytes::new(out)
    }

    /// Parses the output of [`Keyring::to_bytes`]; strict about every byte.
    ///
    /// # Errors
    /// [`CryptoError::MalformedKeyring`] on a wrong version, a wrong length, no terms,
    /// term 0, or terms not strictly ascending.
    pub fn from_bytes(b: &[u8]) -> Result<Keyring, CryptoError> {
        let bad = || CryptoError::MalformedKeyring;
        let (&version, rest) = b.split_first().ok_or_else(bad)?;
        if version != KEYRING_VERSION {
            return Err(bad());
        }
        let (count, mut rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let count = usize::try_from(u32::from_be_bytes(*count)).map_err(|_| bad())?;
        if count == 0 || count.checked_mul(ENTRY_LEN) != Some(rest.len()) {
            return Err(bad());
        }
        let mut terms: Vec<Arc<TermKey>> = Vec::with_capacity(count);
        while let Some((entry, tail)) = rest.split_first_chunk::<ENTRY_LEN>() {
            rest = tail;
            let (term, entry_rest) = entry.split_first_chunk::<4>().ok_or_else(bad)?;
            let (time, entry_rest) = entry_rest.split_first_chunk::<8>().ok_or_else(bad)?;
            let (count, key) = entry_rest.split_first_chunk::<8>().ok_or_else(bad)?;
            let term = u32::from_be_bytes(*term);
            let previous = terms.last().map_or(0, |t| t.term);
            if term <= previous {
                return Err(bad());
            }
            let key = Key256::from_slice(key).map_err(|_| bad())?;
            terms.push(Arc::new(TermKey::new(
                term,
                i64::from_be_bytes(*time),
                key,
                u64::from_be_bytes(*count),
            )));
        }
        let active = terms.last().cloned().ok_or_else(bad)?;
        Ok(Keyring { terms, active })
    }
}
