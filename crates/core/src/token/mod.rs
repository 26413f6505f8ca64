//! Token store. Tokens are persisted only as a keyed hash (HMAC-SHA256 with a key that lives
//! behind the barrier), so neither storage nor a backup reveals a usable token. Validated
//! entries are cached in memory so the hot path reads no storage; every change to an entry
//! (renewal, use count, revocation) updates or evicts its cache slot.
//!
//! Storage below the barrier:
//! - `sys/token/id/<hash>`: the [`TokenEntry`]
//! - `sys/token/accessor-index/<keyed hash of the accessor>`: `{accessor, hash}`, for accessor
//!   operations. The accessor is keyed-hashed in the storage key (as Vault salts it), so
//!   whoever reads the disk or a backup does not get every accessor; the value is encrypted
//!   by the barrier like everything else. (Before: `sys/token/accessor/<accessor>`, migrated
//!   at unseal.)
//! - `sys/token/parent/<parent hash>/<child hash>`: the tree, for cascading revocation (and
//!   `xparent/`, `xchild/` for trees that cross namespaces: see `tree`)
//! - `sys/token/roles/<name>`: token roles

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use coffre_crypto::{HmacKey, random_array};
use coffre_sync::CoherentCache;
use serde::{Deserialize, Serialize};

use crate::barrier::View;
use crate::error::{Error, Result};

/// Storage key of the token HMAC key (behind the barrier).
pub(crate) const TOKEN_KEY_PATH: &str = "sys/token/salt";
/// Where the token store's view begins; the keys below are relative to it.
pub(crate) const TOKEN_PREFIX: &str = "sys/token/";
const SALT_KEY: &str = "salt";
const ID_PREFIX: &str = "id/";
const ACCESSOR_PREFIX: &str = "accessor-index/";
/// Where accessors were indexed in clear before; moved at unseal by [`TokenStore::open`].
const LEGACY_ACCESSOR_PREFIX: &str = "accessor/";

/// What the accessor index stores.
#[derive(Serialize, Deserialize)]
struct AccessorEntry {
    accessor: String,
    /// Hex of the token's keyed hash.
    hash: String,
}
const PARENT_PREFIX: &str = "parent/";
const ROLE_PREFIX: &str = "roles/";

/// The system's maximum token TTL (Vault's default, 768h).
pub const SYSTEM_MAX_TTL: u64 = 768 * 3600;

fn default_service() -> String {
    "service".into()
}
fn default_true() -> bool {
    true
}
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A token as stored: everything but the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenEntry {
    /// Hex of the token's keyed hash: its storage id.
    #[serde(default)]
    pub id_hash: String,
    /// Public handle for the token (lookups and revocation without the token). Empty for
    /// batch tokens.
    pub accessor: String,
    /// Attached policies, sorted.
    pub policies: Vec<String>,
    /// Creation path, e.g. `auth/token/create`.
    #[serde(default)]
    pub path: String,
    /// Human-readable origin, e.g. `root` or `token-ci`.
    pub display_name: String,
    /// Unix seconds.
    pub creation_time: i64,
    /// TTL at creation, seconds (0 = none).
    #[serde(default)]
    pub creation_ttl: u64,
    /// Unix seconds after which the token is invalid; `None` never expires.
    pub expire_time: Option<i64>,
    /// Hard cap on the lifetime, seconds (0 = none).
    #[serde(default)]
    pub explicit_max_ttl: u64,
    /// Periodic tokens renew to this TTL, seconds (0 = not periodic).
    #[serde(default)]
    pub period: u64,
    /// Remaining uses (0 = unlimited).
    #[serde(default)]
    pub num_uses: i64,
    /// Whether renew is allowed.
    #[serde(default = "default_true")]
    pub renewable: bool,
    /// Free-form metadata.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Hash of the parent token; `None` for orphans.
    #[serde(default)]
    pub parent: Option<String>,
    /// The namespace whose store holds the parent, when it is not this token's (a token made
    /// for a namespace below its creator's); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_namespace: Option<String>,
    /// `service` or `batch`.
    #[serde(default = "default_service")]
    pub token_type: String,
    /// Role the token was created from.
    #[serde(default)]
    pub role: Option<String>,
    /// Unix seconds of the last renewal.
    #[serde(default)]
    pub last_renewal_time: Option<i64>,
    /// The longest the token may live, renewals included, from the login that made it (its
    /// role's or mount's max TTL), seconds; 0: only `explicit_max_ttl` and the system max.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_ttl: u64,
    /// The accessor of the auth mount whose login made the token (empty: `auth/token/`). Once
    /// that mount is disabled the token is refused, as Vault revokes the tokens of a
    /// disabled auth method.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mount_accessor: String,
    /// The identity entity the token acts for (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub entity_id: String,
    /// Client addresses the token may be used from (canonical CIDR text; empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_cidrs: Vec<String>,
}

