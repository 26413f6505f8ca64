//! Asymmetric transit keys: Ed25519, ECDSA P-256/P-384, RSA 2048/3072/4096 (PSS and
//! PKCS#1 v1.5 signatures, OAEP-SHA256 encryption) and ML-DSA-65 (FIPS 204).
//!
//! Private keys are stored as PKCS#8 DER (ML-DSA in its 32-byte seed form) and parsed into
//! `aws-lc-rs` key objects, which wipe their memory when dropped.
//!
//! Hashing follows Vault: ECDSA and RSA sign a digest of the input (`hash_algorithm`, or the
//! input itself when `prehashed`), Ed25519 and ML-DSA sign the input as is.
//!
//! ECDSA over a digest whose length differs from the curve size: ECDSA only ever uses the
//! leftmost `n` bits of a digest (FIPS 186-5 §6.4.1, `bits2int`), and a shorter digest is read as
//! an integer, which leading zero bytes do not change. So a SHA-512 digest is signed with P-256 by
//! handing `aws-lc-rs` its first 32 bytes as a SHA-256-sized digest, and a SHA-256 digest is
//! signed with P-384 by left-padding it with zeros to 48 bytes. The signature is the one any
//! standard verifier expects for (curve, hash); `aws-lc-rs` still performs all of ECDSA.

use std::fmt;

use aws_lc_rs::digest::Digest;
use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, Ed25519KeyPair,
    KeyPair as _, PqdsaKeyPair, RsaEncoding, RsaKeyPair, RsaParameters, RsaPssSaltLength,
    RsaSignatureEncoding, UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::digest::HashAlgorithm;
use super::symmetric::hkdf_sha256;
use super::{Result, TransitCryptoError, pem};
use crate::SecretBytes;

/// An asymmetric transit key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// Ed25519 (RFC 8032, pure).
    Ed25519,
    /// ECDSA over NIST P-256.
    EcdsaP256,
    /// ECDSA over NIST P-384.
    EcdsaP384,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ML-DSA-65 (FIPS 204, pure, empty context).
    MlDsa65,
}

impl SigningAlgorithm {
    /// Whether this is an RSA key (which can also encrypt with OAEP).
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    /// Whether this is an ECDSA key.
    pub fn is_ecdsa(self) -> bool {
        matches!(self, Self::EcdsaP256 | Self::EcdsaP384)
    }

    /// Whether signatures cover a digest of the input (ECDSA, RSA) rather than the input.
    pub fn hashes_input(self) -> bool {
        self.is_rsa() || self.is_ecdsa()
    }
}

/// RSA signature padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RsaPadding {
    /// RSASSA-PSS with MGF1 over the same hash (Vault's default).
    #[default]
    Pss,
    /// RSASSA-PKCS1-v1_5.
    Pkcs1v15,
}

/// ECDSA signature encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EcdsaEncoding {
    /// DER `SEQUENCE { r, s }` (Vault's `asn1`).
    #[default]
    Asn1,
    /// Fixed-width `r ‖ s` (Vault's `jws`, IEEE P1363).
    Fixed,
}

/// RSA-PSS salt length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PssSaltLength {
    /// Sign with a salt as long as the digest; verify accepting the digest length or the
    /// maximum (what Go's `PSSSaltLengthAuto` produces, so signatures made by Vault verify).
    #[default]
    Auto,
    /// Salt as long as the digest.
    Digest,
    /// The largest salt the modulus allows.
    Max,
}

/// Options for [`SigningKey::sign`] and [`verify_with_public_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOptions {
    /// Digest applied to the input before ECDSA/RSA signing (ignored for Ed25519/ML-DSA).
    pub hash: HashAlgorithm,
    /// The input already is the digest.
    pub prehashed: bool,
    /// RSA padding.
    pub rsa_padding: RsaPadding,
    /// ECDSA signature encoding.
    pub ecdsa_encoding: EcdsaEncoding,
    /// RSA-PSS salt length.
    pub pss_salt: PssSaltLength,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            hash: HashAlgorithm::Sha2_256,
            prehashed: false,
            rsa_padding: RsaPadding::Pss,
            ecdsa_encoding: EcdsaEncoding::Asn1,
            pss_salt: PssSaltLength::Auto,
        }
    }
}

