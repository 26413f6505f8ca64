//! Auth methods through the core: userpass users, login, the token it makes, lockout on an
//! injected clock, bound CIDRs, tokens of a disabled mount; AppRole secret ids that expire and
//! are tidied, and lockout by role id.

mod common;

use coffre_core::{ErrorKind, Operation, Request};
use serde_json::{Value, json};

use common::auth_fx::{Fx, data, kind};
use common::obj;

#[tokio::test]
async fn a_user_logs_in_and_gets_a_token_with_the_users_settings() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/Alice",
        json!({"password": "pw", "policies": "dev,ops", "token_ttl": "1h", "token_max_ttl": "2h"}),
    )
    .await
    .expect("user");
    let user = fx
        .root_call(Operation::Read, "auth/userpass/users/alice", json!({}))
        .await
        .expect("read")
        .expect("user");
    let data = user.data.expect("data");
    assert_eq!(data["token_policies"], json!(["dev", "ops"]));
    assert!(!data.contains_key("password") && !data.contains_key("password_hash"));

    let auth = fx.login("ALICE", "pw").await.expect("login");
    assert_eq!(auth["policies"], json!(["default", "dev", "ops"]));
    assert_eq!(auth["metadata"], json!({"username": "alice"}));
    assert_eq!(auth["lease_duration"], json!(3600));
    assert_eq!(auth["orphan"], json!(true));
    let token = auth["client_token"].as_str().expect("token").to_string();
    let me = fx
        .call(Request::new(Operation::Read, "auth/token/lookup-self").with_token(&token))
        .await
        .expect("lookup")
        .expect("self")
        .data
        .expect("data");
    // The path as sent (OpenBao keeps it so); the name in the metadata is the canonical one.
    assert_eq!(me["path"], json!("auth/userpass/login/ALICE"));
    assert_eq!(me["display_name"], json!("userpass-alice"));

    // A renewal stops at the user's max TTL.
    fx.clock.advance_secs(3000);
    let renewed = fx
        .call(
            Request::new(Operation::Update, "auth/token/renew-self")
                .with_token(&token)
                .with_data(obj(json!({"increment": "10h"}))),
        )
        .await
        .expect("renew")
        .expect("resp");
    assert_eq!(
        renewed.auth.expect("auth")["lease_duration"],
        json!(7200 - 3000)
    );

    // Password change: the old one no longer works.
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/alice/password",
        json!({"password": "new"}),
    )
    .await
    .expect("password");
    assert_eq!(
        kind(fx.login("alice", "pw").await),
        Some(ErrorKind::InvalidRequest)
    );
    fx.login("alice", "new").await.expect("new password");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/bob",
        json!({"password": "pw"}),
    )
    .await
    .expect("user");
    let wrong = fx.login("bob", "nope").await.expect_err("wrong");
    let unknown = fx.login("nobody", "nope").await.expect_err("unknown");
    let impossible = fx.login("-x", "nope").await.expect_err("impossible");
    for e in [&wrong, &unknown, &impossible] {
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert_eq!(e.to_string(), "invalid username or password");
    }
    let missing = fx
        .call(Request::new(Operation::Update, "auth/userpass/login/bob"))
        .await
        .expect_err("missing");
    assert_eq!(missing.to_string(), "missing password");
    // A create without a password is refused.
    let err = fx
        .root_call(Operation::Update, "auth/userpass/users/carol", json!({}))
        .await
        .expect_err("no password");
    assert_eq!(err.to_string(), "missing password");
}

#[tokio::test]
async fn the_sixth_attempt_is_locked_out_for_fifteen_minutes() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/dave",
        json!({"password": "pw"}),
    )
    .await
    .expect("user");
    for _ in 0..5 {
        assert_eq!(
            kind(fx.login("dave", "bad").await),
            Some(ErrorKind::InvalidRequest)
        );
    }
    // Locked: the right password gets the same 403 as a wrong one.
    assert_eq!(
        kind(fx.login("dave", "bad").await),
        Some(ErrorKind::PermissionDenied)
    );
    assert_eq!(
        kind(fx.login("dave", "pw").await),
        Some(ErrorKind::PermissionDenied)
    );
    let locked = fx
        .root_call(Operation::Read, "sys/locked-users", json!({}))
        .await
        .expect("list")
        .expect("resp")
        .data
        .expect("data");
    assert_eq!(locked["total"], json!(1));
    let accessor = locked["by_namespace"][0]["mount_accessors"][0]["mount_accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    assert_eq!(
        locked["by_namespace"][0]["mount_accessors"][0]["alias_identifiers"],
        json!(["dave"])
    );

    // The lock lapses after 15 minutes.
    fx.clock.advance_secs(15 * 60 - 1);
    assert_eq!(
        kind(fx.login("dave", "pw").await),
        Some(ErrorKind::PermissionDenied)
    );
    fx.clock.advance_secs(1);
    fx.login("dave", "pw").await.expect("lock lapsed");

    // Locked again, then unlocked through the API.
    for _ in 0..5 {
        let _ = fx.login("dave", "bad").await;
    }
    assert_eq!(
        kind(fx.login("dave", "pw").await),
        Some(ErrorKind::PermissionDenied)
    );
    fx.root_call(
        Operation::Update,
        &format!("sys/locked-users/{accessor}/unlock/dave"),
        json!({}),
    )
    .await
    .expect("unlock");
    fx.login("dave", "pw").await.expect("unlocked");
}

