//! `scheduler` (issue 14): the job runner with many KV v2 secrets under rotation policies.
//!
//! In process, on `coffre-core` with the embedded (redb) store in a temp dir and a manual
//! clock: the clock makes "k secrets are due" exact, and what is measured is the runner's
//! pass itself, not HTTP. For each population N (e.g. 1,000 / 10,000 / 100,000 secrets, each
//! with a 30-day policy, of which `due` have a 1-day one):
//!
//! 1. **Find what is due, nothing due**: a pass one hour after the writes, when no job wakes
//!    (the time to learn that nothing is due: one range read per namespace).
//! 2. **k due**: the clock moves one day; the pass rotates exactly the `due` secrets (each a
//!    generated value, an audited durable write).
//! 3. **KV throughput while passes run**: KV v2 reads and durable writes by 16 tasks for 3 s
//!    each, alone (before and after, averaged) and while the runner rotates without pause
//!    (the clock moves a day per pass, so the `due` secrets are due again each time); printed
//!    as a ratio (1.00x = unchanged). Flat out ("rotating", as `Core::run_jobs`) is the worst
//!    case; "paced" is how the server's background task runs passes (jobs take at most a
//!    quarter of the wall time). A real scheduler rotates a day's due secrets once, not
//!    continuously.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use coffre_core::{Core, CoreConfig, ManualClock, Operation, Pace, Request};
use serde_json::{Map, Value, json};

const WRITERS: usize = 64;
const KV_TASKS: usize = 16;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn call(core: &Core, token: &str, op: Operation, path: &str, data: Value) -> Result<()> {
    core.handle(
        Request::new(op, path)
            .with_token(token)
            .with_data(obj(data)),
    )
    .await
    .with_context(|| path.to_string())?;
    Ok(())
}

