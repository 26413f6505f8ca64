//! The hybrid post-quantum encryption key `x25519-ml-kem-768`.
//!
//! A message is encrypted under a fresh, single-use data key that is encapsulated to **both**
//! a static X25519 key (ephemeral-static Diffie-Hellman) and an ML-KEM-768 key (FIPS 203). The
//! two shared secrets are combined with HKDF, so recovering the data key requires breaking
//! both X25519 and ML-KEM-768.
//!
//! # Construction (format version 1)
//!
//! Recipient key: X25519 key pair `(x_sk, x_pk)` and ML-KEM-768 key pair `(dk, ek)`.
//!
//! Encrypt(`aad`, `plaintext`):
//! 1. `e_sk` ← fresh X25519 private key, `e_pk = X25519(e_sk, 9)`;
//!    `ss_x = X25519(e_sk, x_pk)` (an all-zero result is rejected by the library).
//! 2. `(ct_m, ss_m) = ML-KEM-768.Encaps(ek)`.
//! 3. `okm = HKDF-SHA256(salt = "", ikm = ss_m ‖ ss_x,
//!    info = LABEL ‖ ct_m ‖ e_pk ‖ x_pk, L = 44)` with
//!    `LABEL = "coffre transit x25519-ml-kem-768 v1"`; `k = okm[0..32]`, `n = okm[32..44]`.
//!    Both ciphertexts and the recipient's X25519 key are bound into the key schedule (as in
//!    X-Wing); ML-KEM's Fujisaki-Okamoto transform already binds `ek`.
//! 4. `c = AES-256-GCM(k, nonce = n, aad, plaintext)` (ciphertext ‖ 16-byte tag). `k` is used
//!    for exactly one message, so a derived nonce is safe.
//!
//! Output: `e_pk (32) ‖ ct_m (1088) ‖ c`.
//!
//! Decrypt recomputes `ss_x = X25519(x_sk, e_pk)` and `ss_m = ML-KEM-768.Decaps(dk, ct_m)`
//! (implicit rejection: a tampered `ct_m` yields a pseudo-random secret), derives `k, n` the
//! same way and opens `c`; any tampering surfaces as an authentication failure.
//!
//! Key serialization (storage and export): `x_sk (32) ‖ dk (2400) ‖ ek (1184)`; the public key
//! is `x_pk (32) ‖ ek (1184)`.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, X25519};
use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};
use zeroize::Zeroizing;

use super::symmetric::hkdf_sha256;
use super::{Result, TransitCryptoError};
use crate::SecretBytes;

/// Domain-separation label of format version 1.
pub const LABEL: &[u8] = b"coffre transit x25519-ml-kem-768 v1";
/// X25519 key length.
pub const X25519_LEN: usize = 32;
/// ML-KEM-768 decapsulation key length.
pub const MLKEM768_DK_LEN: usize = 2400;
/// ML-KEM-768 encapsulation key length.
pub const MLKEM768_EK_LEN: usize = 1184;
/// ML-KEM-768 ciphertext length.
pub const MLKEM768_CT_LEN: usize = 1088;
/// Length of the serialized private key.
pub const SECRET_LEN: usize = X25519_LEN + MLKEM768_DK_LEN + MLKEM768_EK_LEN;
/// Length of the public key.
pub const PUBLIC_LEN: usize = X25519_LEN + MLKEM768_EK_LEN;
/// Bytes a ciphertext adds to the plaintext.
pub const OVERHEAD: usize = X25519_LEN + MLKEM768_CT_LEN + 16;

/// A hybrid X25519 + ML-KEM-768 decryption key. `Debug` is redacted.
pub struct HybridKemKey {
    x_sk: agreement::PrivateKey,
    dk: DecapsulationKey,
    public: Vec<u8>,
}

impl fmt::Debug for HybridKemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HybridKemKey([redacted])")
    }
}

fn internal(
    what: &'static str,
) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> TransitCryptoError {
    move |_| TransitCryptoError::Internal(what)
}

impl HybridKemKey {
    /// Generates a key pair.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if generation fails.
    pub fn generate() -> Result<Self> {
        let x_sk = agreement::PrivateKey::generate(&X25519)
            .map_err(internal("x25519 key generation failed"))?;
        let dk = DecapsulationKey::generate(&ML_KEM_768)
            .map_err(internal("ml-kem key generation failed"))?;
        let ek = dk
            .encapsulation_key()
            .map_err(internal("ml-kem key generation failed"))?;
        let ek_bytes = ek
            .key_bytes()
            .map_err(internal("ml-kem key encoding failed"))?;
        let x_pk = x_sk
            .compute_public_key()
            .map_err(internal("x25519 public key failed"))?;
        let mut public = Vec::with_capacity(PUBLIC_LEN);
        public.extend_from_slice(x_pk.as_ref());
        public.extend_from_slice(ek_bytes.as_ref());
        Ok(Self { x_sk, dk, public })
    }

