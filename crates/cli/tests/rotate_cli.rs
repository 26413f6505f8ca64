//! `coffre rotate …` on the real binary with the embedded store: a policy set through the CLI,
//! a two-phase rotation published, the server killed (SIGKILL) between publish and promote,
//! and after the restart the secret still has its working value, `-field=next` reads the
//! published one, and promotion and rollback finish the flow.

mod common;

use common::dev::coffre_env;
use common::*;
use serde_json::{Value, json};

fn run(base: &str, token: &str, args: &[&str]) -> dev::Out {
    coffre_env(base, args, b"", &[("COFFRE_TOKEN", token)])
}

fn ok(base: &str, token: &str, args: &[&str]) -> String {
    run(base, token, args).ok(&args.join(" "))
}

fn json_of(base: &str, token: &str, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let text = ok(base, token, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_phase_rotation_survives_sigkill_between_publish_and_promote() {
    let inst = Install::new();
    let mut server = inst.start().await;
    let ir = init(&server.api(), 1, 1).await;
    unseal_ok(&server.api(), &ir.keys).await;
    let root = ir.root_token.clone();
    let r = server
        .api()
        .with_token(&root)
        .post(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert!(r.status / 100 == 2, "{r}");
    let base = server.base.clone();

    ok(
        &base,
        &root,
        &["kv", "put", "secret/app/jwt", "value=k1", "issuer=app"],
    );
    let set = ok(
        &base,
        &root,
        &[
            "rotate",
            "set",
            "secret/app/jwt",
            "--preset",
            "jwt-signing",
            "--criticality",
            "critical",
            "--owner",
            "team-auth",
        ],
    );
    assert!(set.contains("rotates every 30d"), "{set}");
    let cal = json_of(&base, &root, &["rotate", "calendar", "--within", "31d"]);
    assert_eq!(cal["data"]["entries"][0]["path"], "secret/app/jwt", "{cal}");
    assert_eq!(cal["data"]["entries"][0]["criticality"], "critical");

    // Not due: `run` leaves it; --dry-run says what --force would do.
    let not_due = ok(&base, &root, &["rotate", "run", "secret/app/jwt"]);
    assert!(not_due.contains("not due"), "{not_due}");
    let plan = ok(
        &base,
        &root,
        &["rotate", "plan", "--force", "secret/app/jwt"],
    );
    assert!(plan.contains("would publish"), "{plan}");
    let before = run(
        &base,
        &root,
        &["kv", "get", "-field=next", "secret/app/jwt"],
    );
    assert_ne!(before.code, 0, "nothing published yet");
    assert!(before.stderr.contains("not present"), "{}", before.stderr);

    let published = ok(
        &base,
        &root,
        &["rotate", "run", "--force", "secret/app/jwt"],
    );
    assert!(published.contains("published as version 2"), "{published}");
    let next = ok(
        &base,
        &root,
        &["kv", "get", "-field=next", "secret/app/jwt"],
    );
    assert!(next.len() >= 80, "a 64-byte secret in base64url: {next:?}");

    server.kill();
    let server = inst.start().await;
    unseal_ok(&server.api(), &ir.keys).await;
    let base = server.base.clone();
    assert_eq!(
        ok(
            &base,
            &root,
            &["kv", "get", "-field=value", "secret/app/jwt"]
        ),
        "k1",
        "the current value survives the kill"
    );
    assert_eq!(
        ok(
            &base,
            &root,
            &["kv", "get", "-field=next", "secret/app/jwt"]
        ),
        next,
        "so does the published one"
    );
    let meta = json_of(&base, &root, &["kv", "metadata", "get", "secret/app/jwt"]);
    assert_eq!(
        meta["data"]["rotation_status"]["state"],
        "pending_promotion"
    );

    let promoted = ok(&base, &root, &["rotate", "promote", "secret/app/jwt"]);
    assert!(promoted.contains("promoted, now version 3"), "{promoted}");
    assert_eq!(
        ok(
            &base,
            &root,
            &["kv", "get", "-field=value", "secret/app/jwt"]
        ),
        next
    );
    assert_eq!(
        ok(
            &base,
            &root,
            &["kv", "get", "-field=issuer", "secret/app/jwt"]
        ),
        "app"
    );
    let rolled = ok(&base, &root, &["rotate", "rollback", "secret/app/jwt"]);
    assert!(
        rolled.contains("restored version 1 as version 4"),
        "{rolled}"
    );
    assert_eq!(
        ok(
            &base,
            &root,
            &["kv", "get", "-field=value", "secret/app/jwt"]
        ),
        "k1"
    );

    // `check` exits 0 while nothing is overdue (the overdue path is covered on a manual clock
    // in the core's rotation tests); a bad policy is refused with the field named.
    ok(&base, &root, &["kv", "put", "secret/legacy", "value=x"]);
    ok(
        &base,
        &root,
        &[
            "rotate",
            "set",
            "secret/legacy",
            "--period",
            "1m",
            "--generator",
            "uuid",
        ],
    );
    let check = run(&base, &root, &["rotate", "check", "--within", "1d"]);
    assert_eq!(check.code, 0, "nothing overdue yet: {}", check.text());
    let bad = run(
        &base,
        &root,
        &[
            "rotate",
            "set",
            "secret/legacy",
            "--period",
            "1m",
            "--strategy",
            "sideways",
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("strategy"), "{}", bad.stderr);
}

/// A transit key through the same commands: a policy, the calendar, a forced rotation and a
/// rollback, with the key named by its path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_commands_work_on_a_transit_key() {
    let inst = Install::new();
    let server = inst.start().await;
    let ir = init(&server.api(), 1, 1).await;
    unseal_ok(&server.api(), &ir.keys).await;
    let root = ir.root_token.clone();
    let api = server.api().with_token(&root);
    let r = api
        .post("sys/mounts/transit", json!({"type": "transit"}))
        .await;
    assert!(r.status / 100 == 2, "{r}");
    let r = api
        .post("transit/keys/signing", json!({"type": "ed25519"}))
        .await;
    assert!(r.status / 100 == 2, "{r}");
    let base = server.base.clone();

    let set = ok(
        &base,
        &root,
        &[
            "rotate",
            "set",
            "transit/keys/signing",
            "--preset",
            "jwt-signing",
        ],
    );
    assert!(set.contains("rotates every 2592000s"), "{set}");
    let refused = run(
        &base,
        &root,
        &[
            "rotate",
            "set",
            "transit/keys/signing",
            "--period",
            "1d",
            "--grace",
            "1h",
        ],
    );
    assert_ne!(refused.code, 0, "a grace was accepted");
    let calendar = ok(&base, &root, &["rotate", "calendar", "--within", "31d"]);
    assert!(calendar.contains("transit/keys/signing"), "{calendar}");
    // Not due: `run` says so and changes nothing; --force rotates now.
    let skipped = ok(&base, &root, &["rotate", "run", "transit/keys/signing"]);
    assert!(skipped.contains("not due"), "{skipped}");
    let forced = json_of(
        &base,
        &root,
        &["rotate", "run", "--force", "transit/keys/signing"],
    );
    assert_eq!(forced[0]["version"], 2, "{forced}");
    let back = json_of(
        &base,
        &root,
        &["rotate", "rollback", "transit/keys/signing"],
    );
    assert_eq!(back["data"]["restored_version"], 1, "{back}");
    assert_eq!(back["data"]["version"], 3, "{back}");
    let promote = run(&base, &root, &["rotate", "promote", "transit/keys/signing"]);
    assert_ne!(promote.code, 0, "a transit key has nothing to promote");
    let bad = run(
        &base,
        &root,
        &["rotate", "rollback", "transit/sign/signing"],
    );
    assert_ne!(bad.code, 0, "not a key path");
    ok(&base, &root, &["rotate", "unset", "transit/keys/signing"]);
    let calendar = ok(&base, &root, &["rotate", "calendar", "--within", "90d"]);
    assert!(!calendar.contains("transit/keys/signing"), "{calendar}");
}
