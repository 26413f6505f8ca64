//! Key lifecycle: `keys` (list), `keys/:name` (create, read, delete), `keys/:name/config`,
//! `keys/:name/rotate`, `keys/:name/trim`, and the auto-rotation pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::batch::opt_b64;
use super::policy::{
    HMAC_MAX_KEY_SIZE, HMAC_MIN_KEY_SIZE, Key, KeyConfig, KeyType, POLICY_PREFIX, StoredKey,
    generate_version,
};
use super::store::{Shared, read_stored};
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields::{opt_bool, opt_duration_secs, opt_i64, opt_str};
use crate::request::Response;

/// Smallest non-zero `auto_rotate_period`.
const MIN_AUTO_ROTATE_SECS: u64 = 3600;

pub(super) fn check_auto_rotate(period: u64) -> Result<()> {
    if period != 0 && period < MIN_AUTO_ROTATE_SECS {
        return Err(Error::invalid(
            "auto rotate period must be 0 to disable or at least an hour",
        ));
    }
    Ok(())
}

/// Generates a version, off the async executor when that takes a while (RSA, ML-DSA, ML-KEM).
pub(super) async fn new_version(
    kind: KeyType,
    key_size: usize,
    now: i64,
) -> Result<super::policy::StoredVersion> {
    if kind.slow_to_generate() {
        tokio::task::spawn_blocking(move || generate_version(kind, key_size, now))
            .await
            .map_err(|e| Error::Internal(format!("key generation task failed: {e}")))?
    } else {
        generate_version(kind, key_size, now)
    }
}

/// Parameters of a new key.
pub(super) struct NewKey {
    pub(super) kind: KeyType,
    pub(super) derived: bool,
    pub(super) convergent: bool,
    pub(super) exportable: bool,
    pub(super) allow_plaintext_backup: bool,
    pub(super) auto_rotate_period: u64,
    pub(super) key_size: usize,
}

impl NewKey {
    pub(super) fn check(&self) -> Result<()> {
        if self.convergent && !self.derived {
            return Err(Error::invalid(
                "convergent encryption requires derivation to be enabled",
            ));
        }
        if self.derived && !self.kind.supports_derivation() {
            return Err(Error::invalid(format!(
                "key derivation and convergent encryption not supported for keys of type {}",
                self.kind.as_str()
            )));
        }
        if self.convergent && self.kind.aead().is_none() {
            return Err(Error::invalid(format!(
                "convergent encryption not supported for keys of type {}",
                self.kind.as_str()
            )));
        }
        check_auto_rotate(self.auto_rotate_period)
    }
}

/// Creates `name` unless it exists. Returns the key and whether it was created.
pub(super) async fn create_key(
    shared: &Shared,
    view: &View,
    name: &str,
    params: NewKey,
) -> Result<(Arc<Key>, bool)> {
    params.check()?;
    let _guard = shared.write.lock().await;
    if let Some(existing) = shared.load(view, name).await? {
        return Ok((existing, false));
    }
    let version = new_version(params.kind, params.key_size, view.clock().now_unix_nanos()).await?;
    let stored = StoredKey {
        config: KeyConfig {
            name: name.to_string(),
            key_type: params.kind.as_str().to_string(),
            derived: params.derived,
            convergent_encryption: params.convergent,
            exportable: params.exportable,
            allow_plaintext_backup: params.allow_plaintext_backup,
            deletion_allowed: false,
            min_decryption_version: 1,
            min_encryption_version: 0,
            min_available_version: 0,
            latest_version: 1,
            auto_rotate_period: params.auto_rotate_period,
            key_size: if params.kind == KeyType::Hmac {
                params.key_size
            } else {
                0
            },
            backup_info: None,
            restore_info: None,
        },
        versions: BTreeMap::from([(1, version)]),
    };
    let key = shared.persist(view, &stored, None).await?;
    Ok((key, true))
}

/// `POST keys/:name`.
pub(super) async fn write(
    shared: &Shared,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let type_str = opt_str(data, "type")?.unwrap_or("aes256-gcm96");
    let kind = KeyType::parse(type_str)
        .ok_or_else(|| Error::invalid(format!("unknown key type {type_str}")))?;
    let key_size = match opt_i64(data, "key_size")?.unwrap_or(0) {
        0 if kind == KeyType::Hmac => HMAC_MIN_KEY_SIZE,
        0 => 0,
        n if kind != KeyType::Hmac => {
            return Err(Error::invalid(format!(
                "key_size is not valid for algorithm {} (got {n})",
                kind.as_str()
            )));
        }
        n => match usize::try_from(n) {
            Ok(n) if (HMAC_MIN_KEY_SIZE..=HMAC_MAX_KEY_SIZE).contains(&n) => n,
            _ => return Err(Error::invalid(format!("invalid key_size {n}"))),
        },
    };
    let params = NewKey {
        kind,
        derived: opt_bool(data, "derived")?.unwrap_or(false),
        convergent: opt_bool(data, "convergent_encryption")?.unwrap_or(false),
        exportable: opt_bool(data, "exportable")?.unwrap_or(false),
        allow_plaintext_backup: opt_bool(data, "allow_plaintext_backup")?.unwrap_or(false),
        auto_rotate_period: opt_duration_secs(data, "auto_rotate_period")?.unwrap_or(0),
        key_size,
    };
    let (key, created) = create_key(shared, view, name, params).await?;
    let mut resp = Response::with_data(key.info(None)?);
    if !created {
        resp.warnings.push(format!("key {name} already existed"));
    }
    Ok(resp)
}

