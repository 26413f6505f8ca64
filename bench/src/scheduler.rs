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
//! 3. **KV throughput while passes run**: KV v2 reads and durable writes by 16 tasks, while
//!    the runner ticks with nothing due, and while it rotates without pause (the clock moves
//!    a day per pass, so the `due` secrets are due again each time); each against the load
//!    alone, in five alternating 1 s trials, printed as the median ratio (1.00x = unchanged). Flat out ("rotating", as `Core::run_jobs`) is the worst
//!    case; "paced" is how the server's background task runs passes (jobs take at most a
//!    tenth of the wall time). A real scheduler rotates a day's due secrets once, not
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
pub(crate) async fn fresh(
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
) -> Result<(Core, String)> {
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
pub(crate) async fn populate(
    core: &Arc<Core>,
    root: &str,
    n: usize,
    due: usize,
) -> Result<Duration> {
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
pub(crate) async fn kv_rate(
    core: &Arc<Core>,
    root: &str,
    write: bool,
    secs: f64,
    tag: &str,
) -> Result<f64> {
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
/// What the runner does while KV throughput is measured.
#[derive(Clone, Copy)]
enum Background {
    /// Nothing: the load alone.
    Idle,
    /// Passes every 10 ms (not every second) that find nothing due: the usual case.
    Ticking,
    /// Passes that keep rotating (each moves the clock a day, so the 1-day secrets are due
    /// again), with `pace`.
    Rotating(Pace),
}

/// The KV rate (reads or durable writes) for `secs` while `background` runs, and how many
/// rotations ran meanwhile.
async fn rate_with(
    core: &Arc<Core>,
    clock: &Arc<ManualClock>,
    root: &str,
    write: bool,
    secs: f64,
    background: Background,
    tag: &str,
) -> Result<(f64, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (core, clock, stop) = (core.clone(), clock.clone(), stop.clone());
        tokio::spawn(async move {
            let mut total = 0;
            while !stop.load(Ordering::Relaxed) {
                match background {
                    Background::Idle => tokio::time::sleep(Duration::from_millis(10)).await,
                    Background::Ticking => {
                        core.run_jobs().await?;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Background::Rotating(pace) => {
                        clock.advance_secs(86_400);
                        total += core.run_jobs_with(pace).await?.succeeded;
                    }
                }
            }
            Ok::<usize, anyhow::Error>(total)
        })
    };
    let rate = kv_rate(core, root, write, secs, tag).await;
    stop.store(true, Ordering::Relaxed);
    let rotated = runner.await??;
    Ok((rate?, rotated))
}

/// Trials of each KV measurement; each trial measures the load alone and with the runner
/// busy back to back, so the machine's drift (tens of percent between minutes here) hits
/// both alike, and the ratio reported is the median over the trials.
const TRIALS: usize = 5;
/// Seconds of each measurement in a trial.
const TRIAL_SECS: f64 = 1.0;

/// The median over [`TRIALS`] of (KV rate with `background`) / (KV rate alone), the median
/// rate alone, and the rotations that ran.
async fn ratio_to_alone(
    core: &Arc<Core>,
    clock: &Arc<ManualClock>,
    root: &str,
    write: bool,
    background: Background,
    tag: &str,
) -> Result<(f64, f64, usize)> {
    let mut ratios = Vec::new();
    let mut alone_rates = Vec::new();
    let mut rotated = 0;
    for trial in 0..TRIALS {
        let (alone, _) = rate_with(
            core,
            clock,
            root,
            write,
            TRIAL_SECS,
            Background::Idle,
            &format!("{tag}a{trial}"),
        )
        .await?;
        let (busy, n) = rate_with(
            core,
            clock,
            root,
            write,
            TRIAL_SECS,
            background,
            &format!("{tag}b{trial}"),
        )
        .await?;
        rotated += n;
        ratios.push(busy / alone);
        alone_rates.push(alone);
    }
    Ok((median(&mut ratios), median(&mut alone_rates), rotated))
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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

        // 3. KV throughput with the runner ticking, rotating flat out and rotating paced,
        //    each against the load alone in alternating trials.
        let mut ratios = Vec::new();
        let mut alone = [0.0; 2];
        let mut rotated_during = [0usize; 2];
        for (i, background) in [
            Background::Ticking,
            Background::Rotating(Pace::FlatOut),
            Background::Rotating(Pace::Paced),
        ]
        .into_iter()
        .enumerate()
        {
            for write in [false, true] {
                let tag = format!("{i}{}", u8::from(write));
                let (ratio, rate_alone, rotated) =
                    ratio_to_alone(&core, &clock, &root, write, background, &tag).await?;
                ratios.push(ratio);
                alone[usize::from(write)] = rate_alone;
                if i > 0 {
                    rotated_during[i - 1] += rotated;
                }
            }
        }
        let [
            read_ticking,
            write_ticking,
            read_during,
            write_during,
            read_paced,
            write_paced,
        ] = ratios[..]
        else {
            bail!("six ratios expected");
        };
        let [read_alone, write_alone] = alone;
        let [rotated_during, rotated_paced] = rotated_during;

        println!(
            "{:>9} {:>11.1} {:>12.3} ms {:>9.1} ms {:>8.3} ms {:>12.2}x {:>12.2}x {:>12.2}x {:>12.2}x {:>12.2}x {:>12.2}x",
            n,
            populate.as_secs_f64(),
            idle_median.as_secs_f64() * 1e3,
            busy.as_secs_f64() * 1e3,
            busy.as_secs_f64() * 1e3 / rotated as f64,
            read_ticking,
            write_ticking,
            read_during,
            write_during,
            read_paced,
            write_paced,
        );
        rows.push(json!({
            "secrets": n,
            "populate_secs": populate.as_secs_f64(),
            "pass_nothing_due_ms": idle_median.as_secs_f64() * 1e3,
            "pass_rotating_ms": busy.as_secs_f64() * 1e3,
            "rotated_in_pass": rotated,
            "ms_per_rotation": busy.as_secs_f64() * 1e3 / rotated as f64,
            "trials": TRIALS,
            "trial_secs": TRIAL_SECS,
            "kv_read_per_sec_alone_median": read_alone,
            "kv_write_per_sec_alone_median": write_alone,
            "kv_read_ratio_ticking": read_ticking,
            "kv_write_ratio_ticking": write_ticking,
            "kv_read_ratio_rotating_flat_out": read_during,
            "kv_write_ratio_rotating_flat_out": write_during,
            "kv_read_ratio_rotating_paced": read_paced,
            "kv_write_ratio_rotating_paced": write_paced,
            "rotated_while_measuring_flat_out": rotated_during,
            "rotated_while_measuring_paced": rotated_paced,
        }));
        core.shutdown().await;
    }
    println!();
    Ok(json!({ "results": rows, "due_per_pass": due }))
}
