//! Rotation on the job runner, on a manual clock: KV v2 secrets ([`kv`]: notices, rotations,
//! failures with backoff and overdue marking, crashes in the middle, two-phase rotation with a
//! JWT consumer, rollback, dry runs, the rotate-without-read permission) and transit keys
//! ([`transit`]).

#[path = "../common/mod.rs"]
mod common;
mod kv;
mod transit;

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use coffre_core::{Core, ErrorKind, ManualClock, Operation, Request, Response};
use coffre_storage::testing::FaultyBackend;
use coffre_storage::{Backend, InMemoryBackend};
use common::{audited_config as config, obj, token_with};
use serde_json::{Value, json};

const DAY: i64 = 86_400;

struct Fx {
    core: Core,
    backend: Arc<dyn Backend>,
    clock: Arc<ManualClock>,
    root: String,
    share: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fx {
    async fn on(backend: Arc<dyn Backend>) -> Fx {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("audit.log");
        let clock = ManualClock::at(1_800_000_000);
        let core = Core::new(backend.clone(), config(&clock, &log));
        let (share, root) = core.dev_init(None).await.expect("init");
        let fx = Fx {
            core,
            backend,
            clock,
            root,
            share: hex::encode(share.expose()),
            log,
            _dir: dir,
        };
        fx.ok(
            Operation::Update,
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
        fx
    }

    async fn new() -> Fx {
        Fx::on(Arc::new(InMemoryBackend::new())).await
    }

    /// A new core on what reached storage, as after `kill -9` and a restart.
    async fn restart(&mut self, backend: Arc<dyn Backend>) {
        self.core = Core::new(backend.clone(), config(&self.clock, &self.log));
        self.backend = backend;
        self.core.unseal(&self.share).await.expect("unseal");
    }

    async fn call(
        &self,
        op: Operation,
        path: &str,
        data: Value,
    ) -> coffre_core::Result<Option<Response>> {
        self.core
            .handle(
                Request::new(op, path)
                    .with_token(&self.root)
                    .with_data(obj(data)),
            )
            .await
    }

    async fn ok(&self, op: Operation, path: &str, data: Value) -> Value {
        let resp = self
            .call(op, path, data)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        resp.and_then(|r| r.data)
            .map(Value::Object)
            .unwrap_or(Value::Null)
    }

    async fn data(&self, key: &str) -> Value {
        self.ok(Operation::Read, &format!("secret/data/{key}"), json!({}))
            .await
    }

    async fn meta(&self, key: &str) -> Value {
        self.ok(
            Operation::Read,
            &format!("secret/metadata/{key}"),
            json!({}),
        )
        .await
    }

    async fn run(&self) -> coffre_core::PassReport {
        self.core.run_jobs().await.expect("run jobs")
    }

    fn days(&self, n: i64) {
        self.clock.advance_secs(n * DAY);
    }

    /// How many audit entries are the request entry of this background job or event.
    fn audited(&self, name: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "request" && e["request"]["background"] == name)
            .count()
    }
}
