//! Token store. Tokens are persisted only as a keyed hash (HMAC-SHA256 with a key that lives
//! behind the barrier), so neither the storage nor a backup reveals a usable token. Validated
//! entries are cached in memory so the hot path reads no storage.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine as _;
use coffre_crypto::{Key256, hmac_sha256, random_array};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::barrier::Barrier;
use crate::clock::now_unix_secs;
use crate::error::{Error, Result};

/// Storage key of the token HMAC key (behind the barrier).
pub(crate) const TOKEN_KEY_PATH: &str = "sys/token/salt";
const TOKEN_ID_PREFIX: &str = "sys/token/id/";

/// A token as stored: everything but the token itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenEntry {
    /// Public handle for the token (lookups and revocation without the token).
    pub accessor: String,
    /// Attached policies.
    pub policies: Vec<String>,
    /// Human-readable origin, e.g. `root` or `token`.
    pub display_name: String,
    /// Unix seconds.
    pub creation_time: i64,
    /// Unix seconds after which the token is invalid; `None` never expires.
    pub expire_time: Option<i64>,
    /// Free-form metadata.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

impl TokenEntry {
    /// Whether the token carries the `root` policy (bypasses ACLs).
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    fn is_expired(&self, now: i64) -> bool {
        self.expire_time.is_some_and(|t| now >= t)
    }
}

/// Generates a new service token string (`hvs.` + 192 random bits).
pub(crate) fn generate_token() -> Result<String> {
    let raw: [u8; 24] = random_array()?;
    Ok(format!(
        "hvs.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

fn generate_accessor() -> Result<String> {
    let raw: [u8; 18] = random_array()?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// The token store of an unsealed core.
pub struct TokenStore {
    barrier: Arc<Barrier>,
    hmac_key: Key256,
    cache: RwLock<HashMap<[u8; 32], Arc<TokenEntry>>>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("cached", &self.cache.read().len())
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    /// Loads the token HMAC key from behind the barrier.
    pub(crate) async fn open(barrier: Arc<Barrier>) -> Result<TokenStore> {
        let key = barrier
            .get(TOKEN_KEY_PATH)
            .await?
            .ok_or_else(|| Error::Internal("token key missing".into()))?;
        Ok(TokenStore {
            barrier,
            hmac_key: Key256::from_slice(key.expose())?,
            cache: RwLock::new(HashMap::new()),
        })
    }

    fn hash(&self, token: &str) -> [u8; 32] {
        hmac_sha256(self.hmac_key.expose(), token.as_bytes())
    }

    fn storage_key(hash: &[u8; 32]) -> String {
        format!("{TOKEN_ID_PREFIX}{}", hex::encode(hash))
    }

    /// Resolves a token to its entry. `None` for unknown or expired tokens.
    ///
    /// The lookup is by keyed hash, so no token comparison happens on secret bytes.
    pub async fn lookup(&self, token: &str) -> Result<Option<Arc<TokenEntry>>> {
        let hash = self.hash(token);
        let now = now_unix_secs();
        if let Some(entry) = self.cache.read().get(&hash) {
            return Ok((!entry.is_expired(now)).then(|| entry.clone()));
        }
        let Some(raw) = self.barrier.get(&Self::storage_key(&hash)).await? else {
            return Ok(None);
        };
        let entry: TokenEntry = serde_json::from_slice(raw.expose())
            .map_err(|e| Error::Internal(format!("corrupt token entry: {e}")))?;
        let entry = Arc::new(entry);
        self.cache.write().insert(hash, entry.clone());
        Ok((!entry.is_expired(now)).then_some(entry))
    }

    /// Stores a new token with `entry`; returns nothing: the caller already holds the token.
    pub async fn store(&self, token: &str, entry: TokenEntry) -> Result<()> {
        let hash = self.hash(token);
        let bytes = serde_json::to_vec(&entry)
            .map_err(|e| Error::Internal(format!("encode token: {e}")))?;
        self.barrier.put(&Self::storage_key(&hash), &bytes).await?;
        self.cache.write().insert(hash, Arc::new(entry));
        Ok(())
    }

    /// Creates a root token (`id` given in dev mode, random otherwise) and returns it.
    pub async fn create_root(&self, id: Option<&str>) -> Result<String> {
        let token = match id {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => generate_token()?,
        };
        let entry = TokenEntry {
            accessor: generate_accessor()?,
            policies: vec!["root".to_string()],
            display_name: "root".to_string(),
            creation_time: now_unix_secs(),
            expire_time: None,
            meta: BTreeMap::new(),
        };
        self.store(&token, entry).await?;
        Ok(token)
    }
}
