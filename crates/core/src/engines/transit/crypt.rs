//! `encrypt/:name`, `decrypt/:name`, `rewrap/:name` and `datakey/:type/:name`.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffre_crypto::transit::symmetric::random_secret;
use coffre_crypto::{HashAlgorithm, SecretBytes};
use serde_json::{Map, Value, json};

use super::batch::{self, Outcome, b64, opt_b64, parse_versioned, reference, versioned};
use super::keys::{NewKey, create_key};
use super::policy::{Key, KeyType, Material, crypto_err};
use super::store::Shared;
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields::{opt_bool, opt_i64, opt_str};
use crate::request::{Operation, Response};

/// Vault's message for ciphertexts below `min_decryption_version`.
pub(super) const TOO_OLD: &str =
    "ciphertext or signature version is disallowed by policy (too old)";

/// The version to encrypt with: 0 means latest.
fn encrypt_version(key: &Key, requested: i64) -> Result<u32> {
    let latest = key.latest();
    if requested == 0 {
        return Ok(latest);
    }
    if requested < 0 {
        return Err(Error::invalid(
            "requested version for encryption is negative",
        ));
    }
    if requested > i64::from(latest) {
        return Err(Error::invalid(
            "requested version for encryption is higher than the latest key version",
        ));
    }
    if requested < i64::from(key.config.min_encryption_version) {
        return Err(Error::invalid(
            "requested version for encryption is less than the minimum encryption key version",
        ));
    }
    u32::try_from(requested).map_err(|_| Error::invalid("invalid key version"))
}

/// Encrypts `plaintext`; returns `vault:vN:<base64>` and N.
pub(super) fn encrypt_raw(
    key: &Key,
    requested_version: i64,
    plaintext: &[u8],
    context: &[u8],
    aad: &[u8],
) -> Result<(String, u32)> {
    let ver = encrypt_version(key, requested_version)?;
    let v = key.version(ver)?;
    let sealed = match &v.material {
        Material::Aead(k) if key.config.derived => {
            let convergent = key.config.convergent_encryption;
            let (derived, nonce_key) = k
                .derive(context, if convergent { 32 } else { 0 })
                .map_err(crypto_err)?;
            if convergent {
                // Vault's convergent encryption (version 3): the nonce is an HMAC under a
                // second derived key, so equal inputs give equal ciphertexts. The associated
                // data is part of the HMAC input (length-prefixed): with the plaintext alone,
                // the same plaintext under different AAD would reuse a GCM nonce with different
                // AAD, which leaks the GHASH key and allows forgeries.
                let mut input = Vec::with_capacity(8 + aad.len() + plaintext.len());
                input.extend_from_slice(&(aad.len() as u64).to_be_bytes());
                input.extend_from_slice(aad);
                input.extend_from_slice(plaintext);
                let mac = HashAlgorithm::Sha2_256
                    .hmac(nonce_key.expose(), &input)
                    .map_err(crypto_err)?;
                let mut nonce = [0u8; 12];
                nonce.copy_from_slice(&mac[..12]);
                derived.seal_with_nonce(&nonce, aad, plaintext)
            } else {
                derived.seal(aad, plaintext)
            }
        }
        Material::Aead(k) => k.seal(aad, plaintext),
        Material::Signing(k) if key.kind.is_rsa() => k.rsa_oaep_encrypt(plaintext),
        Material::Hybrid(k) => k.seal(aad, plaintext),
        _ => {
            return Err(Error::invalid(format!(
                "message encryption not supported for key type {}",
                key.kind.as_str()
            )));
        }
    }
    .map_err(crypto_err)?;
    Ok((versioned(ver, &STANDARD.encode(sealed)), ver))
}

/// Decrypts a `vault:vN:` ciphertext.
pub(super) fn decrypt_raw(
    key: &Key,
    ciphertext: &str,
    context: &[u8],
    aad: &[u8],
) -> Result<SecretBytes> {
    let (ver, payload) = parse_versioned(ciphertext, "ciphertext")?;
    if ver > key.latest() {
        return Err(Error::invalid("invalid ciphertext: version is too new"));
    }
    if key.config.min_decryption_version > 0 && ver < key.config.min_decryption_version {
        return Err(Error::invalid(TOO_OLD));
    }
    let v = key.version(ver)?;
    let data = STANDARD
        .decode(payload)
        .map_err(|_| Error::invalid("invalid ciphertext: could not decode base64"))?;
    match &v.material {
        Material::Aead(k) if key.config.derived => {
            k.derive(context, 0).and_then(|(d, _)| d.open(aad, &data))
        }
        Material::Aead(k) => k.open(aad, &data),
        Material::Signing(k) if key.kind.is_rsa() => k.rsa_oaep_decrypt(&data),
        Material::Hybrid(k) => k.open(aad, &data),
        _ => {
            return Err(Error::invalid(format!(
                "message decryption not supported for key type {}",
                key.kind.as_str()
            )));
        }
    }
    .map_err(crypto_err)
}

/// A request's items, borrowed (single request) or parsed from `batch_input`.
pub(super) type Items<'a> = Cow<'a, [Map<String, Value>]>;

