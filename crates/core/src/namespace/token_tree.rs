//! Token trees across namespaces. A token made for a namespace below its creator's lives in
//! that namespace's store but is still its creator's child, as in OpenBao: revoking the
//! creator revokes it, and it is refused the moment any ancestor is gone, expired or used up.
//! Each store keeps its part of the tree (`token::tree`); this module follows a tree from one
//! store into the next. Locks are taken ancestor's store first, the only order there is.

use std::sync::Arc;

use super::{Namespaces, Tenant};
use crate::error::{Error, Result};
use crate::token::{CrossChildren, TokenEntry};

fn hash_of(hex_hash: &str) -> Option<[u8; 32]> {
    hex::decode(hex_hash).ok()?.try_into().ok()
}

impl Namespaces {
    /// Expires the leases of the revoked tokens `hashes` of `tenant` (the expiry job revokes
    /// them within a second). A failure is logged: the leases still end at their own expiry,
    /// which never passes the token's.
    async fn expire_leases(&self, tenant: &Tenant, hashes: &[[u8; 32]]) {
        let now = tenant.view.clock().now_unix_secs();
        if let Err(e) = crate::leases::expire_of_tokens(&self.all(), tenant, hashes, now).await {
            tracing::warn!(error = %e.public_message(), "could not expire the leases of revoked tokens");
        }
    }

    /// `hash`'s entry in `holder`'s store if it and every ancestor, in whichever namespace,
    /// is valid (present, unexpired, not used up).
    pub(crate) async fn lookup_token(
        &self,
        holder: &Tenant,
        hash: &[u8; 32],
    ) -> Result<Option<Arc<TokenEntry>>> {
        let Some((entry, mut foreign)) = holder.tokens.lookup_chain(hash).await? else {
            return Ok(None);
        };
        while let Some((namespace_id, parent)) = foreign {
            let (Some(tenant), Some(parent)) = (self.by_id(&namespace_id), hash_of(&parent)) else {
                return Ok(None);
            };
            match tenant.tokens.lookup_chain(&parent).await? {
                Some((ancestor, next)) if ancestor.num_uses >= 0 => foreign = next,
                _ => return Ok(None),
            }
        }
        Ok(Some(entry))
    }

    /// Stores `entry` as token `token` of `tenant`, a child of `parent_hash`, a token of the
    /// namespace `parent` above. The parent's store is held meanwhile, so a revocation of the
    /// parent either finds the child or comes first and the child is refused (403).
    pub(crate) async fn create_child_below(
        &self,
        parent: &Tenant,
        parent_hash: &[u8; 32],
        tenant: &Tenant,
        token: &str,
        mut entry: TokenEntry,
    ) -> Result<Arc<TokenEntry>> {
        let _held = parent.tokens.hold().await;
        let valid = self
            .lookup_token(parent, parent_hash)
            .await?
            .is_some_and(|p| p.num_uses >= 0);
        if !valid {
            return Err(Error::PermissionDenied);
        }
        parent
            .tokens
            .mark_cross_child(parent_hash, &tenant.ns.id)
            .await?;
        entry.parent = Some(hex::encode(parent_hash));
        entry.parent_namespace = Some(parent.ns.id.clone());
        tenant.tokens.create(token, entry).await
    }

    /// Revokes token `hash` of `tenant` and all of its descendants, in every namespace.
    pub(crate) async fn revoke_token_tree(&self, tenant: &Tenant, hash: &[u8; 32]) -> Result<()> {
        let revoked = tenant.tokens.revoke_tree(hash).await?;
        self.expire_leases(tenant, &revoked.hashes).await;
        for CrossChildren {
            parent,
            namespace_id,
        } in revoked.cross
        {
            // A namespace deleted since took its tokens with it.
            let Some(below) = self.by_id(&namespace_id) else {
                continue;
            };
            for child in below.tokens.cross_children(&tenant.ns.id, &parent).await? {
                Box::pin(self.revoke_token_tree(&below, &child)).await?;
            }
        }
        Ok(())
    }

    /// Revokes only token `hash` of `tenant`; its children, in every namespace, become
    /// orphans.
    pub(crate) async fn revoke_token_orphan(&self, tenant: &Tenant, hash: &[u8; 32]) -> Result<()> {
        self.expire_leases(tenant, std::slice::from_ref(hash)).await;
        for CrossChildren {
            parent,
            namespace_id,
        } in tenant.tokens.revoke_orphan(hash).await?
        {
            if let Some(below) = self.by_id(&namespace_id) {
                below
                    .tokens
                    .orphan_cross_children(&tenant.ns.id, &parent)
                    .await?;
            }
        }
        Ok(())
    }

    /// The tokens of `tenant` a tidy removes: expired or used up, or with an ancestor in
    /// another namespace that is (a child that raced its parent's revocation is unusable at
    /// once, and removed here).
    pub(crate) async fn tidy_candidates(&self, tenant: &Tenant) -> Result<Vec<[u8; 32]>> {
        let mut due = tenant.tokens.tidy_candidates().await?;
        for hash in tenant.tokens.cross_parented().await? {
            if !due.contains(&hash) && self.lookup_token(tenant, &hash).await?.is_none() {
                due.push(hash);
            }
        }
        Ok(due)
    }

    /// Revokes each token of `hashes` (of `tenant`) with its descendants; returns how many
    /// were revoked.
    pub(crate) async fn revoke_tokens(
        &self,
        tenant: &Tenant,
        hashes: &[[u8; 32]],
    ) -> Result<usize> {
        for hash in hashes {
            self.revoke_token_tree(tenant, hash).await?;
        }
        if !hashes.is_empty() {
            tracing::info!(removed = hashes.len(), "tidied expired tokens");
        }
        Ok(hashes.len())
    }
}
