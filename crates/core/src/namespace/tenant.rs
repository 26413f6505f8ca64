//! [`Tenant`]: what one namespace holds while the core is unsealed.

use std::sync::Arc;

use arc_swap::ArcSwap;
use coffre_crypto::Key256;

use super::NamespaceEntry;
use crate::audit::BackgroundAudit;
use crate::barrier::View;
use crate::engines::mount_state::MountStates;
use crate::error::{Error, Result};
use crate::mount::{MOUNTS_PATH, MountTable, Router};
use crate::policy_store::{POLICY_PREFIX, PolicyStore, default_policy_entry};
use crate::quota::SecretCount;
use crate::system::Migrations;
use crate::token::{TOKEN_KEY_PATH, TOKEN_PREFIX, TokenStore};

/// One namespace's stores, mount table and router. Everything in it works on the namespace's
/// [`View`], so nothing reached through a tenant can touch another tenant's storage.
pub(crate) struct Tenant {
    /// Who the namespace is (its `custom_metadata` and `max_secrets` as at unseal: read
    /// [`Tenant::entry`]).
    pub(crate) ns: NamespaceEntry,
    /// What changes about the namespace: custom metadata and `max_secrets`.
    changeable: parking_lot::RwLock<(std::collections::BTreeMap<String, String>, u64)>,
    /// The namespace's whole storage (`""` in the root, `namespaces/<id>/` otherwise).
    pub(crate) view: View,
    pub(crate) tokens: TokenStore,
    pub(crate) policies: PolicyStore,
    /// The stored table; the mutex serializes mount changes.
    pub(crate) mounts: tokio::sync::Mutex<MountTable>,
    pub(crate) router: ArcSwap<Router>,
    /// Recent `sys/remount` moves, for `sys/remount/status`.
    pub(crate) migrations: Migrations,
    /// The audit log as this namespace's background jobs see it (entries record the namespace).
    pub(crate) background: BackgroundAudit,
    /// The `max_secrets` cap and count, kept by the KV engines of the namespace.
    pub(crate) secrets: Arc<SecretCount>,
    /// Failed logins and locked names of the namespace's auth mounts.
    pub(crate) lockouts: crate::auth::Lockouts,
    /// Entities, aliases and groups.
    pub(crate) identity: crate::identity::IdentityStore,
    /// Login MFA: methods, enforcements, enrolments, pending logins.
    pub(crate) mfa: crate::mfa::MfaStore,
    /// The namespace's scheduled jobs (rotations, token tidy, lease expiry).
    pub(crate) jobs: crate::jobs::JobStore,
    /// The leases of the dynamic secrets issued in the namespace.
    pub(crate) leases: crate::leases::LeaseStore,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("path", &self.ns.path)
            .field("id", &self.ns.id)
            .finish_non_exhaustive()
    }
}

/// What a new namespace (or a freshly initialized root) starts with, relative to its view: the
/// `default` policy, a mount table with `sys/`, and the key that hashes its tokens.
pub(crate) fn initial_entries(now_unix_nanos: i64) -> Result<Vec<(String, Option<Vec<u8>>)>> {
    let (default_key, default_policy) = default_policy_entry(now_unix_nanos)?;
    let table = serde_json::to_vec(&MountTable::initial()?)
        .map_err(|e| Error::Internal(format!("encode mounts: {e}")))?;
    let token_key = Key256::generate()?;
    Ok(vec![
        (default_key, Some(default_policy)),
        (MOUNTS_PATH.into(), Some(table)),
        (TOKEN_KEY_PATH.into(), Some(token_key.expose().to_vec())),
    ])
}

