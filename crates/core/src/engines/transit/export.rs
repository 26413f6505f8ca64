//! `export/:type/:name[/:version]`, `backup/:name` and `restore[/:name]`.
//!
//! Export formats (per version): `encryption-key` — base64 raw key for AES/ChaCha20, PEM
//! PKCS#8 for RSA, base64 `x_sk ‖ dk ‖ ek` for the hybrid key; `signing-key` — base64
//! `seed ‖ public` for Ed25519, PEM `EC PRIVATE KEY` for ECDSA, PEM PKCS#8 for RSA and
//! ML-DSA-65; `hmac-key` — base64; `public-key` — as `keys/:name` shows it.
//!
//! A backup is base64 of the stored JSON of the key (all live versions and settings); it can
//! only be taken of keys that are both `exportable` and `allow_plaintext_backup`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::policy::{EventInfo, Key, Material, StoredKey, crypto_err, valid_name};
use super::store::{Shared, read_stored};
use crate::barrier::View;
use crate::clock::rfc3339_nanos;
use crate::error::{Error, Result};
use crate::fields::{opt_bool, opt_str};
use crate::request::Response;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExportType {
    Encryption,
    Signing,
    Hmac,
    Public,
}

fn export_value(key: &Key, n: u32, what: ExportType) -> Result<Zeroizing<String>> {
    let v = key.version(n)?;
    Ok(match (what, &v.material) {
        (ExportType::Hmac, _) => Zeroizing::new(STANDARD.encode(v.hmac_key.expose())),
        (ExportType::Public, _) => Zeroizing::new(v.public_key.clone().unwrap_or_default()),
        (ExportType::Encryption, Material::Aead(k)) => {
            Zeroizing::new(STANDARD.encode(k.expose_raw()))
        }
        (ExportType::Encryption, Material::Hybrid(k)) => {
            let bytes = k.to_bytes().map_err(crypto_err)?;
            Zeroizing::new(STANDARD.encode(bytes.expose()))
        }
        (ExportType::Encryption | ExportType::Signing, Material::Signing(k)) => {
            k.export_private().map_err(crypto_err)?
        }
        _ => return Err(Error::Internal("export of unsupported material".into())),
    })
}

/// `GET export/:type/:name[/:version]`.
pub(super) async fn export(
    shared: &Shared,
    view: &View,
    export_type: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Option<Response>> {
    let what = match export_type {
        "encryption-key" => ExportType::Encryption,
        "signing-key" => ExportType::Signing,
        "hmac-key" => ExportType::Hmac,
        "public-key" => ExportType::Public,
        other => return Err(Error::invalid(format!("invalid export type: {other}"))),
    };
    let Some(key) = shared.load(view, name).await? else {
        return Ok(None);
    };
    if !key.config.exportable && what != ExportType::Public {
        return Err(Error::invalid("private key material is not exportable"));
    }
    match what {
        ExportType::Encryption if !key.kind.supports_encryption() => {
            return Err(Error::invalid("encryption not supported for the key"));
        }
        ExportType::Signing if !key.kind.supports_signing() => {
            return Err(Error::invalid("signing not supported for the key"));
        }
        ExportType::Public if !key.kind.is_asymmetric() => {
            return Err(Error::invalid(format!(
                "public key export not supported for key type {}",
                key.kind.as_str()
            )));
        }
        _ => {}
    }
    let mut keys = Map::new();
    match version.filter(|v| !v.is_empty()) {
        None => {
            for n in key.versions.keys() {
                keys.insert(n.to_string(), json!(export_value(&key, *n, what)?.as_str()));
            }
        }
        Some(v) => {
            let n = if v == "latest" {
                key.latest()
            } else {
                v.trim_start_matches('v')
                    .parse::<u32>()
                    .map_err(|_| Error::invalid("invalid key version"))?
            };
            if n < key.config.min_decryption_version {
                return Err(Error::invalid(
                    "version for export is below minimum decryption version",
                ));
            }
            if !key.versions.contains_key(&n) {
                return Err(Error::invalid("version does not exist or cannot be found"));
            }
            keys.insert(n.to_string(), json!(export_value(&key, n, what)?.as_str()));
        }
    }
    let mut data = Map::new();
    data.insert("name".into(), json!(key.name()));
    data.insert("type".into(), json!(key.kind.as_str()));
    data.insert("keys".into(), Value::Object(keys));
    Ok(Some(Response::with_data(data)))
}

/// `GET backup/:name`.
pub(super) async fn backup(shared: &Shared, view: &View, name: &str) -> Result<Option<Response>> {
    let _guard = shared.write.lock().await;
    let Some(mut stored) = read_stored(view, name).await? else {
        return Ok(None);
    };
    if !stored.config.exportable {
        return Err(Error::invalid("exporting is disallowed on the policy"));
    }
    if !stored.config.allow_plaintext_backup {
        return Err(Error::invalid(
            "plaintext backup is disallowed on the policy",
        ));
    }
    stored.config.backup_info = Some(EventInfo {
        time: rfc3339_nanos(view.clock().now_unix_nanos()),
        version: stored.config.latest_version,
    });
    let previous = shared.cached(name);
    shared.persist(view, &stored, previous.as_deref()).await?;
    let json = stored.to_json()?;
    let mut data = Map::new();
    data.insert("backup".into(), json!(STANDARD.encode(&*json)));
    Ok(Some(Response::with_data(data)))
}

/// `POST restore[/:name]`.
pub(super) async fn restore(
    shared: &Shared,
    view: &View,
    path_name: Option<&str>,
    data: &Map<String, Value>,
) -> Result<Response> {
    let backup = opt_str(data, "backup")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("'backup' must be supplied"))?;
    let force = opt_bool(data, "force")?.unwrap_or(false);
    let json = Zeroizing::new(
        STANDARD
            .decode(backup.trim())
            .map_err(|e| Error::invalid(format!("failed to decode backup: {e}")))?,
    );
    let mut stored: StoredKey = serde_json::from_slice(&json)
        .map_err(|e| Error::invalid(format!("failed to parse backup: {e}")))?;
    let name = match path_name.or(opt_str(data, "name")?.filter(|s| !s.is_empty())) {
        Some(n) => n.to_string(),
        None => stored.config.name.clone(),
    };
    if !valid_name(&name) {
        return Err(Error::invalid("key names cannot be paths"));
    }
    stored.config.name = name.clone();
    // The backup must describe a usable key.
    Key::build(&stored, None).map_err(|e| Error::invalid(format!("invalid backup: {e}")))?;
    let c = &stored.config;
    if c.latest_version == 0
        || !stored.versions.contains_key(&c.latest_version)
        || stored.versions.keys().any(|v| *v > c.latest_version)
    {
        return Err(Error::invalid("invalid backup: inconsistent key versions"));
    }
    // The same limits as keys created or configured over the API (a restored key with a
    // one-second rotation period would otherwise rotate, and grow, forever).
    super::keys::check_auto_rotate(c.auto_rotate_period)
        .map_err(|e| Error::invalid(format!("invalid backup: {}", e.public_message())))?;
    let _guard = shared.write.lock().await;
    if !force && read_stored(view, &name).await?.is_some() {
        return Err(Error::invalid(format!("key {name:?} already exists")));
    }
    stored.config.restore_info = Some(EventInfo {
        time: rfc3339_nanos(view.clock().now_unix_nanos()),
        version: stored.config.latest_version,
    });
    shared.persist(view, &stored, None).await?;
    Ok(Response::empty())
}
