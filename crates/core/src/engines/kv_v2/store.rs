//! KV v2 storage model, the per-key lock table and small formatting helpers.
//!
//! Layout inside the mount's [`View`] (every value is JSON, encrypted by the barrier):
//!
//! | Key | Value |
//! |---|---|
//! | `config` | [`Config`] (mount-wide settings) |
//! | `meta/<key>` | [`KeyMeta`] (settings, custom metadata and the version list of one secret) |
//! | `meta/<key>\u{1}<n>` | the data object of version `n` of `<key>` |
//!
//! `meta/` mirrors the secret hierarchy, so `metadata/` listing is a one-level storage list
//! (with the version blobs filtered out). A version blob sits right after its secret's
//! metadata in the ordered store, because `\u{1}` sorts below every character a key can hold
//! (request paths refuse control characters): a write, which stores both in one batch, dirties
//! one B-tree leaf instead of two. Writes store the new version blob and the metadata that
//! makes it visible atomically. The price is on listings: the storage list steps over each
//! version blob before the filter drops it (at most `max_versions` per key).
//!
//! Stores from before this layout kept blobs at `versions/<key>/<n>`;
//! [`migrate_legacy_versions`] moves them on a mount's first request in a process.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::barrier::View;
use crate::clock::rfc3339_nanos;
use crate::error::{Error, Result};
use crate::rotation::policy::RotationPolicy;
use crate::rotation::schedule::RotationState;

const CONFIG_KEY: &str = "config";
const META_PREFIX: &str = "meta/";
/// Between a secret's key and a version number in a version blob's storage key.
const VERSION_SEP: char = '\u{1}';

/// Vault keeps this many versions when neither the key nor the mount says otherwise.
pub(super) const DEFAULT_MAX_VERSIONS: u32 = 10;

const NANOS: i64 = 1_000_000_000;

/// Mount-wide settings (`<mount>/config`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Config {
    /// 0 means the default ([`DEFAULT_MAX_VERSIONS`]).
    pub max_versions: u32,
    /// Every write must carry `options.cas`.
    pub cas_required: bool,
    /// Seconds; 0 = not set, negative = disabled for every key of the mount.
    pub delete_version_after: i64,
}

/// What the metadata records about one version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct VersionMeta {
    /// Unix nanoseconds.
    pub created_time: i64,
    /// Unix nanoseconds; the version reads as deleted once this is in the past.
    pub deletion_time: Option<i64>,
    /// The data is gone for good.
    pub destroyed: bool,
}

impl VersionMeta {
    /// Soft-deleted as of `now` (a deletion time in the future is only scheduled).
    pub fn is_deleted(&self, now: i64) -> bool {
        self.deletion_time.is_some_and(|t| t < now)
    }

    /// Readable: neither destroyed nor deleted.
    pub fn is_live(&self, now: i64) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }

    /// `{created_time, deletion_time, destroyed}` as Vault prints them.
    pub fn times_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "created_time".into(),
            fmt_time(Some(self.created_time)).into(),
        );
        m.insert("deletion_time".into(), fmt_time(self.deletion_time).into());
        m.insert("destroyed".into(), self.destroyed.into());
        m
    }
}