/// The request's items: `batch_input`, or the request itself as one item (which must carry
/// `required`). The flag tells whether it was a batch.
pub(super) fn inputs<'a>(
    data: &'a Map<String, Value>,
    required: &str,
    missing: &str,
) -> Result<(Items<'a>, bool)> {
    match batch::items(data)? {
        Some(items) => Ok((Cow::Owned(items), true)),
        None => {
            if opt_str(data, required)?.is_none() {
                return Err(Error::invalid(missing));
            }
            Ok((Cow::Borrowed(std::slice::from_ref(data)), false))
        }
    }
}

fn has_context(item: &Map<String, Value>) -> bool {
    matches!(item.get("context"), Some(Value::String(s)) if !s.is_empty())
}

fn check_contexts(items: &[Map<String, Value>]) -> Result<bool> {
    let first = items.first().is_some_and(has_context);
    if items.iter().any(|i| has_context(i) != first) {
        return Err(Error::invalid(
            "context should be set either in all the request blocks or in none",
        ));
    }
    Ok(first)
}

fn check_aad(key: &Key, index: usize, aad: &[u8]) -> Result<()> {
    if !aad.is_empty() && !key.kind.supports_associated_data() {
        return Err(Error::invalid(format!(
            "'[{index}].associated_data' provided for non-AEAD cipher suite {}",
            key.kind.as_str()
        )));
    }
    Ok(())
}

fn check_no_nonce(item: &Map<String, Value>) -> Result<()> {
    if !opt_b64(item, "nonce")?.is_empty() {
        return Err(Error::invalid("nonce provided when not allowed"));
    }
    Ok(())
}

/// Runs `f` over the items and shapes the response: batch results (with `reference` and
/// per-item `error`, plus the `empty_on_error` fields as `""`, as Vault's decrypt items keep
/// `plaintext`) or the single item's fields; a single item's error is the request's.
fn respond<F>(
    items: &[Map<String, Value>],
    batch: bool,
    data: &Map<String, Value>,
    empty_on_error: &[&str],
    mut f: F,
) -> Result<Response>
where
    F: FnMut(usize, &Map<String, Value>) -> Result<Map<String, Value>>,
{
    if !batch {
        let out = f(0, &items[0])?;
        return Ok(Response::with_data(out));
    }
    let mut outcome = Outcome::default();
    let results: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut out = match f(i, item) {
                Ok(out) => {
                    outcome.success = true;
                    out
                }
                Err(e) => {
                    let mut m = Map::new();
                    m.insert("error".into(), json!(outcome.fail(&e)));
                    for field in empty_on_error {
                        m.insert((*field).into(), json!(""));
                    }
                    m
                }
            };
            out.insert("reference".into(), reference(item));
            Value::Object(out)
        })
        .collect();
    let mut resp_data = Map::new();
    resp_data.insert("batch_results".into(), Value::Array(results));
    let mut resp = Response::with_data(resp_data);
    outcome.apply(data, &mut resp)?;
    Ok(resp)
}

fn ciphertext_fields(ciphertext: String, ver: u32) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ciphertext".into(), json!(ciphertext));
    m.insert("key_version".into(), json!(ver));
    m
}

/// `POST encrypt/:name`. A `Create` operation (the key does not exist and the caller may
/// create it) creates the key first (upsert).
pub(super) async fn encrypt(
    shared: &Shared,
    view: &View,
    name: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Response> {
    let (items, batch) = inputs(data, "plaintext", "missing plaintext to encrypt")?;
    let context_set = check_contexts(&items)?;
    let (key, created) = match shared.load(view, name).await? {
        Some(k) => (k, false),
        None if op == Operation::Create => upsert(shared, view, name, data, context_set).await?,
        None => return Err(Error::invalid("encryption key not found")),
    };
    if !key.kind.supports_encryption() {
        return Err(Error::invalid(format!(
            "message encryption not supported for key type {}",
            key.kind.as_str()
        )));
    }
    let mut resp = respond(&items, batch, data, &[], |i, item| {
        let plaintext = SecretBytes::new(opt_b64(item, "plaintext")?);
        let context = opt_b64(item, "context")?;
        let aad = opt_b64(item, "associated_data")?;
        check_aad(&key, i, &aad)?;
        check_no_nonce(item)?;
        let (ct, ver) = encrypt_raw(
            &key,
            batch::key_version(item)?,
            plaintext.expose(),
            &context,
            &aad,
        )?;
        Ok(ciphertext_fields(ct, ver))
    })?;
    if op == Operation::Create && !created {
        resp.warnings.push(
            "Attempted creation of the key during the encrypt operation, but it was created beforehand"
                .into(),
        );
    }
    Ok(resp)
}

async fn upsert(
    shared: &Shared,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
    context_set: bool,
) -> Result<(Arc<Key>, bool)> {
    let type_str = opt_str(data, "type")?.unwrap_or("aes256-gcm96");
    let kind = KeyType::parse(type_str)
        .ok_or_else(|| Error::invalid(format!("unknown key type {type_str}")))?;
    if kind.aead().is_none() {
        return Err(Error::invalid(format!(
            "key type {type_str} not supported for this operation"
        )));
    }
    let convergent = opt_bool(data, "convergent_encryption")?.unwrap_or(false);
    if convergent && !context_set {
        return Err(Error::invalid(
            "convergent encryption requires derivation to be enabled, so context is required",
        ));
    }
    create_key(
        shared,
        view,
        name,
        NewKey {
            kind,
            derived: context_set,
            convergent,
            exportable: false,
            allow_plaintext_backup: false,
            auto_rotate_period: 0,
            key_size: 0,
        },
    )
    .await
}

async fn key_for_decryption(shared: &Shared, view: &View, name: &str) -> Result<Arc<Key>> {
    let key = shared
        .load(view, name)
        .await?
        .ok_or_else(|| Error::invalid("encryption key not found"))?;
    if !key.kind.supports_encryption() {
        return Err(Error::invalid(format!(
            "message decryption not supported for key type {}",
            key.kind.as_str()
        )));
    }
    Ok(key)
}

fn required_str<'a>(item: &'a Map<String, Value>, field: &str, missing: &str) -> Result<&'a str> {
    match opt_str(item, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::invalid(missing)),
    }
}

