//! Stored ACL policies and the cache of compiled ACLs.
//!
//! Policies live behind the barrier at `sys/policy/<name>`. Parsed policies and compiled ACLs
//! (keyed by a token's sorted policy list) are cached; every write or delete bumps a
//! generation counter and clears both caches, and an ACL compiled while a change was in flight
//! is not cached, so a policy change takes effect on the very next request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::barrier::Barrier;
use crate::error::{Error, Result};
use crate::policy::{Acl, DEFAULT_POLICY, Policy, parse_policy};

const POLICY_PREFIX: &str = "sys/policy/";

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    name: String,
    policy: String,
}

/// Encodes a policy for storage (used at init for `default`).
pub(crate) fn encode_policy(name: &str, text: &str) -> Result<(String, Vec<u8>)> {
    let bytes = serde_json::to_vec(&StoredPolicy {
        name: name.into(),
        policy: text.into(),
    })
    .map_err(|e| Error::Internal(format!("encode policy: {e}")))?;
    Ok((format!("{POLICY_PREFIX}{name}"), bytes))
}

/// The `default` policy as stored at init.
pub(crate) fn default_policy_entry() -> Result<(String, Vec<u8>)> {
    encode_policy("default", DEFAULT_POLICY)
}

/// Policies of an unsealed core.
pub(crate) struct PolicyStore {
    barrier: Arc<Barrier>,
    parsed: RwLock<HashMap<String, Arc<Policy>>>,
    acls: RwLock<HashMap<Vec<String>, Arc<Acl>>>,
    generation: AtomicU64,
    root: Arc<Acl>,
}

/// Checks a policy name: lower-case letters, digits and `-_.@/` are fine; nothing empty.
pub(crate) fn normalize_name(name: &str) -> Result<String> {
    let name = name.trim().to_lowercase();
    if name.is_empty()
        || name.starts_with('/')
        || name.ends_with('/')
        || name.contains("..")
        || name.chars().any(|c| c.is_control() || c == '*' || c == '+')
    {
        return Err(Error::invalid(format!("invalid policy name \"{name}\"")));
    }
    Ok(name)
}

impl PolicyStore {
    pub(crate) fn new(barrier: Arc<Barrier>) -> PolicyStore {
        PolicyStore {
            barrier,
            parsed: RwLock::new(HashMap::new()),
            acls: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            root: Arc::new(Acl::root()),
        }
    }

    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.parsed.write().clear();
        self.acls.write().clear();
    }

    /// A stored policy, parsed.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Arc<Policy>>> {
        if let Some(p) = self.parsed.read().get(name) {
            return Ok(Some(p.clone()));
        }
        let Some(raw) = self.barrier.get(&format!("{POLICY_PREFIX}{name}")).await? else {
            return Ok(None);
        };
        let stored: StoredPolicy = serde_json::from_slice(raw.expose())
            .map_err(|e| Error::Internal(format!("corrupt policy {name}: {e}")))?;
        let policy =
            Arc::new(parse_policy(name, &stored.policy).map_err(|e| {
                Error::Internal(format!("stored policy {name} no longer parses: {e}"))
            })?);
        self.parsed.write().insert(name.to_string(), policy.clone());
        Ok(Some(policy))
    }

    /// Whether a policy exists (`root` always does).
    pub(crate) async fn exists(&self, name: &str) -> Result<bool> {
        Ok(name == "root" || self.get(name).await?.is_some())
    }

    /// Parses and stores a policy. The text is kept verbatim for reads.
    pub(crate) async fn put(&self, name: &str, text: &str) -> Result<()> {
        if name == "root" {
            return Err(Error::invalid("cannot update root policy"));
        }
        if text.trim().is_empty() {
            return Err(Error::invalid("'policy' parameter not supplied or empty"));
        }
        parse_policy(name, text).map_err(|e| Error::invalid(e.to_string()))?;
        let (key, bytes) = encode_policy(name, text)?;
        self.barrier.put(&key, &bytes).await?;
        self.invalidate();
        Ok(())
    }

    /// Deletes a policy (`root` and `default` cannot be deleted).
    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        if name == "root" || name == "default" {
            return Err(Error::invalid(format!("cannot delete {name} policy")));
        }
        self.barrier
            .delete(&format!("{POLICY_PREFIX}{name}"))
            .await?;
        self.invalidate();
        Ok(())
    }

    /// The raw text of a stored policy.
    pub(crate) async fn text(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name).await?.map(|p| p.raw.clone()))
    }

    /// All policy names, sorted, including `root`.
    pub(crate) async fn list(&self) -> Result<Vec<String>> {
        let mut names = self.barrier.scan(POLICY_PREFIX).await?;
        for n in &mut names {
            *n = n.trim_start_matches(POLICY_PREFIX).to_string();
        }
        names.push("root".into());
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The compiled ACL for a token's policies (cached). Unknown policies contribute nothing.
    pub(crate) async fn acl_for(&self, policies: &[String]) -> Result<Arc<Acl>> {
        if policies.iter().any(|p| p == "root") {
            return Ok(self.root.clone());
        }
        let now = crate::clock::now_unix_secs();
        let cached = self.acls.read().get(policies).cloned();
        if let Some(acl) = cached {
            // A rule with an `expiration` stops granting at that time: rebuild then.
            if acl.valid_until().is_none_or(|t| t > now) {
                return Ok(acl);
            }
            self.acls.write().remove(policies);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let mut loaded = Vec::with_capacity(policies.len());
        for name in policies {
            if let Some(p) = self.get(name).await? {
                loaded.push(p);
            }
        }
        let acl = Arc::new(Acl::new(&loaded));
        if self.generation.load(Ordering::SeqCst) == generation {
            self.acls.write().insert(policies.to_vec(), acl.clone());
        }
        Ok(acl)
    }
}
