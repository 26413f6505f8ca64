//! PostgreSQL itself restarted (its own command, `COFFRE_TEST_POSTGRES_RESTART`; SKIPPED
//! without it) under load on two coffre nodes: requests fail with 503 during the outage (the
//! reason shown), the nodes recover by themselves within 10 s of the database's return (no
//! restart of coffre), a node is active again, and no acknowledged write is lost.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ha_fx::*;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_recovers_from_a_postgres_restart_without_losing_an_acknowledged_write() {
    let (Ok(url), Ok(restart)) = (
        std::env::var("COFFRE_TEST_POSTGRES_URL"),
        std::env::var("COFFRE_TEST_POSTGRES_RESTART"),
    ) else {
        eprintln!(
            "SKIPPED the_cluster_recovers_from_a_postgres_restart: COFFRE_TEST_POSTGRES_URL or \
             COFFRE_TEST_POSTGRES_RESTART is not set"
        );
        return;
    };
    let schema = format!("coffre_har_{}", std::process::id());
    let work = tempfile::tempdir().expect("tempdir");
    let (nodes, ir) = start_ha_nodes(work.path(), &url, &schema, 2).await;
    let root = ir.root_token.clone();
    let apis: Vec<Api> = nodes.iter().map(|n| n.api().with_token(&root)).collect();
    let r = apis[0]
        .post(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert!(r.status / 100 == 2, "{r}");

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(Mutex::new(Vec::<(u16, String)>::new()));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let api = apis[w % 2].clone();
        let (stop, acked, failures) = (stop.clone(), acked.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("w{w}-{n}");
                n += 1;
                let body = Body::Json(json!({"data": {"v": key}}));
                match api
                    .try_request("POST", &format!("secret/data/{key}"), body, &[])
                    .await
                {
                    Ok(r) if r.status == 200 => acked.lock().expect("lock").push(key),
                    Ok(r) => failures.lock().expect("lock").push((r.status, r.text)),
                    Err(e) => failures.lock().expect("lock").push((0, e.to_string())),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&restart)
        .status()
        .expect("restart PostgreSQL");
    assert!(status.success(), "{restart}: {status}");
    let back = Instant::now();
    // Recovery: within 10 s of the database's return, writes through either node succeed.
    let mut recovered = [None, None];
    while recovered.iter().any(Option::is_none) {
        for (i, api) in apis.iter().enumerate() {
            if recovered[i].is_none()
                && let Ok(r) = api
                    .try_request(
                        "POST",
                        &format!("secret/data/probe-{i}"),
                        Body::Json(json!({"data": {"v": 1}})),
                        &[],
                    )
                    .await
                && r.status == 200
            {
                recovered[i] = Some(back.elapsed());
            }
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not recovered 10 s after PostgreSQL came back: {recovered:?}; logs:\n{}\n----\n{}",
            nodes[0].log(),
            nodes[1].log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("task");
    }
    let acked = acked.lock().expect("lock").clone();
    let failures = failures.lock().expect("lock").clone();
    eprintln!(
        "recovered after the restart: {recovered:?}; writes acknowledged {}, refused {}",
        acked.len(),
        failures.len()
    );
    assert!(
        failures.iter().all(|(s, _)| *s == 503),
        "failures other than 503: {failures:?}"
    );
    for (_, text) in &failures {
        assert!(
            text.contains("unavailable")
                || text.contains("standby")
                || text.contains("active node"),
            "a 503 says why: {text}"
        );
    }
    for key in &acked {
        let r = apis[0].get(&format!("secret/data/{key}")).await;
        assert_eq!(
            r.json["data"]["data"]["v"],
            key.as_str(),
            "acknowledged {key}: {r}"
        );
    }
    drop(nodes);
    drop_pg_schema(&url, &schema).await;
}
