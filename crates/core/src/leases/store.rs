//! The durable side of leases: one record per lease and two indexes, in a namespace's storage
//! below `sys/leases/`.
//!
//! | Key | Value |
//! |---|---|
//! | `id/<lease id>` | [`Lease`] |
//! | `expire/<expire time, 20 digits>/<lease id>` | empty: the expiry index, in time order |
//! | `token/<token namespace id>/<token hash>/<lease id>` | empty: the leases of a token |
//!
//! A lease and its index entries change in one atomic commit. Nothing here is read at unseal:
//! expiry reads the index up to now (a range read whose cost follows what expires), lookups
//! read one record, a token's revocation reads its own index prefix. So unsealing takes the
//! same time with ten leases or a million (Vault loads every lease at unseal).
//!
//! Every change to a lease holds its lock (one of 64 shards): expiry, renewal and revocation
//! of one lease never interleave.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::barrier::{View, to_json};
use crate::error::Result;

const ID_PREFIX: &str = "id/";
const EXPIRE_PREFIX: &str = "expire/";
const TOKEN_PREFIX: &str = "token/";
const LOCK_SHARDS: usize = 64;

/// Where a namespace's lease store lives in its view.
pub(crate) const LEASES_PREFIX: &str = "sys/leases/";

/// The token a lease belongs to: revoking the token revokes the lease.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct TokenRef {
    /// The id of the namespace holding the token.
    pub(crate) namespace: String,
    /// Hex of the token's hash (its storage id).
    pub(crate) hash: String,
}

/// One lease.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct Lease {
    /// `<request path>/<random>`, e.g. `database/creds/app/5Dd3…`.
    pub(crate) id: String,
    /// Uuid of the mount whose engine issued it (and revokes it).
    pub(crate) mount: String,
    /// Unix seconds.
    pub(crate) issue_time: i64,
    /// Unix seconds: when it is revoked unless renewed.
    pub(crate) expire_time: i64,
    /// Unix seconds of the last renewal (0: never).
    pub(crate) last_renewal: i64,
    /// The increment a renewal without one gets, in seconds.
    pub(crate) ttl: u64,
    /// Unix seconds no renewal goes past (the role's `max_ttl`, and the token's expiry).
    pub(crate) max_expire: i64,
    pub(crate) renewable: bool,
    /// The token that asked for it; `None` for leases no token owns.
    pub(crate) token: Option<TokenRef>,
    /// What the engine needs to revoke it (e.g. a database user's name); never a password.
    pub(crate) internal: Map<String, Value>,
    /// Failed revocations so far (expiry retries them with backoff).
    pub(crate) revoke_attempts: u32,
    /// Why the last revocation failed (the error's public message).
    pub(crate) last_error: Option<String>,
    /// Revocation failed too often: only `revoke-force` removes it now.
    pub(crate) irrevocable: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("id", &self.id)
            .field("expire_time", &self.expire_time)
            .field("irrevocable", &self.irrevocable)
            .finish_non_exhaustive()
    }
}

fn expire_key(expire: i64, id: &str) -> String {
    format!("{EXPIRE_PREFIX}{:020}/{id}", expire.max(0))
}

fn token_key(token: &TokenRef, id: &str) -> String {
    format!("{TOKEN_PREFIX}{}/{}/{id}", token.namespace, token.hash)
}

/// A namespace's leases. Cloning shares the locks.
#[derive(Clone, Debug)]
pub(crate) struct LeaseStore {
    view: View,
    locks: Arc<[tokio::sync::Mutex<()>]>,
}