struct RsaInner {
    pair: RsaKeyPair,
    decrypt: OaepPrivateDecryptingKey,
    encrypt: OaepPublicEncryptingKey,
}

enum Inner {
    Ed25519(Ed25519KeyPair),
    Ecdsa {
        asn1: EcdsaKeyPair,
        fixed: EcdsaKeyPair,
    },
    Rsa(Box<RsaInner>),
    MlDsa(PqdsaKeyPair),
}

/// A parsed asymmetric transit key. `Debug` prints the algorithm only.
pub struct SigningKey {
    alg: SigningAlgorithm,
    inner: Inner,
    /// Public key in the form the verifiers take: raw for Ed25519/ML-DSA, the uncompressed
    /// point for ECDSA, PKCS#1 `RSAPublicKey` DER for RSA.
    public_raw: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?}, [redacted])", self.alg)
    }
}

fn internal(
    what: &'static str,
) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> TransitCryptoError {
    move |_| TransitCryptoError::Internal(what)
}

fn rejected(_: aws_lc_rs::error::KeyRejected) -> TransitCryptoError {
    TransitCryptoError::Internal("stored private key rejected")
}

fn ecdsa_algs(
    alg: SigningAlgorithm,
) -> (
    &'static EcdsaSigningAlgorithm,
    &'static EcdsaSigningAlgorithm,
) {
    match alg {
        SigningAlgorithm::EcdsaP384 => (
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        ),
        _ => (
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        ),
    }
}

/// (native hash, field size in bytes) of an ECDSA curve.
fn ecdsa_curve(alg: SigningAlgorithm) -> (HashAlgorithm, usize) {
    match alg {
        SigningAlgorithm::EcdsaP384 => (HashAlgorithm::Sha2_384, 48),
        _ => (HashAlgorithm::Sha2_256, 32),
    }
}

/// The digest ECDSA actually signs, sized to the curve (see the module documentation).
fn ecdsa_digest(alg: SigningAlgorithm, digest: &[u8]) -> Result<Digest> {
    let (native, n) = ecdsa_curve(alg);
    let mut fitted = vec![0u8; n];
    if digest.len() >= n {
        fitted.copy_from_slice(&digest[..n]);
    } else {
        fitted[n - digest.len()..].copy_from_slice(digest);
    }
    Digest::import_less_safe(&fitted, native.aws()).map_err(internal("digest import failed"))
}

fn rsa_hash_check(hash: HashAlgorithm) -> Result<()> {
    match hash {
        HashAlgorithm::Sha2_256 | HashAlgorithm::Sha2_384 | HashAlgorithm::Sha2_512 => Ok(()),
        other => Err(TransitCryptoError::unsupported(format!(
            "hash algorithm {} is not supported for RSA keys (use sha2-256, sha2-384 or sha2-512)",
            other.name()
        ))),
    }
}

const PSS_SHA256_MAX: RsaSignatureEncoding =
    signature::RSA_PSS_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
const PSS_SHA384_MAX: RsaSignatureEncoding =
    signature::RSA_PSS_SHA384.with_pss_salt_length(RsaPssSaltLength::Max);
const PSS_SHA512_MAX: RsaSignatureEncoding =
    signature::RSA_PSS_SHA512.with_pss_salt_length(RsaPssSaltLength::Max);

static VERIFY_PSS_SHA256_MAX: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
static VERIFY_PSS_SHA384_MAX: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA384.with_pss_salt_length(RsaPssSaltLength::Max);
static VERIFY_PSS_SHA512_MAX: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA512.with_pss_salt_length(RsaPssSaltLength::Max);

