//! `sign/:name[/:hash_algorithm]` and `verify/:name[/:hash_algorithm]` (signatures; HMAC
//! verification is routed to [`super::hmac`]).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use coffre_crypto::{
    EcdsaEncoding, HashAlgorithm, PssSaltLength, RsaPadding, SignOptions, SigningKey,
};
use serde_json::{Map, Value, json};

use super::batch::{self, Outcome, b64, b64_any, parse_versioned, reference, versioned};
use super::crypt::TOO_OLD;
use super::policy::{Key, KeyType, crypto_err};
use super::store::Shared;
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields::{opt_bool, opt_str, opt_string_lenient};
use crate::request::Response;

/// The signing options of a request, resolved against the key.
struct Params {
    opts: SignOptions,
    /// `marshaling_algorithm=jws`: fixed-width ECDSA and URL-safe unpadded base64.
    jws: bool,
}

fn params(key: &Key, url_algorithm: Option<&str>, data: &Map<String, Value>) -> Result<Params> {
    let name = match url_algorithm {
        Some(a) => a.to_string(),
        None => ["hash_algorithm", "algorithm"]
            .iter()
            .find_map(|f| opt_str(data, f).ok().flatten().filter(|s| !s.is_empty()))
            .unwrap_or("sha2-256")
            .to_string(),
    };
    let prehashed = opt_bool(data, "prehashed")?.unwrap_or(false);
    let sig_alg = opt_str(data, "signature_algorithm")?.unwrap_or("");
    if name == "none" && (!prehashed || sig_alg != "pkcs1v15") {
        return Err(Error::invalid(
            "hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15",
        ));
    }
    let hashes_input = key.kind.signing().is_some_and(|a| a.hashes_input());
    let hash = match HashAlgorithm::from_name(&name) {
        Some(h) => h,
        None if name == "sha3-224" || name == "none" => {
            if hashes_input {
                return Err(Error::invalid(format!(
                    "hash algorithm {name} is not supported by this server"
                )));
            }
            HashAlgorithm::Sha2_256
        }
        None => return Err(Error::invalid(format!("invalid hash algorithm {name:?}"))),
    };
    let marshaling = opt_str(data, "marshaling_algorithm")?.unwrap_or("asn1");
    let jws = match marshaling {
        "" | "asn1" => false,
        "jws" => true,
        other => return Err(Error::invalid(format!("invalid marshaling type {other:?}"))),
    };
    let rsa_padding = match sig_alg {
        "" | "pss" => RsaPadding::Pss,
        "pkcs1v15" => RsaPadding::Pkcs1v15,
        other if key.kind.is_rsa() => {
            return Err(Error::invalid(format!(
                "unsupported rsa signature algorithm {other}"
            )));
        }
        _ => RsaPadding::Pss,
    };
    let pss_salt = salt_length(key, hash, data)?;
    Ok(Params {
        opts: SignOptions {
            hash,
            prehashed,
            rsa_padding,
            ecdsa_encoding: if jws {
                EcdsaEncoding::Fixed
            } else {
                EcdsaEncoding::Asn1
            },
            pss_salt,
        },
        jws,
    })
}

/// `salt_length`: `auto` (Go's 0), `hash` (Go's -1) or a byte count, which must be the digest
/// length or the largest the key allows (the two lengths `aws-lc-rs` offers).
fn salt_length(key: &Key, hash: HashAlgorithm, data: &Map<String, Value>) -> Result<PssSaltLength> {
    let raw = opt_string_lenient(data, "salt_length")?.unwrap_or_else(|| "auto".into());
    let n: i64 = match raw.as_str() {
        "" | "auto" => return Ok(PssSaltLength::Auto),
        "hash" => return Ok(PssSaltLength::Digest),
        s => s.trim().parse().map_err(|_| {
            Error::invalid(format!(
                "salt length must be \"auto\", \"hash\" or an integer, got {s:?}"
            ))
        })?,
    };
    match n {
        0 => return Ok(PssSaltLength::Auto),
        -1 => return Ok(PssSaltLength::Digest),
        n if n < -1 => return Err(Error::invalid(format!("salt length {n} is invalid"))),
        _ => {}
    }
    if !key.kind.is_rsa() {
        return Ok(PssSaltLength::Auto);
    }
    let modulus = match key.kind {
        KeyType::Rsa2048 => 256,
        KeyType::Rsa3072 => 384,
        _ => 512,
    };
    let hlen = i64::try_from(hash.output_len()).unwrap_or(64);
    if n == hlen {
        Ok(PssSaltLength::Digest)
    } else if n == modulus - 2 - hlen {
        Ok(PssSaltLength::Max)
    } else {
        Err(Error::invalid(format!(
            "requested salt length {n} is not supported: use {hlen} (the digest length) or {} (the maximum)",
            modulus - 2 - hlen
        )))
    }
}