impl LeaseStore {
    /// The lease store in `view` (a namespace's view below [`LEASES_PREFIX`]).
    pub(crate) fn new(view: View) -> LeaseStore {
        LeaseStore {
            view,
            locks: (0..LOCK_SHARDS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// The lock guarding lease `id`.
    pub(crate) fn lock(&self, id: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        id.hash(&mut h);
        let i = usize::try_from(h.finish() % LOCK_SHARDS as u64).unwrap_or(0);
        &self.locks[i]
    }

    pub(crate) async fn get(&self, id: &str) -> Result<Option<Lease>> {
        self.view
            .get_json(&format!("{ID_PREFIX}{id}"), "lease")
            .await
    }

    /// Writes `next` (a new lease, or a change to `current`), moving its index entries, in
    /// one commit. Call with the lease's lock held.
    pub(crate) async fn put(&self, current: Option<&Lease>, next: &Lease) -> Result<()> {
        let mut ops: Vec<(String, Option<Vec<u8>>)> = Vec::with_capacity(4);
        let indexed = |l: &Lease| !l.irrevocable;
        if let Some(cur) = current
            && indexed(cur)
            && (!indexed(next) || cur.expire_time != next.expire_time)
        {
            ops.push((expire_key(cur.expire_time, &cur.id), None));
        }
        if indexed(next) && current.is_none_or(|c| !indexed(c) || c.expire_time != next.expire_time)
        {
            ops.push((expire_key(next.expire_time, &next.id), Some(Vec::new())));
        }
        if current.is_none()
            && let Some(t) = &next.token
        {
            ops.push((token_key(t, &next.id), Some(Vec::new())));
        }
        ops.push((format!("{ID_PREFIX}{}", next.id), Some(to_json(next)?)));
        self.view.batch(ops).await
    }

    /// Removes `lease` and its index entries. Call with its lock held.
    pub(crate) async fn remove(&self, lease: &Lease) -> Result<()> {
        let mut ops: Vec<(String, Option<Vec<u8>>)> = vec![
            (format!("{ID_PREFIX}{}", lease.id), None),
            (expire_key(lease.expire_time, &lease.id), None),
        ];
        if let Some(t) = &lease.token {
            ops.push((token_key(t, &lease.id), None));
        }
        self.view.batch(ops).await
    }

    /// Ids of at most `limit` leases expiring at or before `now`, earliest first.
    pub(crate) async fn expired(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        let end = format!("{EXPIRE_PREFIX}{:020}", now.saturating_add(1).max(0));
        let keys = self.view.scan_range(EXPIRE_PREFIX, &end, limit).await?;
        Ok(keys.iter().filter_map(|k| expire_entry_id(k)).collect())
    }

    /// When the next lease expires, if any does.
    pub(crate) async fn next_expiry(&self) -> Result<Option<i64>> {
        let end = format!("{EXPIRE_PREFIX}~");
        let keys = self.view.scan_range(EXPIRE_PREFIX, &end, 1).await?;
        Ok(keys.first().and_then(|k| {
            k.strip_prefix(EXPIRE_PREFIX)
                .and_then(|rest| rest.get(..20))
                .and_then(|secs| secs.parse().ok())
        }))
    }

    /// Ids of the leases of token `token`.
    pub(crate) async fn of_token(&self, token: &TokenRef) -> Result<Vec<String>> {
        let prefix = format!("{TOKEN_PREFIX}{}/{}/", token.namespace, token.hash);
        Ok(self
            .view
            .scan(&prefix)
            .await?
            .into_iter()
            .map(|k| k.strip_prefix(&prefix).unwrap_or(&k).to_string())
            .collect())
    }

    /// Ids of every lease below `prefix` (a lease id prefix, e.g. `database/creds/app/`).
    pub(crate) async fn with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let full = format!("{ID_PREFIX}{prefix}");
        Ok(self
            .view
            .scan(&full)
            .await?
            .into_iter()
            .map(|k| format!("{prefix}{}", k.strip_prefix(&full).unwrap_or(&k)))
            .collect())
    }

    /// One level of lease ids below `prefix`, as `LIST sys/leases/lookup/<prefix>` shows it
    /// (folders end with `/`).
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.view.list(&format!("{ID_PREFIX}{prefix}")).await
    }
}

impl LeaseStore {
    /// Removes index entries whose lease record is gone (damaged storage, older builds), and
    /// expiry entries of a lease at another time. Returns how many it removed.
    pub(crate) async fn tidy(&self) -> Result<usize> {
        let mut stale: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        for full in self.view.scan(EXPIRE_PREFIX).await? {
            let Some(id) = expire_entry_id(&full) else {
                continue;
            };
            let _guard = self.lock(&id).lock().await;
            let keep = self
                .get(&id)
                .await?
                .is_some_and(|l| !l.irrevocable && expire_key(l.expire_time, &l.id) == full);
            if !keep {
                stale.push((full, None));
            }
        }
        for full in self.view.scan(TOKEN_PREFIX).await? {
            // `token/<namespace id>/<token hash>/<lease id>`
            let key = full.strip_prefix(TOKEN_PREFIX).unwrap_or(&full);
            let mut parts = key.splitn(3, '/');
            let (Some(_), Some(_), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            if self.get(id).await?.is_none() {
                stale.push((full.clone(), None));
            }
        }
        let removed = stale.len();
        self.view.batch(stale).await?;
        Ok(removed)
    }
}

/// The lease id in an expiry index key (`expire/<20 digits>/<id>`).
fn expire_entry_id(key: &str) -> Option<String> {
    key.strip_prefix(EXPIRE_PREFIX)
        .and_then(|rest| rest.get(21..))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> LeaseStore {
        let backend: Arc<dyn coffre_storage::Backend> =
            Arc::new(coffre_storage::InMemoryBackend::new());
        let barrier = Arc::new(crate::barrier::test_barrier(backend, 1 << 30).await);
        LeaseStore::new(View::new(barrier, LEASES_PREFIX))
    }

    fn lease(id: &str, expire: i64) -> Lease {
        Lease {
            id: id.into(),
            expire_time: expire,
            token: Some(TokenRef {
                namespace: "root".into(),
                hash: "ab".into(),
            }),
            ..Lease::default()
        }
    }

    #[tokio::test]
    async fn the_indexes_follow_the_record() {
        let s = store().await;
        let a = lease("db/creds/r/a", 200);
        let b = lease("db/creds/r/b", 100);
        s.put(None, &a).await.expect("put");
        s.put(None, &b).await.expect("put");
        assert_eq!(s.expired(99, 10).await.expect("due"), Vec::<String>::new());
        assert_eq!(s.expired(150, 10).await.expect("due"), ["db/creds/r/b"]);
        assert_eq!(s.next_expiry().await.expect("next"), Some(100));
        // A renewal moves the expiry entry.
        let renewed = Lease {
            expire_time: 300,
            ..b.clone()
        };
        s.put(Some(&b), &renewed).await.expect("renew");
        assert_eq!(
            s.expired(250, 10).await.expect("due"),
            ["db/creds/r/a"],
            "the old entry is gone"
        );
        let token = a.token.clone().expect("token");
        assert_eq!(s.of_token(&token).await.expect("of token").len(), 2);
        assert_eq!(
            s.with_prefix("db/creds/").await.expect("prefix"),
            ["db/creds/r/a", "db/creds/r/b"]
        );
        assert_eq!(s.list("db/").await.expect("list"), ["creds/"]);
        // An irrevocable lease leaves the expiry index and stays readable.
        let stuck = Lease {
            irrevocable: true,
            ..a.clone()
        };
        s.put(Some(&a), &stuck).await.expect("stuck");
        assert_eq!(s.expired(1_000, 10).await.expect("due"), ["db/creds/r/b"]);
        assert!(s.get("db/creds/r/a").await.expect("get").is_some());
        s.remove(&stuck).await.expect("remove");
        s.remove(&renewed).await.expect("remove");
        assert_eq!(s.next_expiry().await.expect("next"), None);
        assert!(s.of_token(&token).await.expect("of token").is_empty());
        assert!(s.get("db/creds/r/a").await.expect("get").is_none());
    }

    #[tokio::test]
    async fn tidy_removes_index_entries_that_point_at_nothing() {
        let s = store().await;
        let live = lease("db/creds/r/live", 100);
        s.put(None, &live).await.expect("put");
        // Entries left by damaged storage: an expiry entry and a token entry of no lease,
        // and an expiry entry of the live lease at a time its record does not say.
        s.view
            .batch(vec![
                (expire_key(50, "db/creds/r/gone"), Some(Vec::new())),
                (
                    token_key(live.token.as_ref().expect("token"), "db/creds/r/gone"),
                    Some(Vec::new()),
                ),
                (expire_key(70, &live.id), Some(Vec::new())),
            ])
            .await
            .expect("damage");
        assert_eq!(s.tidy().await.expect("tidy"), 3);
        assert_eq!(
            s.expired(1_000, 10).await.expect("due"),
            ["db/creds/r/live"]
        );
        assert_eq!(
            s.of_token(live.token.as_ref().expect("token"))
                .await
                .expect("of token"),
            ["db/creds/r/live"]
        );
        assert_eq!(s.tidy().await.expect("tidy"), 0, "nothing left to tidy");
    }
}
