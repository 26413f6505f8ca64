//! Crash points in multi-step changes: the storage "disk" stops taking writes right after a
//! chosen commit, a new core is unsealed on what reached it, and the state must be consistent
//! (or be finished by the new core).

use std::sync::Arc;
use std::time::Duration;

use coffre_core::{Core, CoreConfig, Operation, Request};
use coffre_storage::testing::FaultyBackend;
use coffre_storage::{Backend, InMemoryBackend};
use serde_json::{Map, Value, json};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn call(core: &Core, token: &str, op: Operation, path: &str, data: Value) {
    core.handle(
        Request::new(op, path)
            .with_token(token)
            .with_data(obj(data)),
    )
    .await
    .unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// Disabling a mount commits the table and then removes the data. A crash right after the
/// table commit must not leave the old mount's data in storage for good.
#[tokio::test]
async fn a_crash_between_unmount_and_data_removal_is_finished_at_unseal() {
    let faulty = Arc::new(FaultyBackend::new(Arc::new(InMemoryBackend::new())));
    let core = Core::new(faulty.clone(), CoreConfig::default());
    let (share, root) = core.dev_init(None).await.expect("init");
    let before: Vec<String> = faulty.scan("logical/").await.expect("scan");
    call(
        &core,
        &root,
        Operation::Update,
        "sys/mounts/gone",
        json!({"type": "kv"}),
    )
    .await;
    for i in 0..5 {
        call(
            &core,
            &root,
            Operation::Update,
            &format!("gone/s{i}"),
            json!({"v": "x"}),
        )
        .await;
    }
    let mount_keys: Vec<String> = faulty
        .scan("logical/")
        .await
        .expect("scan")
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    assert_eq!(mount_keys.len(), 5, "{mount_keys:?}");

    faulty.crash_after_write("core/mounts");
    let r = core
        .handle(Request::new(Operation::Delete, "sys/mounts/gone").with_token(&root))
        .await;
    assert!(
        faulty.crashed(),
        "the crash point was reached ({:?})",
        r.map(|_| ())
    );
    drop(core);

    let disk: Arc<dyn Backend> = faulty.inner();
    let restarted = Core::new(disk.clone(), CoreConfig::default());
    restarted
        .unseal(&hex::encode(share.expose()))
        .await
        .expect("unseal");
    let mounts = restarted
        .handle(Request::new(Operation::Read, "sys/mounts").with_token(&root))
        .await
        .expect("mounts")
        .expect("data");
    assert!(
        !mounts.data.expect("data").contains_key("gone/"),
        "the table commit happened"
    );
    for _ in 0..200 {
        let left = disk.scan("logical/").await.expect("scan");
        if !mount_keys.iter().any(|k| left.contains(k)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the disabled mount's data is still in storage after unseal");
}
