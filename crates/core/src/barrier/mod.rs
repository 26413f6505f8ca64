//! The barrier: every value that reaches storage is encrypted with the keyring's active term,
//! with the storage key as AAD, so an entry cannot be moved to another path or replayed there.
//!
//! The keyring itself is stored under [`KEYRING_PATH`], encrypted with the root key. Rotation
//! writes the new keyring before any value is encrypted under the new term, so a crash at any
//! point leaves every stored value decryptable.
//!
//! Values of a namespace other than the root are encrypted with that namespace's own keyring
//! instead ([`namespace_keys`]); a [`View`] of the namespace carries it.

mod namespace_keys;
mod view;

pub use namespace_keys::{NAMESPACE_KEYS_PATH, NamespaceKey};
pub use view::View;
pub(crate) use view::to_json;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use coffre_crypto::{Key256, Keyring, SecretBytes, TermInfo, decrypt_with_key, encrypt_with_key};
use coffre_storage::{Backend, Op};

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use namespace_keys::NamespaceKeys;

/// Storage key of the keyring blob (encrypted with the root key, not with the keyring).
pub const KEYRING_PATH: &str = "core/keyring";

/// Vault's default: rotate well before 2^32 random-nonce encryptions under one AES-GCM key.
pub const DEFAULT_MAX_ENCRYPTIONS_PER_TERM: u64 = 3_865_470_566;

/// How many encryptions may happen between two persisted counter snapshots. After a crash the
/// count can be behind by at most this much, which is negligible next to the margin between
/// [`DEFAULT_MAX_ENCRYPTIONS_PER_TERM`] and 2^32.
const PERSIST_COUNT_EVERY: u64 = 1 << 20;

/// Encrypting view over a storage backend. Holds key material: exists only while unsealed.
pub struct Barrier {
    backend: Arc<dyn Backend>,
    root_key: Key256,
    keyring: ArcSwap<Keyring>,
    /// Serializes keyring writes (rotation and counter snapshots).
    keyring_write: tokio::sync::Mutex<()>,
    max_encryptions: u64,
    /// Active-term count at the last persisted snapshot.
    persisted_count: AtomicU64,
    /// Set when the core seals: from then on nothing is read or written through this barrier,
    /// even by a background task that still holds it.
    sealed: AtomicBool,
    /// The core's clock, handed to everything that has storage.
    clock: SharedClock,
    /// The keyrings of the namespaces; changed under `keyring_write`.
    namespace_keys: ArcSwap<NamespaceKeys>,
    /// Whether this node is the active one of those sharing the storage (always, with one
    /// node): the core's flag, shared so engines can refuse side effects on a standby.
    active: Arc<AtomicBool>,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("active_term", &self.keyring.load().active_term().term)
            .finish_non_exhaustive()
    }
}

/// Encrypts the keyring for storage under the root key.
pub(crate) fn seal_keyring(root_key: &Key256, keyring: &Keyring) -> Result<Vec<u8>> {
    Ok(encrypt_with_key(
        root_key,
        0,
        KEYRING_PATH.as_bytes(),
        keyring.to_bytes().expose(),
    )?)
}