impl TokenEntry {
    /// Whether the token carries the `root` policy (bypasses ACLs).
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expire_time.is_some_and(|t| now >= t)
    }

    /// Remaining TTL in seconds (0 when it never expires).
    pub fn ttl_remaining(&self, now: i64) -> u64 {
        self.expire_time
            .map_or(0, |t| u64::try_from(t - now).unwrap_or(0))
    }
}

/// A token role (`auth/token/roles/:name`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct TokenRole {
    /// Role name.
    pub name: String,
    /// Policies a token of this role may have (empty = any of the caller's).
    #[serde(default)]
    pub allowed_policies: Vec<String>,
    /// Policies a token of this role may never have.
    #[serde(default)]
    pub disallowed_policies: Vec<String>,
    /// Tokens are orphans.
    #[serde(default)]
    pub orphan: bool,
    /// Tokens are renewable.
    #[serde(default = "default_true")]
    pub renewable: bool,
    /// Appended to the creation path.
    #[serde(default)]
    pub path_suffix: String,
    /// Period for tokens of this role, seconds.
    #[serde(default)]
    pub token_period: u64,
    /// Explicit max TTL, seconds.
    #[serde(default)]
    pub token_explicit_max_ttl: u64,
    /// `service`, `batch`, `default-service`, `default-batch`.
    #[serde(default)]
    pub token_type: String,
    /// Do not attach `default`.
    #[serde(default)]
    pub token_no_default_policy: bool,
    /// Uses per token.
    #[serde(default)]
    pub token_num_uses: i64,
    /// Client addresses the role's tokens may be used from (canonical CIDR text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_bound_cidrs: Vec<String>,
}

/// An accessor, as Vault's: 24 letters and digits. Not base64: an accessor starting with `-`
/// is taken for a flag by the `vault`/`bao` CLI.
fn random_base62(n: usize) -> Result<String> {
    crate::generate::secret::alphanumeric(n)
}