fn encode(sig: &[u8], jws: bool) -> String {
    if jws {
        URL_SAFE_NO_PAD.encode(sig)
    } else {
        STANDARD.encode(sig)
    }
}

/// The key to use for one item: the version's, or the per-context derived Ed25519 key.
enum Signer<'a> {
    Stored(&'a SigningKey),
    Derived(Box<SigningKey>),
}

impl Signer<'_> {
    fn key(&self) -> &SigningKey {
        match self {
            Signer::Stored(k) => k,
            Signer::Derived(k) => k,
        }
    }
}

fn signer<'a>(key: &'a Key, ver: u32, item: &Map<String, Value>) -> Result<Signer<'a>> {
    let version = key.version(ver)?;
    let k = version
        .signing()
        .ok_or_else(|| Error::Internal("signing key without signing material".into()))?;
    if key.config.derived {
        let context = match opt_str(item, "context")? {
            None | Some("") => Vec::new(),
            Some(s) => {
                b64(s, "context").map_err(|_| Error::invalid("failed to base64-decode context"))?
            }
        };
        return Ok(Signer::Derived(Box::new(
            k.derive_ed25519(&context).map_err(crypto_err)?,
        )));
    }
    Ok(Signer::Stored(k))
}

fn signing_key(
    key: Option<std::sync::Arc<Key>>,
    missing: &str,
    verb: &str,
) -> Result<std::sync::Arc<Key>> {
    let key = key.ok_or_else(|| Error::invalid(missing))?;
    if !key.kind.supports_signing() {
        return Err(Error::invalid(format!(
            "key type {} does not support {verb}",
            key.kind.as_str()
        )));
    }
    Ok(key)
}

/// `POST sign/:name[/:hash_algorithm]`.
pub(super) async fn sign(
    shared: &Shared,
    view: &View,
    name: &str,
    url_algorithm: Option<&str>,
    data: &Map<String, Value>,
) -> Result<Response> {
    let key = signing_key(
        shared.load(view, name).await?,
        "signing key not found",
        "signing",
    )?;
    let p = params(&key, url_algorithm, data)?;
    let requested = batch::key_version(data)?;
    let ver = match requested {
        0 => key.latest(),
        n if n < 0 => return Err(Error::invalid("requested version for signing is negative")),
        n if n > i64::from(key.latest()) => {
            return Err(Error::invalid(
                "requested version for signing is higher than the latest key version",
            ));
        }
        n if key.config.min_encryption_version > 0
            && n < i64::from(key.config.min_encryption_version) =>
        {
            return Err(Error::invalid(
                "requested version for signing is less than the minimum encryption key version",
            ));
        }
        n => u32::try_from(n).map_err(|_| Error::invalid("invalid key version"))?,
    };
    let sign_one = |item: &Map<String, Value>, single: bool| -> Result<(String, Option<Vec<u8>>)> {
        let input = match opt_str(item, "input")? {
            Some(s) => b64(s, "input")?,
            None if single => Vec::new(),
            None => return Err(Error::invalid("missing input")),
        };
        let s = signer(&key, ver, item)?;
        let sig = s.key().sign(&input, &p.opts).map_err(crypto_err)?;
        let public = matches!(s, Signer::Derived(_)).then(|| s.key().public_key_raw().to_vec());
        Ok((versioned(ver, &encode(&sig, p.jws)), public))
    };

    let mut out = Map::new();
    match batch::items(data)? {
        None => {
            let (sig, public) = sign_one(data, true)?;
            out.insert("signature".into(), json!(sig));
            out.insert("key_version".into(), json!(ver));
            if let Some(pk) = public {
                out.insert("public_key".into(), json!(STANDARD.encode(pk)));
            }
        }
        Some(items) => {
            let mut outcome = Outcome::default();
            let results: Vec<Value> = items
                .iter()
                .map(|item| {
                    let mut r = Map::new();
                    match sign_one(item, false) {
                        Ok((sig, public)) => {
                            r.insert("signature".into(), json!(sig));
                            r.insert("key_version".into(), json!(ver));
                            if let Some(pk) = public {
                                r.insert("publickey".into(), json!(STANDARD.encode(pk)));
                            }
                        }
                        Err(e) => {
                            r.insert("error".into(), json!(outcome.fail(&e)));
                        }
                    }
                    r.insert("reference".into(), reference(item));
                    Value::Object(r)
                })
                .collect();
            out.insert("batch_results".into(), Value::Array(results));
        }
    }
    Ok(Response::with_data(out))
}

