//! Two cores on one storage, one active and one standby, as several nodes on PostgreSQL are:
//! the standby unseals on its own, serves reads and changes-nothing writes (transit), refuses
//! other writes for the active node to serve, runs no jobs, and takes in the active node's
//! changes from the keys they wrote (what the PostgreSQL change feed reports), so a new
//! secret version, a changed policy, a revoked token, a new mount and a rotated transit key
//! all hold on the standby at once. Promoted, it writes.
//!
//! The storage here is shared memory: the active core's writes are recorded (the change
//! feed), the standby's refused while it is one (the fence).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod common;

use coffre_core::{Core, CoreConfig, ErrorKind, ManualClock, Operation, PassReport, Request};
use coffre_storage::{Backend, Change, InMemoryBackend, Op, Result as StorageResult, StorageError};
use common::{obj, token_with};
use serde_json::{Value, json};

/// The active node's storage: every key written is recorded, as the feed would announce it.
#[derive(Debug)]
struct Recording {
    inner: Arc<InMemoryBackend>,
    written: parking_lot::Mutex<Vec<String>>,
}

/// The standby's storage: reads pass, writes are refused while `active` is false.
#[derive(Debug)]
struct Fenced {
    inner: Arc<InMemoryBackend>,
    active: Arc<AtomicBool>,
}

impl Recording {
    fn record(&self, key: &str) {
        self.written.lock().push(key.to_string());
    }
    fn drain(&self) -> Change {
        Change::Keys(std::mem::take(&mut *self.written.lock()))
    }
}

impl Fenced {
    fn check(&self) -> StorageResult<()> {
        if self.active.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(StorageError::Standby)
        }
    }
}

