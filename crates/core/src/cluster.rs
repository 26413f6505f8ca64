//! A standby's memory kept true to the shared storage: what a change of a storage key, made by
//! the active node and reported by the storage's change feed, means for what this node holds.
//!
//! Three answers. Keys whose values a cache holds (tokens, policies, a mount's KV metadata,
//! transit keys, database connections) drop that entry, so the next request reads storage.
//! Keys read from storage on every use (secret versions, leases, jobs, token indexes) need
//! nothing. Everything else is *structure* loaded at unseal (mount tables, namespaces, their
//! keyrings, identity, MFA, quotas): the node opens its state again ([`crate::Core::reload`]).
//! An unknown key is structure, so a cache added later is at worst reloaded too often, never
//! left stale.

use crate::core::Unsealed;
use crate::error::Result;
use crate::mount::LOGICAL_PREFIX;

/// The nodes sharing this node's storage, as `sys/ha-status` lists them. The server provides
/// it when it runs one of several nodes ([`crate::Core::with_nodes`]).
#[async_trait::async_trait]
pub trait NodeDirectory: Send + Sync + std::fmt::Debug {
    /// The nodes seen recently, the active one marked.
    async fn nodes(&self) -> Result<Vec<NodeStatus>>;
}

/// One node of several.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// Its id (`hostname` in Vault's answer).
    pub node_id: String,
    /// The address of its API.
    pub api_address: String,
    /// Whether it is the active node.
    pub active: bool,
    /// Its last heartbeat (Unix seconds).
    pub last_echo_unix: i64,
    /// The coffre version it runs.
    pub version: String,
}

/// What a namespace-relative storage key holds, as far as a node's memory is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Held<'k> {
    /// Read from storage on every use: nothing to drop.
    Nothing,
    /// A token entry (by the hex of its hash).
    Token(&'k str),
    /// A policy (by name).
    Policy(&'k str),
    /// Something of a mount's engine: the engine decides.
    Mount { uuid: &'k str, key: &'k str },
    /// Loaded at unseal.
    Structure,
}

/// Storage read on every use (prefixes relative to a namespace's view).
const UNCACHED: &[&str] = &[
    "sys/leases/",
    "sys/jobs/",
    "sys/token/accessor-index/",
    "sys/token/accessor/",
    "sys/token/parent/",
    "sys/token/xchild/",
    "sys/token/xparent/",
    "sys/locked-users/",
    "core/purge/",
    "core/namespace-purge/",
];

fn held(key: &str) -> Held<'_> {
    if let Some(hash) = key.strip_prefix("sys/token/id/") {
        return Held::Token(hash);
    }
    if let Some(name) = key.strip_prefix(crate::policy_store::POLICY_PREFIX) {
        return Held::Policy(name);
    }
    if let Some(rest) = key.strip_prefix(LOGICAL_PREFIX)
        && let Some((uuid, key)) = rest.split_once('/')
    {
        return Held::Mount { uuid, key };
    }
    if UNCACHED.iter().any(|p| key.starts_with(p)) {
        return Held::Nothing;
    }
    Held::Structure
}

impl Unsealed {
    /// Drops what this node caches of `keys` (storage keys another node changed). Returns
    /// whether one of them is structure, which only opening the state again takes in.
    pub(crate) async fn invalidate(&self, keys: &[String]) -> bool {
        let mut structure = false;
        for key in keys {
            // A key of another namespace than the root is below its storage prefix.
            let (tenant, rel) = match key.strip_prefix("namespaces/") {
                None => (self.namespaces.root().clone(), key.as_str()),
                Some(rest) => match rest
                    .split_once('/')
                    .and_then(|(id, rel)| Some((self.namespaces.by_id(id)?, rel)))
                {
                    Some(found) => found,
                    // A namespace this node has not opened.
                    None => {
                        structure = true;
                        continue;
                    }
                },
            };
            match held(rel) {
                Held::Nothing => {}
                Held::Token(hex) => {
                    let mut hash = [0u8; 32];
                    if hex::decode_to_slice(hex, &mut hash).is_ok() {
                        tenant.tokens.forget(&hash);
                    }
                }
                Held::Policy(name) => tenant.policies.invalidate(name),
                Held::Mount { uuid, key } => {
                    let router = tenant.router.load_full();
                    if let Some(route) = router.routes().iter().find(|r| r.entry.uuid == uuid) {
                        route.engine.invalidate(key).await;
                    }
                }
                Held::Structure => structure = true,
            }
        }
        structure
    }
}

#[cfg(test)]
mod tests {
    use super::{Held, held};

    #[test]
    fn keys_are_told_apart() {
        assert_eq!(held("sys/token/id/ab12"), Held::Token("ab12"));
        assert_eq!(held("sys/policy/dev"), Held::Policy("dev"));
        assert_eq!(
            held("logical/0b7e/meta/app\u{1}3"),
            Held::Mount {
                uuid: "0b7e",
                key: "meta/app\u{1}3"
            }
        );
        assert_eq!(held("sys/leases/id/x"), Held::Nothing);
        assert_eq!(held("sys/token/parent/p/c"), Held::Nothing);
        assert_eq!(held("core/mounts"), Held::Structure);
        assert_eq!(held("identity/entity/e1"), Held::Structure);
        assert_eq!(held("core/keyring"), Held::Structure);
        assert_eq!(
            held("something/new"),
            Held::Structure,
            "unknown is structure"
        );
    }
}
