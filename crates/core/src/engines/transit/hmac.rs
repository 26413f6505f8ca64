//! `hmac/:name[/:algorithm]` and HMAC verification (`verify/:name` with `hmac`).
//!
//! Every key version carries its own HMAC key (for `hmac` keys it is the key itself), so an
//! HMAC never uses encryption or signing key material.

use coffre_crypto::HashAlgorithm;
use serde_json::{Map, Value, json};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::batch::{self, Outcome, b64, parse_versioned, reference, versioned};
use super::policy::{Key, crypto_err};
use super::store::Shared;
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields::opt_str;
use crate::request::Response;

/// The hash named by the URL, else `algorithm`, else sha2-256.
fn algorithm(url: Option<&str>, data: &Map<String, Value>) -> Result<HashAlgorithm> {
    let name = match url {
        Some(a) => a,
        None => opt_str(data, "algorithm")?
            .filter(|s| !s.is_empty())
            .unwrap_or("sha2-256"),
    };
    match HashAlgorithm::from_name(name) {
        Some(
            h @ (HashAlgorithm::Sha2_224
            | HashAlgorithm::Sha2_256
            | HashAlgorithm::Sha2_384
            | HashAlgorithm::Sha2_512),
        ) => Ok(h),
        _ => Err(Error::invalid(format!("unsupported algorithm {name:?}"))),
    }
}

async fn hmac_key(shared: &Shared, view: &View, name: &str) -> Result<std::sync::Arc<Key>> {
    shared
        .load(view, name)
        .await?
        .ok_or_else(|| Error::invalid("encryption key not found"))
}

/// `POST hmac/:name[/:algorithm]`.
pub(super) async fn hmac(
    shared: &Shared,
    view: &View,
    name: &str,
    url_algorithm: Option<&str>,
    data: &Map<String, Value>,
) -> Result<Response> {
    let key = hmac_key(shared, view, name).await?;
    let alg = algorithm(url_algorithm, data)?;
    let requested = batch::key_version(data)?;
    let ver = match requested {
        0 => key.latest(),
        n if n < 0 => {
            return Err(Error::invalid(
                "key version does not exist (cannot be negative)",
            ));
        }
        n if n > i64::from(key.latest()) => {
            return Err(Error::invalid(format!(
                "key version does not exist; latest key version is {}",
                key.latest()
            )));
        }
        n if key.config.min_encryption_version > 0
            && n < i64::from(key.config.min_encryption_version) =>
        {
            return Err(Error::invalid(
                "cannot generate HMAC: version is too old (disallowed by policy)",
            ));
        }
        n => u32::try_from(n).map_err(|_| Error::invalid("invalid key version"))?,
    };
    let version = key.version(ver)?;
    let mac = |input: &str| -> Result<String> {
        let input = b64(input, "input")?;
        let tag = alg
            .hmac(version.hmac_key.expose(), &input)
            .map_err(crypto_err)?;
        Ok(versioned(ver, &STANDARD.encode(tag)))
    };

    let mut out = Map::new();
    match batch::items(data)? {
        None => {
            let input =
                opt_str(data, "input")?.ok_or_else(|| Error::invalid("missing input for HMAC"))?;
            out.insert("hmac".into(), json!(mac(input)?));
        }
        Some(items) => {
            let mut outcome = Outcome::default();
            let results: Vec<Value> = items
                .iter()
                .map(|item| {
                    let mut r = Map::new();
                    let res = opt_str(item, "input").and_then(|i| {
                        i.ok_or_else(|| Error::invalid("missing input for HMAC"))
                            .and_then(mac)
                    });
                    match res {
                        Ok(h) => {
                            r.insert("hmac".into(), json!(h));
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

/// Verifies one `vault:vN:` HMAC over base64 `input`.
fn verify_one(
    key: &Key,
    alg: HashAlgorithm,
    input: Option<&str>,
    hmac: Option<&str>,
) -> Result<bool> {
    let input = b64(
        input.ok_or_else(|| Error::invalid("missing input"))?,
        "input",
    )?;
    let hmac = hmac.ok_or_else(|| Error::invalid("missing hmac"))?;
    let (ver, payload) = parse_versioned(hmac, "HMAC")?;
    let tag = STANDARD.decode(payload).map_err(|e| {
        Error::invalid(format!("unable to decode verification HMAC as base64: {e}"))
    })?;
    if ver > key.latest() {
        return Err(Error::invalid("invalid HMAC: version is too new"));
    }
    if key.config.min_decryption_version > 0 && ver < key.config.min_decryption_version {
        return Err(Error::invalid(
            "cannot verify HMAC: version is too old (disallowed by policy)",
        ));
    }
    let version = key.version(ver)?;
    alg.hmac_verify(version.hmac_key.expose(), &input, &tag)
        .map_err(crypto_err)
}

/// `POST verify/:name` with `hmac` (single or batch).
pub(super) async fn verify(
    shared: &Shared,
    view: &View,
    name: &str,
    url_algorithm: Option<&str>,
    data: &Map<String, Value>,
) -> Result<Response> {
    let key = hmac_key(shared, view, name).await?;
    let alg = algorithm(url_algorithm, data)?;
    let mut out = Map::new();
    match batch::items(data)? {
        None => {
            let valid = verify_one(&key, alg, opt_str(data, "input")?, opt_str(data, "hmac")?)?;
            out.insert("valid".into(), json!(valid));
        }
        Some(items) => {
            let mut outcome = Outcome::default();
            let results: Vec<Value> = items
                .iter()
                .map(|item| {
                    let res = opt_str(item, "input")
                        .and_then(|input| verify_one(&key, alg, input, opt_str(item, "hmac")?));
                    outcome.verify_item(item, res)
                })
                .collect();
            out.insert("batch_results".into(), Value::Array(results));
        }
    }
    Ok(Response::with_data(out))
}