    /// Parses the serialized form `x_sk ‖ dk ‖ ek`.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if the bytes are not a valid key.
    pub fn from_bytes(secret: &[u8]) -> Result<Self> {
        if secret.len() != SECRET_LEN {
            return Err(TransitCryptoError::Internal(
                "stored hybrid key has the wrong length",
            ));
        }
        let (x, rest) = secret.split_at(X25519_LEN);
        let (dk, ek) = rest.split_at(MLKEM768_DK_LEN);
        let reject = |_| TransitCryptoError::Internal("stored hybrid key rejected");
        let x_sk = agreement::PrivateKey::from_private_key(&X25519, x).map_err(reject)?;
        let dk = DecapsulationKey::new(&ML_KEM_768, dk).map_err(reject)?;
        EncapsulationKey::new(&ML_KEM_768, ek).map_err(reject)?;
        let x_pk = x_sk
            .compute_public_key()
            .map_err(internal("x25519 public key failed"))?;
        let mut public = Vec::with_capacity(PUBLIC_LEN);
        public.extend_from_slice(x_pk.as_ref());
        public.extend_from_slice(ek);
        Ok(Self { x_sk, dk, public })
    }

    /// The serialized private key `x_sk ‖ dk ‖ ek` (storage and export).
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if the library cannot export the key.
    pub fn to_bytes(&self) -> Result<SecretBytes> {
        let x = AsBigEndian::<Curve25519SeedBin<'static>>::as_be_bytes(&self.x_sk)
            .map_err(internal("x25519 key export failed"))?;
        let dk = self
            .dk
            .key_bytes()
            .map_err(internal("ml-kem key export failed"))?;
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_LEN));
        out.extend_from_slice(x.as_ref());
        out.extend_from_slice(dk.as_ref());
        out.extend_from_slice(&self.public[X25519_LEN..]);
        Ok(SecretBytes::new(std::mem::take(&mut *out)))
    }

    /// The public key `x_pk ‖ ek` (1216 bytes).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// Encrypts to this key's public half (see the module documentation).
    ///
    /// # Errors
    /// As [`seal_to_public_key`].
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        seal_to_public_key(&self.public, aad, plaintext)
    }

    /// Decrypts a ciphertext made by [`seal_to_public_key`].
    ///
    /// # Errors
    /// [`TransitCryptoError::BadInput`] for a truncated ciphertext,
    /// [`TransitCryptoError::AuthenticationFailed`] for a wrong key, wrong `aad` or tampering.
    pub fn open(&self, aad: &[u8], ciphertext: &[u8]) -> Result<SecretBytes> {
        if ciphertext.len() < OVERHEAD {
            return Err(TransitCryptoError::bad_input("invalid ciphertext length"));
        }
        let (e_pk, rest) = ciphertext.split_at(X25519_LEN);
        let (ct_m, c) = rest.split_at(MLKEM768_CT_LEN);
        let ss_x = x25519_agree(&self.x_sk, e_pk)?;
        let ss_m = self
            .dk
            .decapsulate(Ciphertext::from(ct_m))
            .map_err(|_| TransitCryptoError::AuthenticationFailed)?;
        let x_pk = &self.public[..X25519_LEN];
        let (key, nonce) = schedule(ss_m.as_ref(), &ss_x[..], ct_m, e_pk, x_pk)?;
        let mut buf = Zeroizing::new(c.to_vec());
        let len = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf[..],
            )
            .map_err(|_| TransitCryptoError::AuthenticationFailed)?
            .len();
        buf.truncate(len);
        Ok(SecretBytes::new(std::mem::take(&mut *buf)))
    }
}

fn x25519_agree(private: &agreement::PrivateKey, peer: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let peer = agreement::UnparsedPublicKey::new(&X25519, peer);
    agreement::agree(
        private,
        peer,
        TransitCryptoError::AuthenticationFailed,
        |ss| {
            let mut out = Zeroizing::new([0u8; 32]);
            if ss.len() != 32 {
                return Err(TransitCryptoError::AuthenticationFailed);
            }
            out.copy_from_slice(ss);
            Ok(out)
        },
    )
}

/// Derives the single-use AES-256-GCM key and nonce (step 3 of the construction).
fn schedule(
    ss_m: &[u8],
    ss_x: &[u8],
    ct_m: &[u8],
    e_pk: &[u8],
    x_pk: &[u8],
) -> Result<(LessSafeKey, [u8; 12])> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(ss_m.len() + ss_x.len()));
    ikm.extend_from_slice(ss_m);
    ikm.extend_from_slice(ss_x);
    let okm = hkdf_sha256(&ikm, &[], &[LABEL, ct_m, e_pk, x_pk], 44)?;
    let unbound = UnboundKey::new(&AES_256_GCM, &okm.expose()[..32])
        .map_err(|_| TransitCryptoError::Internal("aead key rejected"))?;
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm.expose()[32..44]);
    Ok((LessSafeKey::new(unbound), nonce))
}