impl Tenant {
    /// Opens a namespace's stores from its view. A namespace whose creation was cut short after
    /// its key and entry were committed gets its initial entries now.
    ///
    /// `parent` is the parent namespace's secret count (`None` for the root). Its own cap is
    /// applied by the caller, once the namespaces below it are open too
    /// ([`Tenant::apply_max_secrets`]).
    pub(crate) async fn open(
        ns: NamespaceEntry,
        view: View,
        parent: Option<&Arc<SecretCount>>,
        background: &BackgroundAudit,
        states: &MountStates,
    ) -> Result<Tenant> {
        let raw = match view.get(MOUNTS_PATH).await? {
            Some(raw) => raw,
            None if !ns.is_root() => {
                view.batch(initial_entries(view.clock().now_unix_nanos())?)
                    .await?;
                view.get(MOUNTS_PATH)
                    .await?
                    .ok_or_else(|| Error::Internal("mount table missing".into()))?
            }
            None => return Err(Error::Internal("core/mounts missing from storage".into())),
        };
        let mounts: MountTable = serde_json::from_slice(raw.expose())
            .map_err(|e| Error::Internal(format!("corrupt mount table: {e}")))?;
        let suffix = (!ns.is_root()).then(|| ns.id.clone());
        let tokens = TokenStore::open(view.sub(TOKEN_PREFIX), suffix).await?;
        let secrets = Arc::new(parent.map_or_else(SecretCount::default, SecretCount::below));
        let background = background.in_namespace(&ns);
        let jobs = crate::jobs::JobStore::new(view.sub(crate::jobs::JOBS_PREFIX));
        let router = Router::build(&mounts, &view, &secrets, &background, &jobs, states)?;
        let lockouts = crate::auth::Lockouts::open(view.clone()).await?;
        let identity = crate::identity::IdentityStore::open(view.clone()).await?;
        let mfa = crate::mfa::MfaStore::open(view.clone()).await?;
        let tenant = Tenant {
            changeable: parking_lot::RwLock::new((ns.custom_metadata.clone(), ns.max_secrets)),
            policies: PolicyStore::new(view.sub(POLICY_PREFIX)),
            tokens,
            mounts: tokio::sync::Mutex::new(mounts),
            router: ArcSwap::from_pointee(router),
            migrations: Migrations::default(),
            secrets,
            background,
            lockouts,
            identity,
            mfa,
            jobs,
            leases: crate::leases::LeaseStore::new(view.sub(crate::leases::LEASES_PREFIX)),
            view,
            ns,
        };
        Ok(tenant)
    }

    /// Sets the namespace's `max_secrets` (0: none), counting what it and the namespaces
    /// `below` it store when there is a cap. A secret written while the count runs may be
    /// missed by it (the count is then one low until the next recount).
    pub(crate) async fn apply_max_secrets(&self, cap: u64, below: &[Arc<Tenant>]) -> Result<()> {
        if cap == 0 {
            self.secrets.set(0, 0);
            return Ok(());
        }
        let mut stored = self.stored_secrets().await?;
        for tenant in below {
            stored += tenant.stored_secrets().await?;
        }
        self.secrets.set(cap, stored);
        Ok(())
    }

    /// The secrets in this namespace's own mounts.
    async fn stored_secrets(&self) -> Result<u64> {
        let router = self.router.load_full();
        let mut stored = 0;
        for route in router.routes() {
            stored += route.engine.count_secrets(&route.view).await?;
        }
        Ok(stored)
    }

    /// The namespace entry as it is now.
    pub(crate) fn entry(&self) -> NamespaceEntry {
        let (custom_metadata, max_secrets) = self.changeable.read().clone();
        NamespaceEntry {
            custom_metadata,
            max_secrets,
            ..self.ns.clone()
        }
    }

    /// Publishes a changed entry (its id and path are the same).
    pub(crate) fn set_entry(&self, entry: &NamespaceEntry) {
        *self.changeable.write() = (entry.custom_metadata.clone(), entry.max_secrets);
    }

    /// Whether this namespace is `other` or one of its ancestors.
    pub(crate) fn contains(&self, other: &Tenant) -> bool {
        other.ns.path.starts_with(&self.ns.path)
    }
}
