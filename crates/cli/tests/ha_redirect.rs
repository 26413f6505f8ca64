//! `standby_writes = "redirect"` on two nodes on the machine's PostgreSQL
//! (`COFFRE_TEST_POSTGRES_URL`; SKIPPED without it). A binary of its own, so it does not
//! share the machine's two cores with the failover test of `ha.rs`.

mod common;

use std::time::{Duration, Instant};

use common::ha_fx::*;
use serde_json::json;

/// `standby_writes = "redirect"`: a standby answers a write with a 307 to the active node
/// (the same path), which a client that follows redirects completes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_can_redirect_writes_instead_of_forwarding_them() {
    let Some(url) = pg_url("a_standby_can_redirect_writes_instead_of_forwarding_them") else {
        return;
    };
    let schema = format!("coffre_hr_{}", std::process::id());
    let work = tempfile::tempdir().expect("tempdir");
    let (nodes, ir) = start_ha_nodes_with(
        work.path(),
        &url,
        &schema,
        2,
        "standby_writes = \"redirect\"\n",
    )
    .await;
    let active = active_among(&nodes, &[0, 1], Duration::from_secs(5)).await;
    let standby = 1 - active;
    until_leader_known(&nodes[standby], &nodes[active]).await;
    let r = nodes[active]
        .api()
        .with_token(&ir.root_token)
        .post(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert!(
        r.status / 100 == 2,
        "{r}\n{}\n----\n{}",
        nodes[0].log(),
        nodes[1].log()
    );
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = plain
        .post(format!(
            "{}/v1/secret/data/x?a=1",
            nodes[standby].api().base
        ))
        .header("X-Vault-Token", &ir.root_token)
        .json(&json!({"data": {"v": "1"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 307);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("{}/v1/secret/data/x?a=1", nodes[active].api().base).as_str())
    );
    // A client that follows it (as hvac and the Vault CLI do) writes through the active node.
    let follow = nodes[standby].api().with_token(&ir.root_token);
    let start = Instant::now();
    let r = loop {
        let r = follow
            .post("secret/data/x", json!({"data": {"v": "2"}}))
            .await;
        if r.status != 503 || start.elapsed() > Duration::from_secs(5) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(r.status, 200, "{r}");
    let r = nodes[active]
        .api()
        .with_token(&ir.root_token)
        .get("secret/data/x")
        .await;
    assert_eq!(r.json["data"]["data"]["v"], "2", "{r}");
    drop(nodes);
    drop_pg_schema(&url, &schema).await;
}
