//! Small `sys/` behaviours: the `kv-v2` mount type, mount accessors, `tune` refusing what it
//! does not apply, `sys/seal` needing sudo (not the root policy), and token tidy's answer.

use std::sync::Arc;

mod common;

use coffre_core::{Core, CoreConfig, ErrorKind, Operation, Request};
use coffre_storage::InMemoryBackend;
use common::{obj, token_with};
use serde_json::{Map, Value, json};

async fn dev() -> (Core, String) {
    let core = Core::new(Arc::new(InMemoryBackend::new()), CoreConfig::default());
    let (_share, root) = core.dev_init(None).await.expect("init");
    (core, root)
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

async fn data(
    core: &Core,
    token: &str,
    op: Operation,
    path: &str,
    data: Value,
) -> Map<String, Value> {
    call(core, token, op, path, data)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .and_then(|r| r.data)
        .unwrap_or_default()
}

#[tokio::test]
async fn kv_v2_is_a_mount_type() {
    let (core, root) = dev().await;
    call(
        &core,
        &root,
        Operation::Update,
        "sys/mounts/k2",
        json!({"type": "kv-v2"}),
    )
    .await
    .expect("mount kv-v2");
    let mounts = data(&core, &root, Operation::Read, "sys/mounts", json!({})).await;
    assert_eq!(mounts["k2/"]["type"], "kv");
    assert_eq!(mounts["k2/"]["options"]["version"], "2");
    call(
        &core,
        &root,
        Operation::Update,
        "k2/data/x",
        json!({"data": {"a": "b"}}),
    )
    .await
    .expect("kv v2 write");
    let read = data(&core, &root, Operation::Read, "k2/data/x", json!({})).await;
    assert_eq!(read["data"]["a"], "b");
    let e = call(
        &core,
        &root,
        Operation::Update,
        "sys/mounts/k3",
        json!({"type": "kv-v2", "options": {"version": "1"}}),
    )
    .await
    .expect_err("contradictory version");
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn mount_accessors_carry_128_random_bits_and_are_distinct() {
    let (core, root) = dev().await;
    for i in 0..5 {
        call(
            &core,
            &root,
            Operation::Update,
            &format!("sys/mounts/m{i}"),
            json!({"type": "kv"}),
        )
        .await
        .expect("mount");
    }
    let mounts = data(&core, &root, Operation::Read, "sys/mounts", json!({})).await;
    // `identity/` is built in, with a fixed accessor, like `auth/token/`.
    let accessors: Vec<&str> = mounts
        .values()
        .filter(|m| m["type"] != "identity")
        .filter_map(|m| m["accessor"].as_str())
        .collect();
    assert!(accessors.len() >= 6, "{accessors:?}");
    for a in &accessors {
        let random = a.rsplit('_').next().expect("suffix");
        assert_eq!(random.len(), 32, "{a}: 128 bits in hex");
        assert!(random.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
    let distinct: std::collections::HashSet<_> = accessors.iter().collect();
    assert_eq!(distinct.len(), accessors.len());
}

#[tokio::test]
async fn tune_refuses_options_it_does_not_apply() {
    let (core, root) = dev().await;
    call(
        &core,
        &root,
        Operation::Update,
        "sys/mounts/kv",
        json!({"type": "kv"}),
    )
    .await
    .expect("mount");
    call(
        &core,
        &root,
        Operation::Update,
        "sys/mounts/kv/tune",
        json!({"max_lease_ttl": "2h"}),
    )
    .await
    .expect("a supported option");
    let tuned = data(
        &core,
        &root,
        Operation::Read,
        "sys/mounts/kv/tune",
        json!({}),
    )
    .await;
    assert_eq!(tuned["max_lease_ttl"], 7200);
    for unsupported in [
        json!({"audit_non_hmac_request_keys": ["x"]}),
        json!({"listing_visibility": "everyone"}),
        json!({"max_lease_ttl": "1h", "passthrough_request_headers": ["X"]}),
    ] {
        let e = call(
            &core,
            &root,
            Operation::Update,
            "sys/mounts/kv/tune",
            unsupported.clone(),
        )
        .await
        .expect_err("unsupported tune option accepted");
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{unsupported}: {e}");
        assert!(e.to_string().contains("not supported"), "{e}");
    }
    let tuned = data(
        &core,
        &root,
        Operation::Read,
        "sys/mounts/kv/tune",
        json!({}),
    )
    .await;
    assert_eq!(
        tuned["max_lease_ttl"], 7200,
        "a refused tune changes nothing"
    );
}

#[tokio::test]
async fn seal_needs_sudo_on_sys_seal_not_the_root_policy() {
    let (core, root) = dev().await;
    let no_sudo = token_with(
        &core,
        &root,
        "seal-nosudo",
        r#"path "sys/seal" { capabilities = ["update"] }"#,
    )
    .await;
    let sudo = token_with(
        &core,
        &root,
        "seal-sudo",
        r#"path "sys/seal" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let e = core
        .seal(Some(&no_sudo))
        .await
        .expect_err("sealed without sudo");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(!core.is_sealed());
    core.seal(Some(&sudo))
        .await
        .expect("an operator with sudo on sys/seal seals");
    assert!(core.is_sealed());
}

#[tokio::test]
async fn token_tidy_says_what_it_did() {
    let (core, root) = dev().await;
    let resp = call(
        &core,
        &root,
        Operation::Update,
        "auth/token/tidy",
        json!({}),
    )
    .await
    .expect("tidy")
    .expect("response");
    let said = resp.warnings.join(" ");
    assert!(said.contains("0 expired"), "{said}");
    assert!(!said.contains("started"), "it ran to completion: {said}");
}
