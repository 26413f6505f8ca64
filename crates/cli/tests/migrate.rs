//! `coffre operator migrate` between the embedded store and the machine's PostgreSQL
//! (`COFFRE_TEST_POSTGRES_URL`; SKIPPED without it): a stopped server's data copied to
//! PostgreSQL opens there with the same unseal key, and copied back to a new embedded store
//! opens again; a non-empty destination and a bad spec are refused.

mod common;

use common::ha_fx::*;
use common::*;
use serde_json::json;

fn migrate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_coffre"))
        .args(["operator", "migrate"])
        .args(args)
        .output()
        .expect("run coffre")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_to_postgres_and_back_with_the_same_unseal_key() {
    let Ok(url) = std::env::var("COFFRE_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED embedded_to_postgres_and_back: COFFRE_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("coffre_mig_{}", std::process::id());
    let work = tempfile::tempdir().expect("tempdir");
    let first = work.path().join("first");
    let mut server = Server::start(work.path(), &first).await;
    let (ir, api) = init_unseal_mount(&server, 1, 1).await;
    for i in 0..300 {
        let r = api.put(&format!("kv1/k{i}"), json!({ "v": i })).await;
        assert!(r.status / 100 == 2, "{r}");
    }
    server.stop();

    // A bad spec, then the copy to PostgreSQL.
    let out = migrate(&["--from", "raft:/x", "--to", "embedded:/y"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected embedded:PATH"));
    let from = format!("embedded:{}", first.display());
    let to = format!("postgres:{url}");
    let out = migrate(&["--from", &from, "--to", &to, "--schema", &schema]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("Success! Copied "), "{stdout}");
    // Into a store that holds something: refused.
    let again = migrate(&["--from", &from, "--to", &to, "--schema", &schema]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let check = |server: &Server| {
        let api = server.api().with_token(&ir.root_token);
        async move {
            for i in [0, 150, 299] {
                let r = api.get(&format!("kv1/k{i}")).await;
                assert_eq!(r.json["data"]["v"], i, "{r}");
            }
        }
    };
    let mut on_pg = Server::start_on(work.path(), &pg_storage(&url, &schema), "").await;
    unseal_ok(&on_pg.api(), &ir.keys).await;
    check(&on_pg).await;
    let r = on_pg
        .api()
        .with_token(&ir.root_token)
        .put("kv1/new", json!({"v": "pg"}))
        .await;
    assert!(r.status / 100 == 2, "{r}");
    on_pg.stop();

    // And back, into a new embedded store.
    let second = work.path().join("second");
    let back = format!("embedded:{}", second.display());
    let out = migrate(&["--from", &to, "--to", &back, "--schema", &schema]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(work.path(), &second).await;
    unseal_ok(&server.api(), &ir.keys).await;
    check(&server).await;
    let r = server.api().with_token(&ir.root_token).get("kv1/new").await;
    assert_eq!(r.json["data"]["v"], "pg", "{r}");
    drop(server);
    drop_pg_schema(&url, &schema).await;
}