fn rsa_sign_encoding(opts: &SignOptions) -> Result<&'static dyn RsaEncoding> {
    rsa_hash_check(opts.hash)?;
    let max = opts.pss_salt == PssSaltLength::Max;
    Ok(match (opts.rsa_padding, opts.hash, max) {
        (RsaPadding::Pkcs1v15, HashAlgorithm::Sha2_256, _) => &signature::RSA_PKCS1_SHA256,
        (RsaPadding::Pkcs1v15, HashAlgorithm::Sha2_384, _) => &signature::RSA_PKCS1_SHA384,
        (RsaPadding::Pkcs1v15, _, _) => &signature::RSA_PKCS1_SHA512,
        (RsaPadding::Pss, HashAlgorithm::Sha2_256, false) => &signature::RSA_PSS_SHA256,
        (RsaPadding::Pss, HashAlgorithm::Sha2_384, false) => &signature::RSA_PSS_SHA384,
        (RsaPadding::Pss, _, false) => &signature::RSA_PSS_SHA512,
        (RsaPadding::Pss, HashAlgorithm::Sha2_256, true) => &PSS_SHA256_MAX,
        (RsaPadding::Pss, HashAlgorithm::Sha2_384, true) => &PSS_SHA384_MAX,
        (RsaPadding::Pss, _, true) => &PSS_SHA512_MAX,
    })
}

/// Verification parameters to try, in order.
fn rsa_verify_params(opts: &SignOptions) -> Result<Vec<&'static RsaParameters>> {
    rsa_hash_check(opts.hash)?;
    let (digest, max): (&'static RsaParameters, &'static RsaParameters) = match opts.hash {
        HashAlgorithm::Sha2_256 => (&signature::RSA_PSS_2048_8192_SHA256, &VERIFY_PSS_SHA256_MAX),
        HashAlgorithm::Sha2_384 => (&signature::RSA_PSS_2048_8192_SHA384, &VERIFY_PSS_SHA384_MAX),
        _ => (&signature::RSA_PSS_2048_8192_SHA512, &VERIFY_PSS_SHA512_MAX),
    };
    Ok(match opts.rsa_padding {
        RsaPadding::Pkcs1v15 => vec![match opts.hash {
            HashAlgorithm::Sha2_256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            HashAlgorithm::Sha2_384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            _ => &signature::RSA_PKCS1_2048_8192_SHA512,
        }],
        RsaPadding::Pss => match opts.pss_salt {
            PssSaltLength::Auto => vec![digest, max],
            PssSaltLength::Digest => vec![digest],
            PssSaltLength::Max => vec![max],
        },
    })
}

fn prehashed_digest(hash: HashAlgorithm, input: &[u8]) -> Result<Digest> {
    if input.len() != hash.output_len() {
        return Err(TransitCryptoError::bad_input(format!(
            "prehashed input must be {} bytes for hash algorithm {} (got {})",
            hash.output_len(),
            hash.name(),
            input.len()
        )));
    }
    Digest::import_less_safe(input, hash.aws()).map_err(internal("digest import failed"))
}

