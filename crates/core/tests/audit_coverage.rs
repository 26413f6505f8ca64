//! Every request that reaches an unsealed core gets an audit entry or is refused, and no
//! response leaves without its response entry: refusals before dispatch, a seal racing
//! requests in flight, and a seal under load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffre_core::{AuditDeviceConfig, AuditSink, Core, CoreConfig, Operation, Request};
use coffre_storage::InMemoryBackend;
use coffre_storage::testing::FaultyBackend;
use serde_json::{Map, Value, json};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn device(path: &Path) -> AuditDeviceConfig {
    AuditDeviceConfig::new("file", AuditSink::File(path.to_path_buf()))
}

struct Fx {
    core: Arc<Core>,
    faulty: Arc<FaultyBackend>,
    root: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fx {
    async fn new() -> Fx {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("audit.log");
        let faulty = Arc::new(FaultyBackend::new(Arc::new(InMemoryBackend::new())));
        let config = CoreConfig {
            audit_devices: vec![device(&log)],
            ..CoreConfig::default()
        };
        let core = Arc::new(Core::new(faulty.clone(), config));
        let (_share, root) = core.dev_init(None).await.expect("init");
        let fx = Fx {
            core,
            faulty,
            root,
            log,
            _dir: dir,
        };
        fx.ok(Operation::Update, "sys/mounts/kv1", json!({"type": "kv"}))
            .await;
        fx.ok(
            Operation::Update,
            "sys/mounts/kv2",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
        fx
    }

    fn req(&self, op: Operation, path: &str, data: Value) -> Request {
        Request::new(op, path)
            .with_token(&self.root)
            .with_data(obj(data))
    }

    async fn ok(&self, op: Operation, path: &str, data: Value) {
        self.core
            .handle(self.req(op, path, data))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// The audit entries by request id, in order.
    fn entries(&self) -> HashMap<String, Vec<Value>> {
        let text = std::fs::read_to_string(&self.log).expect("audit log");
        let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
        for line in text.lines() {
            let entry: Value = serde_json::from_str(line).expect("json line");
            if let Some(id) = entry["request"]["id"].as_str() {
                by_id.entry(id.to_string()).or_default().push(entry);
            }
        }
        by_id
    }
}

/// A write whose existence check fails (storage error) never reaches dispatch: it must still
/// leave a request entry that records the error.
#[tokio::test]
async fn a_request_failing_in_its_existence_check_is_audited() {
    let fx = Fx::new().await;
    fx.ok(
        Operation::Update,
        "kv2/data/known",
        json!({"data": {"a": "b"}}),
    )
    .await;
    fx.faulty.fail_reads("logical/", 1);
    let req = fx.req(
        Operation::Update,
        "kv2/data/new",
        json!({"data": {"a": "b"}}),
    );
    let id = req.id.clone();
    assert!(
        fx.core.handle(req).await.is_err(),
        "the read fault fails the request"
    );
    let entries = fx.entries();
    let mine = entries.get(&id).expect("the refused request has an entry");
    assert_eq!(mine[0]["type"], "request");
    assert_eq!(mine[0]["request"]["path"], "kv2/data/new");
    assert!(mine[0]["error"].is_string(), "{:?}", mine[0]);
}

/// A read in flight while the server seals: its response would leave unrecorded (the audit
/// devices are closed), so it must not be sent.
#[tokio::test]
async fn a_response_that_cannot_be_audited_is_not_sent() {
    let fx = Fx::new().await;
    fx.ok(
        Operation::Update,
        "kv1/secret",
        json!({"password": "canary-in-flight"}),
    )
    .await;
    let hold = fx.faulty.hold_next_get("logical/");
    let req = fx.req(Operation::Read, "kv1/secret", json!({}));
    let id = req.id.clone();
    let core = fx.core.clone();
    let in_flight = tokio::spawn(async move { core.handle(req).await });
    hold.reached().await;
    fx.core.seal(Some(&fx.root)).await.expect("seal");
    hold.release();
    let result = in_flight.await.expect("join");
    match result {
        Ok(Some(resp)) => panic!(
            "a response left without its audit entry (data keys: {:?})",
            resp.data.map(|d| d.len())
        ),
        Ok(None) => panic!("unexpected 404"),
        Err(_) => {}
    }
    let entries = fx.entries();
    let mine = entries.get(&id).expect("request entry");
    assert!(
        mine.iter().all(|e| e["type"] != "response"),
        "no response entry can have been written after the seal"
    );
}

/// Requests race a seal: every request that succeeded has both of its entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_every_answered_request_was_audited_across_a_seal() {
    let fx = Fx::new().await;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let core = fx.core.clone();
            let root = fx.root.clone();
            tokio::spawn(async move {
                let mut answered = Vec::new();
                for i in 0..2_000 {
                    let op = if i % 2 == 0 {
                        Operation::Update
                    } else {
                        Operation::Read
                    };
                    let req = Request::new(op, format!("kv1/w{w}/k{}", i % 10))
                        .with_token(&root)
                        .with_data(obj(json!({"v": "x"})));
                    let id = req.id.clone();
                    match core.handle(req).await {
                        Ok(_) => answered.push(id),
                        Err(_) if core.is_sealed() => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                answered
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    fx.core.seal(Some(&fx.root)).await.expect("seal");
    let mut answered = Vec::new();
    for w in workers {
        answered.extend(w.await.expect("worker"));
    }
    assert!(!answered.is_empty(), "no request ran before the seal");
    let entries = fx.entries();
    for id in &answered {
        let kinds: Vec<&str> = entries
            .get(id)
            .map(|e| e.iter().filter_map(|x| x["type"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            kinds,
            ["request", "response"],
            "request {id} answered without its entries"
        );
    }
}

/// Both entries of a request record the namespace it was resolved to (header or path-prefix
/// form); a request naming a missing namespace is recorded, with no namespace, and refused.
#[tokio::test]
async fn entries_record_the_namespace() {
    let fx = Fx::new().await;
    fx.ok(Operation::Update, "sys/namespaces/team-a", json!({}))
        .await;
    let via_header = fx
        .req(Operation::Read, "sys/mounts", json!({}))
        .in_namespace("team-a");
    let header_id = via_header.id.clone();
    fx.core.handle(via_header).await.expect("header form");
    let via_prefix = fx.req(Operation::Read, "team-a/sys/mounts", json!({}));
    let prefix_id = via_prefix.id.clone();
    fx.core.handle(via_prefix).await.expect("prefix form");
    let missing = fx
        .req(Operation::Read, "sys/mounts", json!({}))
        .in_namespace("nosuch");
    let missing_id = missing.id.clone();
    assert!(fx.core.handle(missing).await.is_err());

    let entries = fx.entries();
    for id in [&header_id, &prefix_id] {
        let both = &entries[id];
        assert_eq!(both.len(), 2, "request and response entries");
        for e in both {
            assert_eq!(e["request"]["namespace"]["path"], "team-a/", "{e}");
            assert_eq!(
                e["request"]["namespace"]["id"].as_str().map(str::len),
                Some(6)
            );
            assert_eq!(
                e["request"]["path"], "sys/mounts",
                "the path inside the namespace"
            );
        }
    }
    let refused = &entries[&missing_id];
    assert_eq!(refused.len(), 1);
    assert!(refused[0]["request"].get("namespace").is_none());
    assert!(
        refused[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not found"))
    );
}
