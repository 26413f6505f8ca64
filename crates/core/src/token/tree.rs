//! The token tree: cascading revocation, orphaning.

use super::{ID_PREFIX, PARENT_PREFIX, Result, TokenStore, hex_to_hash};

impl TokenStore {
    /// Every descendant of `hash` (children first in the returned order's reverse).
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

    async fn delete_one(&self, hash_hex: &str) -> Result<()> {
        let Some(hash) = hex_to_hash(hash_hex) else {
            return Ok(());
        };
        let entry = self.load(&hash).await?;
        let mut deletes = vec![(format!("{ID_PREFIX}{hash_hex}"), None)];
        if let Some(entry) = &entry {
            if !entry.accessor.is_empty() {
                deletes.push((self.accessor_key(&entry.accessor), None));
            }
            if let Some(parent) = &entry.parent {
                deletes.push((format!("{PARENT_PREFIX}{parent}/{hash_hex}"), None));
            }
        }
        for child in self
            .view
            .list(&format!("{PARENT_PREFIX}{hash_hex}/"))
            .await?
        {
            deletes.push((format!("{PARENT_PREFIX}{hash_hex}/{child}"), None));
        }
        self.view.batch(deletes).await?;
        self.cache.invalidate([&hash]);
        Ok(())
    }

    /// Revokes a token and all of its descendants. The cache is evicted for each, so a
    /// revoked token stops working on the very next request.
    pub async fn revoke_tree(&self, hash: &[u8; 32]) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let hash_hex = hex::encode(hash);
        let mut all = self.descendants(&hash_hex).await?;
        // Deepest first, so an interrupted revocation never leaves a live child of a
        // revoked parent unreachable from the index.
        all.reverse();
        for h in &all {
            self.delete_one(h).await?;
        }
        self.delete_one(&hash_hex).await
    }

    /// Revokes only this token; its children become orphans.
    pub async fn revoke_orphan(&self, hash: &[u8; 32]) -> Result<()> {
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
}