/// Everything about one secret except its data.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct KeyMeta {
    /// Highest version ever written (0 = none yet).
    pub current_version: u64,
    /// Vault's sliding-window marker: 0 until pruning first happens.
    pub oldest_version: u64,
    /// 0 = use the mount setting.
    pub max_versions: u32,
    /// Writes to this key must carry `options.cas`.
    pub cas_required: bool,
    /// Seconds, non-negative; 0 = not set.
    pub delete_version_after: i64,
    /// `None` when unset or empty (Vault prints `null`).
    pub custom_metadata: Option<BTreeMap<String, String>>,
    /// Unix nanoseconds.
    pub created_time: Option<i64>,
    /// Unix nanoseconds.
    pub updated_time: Option<i64>,
    /// Versions still tracked (pruned ones are removed).
    pub versions: BTreeMap<u64, VersionMeta>,
    /// How many times the metadata itself was written or patched (OpenBao's
    /// `current_metadata_version`; 0 for a key only ever written through `data/`).
    pub current_metadata_version: u64,
    /// The secret's rotation policy (a coffre extension, shown by metadata reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationPolicy>,
    /// What rotation has done to the secret; kept beside the versions it concerns.
    #[serde(skip_serializing_if = "is_default")]
    pub rotation_state: RotationState,
    /// `critical`, `high`, `moderate` or `low` (the seeds' inventory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criticality: Option<String>,
    /// Who answers for the secret (a team, a person).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Versions whose blobs must be removed after a write pruned them from the metadata.
pub(super) type Pruned = Option<u64>;

