//! The token tree: cascading revocation, orphaning.
//!
//! A token's children usually live in its own store (`parent/<parent>/<child>`). A child
//! created in a namespace below its parent's lives in that namespace's store instead, which
//! indexes it as `xparent/<parent's namespace id>/<parent>/<child>`; the parent's store keeps
//! a marker `xchild/<parent>/<child's namespace id>` saying where to look. The marker is
//! written first and may outlive the children it announces (a failed creation, a child
//! revoked on its own): a marker with nothing behind it costs one empty listing.
//!
//! This store removes its own part of a tree and reports the markers it removed as
//! [`CrossChildren`]; the namespace layer (`namespace::token_tree`) follows them into the
//! other stores.

use super::{ID_PREFIX, PARENT_PREFIX, Result, TokenStore, hex_to_hash};

const XCHILD_PREFIX: &str = "xchild/";
const XPARENT_PREFIX: &str = "xparent/";

/// Children of a revoked or orphaned token that live in another namespace's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CrossChildren {
    /// Hex of the parent token's hash (in this store).
    pub(crate) parent: String,
    /// The namespace whose store holds the children.
    pub(crate) namespace_id: String,
}

/// What [`TokenStore::revoke_tree`] revoked.
pub(crate) struct Revoked {
    /// Where the tree goes on in other namespaces' stores.
    pub(crate) cross: Vec<CrossChildren>,
    /// The hashes of the tokens revoked in this store (their leases end too).
    pub(crate) hashes: Vec<[u8; 32]>,
}

impl TokenStore {
    /// The index key of a child whose parent lives in another namespace's store.
    pub(super) fn cross_parent_key(parent_ns: &str, parent: &str, child: &str) -> String {
        format!("{XPARENT_PREFIX}{parent_ns}/{parent}/{child}")
    }

    /// Announces that namespace `child_ns` is about to hold a child of `parent`. Call it with
    /// [`TokenStore::hold`] taken and keep it until the child is stored, so a revocation of
    /// the parent either sees the child or refuses its creation.
    pub(crate) async fn mark_cross_child(&self, parent: &[u8; 32], child_ns: &str) -> Result<()> {
        let key = format!("{XCHILD_PREFIX}{}/{child_ns}", hex::encode(parent));
        self.view.put(&key, &[]).await
    }

    /// The children this store holds of token `parent` of namespace `parent_ns`.
    pub(crate) async fn cross_children(
        &self,
        parent_ns: &str,
        parent: &str,
    ) -> Result<Vec<[u8; 32]>> {
        let prefix = format!("{XPARENT_PREFIX}{parent_ns}/{parent}/");
        Ok(self
            .view
            .list(&prefix)
            .await?
            .iter()
            .filter_map(|child| hex_to_hash(child))
            .collect())
    }

    /// The tokens of this store whose parent lives in another namespace's store.
    pub(crate) async fn cross_parented(&self) -> Result<Vec<[u8; 32]>> {
        Ok(self
            .view
            .scan(XPARENT_PREFIX)
            .await?
            .iter()
            .filter_map(|key| key.rsplit('/').next().and_then(hex_to_hash))
            .collect())
    }

    /// Every descendant of `hash` in this store (children first in the returned order's
    /// reverse).
    async fn descendants(&self, hash_hex: &str) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let mut stack = vec![hash_hex.to_string()];
        while let Some(h) = stack.pop() {
            for child in self.view.list(&format!("{PARENT_PREFIX}{h}/")).await? {
                let child = child.trim_end_matches('/').to_string();
                found.push(child.clone());
                stack.push(child);
            }
        }
        Ok(found)
    }

    /// Deletes one token with its index entries, and its markers of children elsewhere
    /// (returned).
    async fn delete_one(&self, hash_hex: &str) -> Result<Vec<CrossChildren>> {
        let Some(hash) = hex_to_hash(hash_hex) else {
            return Ok(Vec::new());
        };
        let entry = self.load(&hash).await?;
        let mut deletes = vec![(format!("{ID_PREFIX}{hash_hex}"), None)];
        if let Some(entry) = &entry {
            if !entry.accessor.is_empty() {
                deletes.push((self.accessor_key(&entry.accessor), None));
            }
            match (&entry.parent, &entry.parent_namespace) {
                (Some(parent), None) => {
                    deletes.push((format!("{PARENT_PREFIX}{parent}/{hash_hex}"), None));
                }
                (Some(parent), Some(ns)) => {
                    deletes.push((Self::cross_parent_key(ns, parent, hash_hex), None));
                }
                (None, _) => {}
            }
        }
        for child in self
            .view
            .list(&format!("{PARENT_PREFIX}{hash_hex}/"))
            .await?
        {
            deletes.push((format!("{PARENT_PREFIX}{hash_hex}/{child}"), None));
        }
        let mut cross = Vec::new();
        for namespace_id in self
            .view
            .list(&format!("{XCHILD_PREFIX}{hash_hex}/"))
            .await?
        {
            deletes.push((format!("{XCHILD_PREFIX}{hash_hex}/{namespace_id}"), None));
            cross.push(CrossChildren {
                parent: hash_hex.to_string(),
                namespace_id,
            });
        }
        self.view.batch(deletes).await?;
        self.cache.invalidate([&hash]);
        Ok(cross)
    }

    /// Revokes a token and all of its descendants in this store. The cache is evicted for
    /// each, so a revoked token stops working on the very next request. Returns the tokens
    /// revoked here and where the tree goes on in other stores.
    pub async fn revoke_tree(&self, hash: &[u8; 32]) -> Result<Revoked> {
        let _guard = self.write_lock.lock().await;
        let hash_hex = hex::encode(hash);
        let mut all = self.descendants(&hash_hex).await?;
        // Deepest first, so an interrupted revocation never leaves a live child of a
        // revoked parent unreachable from the index.
        all.reverse();
        let mut cross = Vec::new();
        for h in &all {
            cross.extend(self.delete_one(h).await?);
        }
        cross.extend(self.delete_one(&hash_hex).await?);
        let mut hashes: Vec<[u8; 32]> = all.iter().filter_map(|h| hex_to_hash(h)).collect();
        hashes.push(*hash);
        Ok(Revoked { cross, hashes })
    }

    /// Revokes only this token; its children in this store become orphans. Returns its
    /// children in other stores, to be orphaned there.
    pub async fn revoke_orphan(&self, hash: &[u8; 32]) -> Result<Vec<CrossChildren>> {
        let _guard = self.write_lock.lock().await;
        let hash_hex = hex::encode(hash);
        for child in self
            .view
            .list(&format!("{PARENT_PREFIX}{hash_hex}/"))
            .await?
        {
            let child = child.trim_end_matches('/');
            if let Some(ch) = hex_to_hash(child)
                && let Some(entry) = self.load(&ch).await?
            {
                let mut next = (*entry).clone();
                next.parent = None;
                self.rewrite(&ch, next).await?;
            }
        }
        self.delete_one(&hash_hex).await
    }

    /// Makes the children of `parent` (a token of namespace `parent_ns`) held here orphans.
    pub(crate) async fn orphan_cross_children(&self, parent_ns: &str, parent: &str) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        for child in self.cross_children(parent_ns, parent).await? {
            let child_hex = hex::encode(child);
            if let Some(entry) = self.load(&child).await? {
                let mut next = (*entry).clone();
                next.parent = None;
                next.parent_namespace = None;
                self.rewrite(&child, next).await?;
            }
            self.view
                .delete(&Self::cross_parent_key(parent_ns, parent, &child_hex))
                .await?;
        }
        Ok(())
    }
}
