//! Identity through the core: logins resolve to entities, group policies apply to live tokens
//! at their next request (nested groups too), templated policies render per entity, and a
//! disabled entity's tokens are refused.

mod common;

use coffre_core::{ErrorKind, Operation, Request};
use serde_json::json;

use common::auth_fx::{Fx, data, kind};

/// Enables KV v1 at `kv/`, writes `kv/<name>/secret` for each name, and makes userpass users
/// with no policies of their own.
async fn setup(fx: &Fx, users: &[&str]) {
    fx.root_call(Operation::Update, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .expect("mount");
    for u in users {
        fx.root_call(
            Operation::Update,
            &format!("kv/{u}/secret"),
            json!({"v": u}),
        )
        .await
        .expect("secret");
        fx.root_call(
            Operation::Update,
            &format!("auth/userpass/users/{u}"),
            json!({"password": "pw"}),
        )
        .await
        .expect("user");
    }
}

async fn token_of(fx: &Fx, user: &str) -> (String, String) {
    let auth = fx.login(user, "pw").await.expect("login");
    (
        auth["client_token"].as_str().expect("token").to_string(),
        auth["entity_id"].as_str().expect("entity").to_string(),
    )
}

async fn read(fx: &Fx, token: &str, path: &str) -> Option<ErrorKind> {
    kind(
        fx.call(Request::new(Operation::Read, path).with_token(token))
            .await,
    )
}

#[tokio::test]
async fn a_login_resolves_to_one_entity_through_its_alias() {
    let fx = Fx::new().await;
    setup(&fx, &["alice"]).await;
    let (token, entity) = token_of(&fx, "alice").await;
    assert!(!entity.is_empty());
    let (_, again) = token_of(&fx, "alice").await;
    assert_eq!(entity, again, "a second login is the same entity");
    let me = fx
        .call(Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token))
        .await
        .expect("lookup")
        .expect("resp")
        .data
        .expect("data");
    assert_eq!(me["entity_id"], json!(entity));
    let accessor = data(&fx, Operation::Read, "sys/auth/userpass", json!({})).await["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    let found = data(
        &fx,
        Operation::Update,
        "identity/lookup/entity",
        json!({"alias_name": "alice", "alias_mount_accessor": accessor}),
    )
    .await;
    assert_eq!(found["id"], json!(entity));
    assert_eq!(found["aliases"][0]["name"], json!("alice"));
    assert!(found["aliases"][0]["last_login_time"].is_string());
    // The default policy's templated rule lets the entity read itself.
    let own = fx
        .call(
            Request::new(Operation::Read, format!("identity/entity/id/{entity}"))
                .with_token(&token),
        )
        .await
        .expect("read own entity")
        .expect("resp");
    assert_eq!(own.data.expect("data")["id"], json!(entity));
    let other = data(
        &fx,
        Operation::Update,
        "identity/entity",
        json!({"name": "other"}),
    )
    .await;
    assert_eq!(
        read(
            &fx,
            &token,
            &format!("identity/entity/id/{}", other["id"].as_str().expect("id"))
        )
        .await,
        Some(ErrorKind::PermissionDenied)
    );
}

