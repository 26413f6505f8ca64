//! Several server processes on the machine's PostgreSQL (`COFFRE_TEST_POSTGRES_URL`): the
//! storage table, starting nodes with `[ha]`, initializing through any of them, and removing
//! a test's schema.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Body, InitResult, Server, unseal_ok};

/// The `[storage]` table of a node in `schema`.
pub fn pg_storage(url: &str, schema: &str) -> String {
    format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\n\
         connect_timeout = \"2s\"\npool_size = 8\n"
    )
}

/// Starts `count` nodes named `node-0`… on `schema`, initializes the storage through the first
/// (a standby sends it to the active node once one is elected) with one share, and unseals
/// every node on its own.
pub async fn start_ha_nodes(
    work: &Path,
    url: &str,
    schema: &str,
    count: usize,
) -> (Vec<Server>, InitResult) {
    start_ha_nodes_with(work, url, schema, count, "").await
}

/// [`start_ha_nodes`] with more lines in each node's `[ha]` table.
pub async fn start_ha_nodes_with(
    work: &Path,
    url: &str,
    schema: &str,
    count: usize,
    ha_extra: &str,
) -> (Vec<Server>, InitResult) {
    let mut nodes = Vec::new();
    for i in 0..count {
        let ha = format!("[ha]\nenabled = true\nnode_id = \"node-{i}\"\n{ha_extra}");
        nodes.push(Server::start_on(work, &pg_storage(url, schema), &ha).await);
    }
    let start = Instant::now();
    let r = loop {
        let r = nodes[0]
            .api()
            .put(
                "sys/init",
                json!({"secret_shares": 1, "secret_threshold": 1}),
            )
            .await;
        if r.status == 200 {
            break r;
        }
        assert_eq!(r.status, 503, "init: {r}");
        assert!(start.elapsed() < Duration::from_secs(10), "init: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ir = InitResult {
        keys: vec![r.json["keys"][0].as_str().expect("key").to_string()],
        keys_base64: Vec::new(),
        root_token: r.json["root_token"].as_str().expect("root").to_string(),
    };
    for n in &nodes {
        unseal_ok(&n.api(), &ir.keys).await;
    }
    (nodes, ir)
}

/// Drops a test's schema.
pub async fn drop_pg_schema(url: &str, schema: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .expect("drop schema");
}

pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("COFFRE_TEST_POSTGRES_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            eprintln!("SKIPPED {test}: COFFRE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// The health status code of a node (0 when it does not answer).
pub async fn health(server: &Server) -> u16 {
    server
        .api()
        .try_request("GET", "sys/health", Body::None, &[])
        .await
        .map_or(0, |r| r.status)
}

/// Waits until exactly one of `nodes` (the indexes given) is active; returns it.
pub async fn active_among(nodes: &[Server], among: &[usize], limit: Duration) -> usize {
    let start = Instant::now();
    loop {
        let mut active = Vec::new();
        for &i in among {
            if health(&nodes[i]).await == 200 {
                active.push(i);
            }
        }
        if active.len() == 1 {
            return active[0];
        }
        assert!(active.len() <= 1, "two active nodes at once: {active:?}");
        assert!(
            start.elapsed() < limit,
            "no active node within {limit:?}; logs:\n{}",
            among
                .iter()
                .map(|&i| nodes[i].log())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `node` names `active` as the active node (standbys read who leads every
/// 500 ms; until then they answer 503 to what they would send on).
pub async fn until_leader_known(node: &Server, active: &Server) {
    let start = Instant::now();
    loop {
        let r = node.api().get("sys/leader").await;
        if r.json["leader_address"] == active.api().base.as_str() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "leader not known: {r}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
