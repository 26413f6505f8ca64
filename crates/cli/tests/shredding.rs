//! Crypto-shredding on the real binary and its redb files: a copy of the storage taken before a
//! namespace is deleted, given the key material of after the deletion, unseals and serves the
//! other tenants, while the deleted tenant's ciphertext, still in the copy, decrypts no more.

mod common;

use std::fs;
use std::path::Path;

use coffre_storage::{Backend, RedbBackend};
use common::{Install, Server, init, unseal_ok};
use serde_json::json;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read dir").flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).expect("copy");
        }
    }
}

/// The key material that decides what decrypts: the barrier keyring and the namespace key table.
const KEY_MATERIAL: [&str; 2] = ["core/keyring", "core/namespace-keys"];

#[tokio::test]
async fn a_deleted_namespace_stays_unreadable_in_a_copy_taken_before_the_deletion() {
    let inst = Install::new();
    let data = inst.data_dir();
    let mut server = inst.start().await;
    let api = server.api();
    let ir = init(&api, 1, 1).await;
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    for ns in ["team-a", "team-b"] {
        assert_eq!(
            root.post(&format!("sys/namespaces/{ns}"), json!({}))
                .await
                .status,
            200
        );
        assert_eq!(
            root.post(&format!("{ns}/sys/mounts/kv"), json!({"type": "kv-v2"}))
                .await
                .status,
            204
        );
        let r = root
            .post(
                &format!("{ns}/kv/data/app"),
                json!({"data": {"secret": format!("{ns}-secret")}}),
            )
            .await;
        assert_eq!(r.status, 200, "{r}");
    }
    let a_id = root.get("sys/namespaces/team-a").await.json["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    server.stop();

    // The raw files, before.
    let before = inst.root.path().join("copy-before");
    copy_dir(&data, &before);

    let mut server = Server::start(inst.root.path(), &data).await;
    let api = server.api();
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    assert_eq!(root.delete("sys/namespaces/team-a").await.status, 200);
    server.stop();

    // The key material of now, put into the copy of before.
    let current = RedbBackend::open(&data).expect("open current");
    let mut keys = Vec::new();
    for k in KEY_MATERIAL {
        keys.push((k, current.get(k).await.expect("get").expect(k)));
    }
    drop(current);
    let copy = RedbBackend::open(&before).expect("open copy");
    let prefix = format!("namespaces/{a_id}/");
    let a_entries = copy.scan(&prefix).await.expect("scan");
    assert!(
        a_entries.iter().any(|k| k.contains("/logical/")),
        "team-a's ciphertext is in the copy: {a_entries:?}"
    );
    for (k, v) in keys {
        copy.put(k, v).await.expect("put");
    }
    drop(copy);

    let mut server = Server::start(inst.root.path(), &before).await;
    let api = server.api();
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    let b = root.get("team-b/kv/data/app").await;
    assert_eq!(
        (b.status, &b.json["data"]["data"]["secret"]),
        (200, &json!("team-b-secret"))
    );
    let a = root.get("team-a/kv/data/app").await;
    assert_eq!(a.status, 404, "team-a is gone: {a}");
    let listed = root.list("sys/namespaces").await;
    assert_eq!(listed.json["data"]["keys"], json!(["team-b/"]), "{listed}");
    server.stop();

    // And its ciphertext is still there, in the copy, with no key that opens it.
    let copy = RedbBackend::open(&before).expect("reopen copy");
    assert!(!copy.scan(&prefix).await.expect("scan").is_empty());
}