/// `GET keys/:name`.
pub(super) async fn read(
    shared: &Shared,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Option<Response>> {
    let Some(key) = shared.load(view, name).await? else {
        return Ok(None);
    };
    let context = opt_b64(data, "context")?;
    Ok(Some(Response::with_data(key.info(Some(&context))?)))
}

/// `LIST keys`.
pub(super) async fn list(view: &View) -> Result<Option<Response>> {
    let keys: Vec<String> = view
        .list(POLICY_PREFIX)
        .await?
        .into_iter()
        .filter(|k| !k.ends_with('/'))
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let mut data = Map::new();
    data.insert("keys".into(), json!(keys));
    Ok(Some(Response::with_data(data)))
}

/// `DELETE keys/:name`.
pub(super) async fn delete(shared: &Shared, view: &View, name: &str) -> Result<Response> {
    let _guard = shared.write.lock().await;
    let Some(key) = shared.load(view, name).await? else {
        return Err(Error::invalid(format!(
            "error deleting policy {name}: could not delete key; not found"
        )));
    };
    if !key.config.deletion_allowed {
        return Err(Error::invalid(format!(
            "error deleting policy {name}: deletion is not allowed for this key"
        )));
    }
    shared.remove(view, name).await?;
    Ok(Response::empty())
}

fn u32_field(data: &Map<String, Value>, field: &str, what: &str) -> Result<Option<u32>> {
    match opt_i64(data, field)? {
        None => Ok(None),
        Some(n) if n < 0 => Err(Error::invalid(format!("{what} cannot be negative"))),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| Error::invalid(format!("{what} is too large"))),
    }
}

/// Loads a key's stored form for a change, with the write lock held by the caller.
async fn load_for_update(
    view: &View,
    name: &str,
    missing: impl FnOnce() -> Error,
) -> Result<StoredKey> {
    read_stored(view, name).await?.ok_or_else(missing)
}

/// `POST keys/:name/config`.
pub(super) async fn config(
    shared: &Shared,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let _guard = shared.write.lock().await;
    let mut stored = load_for_update(view, name, || {
        Error::invalid(format!("no existing key named {name} could be found"))
    })
    .await?;
    let previous = shared.cached(name);
    let c = &mut stored.config;
    let original = c.clone();
    let mut warnings = Vec::new();

    if let Some(mut min_dec) = u32_field(data, "min_decryption_version", "min decryption version")?
    {
        if min_dec == 0 {
            min_dec = 1;
            warnings.push(
                "since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1"
                    .to_string(),
            );
        }
        if min_dec != c.min_decryption_version {
            if min_dec > c.latest_version {
                return Err(Error::invalid(format!(
                    "cannot set min decryption version of {min_dec}, latest key version is {}",
                    c.latest_version
                )));
            }
            c.min_decryption_version = min_dec;
        }
    }
    if let Some(min_enc) = u32_field(data, "min_encryption_version", "min encryption version")?
        && min_enc != c.min_encryption_version
    {
        if min_enc > c.latest_version {
            return Err(Error::invalid(format!(
                "cannot set min encryption version of {min_enc}, latest key version is {}",
                c.latest_version
            )));
        }
        c.min_encryption_version = min_enc;
    }
    if c.min_encryption_version > 0 && c.min_encryption_version < c.min_decryption_version {
        return Err(Error::invalid(format!(
            "cannot set min encryption/decryption values; min encryption version of {} must be greater than or equal to min decryption version of {}",
            c.min_encryption_version, c.min_decryption_version
        )));
    }
    if let Some(allowed) = opt_bool(data, "deletion_allowed")? {
        c.deletion_allowed = allowed;
    }
    if c.min_decryption_version == 0 {
        c.min_decryption_version = 1;
    }
    // One-way switches: once on, they stay on.
    if opt_bool(data, "exportable")? == Some(true) {
        c.exportable = true;
    }
    if opt_bool(data, "allow_plaintext_backup")? == Some(true) {
        c.allow_plaintext_backup = true;
    }
    if let Some(period) = opt_duration_secs(data, "auto_rotate_period")? {
        check_auto_rotate(period)?;
        c.auto_rotate_period = period;
    }
    if let Some(rotation) = data.get("rotation") {
        c.auto_rotate_period = rotation_period(rotation)?;
    }
    if *c != original {
        if c.min_available_version > c.min_encryption_version {
            return Err(Error::invalid(
                "min encryption version should not be less than min available version",
            ));
        }
        if c.min_available_version > c.min_decryption_version {
            return Err(Error::invalid(
                "min decryption version should not be less then min available version",
            ));
        }
    }
    let key = if *c != original {
        shared.persist(view, &stored, previous.as_deref()).await?
    } else {
        match previous {
            Some(k) => k,
            None => Arc::new(Key::build(&stored, None)?),
        }
    };
    let mut resp = Response::with_data(key.info(None)?);
    resp.warnings = warnings;
    Ok(resp)
}

