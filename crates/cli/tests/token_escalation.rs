//! A token may only hand out what it holds: no root tokens from non-root callers, through a
//! plain create, sudo, or a token role without allowed_policies.

mod common;

use serde_json::json;

#[tokio::test]
async fn non_root_callers_cannot_mint_root_or_foreign_policies() {
    let inst = common::Install::new();
    let server = inst.start().await;
    let (_ir, root) = common::init_unseal_mount(&server, 1, 1).await;

    assert_eq!(
        root.post("auth/token/roles/open", json!({})).await.status,
        204
    );
    let policy = r#"
        path "auth/token/create" { capabilities = ["update", "sudo"] }
        path "auth/token/create/*" { capabilities = ["update"] }
        path "kv1/*" { capabilities = ["read"] }
    "#;
    assert_eq!(
        root.put("sys/policies/acl/minter", json!({"policy": policy}))
            .await
            .status,
        204
    );
    assert_eq!(
        root.put(
            "sys/policies/acl/other",
            json!({"policy": "path \"x\" { capabilities = [\"read\"] }"})
        )
        .await
        .status,
        204
    );
    let r = root
        .post("auth/token/create", json!({"policies": ["minter"]}))
        .await;
    let token = r.json["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let minter = root.with_token(&token);

    // Through a role without allowed_policies: bounded by the caller's policies.
    let r = minter
        .post("auth/token/create/open", json!({"policies": ["root"]}))
        .await;
    assert!(
        r.status == 400 || r.status == 403,
        "root token through a role: {r}"
    );
    assert!(
        r.json.get("auth").is_none_or(|a| a.is_null()),
        "a token was issued: {r}"
    );
    let r = minter
        .post("auth/token/create/open", json!({"policies": ["other"]}))
        .await;
    assert_eq!(r.status, 400, "foreign policy through a role: {r}");
    let r = minter
        .post("auth/token/create/open", json!({"policies": ["minter"]}))
        .await;
    assert_eq!(r.status, 200, "own policy through a role: {r}");

    // With sudo on auth/token/create: other policies are allowed (as in Vault), root is not.
    let r = minter
        .post("auth/token/create", json!({"policies": ["root"]}))
        .await;
    assert_eq!(r.status, 403, "root token with sudo: {r}");
    let r = minter
        .post("auth/token/create", json!({"policies": ["other"]}))
        .await;
    assert_eq!(r.status, 200, "sudo may grant other policies: {r}");

    // The root token itself still can.
    let r = root
        .post("auth/token/create", json!({"policies": ["root"]}))
        .await;
    assert_eq!(r.status, 200, "root creating root: {r}");
}

/// A deny on a canonical name cannot be sidestepped by spelling the path differently (upper
/// case, extra slashes), since the handler canonicalizes the name after the ACL check.
#[tokio::test]
async fn canonicalized_names_are_authorized_again() {
    let inst = common::Install::new();
    let server = inst.start().await;
    let (_ir, root) = common::init_unseal_mount(&server, 1, 1).await;
    let policy = r#"
        path "sys/policies/acl/*" { capabilities = ["create", "update", "read"] }
        path "sys/policies/acl/admin" { capabilities = ["deny"] }
        path "sys/mounts/*" { capabilities = ["create", "update", "read", "delete"] }
        path "sys/mounts/kv1" { capabilities = ["deny"] }
    "#;
    assert_eq!(
        root.put("sys/policies/acl/editor", json!({"policy": policy}))
            .await
            .status,
        204
    );
    let r = root
        .post("auth/token/create", json!({"policies": ["editor"]}))
        .await;
    let editor = root.with_token(r.json["auth"]["client_token"].as_str().expect("token"));
    let body = json!({"policy": "path \"*\" { capabilities = [\"sudo\", \"update\"] }"});
    for path in [
        "sys/policies/acl/admin",
        "sys/policies/acl/Admin",
        "sys/policies/acl//admin",
    ] {
        let r = editor.put(path, body.clone()).await;
        assert_eq!(r.status, 403, "PUT {path}: {r}");
    }
    assert_eq!(
        root.get("sys/policies/acl/admin").await.status,
        404,
        "admin was written"
    );
    // Other names stay writable.
    assert_eq!(
        editor
            .put("sys/policies/acl/team", body.clone())
            .await
            .status,
        204
    );
    for path in ["sys/mounts/kv1", "sys/mounts/kv1/", "sys/mounts//kv1"] {
        let r = editor.delete(path).await;
        assert_eq!(r.status, 403, "DELETE {path}: {r}");
    }
    assert_eq!(
        root.get("sys/mounts/kv1").await.status,
        200,
        "kv1 was unmounted"
    );
}

#[tokio::test]
async fn encoded_control_characters_are_refused() {
    let inst = common::Install::new();
    let server = inst.start().await;
    let (_ir, root) = common::init_unseal_mount(&server, 1, 1).await;
    for path in ["kv1/a%0ab", "kv1/a%00b"] {
        let r = root.put(path, json!({"v": "1"})).await;
        assert_eq!(r.status, 400, "PUT {path}: {r}");
    }
}