#[tokio::test]
async fn lockout_follows_the_mount_tuning() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/erin",
        json!({"password": "pw"}),
    )
    .await
    .expect("user");
    fx.root_call(
        Operation::Update,
        "sys/auth/userpass/tune",
        json!({"user_lockout_config": {"lockout_threshold": 2, "lockout_duration": "1m"}}),
    )
    .await
    .expect("tune");
    let tune = fx
        .root_call(Operation::Read, "sys/auth/userpass/tune", json!({}))
        .await
        .expect("read")
        .expect("resp")
        .data
        .expect("data");
    assert_eq!(tune["user_lockout_threshold"], json!(2));
    assert_eq!(tune["user_lockout_duration"], json!(60));
    for _ in 0..2 {
        let _ = fx.login("erin", "bad").await;
    }
    assert_eq!(
        kind(fx.login("erin", "pw").await),
        Some(ErrorKind::PermissionDenied)
    );
    fx.clock.advance_secs(60);
    fx.login("erin", "pw").await.expect("lapsed");

    fx.root_call(
        Operation::Update,
        "sys/auth/userpass/tune",
        json!({"user_lockout_config": {"disable_lockout": true}}),
    )
    .await
    .expect("tune");
    for _ in 0..5 {
        let _ = fx.login("erin", "bad").await;
    }
    fx.login("erin", "pw").await.expect("no lockout");
}

#[tokio::test]
async fn bound_cidrs_hold_at_login_and_on_every_use() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/frank",
        json!({"password": "pw", "token_bound_cidrs": "127.0.0.1/32"}),
    )
    .await
    .expect("user");
    assert_eq!(
        kind(fx.login_from("frank", "pw", "127.0.0.2").await),
        Some(ErrorKind::PermissionDenied)
    );
    let auth = fx
        .login_from("frank", "pw", "127.0.0.1")
        .await
        .expect("login");
    let token = auth["client_token"].as_str().expect("token");
    assert_eq!(fx.use_token(token, "127.0.0.1").await, None);
    assert_eq!(
        fx.use_token(token, "127.0.0.2").await,
        Some(ErrorKind::PermissionDenied)
    );
    let err = fx
        .root_call(
            Operation::Update,
            "auth/userpass/users/frank",
            json!({"token_bound_cidrs": "10.0.0/8"}),
        )
        .await
        .expect_err("bad cidr");
    assert!(err.to_string().contains("token_bound_cidrs"), "{err}");
}

#[tokio::test]
async fn tokens_of_a_disabled_mount_are_refused() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/gina",
        json!({"password": "pw"}),
    )
    .await
    .expect("user");
    let auth = fx.login("gina", "pw").await.expect("login");
    let token = auth["client_token"].as_str().expect("token").to_string();
    assert_eq!(fx.use_token(&token, "127.0.0.1").await, None);
    fx.root_call(Operation::Delete, "sys/auth/userpass", json!({}))
        .await
        .expect("disable");
    assert_eq!(
        fx.use_token(&token, "127.0.0.1").await,
        Some(ErrorKind::PermissionDenied)
    );
    // Enabled again at the same path: a new mount; the old token stays refused, the user is gone.
    fx.root_call(
        Operation::Update,
        "sys/auth/userpass",
        json!({"type": "userpass"}),
    )
    .await
    .expect("enable");
    assert_eq!(
        fx.use_token(&token, "127.0.0.1").await,
        Some(ErrorKind::PermissionDenied)
    );
    assert_eq!(
        kind(fx.login("gina", "pw").await),
        Some(ErrorKind::InvalidRequest)
    );
}