/// Adds a version to `stored` and persists it. Call with the write lock held.
pub(super) async fn rotate_locked(
    shared: &Shared,
    view: &View,
    mut stored: StoredKey,
) -> Result<Arc<Key>> {
    let kind = stored.key_type()?;
    let next = stored
        .config
        .latest_version
        .checked_add(1)
        .ok_or_else(|| Error::invalid("key version space exhausted"))?;
    let version = new_version(kind, stored.config.key_size, view.clock().now_unix_nanos()).await?;
    stored.versions.insert(next, version);
    stored.config.latest_version = next;
    if stored.config.min_decryption_version == 0 {
        stored.config.min_decryption_version = 1;
    }
    let previous = shared.cached(&stored.config.name);
    shared.persist(view, &stored, previous.as_deref()).await
}

/// `POST keys/:name/rotate`.
pub(super) async fn rotate(shared: &Shared, view: &View, name: &str) -> Result<Response> {
    let _guard = shared.write.lock().await;
    let stored = load_for_update(view, name, || Error::invalid("key not found")).await?;
    let key = rotate_locked(shared, view, stored).await?;
    Ok(Response::with_data(key.info(None)?))
}

/// `POST keys/:name/trim`: permanently deletes versions below `min_available_version`.
pub(super) async fn trim(
    shared: &Shared,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let _guard = shared.write.lock().await;
    let mut stored = load_for_update(view, name, || Error::invalid("invalid key name")).await?;
    let Some(min_available) = opt_i64(data, "min_available_version")? else {
        return Err(Error::invalid("missing min_available_version"));
    };
    let c = &stored.config;
    let msg = if min_available < i64::from(c.min_available_version) {
        Some("minimum available version cannot be decremented")
    } else if c.min_encryption_version == 0 {
        Some("minimum available version cannot be set when minimum encryption version is not set")
    } else if c.min_decryption_version == 0 {
        Some("minimum available version cannot be set when minimum decryption version is not set")
    } else if min_available > i64::from(c.min_encryption_version) {
        Some("minimum available version cannot be greater than minmum encryption version")
    } else if min_available > i64::from(c.min_decryption_version) {
        Some("minimum available version cannot be greater than minimum decryption version")
    } else if min_available < 0 {
        Some("minimum available version cannot be negative")
    } else if min_available == 0 {
        Some("minimum available version should be positive")
    } else {
        None
    };
    if let Some(msg) = msg {
        return Err(Error::invalid(msg));
    }
    let min_available = u32::try_from(min_available)
        .map_err(|_| Error::invalid("minimum available version is too large"))?;
    let previous = shared.cached(name);
    let key = if min_available != stored.config.min_available_version {
        stored.versions.retain(|v, _| *v >= min_available);
        stored.config.min_available_version = min_available;
        shared.persist(view, &stored, previous.as_deref()).await?
    } else {
        match previous {
            Some(k) => k,
            None => Arc::new(Key::build(&stored, None)?),
        }
    };
    Ok(Response::with_data(key.info(None)?))
}

/// A rotation policy given to a transit key (`rotation`: a preset's name or `{period}`, as for
/// KV v2 secrets), mapped onto `auto_rotate_period`; `null` turns rotation off. A transit key
/// keeps its old versions for decryption, so every rotation is already two-phase: strategy,
/// grace and generator do not apply and are refused, as is a notice (transit announces no
/// due-soon event yet).
fn rotation_period(value: &Value) -> Result<u64> {
    if let Value::Object(m) = value
        && let Some(member) = m
            .keys()
            .find(|k| !matches!(k.as_str(), "preset" | "period"))
    {
        return Err(Error::invalid(format!(
            "invalid rotation policy: {member}: a transit key takes only preset and period (its \
             old versions keep decrypting, so every rotation is already two-phase)"
        )));
    }
    let Some(policy) = crate::rotation::policy::RotationPolicy::from_json(value)? else {
        return Ok(0);
    };
    check_auto_rotate(policy.period)?;
    Ok(policy.period)
}
