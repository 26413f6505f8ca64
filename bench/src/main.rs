//! coffre-bench: load scenarios against a real `coffre` server process.
//!
//! `cargo run --release -p coffre-bench -- <all|transit|kv-v1|kv-v2|audit-compare|kv-all>
//! [--duration-secs 5] [--binary target/release/coffre]`
//!
//! Modules:
//! - `pin`: CPU pinning (server on one core, this process on another).
//! - `server`: the server process (temp dir, config, start/restart, init/unseal), a reqwest
//!   setup client, and `/proc` readers (CPU ticks, RSS).
//! - `load`: the load generator (hyper `client::conn::http1`, one keep-alive connection per
//!   worker, closed loop) and its statistics.
//! - `scenarios`: the requests (health, KV v1/v2, transit) and the server setups.
//! - `suites`: the shared scenario runner and the KV suites (kv-v1, kv-v2, audit-compare,
//!   kv-all).
//! - `perf`: `all` (issue 6: table, audit off/on, memory, targets) and `transit` (issue 4).
//! - `memory`: RSS and unseal-to-ready with N secrets.
//! - `report`: tables and JSON.

// The bench is a client: it names its result files by the wall clock, which is not the
// server's time (the `Clock` rule in clippy.toml is for the server).
#![allow(clippy::disallowed_methods)]

mod cluster;
mod events;
mod ha;
mod leases;
mod load;
mod memory;
mod perf;
mod pin;
mod report;
mod scenarios;
mod scheduler;
mod server;
mod suites;
mod targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::server::ServerOpts;
use crate::suites::{KvBench, RunCfg};

#[derive(Parser)]
#[command(
    name = "coffre-bench",
    about = "Load scenarios against a real coffre server"
)]
struct Cli {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(Subcommand, Clone, Debug)]
enum Suite {
    /// Issue 6: health, KV v2 read/write, transit encrypt/sign (audit on), transit suite,
    /// audit off vs on, memory and unseal-to-ready, targets.
    #[command(name = "all")]
    All(AllOpts),
    /// Issue 4: transit ops/s (encrypt/decrypt 1 KiB, batch of 100, sign/verify for four key
    /// types, hybrid datakey), with the sys/health baseline.
    #[command(name = "transit")]
    Transit(Common),
    /// KV v1 (root token): durable writes and reads of 100 B values.
    #[command(name = "kv-v1")]
    KvV1(Common),
    /// KV v2 with a non-root token (policy `bench`): reads and durable writes of 100 B values.
    #[command(name = "kv-v2")]
    KvV2(Common),
    /// kv-v2 twice on fresh servers, without then with a file audit device; prints the slowdown.
    #[command(name = "audit-compare")]
    AuditCompare(Common),
    /// kv-v1, kv-v2, then audit-compare (what `all` used to be).
    #[command(name = "kv-all")]
    KvAll(Common),
    /// Issue 12: KV v2 reads in the root namespace, inside a namespace, and with a quota rule
    /// on another namespace, as ratios to the root read.
    #[command(name = "namespaces")]
    Namespaces(Common),
    /// Issue 13: userpass logins per second, and KV v2 reads with a token whose policy comes
    /// from an identity group, as ratios to the plain-token read.
    #[command(name = "auth")]
    Auth(Common),
    /// Issue 14: the job runner with 1k/10k/100k KV v2 secrets under rotation policies, in
    /// process on a manual clock: a pass with nothing due, a pass rotating the due ones, and
    /// KV throughput while passes run.
    #[command(name = "scheduler")]
    Scheduler(SchedulerOpts),
    /// Issue 15: database/creds issue rate against PostgreSQL (a real CREATE ROLE, and the
    /// lease machinery alone), and unseal-to-ready time with 0/10k/100k live leases, in
    /// process.
    #[command(name = "leases")]
    Leases(LeasesOpts),
    /// Issue 16: KV v2 reads and writes on embedded storage, on PostgreSQL without and with
    /// HA (1, 2 and 3 nodes sharing the load), and OpenBao 2.7 on the same PostgreSQL.
    #[command(name = "ha")]
    Ha(HaOpts),
    /// Issue 17: KV v2 reads and durable writes in process with the event stream and metrics
    /// on, as a ratio to the same core with nobody subscribed (median of alternating trials).
    #[command(name = "events")]
    Events(EventsOpts),
}