impl KeyMeta {
    /// `custom_metadata` as JSON (`null` when unset).
    pub fn custom_metadata_json(&self) -> Value {
        match &self.custom_metadata {
            Some(m) if !m.is_empty() => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    /// The per-version metadata object of data reads and writes.
    pub fn version_json(&self, n: u64, vm: &VersionMeta) -> Map<String, Value> {
        let mut m = vm.times_json();
        m.insert("custom_metadata".into(), self.custom_metadata_json());
        m.insert("version".into(), n.into());
        m
    }

    /// Records a new version and slides the `max_versions` window. Returns the new version
    /// number and, when older versions fell out of the window, the highest pruned number.
    pub fn add_version(
        &mut self,
        created: i64,
        deletion: Option<i64>,
        config_max: u32,
    ) -> (u64, Pruned) {
        self.current_version += 1;
        let n = self.current_version;
        self.versions.insert(
            n,
            VersionMeta {
                created_time: created,
                deletion_time: deletion,
                destroyed: false,
            },
        );
        self.updated_time = Some(created);
        self.created_time.get_or_insert(created);

        // Vault: the larger non-zero of the key and mount settings wins.
        let max = match self.max_versions.max(config_max) {
            0 => DEFAULT_MAX_VERSIONS,
            m => m,
        };
        let max = u64::from(max);
        if n.saturating_sub(self.oldest_version) >= max {
            let last_pruned = n - max;
            self.versions.retain(|v, _| *v > last_pruned);
            self.oldest_version = last_pruned + 1;
            return (n, (last_pruned > 0).then_some(last_pruned));
        }
        (n, None)
    }
}

/// When a version created (or undeleted) at `base` gets deleted automatically: `base` plus the
/// smaller non-zero `delete_version_after` of mount and key; never if the mount disabled it.
pub(super) fn deletion_time(base: i64, config: &Config, meta: &KeyMeta) -> Option<i64> {
    let mount = config.delete_version_after;
    let key = meta.delete_version_after;
    if mount < 0 || (mount == 0 && key == 0) {
        return None;
    }
    let secs = match (mount, key) {
        (0, k) => k,
        (m, 0) => m,
        (m, k) => m.min(k),
    };
    Some(base.saturating_add(secs.saturating_mul(NANOS)))
}

/// RFC 3339 with nanoseconds, or `""` for "not set".
pub(super) fn fmt_time(t: Option<i64>) -> String {
    t.map(rfc3339_nanos).unwrap_or_default()
}

/// Formats whole seconds the way Go's `time.Duration.String` does (`0s`, `1m30s`, `1h0m0s`).
pub(super) fn go_duration(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

fn corrupt(what: &str, e: &serde_json::Error) -> Error {
    Error::Internal(format!("corrupt kv-v2 {what}: {e}"))
}

fn encode<T: Serialize>(what: &str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(format!("encode kv-v2 {what}: {e}")))
}

/// A key that can have metadata: non-empty, no trailing slash.
pub(super) fn valid_key(key: &str) -> bool {
    // Control characters are refused at the HTTP layer already; refusing them here too keeps
    // a key from ever containing the version separator, whatever the caller.
    !key.is_empty() && !key.ends_with('/') && !key.chars().any(char::is_control)
}

/// The mount configuration (defaults when never written), cached per mount: every write
/// needs it, and it changes only through [`save_config`].
pub(super) async fn load_config(view: &View, locks: &MountLocks) -> Result<Config> {
    if let Some(config) = locks.config_cache.read().clone() {
        return Ok(config);
    }
    // Filled under the config lock, which writers hold from their read to their cache update,
    // so a reader can never put back a value older than the last write.
    let _guard = locks.config.lock().await;
    if let Some(config) = locks.config_cache.read().clone() {
        return Ok(config);
    }
    let config = read_config(view).await?;
    *locks.config_cache.write() = Some(config.clone());
    Ok(config)
}

/// The stored configuration, bypassing the cache (for writers holding `locks.config`).
pub(super) async fn read_config(view: &View) -> Result<Config> {
    match view.get(CONFIG_KEY).await? {
        None => Ok(Config::default()),
        Some(raw) => serde_json::from_slice(raw.expose()).map_err(|e| corrupt("config", &e)),
    }
}

/// Stores the configuration (caller holds `locks.config`).
pub(super) async fn save_config(view: &View, locks: &MountLocks, config: &Config) -> Result<()> {
    let res = view.put(CONFIG_KEY, &encode("config", config)?).await;
    // On failure the stored value is unknown (old or new): drop the cached one.
    *locks.config_cache.write() = res.is_ok().then(|| config.clone());
    res
}

async fn read_meta(view: &View, key: &str) -> Result<Option<KeyMeta>> {
    if !valid_key(key) {
        return Ok(None);
    }
    match view.get(&format!("{META_PREFIX}{key}")).await? {
        None => Ok(None),
        Some(raw) => serde_json::from_slice(raw.expose())
            .map(Some)
            .map_err(|e| corrupt("metadata", &e)),
    }
}

/// The metadata of `key`, if the key exists. The caller holds the key's lock (read or
/// write), so the result may be cached.
pub(super) async fn load_meta(
    view: &View,
    locks: &MountLocks,
    key: &str,
) -> Result<Option<KeyMeta>> {
    if let Some(known) = locks.cached(key) {
        return Ok(known);
    }
    let meta = read_meta(view, key).await?;
    match &meta {
        Some(m) => locks.remember(key, m),
        None => locks.remember_absent(key),
    }
    Ok(meta)
}

/// Like [`load_meta`] for callers that hold no lock (existence checks, listings): uses the
/// cache but never fills it, so a concurrent writer's update cannot be overwritten.
pub(super) async fn peek_meta(
    view: &View,
    locks: &MountLocks,
    key: &str,
) -> Result<Option<KeyMeta>> {
    match locks.cached(key) {
        Some(known) => Ok(known),
        None => read_meta(view, key).await,
    }
}

/// Stores `key`'s metadata (caller holds the key's write lock).
pub(super) async fn save_meta(
    view: &View,
    locks: &MountLocks,
    key: &str,
    meta: &KeyMeta,
) -> Result<()> {
    let res = view
        .put(&format!("{META_PREFIX}{key}"), &encode("metadata", meta)?)
        .await;
    // On failure the stored value is unknown (old or new): drop the cached one.
    match &res {
        Ok(()) => locks.remember(key, meta),
        Err(_) => locks.forget(key),
    }
    res
}

/// Deletes `key`'s metadata and every version blob stored for it (listed, so leftovers go
/// too) in one atomic commit (caller holds the key's write lock).
/// How many secrets (keys with metadata) the mount holds.
pub(super) async fn count_secrets(view: &View) -> Result<u64> {
    let keys = view.scan(META_PREFIX).await?;
    Ok(keys.iter().filter(|k| !k.contains(VERSION_SEP)).count() as u64)
}

pub(super) async fn delete_meta_and_versions(
    view: &View,
    locks: &MountLocks,
    key: &str,
) -> Result<()> {
    locks.forget(key);
    let mut ops: Vec<(String, Option<Vec<u8>>)> = stored_versions(view, key)
        .await?
        .into_iter()
        .map(|n| (version_key(key, n), None))
        .collect();
    ops.push((format!("{META_PREFIX}{key}"), None));
    view.batch(ops).await
}

/// One level of names below `prefix` in the metadata tree (folders end in `/`).
pub(super) async fn list_meta(view: &View, prefix: &str) -> Result<Vec<String>> {
    let mut names = view.list(&format!("{META_PREFIX}{prefix}")).await?;
    names.retain(|n| !n.contains(VERSION_SEP));
    Ok(names)
}

/// The storage key of version `n` of `key`.
pub(super) fn version_key(key: &str, n: u64) -> String {
    use std::fmt::Write as _;
    // On every read: one exact-size allocation rather than `format!`'s growth.
    let mut out =
        String::with_capacity(META_PREFIX.len() + key.len() + VERSION_SEP.len_utf8() + 20);
    out.push_str(META_PREFIX);
    out.push_str(key);
    out.push(VERSION_SEP);
    let _ = write!(out, "{n}"); // writing to a String cannot fail
    out
}

/// Where the first layout (until 2026-11) kept version blobs: `versions/<key>/<n>`.
const LEGACY_VERSIONS_PREFIX: &str = "versions/";

/// Blobs moved per atomic batch by [`migrate_legacy_versions`].
const MIGRATION_CHUNK: usize = 256;

/// Moves version blobs of the first layout beside their metadata (`meta/<key>\u{1}<n>`),
/// in atomic batches: each blob is re-encrypted under its new key (the barrier binds values to
/// their keys) and its old key deleted in the same commit, so an interrupted migration leaves
/// every blob in exactly one place and the next run finishes it. When nothing is left this is
/// a single storage lookup. Callers run it once per mount before serving requests.
pub(super) async fn migrate_legacy_versions(view: &View) -> Result<usize> {
    let legacy = view.scan(LEGACY_VERSIONS_PREFIX).await?;
    let (mut moved, mut skipped) = (0, 0usize);
    for chunk in legacy.chunks(MIGRATION_CHUNK) {
        let mut ops = Vec::with_capacity(chunk.len() * 2);
        for old in chunk {
            let parsed = old
                .strip_prefix(LEGACY_VERSIONS_PREFIX)
                .and_then(|rest| rest.rsplit_once('/'))
                .and_then(|(key, n)| Some((key, n.parse::<u64>().ok()?)));
            match parsed {
                Some((key, n)) if valid_key(key) => {
                    if let Some(value) = view.get(old).await? {
                        ops.push((version_key(key, n), Some(value.expose().to_vec())));
                        ops.push((old.clone(), None));
                        moved += 1;
                    }
                }
                // Not a blob this engine wrote: left where it is rather than deleted unread.
                _ => skipped += 1,
            }
        }
        if !ops.is_empty() {
            view.batch(ops).await?;
        }
    }
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "kv-v2: keys under versions/ that are not version blobs were left in place"
        );
    }
    Ok(moved)
}