/// Generates a new token string: `hvs.` (service) or `hvb.` (batch) + 192 random bits.
pub(crate) fn generate_token(batch: bool) -> Result<String> {
    let raw: [u8; 24] = random_array()?;
    Ok(format!(
        "{}{}",
        if batch { "hvb." } else { "hvs." },
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

/// Most token entries kept in memory; beyond it the least useful are evicted and re-read from
/// storage when used. quick_cache allocates as entries arrive, not for the whole bound up front.
const TOKEN_CACHE_ITEMS: usize = 100_000;

/// The token store of an unsealed core.
pub struct TokenStore {
    /// The store's storage: everything below `sys/token/`.
    view: View,
    hmac_key: HmacKey,
    /// Entries by token hash. Bounded, and coherent with writers: a lookup that read an entry
    /// just before it was revoked or rewritten cannot put the old entry back.
    cache: CoherentCache<[u8; 32], Arc<TokenEntry>>,
    /// Serializes read-modify-write of entries (use counts, renewals, revocation).
    write_lock: tokio::sync::Mutex<()>,
    /// `.<namespace id>`, appended to the tokens of a namespace other than the root (as
    /// OpenBao does), so that a token names the namespace whose store holds it.
    suffix: Option<String>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

fn encode_entry(entry: &TokenEntry) -> Result<Vec<u8>> {
    serde_json::to_vec(entry).map_err(|e| Error::Internal(format!("encode token: {e}")))
}

fn hex_to_hash(hex_hash: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_hash).ok()?;
    bytes.try_into().ok()
}

impl TokenStore {
    /// Loads the token HMAC key from behind the barrier.
    pub(crate) async fn open(view: View, namespace_id: Option<String>) -> Result<TokenStore> {
        let key = view
            .get(SALT_KEY)
            .await?
            .ok_or_else(|| Error::Internal("token key missing".into()))?;
        let store = TokenStore {
            view,
            hmac_key: HmacKey::new(key.expose()),
            cache: CoherentCache::with_items(TOKEN_CACHE_ITEMS),
            write_lock: tokio::sync::Mutex::new(()),
            suffix: namespace_id.map(|id| format!(".{id}")),
        };
        store.migrate_legacy_accessors().await?;
        Ok(store)
    }

    /// Storage key of an accessor's index entry.
    fn accessor_key(&self, accessor: &str) -> String {
        let mut input = Vec::with_capacity(9 + accessor.len());
        input.extend_from_slice(b"accessor:");
        input.extend_from_slice(accessor.as_bytes());
        format!(
            "{ACCESSOR_PREFIX}{}",
            hex::encode(self.hmac_key.sign(&input))
        )
    }

    fn accessor_index(&self, accessor: &str, hash_hex: &str) -> Result<(String, Option<Vec<u8>>)> {
        let value = serde_json::to_vec(&AccessorEntry {
            accessor: accessor.to_string(),
            hash: hash_hex.to_string(),
        })
        .map_err(|e| Error::Internal(format!("encode accessor: {e}")))?;
        Ok((self.accessor_key(accessor), Some(value)))
    }

    /// Moves accessors indexed in clear (before 0.2) under their keyed hash, a batch at a
    /// time; each batch writes the new entries and deletes the old ones atomically, so a
    /// crash part-way resumes at the next unseal. With nothing to move this is one listing.
    async fn migrate_legacy_accessors(&self) -> Result<()> {
        let legacy = self.view.list(LEGACY_ACCESSOR_PREFIX).await?;
        for chunk in legacy.chunks(500) {
            let mut ops = Vec::with_capacity(chunk.len() * 2);
            for accessor in chunk {
                let old = format!("{LEGACY_ACCESSOR_PREFIX}{accessor}");
                if let Some(raw) = self.view.get(&old).await?
                    && let Ok(hash) = std::str::from_utf8(raw.expose())
                {
                    ops.push(self.accessor_index(accessor, hash)?);
                }
                ops.push((old, None));
            }
            self.view.batch(ops).await?;
        }
        if !legacy.is_empty() {
            tracing::info!(
                count = legacy.len(),
                "token accessors moved under keyed hashes"
            );
        }
        Ok(())
    }

    /// A new token string of this store's namespace: random, or `id` when the caller chose
    /// one (root and sudo only), with the namespace suffix either way.
    pub(crate) fn new_token(&self, batch: bool, id: Option<&str>) -> Result<String> {
        let mut token = match id {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => generate_token(batch)?,
        };
        if let Some(suffix) = &self.suffix
            && !token.ends_with(suffix.as_str())
        {
            token.push_str(suffix);
        }
        Ok(token)
    }

    /// The current time, Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        self.view.clock().now_unix_secs()
    }

    /// Drops the cached entry of the token with this hash (another node changed it).
    pub(crate) fn forget(&self, hash: &[u8; 32]) {
        self.cache.invalidate([hash]);
    }

    /// The keyed hash of a token string.
    pub fn hash(&self, token: &str) -> [u8; 32] {
        self.hmac_key.sign(token.as_bytes())
    }

    async fn load(&self, hash: &[u8; 32]) -> Result<Option<Arc<TokenEntry>>> {
        let Some(raw) = self
            .view
            .get(&format!("{ID_PREFIX}{}", hex::encode(hash)))
            .await?
        else {
            return Ok(None);
        };
        let mut entry: TokenEntry = serde_json::from_slice(raw.expose())
            .map_err(|e| Error::Internal(format!("corrupt token entry: {e}")))?;
        entry.id_hash = hex::encode(hash);
        Ok(Some(Arc::new(entry)))
    }

    /// Resolves a token to its entry. `None` for unknown or expired tokens.
    ///
    /// The lookup is by keyed hash, so no comparison ever runs on the secret token bytes.
    pub async fn lookup(&self, token: &str) -> Result<Option<Arc<TokenEntry>>> {
        self.lookup_hash(&self.hash(token)).await
    }

    /// Resolves a token hash to its entry: `None` unless the token and every ancestor are
    /// valid (present, unexpired, not used up). A child is refused the moment its parent
    /// expires, without waiting for tidy to revoke the tree.
    ///
    /// The ancestors checked are those in this store; see [`TokenStore::lookup_chain`].
    pub async fn lookup_hash(&self, hash: &[u8; 32]) -> Result<Option<Arc<TokenEntry>>> {
        Ok(self.lookup_chain(hash).await?.map(|(entry, _)| entry))
    }

    /// [`TokenStore::lookup_hash`], with the first ancestor that lives in another namespace's
    /// store (its namespace id and hash), which the caller must check there.
    pub(crate) async fn lookup_chain(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<(Arc<TokenEntry>, Option<(String, String)>)>> {
        let now = self.now();
        let Some(entry) = self.entry(hash, now).await? else {
            return Ok(None);
        };
        let mut current = entry.clone();
        while let Some(p) = &current.parent {
            if let Some(ns) = &current.parent_namespace {
                return Ok(Some((entry, Some((ns.clone(), p.clone())))));
            }
            let ancestor = match hex_to_hash(p) {
                Some(h) => self.entry(&h, now).await?,
                None => None,
            };
            let Some(ancestor) = ancestor.filter(|a| a.num_uses >= 0) else {
                return Ok(None);
            };
            current = ancestor;
        }
        Ok(Some((entry, None)))
    }

    /// One unexpired entry (cache first), ancestors not checked.
    async fn entry(&self, hash: &[u8; 32], now: i64) -> Result<Option<Arc<TokenEntry>>> {
        if let Some(entry) = self.cache.get(hash) {
            return Ok((!entry.is_expired(now)).then_some(entry));
        }
        let ticket = self.cache.ticket();
        let Some(entry) = self.load(hash).await? else {
            return Ok(None);
        };
        if entry.is_expired(now) {
            return Ok(None);
        }
        self.cache.fill(ticket, hash, entry.clone());
        Ok(Some(entry))
    }

    /// Resolves an accessor to (hash, entry).
    pub async fn lookup_accessor(
        &self,
        accessor: &str,
    ) -> Result<Option<([u8; 32], Arc<TokenEntry>)>> {
        if accessor.is_empty() || accessor.contains('/') {
            return Ok(None);
        }
        let Some(raw) = self.view.get(&self.accessor_key(accessor)).await? else {
            return Ok(None);
        };
        let Some(hash) = serde_json::from_slice::<AccessorEntry>(raw.expose())
            .ok()
            .and_then(|e| hex_to_hash(&e.hash))
        else {
            return Ok(None);
        };
        Ok(self.lookup_hash(&hash).await?.map(|e| (hash, e)))
    }

    /// Stores a new token. A child is stored only while its parent is valid, checked under
    /// the same lock as revocation: a child created while its parent is being revoked is
    /// either found by that revocation or refused here.
    ///
    /// # Errors
    /// 403 when the parent is gone, expired or used up.
    pub(crate) async fn create(
        &self,
        token: &str,
        mut entry: TokenEntry,
    ) -> Result<Arc<TokenEntry>> {
        let _guard = self.write_lock.lock().await;
        // A parent in another store was checked there, under its lock (see `tree`).
        if let Some(parent) = entry
            .parent
            .as_ref()
            .filter(|_| entry.parent_namespace.is_none())
        {
            let parent_valid = match hex_to_hash(parent) {
                Some(h) => self
                    .load(&h)
                    .await?
                    .is_some_and(|p| !p.is_expired(self.now()) && p.num_uses >= 0),
                None => false,
            };
            if !parent_valid {
                return Err(Error::PermissionDenied);
            }
        }
        let hash = self.hash(token);
        let hash_hex = hex::encode(hash);
        entry.id_hash = hash_hex.clone();
        let mut writes = vec![(
            format!("{ID_PREFIX}{hash_hex}"),
            Some(encode_entry(&entry)?),
        )];
        if !entry.accessor.is_empty() {
            writes.push(self.accessor_index(&entry.accessor, &hash_hex)?);
        }
        match (&entry.parent, &entry.parent_namespace) {
            (Some(parent), None) => writes.push((
                format!("{PARENT_PREFIX}{parent}/{hash_hex}"),
                Some(Vec::new()),
            )),
            (Some(parent), Some(ns)) => writes.push((
                Self::cross_parent_key(ns, parent, &hash_hex),
                Some(Vec::new()),
            )),
            (None, _) => {}
        }
        self.view.batch(writes).await?;
        let entry = Arc::new(entry);
        self.cache.replace(hash, entry.clone());
        Ok(entry)
    }

    /// Holds the store's write lock: no token of it is revoked or rewritten meanwhile. Taken
    /// (ancestor's store first) while a child is made in a namespace below.
    pub(crate) async fn hold(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// Creates a root token (`id` given in dev mode, random otherwise) and returns it.
    pub async fn create_root(&self, id: Option<&str>) -> Result<String> {
        let token = self.new_token(false, id)?;
        let entry = TokenEntry {
            id_hash: String::new(),
            accessor: random_base62(24)?,
            policies: vec!["root".to_string()],
            path: "auth/token/root".into(),
            display_name: "root".to_string(),
            creation_time: self.now(),
            creation_ttl: 0,
            expire_time: None,
            explicit_max_ttl: 0,
            period: 0,
            num_uses: 0,
            renewable: false,
            meta: BTreeMap::new(),
            parent: None,
            parent_namespace: None,
            token_type: "service".into(),
            role: None,
            last_renewal_time: None,
            max_ttl: 0,
            mount_accessor: String::new(),
            entity_id: String::new(),
            bound_cidrs: Vec::new(),
        };
        self.create(&token, entry).await?;
        Ok(token)
    }

    /// A fresh accessor.
    pub(crate) fn new_accessor() -> Result<String> {
        random_base62(24)
    }

    async fn rewrite(&self, hash: &[u8; 32], entry: TokenEntry) -> Result<Arc<TokenEntry>> {
        self.view
            .put(
                &format!("{ID_PREFIX}{}", hex::encode(hash)),
                &encode_entry(&entry)?,
            )
            .await?;
        let entry = Arc::new(entry);
        self.cache.replace(*hash, entry.clone());
        Ok(entry)
    }

    /// Counts one use of a limited-use token and returns the uses left, or `None` when the
    /// token is gone or already used up (the request must be refused). At `Some(0)` this was
    /// the last use: the caller revokes the token after the request
    /// ([`TokenStore::revoke_tree`]).
    pub(crate) async fn use_once(&self, hash: &[u8; 32]) -> Result<Option<i64>> {
        let _guard = self.write_lock.lock().await;
        // Reload from storage: the cache may be behind another node's view in the future and
        // the count must never go below zero under concurrency.
        let Some(current) = self.load(hash).await? else {
            return Ok(None);
        };
        if current.num_uses <= 0 {
            return Ok(None);
        }
        let mut next = (*current).clone();
        next.num_uses -= 1;
        let left = next.num_uses;
        if left == 0 {
            // Mark exhausted: a negative count means "used up, revocation pending".
            next.num_uses = -1;
        }
        self.rewrite(hash, next).await?;
        Ok(Some(left))
    }

    /// Renews a token. `increment` overrides the TTL (capped by the token's limits).
    pub(crate) async fn renew(
        &self,
        hash: &[u8; 32],
        increment: Option<u64>,
    ) -> Result<Arc<TokenEntry>> {
        let _guard = self.write_lock.lock().await;
        let Some(current) = self.load(hash).await? else {
            return Err(Error::invalid("token not found"));
        };
        let now = self.now();
        if current.is_expired(now) {
            return Err(Error::invalid("token not found"));
        }
        if current.token_type == "batch" {
            return Err(Error::invalid("batch tokens cannot be renewed"));
        }
        if !current.renewable || current.expire_time.is_none() {
            return Err(Error::invalid("lease is not renewable"));
        }
        let mut next = (*current).clone();
        let wanted = if next.period > 0 {
            next.period
        } else {
            increment.filter(|i| *i > 0).unwrap_or(next.creation_ttl)
        };
        let mut expire = now.saturating_add(i64::try_from(wanted).unwrap_or(i64::MAX));
        let cap_ttl = if next.explicit_max_ttl > 0 || next.max_ttl > 0 {
            [next.explicit_max_ttl, next.max_ttl]
                .into_iter()
                .filter(|t| *t > 0)
                .min()
        } else if next.period > 0 {
            None
        } else {
            Some(SYSTEM_MAX_TTL)
        };
        if let Some(cap) = cap_ttl {
            let max_expire = next
                .creation_time
                .saturating_add(i64::try_from(cap).unwrap_or(i64::MAX));
            expire = expire.min(max_expire);
        }
        next.expire_time = Some(expire);
        next.last_renewal_time = Some(now);
        self.rewrite(hash, next).await
    }

    /// All accessors (for `auth/token/accessors`).
    pub async fn accessors(&self) -> Result<Vec<String>> {
        let mut accessors = Vec::new();
        for key in self.view.list(ACCESSOR_PREFIX).await? {
            if let Some(raw) = self.view.get(&format!("{ACCESSOR_PREFIX}{key}")).await?
                && let Ok(entry) = serde_json::from_slice::<AccessorEntry>(raw.expose())
            {
                accessors.push(entry.accessor);
            }
        }
        accessors.sort();
        Ok(accessors)
    }

    /// The hashes of expired and used-up tokens.
    pub(crate) async fn tidy_candidates(&self) -> Result<Vec<[u8; 32]>> {
        let now = self.now();
        let mut due = Vec::new();
        for key in self.view.list(ID_PREFIX).await? {
            let Some(hash) = hex_to_hash(&key) else {
                continue;
            };
            let Some(entry) = self.load(&hash).await? else {
                continue;
            };
            if entry.is_expired(now) || entry.num_uses < 0 {
                due.push(hash);
            }
        }
        Ok(due)
    }

    /// Reads a role.
    pub async fn role(&self, name: &str) -> Result<Option<TokenRole>> {
        match self.view.get(&format!("{ROLE_PREFIX}{name}")).await? {
            None => Ok(None),
            Some(raw) => serde_json::from_slice(raw.expose())
                .map(Some)
                .map_err(|e| Error::Internal(format!("corrupt token role: {e}"))),
        }
    }

    /// Writes a role.
    pub async fn put_role(&self, role: &TokenRole) -> Result<()> {
        let bytes =
            serde_json::to_vec(role).map_err(|e| Error::Internal(format!("encode role: {e}")))?;
        self.view
            .put(&format!("{ROLE_PREFIX}{}", role.name), &bytes)
            .await
    }

    /// Deletes a role.
    pub async fn delete_role(&self, name: &str) -> Result<()> {
        self.view.delete(&format!("{ROLE_PREFIX}{name}")).await
    }

    /// Role names.
    pub async fn roles(&self) -> Result<Vec<String>> {
        self.view.list(ROLE_PREFIX).await
    }
}

mod tree;

pub(crate) use tree::CrossChildren;

#[cfg(test)]
mod tests;
