//! Crash consistency: SIGKILL the server while 8 writers are in flight; every acknowledged write
//! must survive exactly, and a write that was in flight but not acknowledged is either absent or
//! exactly correct (never torn / garbled / unreadable).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const WRITERS: usize = 8;
const ROUNDS: usize = 3;
const READERS: usize = 8;

/// Deterministic value for write (i, n); sizes vary from ~30 B to ~2 KiB.
fn value_for(i: usize, n: u64) -> Value {
    let reps = 1 + ((n as usize).wrapping_mul(7) + i * 13) % 97;
    json!({
        "writer": i,
        "n": n,
        "pad": format!("<{i}:{n}>").repeat(reps),
        "tail": format!("end-{i}-{n}"),
    })
}

fn key_for(i: usize, n: u64) -> String {
    format!("kv1/w{i}/{n}")
}

#[derive(Default)]
struct WriterLog {
    acked: Vec<u64>,
    /// attempted but not acknowledged (the one in flight at the kill, plus any non-2xx)
    unacked: Vec<u64>,
    /// non-2xx answers while the server was alive (should not happen)
    bad_status: Vec<String>,
}

async fn writer(api: Api, i: usize, start_n: u64, stop: Arc<AtomicBool>) -> WriterLog {
    let mut log = WriterLog::default();
    let mut n = start_n;
    while !stop.load(Ordering::Relaxed) {
        let res = api
            .try_request("PUT", &key_for(i, n), Body::Json(value_for(i, n)), &[])
            .await;
        match res {
            Ok(r) if r.status / 100 == 2 => log.acked.push(n),
            Ok(r) => {
                log.unacked.push(n);
                log.bad_status.push(format!("PUT {} → {r}", key_for(i, n)));
            }
            Err(_) => {
                // server is gone (killed): this write was in flight
                log.unacked.push(n);
                break;
            }
        }
        n += 1;
    }
    log
}