#[tokio::test]
async fn sys_auth_lists_reads_and_refuses_as_openbao() {
    let fx = Fx::new().await;
    let list = fx
        .root_call(Operation::Read, "sys/auth", json!({}))
        .await
        .expect("list")
        .expect("resp")
        .data
        .expect("data");
    assert_eq!(list["userpass/"]["type"], json!("userpass"));
    assert_eq!(
        list["userpass/"]["config"]["token_type"],
        json!("default-service")
    );
    assert!(list.contains_key("token/"));
    // Not a secrets engine: absent from sys/mounts, and sys/mounts cannot remove it.
    let mounts = fx
        .root_call(Operation::Read, "sys/mounts", json!({}))
        .await
        .expect("mounts")
        .expect("resp")
        .data
        .expect("data");
    assert!(!mounts.keys().any(|k| k.starts_with("auth/")));
    for (path, data, msg) in [
        (
            "sys/auth/userpass",
            json!({"type": "userpass"}),
            "path is already in use at userpass/",
        ),
        (
            "sys/auth/token",
            json!({"type": "userpass"}),
            "path is already in use at token/",
        ),
        (
            "sys/auth/x",
            json!({"type": "kv"}),
            "plugin not found in the catalog: kv",
        ),
    ] {
        let err = fx
            .root_call(Operation::Update, path, data)
            .await
            .expect_err(path);
        assert_eq!(
            (err.kind(), err.to_string()),
            (ErrorKind::InvalidRequest, msg.to_string())
        );
    }
    let err = fx
        .root_call(Operation::Delete, "sys/auth/token", json!({}))
        .await
        .expect_err("token");
    assert_eq!(
        err.to_string(),
        "token credential backend cannot be disabled"
    );
    let err = fx
        .root_call(Operation::Read, "sys/auth/nothere", json!({}))
        .await
        .expect_err("missing");
    assert_eq!(err.to_string(), "No auth engine at nothere/");
}

async fn approle_login(fx: &Fx, role_id: &str, secret_id: &str) -> Option<ErrorKind> {
    kind(
        fx.call(
            Request::new(Operation::Update, "auth/approle/login")
                .from_addr("127.0.0.1")
                .with_data(obj(json!({"role_id": role_id, "secret_id": secret_id}))),
        )
        .await,
    )
}

#[tokio::test]
async fn approle_secret_ids_expire_and_are_tidied() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/approle/role/job",
        json!({"token_policies": "dev", "secret_id_ttl": "10m"}),
    )
    .await
    .expect("role");
    let role_id = data(
        &fx,
        Operation::Read,
        "auth/approle/role/job/role-id",
        json!({}),
    )
    .await["role_id"]
        .as_str()
        .expect("role id")
        .to_string();
    let secret = data(
        &fx,
        Operation::Update,
        "auth/approle/role/job/secret-id",
        json!({}),
    )
    .await;
    let (secret_id, accessor) = (
        secret["secret_id"].as_str().expect("id").to_string(),
        secret["secret_id_accessor"]
            .as_str()
            .expect("accessor")
            .to_string(),
    );
    assert_eq!(secret["secret_id_ttl"], json!(600));
    assert_eq!(approle_login(&fx, &role_id, &secret_id).await, None);
    // A second, never used: expired by the clock, then removed by tidy.
    let spare = data(
        &fx,
        Operation::Update,
        "auth/approle/role/job/secret-id",
        json!({}),
    )
    .await;
    fx.clock.advance_secs(600);
    assert_eq!(
        approle_login(&fx, &role_id, &secret_id).await,
        Some(ErrorKind::InvalidRequest)
    );
    let listed = data(
        &fx,
        Operation::List,
        "auth/approle/role/job/secret-id",
        json!({}),
    )
    .await;
    assert_eq!(
        listed["keys"].as_array().map(Vec::len),
        Some(1),
        "{listed:?}"
    );
    assert_ne!(listed["keys"][0], json!(accessor));
    let tidy = fx
        .root_call(Operation::Update, "auth/approle/tidy/secret-id", json!({}))
        .await
        .expect("tidy")
        .expect("resp");
    assert_eq!(tidy.status, Some(202));
    assert!(
        fx.root_call(
            Operation::List,
            "auth/approle/role/job/secret-id",
            json!({})
        )
        .await
        .expect("list")
        .is_none(),
        "tidy left {spare:?}"
    );
}

#[tokio::test]
async fn approle_locks_a_role_id_after_five_bad_secret_ids() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/approle/role/svc",
        json!({"token_policies": "dev"}),
    )
    .await
    .expect("role");
    let role_id = data(
        &fx,
        Operation::Read,
        "auth/approle/role/svc/role-id",
        json!({}),
    )
    .await["role_id"]
        .as_str()
        .expect("role id")
        .to_string();
    let good = data(
        &fx,
        Operation::Update,
        "auth/approle/role/svc/secret-id",
        json!({}),
    )
    .await["secret_id"]
        .as_str()
        .expect("secret id")
        .to_string();
    for _ in 0..5 {
        assert_eq!(
            approle_login(&fx, &role_id, "wrong").await,
            Some(ErrorKind::InvalidRequest)
        );
    }
    assert_eq!(
        approle_login(&fx, &role_id, &good).await,
        Some(ErrorKind::PermissionDenied)
    );
    fx.clock.advance_secs(15 * 60);
    assert_eq!(approle_login(&fx, &role_id, &good).await, None);
}