/// The data object of version `n`; an error if the metadata promised it but it is missing.
pub(super) async fn load_version(view: &View, key: &str, n: u64) -> Result<Map<String, Value>> {
    let raw = view
        .get(&version_key(key, n))
        .await?
        .ok_or_else(|| Error::Internal("could not find version data".into()))?;
    serde_json::from_slice(raw.expose()).map_err(|e| corrupt("version", &e))
}

/// Stores version `n` of `key` and the metadata that references it in one atomic, durable
/// commit: a crash never leaves metadata pointing at missing data, and a write costs one
/// round trip to the storage writer instead of two.
pub(super) async fn save_version_and_meta(
    view: &View,
    locks: &MountLocks,
    key: &str,
    n: u64,
    data: &Map<String, Value>,
    meta: &KeyMeta,
) -> Result<()> {
    let res = view
        .batch(vec![
            (version_key(key, n), Some(encode("version", data)?)),
            (
                format!("{META_PREFIX}{key}"),
                Some(encode("metadata", meta)?),
            ),
        ])
        .await;
    // On failure the stored value is unknown (old or new): drop the cached one.
    match &res {
        Ok(()) => locks.remember(key, meta),
        Err(_) => locks.forget(key),
    }
    res
}

/// Saves `meta` (which marks `destroyed` versions) and deletes those versions' blobs in one
/// atomic commit: a crash never leaves a version marked destroyed whose data survives, nor
/// data gone under a version the metadata still shows.
pub(super) async fn save_meta_and_destroy(
    view: &View,
    locks: &MountLocks,
    key: &str,
    meta: &KeyMeta,
    destroyed: &[u64],
) -> Result<()> {
    let mut ops: Vec<(String, Option<Vec<u8>>)> = destroyed
        .iter()
        .filter(|n| **n > 0)
        .map(|n| (version_key(key, *n), None))
        .collect();
    ops.push((
        format!("{META_PREFIX}{key}"),
        Some(encode("metadata", meta)?),
    ));
    let res = view.batch(ops).await;
    match &res {
        Ok(()) => locks.remember(key, meta),
        Err(_) => locks.forget(key),
    }
    res
}

