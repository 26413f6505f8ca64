//! Stored ACL policies and the cache of compiled ACLs.
//!
//! Policies live behind the barrier at `sys/policy/<name>`. Parsed policies and compiled ACLs
//! (keyed by a token's sorted policy list) are cached in [`CoherentCache`]s: a write or delete
//! changes storage, then invalidates the policy and clears every compiled ACL before it is
//! reported, and a reader that read (or compiled from) the old text while the change was in
//! flight cannot put it back. So a tightened or deleted policy stops granting at the very next
//! request.

use std::sync::Arc;

use coffre_sync::CoherentCache;
use serde::{Deserialize, Serialize};

use crate::barrier::View;
use crate::error::{Error, Result};
use crate::policy::{Acl, DEFAULT_POLICY, Policy, parse_policy};

/// Where the policy store's view begins: a policy is stored under its name below it.
pub(crate) const POLICY_PREFIX: &str = "sys/policy/";

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    name: String,
    policy: String,
    /// How many times the policy was written (1 for the first write).
    #[serde(default)]
    version: u64,
    /// Unix nanoseconds of the last write (0: written before this was recorded).
    #[serde(default)]
    modified: i64,
}

/// What a policy read shows besides the text.
pub(crate) struct PolicyInfo {
    /// How many times the policy was written.
    pub(crate) version: u64,
    /// Unix nanoseconds of the last write.
    pub(crate) modified: i64,
}

/// Encodes a policy for storage.
fn encode_policy(stored: &StoredPolicy) -> Result<Vec<u8>> {
    serde_json::to_vec(stored).map_err(|e| Error::Internal(format!("encode policy: {e}")))
}

/// The `default` policy as stored at init (written at `now`, unix nanoseconds).
pub(crate) fn default_policy_entry(now: i64) -> Result<(String, Vec<u8>)> {
    let stored = StoredPolicy {
        name: "default".into(),
        policy: DEFAULT_POLICY.into(),
        version: 1,
        modified: now,
    };
    Ok((format!("{POLICY_PREFIX}default"), encode_policy(&stored)?))
}

/// Parsed policies kept in memory (each is small; beyond this the least used are re-read).
const POLICY_CACHE_ITEMS: usize = 10_000;
/// Compiled ACLs kept, one per distinct policy set in use.
const ACL_CACHE_ITEMS: usize = 10_000;

/// Policies of an unsealed core.
pub(crate) struct PolicyStore {
    /// Everything below `sys/policy/`.
    view: View,
    parsed: CoherentCache<String, Arc<Policy>>,
    acls: CoherentCache<Vec<String>, Arc<Acl>>,
    root: Arc<Acl>,
    /// Serializes writes, so each gets its own version number.
    writes: tokio::sync::Mutex<()>,
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
    pub(crate) fn new(view: View) -> PolicyStore {
        PolicyStore {
            view,
            parsed: CoherentCache::with_items(POLICY_CACHE_ITEMS),
            acls: CoherentCache::with_items(ACL_CACHE_ITEMS),
            root: Arc::new(Acl::root()),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// After `name` changed in storage, before the change is reported.
    pub(crate) fn invalidate(&self, name: &str) {
        self.parsed.invalidate([name]);
        self.acls.clear();
    }

    /// A stored policy, parsed.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Arc<Policy>>> {
        if let Some(p) = self.parsed.get(name) {
            return Ok(Some(p));
        }
        let ticket = self.parsed.ticket();
        let Some(raw) = self.view.get(name).await? else {
            return Ok(None);
        };
        let stored: StoredPolicy = serde_json::from_slice(raw.expose())
            .map_err(|e| Error::Internal(format!("corrupt policy {name}: {e}")))?;
        let policy =
            Arc::new(parse_policy(name, &stored.policy).map_err(|e| {
                Error::Internal(format!("stored policy {name} no longer parses: {e}"))
            })?);
        self.parsed.fill(ticket, name, policy.clone());
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
        let _serial = self.writes.lock().await;
        let version = self.info(name).await?.map_or(0, |i| i.version) + 1;
        let stored = StoredPolicy {
            name: name.into(),
            policy: text.into(),
            version,
            modified: self.view.clock().now_unix_nanos(),
        };
        self.view.put(name, &encode_policy(&stored)?).await?;
        self.invalidate(name);
        Ok(())
    }

    /// The version and time of the last write of a stored policy (a direct read: policy
    /// reads are rare, and the cache holds parsed rules only).
    pub(crate) async fn info(&self, name: &str) -> Result<Option<PolicyInfo>> {
        let Some(raw) = self.view.get(name).await? else {
            return Ok(None);
        };
        let stored: StoredPolicy = serde_json::from_slice(raw.expose())
            .map_err(|e| Error::Internal(format!("corrupt policy {name}: {e}")))?;
        Ok(Some(PolicyInfo {
            version: stored.version,
            modified: stored.modified,
        }))
    }

    /// Deletes a policy (`root` and `default` cannot be deleted).
    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        if name == "root" || name == "default" {
            return Err(Error::invalid(format!("cannot delete {name} policy")));
        }
        self.view.delete(name).await?;
        self.invalidate(name);
        Ok(())
    }