#[derive(Args, Clone, Debug)]
struct EventsOpts {
    /// Where to write the JSON results (default: bench/results).
    #[arg(long)]
    results_dir: Option<PathBuf>,
}

#[derive(Args, Clone, Debug)]
struct HaOpts {
    #[command(flatten)]
    common: Common,
    /// The PostgreSQL database (default: COFFRE_TEST_POSTGRES_URL, else the machine's).
    #[arg(long)]
    postgres_url: Option<String>,
    /// coffre node counts in HA mode (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    nodes: Vec<usize>,
    /// OpenBao node counts in HA mode (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    openbao_nodes: Vec<usize>,
    /// Leave OpenBao out.
    #[arg(long)]
    no_openbao: bool,
}

#[derive(Args, Clone, Debug)]
struct LeasesOpts {
    /// Live lease counts to time the unseal with (comma separated, growing).
    #[arg(long, value_delimiter = ',', default_value = "0,10000,100000")]
    leases: Vec<usize>,
    /// Where to write the JSON results (default: bench/results).
    #[arg(long)]
    results_dir: Option<PathBuf>,
}

#[derive(Args, Clone, Debug)]
struct SchedulerOpts {
    /// Populations of secrets under policy (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    secrets: Vec<usize>,
    /// How many of them are due in the measured pass.
    #[arg(long, default_value_t = 500)]
    due: usize,
    /// Where to write the JSON results (default: bench/results).
    #[arg(long)]
    results_dir: Option<PathBuf>,
}

/// Options shared by every suite.
#[derive(Args, Clone, Debug)]
struct Common {
    /// Measured duration of each (scenario, connections) run.
    #[arg(long, default_value_t = 5)]
    duration_secs: u64,
    /// Unmeasured warm-up before each run.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Path of the server binary (relative paths are tried against the cwd, then the workspace root).
    #[arg(long, default_value = "target/release/coffre")]
    binary: PathBuf,
    /// Connection counts to run every scenario with (comma separated).
    #[arg(
        long,
        visible_alias = "conns",
        value_delimiter = ',',
        default_value = "1,32"
    )]
    clients: Vec<usize>,
    /// Where to write the JSON results (default: bench/results).
    #[arg(long)]
    results_dir: Option<PathBuf>,
    /// Add a file audit device to the server of kv-v1 / kv-v2 (all and transit always have
    /// one; audit-compare runs both ways).
    #[arg(long)]
    audit: bool,
    /// Do not pin the server and the load generator to separate CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Pin the server with sched_setaffinity even where taskset exists (tests that path).
    #[arg(long, hide = true)]
    no_taskset: bool,
}

#[derive(Args, Clone, Debug)]
struct AllOpts {
    #[command(flatten)]
    common: Common,
    /// Secrets written for the memory / unseal-to-ready figures.
    #[arg(long, default_value_t = 100_000)]
    secrets: u64,
    /// Leave out the transit table (run `transit` on its own instead).
    #[arg(long)]
    no_transit: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let suite = cli.suite;
    let (name, common) = match &suite {
        Suite::All(a) => ("all", &a.common),
        Suite::Transit(c) => ("transit", c),
        Suite::KvV1(c) => ("kv-v1", c),
        Suite::KvV2(c) => ("kv-v2", c),
        Suite::AuditCompare(c) => ("audit-compare", c),
        Suite::KvAll(c) => ("kv-all", c),
        Suite::Namespaces(c) => ("namespaces", c),
        Suite::Auth(c) => ("auth", c),
        Suite::Ha(h) => ("ha", &h.common),
        Suite::Scheduler(opts) => return run_scheduler(opts),
        Suite::Events(opts) => {
            return run_in_process("events", opts.results_dir.as_deref(), events::events());
        }
        Suite::Leases(opts) => {
            let sizes = opts.leases.clone();
            return run_in_process("leases", opts.results_dir.as_deref(), async move {
                leases::leases(&sizes).await
            });
        }
    };
    // Pin this thread before the runtime exists, so every thread inherits the load core.
    let pinning = pin::plan(common.no_pin, common.no_taskset);
    eprintln!("{}", pinning.note);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(name, &suite, common, pinning))
}

