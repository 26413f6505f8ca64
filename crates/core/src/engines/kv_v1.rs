//! KV version 1: unversioned key/value secrets. The body of a write is the secret, stored as
//! JSON behind the barrier; reads return it verbatim.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{Engine, EngineRequest};
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields::parse_duration_secs;
use crate::quota::SecretCount;
use crate::request::{Operation, Response};
use crate::route::{Routes, Table, WRITE, path};
use crate::system::Ctx;

/// The KV v1 engine (everything lives in the mount's view).
pub(crate) struct KvV1 {
    /// The namespace's `max_secrets` count.
    secrets: Arc<SecretCount>,
    /// Serialize writes and deletes of one key while a cap is counted, so "is it new?" and
    /// the count change go together.
    locks: Arc<KeyLocks>,
}

/// A fixed set of locks, a key hashed onto one (writes of different keys rarely share one).
pub(crate) struct KeyLocks([tokio::sync::Mutex<()>; 64]);

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }
}

impl KeyLocks {
    fn of(&self, key: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        &self.0[(h % 64) as usize]
    }
}

impl KvV1 {
    pub(crate) fn new(entry: &crate::mount::MountEntry, ctx: &super::EngineContext<'_>) -> KvV1 {
        KvV1 {
            secrets: ctx.secrets.clone(),
            locks: ctx.states.get(&entry.uuid),
        }
    }
}

/// One path: every key, with any fields (the body is the secret).
static ROUTES: LazyLock<Table<()>> = LazyLock::new(|| {
    Table::new(
        "The kv backend reads and writes arbitrary secrets to the storage. Keys are not \
         versioned: a write replaces the secret.",
        vec![
            path("{path*}", ())
                .ops(&[Operation::Read, Operation::List, Operation::Delete])
                .ops(WRITE)
                .arbitrary_fields()
                .existence_check()
                .help(
                    "Pass-through secret storage to the storage backend, allowing you to \
                     read/write arbitrary data into secret storage.",
                    "The body of a write is the secret; a read returns it as written. A `ttl` \
                     field sets the lease duration a read reports.",
                ),
        ],
    )
});

/// Lease duration Vault reports for a KV v1 read: the secret's own `ttl` (or legacy `lease`)
/// when it parses, else the mount default.
fn lease_duration(secret: &Map<String, Value>, default: u64) -> u64 {
    ["ttl", "lease"]
        .iter()
        .find_map(|k| match secret.get(*k) {
            Some(Value::String(s)) => parse_duration_secs(s),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        })
        .unwrap_or(default)
}

fn check_key(path: &str) -> Result<()> {
    if path.is_empty() || path.ends_with('/') {
        return Err(Error::invalid(
            "missing or invalid key: a secret path cannot end in '/'",
        ));
    }
    Ok(())
}

#[async_trait]
impl Engine for KvV1 {
    fn routes(&self) -> &'static dyn Routes {
        &*ROUTES
    }

    async fn exists(&self, req: &EngineRequest) -> Result<bool> {
        if req.path.is_empty() || req.path.ends_with('/') {
            return Ok(false);
        }
        Ok(req.view.get(&req.path).await?.is_some())
    }

    async fn count_secrets(&self, view: &View) -> Result<u64> {
        Ok(view.scan("").await?.len() as u64)
    }

    async fn handle(&self, req: EngineRequest, _ctx: &Ctx<'_>) -> Result<Option<Response>> {
        match req.operation {
            Operation::Read => {
                if req.path.is_empty() {
                    return Ok(None);
                }
                let Some(raw) = req.view.get(&req.path).await? else {
                    return Ok(None);
                };
                let secret: Map<String, Value> = serde_json::from_slice(raw.expose())
                    .map_err(|e| Error::Internal(format!("corrupt kv entry: {e}")))?;
                let mut resp = Response::empty();
                resp.lease_duration = lease_duration(&secret, req.mount.default_lease_ttl());
                resp.data = Some(secret);
                Ok(Some(resp))
            }
            Operation::List => {
                let prefix = if req.path.is_empty() || req.path.ends_with('/') {
                    req.path.clone()
                } else {
                    format!("{}/", req.path)
                };
                let keys = req.view.list(&prefix).await?;
                if keys.is_empty() {
                    return Ok(None);
                }
                let mut data = Map::new();
                data.insert("keys".into(), json!(keys));
                Ok(Some(Response::with_data(data)))
            }
            Operation::Create | Operation::Update => {
                check_key(&req.path)?;
                if req.data.is_empty() {
                    return Err(Error::invalid("missing data fields"));
                }
                let bytes = serde_json::to_vec(&req.data)
                    .map_err(|e| Error::Internal(format!("encode kv entry: {e}")))?;
                // Under a cap, a new key needs room (asked of storage again: the existence
                // check may be stale by now).
                let admission = if self.secrets.active() && req.view.get(&req.path).await?.is_none()
                {
                    Some(self.secrets.admit()?)
                } else {
                    None
                };
                req.view.put(&req.path, &bytes).await?;
                if let Some(a) = admission {
                    a.keep();
                }
                Ok(Some(Response::empty()))
            }
            Operation::Delete => {
                check_key(&req.path)?;
                let counting = self.secrets.active();
                let _guard = if counting {
                    Some(self.locks.of(&req.path).lock().await)
                } else {
                    None
                };
                let counted = counting && req.view.get(&req.path).await?.is_some();
                req.view.delete(&req.path).await?;
                if counted {
                    self.secrets.removed();
                }
                Ok(Some(Response::empty()))
            }
            Operation::Patch | Operation::Help => Err(Error::UnsupportedOperation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_from_secret_or_default() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(lease_duration(&m(json!({"ttl": "1h"})), 7), 3600);
        assert_eq!(lease_duration(&m(json!({"lease": 30})), 7), 30);
        assert_eq!(lease_duration(&m(json!({"ttl": "bogus"})), 7), 7);
        assert_eq!(lease_duration(&m(json!({})), 7), 7);
    }
}