/// A core on a fresh embedded store, unsealed, with KV v2 at `secret/`.
async fn fresh(dir: &std::path::Path, clock: &Arc<ManualClock>) -> Result<(Core, String)> {
    let store_dir = dir.to_path_buf();
    let backend =
        tokio::task::spawn_blocking(move || coffre_storage::RedbBackend::open(&store_dir))
            .await??;
    let core = Core::new(
        Arc::new(backend),
        CoreConfig {
            clock: clock.clone(),
            quiet_without_audit: true,
            ..CoreConfig::default()
        },
    );
    let (_share, root) = core.dev_init(None).await?;
    call(
        &core,
        &root,
        Operation::Update,
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await?;
    Ok((core, root))
}

/// Writes `n` secrets with a policy each (the first `due` with a 1-day period), 64 at a time.
async fn populate(core: &Arc<Core>, root: &str, n: usize, due: usize) -> Result<Duration> {
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (core, root, next) = (core.clone(), root.to_string(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let period = if i < due { "1d" } else { "30d" };
                call(
                    &core,
                    &root,
                    Operation::Update,
                    &format!("secret/data/s/{i:06}"),
                    json!({"data": {"value": "v"}}),
                )
                .await?;
                call(
                    &core,
                    &root,
                    Operation::Update,
                    &format!("secret/metadata/s/{i:06}"),
                    json!({"rotation": {"period": period, "generator": "uuid"}}),
                )
                .await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

/// KV v2 operations per second by 16 tasks for `secs` (reads of existing secrets, or durable
/// writes of new ones), optionally while `during` runs.
async fn kv_rate(core: &Arc<Core>, root: &str, write: bool, secs: f64, tag: &str) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..KV_TASKS {
        let (core, root, stop, done) = (core.clone(), root.to_string(), stop.clone(), done.clone());
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = if write {
                    call(
                        &core,
                        &root,
                        Operation::Update,
                        &format!("secret/data/w/{tag}/{t}/{i}"),
                        json!({"data": {"v": "x"}}),
                    )
                    .await
                } else {
                    call(
                        &core,
                        &root,
                        Operation::Read,
                        &format!("secret/data/s/{:06}", (i * 7919 + t as u64) % 1000),
                        json!({}),
                    )
                    .await
                };
                r?;
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Runs the suite for each population in `sizes`, with `due` secrets due per pass.
/// KV read and write rates while passes keep rotating (each pass moves the clock a day, so
/// the 1-day secrets are due again), and how many rotations ran meanwhile.
async fn while_rotating(
    core: &Arc<Core>,
    clock: &Arc<ManualClock>,
    root: &str,
    secs: f64,
    pace: Pace,
    tag: &str,
) -> Result<(f64, f64, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (core, clock, stop) = (core.clone(), clock.clone(), stop.clone());
        tokio::spawn(async move {
            let mut total = 0;
            while !stop.load(Ordering::Relaxed) {
                clock.advance_secs(86_400);
                total += core.run_jobs_with(pace).await?.succeeded;
            }
            Ok::<usize, anyhow::Error>(total)
        })
    };
    let read = kv_rate(core, root, false, secs, &format!("{tag}r")).await?;
    let write = kv_rate(core, root, true, secs, &format!("{tag}w")).await?;
    stop.store(true, Ordering::Relaxed);
    let rotated = runner.await??;
    Ok((read, write, rotated))
}

pub async fn scheduler(sizes: &[usize], due: usize) -> Result<Value> {
    let mut rows = Vec::new();
    println!("## scheduler (embedded store, in process, manual clock; {due} secrets due per pass)");
    println!(
        "{:>9} {:>11} {:>15} {:>12} {:>11} {:>13} {:>13} {:>13} {:>13} {:>13} {:>13}",
        "secrets",
        "populate s",
        "pass none due",
        "pass k due",
        "per rotated",
        "read ticking",
        "write ticking",
        "read rotating",
        "write rotating",
        "read paced",
        "write paced"
    );
    for &n in sizes {
        if due > n {
            bail!("--due must be at most every population");
        }
        let dir = tempfile::tempdir()?;
        let clock = ManualClock::at(1_900_000_000);
        let (core, root) = fresh(dir.path(), &clock).await?;
        let core = Arc::new(core);
        let populate = populate(&core, &root, n, due).await?;

        // 1. Nothing due: one hour later.
        clock.advance_secs(3_600);
        let mut idle = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let r = core.run_jobs().await?;
            idle.push(t.elapsed());
            if r.succeeded + r.failed > 1 {
                bail!("nothing should be due, yet {r:?} ran");
            }
        }
        idle.sort();
        let idle_median = idle[idle.len() / 2];

        // 2. k due: the 1-day secrets come due together; one pass rotates them (at most 1,000
        //    per namespace per pass), timed per rotated secret.
        clock.advance_secs(86_400);
        let t = Instant::now();
        let r = core.run_jobs().await?;
        let busy = t.elapsed();
        let rotated = r.succeeded.saturating_sub(1); // the token tidy is one of them
        if rotated == 0 {
            bail!("no rotation happened ({r:?})");
        }

        // 3. KV throughput alone, then while passes keep rotating (the runner moves the clock
        //    a day and rotates the 1-day secrets again, over and over), then alone again.
        let secs = 3.0;
        let read_before = kv_rate(&core, &root, false, secs, "a").await?;
        let write_before = kv_rate(&core, &root, true, secs, "b").await?;
        let (read_during, write_during, rotated_during) =
            while_rotating(&core, &clock, &root, secs, Pace::FlatOut, "c").await?;
        // The same with passes paced as the background task runs them.
        let (read_paced, write_paced, rotated_paced) =
            while_rotating(&core, &clock, &root, secs, Pace::Paced, "p").await?;
        let read_after = kv_rate(&core, &root, false, secs, "e").await?;
        let write_after = kv_rate(&core, &root, true, secs, "f").await?;
        // The usual case: the runner ticks (here every 10 ms, not every second) and finds
        // nothing due.
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (core, stop) = (core.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    core.run_jobs().await?;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok::<(), anyhow::Error>(())
            })
        };
        let read_ticking = kv_rate(&core, &root, false, secs, "g").await?;
        let write_ticking = kv_rate(&core, &root, true, secs, "h").await?;
        stop.store(true, Ordering::Relaxed);
        ticker.await??;
        let read_alone = (read_before + read_after) / 2.0;
        let write_alone = (write_before + write_after) / 2.0;

        println!(
            "{:>9} {:>11.1} {:>12.3} ms {:>9.1} ms {:>8.3} ms {:>12.2}x {:>12.2}x {:>12.2}x {:>12.2}x {:>12.2}x {:>12.2}x",
            n,
            populate.as_secs_f64(),
            idle_median.as_secs_f64() * 1e3,
            busy.as_secs_f64() * 1e3,
            busy.as_secs_f64() * 1e3 / rotated as f64,
            read_ticking / read_alone,
            write_ticking / write_alone,
            read_during / read_alone,
            write_during / write_alone,
            read_paced / read_alone,
            write_paced / write_alone,
        );
        rows.push(json!({
            "secrets": n,
            "populate_secs": populate.as_secs_f64(),
            "pass_nothing_due_ms": idle_median.as_secs_f64() * 1e3,
            "pass_rotating_ms": busy.as_secs_f64() * 1e3,
            "rotated_in_pass": rotated,
            "ms_per_rotation": busy.as_secs_f64() * 1e3 / rotated as f64,
            "kv_read_per_sec_alone": read_alone,
            "kv_read_per_sec_during_pass": read_during,
            "kv_write_per_sec_alone": write_alone,
            "kv_write_per_sec_during_pass": write_during,
            "kv_read_per_sec_ticking": read_ticking,
            "kv_write_per_sec_ticking": write_ticking,
            "rotated_while_measuring": rotated_during,
            "kv_read_per_sec_during_paced_pass": read_paced,
            "kv_write_per_sec_during_paced_pass": write_paced,
            "rotated_while_measuring_paced": rotated_paced,
        }));
        core.shutdown().await;
    }
    println!();
    Ok(json!({ "results": rows, "due_per_pass": due }))
}
