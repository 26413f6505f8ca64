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
