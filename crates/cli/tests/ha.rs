//! Three coffre nodes on the machine's PostgreSQL (`COFFRE_TEST_POSTGRES_URL`; SKIPPED
//! without it), each a real server process on its own loopback port:
//!
//! * one is active, the others standbys (health 200 / 429, `sys/leader`, `sys/ha-status`);
//! * a standby serves reads itself and forwards writes to the active node;
//! * a token revoked and a policy changed on one node hold on the others within 1 s;
//! * kill -9 of the active node under 32 writers and 8 readers on the standbys: a standby
//!   takes over within 5 s, no read fails, writes fail only with 503, and every acknowledged
//!   write is there afterwards.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::ha_fx::*;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_active_standbys_read_forward_writes_and_take_over() {
    let Some(url) = pg_url("three_nodes_one_active_standbys_read_forward_writes_and_take_over")
    else {
        return;
    };
    let schema = format!("coffre_ha_{}", std::process::id());
    let work = tempfile::tempdir().expect("tempdir");
    let (mut nodes, ir) = start_ha_nodes(work.path(), &url, &schema, 3).await;
    let active = active_among(&nodes, &[0, 1, 2], Duration::from_secs(5)).await;
    let standbys: Vec<usize> = (0..3).filter(|&i| i != active).collect();
    let apis: Vec<Api> = nodes
        .iter()
        .map(|n| n.api().with_token(&ir.root_token))
        .collect();
    let root = |i: usize| apis[i].clone();

    // Roles as Vault reports them.
    for &s in &standbys {
        until_leader_known(&nodes[s], &nodes[active]).await;
        assert_eq!(health(&nodes[s]).await, 429, "a standby's health");
        let ok = nodes[s].api().get("sys/health?standbyok=true").await;
        assert_eq!(ok.status, 200, "{ok}");
        assert_eq!(ok.json["standby"], true);
        let leader = nodes[s].api().get("sys/leader").await;
        assert_eq!(leader.json["ha_enabled"], true, "{leader}");
        assert_eq!(leader.json["is_self"], false);
        assert_eq!(
            leader.json["leader_address"],
            nodes[active].api().base,
            "{leader}"
        );
    }
    let leader = nodes[active].api().get("sys/leader").await;
    assert_eq!(leader.json["is_self"], true, "{leader}");
    let members = root(standbys[0]).get("sys/ha-status").await;
    assert_eq!(members.status, 200, "{members}");
    let listed = members.json["nodes"].as_array().expect("nodes").clone();
    assert_eq!(listed.len(), 3, "{members}");
    let actives: Vec<_> = listed.iter().filter(|n| n["active_node"] == true).collect();
    assert_eq!(actives.len(), 1, "{members}");
    assert_eq!(actives[0]["hostname"], format!("node-{active}"));

    // `coffre operator members` on a standby: three nodes, the active one marked.
    let out = common::dev::coffre_env(
        &nodes[standbys[0]].api().base,
        &["operator", "members"],
        b"",
        &[("COFFRE_TOKEN", ir.root_token.as_str())],
    );
    let text = out.ok("operator members");
    assert!(text.starts_with("Host Name"), "{text}");
    let active_line = text
        .lines()
        .find(|l| l.starts_with(&format!("node-{active} ")))
        .unwrap_or_else(|| panic!("node-{active} listed: {text}"));
    assert!(active_line.contains(" true "), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" false ")).count(),
        2,
        "{text}"
    );

    // A write sent to a standby is forwarded; the standby reads it back itself.
    let s0 = standbys[0];
    let r = root(s0)
        .post(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert!(r.status / 100 == 2, "mount through a standby: {r}");
    let r = root(s0)
        .post("secret/data/seed", json!({"data": {"v": "seed"}}))
        .await;
    assert_eq!(r.status, 200, "{r}");
    let start = Instant::now();
    loop {
        let r = root(standbys[1]).get("secret/data/seed").await;
        if r.status == 200 {
            assert_eq!(r.json["data"]["data"]["v"], "seed");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "seed on the other standby: {r}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A revoked token and a narrowed policy hold on a standby within 1 s.
    let r = root(active)
        .put(
            "sys/policies/acl/reader",
            json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"}),
        )
        .await;
    assert!(r.status / 100 == 2, "{r}");
    let token = |policies: serde_json::Value| {
        let api = root(active);
        async move {
            let r = api
                .post("auth/token/create", json!({ "policies": policies }))
                .await;
            assert_eq!(r.status, 200, "{r}");
            r.json["auth"]["client_token"]
                .as_str()
                .expect("token")
                .to_string()
        }
    };
    let revoked = token(json!(["reader"])).await;
    let narrowed = token(json!(["reader"])).await;
    let reader = |t: &str| apis[standbys[1]].with_token(t);
    for t in [&revoked, &narrowed] {
        let r = reader(t).get("secret/data/seed").await;
        assert_eq!(r.status, 200, "the reader reads on the standby: {r}");
    }
    let r = root(active)
        .post("auth/token/revoke", json!({ "token": revoked }))
        .await;
    assert_eq!(r.status, 204, "{r}");
    let took = until_status(&reader(&revoked), "secret/data/seed", 403).await;
    eprintln!("revocation held on a standby after {took:?}");
    assert!(took < Duration::from_secs(1), "revocation took {took:?}");
    let r = root(active)
        .put(
            "sys/policies/acl/reader",
            json!({"policy": "path \"other/*\" { capabilities = [\"read\"] }"}),
        )
        .await;
    assert!(r.status / 100 == 2, "{r}");
    let took = until_status(&reader(&narrowed), "secret/data/seed", 403).await;
    eprintln!("policy change held on a standby after {took:?}");
    assert!(took < Duration::from_secs(1), "policy change took {took:?}");

    // kill -9 of the active node under load.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let write_failures = Arc::new(std::sync::Mutex::new(Vec::<u16>::new()));
    let reads = Arc::new(AtomicUsize::new(0));
    let read_failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for w in 0..32 {
        let api = root(standbys[w % 2]);
        let (stop, acked, failures) = (stop.clone(), acked.clone(), write_failures.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("w{w}-{n}");
                n += 1;
                let body = json!({"data": {"v": key}});
                match api
                    .try_request("POST", &format!("secret/data/{key}"), Body::Json(body), &[])
                    .await
                {
                    Ok(r) if r.status == 200 => acked.lock().expect("lock").push(key),
                    Ok(r) => failures.lock().expect("lock").push(r.status),
                    Err(_) => failures.lock().expect("lock").push(0),
                }
            }
        }));
    }
    for r in 0..8 {
        let api = root(standbys[r % 2]);
        let (stop, reads, failures) = (stop.clone(), reads.clone(), read_failures.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match api
                    .try_request("GET", "secret/data/seed", Body::None, &[])
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures
                        .lock()
                        .expect("lock")
                        .push(format!("{} {}", r.status, r.text)),
                    Err(e) => failures.lock().expect("lock").push(e.to_string()),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_kill = acked.lock().expect("lock").len();
    nodes[active].kill();
    let killed_at = Instant::now();
    let new_active = active_among(&nodes, &standbys, Duration::from_secs(5)).await;
    let takeover = killed_at.elapsed();
    // Writes go on through the new active node.
    let at_takeover = acked.lock().expect("lock").len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("task");
    }
    let acked = acked.lock().expect("lock").clone();
    let write_failures = write_failures.lock().expect("lock").clone();
    eprintln!(
        "takeover by node-{new_active} after {takeover:?}; writes acknowledged: {} ({before_kill} \
         before the kill, {} after the takeover), refused: {}; reads: {}",
        acked.len(),
        acked.len() - at_takeover,
        write_failures.len(),
        reads.load(Ordering::Relaxed)
    );
    assert!(
        takeover < Duration::from_secs(5),
        "takeover took {takeover:?}"
    );
    assert!(
        acked.len() > at_takeover,
        "writes resumed after the takeover"
    );
    assert_eq!(
        *read_failures.lock().expect("lock"),
        Vec::<String>::new(),
        "reads on the standbys failed"
    );
    assert!(
        write_failures.iter().all(|s| *s == 503),
        "writes failed otherwise than with 503: {write_failures:?}"
    );
    // Every acknowledged write is there.
    let check = root(new_active);
    for key in &acked {
        let r = check.get(&format!("secret/data/{key}")).await;
        assert_eq!(
            r.json["data"]["data"]["v"],
            key.as_str(),
            "acknowledged {key}: {r}"
        );
    }
    // A sealed node cannot serve: it gives the leadership up to the node left.
    let r = check.put_empty("sys/seal").await;
    assert_eq!(r.status, 204, "{r}");
    let last = standbys
        .iter()
        .copied()
        .find(|&i| i != new_active)
        .expect("one left");
    let sealed_at = Instant::now();
    assert_eq!(
        active_among(&nodes, &[last], Duration::from_secs(5)).await,
        last
    );
    eprintln!(
        "the sealed node gave the leadership up after {:?}",
        sealed_at.elapsed()
    );
    assert_eq!(health(&nodes[new_active]).await, 503, "the sealed node");
    let r = root(new_active).get("secret/data/seed").await;
    assert_eq!(r.status, 503, "{r}");
    let r = root(last)
        .post("secret/data/after-seal", json!({"data": {"v": 1}}))
        .await;
    assert_eq!(r.status, 200, "{r}");
    drop(nodes);
    drop_pg_schema(&url, &schema).await;
}

/// Polls `path` until it answers `status`; returns how long that took (panics after 5 s).
async fn until_status(api: &Api, path: &str, status: u16) -> Duration {
    let start = Instant::now();
    loop {
        let r = api.get(path).await;
        if r.status == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{path}: still {r}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