#[async_trait::async_trait]
impl Backend for Recording {
    async fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> StorageResult<()> {
        self.inner.put(key, value).await?;
        self.record(key);
        Ok(())
    }
    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.inner.delete(key).await?;
        self.record(key);
        Ok(())
    }
    async fn list(&self, prefix: &str) -> StorageResult<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn scan(&self, prefix: &str) -> StorageResult<Vec<String>> {
        self.inner.scan(prefix).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> StorageResult<bool> {
        let changed = self.inner.compare_and_swap(key, expected, new).await?;
        if changed {
            self.record(key);
        }
        Ok(changed)
    }
    async fn batch(&self, ops: Vec<Op>) -> StorageResult<()> {
        let keys: Vec<String> = ops.iter().map(|o| o.key().to_string()).collect();
        self.inner.batch(ops).await?;
        for k in keys {
            self.record(&k);
        }
        Ok(())
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

#[async_trait::async_trait]
impl Backend for Fenced {
    async fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> StorageResult<()> {
        self.check()?;
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> StorageResult<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn scan(&self, prefix: &str) -> StorageResult<Vec<String>> {
        self.inner.scan(prefix).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> StorageResult<bool> {
        self.check()?;
        self.inner.compare_and_swap(key, expected, new).await
    }
    async fn batch(&self, ops: Vec<Op>) -> StorageResult<()> {
        self.check()?;
        self.inner.batch(ops).await
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

async fn call(
    core: &Core,
    token: &str,
    op: Operation,
    path: &str,
    data: Value,
) -> coffre_core::Result<Option<coffre_core::Response>> {
    core.handle(
        Request::new(op, path)
            .with_token(token)
            .with_data(obj(data)),
    )
    .await
}

async fn ok(core: &Core, token: &str, op: Operation, path: &str, data: Value) -> Value {
    let resp = call(core, token, op, path, data)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    json!(resp.and_then(|r| r.data).unwrap_or_default())
}

async fn kind_of(core: &Core, token: &str, op: Operation, path: &str, data: Value) -> ErrorKind {
    match call(core, token, op, path, data).await {
        Ok(_) => panic!("{path}: expected an error"),
        Err(e) => e.kind(),
    }
}

#[tokio::test]
async fn a_standby_serves_reads_refuses_writes_and_follows_the_active_node() {
    let shared = Arc::new(InMemoryBackend::new());
    let recording = Arc::new(Recording {
        inner: shared.clone(),
        written: parking_lot::Mutex::new(Vec::new()),
    });
    let active = Core::new(recording.clone(), CoreConfig::default());
    let (share, root) = active.dev_init(None).await.expect("init");
    let r = &root;
    ok(
        &active,
        r,
        Operation::Update,
        "sys/mounts/secret",
        json!({"type": "kv-v2"}),
    )
    .await;
    ok(
        &active,
        r,
        Operation::Update,
        "sys/mounts/transit",
        json!({"type": "transit"}),
    )
    .await;
    ok(
        &active,
        r,
        Operation::Update,
        "secret/data/app",
        json!({"data": {"v": "1"}}),
    )
    .await;
    ok(&active, r, Operation::Update, "transit/keys/k", json!({})).await;
    let reader = token_with(
        &active,
        r,
        "reader",
        r#"path "secret/*" { capabilities = ["read", "update", "create"] }
           path "transit/*" { capabilities = ["update"] }
           path "other/*" { capabilities = ["read"] }"#,
    )
    .await;
    let t = &reader;

    // The standby: its own unseal, on storage it cannot write.
    let standby_active = Arc::new(AtomicBool::new(false));
    let fenced = Arc::new(Fenced {
        inner: shared.clone(),
        active: standby_active.clone(),
    });
    let standby = Core::new(fenced, CoreConfig::default());
    standby.set_active(false).await.expect("standby");
    standby
        .unseal(&hex::encode(share.expose()))
        .await
        .expect("a standby unseals on its own");
    recording.drain();

    // Reads, and writes that change nothing, are served.
    let read = ok(&standby, t, Operation::Read, "secret/data/app", json!({})).await;
    assert_eq!(read["data"]["v"], "1");
    let sealed = ok(
        &standby,
        t,
        Operation::Update,
        "transit/encrypt/k",
        json!({"plaintext": "aGk="}),
    )
    .await;
    let ciphertext = sealed["ciphertext"]
        .as_str()
        .expect("ciphertext")
        .to_string();
    let opened = ok(
        &active,
        t,
        Operation::Update,
        "transit/decrypt/k",
        json!({ "ciphertext": ciphertext }),
    )
    .await;
    assert_eq!(opened["plaintext"], "aGk=");
    // Other writes are the active node's.
    let write = json!({"data": {"v": "x"}});
    assert_eq!(
        kind_of(&standby, t, Operation::Update, "secret/data/app", write).await,
        ErrorKind::Standby
    );
    assert_eq!(
        kind_of(
            &standby,
            r,
            Operation::Update,
            "auth/token/create",
            json!({})
        )
        .await,
        ErrorKind::Standby
    );
    assert_eq!(standby.run_jobs().await.expect("pass").succeeded, 0);

    // A new version on the active node: the standby's metadata cache said version 1.
    ok(
        &active,
        r,
        Operation::Update,
        "secret/data/app",
        json!({"data": {"v": "2"}}),
    )
    .await;
    standby
        .apply_change(&recording.drain())
        .await
        .expect("apply");
    let read = ok(&standby, t, Operation::Read, "secret/data/app", json!({})).await;
    assert_eq!(read["data"]["v"], "2", "the standby reads the new version");

    // A rotated transit key: the standby decrypts what the new version encrypted.
    ok(
        &active,
        r,
        Operation::Update,
        "transit/keys/k/rotate",
        json!({}),
    )
    .await;
    let sealed = ok(
        &active,
        t,
        Operation::Update,
        "transit/encrypt/k",
        json!({"plaintext": "aGk="}),
    )
    .await;
    assert!(
        sealed["ciphertext"]
            .as_str()
            .expect("ct")
            .starts_with("vault:v2:")
    );
    standby
        .apply_change(&recording.drain())
        .await
        .expect("apply");
    let opened = ok(
        &standby,
        t,
        Operation::Update,
        "transit/decrypt/k",
        json!({ "ciphertext": sealed["ciphertext"] }),
    )
    .await;
    assert_eq!(opened["plaintext"], "aGk=");

    // A new mount (structure: the standby opens its state again).
    ok(
        &active,
        r,
        Operation::Update,
        "sys/mounts/other",
        json!({"type": "kv"}),
    )
    .await;
    ok(&active, r, Operation::Update, "other/y", json!({"z": "1"})).await;
    standby
        .apply_change(&recording.drain())
        .await
        .expect("apply");
    let y = ok(&standby, t, Operation::Read, "other/y", json!({})).await;
    assert_eq!(y["z"], "1");

    // A policy narrowed on the active node holds on the standby.
    ok(
        &active,
        r,
        Operation::Update,
        "sys/policies/acl/reader",
        json!({"policy": r#"path "transit/*" { capabilities = ["update"] }"#}),
    )
    .await;
    standby
        .apply_change(&recording.drain())
        .await
        .expect("apply");
    assert_eq!(
        kind_of(&standby, t, Operation::Read, "secret/data/app", json!({})).await,
        ErrorKind::PermissionDenied
    );
    // A token revoked on the active node is refused on the standby.
    ok(
        &standby,
        t,
        Operation::Update,
        "transit/encrypt/k",
        json!({"plaintext": "aGk="}),
    )
    .await;
    ok(
        &active,
        r,
        Operation::Update,
        "auth/token/revoke",
        json!({ "token": t }),
    )
    .await;
    standby
        .apply_change(&recording.drain())
        .await
        .expect("apply");
    assert_eq!(
        kind_of(
            &standby,
            t,
            Operation::Update,
            "transit/encrypt/k",
            json!({"plaintext": "aGk="})
        )
        .await,
        ErrorKind::PermissionDenied
    );

    // The roles swap: the old active steps down, the standby is promoted (once the storage
    // lets it write) and writes; the old one follows it.
    active.set_active(false).await.expect("step down");
    standby_active.store(true, Ordering::SeqCst);
    standby.set_active(true).await.expect("promote");
    ok(
        &standby,
        r,
        Operation::Update,
        "secret/data/app",
        json!({"data": {"v": "3"}}),
    )
    .await;
    assert_eq!(
        kind_of(
            &active,
            r,
            Operation::Update,
            "secret/data/app",
            json!({"data": {}})
        )
        .await,
        ErrorKind::Standby
    );
    active
        .apply_change(&Change::Everything)
        .await
        .expect("apply");
    let read = ok(&active, r, Operation::Read, "secret/data/app", json!({})).await;
    assert_eq!(read["data"]["v"], "3");
}

/// Without the feed's news a standby would serve what it cached: the test above would fail
/// if invalidation did nothing. This shows the premise: the metadata cache is real.
#[tokio::test]
async fn without_the_change_a_standby_keeps_its_cached_version() {
    let shared = Arc::new(InMemoryBackend::new());
    let active = Core::new(shared.clone(), CoreConfig::default());
    let (share, root) = active.dev_init(None).await.expect("init");
    let r = &root;
    ok(
        &active,
        r,
        Operation::Update,
        "sys/mounts/secret",
        json!({"type": "kv-v2"}),
    )
    .await;
    ok(
        &active,
        r,
        Operation::Update,
        "secret/data/app",
        json!({"data": {"v": "1"}}),
    )
    .await;
    let standby = Core::new(shared.clone(), CoreConfig::default());
    standby.set_active(false).await.expect("standby");
    standby
        .unseal(&hex::encode(share.expose()))
        .await
        .expect("unseal");
    ok(&standby, r, Operation::Read, "secret/data/app", json!({})).await;
    ok(
        &active,
        r,
        Operation::Update,
        "secret/data/app",
        json!({"data": {"v": "2"}}),
    )
    .await;
    let read = ok(&standby, r, Operation::Read, "secret/data/app", json!({})).await;
    assert_eq!(
        read["data"]["v"], "1",
        "cached metadata still names version 1"
    );
    standby
        .apply_change(&Change::Everything)
        .await
        .expect("everything");
    let read = ok(&standby, r, Operation::Read, "secret/data/app", json!({})).await;
    assert_eq!(read["data"]["v"], "2");
}

/// Only the active node runs jobs. A rotation is due on storage both nodes can write (no
/// fence here, so only the active-node check holds the standby back): the standby rotates
/// nothing; once the roles swap, the promoted node rotates it, once.
#[tokio::test]
async fn only_the_active_node_runs_due_jobs() {
    let shared = Arc::new(InMemoryBackend::new());
    let clock = ManualClock::at(1_800_000_000);
    let config = || CoreConfig {
        clock: clock.clone(),
        ..CoreConfig::default()
    };
    let active = Core::new(shared.clone(), config());
    let (share, root) = active.dev_init(None).await.expect("init");
    let r = &root;
    ok(
        &active,
        r,
        Operation::Update,
        "sys/mounts/secret",
        json!({"type": "kv-v2"}),
    )
    .await;
    ok(
        &active,
        r,
        Operation::Update,
        "secret/data/api",
        json!({"data": {"value": "v1"}}),
    )
    .await;
    ok(
        &active,
        r,
        Operation::Update,
        "secret/metadata/api",
        json!({"rotation": {"period": "30d", "generator": "api-key"}}),
    )
    .await;
    active.run_jobs().await.expect("pass");
    let standby = Core::new(shared.clone(), config());
    standby.set_active(false).await.expect("standby");
    standby
        .unseal(&hex::encode(share.expose()))
        .await
        .expect("unseal");
    clock.advance_secs(30 * 86_400 + 1);
    assert_eq!(
        standby.run_jobs().await.expect("pass"),
        PassReport::default(),
        "a standby runs nothing"
    );
    assert_eq!(
        api_version(&active, r).await,
        1,
        "not rotated by the standby"
    );

    active.set_active(false).await.expect("step down");
    standby.set_active(true).await.expect("promote");
    assert_eq!(
        active.run_jobs().await.expect("pass"),
        PassReport::default(),
        "the deposed node runs nothing"
    );
    assert!(standby.run_jobs().await.expect("pass").succeeded >= 1);
    assert_eq!(
        api_version(&standby, r).await,
        2,
        "the promoted node rotated it"
    );
    standby.run_jobs().await.expect("pass");
    assert_eq!(api_version(&standby, r).await, 2, "once per due time");
}

/// The current version of `secret/api`, read through `core`.
async fn api_version(core: &Core, token: &str) -> Value {
    ok(core, token, Operation::Read, "secret/data/api", json!({})).await["metadata"]["version"]
        .clone()
}