impl Barrier {
    /// Opens the barrier with a root key that has already been checked, loading the keyring.
    pub(crate) async fn open(
        backend: Arc<dyn Backend>,
        root_key: Key256,
        max_encryptions: u64,
        clock: SharedClock,
    ) -> Result<Barrier> {
        let blob = backend
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| Error::Internal("keyring missing from storage".into()))?;
        let plain = decrypt_with_key(&root_key, KEYRING_PATH.as_bytes(), &blob)?;
        let keyring = Keyring::from_bytes(plain.expose())?;
        let count = keyring.active_term().encryptions;
        // Absent until the first namespace is created: storage from before namespaces
        // needs no migration.
        let namespace_keys = match backend.get(NAMESPACE_KEYS_PATH).await? {
            Some(blob) => NamespaceKeys::open(&root_key, &blob)?,
            None => NamespaceKeys::default(),
        };
        Ok(Barrier {
            backend,
            root_key,
            keyring: ArcSwap::from_pointee(keyring),
            keyring_write: tokio::sync::Mutex::new(()),
            max_encryptions: max_encryptions.max(1),
            persisted_count: AtomicU64::new(count),
            sealed: AtomicBool::new(false),
            clock,
            namespace_keys: ArcSwap::from_pointee(namespace_keys),
            active: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The barrier with the core's active-node flag instead of its own (always true).
    pub(crate) fn with_active_flag(mut self, active: Arc<AtomicBool>) -> Barrier {
        self.active = active;
        self
    }

    /// Whether this node is the active one (see [`crate::Core::set_active`]).
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Reads the keyring and the namespaces' keyrings again, after another node changed them
    /// (a rotation, a namespace created or deleted). A namespace key gone from storage is
    /// destroyed here too.
    pub(crate) async fn reload_keys(&self) -> Result<()> {
        let _guard = self.keyring_write.lock().await;
        self.check_open()?;
        let blob = self
            .backend
            .get(KEYRING_PATH)
            .await?
            .ok_or_else(|| Error::Internal("keyring missing from storage".into()))?;
        let plain = decrypt_with_key(&self.root_key, KEYRING_PATH.as_bytes(), &blob)?;
        let keyring = Keyring::from_bytes(plain.expose())?;
        let next = match self.backend.get(NAMESPACE_KEYS_PATH).await? {
            Some(blob) => NamespaceKeys::open(&self.root_key, &blob)?,
            None => NamespaceKeys::default(),
        };
        self.persisted_count
            .store(keyring.active_term().encryptions, Ordering::Relaxed);
        self.keyring.store(Arc::new(keyring));
        let current = self.namespace_keys.load_full();
        current.destroy_missing_from(&next);
        self.namespace_keys.store(Arc::new(next));
        Ok(())
    }

    /// The core's clock (see [`crate::clock`]).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Decrypts the value at `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<SecretBytes>> {
        self.get_in(None, key).await
    }

    /// [`Barrier::get`] of a value encrypted with a namespace's keyring (`None`: the barrier's).
    pub(crate) async fn get_in(
        &self,
        namespace: Option<&NamespaceKey>,
        key: &str,
    ) -> Result<Option<SecretBytes>> {
        self.check_open()?;
        match self.backend.get(key).await? {
            None => Ok(None),
            Some(blob) => Ok(Some(match namespace {
                Some(ns) => ns.decrypt(key.as_bytes(), &blob)?,
                None => self.keyring.load().decrypt(key.as_bytes(), &blob)?,
            })),
        }
    }

    /// Encrypts `value` for `key` without writing it.
    fn encrypt(
        &self,
        namespace: Option<&NamespaceKey>,
        key: &str,
        value: &[u8],
    ) -> Result<Vec<u8>> {
        self.check_open()?;
        match namespace {
            // Namespace keyrings do not rotate yet: one at its budget refuses to encrypt
            // rather than wear AES-GCM's random-nonce bound down.
            Some(ns) if ns.encryptions() >= self.max_encryptions => Err(Error::Internal(
                "the namespace's data key has reached its encryption budget and does not rotate yet"
                    .into(),
            )),
            Some(ns) => ns.encrypt(key.as_bytes(), value),
            None => Ok(self.keyring.load().encrypt(key.as_bytes(), value)?),
        }
    }

    /// Encrypts and durably stores `value` at `key`.
    ///
    /// # Errors
    /// On a storage error nothing is acknowledged; the entry holds either the old or the new
    /// value (the backend's writes are atomic). Once the write is durable it is reported as
    /// done: the keyring upkeep that follows it cannot turn it into an error.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.put_in(None, key, value).await
    }

    /// [`Barrier::put`] with a namespace's keyring (`None`: the barrier's).
    pub(crate) async fn put_in(
        &self,
        namespace: Option<&NamespaceKey>,
        key: &str,
        value: &[u8],
    ) -> Result<()> {
        let _writing = namespace.map(NamespaceKey::begin_write).transpose()?;
        let blob = self.encrypt(namespace, key, value)?;
        self.backend.put(key, blob).await?;
        self.after_encryptions().await;
        Ok(())
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.check_open()?;
        Ok(self.backend.delete(key).await?)
    }