impl SigningKey {
    /// Generates a key; returns it with its PKCS#8 encoding (what storage keeps).
    /// RSA-4096 generation takes up to a second: call it off the async executor.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if generation fails.
    pub fn generate(alg: SigningAlgorithm) -> Result<(SigningKey, SecretBytes)> {
        let pkcs8 = match alg {
            SigningAlgorithm::Ed25519 => {
                let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(internal("ed25519 key generation failed"))?;
                SecretBytes::from_slice(doc.as_ref())
            }
            SigningAlgorithm::EcdsaP256 | SigningAlgorithm::EcdsaP384 => {
                let doc = EcdsaKeyPair::generate_pkcs8(ecdsa_algs(alg).0, &SystemRandom::new())
                    .map_err(internal("ecdsa key generation failed"))?;
                SecretBytes::from_slice(doc.as_ref())
            }
            SigningAlgorithm::Rsa2048 | SigningAlgorithm::Rsa3072 | SigningAlgorithm::Rsa4096 => {
                let size = match alg {
                    SigningAlgorithm::Rsa2048 => KeySize::Rsa2048,
                    SigningAlgorithm::Rsa3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let pair =
                    RsaKeyPair::generate(size).map_err(internal("rsa key generation failed"))?;
                let der = pair.as_der().map_err(internal("rsa key encoding failed"))?;
                SecretBytes::from_slice(der.as_ref())
            }
            SigningAlgorithm::MlDsa65 => {
                let pair = PqdsaKeyPair::generate(&signature::ML_DSA_65_SIGNING)
                    .map_err(internal("ml-dsa key generation failed"))?;
                let doc = pair
                    .to_pkcs8v1()
                    .map_err(internal("ml-dsa key encoding failed"))?;
                SecretBytes::from_slice(doc.as_ref())
            }
        };
        let key = Self::from_pkcs8(alg, pkcs8.expose())?;
        Ok((key, pkcs8))
    }

    /// Parses a stored PKCS#8 private key.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if the bytes are not a key of this type.
    pub fn from_pkcs8(alg: SigningAlgorithm, der: &[u8]) -> Result<SigningKey> {
        let inner = match alg {
            SigningAlgorithm::Ed25519 => {
                Inner::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?)
            }
            SigningAlgorithm::EcdsaP256 | SigningAlgorithm::EcdsaP384 => {
                let (a, f) = ecdsa_algs(alg);
                Inner::Ecdsa {
                    asn1: EcdsaKeyPair::from_pkcs8(a, der).map_err(rejected)?,
                    fixed: EcdsaKeyPair::from_pkcs8(f, der).map_err(rejected)?,
                }
            }
            SigningAlgorithm::Rsa2048 | SigningAlgorithm::Rsa3072 | SigningAlgorithm::Rsa4096 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(rejected)?;
                let want = match alg {
                    SigningAlgorithm::Rsa2048 => 256,
                    SigningAlgorithm::Rsa3072 => 384,
                    _ => 512,
                };
                if pair.public_modulus_len() != want {
                    return Err(TransitCryptoError::Internal(
                        "stored rsa key has the wrong size",
                    ));
                }
                let private = PrivateDecryptingKey::from_pkcs8(der).map_err(rejected)?;
                let public = private.public_key();
                Inner::Rsa(Box::new(RsaInner {
                    pair,
                    decrypt: OaepPrivateDecryptingKey::new(private)
                        .map_err(internal("rsa oaep key setup failed"))?,
                    encrypt: OaepPublicEncryptingKey::new(public)
                        .map_err(internal("rsa oaep key setup failed"))?,
                }))
            }
            SigningAlgorithm::MlDsa65 => Inner::MlDsa(
                PqdsaKeyPair::from_pkcs8(&signature::ML_DSA_65_SIGNING, der).map_err(rejected)?,
            ),
        };
        let public_raw = match &inner {
            Inner::Ed25519(p) => p.public_key().as_ref().to_vec(),
            Inner::Ecdsa { asn1, .. } => asn1.public_key().as_ref().to_vec(),
            Inner::Rsa(r) => r.pair.public_key().as_ref().to_vec(),
            Inner::MlDsa(p) => p.public_key().as_ref().to_vec(),
        };
        Ok(SigningKey {
            alg,
            inner,
            public_raw,
        })
    }

    /// The key type.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The public key as the verifiers take it: 32 raw bytes for Ed25519, the raw 1952-byte
    /// key for ML-DSA-65, the uncompressed SEC1 point for ECDSA, PKCS#1 `RSAPublicKey` DER
    /// for RSA.
    pub fn public_key_raw(&self) -> &[u8] {
        &self.public_raw
    }

    /// The public key as X.509 `SubjectPublicKeyInfo` DER.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if encoding fails.
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>> {
        let err = internal("public key encoding failed");
        Ok(match &self.inner {
            Inner::Ed25519(p) => p.public_key().as_der().map_err(err)?.as_ref().to_vec(),
            Inner::Ecdsa { asn1, .. } => asn1.public_key().as_der().map_err(err)?.as_ref().to_vec(),
            Inner::Rsa(r) => r.pair.public_key().as_der().map_err(err)?.as_ref().to_vec(),
            Inner::MlDsa(p) => p.public_key().as_der().map_err(err)?.as_ref().to_vec(),
        })
    }

    /// The public key the way Vault shows it: PEM `PUBLIC KEY` for ECDSA and RSA, standard
    /// base64 of the raw key for Ed25519 and ML-DSA.
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if encoding fails.
    pub fn public_key_formatted(&self) -> Result<String> {
        Ok(match self.alg {
            SigningAlgorithm::Ed25519 | SigningAlgorithm::MlDsa65 => {
                STANDARD.encode(&self.public_raw)
            }
            _ => pem::encode("PUBLIC KEY", &self.public_key_spki_der()?).to_string(),
        })
    }

    /// The private key for export: for Ed25519 standard base64 of `seed ‖ public` (Go's
    /// 64-byte form, as Vault exports it); for ECDSA a PEM `EC PRIVATE KEY` (SEC1); for RSA and
    /// ML-DSA a PEM `PRIVATE KEY` (PKCS#8; ML-DSA in seed form).
    ///
    /// # Errors
    /// [`TransitCryptoError::Internal`] if encoding fails.
    pub fn export_private(&self) -> Result<Zeroizing<String>> {
        let err = internal("private key encoding failed");
        Ok(match &self.inner {
            Inner::Ed25519(p) => {
                let seed = p.seed().map_err(internal("ed25519 seed unavailable"))?;
                let seed = seed.as_be_bytes().map_err(err)?;
                let mut both = Zeroizing::new(Vec::with_capacity(64));
                both.extend_from_slice(seed.as_ref());
                both.extend_from_slice(&self.public_raw);
                Zeroizing::new(STANDARD.encode(&*both))
            }
            Inner::Ecdsa { asn1, .. } => {
                let der = asn1.private_key().as_der().map_err(err)?;
                pem::encode("EC PRIVATE KEY", der.as_ref())
            }
            Inner::Rsa(r) => {
                let der = r.pair.as_der().map_err(err)?;
                pem::encode("PRIVATE KEY", der.as_ref())
            }
            Inner::MlDsa(p) => {
                let der = p.to_pkcs8v1().map_err(err)?;
                pem::encode("PRIVATE KEY", der.as_ref())
            }
        })
    }

    /// Signs `input` (see the module documentation for how the hash options apply).
    ///
    /// # Errors
    /// [`TransitCryptoError::Unsupported`] for a hash the key type cannot use,
    /// [`TransitCryptoError::BadInput`] for a prehashed input of the wrong length,
    /// [`TransitCryptoError::Internal`] if signing fails.
    pub fn sign(&self, input: &[u8], opts: &SignOptions) -> Result<Vec<u8>> {
        let err = internal("signing failed");
        match &self.inner {
            Inner::Ed25519(p) => Ok(p.sign(input).as_ref().to_vec()),
            Inner::MlDsa(p) => {
                let mut sig = vec![0u8; signature::ML_DSA_65_SIGNING.signature_len()];
                let n = p.sign(input, &mut sig).map_err(err)?;
                sig.truncate(n);
                Ok(sig)
            }
            Inner::Ecdsa { asn1, fixed } => {
                let pair = match opts.ecdsa_encoding {
                    EcdsaEncoding::Asn1 => asn1,
                    EcdsaEncoding::Fixed => fixed,
                };
                let (native, _) = ecdsa_curve(self.alg);
                let sig = if !opts.prehashed && opts.hash == native {
                    pair.sign(&SystemRandom::new(), input).map_err(err)?
                } else {
                    let digest = if opts.prehashed {
                        input.to_vec()
                    } else {
                        opts.hash.digest(input)
                    };
                    pair.sign_digest(&ecdsa_digest(self.alg, &digest)?)
                        .map_err(err)?
                };
                Ok(sig.as_ref().to_vec())
            }
            Inner::Rsa(r) => {
                let encoding = rsa_sign_encoding(opts)?;
                let mut sig = vec![0u8; r.pair.public_modulus_len()];
                if opts.prehashed {
                    let digest = prehashed_digest(opts.hash, input)?;
                    r.pair
                        .sign_digest(encoding, &digest, &mut sig)
                        .map_err(err)?;
                } else {
                    r.pair
                        .sign(encoding, &SystemRandom::new(), input, &mut sig)
                        .map_err(err)?;
                }
                Ok(sig)
            }
        }
    }

    /// Verifies `sig` over `input` with this key's public half.
    ///
    /// # Errors
    /// As [`verify_with_public_key`].
    pub fn verify(&self, input: &[u8], sig: &[u8], opts: &SignOptions) -> Result<bool> {
        verify_with_public_key(self.alg, &self.public_raw, input, sig, opts)
    }

    /// The Ed25519 key Vault derives for `derived` Ed25519 keys: the seed is
    /// `HKDF-SHA256(ikm = seed ‖ public, salt = "", info = context)`, 32 bytes.
    ///
    /// # Errors
    /// [`TransitCryptoError::Unsupported`] for other key types,
    /// [`TransitCryptoError::BadInput`] for an empty context.
    pub fn derive_ed25519(&self, context: &[u8]) -> Result<SigningKey> {
        let Inner::Ed25519(p) = &self.inner else {
            return Err(TransitCryptoError::unsupported(
                "key derivation is only supported for ed25519 signing keys",
            ));
        };
        if context.is_empty() {
            return Err(TransitCryptoError::bad_input(
                "missing 'context' for key derivation; the key was created using a derived key, \
                 which means additional, per-request information must be included in order to \
                 perform operations with the key",
            ));
        }
        let seed = p.seed().map_err(internal("ed25519 seed unavailable"))?;
        let seed = seed
            .as_be_bytes()
            .map_err(internal("ed25519 seed unavailable"))?;
        let mut ikm = Zeroizing::new(Vec::with_capacity(64));
        ikm.extend_from_slice(seed.as_ref());
        ikm.extend_from_slice(&self.public_raw);
        let okm = hkdf_sha256(&ikm, &[], &[context], 32)?;
        let pair = Ed25519KeyPair::from_seed_unchecked(okm.expose()).map_err(rejected)?;
        let public_raw = pair.public_key().as_ref().to_vec();
        Ok(SigningKey {
            alg: SigningAlgorithm::Ed25519,
            inner: Inner::Ed25519(pair),
            public_raw,
        })
    }

    /// RSA-OAEP (SHA-256, MGF1-SHA-256, no label) encryption with the public half.
    ///
    /// # Errors
    /// [`TransitCryptoError::Unsupported`] for non-RSA keys, [`TransitCryptoError::BadInput`]
    /// for a plaintext longer than the key allows.
    pub fn rsa_oaep_encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let Inner::Rsa(r) = &self.inner else {
            return Err(TransitCryptoError::unsupported("not an RSA key"));
        };
        let max = r.encrypt.max_plaintext_size(&OAEP_SHA256_MGF1SHA256);
        if plaintext.len() > max {
            return Err(TransitCryptoError::bad_input(format!(
                "plaintext too long for RSA-OAEP with this key: {} bytes, at most {max}",
                plaintext.len()
            )));
        }
        let mut out = vec![0u8; r.encrypt.ciphertext_size()];
        let n = r
            .encrypt
            .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
            .map_err(internal("rsa encryption failed"))?
            .len();
        out.truncate(n);
        Ok(out)
    }

    /// RSA-OAEP (SHA-256) decryption.
    ///
    /// # Errors
    /// [`TransitCryptoError::Unsupported`] for non-RSA keys,
    /// [`TransitCryptoError::AuthenticationFailed`] for a ciphertext that does not decrypt.
    pub fn rsa_oaep_decrypt(&self, ciphertext: &[u8]) -> Result<SecretBytes> {
        let Inner::Rsa(r) = &self.inner else {
            return Err(TransitCryptoError::unsupported("not an RSA key"));
        };
        let mut out = Zeroizing::new(vec![0u8; r.decrypt.min_output_size()]);
        let n = r
            .decrypt
            .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, None)
            .map_err(|_| TransitCryptoError::AuthenticationFailed)?
            .len();
        out.truncate(n);
        Ok(SecretBytes::new(std::mem::take(&mut *out)))
    }
}