/// Every version blob stored for `key` (found by listing, so leftovers are included).
pub(super) async fn stored_versions(view: &View, key: &str) -> Result<Vec<u64>> {
    let names = view
        .list(&format!("{META_PREFIX}{key}{VERSION_SEP}"))
        .await?;
    Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
}

/// Removes the blobs of pruned versions, walking down from `last_pruned` until one is missing
/// (so blobs a failed earlier cleanup left behind go too), oldest first. Failures become a
/// warning: the next pruning write retries.
pub(super) async fn cleanup_pruned(view: &View, key: &str, last_pruned: u64) -> Option<String> {
    let result: Result<()> = async {
        let mut doomed = Vec::new();
        let mut n = last_pruned;
        while n > 0 && view.get(&version_key(key, n)).await?.is_some() {
            doomed.push(n);
            n -= 1;
        }
        let deletes = doomed
            .into_iter()
            .rev()
            .map(|n| (version_key(key, n), None))
            .collect();
        view.batch(deletes).await
    }
    .await;
    result.err().map(|e| {
        tracing::warn!(error = %e, "kv-v2: cleaning up old versions failed");
        "error occurred when cleaning up old versions, these will be cleaned up on next write"
            .to_string()
    })
}

// ----- locks -----

const LOCK_SHARDS: usize = 64;

/// Locks of one mount: key read-modify-writes are serialized per shard (reads share), and
/// config writes have their own lock.
#[derive(Debug)]
pub(super) struct MountLocks {
    shards: Vec<tokio::sync::RwLock<()>>,
    /// Serializes config read-modify-writes (and the first fill of `config_cache`).
    pub config: tokio::sync::Mutex<()>,
    /// The mount's [`Config`] once read; written only under `config`.
    config_cache: parking_lot::RwLock<Option<Config>>,
    /// Set once [`migrate_legacy_versions`] has run for the mount in this process.
    pub migrated: tokio::sync::OnceCell<()>,
    /// Parsed metadata of recently used keys (`None`: known not to exist), so a read costs one
    /// storage lookup instead of two, and creating a key does not look it up twice (existence
    /// check, then the write). Metadata holds no secret values (those stay in storage only).
    /// It is filled and changed only by callers holding the key's lock (see [`load_meta`],
    /// [`save_meta`]), so it never disagrees with storage within this process.
    meta: parking_lot::RwLock<HashMap<String, Option<KeyMeta>>>,
}

/// Most metadata entries cached per mount; when full the cache starts over (bounded memory,
/// no bookkeeping on the read path).
const META_CACHE_MAX: usize = 10_000;

