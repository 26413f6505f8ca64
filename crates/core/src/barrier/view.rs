//! [`View`]: the barrier confined to a key prefix, and to one namespace's keyring.

use std::sync::Arc;

use coffre_crypto::SecretBytes;

use super::{Barrier, NamespaceKey};
use crate::clock::SharedClock;
use crate::error::Result;

/// A barrier confined to a key prefix: what an engine or a store gets, and nothing more. A
/// view of a namespace encrypts with that namespace's keyring; views made from it with
/// [`View::sub`] stay inside the namespace, so nothing below can reach another's data.
#[derive(Clone, Debug)]
pub struct View {
    barrier: Arc<Barrier>,
    prefix: String,
    /// `None` in the root namespace (the barrier's keyring).
    namespace: Option<Arc<NamespaceKey>>,
}

impl View {
    /// A view of `barrier` below `prefix` (which should end in `/`), in the root namespace.
    pub fn new(barrier: Arc<Barrier>, prefix: impl Into<String>) -> Self {
        View {
            barrier,
            prefix: prefix.into(),
            namespace: None,
        }
    }

    /// The storage of a namespace: everything below `prefix`, under its own keyring.
    pub(crate) fn of_namespace(
        barrier: Arc<Barrier>,
        prefix: impl Into<String>,
        key: Arc<NamespaceKey>,
    ) -> Self {
        View {
            barrier,
            prefix: prefix.into(),
            namespace: Some(key),
        }
    }

    /// A view below `prefix` of this one, in the same namespace.
    pub fn sub(&self, prefix: &str) -> View {
        View {
            barrier: self.barrier.clone(),
            prefix: self.full(prefix),
            namespace: self.namespace.clone(),
        }
    }

    /// Refuses ([`crate::Error::standby`]) on a standby node: for side effects outside the
    /// storage (a database user created) that must not happen before a write that would be
    /// refused.
    pub(crate) fn require_active(&self) -> Result<()> {
        if self.barrier.is_active() {
            Ok(())
        } else {
            Err(crate::Error::standby())
        }
    }

    fn full(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.len());
        full.push_str(&self.prefix);
        full.push_str(key);
        full
    }

    /// Decrypts the value at `key`.
    pub async fn get(&self, key: &str) -> Result<Option<SecretBytes>> {
        self.barrier
            .get_in(self.namespace.as_deref(), &self.full(key))
            .await
    }

    /// The JSON value at `key`; a value that does not decode is an internal error naming
    /// `what` (never the value).
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>> {
        match self.get(key).await? {
            Some(raw) => serde_json::from_slice(raw.expose())
                .map(Some)
                .map_err(|e| crate::error::Error::Internal(format!("corrupt {what}: {e}"))),
            None => Ok(None),
        }
    }

    /// Every JSON value one level below `prefix`.
    pub(crate) async fn get_all_json<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
        what: &str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for key in self.list(prefix).await? {
            if let Some(v) = self.get_json(&format!("{prefix}{key}"), what).await? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// The core's clock.
    pub fn clock(&self) -> &SharedClock {
        self.barrier.clock()
    }

    /// Stores `value` as JSON at `key`.
    pub(crate) async fn put_json<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.put(key, &to_json(value)?).await
    }

    /// Stores `value` at `key`.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.barrier
            .put_in(self.namespace.as_deref(), &self.full(key), value)
            .await
    }

    /// Refuses once the view's namespace is deleted (reads and writes refuse by themselves).
    fn check_live(&self) -> Result<()> {
        match &self.namespace {
            Some(key) => key.check_live(),
            None => Ok(()),
        }
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.check_live()?;
        self.barrier.delete(&self.full(key)).await
    }

    /// One level of names below `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.check_live()?;
        self.barrier.list(&self.full(prefix)).await
    }

    /// Every key of the view below `prefix`, recursively (relative to the view).
    pub async fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.check_live()?;
        let keys = self.barrier.scan(&self.full(prefix)).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect())
    }

    /// At most `limit` keys of the view in `[start, end)`, sorted (relative to the view).
    pub async fn scan_range(&self, start: &str, end: &str, limit: usize) -> Result<Vec<String>> {
        self.check_live()?;
        let keys = self
            .barrier
            .scan_range(&self.full(start), &self.full(end), limit)
            .await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect())
    }

    /// Writes several entries of the view atomically, in one durable commit. `None` deletes.
    pub async fn batch(&self, entries: Vec<(String, Option<Vec<u8>>)>) -> Result<()> {
        let entries = entries
            .into_iter()
            .map(|(k, v)| (self.full(&k), v))
            .collect();
        self.barrier
            .batch_in(self.namespace.as_deref(), entries)
            .await
    }

    /// Deletes everything in the view (a disabled mount's data, a deleted namespace's). Needs
    /// no key, so it works after a namespace's keyring is destroyed.
    pub async fn clear(&self) -> Result<()> {
        let keys = self.barrier.scan(&self.prefix).await?;
        for chunk in keys.chunks(1000) {
            self.barrier
                .batch(chunk.iter().map(|k| (k.clone(), None)).collect())
                .await?;
        }
        Ok(())
    }
}

/// `value` as JSON bytes, for a storage write.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| crate::error::Error::Internal(format!("encode: {e}")))
}
