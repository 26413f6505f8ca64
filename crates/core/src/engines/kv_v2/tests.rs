//! Engine-level tests over an in-memory barrier.

use crate::engines::Engine as _;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::store;
use coffre_crypto::{Key256, Keyring};
use coffre_storage::{Backend, InMemoryBackend};
use serde_json::{Map, Value, json};

use super::KvV2;
use crate::barrier::{Barrier, DEFAULT_MAX_ENCRYPTIONS_PER_TERM, KEYRING_PATH, View, seal_keyring};
use crate::clock::{Clock as _, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::mount::{MountConfig, MountEntry};
use crate::request::{Operation, Response};

/// An in-memory backend whose reads and writes take a little while, so that concurrent
/// requests really interleave between reading and writing a key's metadata.
#[derive(Debug, Default)]
struct SlowBackend(InMemoryBackend);

#[async_trait::async_trait]
impl Backend for SlowBackend {
    async fn get(&self, key: &str) -> coffre_storage::Result<Option<Vec<u8>>> {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        self.0.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> coffre_storage::Result<()> {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        self.0.put(key, value).await
    }
    async fn delete(&self, key: &str) -> coffre_storage::Result<()> {
        self.0.delete(key).await
    }
    async fn list(&self, prefix: &str) -> coffre_storage::Result<Vec<String>> {
        self.0.list(prefix).await
    }
    async fn scan(&self, prefix: &str) -> coffre_storage::Result<Vec<String>> {
        self.0.scan(prefix).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> coffre_storage::Result<bool> {
        self.0.compare_and_swap(key, expected, new).await
    }
    async fn batch(&self, ops: Vec<coffre_storage::Op>) -> coffre_storage::Result<()> {
        self.0.batch(ops).await
    }
    fn kind(&self) -> &'static str {
        "slow-inmem"
    }
}

async fn barrier(backend: Arc<dyn Backend>) -> Arc<Barrier> {
    let root = Key256::generate().expect("rng");
    let keyring = Keyring::generate(SystemClock.now_unix_nanos()).expect("keyring");
    backend
        .put(KEYRING_PATH, seal_keyring(&root, &keyring).expect("seal"))
        .await
        .expect("put");
    Arc::new(
        Barrier::open(
            backend,
            root,
            DEFAULT_MAX_ENCRYPTIONS_PER_TERM,
            crate::clock::system(),
        )
        .await
        .expect("open"),
    )
}

#[derive(Clone)]
struct Fx {
    view: View,
    mount: Arc<MountEntry>,
    states: Arc<crate::engines::mount_state::MountStates>,
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => panic!("not an object: {other}"),
    }
}

impl Fx {
    async fn new() -> Fx {
        Fx::with_backend(Arc::new(InMemoryBackend::new())).await
    }

    async fn with_backend(backend: Arc<dyn Backend>) -> Fx {
        let uuid = uuid::Uuid::new_v4().to_string();
        let mount = MountEntry {
            path: "secret/".into(),
            kind: "kv".into(),
            description: String::new(),
            uuid: uuid.clone(),
            accessor: "kv_test".into(),
            config: MountConfig::default(),
            options: BTreeMap::from([("version".to_string(), "2".to_string())]),
            local: false,
            seal_wrap: false,
        };
        Fx {
            view: View::new(barrier(backend).await, format!("logical/{uuid}/")),
            mount: Arc::new(mount),
            states: Arc::default(),
        }
    }

    /// A fresh engine instance of the mount (jobs, password policies and audit of rotation
    /// in a side view without devices).
    fn engine(&self) -> KvV2 {
        let ns = self.view.sub("ns/");
        KvV2::new(
            &self.mount.uuid,
            &crate::engines::EngineContext {
                background: &crate::audit::BackgroundAudit::detached(),
                states: &self.states,
                secrets: &Arc::default(),
                rotation: &crate::rotation::Services::new(
                    &crate::jobs::JobStore::new(ns.sub("jobs/")),
                    &ns,
                    &crate::audit::BackgroundAudit::detached(),
                ),
            },
        )
    }

    /// Like the pipeline: a fresh engine instance each time, driven through its route table.
    async fn call(&self, op: Operation, path: &str, data: Value) -> Result<Option<Response>> {
        let engine = self.engine();
        let (view, mount) = (self.view.clone(), self.mount.clone());
        crate::engines::drive(&engine, op, path, obj(data), view, mount).await
    }

    async fn ok(&self, op: Operation, path: &str, data: Value) -> Response {
        self.call(op, path, data)
            .await
            .expect("request failed")
            .expect("nothing found")
    }

    /// The `data` of a successful response, as JSON.
    async fn data(&self, op: Operation, path: &str, data: Value) -> Value {
        let resp = self.ok(op, path, data).await;
        assert_eq!(resp.status, None, "unexpected status on {path}");
        resp.data.map(Value::Object).unwrap_or(Value::Null)
    }

    async fn write(&self, key: &str, data: Value) -> Value {
        self.data(
            Operation::Update,
            &format!("data/{key}"),
            json!({"options": {}, "data": data}),
        )
        .await
    }

    async fn missing(&self, op: Operation, path: &str, data: Value) {
        let r = self.call(op, path, data).await.expect("request failed");
        assert!(r.is_none(), "expected 404 on {path}, got {r:?}");
    }

    async fn err(&self, op: Operation, path: &str, data: Value) -> Error {
        match self.call(op, path, data).await {
            Err(e) => e,
            Ok(r) => panic!("expected an error on {path}, got {r:?}"),
        }
    }

    async fn stored(&self, key: &str) -> bool {
        self.view.get(key).await.expect("get").is_some()
    }
}

fn is_invalid(e: &Error, msg: &str) -> bool {
    e.kind() == ErrorKind::InvalidRequest && e.to_string().contains(msg)
}

#[tokio::test]
async fn write_and_read_versions() {
    let fx = Fx::new().await;
    let w1 = fx.write("app/db", json!({"u": "x"})).await;
    assert_eq!(w1["version"], 1);
    assert_eq!(w1["deletion_time"], "");
    assert_eq!(w1["destroyed"], false);
    assert_eq!(w1["custom_metadata"], Value::Null);
    assert!(
        w1["created_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let w2 = fx.write("app/db", json!({"u": "y", "n": {"a": 1}})).await;
    assert_eq!(w2["version"], 2);

    let r = fx.data(Operation::Read, "data/app/db", json!({})).await;
    assert_eq!(r["data"], json!({"u": "y", "n": {"a": 1}}));
    assert_eq!(r["metadata"]["version"], 2);
    assert_eq!(r["metadata"]["created_time"], w2["created_time"]);
    assert_eq!(r["metadata"]["deletion_time"], "");

    // Query-string versions arrive as strings.
    let r1 = fx
        .data(Operation::Read, "data/app/db", json!({"version": "1"}))
        .await;
    assert_eq!(r1["data"], json!({"u": "x"}));
    assert_eq!(r1["metadata"]["version"], 1);

    fx.missing(Operation::Read, "data/app/db", json!({"version": 3}))
        .await;
    fx.missing(Operation::Read, "data/app/nope", json!({}))
        .await;
    let e = fx
        .err(Operation::Read, "data/app/db", json!({"version": "x"}))
        .await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);

    // `data` is required and must be an object.
    let e = fx
        .err(Operation::Update, "data/app/db", json!({"options": {}}))
        .await;
    assert!(is_invalid(&e, "no data provided"), "{e}");
    let e = fx
        .err(Operation::Update, "data/app/db", json!({"data": "str"}))
        .await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    // An empty object is a valid secret.
    assert_eq!(fx.write("empty", json!({})).await["version"], 1);

    // Unknown fields: a warning when there is a body anyway, nothing on a 204.
    let resp = fx
        .ok(
            Operation::Update,
            "data/app/db",
            json!({"data": {"a": 1}, "zz": 1, "foo": true}),
        )
        .await;
    assert_eq!(
        resp.warnings,
        ["Endpoint ignored these unrecognized parameters: [foo zz]"]
    );
    let resp = fx
        .ok(Operation::Update, "metadata/app/db", json!({"foo": 1}))
        .await;
    assert!(resp.is_empty());
}

#[tokio::test]
async fn check_and_set() {
    let fx = Fx::new().await;
    let w = |cas: Value| json!({"options": {"cas": cas}, "data": {"a": "b"}});
    assert_eq!(
        fx.data(Operation::Update, "data/k", w(json!(0))).await["version"],
        1
    );
    let e = fx.err(Operation::Update, "data/k", w(json!(0))).await;
    assert!(
        is_invalid(
            &e,
            "check-and-set parameter did not match the current version"
        ),
        "{e}"
    );
    assert_eq!(
        fx.data(Operation::Update, "data/k", w(json!("1"))).await["version"],
        2
    );
    let e = fx.err(Operation::Update, "data/k", w(json!(5))).await;
    assert!(is_invalid(&e, "did not match"), "{e}");

    // A soft-deleted current version still counts.
    fx.ok(Operation::Delete, "data/k", json!({})).await;
    assert_eq!(
        fx.data(Operation::Update, "data/k", w(json!(2))).await["version"],
        3
    );

    // Required by the mount.
    fx.ok(Operation::Update, "config", json!({"cas_required": true}))
        .await;
    let e = fx
        .err(Operation::Update, "data/k", json!({"data": {"a": 1}}))
        .await;
    assert!(
        is_invalid(&e, "check-and-set parameter required for this call"),
        "{e}"
    );
    fx.ok(Operation::Update, "config", json!({"cas_required": false}))
        .await;

    // Required by the key.
    fx.ok(
        Operation::Update,
        "metadata/k",
        json!({"cas_required": true}),
    )
    .await;
    let e = fx
        .err(Operation::Update, "data/k", json!({"data": {"a": 1}}))
        .await;
    assert!(is_invalid(&e, "required"), "{e}");
    assert_eq!(
        fx.data(Operation::Update, "data/k", w(json!(3))).await["version"],
        4
    );
    let e = fx.err(Operation::Update, "data/k", w(json!("abc"))).await;
    assert!(
        is_invalid(&e, "error parsing check-and-set parameter"),
        "{e}"
    );
}

#[tokio::test]
async fn patch_merges_into_a_new_version() {
    let fx = Fx::new().await;
    // A patch of nothing is a bare 404, as OpenBao answers it (no `{"errors":[]}` body).
    let r = fx
        .call(Operation::Patch, "data/p", json!({"data": {"a": 1}}))
        .await
        .expect("request failed")
        .expect("a response");
    assert_eq!((r.status, r.is_empty()), (Some(404), true), "{r:?}");
    fx.write("p", json!({"a": "1", "b": {"c": "2", "d": "3"}, "e": "4"}))
        .await;
    let w = fx
        .data(
            Operation::Patch,
            "data/p",
            json!({"data": {"a": "9", "b": {"c": null}, "e": null, "f": [1]}}),
        )
        .await;
    assert_eq!(w["version"], 2);
    let r = fx.data(Operation::Read, "data/p", json!({})).await;
    assert_eq!(r["data"], json!({"a": "9", "b": {"d": "3"}, "f": [1]}));

    let e = fx
        .err(
            Operation::Patch,
            "data/p",
            json!({"options": {"cas": 1}, "data": {"a": 1}}),
        )
        .await;
    assert!(is_invalid(&e, "did not match"), "{e}");
    let e = fx.err(Operation::Patch, "data/p", json!({})).await;
    assert!(is_invalid(&e, "no data provided"), "{e}");

    // Current version deleted: 404 with the version's metadata.
    fx.ok(Operation::Delete, "data/p", json!({})).await;
    let resp = fx
        .ok(Operation::Patch, "data/p", json!({"data": {"a": 1}}))
        .await;
    assert_eq!(resp.status, Some(404));
    let d = resp.data.expect("data");
    assert_eq!(d["version"], 2);
    assert_ne!(d["deletion_time"], "");
}

#[tokio::test]
async fn delete_undelete_destroy() {
    let fx = Fx::new().await;
    fx.write("s", json!({"v": 1})).await;
    fx.write("s", json!({"v": 2})).await;

    // DELETE data/: soft-deletes the latest version, 204.
    let resp = fx.ok(Operation::Delete, "data/s", json!({})).await;
    assert!(resp.is_empty());
    let resp = fx.ok(Operation::Read, "data/s", json!({})).await;
    assert_eq!(resp.status, Some(404));
    let d = Value::Object(resp.data.expect("data"));
    assert_eq!(d["data"], Value::Null);
    assert_eq!(d["metadata"]["version"], 2);
    assert_ne!(d["metadata"]["deletion_time"], "");
    assert_eq!(d["metadata"]["destroyed"], false);
    // Deleting a missing key is a quiet no-op.
    assert!(
        fx.ok(Operation::Delete, "data/none", json!({}))
            .await
            .is_empty()
    );

    // Undelete brings it back.
    fx.ok(Operation::Update, "undelete/s", json!({"versions": [2]}))
        .await;
    let r = fx.data(Operation::Read, "data/s", json!({})).await;
    assert_eq!(r["data"], json!({"v": 2}));
    assert_eq!(r["metadata"]["deletion_time"], "");

    // delete/ with a comma string, unknown versions ignored.
    fx.ok(Operation::Update, "delete/s", json!({"versions": "1,7"}))
        .await;
    let resp = fx
        .ok(Operation::Read, "data/s", json!({"version": 1}))
        .await;
    assert_eq!(resp.status, Some(404));
    let e = fx.err(Operation::Update, "delete/s", json!({})).await;
    assert!(is_invalid(&e, "No version number provided"), "{e}");
    let e = fx
        .err(Operation::Update, "destroy/s", json!({"versions": []}))
        .await;
    assert!(is_invalid(&e, "no version number provided"), "{e}");

    // Destroy removes the data for good; undelete cannot revive it.
    let blob = &store::version_key("s", 2);
    assert!(fx.stored(blob).await);
    fx.ok(Operation::Update, "destroy/s", json!({"versions": [2]}))
        .await;
    assert!(!fx.stored(blob).await);
    fx.ok(Operation::Update, "undelete/s", json!({"versions": [2]}))
        .await;
    let resp = fx.ok(Operation::Read, "data/s", json!({})).await;
    assert_eq!(resp.status, Some(404));
    let d = Value::Object(resp.data.expect("data"));
    assert_eq!(d["metadata"]["destroyed"], true);
    assert_eq!(d["data"], Value::Null);
    let meta = fx.data(Operation::Read, "metadata/s", json!({})).await;
    assert_eq!(meta["versions"]["2"]["destroyed"], true);
    assert_eq!(meta["current_version"], 2);

    // Missing keys: 204.
    assert!(
        fx.ok(Operation::Update, "destroy/none", json!({"versions": [1]}))
            .await
            .is_empty()
    );
    // Wrong operation.
    let e = fx.err(Operation::Read, "delete/s", json!({})).await;
    assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
}

#[tokio::test]
async fn max_versions_prunes_oldest() {
    let fx = Fx::new().await;
    fx.ok(Operation::Update, "config", json!({"max_versions": 3}))
        .await;
    for i in 1..=5 {
        fx.write("m", json!({"i": i})).await;
    }
    let meta = fx.data(Operation::Read, "metadata/m", json!({})).await;
    let versions: Vec<&String> = meta["versions"]
        .as_object()
        .expect("versions")
        .keys()
        .collect();
    assert_eq!(versions, ["3", "4", "5"]);
    assert_eq!(meta["oldest_version"], 3);
    assert_eq!(meta["current_version"], 5);
    fx.missing(Operation::Read, "data/m", json!({"version": 1}))
        .await;
    assert!(!fx.stored(&store::version_key("m", 1)).await);
    assert!(!fx.stored(&store::version_key("m", 2)).await);
    assert!(fx.stored(&store::version_key("m", 3)).await);

    // A key-level setting: the larger non-zero of key and mount wins (Vault).
    fx.ok(Operation::Update, "metadata/m", json!({"max_versions": 4}))
        .await;
    fx.write("m", json!({"i": 6})).await;
    let meta = fx.data(Operation::Read, "metadata/m", json!({})).await;
    assert_eq!(meta["versions"].as_object().map(Map::len), Some(4));
    assert_eq!(meta["max_versions"], 4);

    // Default window of 10 on a fresh mount.
    let fx = Fx::new().await;
    for i in 1..=12 {
        fx.write("d", json!({"i": i})).await;
    }
    let meta = fx.data(Operation::Read, "metadata/d", json!({})).await;
    assert_eq!(meta["versions"].as_object().map(Map::len), Some(10));
    assert_eq!(meta["oldest_version"], 3);
}

#[tokio::test]
async fn list_folders() {
    let fx = Fx::new().await;
    fx.missing(Operation::List, "metadata", json!({})).await;
    fx.write("a", json!({"x": 1})).await;
    fx.write("dir/b", json!({"x": 1})).await;
    fx.write("dir/c/d", json!({"x": 1})).await;
    fx.write("dir", json!({"x": 1})).await;
    let keys = |v: Value| v["keys"].clone();
    assert_eq!(
        keys(fx.data(Operation::List, "metadata", json!({})).await),
        json!(["a", "dir", "dir/"])
    );
    assert_eq!(
        keys(fx.data(Operation::List, "metadata/", json!({})).await),
        json!(["a", "dir", "dir/"])
    );
    assert_eq!(
        keys(fx.data(Operation::List, "metadata/dir/", json!({})).await),
        json!(["b", "c/"])
    );
    assert_eq!(
        keys(fx.data(Operation::List, "metadata/dir", json!({})).await),
        json!(["b", "c/"])
    );
    fx.missing(Operation::List, "metadata/nothing/", json!({}))
        .await;

    fx.ok(Operation::Delete, "data/dir/b", json!({})).await;
    assert_eq!(
        keys(
            fx.data(
                Operation::List,
                "metadata/dir/",
                json!({"exclude_deleted": "true"})
            )
            .await
        ),
        json!(["c/"])
    );
    // Listing is only for metadata/.
    let e = fx.err(Operation::List, "data/dir", json!({})).await;
    assert_eq!(e.kind(), ErrorKind::UnsupportedOperation);
}

#[tokio::test]
async fn subkeys() {
    let fx = Fx::new().await;
    fx.write("sk", json!({"a": "1", "b": {"c": {"d": "2"}, "e": {}}}))
        .await;
    let r = fx.data(Operation::Read, "subkeys/sk", json!({})).await;
    assert_eq!(
        r["subkeys"],
        json!({"a": null, "b": {"c": {"d": null}, "e": null}})
    );
    assert_eq!(r["metadata"]["version"], 1);
    let r = fx
        .data(Operation::Read, "subkeys/sk", json!({"depth": "1"}))
        .await;
    assert_eq!(r["subkeys"], json!({"a": null, "b": null}));
    fx.write("sk", json!({"z": "1"})).await;
    let r = fx
        .data(
            Operation::Read,
            "subkeys/sk",
            json!({"version": 1, "depth": 2}),
        )
        .await;
    assert_eq!(
        r["subkeys"],
        json!({"a": null, "b": {"c": null, "e": null}})
    );
    fx.missing(Operation::Read, "subkeys/none", json!({})).await;
    fx.ok(Operation::Delete, "data/sk", json!({})).await;
    let resp = fx.ok(Operation::Read, "subkeys/sk", json!({})).await;
    assert_eq!(resp.status, Some(404));
}

#[tokio::test]
async fn custom_metadata_and_metadata_writes() {
    let fx = Fx::new().await;
    // Metadata can exist without any version.
    fx.ok(
        Operation::Update,
        "metadata/cm",
        json!({"custom_metadata": {"owner": "me", "n": 5}, "delete_version_after": "0s"}),
    )
    .await;
    let meta = fx.data(Operation::Read, "metadata/cm", json!({})).await;
    assert_eq!(meta["custom_metadata"], json!({"owner": "me", "n": "5"}));
    assert_eq!(meta["current_version"], 0);
    assert_eq!(meta["versions"], json!({}));
    assert_eq!(meta["delete_version_after"], "0s");
    assert_ne!(meta["created_time"], "");
    fx.missing(Operation::Read, "data/cm", json!({})).await;

    let w = fx.write("cm", json!({"a": 1})).await;
    assert_eq!(w["custom_metadata"], json!({"owner": "me", "n": "5"}));
    let r = fx.data(Operation::Read, "data/cm", json!({})).await;
    assert_eq!(
        r["metadata"]["custom_metadata"],
        json!({"owner": "me", "n": "5"})
    );

    // PATCH merges (null removes).
    fx.ok(
        Operation::Patch,
        "metadata/cm",
        json!({"custom_metadata": {"n": null, "team": "ops"}, "max_versions": 7}),
    )
    .await;
    let meta = fx.data(Operation::Read, "metadata/cm", json!({})).await;
    assert_eq!(
        meta["custom_metadata"],
        json!({"owner": "me", "team": "ops"})
    );
    assert_eq!(meta["max_versions"], 7);
    fx.missing(
        Operation::Patch,
        "metadata/none",
        json!({"max_versions": 1}),
    )
    .await;

    // POST replaces the whole map; invalid values are refused.
    fx.ok(
        Operation::Update,
        "metadata/cm",
        json!({"custom_metadata": {"only": "this"}}),
    )
    .await;
    let meta = fx.data(Operation::Read, "metadata/cm", json!({})).await;
    assert_eq!(meta["custom_metadata"], json!({"only": "this"}));
    assert_eq!(meta["max_versions"], 7);
    let e = fx
        .err(
            Operation::Update,
            "metadata/cm",
            json!({"custom_metadata": {"k": ""}}),
        )
        .await;
    assert!(is_invalid(&e, "custom_metadata validation failed"), "{e}");

    // cas_required=false on a CAS-mandating mount: stored, with Vault's warning.
    fx.ok(Operation::Update, "config", json!({"cas_required": true}))
        .await;
    let resp = fx
        .ok(
            Operation::Update,
            "metadata/cm",
            json!({"cas_required": false}),
        )
        .await;
    assert_eq!(resp.warnings.len(), 1);
}

#[tokio::test]
async fn metadata_delete_removes_everything() {
    let fx = Fx::new().await;
    fx.write("gone", json!({"a": 1})).await;
    fx.write("gone", json!({"a": 2})).await;
    fx.write("gone/child", json!({"a": 3})).await;
    assert!(
        fx.ok(Operation::Delete, "metadata/gone", json!({}))
            .await
            .is_empty()
    );
    fx.missing(Operation::Read, "metadata/gone", json!({}))
        .await;
    fx.missing(Operation::Read, "data/gone", json!({})).await;
    assert!(!fx.stored(&store::version_key("gone", 1)).await);
    assert!(!fx.stored(&store::version_key("gone", 2)).await);
    // The child key is untouched.
    assert!(fx.stored(&store::version_key("gone/child", 1)).await);
    assert_eq!(
        fx.data(Operation::List, "metadata", json!({})).await["keys"],
        json!(["gone/"])
    );
    // Versions start again at 1.
    assert_eq!(fx.write("gone", json!({"b": 1})).await["version"], 1);
    assert!(
        fx.ok(Operation::Delete, "metadata/never", json!({}))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn config_read_and_write() {
    let fx = Fx::new().await;
    assert_eq!(
        fx.data(Operation::Read, "config", json!({})).await,
        json!({"max_versions": 0, "cas_required": false, "delete_version_after": "0s",
               "metadata_cas_required": false})
    );
    fx.ok(
        Operation::Update,
        "config",
        json!({"max_versions": 5, "delete_version_after": "1h", "cas_required": "true"}),
    )
    .await;
    assert_eq!(
        fx.data(Operation::Read, "config", json!({})).await,
        json!({"max_versions": 5, "cas_required": true, "delete_version_after": "1h0m0s",
               "metadata_cas_required": false})
    );
    fx.ok(
        Operation::Update,
        "config",
        json!({"delete_version_after": "-5m"}),
    )
    .await;
    let c = fx.data(Operation::Read, "config", json!({})).await;
    assert_eq!(c["delete_version_after"], "-1s");
    assert_eq!(c["max_versions"], 5);
    let e = fx
        .err(Operation::Update, "config", json!({"max_versions": "x"}))
        .await;
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let fx = Fx::new().await;
    fx.ok(
        Operation::Update,
        "metadata/t",
        json!({"delete_version_after": "1s"}),
    )
    .await;
    let w = fx.write("t", json!({"a": 1})).await;
    assert_ne!(w["deletion_time"], "");
    // Scheduled, not yet past: readable.
    let r = fx.data(Operation::Read, "data/t", json!({})).await;
    assert_eq!(r["data"], json!({"a": 1}));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let resp = fx.ok(Operation::Read, "data/t", json!({})).await;
    assert_eq!(resp.status, Some(404));

    // A mount that disables the feature overrides the key.
    fx.ok(
        Operation::Update,
        "config",
        json!({"delete_version_after": -1}),
    )
    .await;
    assert_eq!(fx.write("t", json!({"a": 2})).await["deletion_time"], "");
}

#[tokio::test]
async fn routing_and_existence() {
    let fx = Fx::new().await;
    for path in ["data", "data/", "data/x/"] {
        let e = fx.err(Operation::Read, path, json!({})).await;
        assert!(matches!(e, Error::UnsupportedPath), "{path}: {e}");
    }
    // Elsewhere: a 404 with OpenBao's hint to use the versioned paths.
    for path in ["", "foo", "other/x", "delete/"] {
        let r = fx.ok(Operation::Read, path, json!({})).await;
        assert_eq!(r.status, Some(404), "{path}");
        assert!(
            r.warnings[0].contains("Invalid path for a versioned K/V"),
            "{path}"
        );
    }
    let e = fx.err(Operation::Delete, "config", json!({})).await;
    assert!(matches!(e, Error::UnsupportedOperation));
    let e = fx.err(Operation::Patch, "subkeys/x", json!({})).await;
    assert!(matches!(e, Error::UnsupportedOperation));

    async fn exists_at(fx: &Fx, path: &str) -> Option<bool> {
        let engine = fx.engine();
        if !crate::engines::has_existence_check(&engine, path) {
            return None;
        }
        let (view, mount) = (fx.view.clone(), fx.mount.clone());
        let req =
            crate::engines::request_for(&engine, Operation::Update, path, Map::new(), view, mount)
                .expect("routed");
        Some(engine.exists(&req).await.expect("exists"))
    }
    let exists = |path: &'static str| exists_at(&fx, path);
    assert_eq!(exists("data/e").await, Some(false));
    assert_eq!(exists("metadata/e").await, Some(false));
    fx.write("e", json!({"a": 1})).await;
    assert_eq!(exists("data/e").await, Some(true));
    assert_eq!(exists("metadata/e").await, Some(true));
    assert_eq!(exists("config").await, None);
    assert_eq!(exists("destroy/e").await, None);
    assert_eq!(
        exists("data/").await,
        Some(false),
        "an empty key does not exist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cas_has_one_winner() {
    let fx = Fx::with_backend(Arc::new(SlowBackend::default())).await;
    fx.write("race", json!({"n": 0})).await;
    for round in 1..=5u64 {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let fx = fx.clone();
            tasks.push(tokio::spawn(async move {
                fx.call(
                    Operation::Update,
                    "data/race",
                    json!({"options": {"cas": round}, "data": {"n": i}}),
                )
                .await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(Some(_)) => wins += 1,
                Ok(None) => panic!("unexpected 404"),
                Err(e) => assert!(is_invalid(&e, "did not match"), "{e}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
    let meta = fx.data(Operation::Read, "metadata/race", json!({})).await;
    assert_eq!(meta["current_version"], 6);
}

/// With one engine instance alive the whole time (as in a running server), the metadata cache
/// is shared by every call; each change made under the key's lock must be what the next read
/// sees.
#[tokio::test]
async fn metadata_cache_follows_every_change() {
    let fx = Fx::new().await;
    let _keep_alive = fx.engine();
    fx.write("c/k", json!({"v": "1"})).await;
    let read = fx.data(Operation::Read, "data/c/k", json!({})).await;
    assert_eq!(read["metadata"]["version"], json!(1));
    fx.write("c/k", json!({"v": "2"})).await;
    let read = fx.data(Operation::Read, "data/c/k", json!({})).await;
    assert_eq!(read["data"]["v"], json!("2"));
    assert_eq!(read["metadata"]["version"], json!(2));

    // Soft delete, then the read is the 404 envelope; undelete brings it back.
    fx.ok(Operation::Delete, "data/c/k", json!({})).await;
    let gone = fx.ok(Operation::Read, "data/c/k", json!({})).await;
    assert_eq!(gone.status, Some(404));
    fx.ok(Operation::Update, "undelete/c/k", json!({"versions": [2]}))
        .await;
    let read = fx.data(Operation::Read, "data/c/k", json!({})).await;
    assert_eq!(read["data"]["v"], json!("2"));

    // Metadata changes show at once.
    fx.ok(
        Operation::Update,
        "metadata/c/k",
        json!({"custom_metadata": {"owner": "ops"}}),
    )
    .await;
    let meta = fx.data(Operation::Read, "metadata/c/k", json!({})).await;
    assert_eq!(meta["custom_metadata"]["owner"], json!("ops"));

    // Deleting the metadata removes the key entirely.
    fx.ok(Operation::Delete, "metadata/c/k", json!({})).await;
    assert!(
        fx.call(Operation::Read, "data/c/k", json!({}))
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        fx.call(Operation::Read, "metadata/c/k", json!({}))
            .await
            .expect("read")
            .is_none()
    );
    // And a new write starts over at version 1.
    fx.write("c/k", json!({"v": "3"})).await;
    let read = fx.data(Operation::Read, "data/c/k", json!({})).await;
    assert_eq!(read["metadata"]["version"], json!(1));
}

/// A version blob sorts right after its secret's metadata and before any other key that
/// shares the prefix, so a write's two records share a B-tree leaf; listings never show it.
#[tokio::test]
async fn version_blobs_sit_beside_their_metadata_and_stay_unlisted() {
    let meta = "meta/app";
    let blob = store::version_key("app", 12);
    for neighbour in [
        "meta/app ",
        "meta/app-x",
        "meta/app/child",
        "meta/app0",
        "meta/app~",
    ] {
        assert!(
            meta < blob.as_str() && blob.as_str() < neighbour,
            "{neighbour}"
        );
    }

    let fx = Fx::new().await;
    for key in ["app", "app/child", "app-x"] {
        fx.ok(
            Operation::Update,
            &format!("data/{key}"),
            json!({"data": {"a": "1"}}),
        )
        .await;
        fx.ok(
            Operation::Update,
            &format!("data/{key}"),
            json!({"data": {"a": "2"}}),
        )
        .await;
    }
    assert_eq!(
        fx.data(Operation::List, "metadata", json!({})).await["keys"],
        json!(["app", "app-x", "app/"])
    );
    assert!(fx.stored(&store::version_key("app", 2)).await);
}

/// Stores written with the first layout (`versions/<key>/<n>`) keep working: the first request
/// to the mount moves every blob beside its metadata and nothing is left behind.
#[tokio::test]
async fn blobs_of_the_first_layout_are_moved_on_first_use() {
    let fx = Fx::new().await;
    for (key, v) in [("app", "1"), ("app", "2"), ("team/db", "1")] {
        fx.ok(
            Operation::Update,
            &format!("data/{key}"),
            json!({"data": {"v": v}}),
        )
        .await;
    }
    // Rewrite the blobs as the first layout stored them, as a store from before the change.
    for (key, n) in [("app", 1), ("app", 2), ("team/db", 1)] {
        let new = store::version_key(key, n);
        let value = fx.view.get(&new).await.expect("get").expect("blob");
        fx.view
            .batch(vec![
                (format!("versions/{key}/{n}"), Some(value.expose().to_vec())),
                (new, None),
            ])
            .await
            .expect("rewrite");
    }
    // Each call builds a new engine, so no lock table survives: the next request is the first
    // one of the mount, as after a restart, and migrates.
    let d = fx
        .data(Operation::Read, "data/app", json!({"version": 1}))
        .await;
    assert_eq!(d["data"]["v"], json!("1"));
    let d = fx.data(Operation::Read, "data/team/db", json!({})).await;
    assert_eq!(d["data"]["v"], json!("1"));
    assert!(fx.view.scan("versions/").await.expect("scan").is_empty());
    assert!(fx.stored(&store::version_key("app", 2)).await);
}

/// A crash at any point of a destroy leaves metadata and data agreeing: the version is either
/// still readable, or marked destroyed with its data gone.
#[tokio::test]
async fn a_crash_during_destroy_never_leaves_destroyed_data_behind() {
    let faulty = Arc::new(coffre_storage::testing::FaultyBackend::new(Arc::new(
        InMemoryBackend::new(),
    )));
    let fx = Fx::with_backend(faulty.clone()).await;
    fx.write("s", json!({"v": 1})).await;
    fx.write("s", json!({"v": 2})).await;
    faulty.crash_after_write("logical/");
    let _ = fx
        .call(Operation::Update, "destroy/s", json!({"versions": [1, 2]}))
        .await;
    assert!(faulty.crashed());
    let meta = fx.data(Operation::Read, "metadata/s", json!({})).await;
    for n in [1u64, 2] {
        let destroyed = meta["versions"][n.to_string()]["destroyed"] == true;
        let data_left = fx.stored(&store::version_key("s", n)).await;
        assert!(
            destroyed != data_left,
            "version {n}: destroyed={destroyed} but data stored={data_left}"
        );
    }
}
