//! Seal configuration, the stored root-key blob, and share decoding.
//!
//! Layout in storage (plaintext metadata, no secrets):
//! - `core/seal-config`: JSON [`SealConfig`]; its presence means "initialized" and it is
//!   written last during init, so a crash mid-init leaves the server uninitialized.
//! - `core/root-key`: the root key encrypted with the unseal key (AAD = the storage key).

use base64::Engine as _;
use coffre_crypto::{Key256, SecretBytes, decrypt_with_key, encrypt_with_key};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub(crate) const SEAL_CONFIG_PATH: &str = "core/seal-config";
pub(crate) const ROOT_KEY_PATH: &str = "core/root-key";

/// How the unseal key is protected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealConfig {
    /// Seal type; only `shamir` for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// Number of shares handed out at init.
    pub secret_shares: u8,
    /// Shares needed to unseal.
    pub secret_threshold: u8,
}

impl SealConfig {
    /// Validates init parameters the way Vault does and builds the config.
    pub fn shamir(shares: i64, threshold: i64) -> Result<SealConfig> {
        if shares < 1 {
            return Err(Error::invalid("shares must be at least one"));
        }
        if threshold < 1 {
            return Err(Error::invalid("threshold must be at least one"));
        }
        if shares > 1 && threshold < 2 {
            return Err(Error::invalid(
                "threshold must be greater than one for multiple shares",
            ));
        }
        if shares > 255 || threshold > 255 {
            return Err(Error::invalid("shares must be less than 256"));
        }
        if threshold > shares {
            return Err(Error::invalid("threshold cannot be larger than shares"));
        }
        Ok(SealConfig {
            kind: "shamir".into(),
            secret_shares: u8::try_from(shares).map_err(|_| Error::invalid("bad shares"))?,
            secret_threshold: u8::try_from(threshold)
                .map_err(|_| Error::invalid("bad threshold"))?,
        })
    }
}

/// Encrypts the root key under the unseal key for storage.
pub(crate) fn wrap_root_key(unseal_key: &Key256, root_key: &Key256) -> Result<Vec<u8>> {
    Ok(encrypt_with_key(
        unseal_key,
        0,
        ROOT_KEY_PATH.as_bytes(),
        root_key.expose(),
    )?)
}

/// Recovers the root key; fails (without detail) when the unseal key is wrong, which is how a
/// bad share combination is detected: Shamir shares carry no authentication of their own.
pub(crate) fn unwrap_root_key(unseal_key: &[u8], blob: &[u8]) -> Result<Key256> {
    let key =
        Key256::from_slice(unseal_key).map_err(|_| Error::invalid("unseal failed, invalid key"))?;
    let root = decrypt_with_key(&key, ROOT_KEY_PATH.as_bytes(), blob)
        .map_err(|_| Error::invalid("unseal failed, invalid key"))?;
    Ok(Key256::from_slice(root.expose())?)
}

/// Decodes one unseal share as sent by clients: hex first, base64 if that fails.
pub fn decode_share(input: &str) -> Result<SecretBytes> {
    let input = input.trim();
    let bad = || Error::invalid("'key' must be a valid hex or base64 string");
    if input.is_empty() {
        return Err(bad());
    }
    if let Ok(bytes) = hex::decode(input)
        && !bytes.is_empty()
        && bytes.len() <= 256
    {
        return Ok(SecretBytes::new(bytes));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(input)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(input))
        .map_err(|_| bad())?;
    if bytes.is_empty() || bytes.len() > 256 {
        return Err(bad());
    }
    Ok(SecretBytes::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_parameters_follow_vault() {
        assert!(SealConfig::shamir(5, 3).is_ok());
        assert!(SealConfig::shamir(1, 1).is_ok());
        assert!(SealConfig::shamir(0, 1).is_err());
        assert!(SealConfig::shamir(3, 1).is_err());
        assert!(SealConfig::shamir(3, 4).is_err());
        assert!(SealConfig::shamir(256, 3).is_err());
    }

    #[test]
    fn shares_decode_from_hex_or_base64() {
        let hexed = decode_share("0a0b0c").expect("hex");
        assert_eq!(hexed.expose(), &[10, 11, 12]);
        let b64 = decode_share("CgsM").expect("base64");
        assert_eq!(b64.expose(), &[10, 11, 12]);
        assert!(decode_share("not a share!").is_err());
        assert!(decode_share("").is_err());
    }

    #[test]
    fn wrong_unseal_key_is_detected() {
        let unseal = Key256::generate().expect("rng");
        let root = Key256::generate().expect("rng");
        let blob = wrap_root_key(&unseal, &root).expect("wrap");
        let back = unwrap_root_key(unseal.expose(), &blob).expect("unwrap");
        assert_eq!(back.expose(), root.expose());
        let other = Key256::generate().expect("rng");
        assert!(unwrap_root_key(other.expose(), &blob).is_err());
        assert!(unwrap_root_key(&[1, 2, 3], &blob).is_err());
    }
}
