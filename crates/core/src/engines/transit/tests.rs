//! Engine-level tests over an in-memory barrier, driven like the pipeline drives the engine
//! (writes settled to create/update by `exists`).

use crate::engines::Engine as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use coffre_crypto::{Key256, Keyring};
use coffre_storage::{Backend, InMemoryBackend};
use serde_json::{Map, Value, json};

use super::Transit;
use crate::barrier::{Barrier, DEFAULT_MAX_ENCRYPTIONS_PER_TERM, KEYRING_PATH, View, seal_keyring};
use crate::clock::{Clock as _, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::mount::{MountConfig, MountEntry};
use crate::request::{Operation, Response};

/// An in-memory backend that counts reads, to prove hot paths are served from the cache.
#[derive(Debug, Default)]
struct CountingBackend {
    inner: InMemoryBackend,
    gets: AtomicUsize,
}

#[async_trait::async_trait]
impl Backend for CountingBackend {
    async fn get(&self, key: &str) -> coffre_storage::Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> coffre_storage::Result<()> {
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> coffre_storage::Result<()> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> coffre_storage::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn scan(&self, prefix: &str) -> coffre_storage::Result<Vec<String>> {
        self.inner.scan(prefix).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> coffre_storage::Result<bool> {
        self.inner.compare_and_swap(key, expected, new).await
    }
    async fn batch(&self, ops: Vec<coffre_storage::Op>) -> coffre_storage::Result<()> {
        self.inner.batch(ops).await
    }
    fn kind(&self) -> &'static str {
        "counting-inmem"
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn b64(s: &[u8]) -> String {
    STANDARD.encode(s)
}

struct Fx {
    view: View,
    mount: Arc<MountEntry>,
    engine: Transit,
    backend: Arc<CountingBackend>,
    /// The audit log the rotator records through (a file device in `_audit_dir`).
    audit: Arc<crate::audit::AuditBroker>,
    states: Arc<crate::engines::mount_state::MountStates>,
    /// The job store the engine schedules its keys' rotations in.
    jobs: crate::jobs::JobStore,
    audit_file: std::path::PathBuf,
    _audit_dir: tempfile::TempDir,
}

impl Fx {
    async fn new() -> Fx {
        let backend = Arc::new(CountingBackend::default());
        let dynb: Arc<dyn Backend> = backend.clone();
        let root = Key256::generate().expect("rng");
        let keyring = Keyring::generate(SystemClock.now_unix_nanos()).expect("keyring");
        dynb.put(KEYRING_PATH, seal_keyring(&root, &keyring).expect("seal"))
            .await
            .expect("put");
        let barrier = Arc::new(
            Barrier::open(
                dynb,
                root,
                DEFAULT_MAX_ENCRYPTIONS_PER_TERM,
                crate::clock::system(),
            )
            .await
            .expect("open"),
        );
        let uuid = uuid::Uuid::new_v4().to_string();
        let mount = MountEntry {
            path: "transit/".into(),
            kind: "transit".into(),
            description: String::new(),
            uuid: uuid.clone(),
            accessor: "transit_test".into(),
            config: MountConfig::default(),
            options: BTreeMap::new(),
            local: false,
            seal_wrap: false,
        };
        let audit_dir = tempfile::tempdir().expect("tempdir");
        let audit_file = audit_dir.path().join("audit.log");
        let device =
            crate::audit::DeviceConfig::new("file", crate::audit::Sink::File(audit_file.clone()));
        let audit = Arc::new(
            crate::audit::AuditBroker::open(barrier.clone(), &[device], false)
                .await
                .expect("audit"),
        );
        let view = View::new(barrier, format!("logical/{uuid}/"));
        let states = Arc::new(crate::engines::mount_state::MountStates::default());
        let jobs = crate::jobs::JobStore::new(view.sub("jobs/"));
        let engine = Transit::new(
            &mount,
            &crate::engines::EngineContext {
                background: &audit.background(),
                states: &states,
                secrets: &Default::default(),
                rotation: &crate::rotation::Services::new(&jobs, &view, &audit.background()),
            },
        );
        Fx {
            view,
            mount: Arc::new(mount),
            engine,
            backend,
            audit,
            states,
            jobs,
            audit_file,
            _audit_dir: audit_dir,
        }
    }

    fn req(&self, op: Operation, path: &str, data: Value) -> crate::engines::EngineRequest {
        let (view, mount) = (self.view.clone(), self.mount.clone());
        crate::engines::request_for(&self.engine, op, path, obj(data), view, mount).expect("routed")
    }

    /// Like the pipeline: through the engine's route table, writes settled by `exists`.
    async fn call(&self, op: Operation, path: &str, data: Value) -> Result<Option<Response>> {
        let (view, mount) = (self.view.clone(), self.mount.clone());
        crate::engines::drive(&self.engine, op, path, obj(data), view, mount).await
    }

    async fn write(&self, path: &str, data: Value) -> Response {
        match self.call(Operation::Update, path, data).await {
            Ok(Some(r)) => r,
            Ok(None) => panic!("{path}: nothing"),
            Err(e) => panic!("{path}: {e}"),
        }
    }

    async fn data(&self, path: &str, data: Value) -> Value {
        Value::Object(self.write(path, data).await.data.unwrap_or_default())
    }

    async fn read(&self, path: &str) -> Option<Value> {
        self.call(Operation::Read, path, json!({}))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .map(|r| Value::Object(r.data.unwrap_or_default()))
    }

    /// A write expected to fail with 400; returns the message.
    async fn bad(&self, path: &str, data: Value) -> String {
        match self.call(Operation::Update, path, data).await {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{path}: {e}");
                e.to_string()
            }
            Ok(r) => panic!("{path}: expected an error, got {r:?}"),
        }
    }

    async fn create(&self, name: &str, data: Value) -> Value {
        self.data(&format!("keys/{name}"), data).await
    }

    async fn encrypt(&self, name: &str, plaintext: &[u8], extra: Value) -> String {
        let mut data = obj(extra);
        data.insert("plaintext".into(), json!(b64(plaintext)));
        let d = self
            .data(&format!("encrypt/{name}"), Value::Object(data))
            .await;
        d["ciphertext"].as_str().expect("ciphertext").to_string()
    }

    async fn decrypt(&self, name: &str, ct: &str, extra: Value) -> Result<Vec<u8>> {
        let mut data = obj(extra);
        data.insert("ciphertext".into(), json!(ct));
        let r = self
            .call(
                Operation::Update,
                &format!("decrypt/{name}"),
                Value::Object(data),
            )
            .await?
            .and_then(|r| r.data)
            .unwrap_or_default();
        Ok(STANDARD
            .decode(r["plaintext"].as_str().unwrap_or("!"))
            .expect("plaintext b64"))
    }

    async fn rotate(&self, name: &str) -> Value {
        self.data(&format!("keys/{name}/rotate"), json!({})).await
    }
}

#[tokio::test]
async fn create_read_list_and_existing_warning() {
    let fx = Fx::new().await;
    assert!(fx.read("keys/k1").await.is_none());
    assert!(
        fx.call(Operation::List, "keys", json!({}))
            .await
            .expect("list")
            .is_none()
    );
    let info = fx.create("k1", json!({})).await;
    assert_eq!(info["type"], "aes256-gcm96");
    assert_eq!(info["latest_version"], 1);
    assert_eq!(info["min_decryption_version"], 1);
    assert_eq!(info["min_encryption_version"], 0);
    assert_eq!(info["deletion_allowed"], false);
    assert_eq!(info["supports_encryption"], true);
    assert_eq!(info["supports_signing"], false);
    assert_eq!(info["supports_derivation"], true);
    assert!(info["keys"]["1"].as_i64().expect("ctime") > 1_600_000_000);
    let again = fx.write("keys/k1", json!({"type": "ed25519"})).await;
    assert_eq!(again.warnings, vec!["key k1 already existed".to_string()]);
    assert_eq!(again.data.expect("data")["type"], "aes256-gcm96");
    fx.create("k2", json!({"type": "ecdsa-p256"})).await;
    let listed = fx
        .call(Operation::List, "keys", json!({}))
        .await
        .expect("list")
        .and_then(|r| r.data)
        .expect("keys");
    assert_eq!(listed["keys"], json!(["k1", "k2"]));
    let read = fx.read("keys/k2").await.expect("k2");
    assert_eq!(read["keys"]["1"]["name"], "P-256");
    assert!(
        read["keys"]["1"]["public_key"]
            .as_str()
            .expect("pem")
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    assert!(
        read["keys"]["1"]["creation_time"]
            .as_str()
            .expect("time")
            .contains('T')
    );
}

#[tokio::test]
async fn bad_create_parameters() {
    let fx = Fx::new().await;
    assert!(
        fx.bad("keys/k", json!({"type": "des"}))
            .await
            .contains("unknown key type des")
    );
    assert!(
        fx.bad("keys/k", json!({"convergent_encryption": true}))
            .await
            .contains("derivation")
    );
    assert!(
        fx.bad("keys/k", json!({"type": "rsa-2048", "derived": true}))
            .await
            .contains("not supported")
    );
    assert!(
        fx.bad("keys/k", json!({"auto_rotate_period": "30m"}))
            .await
            .contains("at least an hour")
    );
    assert!(
        fx.bad("keys/k", json!({"type": "hmac", "key_size": 16}))
            .await
            .contains("invalid key_size")
    );
    assert!(
        fx.bad("keys/k", json!({"key_size": 64}))
            .await
            .contains("key_size is not valid")
    );
    assert!(
        fx.bad("keys/k", json!({"derived": "maybe"}))
            .await
            .contains("derived")
    );
    let h = fx
        .create("h", json!({"type": "hmac", "key_size": 64}))
        .await;
    assert_eq!(h["key_size"], 64);
}

#[tokio::test]
async fn encrypt_decrypt_every_encryption_type() {
    let fx = Fx::new().await;
    for t in [
        "aes128-gcm96",
        "aes256-gcm96",
        "chacha20-poly1305",
        "rsa-2048",
        "x25519-ml-kem-768",
    ] {
        fx.create(t, json!({"type": t})).await;
        let ct = fx.encrypt(t, b"hello transit", json!({})).await;
        assert!(ct.starts_with("vault:v1:"), "{t}: {ct}");
        assert_eq!(
            fx.decrypt(t, &ct, json!({})).await.expect("decrypt"),
            b"hello transit",
            "{t}"
        );
        // Empty plaintext is allowed.
        let ct = fx.encrypt(t, b"", json!({})).await;
        assert!(
            fx.decrypt(t, &ct, json!({}))
                .await
                .expect("decrypt")
                .is_empty(),
            "{t}"
        );
    }
    // Associated data binds AEAD and hybrid ciphertexts.
    for t in ["aes256-gcm96", "chacha20-poly1305", "x25519-ml-kem-768"] {
        let ad = json!({"associated_data": b64(b"header")});
        let ct = fx.encrypt(t, b"payload", ad.clone()).await;
        assert_eq!(fx.decrypt(t, &ct, ad).await.expect("decrypt"), b"payload");
        let err = fx
            .decrypt(t, &ct, json!({"associated_data": b64(b"other")}))
            .await;
        assert!(
            matches!(err, Err(Error::InvalidRequest(ref m)) if m.contains("authentication failed")),
            "{t}: {err:?}"
        );
    }
    let msg = fx
        .bad(
            "encrypt/rsa-2048",
            json!({"plaintext": b64(b"x"), "associated_data": b64(b"ad")}),
        )
        .await;
    assert!(msg.contains("non-AEAD cipher suite rsa-2048"), "{msg}");
    // RSA-OAEP has a size limit.
    let msg = fx
        .bad("encrypt/rsa-2048", json!({"plaintext": b64(&[0u8; 300])}))
        .await;
    assert!(msg.contains("plaintext too long"), "{msg}");
    // Signing-only and hmac keys do not encrypt.
    fx.create("ed", json!({"type": "ed25519"})).await;
    assert!(
        fx.bad("encrypt/ed", json!({"plaintext": b64(b"x")}))
            .await
            .contains("not supported")
    );
    fx.create("mac", json!({"type": "hmac"})).await;
    assert!(
        fx.bad("decrypt/mac", json!({"ciphertext": "vault:v1:AAAA"}))
            .await
            .contains("not supported")
    );
}

#[tokio::test]
async fn tampered_and_malformed_ciphertexts_are_400() {
    let fx = Fx::new().await;
    for t in ["aes256-gcm96", "rsa-2048", "x25519-ml-kem-768"] {
        fx.create(t, json!({"type": t})).await;
        let ct = fx.encrypt(t, b"secret", json!({})).await;
        let payload = STANDARD.decode(&ct["vault:v1:".len()..]).expect("b64");
        for i in [0, payload.len() / 2, payload.len() - 1] {
            let mut bad = payload.clone();
            bad[i] ^= 0x01;
            let tampered = format!("vault:v1:{}", b64(&bad));
            let msg = fx
                .bad(&format!("decrypt/{t}"), json!({"ciphertext": tampered}))
                .await;
            assert!(msg.contains("authentication failed"), "{t} byte {i}: {msg}");
        }
        let truncated = format!("vault:v1:{}", b64(&payload[..5]));
        fx.bad(&format!("decrypt/{t}"), json!({"ciphertext": truncated}))
            .await;
    }
    let cases = [
        ("AAAA", "no prefix"),
        ("vault:v1", "wrong number of fields"),
        ("vault:vx:AAAA", "version number could not be decoded"),
        ("vault:v1:!!!!", "could not decode base64"),
        ("vault:v9:AAAA", "version is too new"),
    ];
    for (ct, want) in cases {
        let msg = fx
            .bad("decrypt/aes256-gcm96", json!({"ciphertext": ct}))
            .await;
        assert!(msg.contains(want), "{ct}: {msg}");
    }
    assert!(
        fx.bad("decrypt/aes256-gcm96", json!({}))
            .await
            .contains("missing ciphertext")
    );
    assert!(
        fx.bad("encrypt/aes256-gcm96", json!({}))
            .await
            .contains("missing plaintext")
    );
    assert!(
        fx.bad("encrypt/aes256-gcm96", json!({"plaintext": "%%%"}))
            .await
            .contains("base64")
    );
    assert!(
        fx.bad("decrypt/nokey", json!({"ciphertext": "vault:v1:AAAA"}))
            .await
            .contains("encryption key not found")
    );
}

#[tokio::test]
async fn upsert_on_create_only() {
    let fx = Fx::new().await;
    let req = fx.req(Operation::Update, "encrypt/auto", json!({}));
    assert!(!fx.engine.exists(&req).await.expect("exists"));
    assert!(!crate::engines::has_existence_check(
        &fx.engine,
        "keys/auto"
    ));
    // An Update on a missing key (the ACL allowed only update) does not create it.
    let err = fx
        .engine
        .handle(
            fx.req(
                Operation::Update,
                "encrypt/auto",
                json!({"plaintext": b64(b"x")}),
            ),
            &crate::system::Ctx::detached(),
        )
        .await
        .expect_err("no upsert");
    assert!(err.to_string().contains("encryption key not found"));
    // Create (what `exists` settles to) upserts an aes256-gcm96 key.
    let ct = fx.encrypt("auto", b"x", json!({})).await;
    assert!(ct.starts_with("vault:v1:"));
    let info = fx.read("keys/auto").await.expect("created");
    assert_eq!(info["type"], "aes256-gcm96");
    assert_eq!(info["derived"], false);
    assert!(fx.engine.exists(&req).await.expect("exists"));
    // With a context the upserted key is derived; an asymmetric type cannot be upserted.
    fx.encrypt("auto-derived", b"x", json!({"context": b64(b"ctx")}))
        .await;
    assert_eq!(
        fx.read("keys/auto-derived").await.expect("k")["derived"],
        true
    );
    let msg = fx
        .bad(
            "encrypt/auto-ec",
            json!({"plaintext": b64(b"x"), "type": "ecdsa-p256"}),
        )
        .await;
    assert!(msg.contains("not supported for this operation"), "{msg}");
    // A race where the key appeared meanwhile is reported as a warning.
    let resp = fx
        .engine
        .handle(
            fx.req(
                Operation::Create,
                "encrypt/auto",
                json!({"plaintext": b64(b"x")}),
            ),
            &crate::system::Ctx::detached(),
        )
        .await
        .expect("encrypt")
        .expect("resp");
    assert_eq!(resp.warnings.len(), 1);
}

#[tokio::test]
async fn batch_encrypt_decrypt_with_item_errors() {
    let fx = Fx::new().await;
    fx.create("k", json!({})).await;
    let d = fx
        .data(
            "encrypt/k",
            json!({"batch_input": [
                {"plaintext": b64(b"one"), "reference": "a"},
                {"plaintext": b64(b"two"), "reference": "b"},
            ]}),
        )
        .await;
    let results = d["batch_results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["reference"], "a");
    assert_eq!(results[1]["key_version"], 1);
    let cts: Vec<String> = results
        .iter()
        .map(|r| r["ciphertext"].as_str().expect("ct").to_string())
        .collect();
    // Decrypt with one bad item: 400 with the envelope, good items still answered.
    let resp = fx
        .write(
            "decrypt/k",
            json!({"batch_input": [
                {"ciphertext": cts[0], "reference": "x"},
                {"ciphertext": "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                {"ciphertext": cts[1]},
            ]}),
        )
        .await;
    assert_eq!(resp.status, Some(400));
    let r = &resp.data.expect("data")["batch_results"];
    assert_eq!(
        STANDARD
            .decode(r[0]["plaintext"].as_str().expect("pt"))
            .expect("b64"),
        b"one"
    );
    assert_eq!(r[0]["reference"], "x");
    assert!(
        r[1]["error"]
            .as_str()
            .expect("error")
            .contains("authentication failed")
    );
    assert_eq!(r[1]["reference"], "");
    assert_eq!(
        STANDARD
            .decode(r[2]["plaintext"].as_str().expect("pt"))
            .expect("b64"),
        b"two"
    );
    // partial_failure_response_code overrides when something succeeded.
    let resp = fx
        .write(
            "decrypt/k",
            json!({"partial_failure_response_code": 207, "batch_input": [
                {"ciphertext": cts[0]}, {"ciphertext": "junk"}]}),
        )
        .await;
    assert_eq!(resp.status, Some(207));
    // Everything fine: plain 200.
    let resp = fx
        .write(
            "decrypt/k",
            json!({"batch_input": [{"ciphertext": cts[0]}]}),
        )
        .await;
    assert_eq!(resp.status, None);
    // Mixed contexts are refused outright; so is an empty batch.
    let msg = fx
        .bad(
            "encrypt/k",
            json!({"batch_input": [{"plaintext": "", "context": b64(b"c")}, {"plaintext": ""}]}),
        )
        .await;
    assert!(msg.contains("context should be set"), "{msg}");
    assert!(
        fx.bad("encrypt/k", json!({"batch_input": []}))
            .await
            .contains("missing batch input")
    );
    // A batch of 100.
    let items: Vec<Value> = (0..100)
        .map(|i| json!({"plaintext": b64(format!("m{i}").as_bytes())}))
        .collect();
    let d = fx.data("encrypt/k", json!({"batch_input": items})).await;
    assert_eq!(d["batch_results"].as_array().map(Vec::len), Some(100));
}

#[tokio::test]
async fn rotation_keeps_old_ciphertexts_and_min_decryption_refuses() {
    let fx = Fx::new().await;
    fx.create("k", json!({})).await;
    let v1 = fx.encrypt("k", b"first", json!({})).await;
    let info = fx.rotate("k").await;
    assert_eq!(info["latest_version"], 2);
    assert_eq!(info["keys"].as_object().map(Map::len), Some(2));
    let v2 = fx.encrypt("k", b"second", json!({})).await;
    assert!(v2.starts_with("vault:v2:"));
    assert_eq!(
        fx.decrypt("k", &v1, json!({})).await.expect("old"),
        b"first"
    );
    assert_eq!(
        fx.decrypt("k", &v2, json!({})).await.expect("new"),
        b"second"
    );
    // Encrypt with an explicit older version.
    let again_v1 = fx.encrypt("k", b"x", json!({"key_version": 1})).await;
    assert!(again_v1.starts_with("vault:v1:"));
    assert!(
        fx.bad("encrypt/k", json!({"plaintext": "", "key_version": 3}))
            .await
            .contains("higher than the latest")
    );
    // Rewrap moves v1 to v2 without revealing the plaintext.
    let d = fx.data("rewrap/k", json!({"ciphertext": v1})).await;
    let rewrapped = d["ciphertext"].as_str().expect("ct").to_string();
    assert!(rewrapped.starts_with("vault:v2:"));
    assert_eq!(d["key_version"], 2);
    assert!(d.get("plaintext").is_none());
    assert_eq!(
        fx.decrypt("k", &rewrapped, json!({}))
            .await
            .expect("rewrapped"),
        b"first"
    );
    // min_decryption_version=2 refuses v1.
    let info = fx
        .data("keys/k/config", json!({"min_decryption_version": 2}))
        .await;
    assert_eq!(info["min_decryption_version"], 2);
    let msg = fx.bad("decrypt/k", json!({"ciphertext": v1})).await;
    assert_eq!(
        msg,
        "ciphertext or signature version is disallowed by policy (too old)"
    );
    assert!(
        fx.bad("rewrap/k", json!({"ciphertext": v1}))
            .await
            .contains("too old")
    );
    assert_eq!(
        fx.decrypt("k", &v2, json!({})).await.expect("v2"),
        b"second"
    );
    // Lowering it again restores access.
    fx.data("keys/k/config", json!({"min_decryption_version": 1}))
        .await;
    assert_eq!(
        fx.decrypt("k", &v1, json!({})).await.expect("v1 again"),
        b"first"
    );
    // min_encryption_version refuses encryption with older versions.
    fx.data("keys/k/config", json!({"min_encryption_version": 2}))
        .await;
    assert!(
        fx.bad("encrypt/k", json!({"plaintext": "", "key_version": 1}))
            .await
            .contains("minimum encryption")
    );
}

#[tokio::test]
async fn a_rotation_policy_maps_onto_auto_rotate_period() {
    let fx = Fx::new().await;
    fx.create("k", json!({})).await;
    let info = fx
        .data(
            "keys/k/config",
            json!({"rotation": "database-encryption-key"}),
        )
        .await;
    assert_eq!(info["auto_rotate_period"], 90 * 86_400);
    let info = fx
        .data("keys/k/config", json!({"rotation": {"period": "7d"}}))
        .await;
    assert_eq!(info["auto_rotate_period"], 7 * 86_400);
    let msg = fx
        .bad(
            "keys/k/config",
            json!({"rotation": {"period": "7d", "strategy": "two-phase"}}),
        )
        .await;
    assert!(msg.contains("strategy: a transit key takes only"), "{msg}");
    assert!(
        fx.bad("keys/k/config", json!({"rotation": "weekly"}))
            .await
            .contains("preset: unknown preset")
    );
    assert!(
        fx.bad("keys/k/config", json!({"rotation": {"period": "10m"}}))
            .await
            .contains("hour"),
        "transit's own minimum holds"
    );
    let info = fx.data("keys/k/config", json!({"rotation": null})).await;
    assert_eq!(info["auto_rotate_period"], 0);
}

#[tokio::test]
async fn config_validation() {
    let fx = Fx::new().await;
    fx.create("k", json!({})).await;
    fx.rotate("k").await;
    fx.rotate("k").await;
    assert!(
        fx.bad("keys/k/config", json!({"min_decryption_version": 9}))
            .await
            .contains("latest key version is 3")
    );
    assert!(
        fx.bad("keys/k/config", json!({"min_decryption_version": -1}))
            .await
            .contains("negative")
    );
    let msg = fx
        .bad(
            "keys/k/config",
            json!({"min_decryption_version": 3, "min_encryption_version": 2}),
        )
        .await;
    assert!(msg.contains("must be greater than or equal"), "{msg}");
    assert!(
        fx.bad("keys/k/config", json!({"auto_rotate_period": 60}))
            .await
            .contains("hour")
    );
    assert!(
        fx.bad("keys/missing/config", json!({}))
            .await
            .contains("no existing key")
    );
    let info = fx
        .data(
            "keys/k/config",
            json!({"auto_rotate_period": "2h", "exportable": true, "min_decryption_version": 0}),
        )
        .await;
    assert_eq!(info["auto_rotate_period"], 7200);
    assert_eq!(info["exportable"], true);
    assert_eq!(info["min_decryption_version"], 1);
    // One-way switches stay on.
    let info = fx.data("keys/k/config", json!({"exportable": false})).await;
    assert_eq!(info["exportable"], true);
    // A failed config change leaves the key untouched.
    let info = fx.read("keys/k").await.expect("key");
    assert_eq!(info["min_encryption_version"], 0);
    assert!(
        fx.bad("keys/missing/rotate", json!({}))
            .await
            .contains("key not found")
    );
}

#[tokio::test]
async fn derived_and_convergent_keys() {
    let fx = Fx::new().await;
    fx.create("d", json!({"derived": true})).await;
    let ctx = json!({"context": b64(b"user-1")});
    let ct = fx.encrypt("d", b"data", ctx.clone()).await;
    assert_eq!(
        fx.decrypt("d", &ct, ctx.clone()).await.expect("decrypt"),
        b"data"
    );
    let err = fx
        .decrypt("d", &ct, json!({"context": b64(b"user-2")}))
        .await;
    assert!(matches!(err, Err(Error::InvalidRequest(_))), "{err:?}");
    assert!(
        fx.bad("encrypt/d", json!({"plaintext": b64(b"x")}))
            .await
            .contains("missing 'context'")
    );
    let info = fx.read("keys/d").await.expect("d");
    assert_eq!(info["kdf"], "hkdf_sha256");
    assert_eq!(info["convergent_encryption"], false);

    fx.create("c", json!({"derived": true, "convergent_encryption": true}))
        .await;
    let a = fx.encrypt("c", b"same", ctx.clone()).await;
    let b = fx.encrypt("c", b"same", ctx.clone()).await;
    assert_eq!(a, b, "convergent encryption is deterministic");
    assert_ne!(a, fx.encrypt("c", b"other", ctx.clone()).await);
    assert_ne!(
        a,
        fx.encrypt("c", b"same", json!({"context": b64(b"user-2")}))
            .await
    );
    assert_eq!(
        fx.decrypt("c", &a, ctx.clone()).await.expect("decrypt"),
        b"same"
    );
    // The same plaintext under different associated data must not reuse the GCM nonce
    // (the nonce is the first 12 bytes after `vault:v1:`).
    let nonce_of = |ct: &str| {
        let raw = STANDARD
            .decode(ct.rsplit(':').next().unwrap_or(""))
            .expect("base64");
        raw[..12].to_vec()
    };
    let with_ad = |ad: &[u8]| json!({"context": b64(b"user-1"), "associated_data": b64(ad)});
    let x = fx.encrypt("c", b"same", with_ad(b"ad-1")).await;
    let y = fx.encrypt("c", b"same", with_ad(b"ad-2")).await;
    assert_ne!(
        nonce_of(&x),
        nonce_of(&y),
        "nonce reused across associated data"
    );
    assert_eq!(
        x,
        fx.encrypt("c", b"same", with_ad(b"ad-1")).await,
        "still deterministic"
    );
    assert!(
        fx.bad(
            "encrypt/c",
            json!({"plaintext": "", "context": b64(b"x"), "nonce": b64(&[0; 12])})
        )
        .await
        .contains("nonce")
    );
}

#[tokio::test]
async fn datakeys() {
    let fx = Fx::new().await;
    for t in ["aes256-gcm96", "rsa-2048", "x25519-ml-kem-768"] {
        fx.create(t, json!({"type": t})).await;
        let d = fx.data(&format!("datakey/plaintext/{t}"), json!({})).await;
        let plain = STANDARD
            .decode(d["plaintext"].as_str().expect("plaintext"))
            .expect("b64");
        assert_eq!(plain.len(), 32, "{t}");
        let ct = d["ciphertext"].as_str().expect("ct");
        assert_eq!(
            fx.decrypt(t, ct, json!({})).await.expect("unwrap"),
            plain,
            "{t}"
        );
        let w = fx
            .data(&format!("datakey/wrapped/{t}"), json!({"bits": 512}))
            .await;
        assert!(w.get("plaintext").is_none());
        let unwrapped = fx
            .decrypt(t, w["ciphertext"].as_str().expect("ct"), json!({}))
            .await
            .expect("unwrap");
        assert_eq!(unwrapped.len(), 64);
    }
    let d = fx
        .data("datakey/plaintext/aes256-gcm96", json!({"bits": "128"}))
        .await;
    assert_eq!(
        STANDARD
            .decode(d["plaintext"].as_str().expect("pt"))
            .expect("b64")
            .len(),
        16
    );
    assert!(
        fx.bad("datakey/plaintext/aes256-gcm96", json!({"bits": 100}))
            .await
            .contains("invalid bit length")
    );
    assert!(
        fx.bad("datakey/other/aes256-gcm96", json!({}))
            .await
            .contains("'plaintext' or 'wrapped'")
    );
    assert!(
        fx.bad("datakey/wrapped/missing", json!({}))
            .await
            .contains("encryption key not found")
    );
}

#[tokio::test]
async fn hmac_and_verify() {
    let fx = Fx::new().await;
    for t in ["aes256-gcm96", "hmac", "ed25519"] {
        fx.create(t, json!({"type": t})).await;
        let input = b64(b"message");
        let d = fx.data(&format!("hmac/{t}"), json!({"input": input})).await;
        let mac = d["hmac"].as_str().expect("hmac").to_string();
        assert!(mac.starts_with("vault:v1:"));
        assert_eq!(
            STANDARD
                .decode(&mac["vault:v1:".len()..])
                .expect("b64")
                .len(),
            32
        );
        let ok = fx
            .data(&format!("verify/{t}"), json!({"input": input, "hmac": mac}))
            .await;
        assert_eq!(ok["valid"], true, "{t}");
        let no = fx
            .data(
                &format!("verify/{t}"),
                json!({"input": b64(b"other"), "hmac": mac}),
            )
            .await;
        assert_eq!(no["valid"], false, "{t}");
        // URL algorithm.
        let d = fx
            .data(&format!("hmac/{t}/sha2-512"), json!({"input": input}))
            .await;
        let mac512 = d["hmac"].as_str().expect("hmac").to_string();
        assert_eq!(
            STANDARD
                .decode(&mac512["vault:v1:".len()..])
                .expect("b64")
                .len(),
            64
        );
        let ok = fx
            .data(
                &format!("verify/{t}/sha2-512"),
                json!({"input": input, "hmac": mac512}),
            )
            .await;
        assert_eq!(ok["valid"], true);
        // Rotation keeps old HMACs verifiable; min_decryption_version refuses them.
        fx.rotate(t).await;
        let d = fx.data(&format!("hmac/{t}"), json!({"input": input})).await;
        assert!(d["hmac"].as_str().expect("hmac").starts_with("vault:v2:"));
        let ok = fx
            .data(&format!("verify/{t}"), json!({"input": input, "hmac": mac}))
            .await;
        assert_eq!(ok["valid"], true);
        fx.data(
            &format!("keys/{t}/config"),
            json!({"min_decryption_version": 2}),
        )
        .await;
        assert!(
            fx.bad(&format!("verify/{t}"), json!({"input": input, "hmac": mac}))
                .await
                .contains("too old")
        );
    }
    assert!(
        fx.bad("hmac/hmac/md5", json!({"input": ""}))
            .await
            .contains("unsupported algorithm")
    );
    assert!(
        fx.bad("hmac/missing", json!({"input": ""}))
            .await
            .contains("encryption key not found")
    );
    assert!(
        fx.bad("hmac/hmac", json!({}))
            .await
            .contains("missing input")
    );
    assert!(
        fx.bad("verify/hmac", json!({"input": ""}))
            .await
            .contains("neither")
    );
    assert!(
        fx.bad(
            "verify/hmac",
            json!({"input": "", "hmac": "x", "signature": "y"})
        )
        .await
        .contains("one of")
    );
    // Batch HMAC.
    let d = fx
        .data(
            "hmac/hmac",
            json!({"batch_input": [{"input": b64(b"a"), "reference": "r"}, {"input": "%%"}]}),
        )
        .await;
    assert!(
        d["batch_results"][0]["hmac"]
            .as_str()
            .expect("hmac")
            .starts_with("vault:v2:")
    );
    assert_eq!(d["batch_results"][0]["reference"], "r");
    assert!(d["batch_results"][1]["error"].is_string());
}

/// Signs `input` with `key` via the engine; returns the `signature` field.
async fn sign(fx: &Fx, key: &str, suffix: &str, input: &[u8], extra: Value) -> String {
    let mut data = obj(extra);
    data.insert("input".into(), json!(b64(input)));
    let d = fx
        .data(&format!("sign/{key}{suffix}"), Value::Object(data))
        .await;
    d["signature"].as_str().expect("signature").to_string()
}

async fn verify(fx: &Fx, key: &str, suffix: &str, input: &[u8], sig: &str, extra: Value) -> bool {
    let mut data = obj(extra);
    data.insert("input".into(), json!(b64(input)));
    data.insert("signature".into(), json!(sig));
    let d = fx
        .data(&format!("verify/{key}{suffix}"), Value::Object(data))
        .await;
    d["valid"].as_bool().expect("valid")
}

#[tokio::test]
async fn sign_verify_every_signing_type_and_rotation() {
    let fx = Fx::new().await;
    for t in [
        "ed25519",
        "ecdsa-p256",
        "ecdsa-p384",
        "rsa-2048",
        "ml-dsa-65",
    ] {
        let info = fx.create(t, json!({"type": t})).await;
        assert_eq!(info["supports_signing"], true, "{t}");
        let sig = sign(&fx, t, "", b"document", json!({})).await;
        assert!(sig.starts_with("vault:v1:"), "{t}");
        assert!(
            verify(&fx, t, "", b"document", &sig, json!({})).await,
            "{t}"
        );
        assert!(
            !verify(&fx, t, "", b"documenT", &sig, json!({})).await,
            "{t}"
        );
        // A corrupted signature is invalid, not an error.
        let raw = STANDARD.decode(&sig["vault:v1:".len()..]).expect("b64");
        let mut bad = raw.clone();
        bad[raw.len() / 2] ^= 0x40;
        assert!(
            !verify(
                &fx,
                t,
                "",
                b"document",
                &format!("vault:v1:{}", b64(&bad)),
                json!({})
            )
            .await,
            "{t}"
        );
        // After rotation old signatures still verify and new ones use v2.
        fx.rotate(t).await;
        assert!(
            verify(&fx, t, "", b"document", &sig, json!({})).await,
            "{t}"
        );
        let sig2 = sign(&fx, t, "", b"document", json!({})).await;
        assert!(sig2.starts_with("vault:v2:"), "{t}");
        assert!(
            verify(&fx, t, "", b"document", &sig2, json!({})).await,
            "{t}"
        );
        // Signing with v1 explicitly still works until min_encryption_version says otherwise.
        let sig_v1 = sign(&fx, t, "", b"document", json!({"key_version": 1})).await;
        assert!(sig_v1.starts_with("vault:v1:"));
        // Below min_decryption_version: refused with 400.
        fx.data(
            &format!("keys/{t}/config"),
            json!({"min_decryption_version": 2}),
        )
        .await;
        let msg = fx
            .bad(
                &format!("verify/{t}"),
                json!({"input": b64(b"document"), "signature": sig}),
            )
            .await;
        assert!(msg.contains("too old"), "{t}: {msg}");
        assert!(
            fx.bad(
                &format!("verify/{t}"),
                json!({"input": "", "signature": "vault:v7:AAAA"})
            )
            .await
            .contains("too new")
        );
        assert!(
            fx.bad(
                &format!("verify/{t}"),
                json!({"input": "", "signature": "AAAA"})
            )
            .await
            .contains("no prefix")
        );
    }
    assert!(
        fx.bad("sign/missing", json!({"input": ""}))
            .await
            .contains("signing key not found")
    );
    fx.create("aes", json!({})).await;
    assert!(
        fx.bad("sign/aes", json!({"input": ""}))
            .await
            .contains("does not support signing")
    );
}

#[tokio::test]
async fn signature_options() {
    let fx = Fx::new().await;
    fx.create("ec", json!({"type": "ecdsa-p256"})).await;
    fx.create("rsa", json!({"type": "rsa-2048"})).await;
    fx.create("ed", json!({"type": "ed25519", "derived": true}))
        .await;
    // Hash algorithms via the URL and the body.
    for h in [
        "sha2-224", "sha2-256", "sha2-384", "sha2-512", "sha3-256", "sha3-512",
    ] {
        let sig = sign(&fx, "ec", &format!("/{h}"), b"m", json!({})).await;
        assert!(
            verify(&fx, "ec", "", b"m", &sig, json!({"hash_algorithm": h})).await,
            "{h}"
        );
        assert!(
            !verify(
                &fx,
                "ec",
                "",
                b"m",
                &sig,
                json!({"hash_algorithm": "sha2-256"})
            )
            .await
                || h == "sha2-256"
        );
    }
    // JWS marshaling: fixed-width, URL-safe base64 without padding.
    let sig = sign(&fx, "ec", "", b"m", json!({"marshaling_algorithm": "jws"})).await;
    let payload = &sig["vault:v1:".len()..];
    assert!(!payload.contains('=') && !payload.contains('+') && !payload.contains('/'));
    assert_eq!(URL_SAFE_NO_PAD.decode(payload).expect("b64url").len(), 64);
    assert!(
        verify(
            &fx,
            "ec",
            "",
            b"m",
            &sig,
            json!({"marshaling_algorithm": "jws"})
        )
        .await
    );
    // Prehashed input.
    let digest = coffre_crypto::HashAlgorithm::Sha2_256.digest(b"m");
    let sig = sign(&fx, "ec", "", &digest, json!({"prehashed": true})).await;
    assert!(verify(&fx, "ec", "", b"m", &sig, json!({})).await);
    // RSA: PSS (default) and PKCS#1 v1.5, several hashes, prehashed.
    for alg in ["pss", "pkcs1v15"] {
        for h in ["sha2-256", "sha2-384", "sha2-512"] {
            let o = json!({"signature_algorithm": alg, "hash_algorithm": h});
            let sig = sign(&fx, "rsa", "", b"m", o.clone()).await;
            assert!(
                verify(&fx, "rsa", "", b"m", &sig, o.clone()).await,
                "{alg} {h}"
            );
        }
    }
    let digest = coffre_crypto::HashAlgorithm::Sha2_384.digest(b"m");
    let sig = sign(
        &fx,
        "rsa",
        "/sha2-384",
        &digest,
        json!({"prehashed": true, "signature_algorithm": "pkcs1v15"}),
    )
    .await;
    assert!(
        verify(
            &fx,
            "rsa",
            "/sha2-384",
            b"m",
            &sig,
            json!({"signature_algorithm": "pkcs1v15"})
        )
        .await
    );
    let sig = sign(&fx, "rsa", "", b"m", json!({"salt_length": 222})).await;
    assert!(
        verify(&fx, "rsa", "", b"m", &sig, json!({})).await,
        "max salt verifies under auto"
    );
    assert!(!verify(&fx, "rsa", "", b"m", &sig, json!({"salt_length": "hash"})).await);
    // Bad options are 400s.
    assert!(
        fx.bad("sign/rsa", json!({"input": "", "hash_algorithm": "md5"}))
            .await
            .contains("invalid hash algorithm")
    );
    assert!(
        fx.bad("sign/rsa", json!({"input": "", "hash_algorithm": "sha1"}))
            .await
            .contains("not supported")
    );
    assert!(
        fx.bad("sign/rsa", json!({"input": "", "hash_algorithm": "none"}))
            .await
            .contains("requires both")
    );
    assert!(fx.bad("sign/rsa", json!({"input": "", "hash_algorithm": "none", "prehashed": true, "signature_algorithm": "pkcs1v15"})).await.contains("not supported"));
    assert!(
        fx.bad(
            "sign/rsa",
            json!({"input": "", "signature_algorithm": "raw"})
        )
        .await
        .contains("unsupported rsa signature algorithm")
    );
    assert!(
        fx.bad("sign/rsa", json!({"input": "", "salt_length": 7}))
            .await
            .contains("salt length")
    );
    assert!(
        fx.bad(
            "sign/rsa",
            json!({"input": b64(b"short"), "prehashed": true})
        )
        .await
        .contains("prehashed input")
    );
    assert!(
        fx.bad(
            "sign/ec",
            json!({"input": "", "marshaling_algorithm": "der"})
        )
        .await
        .contains("marshaling")
    );
    assert!(
        fx.bad("sign/ec", json!({"input": "%%"}))
            .await
            .contains("base64")
    );
    // Derived Ed25519: per-context keys and their public keys.
    assert!(
        fx.bad("sign/ed", json!({"input": ""}))
            .await
            .contains("context")
    );
    let d = fx
        .data(
            "sign/ed",
            json!({"input": b64(b"m"), "context": b64(b"tenant-a")}),
        )
        .await;
    let sig = d["signature"].as_str().expect("sig").to_string();
    let pk = d["public_key"].as_str().expect("public key").to_string();
    assert!(
        verify(
            &fx,
            "ed",
            "",
            b"m",
            &sig,
            json!({"context": b64(b"tenant-a")})
        )
        .await
    );
    assert!(
        !verify(
            &fx,
            "ed",
            "",
            b"m",
            &sig,
            json!({"context": b64(b"tenant-b")})
        )
        .await
    );
    let info = fx
        .call(
            Operation::Read,
            "keys/ed",
            json!({"context": b64(b"tenant-a")}),
        )
        .await
        .expect("read")
        .expect("key");
    assert_eq!(
        info.data.expect("data")["keys"]["1"]["public_key"],
        json!(pk)
    );
    let info = fx.read("keys/ed").await.expect("key");
    assert_eq!(info["keys"]["1"]["public_key"], "");
    // Batch sign/verify.
    let d = fx
        .data("sign/ec", json!({"batch_input": [{"input": b64(b"a"), "reference": "1"}, {"input": b64(b"b")}, {"input": "%"}]}))
        .await;
    let r = d["batch_results"].as_array().expect("results").clone();
    assert!(r[2]["error"].is_string());
    let d = fx
        .data(
            "verify/ec",
            json!({"batch_input": [
                {"input": b64(b"a"), "signature": r[0]["signature"], "reference": "1"},
                {"input": b64(b"a"), "signature": r[1]["signature"]},
            ]}),
        )
        .await;
    assert_eq!(d["batch_results"][0]["valid"], true);
    assert_eq!(d["batch_results"][0]["reference"], "1");
    assert_eq!(d["batch_results"][1]["valid"], false);
}

#[tokio::test]
async fn export_backup_restore() {
    let fx = Fx::new().await;
    fx.create("locked", json!({})).await;
    assert!(fx.read("export/encryption-key/missing").await.is_none());
    let msg = match fx
        .call(Operation::Read, "export/encryption-key/locked", json!({}))
        .await
    {
        Err(e) => e.to_string(),
        Ok(_) => String::new(),
    };
    assert_eq!(msg, "private key material is not exportable");
    fx.create("ec", json!({"type": "ecdsa-p256"})).await;
    let pubs = fx.read("export/public-key/ec").await.expect("public");
    assert!(
        pubs["keys"]["1"]
            .as_str()
            .expect("pem")
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );

    fx.create(
        "x",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await;
    let ct = fx.encrypt("x", b"kept", json!({})).await;
    fx.rotate("x").await;
    let all = fx.read("export/encryption-key/x").await.expect("export");
    assert_eq!(all["keys"].as_object().map(Map::len), Some(2));
    assert_eq!(all["type"], "aes256-gcm96");
    let latest = fx
        .read("export/encryption-key/x/latest")
        .await
        .expect("export");
    assert_eq!(
        latest["keys"].as_object().map(|m| m.contains_key("2")),
        Some(true)
    );
    assert_eq!(
        STANDARD
            .decode(latest["keys"]["2"].as_str().expect("k"))
            .expect("b64")
            .len(),
        32
    );
    let v1 = fx.read("export/hmac-key/x/v1").await.expect("export");
    assert!(v1["keys"]["1"].is_string());
    assert!(
        fx.call(Operation::Read, "export/encryption-key/x/9", json!({}))
            .await
            .is_err()
    );
    assert!(
        fx.call(Operation::Read, "export/signing-key/x", json!({}))
            .await
            .is_err()
    );
    assert!(
        fx.call(Operation::Read, "export/bogus/x", json!({}))
            .await
            .is_err()
    );

    // Backup needs both flags.
    assert!(
        fx.call(Operation::Read, "backup/locked", json!({}))
            .await
            .is_err()
    );
    let backup = fx.read("backup/x").await.expect("backup")["backup"]
        .as_str()
        .expect("b64")
        .to_string();
    assert!(fx.read("keys/x").await.expect("key")["backup_info"]["version"] == 2);
    // Restore under a new name: old ciphertexts decrypt there.
    let r = fx.write("restore/y", json!({"backup": backup})).await;
    assert!(r.is_empty());
    assert_eq!(
        fx.decrypt("y", &ct, json!({})).await.expect("restored"),
        b"kept"
    );
    assert_eq!(fx.read("keys/y").await.expect("y")["latest_version"], 2);
    // Existing keys are only replaced with force.
    assert!(
        fx.bad("restore/y", json!({"backup": backup}))
            .await
            .contains("already exists")
    );
    fx.write("restore/y", json!({"backup": backup, "force": true}))
        .await;
    assert!(
        fx.bad("restore", json!({}))
            .await
            .contains("'backup' must be supplied")
    );
    assert!(
        fx.bad("restore/z", json!({"backup": "bm90IGpzb24="}))
            .await
            .contains("failed to parse backup")
    );
    // A backup edited to rotate every second is refused like the same config over the API.
    let mut edited: Value =
        serde_json::from_slice(&STANDARD.decode(&backup).expect("base64")).expect("json");
    edited["config"]["auto_rotate_period"] = json!(1);
    let edited = STANDARD.encode(edited.to_string());
    assert!(
        fx.bad("restore/w", json!({"backup": edited}))
            .await
            .contains("auto rotate period")
    );

    // Signing keys export in their formats.
    fx.create("eds", json!({"type": "ed25519", "exportable": true}))
        .await;
    let sk = fx.read("export/signing-key/eds").await.expect("export");
    assert_eq!(
        STANDARD
            .decode(sk["keys"]["1"].as_str().expect("k"))
            .expect("b64")
            .len(),
        64
    );
    fx.create(
        "hyb",
        json!({"type": "x25519-ml-kem-768", "exportable": true}),
    )
    .await;
    let pk = fx.read("export/public-key/hyb").await.expect("export");
    assert_eq!(
        STANDARD
            .decode(pk["keys"]["1"].as_str().expect("k"))
            .expect("b64")
            .len(),
        1216
    );
    let sealed = coffre_crypto::transit::kem::seal_to_public_key(
        &STANDARD
            .decode(pk["keys"]["1"].as_str().expect("k"))
            .expect("b64"),
        b"",
        b"from outside",
    )
    .expect("seal");
    let ct = format!("vault:v1:{}", b64(&sealed));
    assert_eq!(
        fx.decrypt("hyb", &ct, json!({})).await.expect("decrypt"),
        b"from outside"
    );
}

#[tokio::test]
async fn trim_and_delete_protection() {
    let fx = Fx::new().await;
    fx.create("k", json!({})).await;
    let v1 = fx.encrypt("k", b"one", json!({})).await;
    fx.rotate("k").await;
    fx.rotate("k").await;
    assert!(
        fx.bad("keys/k/trim", json!({}))
            .await
            .contains("missing min_available_version")
    );
    assert!(
        fx.bad("keys/k/trim", json!({"min_available_version": 2}))
            .await
            .contains("minimum encryption version is not set")
    );
    fx.data(
        "keys/k/config",
        json!({"min_decryption_version": 2, "min_encryption_version": 3}),
    )
    .await;
    assert!(
        fx.bad("keys/k/trim", json!({"min_available_version": 3}))
            .await
            .contains("greater than minimum decryption")
    );
    assert!(
        fx.bad("keys/k/trim", json!({"min_available_version": 0}))
            .await
            .contains("positive")
    );
    let info = fx
        .data("keys/k/trim", json!({"min_available_version": 2}))
        .await;
    assert_eq!(info["min_available_version"], 2);
    assert_eq!(
        info["keys"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["2".to_string(), "3".to_string()])
    );
    assert!(
        fx.bad("keys/k/trim", json!({"min_available_version": 1}))
            .await
            .contains("decremented")
    );
    assert!(
        fx.bad("keys/k/config", json!({"min_decryption_version": 1}))
            .await
            .contains("min available")
    );
    assert!(
        fx.bad("decrypt/k", json!({"ciphertext": v1}))
            .await
            .contains("too old")
    );

    // Deletion needs deletion_allowed.
    let err = fx
        .call(Operation::Delete, "keys/k", json!({}))
        .await
        .expect_err("protected");
    assert_eq!(
        err.to_string(),
        "error deleting policy k: deletion is not allowed for this key"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    fx.data("keys/k/config", json!({"deletion_allowed": true}))
        .await;
    let r = fx
        .call(Operation::Delete, "keys/k", json!({}))
        .await
        .expect("delete")
        .expect("resp");
    assert!(r.is_empty());
    assert!(fx.read("keys/k").await.is_none());
    assert!(
        fx.call(Operation::Delete, "keys/k", json!({}))
            .await
            .is_err()
    );
    assert!(
        fx.bad("decrypt/k", json!({"ciphertext": v1}))
            .await
            .contains("encryption key not found")
    );
}

#[tokio::test]
async fn hot_path_is_served_from_the_cache() {
    let fx = Fx::new().await;
    fx.create("k", json!({})).await;
    fx.encrypt("k", b"warm", json!({})).await;
    let before = fx.backend.gets.load(Ordering::SeqCst);
    for _ in 0..50 {
        let ct = fx.encrypt("k", b"hot", json!({})).await;
        fx.decrypt("k", &ct, json!({})).await.expect("decrypt");
    }
    assert_eq!(
        fx.backend.gets.load(Ordering::SeqCst),
        before,
        "no storage reads on the hot path"
    );
    // Another engine instance of the same mount shares the cache and sees rotations at once.
    let other = Transit::new(
        &fx.mount,
        &crate::engines::EngineContext {
            background: &fx.audit.background(),
            states: &fx.states,
            secrets: &Default::default(),
            rotation: &crate::rotation::Services::new(
                &crate::jobs::JobStore::new(fx.view.sub("jobs/")),
                &fx.view,
                &fx.audit.background(),
            ),
        },
    );
    fx.rotate("k").await;
    let resp = other
        .handle(
            fx.req(
                Operation::Update,
                "encrypt/k",
                json!({"plaintext": b64(b"x")}),
            ),
            &crate::system::Ctx::detached(),
        )
        .await
        .expect("encrypt")
        .expect("resp");
    assert_eq!(resp.data.expect("data")["key_version"], 2);
    // A cold state (as after a restart) reads the key back from storage.
    let cold = super::store::Shared::default();
    let key = cold.load(&fx.view, "k").await.expect("load").expect("key");
    assert_eq!(key.latest(), 2);
}

impl Fx {
    /// What the rotation job runs: rotates `name` if it is due at `now`.
    async fn rotate_if_due(&self, name: &str, now: i64) -> Result<crate::jobs::Next> {
        let audit = self.audit.background();
        let bg = super::rotation::Background {
            shared: &self.engine.shared,
            view: &self.view,
            mount: &self.mount,
            audit: &audit,
        };
        super::rotation::rotate_if_due(&bg, name, now).await
    }

    /// The wake time of the rotation job of key `name`, if it has one.
    async fn job_wake(&self, name: &str) -> Option<i64> {
        for id in self.jobs.due(i64::MAX / 2, 100).await.expect("due") {
            let job = self.jobs.get(&id).await.expect("get").expect("job");
            if job.kind == crate::jobs::TRANSIT_ROTATION && job.target.key == name {
                assert_eq!(job.target.mount, self.mount.uuid);
                return Some(job.wake_at);
            }
        }
        None
    }
}

#[tokio::test]
async fn auto_rotation_runs_as_a_job() {
    use crate::jobs::Next;
    let fx = Fx::new().await;
    let now = SystemClock.now_unix_secs();
    fx.create("auto", json!({"auto_rotate_period": "1h"})).await;
    fx.create("manual", json!({})).await;
    let ct = fx.encrypt("auto", b"before", json!({})).await;
    // Creating the key scheduled its job at its due time; a key without a period has none.
    let wake = fx.job_wake("auto").await.expect("job scheduled");
    assert!((now + 3600..=now + 3602).contains(&wake), "{wake}");
    assert_eq!(fx.job_wake("manual").await, None);
    // Early: nothing happens, and the job is told to come back at the due time.
    let next = fx.rotate_if_due("auto", now).await.expect("run");
    assert_eq!(next, Next::At { wake, due: wake });
    assert_eq!(fx.read("keys/auto").await.expect("k")["latest_version"], 1);
    // Due: one new version, and the next due time is a period after it.
    let next = fx.rotate_if_due("auto", now + 3601).await.expect("run");
    assert_eq!(fx.read("keys/auto").await.expect("k")["latest_version"], 2);
    let Next::At { wake: again, .. } = next else {
        panic!("job removed")
    };
    assert!(again >= now + 3600, "{again}");
    // (A run again for the same due time finding nothing due needs the versions' clock to
    // move with `now`: tests/rotation/transit.rs checks it on a manual clock.)
    // The automatic rotation is in the audit log, as a background change and an event.
    let log = std::fs::read_to_string(&fx.audit_file).expect("audit log");
    let entries: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let change: Vec<&Value> = entries
        .iter()
        .filter(|e| e["request"]["background"] == "rotation")
        .collect();
    assert_eq!(change.len(), 2, "request and response entries: {log}");
    assert_eq!(change[0]["type"], "request");
    assert_eq!(change[0]["request"]["path"], "transit/keys/auto/rotate");
    assert_eq!(change[0]["request"]["mount_type"], "transit");
    assert_eq!(change[1]["type"], "response");
    assert!(change[1].get("error").is_none());
    assert!(
        entries
            .iter()
            .any(|e| e["request"]["background"] == "rotation.rotated"
                && e["request"]["path"] == "transit/keys/auto"),
        "{log}"
    );
    assert_eq!(
        fx.decrypt("auto", &ct, json!({})).await.expect("old"),
        b"before"
    );
    // Turning it on later through config schedules a job; turning it off ends it.
    fx.data("keys/manual/config", json!({"auto_rotate_period": 7200}))
        .await;
    let wake = fx.job_wake("manual").await.expect("job scheduled");
    assert!((now + 7200..=now + 7202).contains(&wake), "{wake}");
    fx.rotate_if_due("manual", now + 7300).await.expect("run");
    assert_eq!(
        fx.read("keys/manual").await.expect("k")["latest_version"],
        2
    );
    fx.data("keys/manual/config", json!({"auto_rotate_period": 0}))
        .await;
    let next = fx
        .rotate_if_due("manual", now + 100_000)
        .await
        .expect("run");
    assert_eq!(next, Next::Remove);
    assert_eq!(
        fx.read("keys/manual").await.expect("k")["latest_version"],
        2
    );
    // A deleted key's job goes away too.
    let next = fx.rotate_if_due("gone", now + 100_000).await.expect("run");
    assert_eq!(next, Next::Remove);
    // The mount state is released with the last engine instance.
    let weak = Arc::downgrade(&fx.engine.shared);
    drop(fx);
    assert!(
        weak.upgrade().is_none(),
        "mount state is released with the engine"
    );
}

/// Keys written before rotation ran on the job runner get their jobs once per mount.
#[tokio::test]
async fn keys_from_before_the_job_runner_are_adopted_once() {
    let fx = Fx::new().await;
    fx.create("auto", json!({"auto_rotate_period": "1h"})).await;
    fx.create("manual", json!({})).await;
    // A job store that has never seen these keys, as after an upgrade.
    let fresh = crate::jobs::JobStore::new(fx.view.sub("jobs-fresh/"));
    super::rotation::adopt_mount(&fresh, &fx.view, &fx.mount.uuid)
        .await
        .expect("adopt");
    let ids = fresh.due(i64::MAX / 2, 10).await.expect("due");
    assert_eq!(ids.len(), 1, "one job, for the key with a period");
    let job = fresh.get(&ids[0]).await.expect("get").expect("job");
    assert_eq!(job.kind, crate::jobs::TRANSIT_ROTATION);
    assert_eq!(job.target.key, "auto");
    assert_eq!(Some(job.wake_at), fx.job_wake("auto").await);
    // Once only: a second unseal reads the marker and schedules nothing.
    fresh.remove(&ids[0]).await.expect("remove");
    super::rotation::adopt_mount(&fresh, &fx.view, &fx.mount.uuid)
        .await
        .expect("adopt");
    assert!(fresh.due(i64::MAX / 2, 10).await.expect("due").is_empty());
}

#[tokio::test]
async fn rollback_restores_an_earlier_versions_material_as_a_new_version() {
    let fx = Fx::new().await;
    fx.create("k", json!({})).await;
    let v1 = fx.encrypt("k", b"one", json!({})).await;
    fx.rotate("k").await;
    let v2 = fx.encrypt("k", b"two", json!({})).await;
    let d = fx.data("keys/k/rollback", json!({})).await;
    assert_eq!(d["restored_version"], 1);
    assert_eq!(d["version"], 3);
    assert_eq!(d["latest_version"], 3);
    // Every ciphertext still decrypts; new ones carry version 3.
    let v3 = fx.encrypt("k", b"three", json!({})).await;
    assert!(v3.starts_with("vault:v3:"), "{v3}");
    for (ct, pt) in [(&v1, &b"one"[..]), (&v2, b"two"), (&v3, b"three")] {
        assert_eq!(fx.decrypt("k", ct, json!({})).await.expect("decrypt"), pt);
    }
    // Version 3 is version 1's key: a v1 ciphertext relabelled v3 decrypts.
    let relabelled = v1.replacen("vault:v1:", "vault:v3:", 1);
    assert_eq!(
        fx.decrypt("k", &relabelled, json!({}))
            .await
            .expect("same key"),
        b"one"
    );
    // What is not safe is refused, with the field named, and changes nothing.
    fx.data("keys/k/config", json!({"min_decryption_version": 2}))
        .await;
    for (body, why) in [
        (json!({"version": 1}), "min_decryption_version"),
        (json!({"version": 3}), "earlier version"),
        (json!({"version": 9}), "earlier version"),
        (json!({"version": 0}), "earlier version"),
        (json!({"version": "x"}), "version"),
    ] {
        let err = fx
            .call(Operation::Update, "keys/k/rollback", body.clone())
            .await
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{body}");
        assert!(err.to_string().contains(why), "{body}: {err}");
    }
    assert_eq!(fx.read("keys/k").await.expect("k")["latest_version"], 3);
    fx.create("single", json!({})).await;
    let err = fx
        .call(Operation::Update, "keys/single/rollback", json!({}))
        .await
        .expect_err("one version");
    assert!(err.to_string().starts_with("version:"), "{err}");
    // The rollback is announced in the audit log.
    let log = std::fs::read_to_string(&fx.audit_file).expect("audit log");
    assert!(log.contains("rotation.rolled_back"), "{log}");
}

#[tokio::test]
async fn routing_and_operations() {
    let fx = Fx::new().await;
    for p in [
        "nope",
        "keys/a/b/c",
        "encrypt",
        "encrypt/-bad",
        "sign/a/b/c",
        "export/x",
        "random/a/b/c",
    ] {
        let err = fx.call(Operation::Update, p, json!({})).await.expect_err(p);
        assert_eq!(err.kind(), ErrorKind::NotFound, "{p}");
    }
    let err = fx
        .call(Operation::Read, "encrypt/k", json!({}))
        .await
        .expect_err("read");
    assert_eq!(err.kind(), ErrorKind::UnsupportedOperation);
    let err = fx
        .call(Operation::Update, "export/encryption-key/k", json!({}))
        .await
        .expect_err("write");
    assert_eq!(err.kind(), ErrorKind::UnsupportedOperation);
    let err = fx
        .call(Operation::Read, "keys", json!({}))
        .await
        .expect_err("read list");
    assert_eq!(err.kind(), ErrorKind::UnsupportedOperation);
    // random and hash through the engine.
    let d = fx.data("random/16", json!({"format": "hex"})).await;
    assert_eq!(d["random_bytes"].as_str().map(str::len), Some(32));
    let d = fx.data("random", json!({"bytes": 8})).await;
    assert_eq!(
        STANDARD
            .decode(d["random_bytes"].as_str().expect("b64"))
            .expect("b64")
            .len(),
        8
    );
    let d = fx
        .data(
            "hash/sha2-512",
            json!({"input": b64(b"abc"), "format": "base64"}),
        )
        .await;
    assert_eq!(
        STANDARD
            .decode(d["sum"].as_str().expect("sum"))
            .expect("b64")
            .len(),
        64
    );
    let d = fx.data("hash", json!({"input": b64(b"abc")})).await;
    assert_eq!(
        d["sum"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test]
async fn stored_keys_are_not_in_the_clear() {
    let fx = Fx::new().await;
    fx.create("k", json!({"exportable": true})).await;
    let exported = fx.read("export/encryption-key/k").await.expect("export");
    let raw_key = STANDARD
        .decode(exported["keys"]["1"].as_str().expect("k"))
        .expect("b64");
    let b64_key = exported["keys"]["1"].as_str().expect("k").to_string();
    for name in fx.backend.inner.scan("").await.expect("scan") {
        let blob = fx
            .backend
            .inner
            .get(&name)
            .await
            .expect("get")
            .expect("blob");
        assert!(
            !blob.windows(raw_key.len()).any(|w| w == raw_key.as_slice()),
            "{name}"
        );
        assert!(
            !blob.windows(b64_key.len()).any(|w| w == b64_key.as_bytes()),
            "{name}"
        );
    }
}

/// A background rotation that cannot be audited does not happen (fail-closed, like requests).
#[tokio::test]
async fn auto_rotation_is_refused_when_it_cannot_be_audited() {
    let fx = Fx::new().await;
    fx.create("auto", json!({"auto_rotate_period": "1h"})).await;
    fx.audit.close().await;
    let due = SystemClock.now_unix_secs() + 3601;
    let result = fx.rotate_if_due("auto", due).await;
    assert!(result.is_err(), "rotation ran unaudited");
    assert_eq!(fx.read("keys/auto").await.expect("k")["latest_version"], 1);
}