impl Default for MountLocks {
    fn default() -> Self {
        MountLocks {
            shards: (0..LOCK_SHARDS)
                .map(|_| tokio::sync::RwLock::new(()))
                .collect(),
            config: tokio::sync::Mutex::new(()),
            config_cache: parking_lot::RwLock::new(None),
            migrated: tokio::sync::OnceCell::new(),
            meta: parking_lot::RwLock::new(HashMap::new()),
        }
    }
}

impl MountLocks {
    /// What is known of `key`: `Some(None)` means it does not exist.
    fn cached(&self, key: &str) -> Option<Option<KeyMeta>> {
        self.meta.read().get(key).cloned()
    }

    fn remember(&self, key: &str, meta: &KeyMeta) {
        self.insert(key, Some(meta.clone()));
    }

    fn remember_absent(&self, key: &str) {
        self.insert(key, None);
    }

    fn insert(&self, key: &str, known: Option<KeyMeta>) {
        let mut cache = self.meta.write();
        if cache.len() >= META_CACHE_MAX && !cache.contains_key(key) {
            cache.clear();
        }
        cache.insert(key.to_string(), known);
    }

    fn forget(&self, key: &str) {
        self.meta.write().remove(key);
    }

    /// Another node changed `stored` (a key of the mount's view). Taken under the lock that
    /// every fill of the cache holds, so a read that began before the change cannot put the
    /// old value back after it.
    pub(super) async fn invalidate(&self, stored: &str) {
        if stored == CONFIG_KEY {
            let _guard = self.config.lock().await;
            *self.config_cache.write() = None;
        } else if let Some(rest) = stored.strip_prefix(META_PREFIX) {
            let key = rest.split(VERSION_SEP).next().unwrap_or(rest);
            let _guard = self.key(key).write().await;
            self.forget(key);
        }
    }

    /// The lock guarding `key`'s metadata and versions.
    pub fn key(&self, key: &str) -> &tokio::sync::RwLock<()> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let i = usize::try_from(h.finish() % LOCK_SHARDS as u64).unwrap_or(0);
        &self.shards[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(45), "45s");
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(86_400 + 61), "24h1m1s");
        assert_eq!(go_duration(-1), "-1s");
    }

    #[test]
    fn deletion_time_takes_smaller_nonzero() {
        let cfg = |d| Config {
            delete_version_after: d,
            ..Config::default()
        };
        let meta = |d| KeyMeta {
            delete_version_after: d,
            ..KeyMeta::default()
        };
        assert_eq!(deletion_time(0, &cfg(0), &meta(0)), None);
        assert_eq!(deletion_time(0, &cfg(10), &meta(0)), Some(10 * NANOS));
        assert_eq!(deletion_time(0, &cfg(0), &meta(5)), Some(5 * NANOS));
        assert_eq!(deletion_time(0, &cfg(10), &meta(5)), Some(5 * NANOS));
        assert_eq!(deletion_time(0, &cfg(3), &meta(5)), Some(3 * NANOS));
        assert_eq!(deletion_time(0, &cfg(-1), &meta(5)), None);
    }

    #[test]
    fn version_window() {
        let mut m = KeyMeta::default();
        for i in 1..=10 {
            assert_eq!(m.add_version(i, None, 0), (i as u64, None));
        }
        // Vault's quirk: the window marker moves to 1 when the 10th version lands.
        assert_eq!(m.oldest_version, 1);
        assert_eq!(m.add_version(11, None, 0), (11, Some(1)));
        assert_eq!(m.oldest_version, 2);
        assert_eq!(m.versions.len(), 10);
        m.max_versions = 3;
        assert_eq!(m.add_version(12, None, 0), (12, Some(9)));
        assert_eq!(m.versions.keys().copied().collect::<Vec<_>>(), [10, 11, 12]);
        assert_eq!(m.oldest_version, 10);
    }
}