fn ha_plan(h: &HaOpts) -> Result<ha::HaPlan> {
    let openbao_nodes = if h.no_openbao {
        Vec::new()
    } else {
        h.openbao_nodes.clone()
    };
    Ok(ha::HaPlan {
        postgres_url: h
            .postgres_url
            .clone()
            .or_else(|| std::env::var("COFFRE_TEST_POSTGRES_URL").ok())
            .unwrap_or_else(|| "postgresql://postgres@127.0.0.1:5432/test".into()),
        nodes: h.nodes.iter().map(|&n| n.max(1)).collect(),
        openbao_binary: if openbao_nodes.is_empty() {
            None
        } else {
            Some(targets::openbao_binary()?)
        },
        openbao_nodes: openbao_nodes.iter().map(|&n| n.max(1)).collect(),
    })
}

/// `scheduler` runs in process (no server, no pinning): the core on a multi-threaded runtime.
fn run_scheduler(opts: &SchedulerOpts) -> Result<()> {
    let (secrets, due) = (opts.secrets.clone(), opts.due.max(1));
    run_in_process("scheduler", opts.results_dir.as_deref(), async move {
        scheduler::scheduler(&secrets, due).await
    })
}

/// Runs an in-process suite on a multi-threaded runtime and writes its JSON results.
fn run_in_process(
    suite: &str,
    results_dir: Option<&Path>,
    body: impl std::future::Future<Output = Result<Value>>,
) -> Result<()> {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let section = rt.block_on(body)?;
    let ts = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let dir = results_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("results"));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("{suite}-{ts}.json"));
    let mut doc = json!({
        "suite": suite,
        "unix_ts": ts,
        "wall_secs": started.elapsed().as_secs_f64(),
    });
    if let (Some(d), Value::Object(sec)) = (doc.as_object_mut(), section) {
        d.extend(sec);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("wrote {}", out.display());
    Ok(())
}

async fn run(name: &str, suite: &Suite, common: &Common, pinning: pin::Pinning) -> Result<()> {
    let started = Instant::now();
    let binary = server::resolve_binary(&common.binary)?;
    let opts = ServerOpts::coffre(binary.clone(), common.audit, pinning.clone());
    let cfg = RunCfg {
        warmup: Duration::from_secs(common.warmup_secs),
        duration: Duration::from_secs(common.duration_secs.max(1)),
        conns: common.clients.iter().map(|&c| c.max(1)).collect(),
    };

    let section = match suite {
        Suite::All(a) => perf::all(&opts, &cfg, a.secrets.max(1), !a.no_transit).await?,
        Suite::Transit(_) => perf::transit(&opts, &cfg).await?,
        Suite::KvV1(_) => suites::kv_single(KvBench::V1, &opts, &cfg).await?,
        Suite::KvV2(_) => suites::kv_single(KvBench::V2, &opts, &cfg).await?,
        Suite::AuditCompare(_) => suites::audit_compare(&opts, &cfg).await?,
        Suite::Namespaces(_) => suites::namespaces(&opts, &cfg).await?,
        Suite::Auth(_) => suites::auth(&opts, &cfg).await?,
        Suite::Ha(h) => ha::ha(&opts, &cfg, &ha_plan(h)?).await?,
        Suite::Scheduler(_) | Suite::Leases(_) | Suite::Events(_) => {
            anyhow::bail!("the scheduler, leases and events suites run in process")
        }
        Suite::KvAll(_) => json!({
            "kv-v1": suites::kv_single(KvBench::V1, &opts, &cfg).await?,
            "kv-v2": suites::kv_single(KvBench::V2, &opts, &cfg).await?,
            "audit-compare": suites::audit_compare(&opts, &cfg).await?,
        }),
    };

    let ts = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let dir = common
        .results_dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("results"));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("{name}-{ts}.json"));
    let mut doc = json!({
        "suite": name,
        "unix_ts": ts,
        "binary": binary.display().to_string(),
        "duration_secs": cfg.duration.as_secs(),
        "warmup_secs": common.warmup_secs,
        "clients": cfg.conns,
        "value_bytes": scenarios::VALUE_LEN,
        "read_keys": scenarios::READ_KEYS,
        "cpus": pinning.cpus,
        "pinning": pinning.to_json(),
        "clock_ticks_per_sec": server::clock_ticks(),
        "wall_secs": started.elapsed().as_secs_f64(),
    });
    // The suite's own keys sit at the top level (kv-v1 / kv-v2: `results`, as before).
    if let (Some(d), Value::Object(sec)) = (doc.as_object_mut(), section) {
        d.extend(sec);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc)? + "\n")?;
    println!(
        "wrote {} ({:.0} s wall)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