#[tokio::test]
async fn a_group_policy_change_applies_to_a_live_token() {
    let fx = Fx::new().await;
    setup(&fx, &["alice"]).await;
    fx.root_call(
        Operation::Update,
        "sys/policies/acl/reader",
        json!({"policy": r#"path "kv/*" { capabilities = ["read"] }"#}),
    )
    .await
    .expect("policy");
    let (token, entity) = token_of(&fx, "alice").await;
    assert_eq!(
        read(&fx, &token, "kv/alice/secret").await,
        Some(ErrorKind::PermissionDenied)
    );

    // A group that nests a group that holds the entity: the outer group's policy applies.
    let inner = data(
        &fx,
        Operation::Update,
        "identity/group",
        json!({"name": "inner", "member_entity_ids": [entity]}),
    )
    .await;
    let outer = data(
        &fx,
        Operation::Update,
        "identity/group",
        json!({"name": "outer", "member_group_ids": [inner["id"]]}),
    )
    .await;
    assert_eq!(
        read(&fx, &token, "kv/alice/secret").await,
        Some(ErrorKind::PermissionDenied)
    );
    fx.root_call(
        Operation::Update,
        "identity/group/name/outer",
        json!({"policies": ["reader"]}),
    )
    .await
    .expect("give policy");
    assert_eq!(read(&fx, &token, "kv/alice/secret").await, None);
    let me = fx
        .call(Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token))
        .await
        .expect("lookup")
        .expect("resp")
        .data
        .expect("data");
    assert_eq!(me["identity_policies"], json!(["reader"]));
    let group = data(&fx, Operation::Read, "identity/group/name/inner", json!({})).await;
    assert_eq!(group["parent_group_ids"], json!([outer["id"]]));
    // A cycle is refused.
    let err = fx
        .root_call(
            Operation::Update,
            "identity/group/name/inner",
            json!({"member_group_ids": [outer["id"]]}),
        )
        .await
        .expect_err("cycle");
    assert!(err.to_string().contains("cycle"), "{err}");

    fx.root_call(
        Operation::Update,
        "identity/group/name/outer",
        json!({"policies": []}),
    )
    .await
    .expect("take policy");
    assert_eq!(
        read(&fx, &token, "kv/alice/secret").await,
        Some(ErrorKind::PermissionDenied)
    );
}

#[tokio::test]
async fn templated_policies_render_for_each_entity() {
    let fx = Fx::new().await;
    setup(&fx, &["alice", "bob"]).await;
    let accessor = data(&fx, Operation::Read, "sys/auth/userpass", json!({})).await["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    let policy = format!(
        r#"path "kv/{{{{identity.entity.aliases.{accessor}.name}}}}/*" {{ capabilities = ["read"] }}"#
    );
    fx.root_call(
        Operation::Update,
        "sys/policies/acl/own",
        json!({"policy": policy}),
    )
    .await
    .expect("policy");
    for u in ["alice", "bob"] {
        fx.root_call(
            Operation::Update,
            &format!("auth/userpass/users/{u}/policies"),
            json!({"token_policies": "own"}),
        )
        .await
        .expect("policies");
    }
    let (alice, _) = token_of(&fx, "alice").await;
    let (bob, _) = token_of(&fx, "bob").await;
    assert_eq!(read(&fx, &alice, "kv/alice/secret").await, None);
    assert_eq!(
        read(&fx, &alice, "kv/bob/secret").await,
        Some(ErrorKind::PermissionDenied)
    );
    assert_eq!(read(&fx, &bob, "kv/bob/secret").await, None);
    assert_eq!(
        read(&fx, &bob, "kv/alice/secret").await,
        Some(ErrorKind::PermissionDenied)
    );
    // A token without an entity gets nothing from the templated rule.
    let plain = fx
        .root_call(
            Operation::Update,
            "auth/token/create",
            json!({"policies": ["own"]}),
        )
        .await
        .expect("create")
        .expect("resp")
        .auth
        .expect("auth")["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(
        read(&fx, &plain, "kv/alice/secret").await,
        Some(ErrorKind::PermissionDenied)
    );
}

#[tokio::test]
async fn a_disabled_entity_is_refused() {
    let fx = Fx::new().await;
    setup(&fx, &["carl"]).await;
    let (token, entity) = token_of(&fx, "carl").await;
    let me = "auth/token/lookup-self";
    assert_eq!(read(&fx, &token, me).await, None);
    let path = format!("identity/entity/id/{entity}");
    let set =
        |disabled: bool| fx.root_call(Operation::Update, &path, json!({ "disabled": disabled }));
    set(true).await.expect("disable");
    assert_eq!(
        read(&fx, &token, me).await,
        Some(ErrorKind::PermissionDenied)
    );
    assert_eq!(
        kind(fx.login("carl", "pw").await),
        Some(ErrorKind::PermissionDenied)
    );
    set(false).await.expect("enable");
    assert_eq!(read(&fx, &token, me).await, None);
}

#[tokio::test]
async fn entities_without_a_recent_login_are_listed_as_inactive() {
    let fx = Fx::new().await;
    setup(&fx, &["old", "busy"]).await;
    let (_, old) = token_of(&fx, "old").await;
    let (_, busy) = token_of(&fx, "busy").await;
    let never = data(
        &fx,
        Operation::Update,
        "identity/entity",
        json!({"name": "never"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let inactive = |days: i64| {
        let fx = &fx;
        async move {
            let d = data(
                fx,
                Operation::Read,
                "sys/identity/inactive",
                json!({"days": days}),
            )
            .await;
            d["entities"]
                .as_array()
                .expect("entities")
                .iter()
                .map(|e| e["id"].as_str().expect("id").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(inactive(30).await, vec![never.clone()]);
    fx.clock.advance_secs(31 * 86_400);
    token_of(&fx, "busy").await;
    let listed = inactive(30).await;
    assert!(
        listed.contains(&old) && listed.contains(&never) && !listed.contains(&busy),
        "{listed:?}"
    );
    assert_eq!(listed.len(), 2);
    // Longer than the time passed: only the entity that never logged in.
    assert_eq!(inactive(60).await, vec![never]);
}