fn ecdsa_verify_alg(
    alg: SigningAlgorithm,
    enc: EcdsaEncoding,
) -> &'static EcdsaVerificationAlgorithm {
    match (alg, enc) {
        (SigningAlgorithm::EcdsaP384, EcdsaEncoding::Asn1) => &signature::ECDSA_P384_SHA384_ASN1,
        (SigningAlgorithm::EcdsaP384, EcdsaEncoding::Fixed) => &signature::ECDSA_P384_SHA384_FIXED,
        (_, EcdsaEncoding::Asn1) => &signature::ECDSA_P256_SHA256_ASN1,
        (_, EcdsaEncoding::Fixed) => &signature::ECDSA_P256_SHA256_FIXED,
    }
}

/// Verifies `sig` over `input` with a public key in the form of
/// [`SigningKey::public_key_raw`] (ECDSA and RSA also accept X.509 `SubjectPublicKeyInfo`
/// DER). A signature that does not verify is `Ok(false)`.
///
/// # Errors
/// [`TransitCryptoError::Unsupported`] for a hash the key type cannot use,
/// [`TransitCryptoError::BadInput`] for a prehashed input of the wrong length.
pub fn verify_with_public_key(
    alg: SigningAlgorithm,
    public: &[u8],
    input: &[u8],
    sig: &[u8],
    opts: &SignOptions,
) -> Result<bool> {
    Ok(match alg {
        SigningAlgorithm::Ed25519 => UnparsedPublicKey::new(&signature::ED25519, public)
            .verify(input, sig)
            .is_ok(),
        SigningAlgorithm::MlDsa65 => UnparsedPublicKey::new(&signature::ML_DSA_65, public)
            .verify(input, sig)
            .is_ok(),
        SigningAlgorithm::EcdsaP256 | SigningAlgorithm::EcdsaP384 => {
            let verifier = ecdsa_verify_alg(alg, opts.ecdsa_encoding);
            let key = UnparsedPublicKey::new(verifier, public);
            let (native, _) = ecdsa_curve(alg);
            if !opts.prehashed && opts.hash == native {
                key.verify(input, sig).is_ok()
            } else {
                let digest = if opts.prehashed {
                    input.to_vec()
                } else {
                    opts.hash.digest(input)
                };
                key.verify_digest(&ecdsa_digest(alg, &digest)?, sig).is_ok()
            }
        }
        SigningAlgorithm::Rsa2048 | SigningAlgorithm::Rsa3072 | SigningAlgorithm::Rsa4096 => {
            let params = rsa_verify_params(opts)?;
            let digest = if opts.prehashed {
                Some(prehashed_digest(opts.hash, input)?)
            } else {
                None
            };
            params.into_iter().any(|p| {
                let alg: &'static dyn VerificationAlgorithm = p;
                let key = UnparsedPublicKey::new(alg, public);
                match &digest {
                    Some(d) => key.verify_digest(d, sig).is_ok(),
                    None => key.verify(input, sig).is_ok(),
                }
            })
        }
    })
}

#[cfg(test)]
mod tests;