    /// The raw text of a stored policy.
    pub(crate) async fn text(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get(name).await?.map(|p| p.raw.clone()))
    }

    /// All policy names, sorted, including `root`.
    /// The stored policies, and `root` when `with_root` (OpenBao lists it in the root
    /// namespace only, though it applies in every namespace).
    pub(crate) async fn list(&self, with_root: bool) -> Result<Vec<String>> {
        let mut names = self.view.scan("").await?;
        if with_root {
            names.push("root".into());
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The compiled ACL for a token of an entity: the token's policies and the entity's
    /// identity policies, templated rules rendered for the entity (cached per entity and
    /// identity-store generation, so a change to the entity or its groups applies at the next
    /// request).
    pub(crate) async fn acl_for_entity(
        &self,
        token_policies: &[String],
        identity: &crate::identity::Resolved,
    ) -> Result<Arc<Acl>> {
        // The token's policies, the identity ones, and the entity's own entry: one cache
        // entry per entity and identity-store generation.
        let mut key = Vec::with_capacity(token_policies.len() + identity.policies.len() + 1);
        key.extend(
            token_policies
                .iter()
                .chain(identity.policies.iter())
                .cloned(),
        );
        key.sort();
        key.dedup();
        if key.iter().any(|p| p == "root") {
            return Ok(self.root.clone());
        }
        key.push(identity.acl_key.clone());
        let now = crate::clock::Clock::now_unix_secs(&**self.view.clock());
        if let Some(acl) = self.acls.get(&key)
            && acl.valid_until().is_none_or(|t| t > now)
        {
            return Ok(acl);
        }
        let ticket = self.acls.ticket();
        let names = &key[..key.len() - 1];
        let mut loaded = Vec::with_capacity(names.len());
        for name in names {
            if let Some(p) = self.get(name).await? {
                loaded.push(p);
            }
        }
        let acl = Arc::new(Acl::new_for_entity(&loaded, now, &|k| identity.template(k)));
        self.acls.fill(ticket, &key, acl.clone());
        Ok(acl)
    }

    /// The compiled ACL for a token's policies (cached). Unknown policies contribute nothing.
    pub(crate) async fn acl_for(&self, policies: &[String]) -> Result<Arc<Acl>> {
        if policies.iter().any(|p| p == "root") {
            return Ok(self.root.clone());
        }
        let now = crate::clock::Clock::now_unix_secs(&**self.view.clock());
        if let Some(acl) = self.acls.get(policies) {
            // A rule with an `expiration` stops granting at that time: rebuild then.
            if acl.valid_until().is_none_or(|t| t > now) {
                return Ok(acl);
            }
        }
        // Taken before the policies are read: an ACL compiled from text that a concurrent
        // change replaced is returned to this request (which began before the change was
        // reported) but never cached.
        let ticket = self.acls.ticket();
        let mut loaded = Vec::with_capacity(policies.len());
        for name in policies {
            if let Some(p) = self.get(name).await? {
                loaded.push(p);
            }
        }
        let acl = Arc::new(Acl::new_at(&loaded, now));
        self.acls.fill(ticket, policies, acl.clone());
        Ok(acl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barrier::{DEFAULT_MAX_ENCRYPTIONS_PER_TERM, test_barrier};
    use crate::policy::Op;
    use coffre_storage::InMemoryBackend;
    use coffre_storage::testing::FaultyBackend;
    use serde_json::Map;

    const GRANT: &str = r#"path "secret/*" { capabilities = ["read"] }"#;
    const DENY: &str = r#"path "secret/*" { capabilities = ["deny"] }"#;

    async fn store() -> (Arc<FaultyBackend>, Arc<PolicyStore>) {
        let faulty = Arc::new(FaultyBackend::new(Arc::new(InMemoryBackend::new())));
        let barrier = test_barrier(faulty.clone(), DEFAULT_MAX_ENCRYPTIONS_PER_TERM).await;
        let view = View::new(Arc::new(barrier), POLICY_PREFIX);
        (faulty, Arc::new(PolicyStore::new(view)))
    }

    async fn grants(store: &PolicyStore) -> bool {
        let acl = store.acl_for(&["p".to_string()]).await.expect("acl");
        acl.check(Op::Read, "secret/x", &Map::new()).allowed
    }

    /// A read of the old text that is in flight while the policy is tightened must not put the
    /// old text back into the cache: the next request sees the new policy.
    #[tokio::test]
    async fn a_read_racing_an_update_does_not_resurrect_the_old_policy() {
        let (faulty, store) = store().await;
        store.put("p", GRANT).await.expect("put");
        let hold = faulty.hold_next_get("sys/policy/p");
        let racing = tokio::spawn({
            let store = store.clone();
            async move { grants(&store).await }
        });
        hold.reached().await;
        store.put("p", DENY).await.expect("tighten");
        hold.release();
        assert!(
            racing.await.expect("join"),
            "the racing request began before the change"
        );
        assert!(
            !grants(&store).await,
            "the tightened policy must apply at once"
        );
    }

    #[tokio::test]
    async fn a_read_racing_a_delete_does_not_resurrect_the_policy() {
        let (faulty, store) = store().await;
        store.put("p", GRANT).await.expect("put");
        let hold = faulty.hold_next_get("sys/policy/p");
        let racing = tokio::spawn({
            let store = store.clone();
            async move { grants(&store).await }
        });
        hold.reached().await;
        store.delete("p").await.expect("delete");
        hold.release();
        racing.await.expect("join");
        assert!(
            !grants(&store).await,
            "a deleted policy must stop granting at once"
        );
        assert!(store.get("p").await.expect("get").is_none());
    }

    /// Concurrent readers hammer the caches while a writer flips the policy: after each change
    /// is reported, a fresh request sees it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_readers_never_see_a_reported_change_undone() {
        let (_faulty, store) = store().await;
        store.put("p", GRANT).await.expect("put");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        grants(&store).await;
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for i in 0..300 {
            let grant = i % 2 == 0;
            store
                .put("p", if grant { GRANT } else { DENY })
                .await
                .expect("put");
            assert_eq!(grants(&store).await, grant, "change {i} not in effect");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.await.expect("reader");
        }
    }
}
