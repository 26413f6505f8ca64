//! The server on the PostgreSQL storage backend (`COFFRE_TEST_POSTGRES_URL`; SKIPPED without
//! it): init, unseal, writes acknowledged before a SIGKILL are there after a restart, and a
//! wrong URL at start is a one-line error and a non-zero exit.

mod common;

use common::*;
use serde_json::json;

fn storage(url: &str, schema: &str) -> String {
    format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\nconnect_timeout = \"5s\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    let Ok(url) = std::env::var("COFFRE_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED acknowledged_writes_survive_sigkill_on_postgres: COFFRE_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let schema = format!("coffre_srv_{}", std::process::id());
    let work = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start_on(work.path(), &storage(&url, &schema), "").await;
    let status = server.api().get("sys/seal-status").await;
    assert_eq!(status.json["storage_type"], "postgresql", "{status}");
    let ir = init(&server.api(), 1, 1).await;
    unseal_ok(&server.api(), &ir.keys).await;
    let api = server.api().with_token(&ir.root_token);
    let r = api
        .post(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert!(r.status / 100 == 2, "{r}");
    for i in 0..50 {
        let r = api
            .post(&format!("secret/data/k{i}"), json!({"data": {"v": i}}))
            .await;
        assert_eq!(r.status, 200, "{r}");
    }
    server.kill();

    let server = Server::start_on(work.path(), &storage(&url, &schema), "").await;
    unseal_ok(&server.api(), &ir.keys).await;
    let api = server.api().with_token(&ir.root_token);
    for i in 0..50 {
        let r = api.get(&format!("secret/data/k{i}")).await;
        assert_eq!(r.json["data"]["data"]["v"], i, "k{i} after the kill: {r}");
    }
    drop(server);
    // Clean up the test's schema.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .expect("drop schema");
}

#[test]
fn a_wrong_postgres_url_is_a_one_line_error() {
    let work = tempfile::tempdir().expect("tempdir");
    let config = work.path().join("coffre.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\n[storage]\nbackend = \"postgres\"\nurl = \"postgresql://nobody@127.0.0.1:1/none\"\nconnect_timeout = \"2s\"\n[tls]\ndisable = true\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffre"))
        .args(["server", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!out.status.success(), "started against nothing");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("opening the PostgreSQL storage") && stderr.contains("PostgreSQL"),
        "{stderr}"
    );
}