    /// One level of keys below `prefix` (names only, folders end in `/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.check_open()?;
        Ok(self.backend.list(prefix).await?)
    }

    /// Every key below `prefix`, recursively.
    pub async fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.check_open()?;
        Ok(self.backend.scan(prefix).await?)
    }

    /// At most `limit` keys in `[start, end)`, sorted (see [`Backend::scan_range`]).
    pub async fn scan_range(&self, start: &str, end: &str, limit: usize) -> Result<Vec<String>> {
        self.check_open()?;
        Ok(self.backend.scan_range(start, end, limit).await?)
    }

    /// Closes the barrier for good (sealing): every later read or write is refused with
    /// [`Error::Sealed`]. The keys themselves are zeroized when the last holder drops it.
    pub(crate) fn seal(&self) {
        self.sealed.store(true, Ordering::SeqCst);
    }

    fn check_open(&self) -> Result<()> {
        if self.sealed.load(Ordering::SeqCst) {
            return Err(Error::Sealed);
        }
        Ok(())
    }

    /// Writes several entries atomically. `None` deletes.
    ///
    /// # Errors
    /// As [`Barrier::put`]: an error means none of the entries was written.
    pub async fn batch(&self, entries: Vec<(String, Option<Vec<u8>>)>) -> Result<()> {
        self.batch_in(None, entries).await
    }

    /// [`Barrier::batch`] with a namespace's keyring (`None`: the barrier's).
    pub(crate) async fn batch_in(
        &self,
        namespace: Option<&NamespaceKey>,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<()> {
        let _writing = namespace.map(NamespaceKey::begin_write).transpose()?;
        let ops = self.seal_ops(namespace, entries)?;
        self.backend.batch(ops).await?;
        self.after_encryptions().await;
        Ok(())
    }

    fn seal_ops(
        &self,
        namespace: Option<&NamespaceKey>,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<Vec<Op>> {
        self.check_open()?;
        let mut ops = Vec::with_capacity(entries.len() + 1);
        for (key, value) in entries {
            ops.push(match value {
                Some(v) => {
                    let blob = self.encrypt(namespace, &key, &v)?;
                    Op::Put(key, blob)
                }
                None => Op::Delete(key),
            });
        }
        Ok(ops)
    }

    /// The keyring of a namespace, if it has one (it has none once deleted).
    pub(crate) fn namespace_key(&self, id: &str) -> Option<Arc<NamespaceKey>> {
        self.namespace_keys.load().get(id)
    }

    /// Gives namespace `id` a fresh keyring, writing `entries` (root storage, the barrier's
    /// keyring) in the same atomic commit: a namespace and its key exist together or not at
    /// all.
    pub(crate) async fn create_namespace_key(
        &self,
        id: &str,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<Arc<NamespaceKey>> {
        let _guard = self.keyring_write.lock().await;
        let next = self
            .namespace_keys
            .load()
            .with_new(id, self.clock.now_unix_nanos())?;
        self.commit_namespace_keys(&next, entries).await?;
        let key = next
            .get(id)
            .ok_or_else(|| Error::Internal("new namespace key missing".into()))?;
        self.namespace_keys.store(Arc::new(next));
        Ok(key)
    }

    /// Destroys namespace `id`'s keyring durably, writing `entries` (root storage) in the same
    /// commit. Once this returns, nothing stored under the namespace can be decrypted with the
    /// current keys, and every holder of the keyring is refused.
    /// Returns the destroyed key, whose writes still under way a purge waits for.
    pub(crate) async fn destroy_namespace_key(
        &self,
        id: &str,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<Option<Arc<NamespaceKey>>> {
        let _guard = self.keyring_write.lock().await;
        let current = self.namespace_keys.load_full();
        let (next, removed) = current.without(id);
        self.commit_namespace_keys(&next, entries).await?;
        current.destroy_missing_from(&next);
        self.namespace_keys.store(Arc::new(next));
        Ok(removed)
    }

    async fn commit_namespace_keys(
        &self,
        next: &NamespaceKeys,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<()> {
        let mut ops = self.seal_ops(None, entries)?;
        ops.push(Op::Put(
            NAMESPACE_KEYS_PATH.into(),
            next.seal(&self.root_key)?,
        ));
        // No keyring upkeep here: it takes `keyring_write`, which the caller holds. The next
        // ordinary write does it.
        self.backend.batch(ops).await?;
        Ok(())
    }

    /// Information about the active term (for `sys/key-status`).
    pub fn key_status(&self) -> TermInfo {
        self.keyring.load().active_term()
    }

    /// Adds a new term; new writes use it, old terms keep decrypting.
    ///
    /// # Errors
    /// If the new keyring cannot be stored, the old one stays active and nothing changes.
    pub async fn rotate(&self) -> Result<TermInfo> {
        let _guard = self.keyring_write.lock().await;
        self.rotate_locked().await
    }

    async fn rotate_locked(&self) -> Result<TermInfo> {
        self.check_open()?;
        let next = self.keyring.load().rotate(self.clock.now_unix_nanos())?;
        let blob = seal_keyring(&self.root_key, &next)?;
        self.backend.put(KEYRING_PATH, blob).await?;
        let info = next.active_term();
        self.keyring.store(Arc::new(next));
        self.persisted_count
            .store(info.encryptions, Ordering::Relaxed);
        tracing::info!(term = info.term, "barrier keyring rotated");
        Ok(info)
    }

    /// Persists the encryption counters now (on seal and shutdown).
    pub async fn persist_counts(&self) -> Result<()> {
        let _guard = self.keyring_write.lock().await;
        self.check_open()?;
        let keyring = self.keyring.load_full();
        let blob = seal_keyring(&self.root_key, &keyring)?;
        self.backend.put(KEYRING_PATH, blob).await?;
        // The namespace keyrings' counters travel in their table.
        let namespace_keys = self.namespace_keys.load_full();
        if !namespace_keys.is_empty() {
            self.backend
                .put(NAMESPACE_KEYS_PATH, namespace_keys.seal(&self.root_key)?)
                .await?;
        }
        self.persisted_count
            .store(keyring.active_term().encryptions, Ordering::Relaxed);
        Ok(())
    }

    /// Rotates when the active term nears its encryption budget, and snapshots the counters
    /// every [`PERSIST_COUNT_EVERY`] encryptions. Cheap when neither is due: two atomic loads.
    ///
    /// Runs after a write is durable, so a failure here is not the write's: it is logged and
    /// retried by the next write (the old term stays active and keeps decrypting; the budget
    /// sits far below AES-GCM's 2^32 random-nonce bound, so a retry has ample margin).
    async fn after_encryptions(&self) {
        let count = self.keyring.load().active_term().encryptions;
        let result = if count >= self.max_encryptions {
            let _guard = self.keyring_write.lock().await;
            // Another request may have rotated while we waited.
            if self.keyring.load().active_term().encryptions >= self.max_encryptions {
                self.rotate_locked().await.map(drop)
            } else {
                Ok(())
            }
        } else if count >= self.persisted_count.load(Ordering::Relaxed) + PERSIST_COUNT_EVERY {
            self.persist_counts().await
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "barrier keyring upkeep failed; retried on the next write");
        }
    }
}

/// A barrier over `backend` with a fresh keyring, for the core's unit tests.
#[cfg(test)]
pub(crate) async fn test_barrier(backend: Arc<dyn Backend>, max: u64) -> Barrier {
    let root = Key256::generate().expect("rng");
    let clock = crate::clock::system();
    let keyring = Keyring::generate(clock.now_unix_nanos()).expect("keyring");
    backend
        .put(KEYRING_PATH, seal_keyring(&root, &keyring).expect("seal"))
        .await
        .expect("put");
    Barrier::open(backend, root, max, clock)
        .await
        .expect("open")
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffre_storage::InMemoryBackend;

    async fn barrier(max: u64) -> (Arc<dyn Backend>, Barrier) {
        let backend: Arc<dyn Backend> = Arc::new(InMemoryBackend::new());
        (backend.clone(), test_barrier(backend, max).await)
    }

    /// The write is durable before the keyring upkeep runs: a failing rotation must not turn
    /// an acknowledged write into an error (the client would retry a change that happened).
    #[tokio::test]
    async fn a_failed_rotation_after_a_durable_write_does_not_fail_the_write() {
        let faulty = Arc::new(coffre_storage::testing::FaultyBackend::new(Arc::new(
            InMemoryBackend::new(),
        )));
        let b = test_barrier(faulty.clone(), 1).await;
        faulty.fail_writes(KEYRING_PATH, 2);
        b.put("a/x", b"one")
            .await
            .expect("the write itself succeeded");
        b.batch(vec![("a/y".into(), Some(b"two".to_vec()))])
            .await
            .expect("the batch itself succeeded");
        assert_eq!(
            b.key_status().term,
            1,
            "rotation failed: the old term stays active"
        );
        assert_eq!(
            b.get("a/x").await.expect("get").expect("v").expose(),
            b"one"
        );
        b.put("a/z", b"three").await.expect("put");
        assert_eq!(
            b.key_status().term,
            2,
            "the next write retries the rotation"
        );
        assert_eq!(
            b.get("a/y").await.expect("get").expect("v").expose(),
            b"two"
        );
    }

    #[tokio::test]
    async fn a_sealed_barrier_refuses_every_read_and_write() {
        let (_backend, b) = barrier(DEFAULT_MAX_ENCRYPTIONS_PER_TERM).await;
        b.put("a/x", b"v").await.expect("put");
        b.seal();
        assert!(matches!(b.put("a/y", b"v").await, Err(Error::Sealed)));
        assert!(matches!(
            b.batch(vec![("a/z".into(), None)]).await,
            Err(Error::Sealed)
        ));
        assert!(matches!(b.delete("a/x").await, Err(Error::Sealed)));
        assert!(matches!(b.get("a/x").await, Err(Error::Sealed)));
        assert!(matches!(b.rotate().await, Err(Error::Sealed)));
    }

    #[tokio::test]
    async fn values_are_encrypted_and_bound_to_their_path() {
        let (backend, b) = barrier(DEFAULT_MAX_ENCRYPTIONS_PER_TERM).await;
        b.put("a/x", b"canary-value").await.expect("put");
        let raw = backend.get("a/x").await.expect("get").expect("present");
        assert!(!raw.windows(12).any(|w| w == b"canary-value"));
        assert_eq!(
            b.get("a/x").await.expect("get").expect("v").expose(),
            b"canary-value"
        );
        // Move the ciphertext to another path: it must not decrypt there.
        backend.put("a/y", raw).await.expect("put");
        assert!(b.get("a/y").await.is_err());
    }

    #[tokio::test]
    async fn rotation_keeps_old_terms_readable() {
        let (_backend, b) = barrier(DEFAULT_MAX_ENCRYPTIONS_PER_TERM).await;
        b.put("old", b"1").await.expect("put");
        let info = b.rotate().await.expect("rotate");
        assert_eq!(info.term, 2);
        b.put("new", b"2").await.expect("put");
        assert_eq!(b.get("old").await.expect("get").expect("v").expose(), b"1");
        assert_eq!(b.get("new").await.expect("get").expect("v").expose(), b"2");
    }

    #[tokio::test]
    async fn a_namespace_key_at_its_budget_refuses_to_encrypt() {
        let (_backend, b) = barrier(3).await;
        let key = b
            .create_namespace_key("abc123", Vec::new())
            .await
            .expect("key");
        for i in 0..3 {
            b.put_in(Some(&key), &format!("namespaces/abc123/k{i}"), b"v")
                .await
                .expect("within the budget");
        }
        assert!(
            b.put_in(Some(&key), "namespaces/abc123/k3", b"v")
                .await
                .is_err(),
            "refused at the budget"
        );
        assert_eq!(
            b.get_in(Some(&key), "namespaces/abc123/k0")
                .await
                .expect("read")
                .map(|v| v.expose().to_vec()),
            Some(b"v".to_vec()),
            "what is stored still reads"
        );
    }

    #[tokio::test]
    async fn rotates_automatically_at_the_encryption_budget() {
        let (backend, b) = barrier(5).await;
        for i in 0..12 {
            b.put(&format!("k{i}"), b"v").await.expect("put");
        }
        assert!(b.key_status().term >= 3, "term {}", b.key_status().term);
        for i in 0..12 {
            assert!(b.get(&format!("k{i}")).await.expect("get").is_some());
        }
        // The stored keyring knows the new terms: a fresh barrier reads everything.
        let reopened = Barrier::open(backend, b.root_key.clone(), 5, b.clock.clone())
            .await
            .expect("open");
        assert_eq!(reopened.key_status().term, b.key_status().term);
        assert!(reopened.get("k0").await.expect("get").is_some());
    }
}