/// Read back everything; returns failure descriptions.
async fn verify(
    root: &Api,
    acked: &BTreeMap<usize, BTreeSet<u64>>,
    unacked: &BTreeMap<usize, BTreeSet<u64>>,
) -> (Vec<String>, usize) {
    let mut work: Vec<(usize, u64, bool)> = Vec::new();
    for (&i, ns) in acked {
        work.extend(ns.iter().map(|&n| (i, n, true)));
    }
    for (&i, ns) in unacked {
        work.extend(ns.iter().map(|&n| (i, n, false)));
    }
    let unacked_present = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let chunk = work.len().div_ceil(READERS).max(1);
    let mut tasks = Vec::new();
    for part in work.chunks(chunk) {
        let part = part.to_vec();
        let api = Api::new(&root.base).with_token(root.token.as_deref().expect("token"));
        let present = unacked_present.clone();
        tasks.push(tokio::spawn(async move {
            let mut fails = Vec::new();
            for (i, n, was_acked) in part {
                let key = key_for(i, n);
                let r = api.get(&key).await;
                let want = value_for(i, n);
                match (was_acked, r.status) {
                    (_, 200) if r.json["data"] == want => {
                        if !was_acked {
                            present.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    (true, _) => fails.push(format!(
                        "acknowledged write GET /v1/{key}: expected 200 with exact value, got {r}"
                    )),
                    (false, 404) => {}
                    (false, _) => fails.push(format!(
                        "unacknowledged write GET /v1/{key}: expected 404 or the exact value, got {r}"
                    )),
                }
            }
            fails
        }));
    }
    let mut fails = Vec::new();
    for t in tasks {
        fails.extend(t.await.expect("verify task"));
    }

    // LIST each writer's folder: acked ⊆ listed ⊆ attempted (no phantom keys).
    for i in 0..WRITERS {
        let a = acked.get(&i).cloned().unwrap_or_default();
        let u = unacked.get(&i).cloned().unwrap_or_default();
        if a.is_empty() && u.is_empty() {
            continue;
        }
        let r = root.list(&format!("kv1/w{i}")).await;
        let listed: BTreeSet<u64> = r.json["data"]["keys"]
            .as_array()
            .map(|ks| ks.iter().filter_map(|k| k.as_str()?.parse().ok()).collect())
            .unwrap_or_default();
        let missing: Vec<_> = a.difference(&listed).take(5).collect();
        if !missing.is_empty() {
            fails.push(format!(
                "LIST /v1/kv1/w{i}: acknowledged keys missing from listing (first 5): {missing:?} (status {})",
                r.status
            ));
        }
        let phantom: Vec<_> = listed
            .iter()
            .filter(|n| !a.contains(n) && !u.contains(n))
            .take(5)
            .collect();
        if !phantom.is_empty() {
            fails.push(format!(
                "LIST /v1/kv1/w{i}: keys never written appear (first 5): {phantom:?}"
            ));
        }
    }
    (fails, unacked_present.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_writes_loses_no_acked_write() {
    let inst = Install::new();
    let mut acked: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    let mut unacked: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    let mut ir: Option<InitResult> = None;
    let mut failures: Vec<String> = Vec::new();

    for round in 0..=ROUNDS {
        let mut server = inst.start().await;
        let root = match &ir {
            None => {
                let (init_res, root) = init_unseal_mount(&server, 1, 1).await;
                ir = Some(init_res);
                root
            }
            Some(ir) => {
                let api = server.api();
                let st = api.seal_status().await;
                assert_eq!(
                    st["sealed"],
                    json!(true),
                    "round {round}: must come back sealed: {st}"
                );
                assert_eq!(
                    st["initialized"],
                    json!(true),
                    "round {round}: must come back initialized: {st}"
                );
                unseal_ok(&api, &[&ir.keys[0]]).await;
                api.with_token(&ir.root_token)
            }
        };

        // Everything acknowledged in earlier rounds must be intact.
        if round > 0 {
            let t = Instant::now();
            let (fails, present) = verify(&root, &acked, &unacked).await;
            let total_acked: usize = acked.values().map(BTreeSet::len).sum();
            let total_unacked: usize = unacked.values().map(BTreeSet::len).sum();
            eprintln!(
                "round {round}: verified {total_acked} acked writes ({} failures); \
                 {present}/{total_unacked} unacked in-flight writes were persisted; took {:?}",
                fails.len(),
                t.elapsed()
            );
            for f in fails.iter().take(20) {
                eprintln!("  FAIL: {f}");
            }
            failures.extend(
                fails
                    .into_iter()
                    .map(|f| format!("after crash {round}: {f}")),
            );
        }
        if round == ROUNDS {
            break;
        }

        // 8 concurrent writers, SIGKILL while they run.
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..WRITERS {
            let api = Api::new(&server.base).with_token(&ir.as_ref().expect("ir").root_token);
            let start_n = (round as u64) * 1_000_000;
            tasks.push(tokio::spawn(writer(api, i, start_n, stop.clone())));
        }
        let run_for = Duration::from_millis(1000 + 400 * round as u64);
        tokio::time::sleep(run_for).await;
        server.kill(); // SIGKILL
        let killed_at = Instant::now();
        let mut round_acked = 0usize;
        for (i, t) in tasks.into_iter().enumerate() {
            // Writers stop on their first transport error; guard against a hang anyway.
            let log = match tokio::time::timeout(Duration::from_secs(70), t).await {
                Ok(r) => r.expect("writer task"),
                Err(_) => {
                    stop.store(true, Ordering::Relaxed);
                    panic!("writer {i} did not finish after the server was killed");
                }
            };
            round_acked += log.acked.len();
            acked.entry(i).or_default().extend(log.acked);
            unacked.entry(i).or_default().extend(log.unacked);
            for b in log.bad_status.into_iter().take(5) {
                failures.push(format!("round {round}: non-2xx while server alive: {b}"));
            }
        }
        eprintln!(
            "round {round}: {round_acked} writes acknowledged in {run_for:?} by {WRITERS} writers \
             ({:.0}/s) before SIGKILL (writers drained {:?} after kill)",
            round_acked as f64 / run_for.as_secs_f64(),
            killed_at.elapsed()
        );
        if round_acked == 0 {
            failures.push(format!(
                "round {round}: no write was acknowledged at all; log:\n{}",
                server.log()
            ));
        }
    }

    if !failures.is_empty() {
        panic!(
            "{} crash-consistency failure(s) (first 30):\n  {}",
            failures.len(),
            failures
                .iter()
                .take(30)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}
