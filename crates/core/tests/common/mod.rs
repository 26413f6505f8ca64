//! Helpers shared by the core's integration tests (each test file is its own crate, so not
//! every file uses every helper).
#![allow(dead_code)]

pub mod auth_fx;
pub mod db_fx;

use std::sync::Arc;

use coffre_core::{
    AuditDeviceConfig, AuditSink, Core, CoreConfig, ManualClock, Operation, Request,
};
use serde_json::{Map, Value, json};

/// A dev-initialized core on memory storage whose time is `clock`: the core and its root
/// token.
pub async fn dev_core(clock: &Arc<ManualClock>) -> (Core, String) {
    let core = Core::new(
        Arc::new(coffre_storage::InMemoryBackend::new()),
        CoreConfig {
            clock: clock.clone(),
            ..CoreConfig::default()
        },
    );
    let (_share, root) = core.dev_init(None).await.expect("init");
    (core, root)
}

/// The object of a `json!` value (empty for anything else).
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Writes `policy` (HCL) as `name` and returns a new token carrying it (and `default`).
pub async fn token_with(core: &Core, root: &str, name: &str, policy: &str) -> String {
    core.handle(
        Request::new(Operation::Update, format!("sys/policies/acl/{name}"))
            .with_token(root)
            .with_data(obj(json!({ "policy": policy }))),
    )
    .await
    .expect("policy");
    let resp = core
        .handle(
            Request::new(Operation::Update, "auth/token/create")
                .with_token(root)
                .with_data(obj(json!({ "policies": [name] }))),
        )
        .await
        .expect("token")
        .expect("response");
    resp.auth.expect("auth")["client_token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// A core configuration on `clock` with a file audit device writing to `log` (tests count the
/// entries of background events there).
pub fn audited_config(clock: &Arc<ManualClock>, log: &std::path::Path) -> CoreConfig {
    CoreConfig {
        clock: clock.clone(),
        audit_devices: vec![AuditDeviceConfig::new(
            "file",
            AuditSink::File(log.to_path_buf()),
        )],
        ..CoreConfig::default()
    }
}