/// Decrypts item `i` of a decrypt or rewrap request; also returns its context and associated
/// data, which a rewrap reuses.
fn open_item(
    key: &Key,
    i: usize,
    item: &Map<String, Value>,
) -> Result<(SecretBytes, Vec<u8>, Vec<u8>)> {
    let ct = required_str(item, "ciphertext", "missing ciphertext to decrypt")?;
    let context = opt_b64(item, "context")?;
    let aad = opt_b64(item, "associated_data")?;
    check_aad(key, i, &aad)?;
    let plain = decrypt_raw(key, ct, &context, &aad)?;
    Ok((plain, context, aad))
}

/// `POST decrypt/:name`.
pub(super) async fn decrypt(
    shared: &Shared,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let (items, batch) = inputs(data, "ciphertext", "missing ciphertext to decrypt")?;
    check_contexts(&items)?;
    let key = key_for_decryption(shared, view, name).await?;
    respond(&items, batch, data, &["plaintext"], |i, item| {
        let (plain, _, _) = open_item(&key, i, item)?;
        let mut m = Map::new();
        m.insert("plaintext".into(), json!(STANDARD.encode(plain.expose())));
        Ok(m)
    })
}

/// `POST rewrap/:name`: decrypts and re-encrypts with the latest (or requested) version; the
/// plaintext never leaves the server.
pub(super) async fn rewrap(
    shared: &Shared,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let (items, batch) = inputs(data, "ciphertext", "missing ciphertext to decrypt")?;
    check_contexts(&items)?;
    let key = key_for_decryption(shared, view, name).await?;
    respond(&items, batch, data, &[], |i, item| {
        let (plain, context, aad) = open_item(&key, i, item)?;
        let (ct, ver) = encrypt_raw(
            &key,
            batch::key_version(item)?,
            plain.expose(),
            &context,
            &aad,
        )?;
        Ok(ciphertext_fields(ct, ver))
    })
}

/// `POST datakey/:kind/:name`: a fresh random key, returned encrypted (and in the clear for
/// `plaintext`).
pub(super) async fn datakey(
    shared: &Shared,
    view: &View,
    kind: &str,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let with_plaintext = match kind {
        "plaintext" => true,
        "wrapped" => false,
        _ => {
            return Err(Error::invalid(
                "Invalid path, must be 'plaintext' or 'wrapped'",
            ));
        }
    };
    let context = match opt_str(data, "context")? {
        None | Some("") => Vec::new(),
        Some(s) => {
            b64(s, "context").map_err(|_| Error::invalid("failed to base64-decode context"))?
        }
    };
    check_no_nonce(data)?;
    let key = shared
        .load(view, name)
        .await?
        .ok_or_else(|| Error::invalid("encryption key not found"))?;
    if !key.kind.supports_encryption() {
        return Err(Error::invalid(format!(
            "message encryption not supported for key type {}",
            key.kind.as_str()
        )));
    }
    let bits = opt_i64(data, "bits")?.unwrap_or(256);
    let len = match bits {
        128 | 256 | 512 => usize::try_from(bits / 8).unwrap_or(32),
        _ => return Err(Error::invalid("invalid bit length")),
    };
    let aad = opt_b64(data, "associated_data")?;
    if !aad.is_empty() && !key.kind.supports_associated_data() {
        return Err(Error::invalid(format!(
            "'associated_data' provided for non-AEAD cipher suite {}",
            key.kind.as_str()
        )));
    }
    let new_key = random_secret(len).map_err(crypto_err)?;
    let (ct, ver) = encrypt_raw(
        &key,
        batch::key_version(data)?,
        new_key.expose(),
        &context,
        &aad,
    )?;
    let mut m = ciphertext_fields(ct, ver);
    if with_plaintext {
        m.insert("plaintext".into(), json!(STANDARD.encode(new_key.expose())));
    }
    Ok(Response::with_data(m))
}
