//! The data keys of namespaces (tenants).
//!
//! Every namespace but the root has its own keyring; what is stored under the namespace is
//! encrypted with it instead of the barrier keyring (the storage key still the AAD). All the
//! namespace keyrings are kept in one table, [`NAMESPACE_KEYS_PATH`], encrypted with the root
//! key just as the barrier keyring is. Deleting a namespace rewrites that table without its
//! keyring: from then on the namespace's data is ciphertext nobody holds a key for, in this
//! storage and in every copy made afterwards (crypto-shredding). A copy made before still
//! holds the old table, as a backup must.
//!
//! Table layout, integers big-endian: `version u8 (=1) | count u32 |
//! count × (id_len u16 | id | keyring_len u32 | keyring)`, the keyring as
//! [`Keyring::to_bytes`] writes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use coffre_crypto::{Key256, Keyring, SecretBytes, decrypt_with_key, encrypt_with_key};

use crate::error::{Error, Result};

/// Storage key of the namespace key table (encrypted with the root key).
pub const NAMESPACE_KEYS_PATH: &str = "core/namespace-keys";

const TABLE_VERSION: u8 = 1;

/// One namespace's keyring. Once destroyed (its namespace deleted) it refuses every use, so a
/// request or background task still holding it can neither read nor write.
pub struct NamespaceKey {
    id: String,
    keyring: Keyring,
    destroyed: AtomicBool,
    /// Writes encrypted with this key and not yet committed: a purge waits for them, so no
    /// ciphertext lands after it has scanned.
    in_flight: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// A write under way with a namespace's key (see [`NamespaceKey::begin_write`]).
pub(crate) struct WriteGuard<'a>(&'a NamespaceKey);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl std::fmt::Debug for NamespaceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceKey")
            .field("id", &self.id)
            .field("destroyed", &self.destroyed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl NamespaceKey {
    fn new(id: String, keyring: Keyring) -> Self {
        NamespaceKey {
            id,
            keyring,
            destroyed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: tokio::sync::Notify::new(),
        }
    }

    /// Refuses anything on a destroyed key (listing included: key names of a deleted
    /// namespace are not shown either).
    pub(crate) fn check_live(&self) -> Result<()> {
        self.live().map(|_| ())
    }

    /// Starts a write: counted until the guard drops, refused once the key is destroyed.
    pub(crate) fn begin_write(&self) -> Result<WriteGuard<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = WriteGuard(self);
        self.check_live()?;
        Ok(guard)
    }

    /// Waits until no write begun before the key was destroyed is still under way.
    pub(crate) async fn quiesce(&self) {
        loop {
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    fn live(&self) -> Result<&Keyring> {
        if self.destroyed.load(Ordering::SeqCst) {
            return Err(Error::NamespaceNotFound(format!(
                "namespace {} was deleted",
                self.id
            )));
        }
        Ok(&self.keyring)
    }

    /// Encryptions made with the active term so far.
    pub(crate) fn encryptions(&self) -> u64 {
        self.keyring.active_term().encryptions
    }

    pub(crate) fn encrypt(&self, aad: &[u8], value: &[u8]) -> Result<Vec<u8>> {
        Ok(self.live()?.encrypt(aad, value)?)
    }

    pub(crate) fn decrypt(&self, aad: &[u8], blob: &[u8]) -> Result<SecretBytes> {
        Ok(self.live()?.decrypt(aad, blob)?)
    }

    fn destroy(&self) {
        self.destroyed.store(true, Ordering::SeqCst);
    }
}

/// Every namespace keyring, by namespace id. Immutable; a change makes a new table.
#[derive(Default, Clone)]
pub(crate) struct NamespaceKeys(BTreeMap<String, Arc<NamespaceKey>>);

impl NamespaceKeys {
    pub(crate) fn get(&self, id: &str) -> Option<Arc<NamespaceKey>> {
        self.0.get(id).cloned()
    }

    /// This table with a fresh keyring for `id`.
    pub(crate) fn with_new(&self, id: &str, now_unix_nanos: i64) -> Result<NamespaceKeys> {
        if self.0.contains_key(id) {
            return Err(Error::Internal(format!("namespace {id} already has a key")));
        }
        let mut next = self.0.clone();
        next.insert(
            id.to_string(),
            Arc::new(NamespaceKey::new(
                id.to_string(),
                Keyring::generate(now_unix_nanos)?,
            )),
        );
        Ok(NamespaceKeys(next))
    }

    /// This table without `id`'s keyring, and that keyring (to destroy once the new table is
    /// durable).
    pub(crate) fn without(&self, id: &str) -> (NamespaceKeys, Option<Arc<NamespaceKey>>) {
        let mut next = self.0.clone();
        let removed = next.remove(id);
        (NamespaceKeys(next), removed)
    }

    /// Marks every keyring that `next` no longer holds as destroyed.
    pub(crate) fn destroy_missing_from(&self, next: &NamespaceKeys) {
        for (id, key) in &self.0 {
            if !next.0.contains_key(id) {
                key.destroy();
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The table encrypted with the root key, for storage.
    pub(crate) fn seal(&self, root_key: &Key256) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(5 + self.0.len() * 96);
        out.push(TABLE_VERSION);
        out.extend_from_slice(&len_u32(self.0.len())?.to_be_bytes());
        for (id, key) in &self.0 {
            let id_len = u16::try_from(id.len())
                .map_err(|_| Error::Internal("namespace id too long".into()))?;
            out.extend_from_slice(&id_len.to_be_bytes());
            out.extend_from_slice(id.as_bytes());
            let keyring = key.keyring.to_bytes();
            out.extend_from_slice(&len_u32(keyring.expose().len())?.to_be_bytes());
            out.extend_from_slice(keyring.expose());
        }
        let plain = SecretBytes::new(out);
        Ok(encrypt_with_key(
            root_key,
            0,
            NAMESPACE_KEYS_PATH.as_bytes(),
            plain.expose(),
        )?)
    }

    /// Decrypts and parses a stored table; strict about every byte.
    pub(crate) fn open(root_key: &Key256, blob: &[u8]) -> Result<NamespaceKeys> {
        let plain = decrypt_with_key(root_key, NAMESPACE_KEYS_PATH.as_bytes(), blob)?;
        let bad = || Error::Internal("malformed namespace key table".into());
        let mut rest = plain.expose();
        let version = take(&mut rest, 1).ok_or_else(bad)?;
        if version != [TABLE_VERSION] {
            return Err(bad());
        }
        let count = u32::from_be_bytes(take_array(&mut rest).ok_or_else(bad)?);
        let mut keys = BTreeMap::new();
        for _ in 0..count {
            let id_len = u16::from_be_bytes(take_array(&mut rest).ok_or_else(bad)?);
            let id = take(&mut rest, usize::from(id_len)).ok_or_else(bad)?;
            let id = std::str::from_utf8(id).map_err(|_| bad())?.to_string();
            let kr_len = u32::from_be_bytes(take_array(&mut rest).ok_or_else(bad)?);
            let kr_len = usize::try_from(kr_len).map_err(|_| bad())?;
            let keyring = Keyring::from_bytes(take(&mut rest, kr_len).ok_or_else(bad)?)?;
            let key = Arc::new(NamespaceKey::new(id.clone(), keyring));
            if keys.insert(id, key).is_some() {
                return Err(bad());
            }
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        Ok(NamespaceKeys(keys))
    }
}

fn len_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Internal("namespace key table too large".into()))
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

fn take_array<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    take(rest, N).and_then(|b| b.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_round_trips_and_rejects_tampering() {
        let root = Key256::generate().expect("rng");
        let table = NamespaceKeys::default()
            .with_new("abc12", 1)
            .expect("key")
            .with_new("xyz89", 2)
            .expect("key");
        let blob = table.seal(&root).expect("seal");
        let back = NamespaceKeys::open(&root, &blob).expect("open");
        let a = table.get("abc12").expect("a");
        let a2 = back.get("abc12").expect("a after");
        let ct = a.encrypt(b"path", b"value").expect("encrypt");
        assert_eq!(
            a2.decrypt(b"path", &ct).expect("decrypt").expose(),
            b"value"
        );
        assert!(back.get("xyz89").expect("x").decrypt(b"path", &ct).is_err());

        let mut tampered = blob.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(NamespaceKeys::open(&root, &tampered).is_err());
        let other = Key256::generate().expect("rng");
        assert!(NamespaceKeys::open(&other, &blob).is_err());
    }

    #[tokio::test]
    async fn a_purge_waits_for_writes_begun_before_the_key_was_destroyed() {
        let table = NamespaceKeys::default().with_new("abc12", 1).expect("key");
        let key = table.get("abc12").expect("a");
        let writing = key.begin_write().expect("live");
        let (next, _) = table.without("abc12");
        table.destroy_missing_from(&next);
        assert!(key.begin_write().is_err(), "no new write after destruction");
        assert!(key.check_live().is_err(), "nor a listing");
        let short = std::time::Duration::from_millis(20);
        assert!(
            tokio::time::timeout(short, key.quiesce()).await.is_err(),
            "the write under way is waited for"
        );
        let waiter = tokio::spawn({
            let key = key.clone();
            async move { key.quiesce().await }
        });
        drop(writing);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("quiesced")
            .expect("task");
    }

    #[test]
    fn a_removed_key_is_destroyed_for_every_holder() {
        let table = NamespaceKeys::default().with_new("abc12", 1).expect("key");
        let held = table.get("abc12").expect("a");
        let ct = held.encrypt(b"p", b"v").expect("encrypt");
        let (next, removed) = table.without("abc12");
        assert!(removed.is_some() && next.get("abc12").is_none());
        table.destroy_missing_from(&next);
        assert!(matches!(
            held.decrypt(b"p", &ct),
            Err(Error::NamespaceNotFound(_))
        ));
        assert!(held.encrypt(b"p", b"v").is_err());
    }
}