#[tokio::test]
async fn a_login_token_renews_only_while_its_user_is_unchanged() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/hal",
        json!({"password": "pw", "token_policies": "a"}),
    )
    .await
    .expect("user");
    let token = fx.login("hal", "pw").await.expect("login")["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let renew =
        || fx.call(Request::new(Operation::Update, "auth/token/renew-self").with_token(&token));
    renew().await.expect("renew");
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/hal/policies",
        json!({"token_policies": "b"}),
    )
    .await
    .expect("policies");
    let err = renew().await.expect_err("policies changed");
    assert_eq!(err.to_string(), "policies have changed, not renewing");
    fx.root_call(
        Operation::Update,
        "auth/userpass/users/hal/policies",
        json!({"token_policies": "a"}),
    )
    .await
    .expect("policies back");
    renew().await.expect("same policies again");
    fx.root_call(Operation::Delete, "auth/userpass/users/hal", json!({}))
        .await
        .expect("delete");
    let err = renew().await.expect_err("user gone");
    assert_eq!(err.to_string(), "user no longer exists, not renewing");
}

#[tokio::test]
async fn auth_mounts_users_and_logins_belong_to_their_namespace() {
    let fx = Fx::new().await;
    fx.root_call(Operation::Update, "sys/namespaces/team-a", json!({}))
        .await
        .expect("namespace");
    let in_a = |op: Operation, path: &str, body: Value| {
        fx.call(
            Request::new(op, path)
                .with_token(&fx.root)
                .in_namespace("team-a")
                .with_data(obj(body)),
        )
    };
    in_a(
        Operation::Update,
        "sys/auth/userpass",
        json!({"type": "userpass"}),
    )
    .await
    .expect("enable in team-a");
    in_a(
        Operation::Update,
        "auth/userpass/users/ann",
        json!({"password": "pw"}),
    )
    .await
    .expect("user in team-a");
    // The root's userpass mount has no such user; team-a's login makes a team-a token.
    assert_eq!(
        kind(fx.login("ann", "pw").await),
        Some(ErrorKind::InvalidRequest)
    );
    let resp = fx
        .call(
            Request::new(Operation::Update, "auth/userpass/login/ann")
                .in_namespace("team-a")
                .with_data(obj(json!({"password": "pw"}))),
        )
        .await
        .expect("login in team-a")
        .expect("resp");
    let token = resp.auth.expect("auth")["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(
        token.contains('.') && token.rsplit('.').next() != Some(""),
        "{token}"
    );
    let lookup = |ns: &str| {
        fx.call(
            Request::new(Operation::Read, "auth/token/lookup-self")
                .with_token(&token)
                .in_namespace(ns),
        )
    };
    assert_eq!(kind(lookup("team-a").await), None);
    // Its entity is team-a's: the root's identity store does not know it.
    let entity_id = lookup("team-a")
        .await
        .expect("lookup")
        .expect("resp")
        .data
        .expect("data")["entity_id"]
        .as_str()
        .expect("entity")
        .to_string();
    assert!(
        fx.root_call(
            Operation::Read,
            &format!("identity/entity/id/{entity_id}"),
            json!({})
        )
        .await
        .expect("root read")
        .is_none()
    );
    assert!(
        in_a(
            Operation::Read,
            &format!("identity/entity/id/{entity_id}"),
            json!({})
        )
        .await
        .expect("team-a read")
        .is_some()
    );
}

#[tokio::test]
async fn a_token_role_binds_its_tokens_to_cidrs() {
    let fx = Fx::new().await;
    fx.root_call(
        Operation::Update,
        "auth/token/roles/local",
        json!({"allowed_policies": "default", "token_bound_cidrs": "127.0.0.1/32"}),
    )
    .await
    .expect("role");
    let role = fx
        .root_call(Operation::Read, "auth/token/roles/local", json!({}))
        .await
        .expect("read")
        .expect("role")
        .data
        .expect("data");
    assert_eq!(role["token_bound_cidrs"], json!(["127.0.0.1"]));
    let token = fx
        .root_call(Operation::Update, "auth/token/create/local", json!({}))
        .await
        .expect("create")
        .expect("resp")
        .auth
        .expect("auth")["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(fx.use_token(&token, "127.0.0.1").await, None);
    assert_eq!(
        fx.use_token(&token, "127.0.0.2").await,
        Some(ErrorKind::PermissionDenied)
    );
    let err = fx
        .root_call(
            Operation::Update,
            "auth/token/roles/bad",
            json!({"token_bound_cidrs": "nonsense"}),
        )
        .await
        .expect_err("bad cidr");
    assert!(err.to_string().contains("token_bound_cidrs"), "{err}");
}