/// Which of `signature`/`hmac` the request verifies.
enum Verifies {
    Signature,
    Hmac,
}

fn what_to_verify(data: &Map<String, Value>) -> Result<Verifies> {
    let has = |m: &Map<String, Value>, f: &str| !matches!(m.get(f), None | Some(Value::Null));
    match batch::items(data)? {
        None => match (has(data, "signature"), has(data, "hmac")) {
            (true, true) => Err(Error::invalid("provide one of 'signature' or 'hmac'")),
            (false, false) => Err(Error::invalid(
                "neither a 'signature' nor an 'hmac' were given to verify",
            )),
            (true, false) => Ok(Verifies::Signature),
            (false, true) => Ok(Verifies::Hmac),
        },
        Some(items) => {
            let sig = items.iter().filter(|i| has(i, "signature")).count();
            let hmac = items
                .iter()
                .filter(|i| !has(i, "signature") && has(i, "hmac"))
                .count();
            let missing = items.len() - sig - hmac;
            match (sig > 0, hmac > 0, missing > 0) {
                (true, true, _) => Err(Error::invalid(
                    "elements of batch_input must all provide 'signature' or all provide 'hmac'",
                )),
                (true, false, true) => Err(Error::invalid(
                    "some elements of batch_input are missing 'signature'",
                )),
                (false, true, true) => Err(Error::invalid(
                    "some elements of batch_input are missing 'hmac'",
                )),
                (false, false, _) => Err(Error::invalid(
                    "no batch_input elements have 'signature' or 'hmac'",
                )),
                (true, false, false) => Ok(Verifies::Signature),
                (false, true, false) => Ok(Verifies::Hmac),
            }
        }
    }
}

fn verify_one(key: &Key, p: &Params, item: &Map<String, Value>, single: bool) -> Result<bool> {
    let input = match opt_str(item, "input")? {
        Some(s) => b64(s, "input")?,
        None if single => Vec::new(),
        None => return Err(Error::invalid("missing input")),
    };
    let sig = opt_str(item, "signature")?.ok_or_else(|| Error::invalid("missing signature"))?;
    let (ver, payload) = parse_versioned(sig, "signature")?;
    if ver > key.latest() {
        return Err(Error::invalid("invalid signature: version is too new"));
    }
    if key.config.min_decryption_version > 0 && ver < key.config.min_decryption_version {
        return Err(Error::invalid(TOO_OLD));
    }
    let raw = if p.jws {
        b64_any(payload, "signature")
    } else {
        STANDARD
            .decode(payload)
            .map_err(|_| Error::invalid("invalid base64 signature value"))
    }?;
    let s = signer(key, ver, item)?;
    s.key().verify(&input, &raw, &p.opts).map_err(crypto_err)
}

/// `POST verify/:name[/:hash_algorithm]`.
pub(super) async fn verify(
    shared: &Shared,
    view: &View,
    name: &str,
    url_algorithm: Option<&str>,
    data: &Map<String, Value>,
) -> Result<Response> {
    if let Verifies::Hmac = what_to_verify(data)? {
        return super::hmac::verify(shared, view, name, url_algorithm, data).await;
    }
    let key = signing_key(
        shared.load(view, name).await?,
        "signature verification key not found",
        "verification",
    )?;
    let p = params(&key, url_algorithm, data)?;
    let mut out = Map::new();
    match batch::items(data)? {
        None => {
            out.insert("valid".into(), json!(verify_one(&key, &p, data, true)?));
        }
        Some(items) => {
            let mut outcome = Outcome::default();
            let results: Vec<Value> = items
                .iter()
                .map(|item| outcome.verify_item(item, verify_one(&key, &p, item, false)))
                .collect();
            out.insert("batch_results".into(), Value::Array(results));
        }
    }
    Ok(Response::with_data(out))
}