/// Encrypts `plaintext` to a hybrid public key `x_pk ‖ ek` (anyone holding the public key can
/// do this; only the private key decrypts).
///
/// # Errors
/// [`TransitCryptoError::BadInput`] for a malformed public key,
/// [`TransitCryptoError::Internal`] if the library fails.
pub fn seal_to_public_key(public: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    if public.len() != PUBLIC_LEN {
        return Err(TransitCryptoError::bad_input(
            "invalid hybrid public key length",
        ));
    }
    let (x_pk, ek) = public.split_at(X25519_LEN);
    let ek = EncapsulationKey::new(&ML_KEM_768, ek)
        .map_err(|_| TransitCryptoError::bad_input("invalid ML-KEM-768 public key"))?;
    let e_sk = agreement::PrivateKey::generate(&X25519)
        .map_err(internal("x25519 key generation failed"))?;
    let e_pk = e_sk
        .compute_public_key()
        .map_err(internal("x25519 public key failed"))?;
    let ss_x = x25519_agree(&e_sk, x_pk)
        .map_err(|_| TransitCryptoError::bad_input("invalid X25519 public key"))?;
    let (ct_m, ss_m) = ek
        .encapsulate()
        .map_err(internal("ml-kem encapsulation failed"))?;
    let (key, nonce) = schedule(ss_m.as_ref(), &ss_x[..], ct_m.as_ref(), e_pk.as_ref(), x_pk)?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(e_pk.as_ref());
    out.extend_from_slice(ct_m.as_ref());
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[start..],
        )
        .map_err(internal("aead seal failed"))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = HybridKemKey::generate().expect("key");
        assert_eq!(k.public_key().len(), PUBLIC_LEN);
        let ct = k.seal(b"ad", b"secret data").expect("seal");
        assert_eq!(ct.len(), OVERHEAD + 11);
        assert_eq!(k.open(b"ad", &ct).expect("open").expose(), b"secret data");
        // Two encryptions of the same message differ (fresh ephemeral key and encapsulation).
        assert_ne!(ct, k.seal(b"ad", b"secret data").expect("seal"));
        // Empty plaintext works.
        let empty = k.seal(b"", b"").expect("seal");
        assert!(k.open(b"", &empty).expect("open").is_empty());
    }

    #[test]
    fn serialization_round_trip() {
        let k = HybridKemKey::generate().expect("key");
        let bytes = k.to_bytes().expect("bytes");
        assert_eq!(bytes.len(), SECRET_LEN);
        let k2 = HybridKemKey::from_bytes(bytes.expose()).expect("parse");
        assert_eq!(k.public_key(), k2.public_key());
        let ct = seal_to_public_key(k.public_key(), b"", b"x").expect("seal");
        assert_eq!(k2.open(b"", &ct).expect("open").expose(), b"x");
        assert!(HybridKemKey::from_bytes(&bytes.expose()[1..]).is_err());
    }

    #[test]
    fn every_part_is_authenticated() {
        let k = HybridKemKey::generate().expect("key");
        let ct = k.seal(b"ad", b"payload").expect("seal");
        // Flip one bit in the ephemeral key, the ML-KEM ciphertext, the AEAD body and the tag.
        for i in [
            0,
            31,
            32,
            500,
            X25519_LEN + MLKEM768_CT_LEN - 1,
            X25519_LEN + MLKEM768_CT_LEN,
            ct.len() - 1,
        ] {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert!(k.open(b"ad", &bad).is_err(), "byte {i} not authenticated");
        }
        assert_eq!(
            k.open(b"other", &ct).err(),
            Some(TransitCryptoError::AuthenticationFailed)
        );
        assert!(matches!(
            k.open(b"ad", &ct[..OVERHEAD - 1]),
            Err(TransitCryptoError::BadInput(_))
        ));
        let other = HybridKemKey::generate().expect("key");
        assert!(other.open(b"ad", &ct).is_err());
    }

    #[test]
    fn both_halves_are_needed() {
        // A key sharing only the X25519 half (or only the ML-KEM half) cannot decrypt.
        let k = HybridKemKey::generate().expect("key");
        let other = HybridKemKey::generate().expect("key");
        let kb = k.to_bytes().expect("bytes");
        let ob = other.to_bytes().expect("bytes");
        let mut x_only = ob.expose().to_vec();
        x_only[..X25519_LEN].copy_from_slice(&kb.expose()[..X25519_LEN]);
        let mut m_only = kb.expose().to_vec();
        m_only[..X25519_LEN].copy_from_slice(&ob.expose()[..X25519_LEN]);
        let ct = k.seal(b"", b"m").expect("seal");
        for mixed in [x_only, m_only] {
            let mixed = HybridKemKey::from_bytes(&mixed).expect("parse");
            assert!(mixed.open(b"", &ct).is_err());
        }
    }

    #[test]
    fn debug_is_redacted() {
        let k = HybridKemKey::generate().expect("key");
        assert_eq!(format!("{k:?}"), "HybridKemKey([redacted])");
    }
}
