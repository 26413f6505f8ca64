//! The shared scenario runner and the KV suites kept from the first version of the bench:
//! `kv-v1`, `kv-v2`, `audit-compare` and `kv-all` (the former `all`).

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::load::{self, Probe, Stop};
use crate::report::{self, Row};
use crate::scenarios::{self, Scenario};
use crate::server::{Server, ServerOpts};

/// Timing of the measured runs.
#[derive(Clone, Debug)]
pub struct RunCfg {
    pub warmup: Duration,
    pub duration: Duration,
    /// Connection counts every scenario runs with.
    pub conns: Vec<usize>,
}

/// Where a run's load goes: the server that prepares each scenario (seed data, keys), the
/// addresses the connections are shared out over (every node of a cluster), and whose CPU
/// time is charged.
pub struct Target<'a> {
    pub primary: &'a Server,
    pub addrs: Vec<SocketAddr>,
    pub probe: Probe,
}

impl<'a> Target<'a> {
    pub fn single(srv: &'a Server) -> Result<Self> {
        Ok(Self {
            primary: srv,
            addrs: vec![srv.addr()],
            probe: srv.probe()?,
        })
    }
}

/// Prepares and runs each scenario at each connection count on `srv`. `run_no` numbers the
/// runs on one server (it keeps generated write keys distinct across runs).
pub async fn run_scenarios(
    srv: &Server,
    scenarios: &[Scenario],
    conns: &[usize],
    cfg: &RunCfg,
    run_no: &mut u64,
) -> Result<Vec<Row>> {
    run_scenarios_on(&Target::single(srv)?, scenarios, conns, cfg, run_no).await
}

/// [`run_scenarios`] on a [`Target`].
pub async fn run_scenarios_on(
    target: &Target<'_>,
    scenarios: &[Scenario],
    conns: &[usize],
    cfg: &RunCfg,
    run_no: &mut u64,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &sc in scenarios {
        let make = sc
            .prepare(target.primary)
            .await
            .with_context(|| format!("prepare {}", sc.name()))?;
        for &c in conns {
            eprintln!(
                "  {} with {c} connection(s), {:?} + {:?} warm-up…",
                sc.name(),
                cfg.duration,
                cfg.warmup
            );
            *run_no += 1;
            let stats = load::run(
                &target.addrs,
                make.clone(),
                c,
                Stop::Timed {
                    warmup: cfg.warmup,
                    duration: cfg.duration,
                },
                *run_no,
                target.probe.clone(),
            )
            .await?;
            rows.push(Row {
                scenario: sc.name(),
                items_per_req: sc.items_per_request(),
                stats,
            });
        }
    }
    Ok(rows)
}

/// Size of the audit log (and any rotated siblings `audit.log.*`).
#[derive(Clone, Copy, Debug)]
pub struct AuditStats {
    pub files: usize,
    pub bytes: u64,
    pub lines: u64,
}

pub fn audit_stats(path: &Path) -> Result<AuditStats> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("audit log has no parent"))?;
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("audit log name"))?
        .to_string();
    let mut st = AuditStats {
        files: 0,
        bytes: 0,
        lines: 0,
    };
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == stem || name.starts_with(&format!("{stem}.")) {
            // Streamed: the log of a 5 s run can be hundreds of MiB.
            let mut f = std::fs::File::open(e.path())?;
            let mut buf = vec![0u8; 1 << 20];
            st.files += 1;
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                st.bytes += n as u64;
                st.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            }
        }
    }
    if st.files == 0 {
        bail!("audit log {} was not created", path.display());
    }
    Ok(st)
}

impl AuditStats {
    pub fn to_json(self) -> Value {
        json!({ "files": self.files, "bytes": self.bytes, "lines": self.lines })
    }
    pub fn print(self, label: &str) {
        println!(
            "{label}: {} bytes ({:.1} MiB), {} lines{}",
            self.bytes,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.lines,
            if self.files > 1 {
                format!(" in {} files", self.files)
            } else {
                String::new()
            }
        );
    }
}

/// The server's audit log statistics, if it has an audit device (read while it runs: entries
/// are acknowledged once written, so the log is complete).
pub fn server_audit_stats(srv: &Server) -> Result<Option<AuditStats>> {
    srv.dir.audit_log.as_deref().map(audit_stats).transpose()
}

// ------------------------------------------------------------------------------------------------
// KV suites

#[derive(Clone, Copy, Debug)]
pub enum KvBench {
    V1,
    V2,
}

impl KvBench {
    fn name(self) -> &'static str {
        match self {
            KvBench::V1 => "kv-v1",
            KvBench::V2 => "kv-v2",
        }
    }
    fn scenarios(self) -> Vec<Scenario> {
        match self {
            KvBench::V1 => vec![Scenario::KvV1Write, Scenario::KvV1Read],
            KvBench::V2 => vec![Scenario::KvV2Read, Scenario::KvV2Write],
        }
    }
}

struct Outcome {
    rows: Vec<Row>,
    audit: Option<AuditStats>,
}

async fn run_kv(bench: KvBench, opts: &ServerOpts, cfg: &RunCfg) -> Result<Outcome> {
    eprintln!(
        "starting {} ({}, audit {})",
        opts.binary.display(),
        bench.name(),
        if opts.audit { "on" } else { "off" }
    );
    let mut srv = Server::start(opts).await?;
    match bench {
        KvBench::V1 => scenarios::setup_kv1(&mut srv).await,
        KvBench::V2 => scenarios::setup_kv2(&mut srv).await,
    }
    .with_context(|| format!("setup {}", bench.name()))?;
    let mut run_no = 0;
    let rows = run_scenarios(&srv, &bench.scenarios(), &cfg.conns, cfg, &mut run_no).await?;
    let audit = server_audit_stats(&srv)?;
    Ok(Outcome { rows, audit })
}

fn kv_json(o: &Outcome, audit: bool) -> Value {
    json!({
        "audit": audit,
        "audit_log": o.audit.map(AuditStats::to_json),
        "results": report::rows_json(&o.rows, &[]),
    })
}

/// kv-v1 or kv-v2 once; prints its table and returns its JSON section.
pub async fn kv_single(bench: KvBench, opts: &ServerOpts, cfg: &RunCfg) -> Result<Value> {
    let o = run_kv(bench, opts, cfg).await?;
    println!(
        "## {} (audit {})",
        bench.name(),
        if opts.audit { "on" } else { "off" }
    );
    report::print_table(&o.rows, &[]);
    if let Some(a) = o.audit {
        a.print("audit log");
    }
    println!();
    Ok(kv_json(&o, opts.audit))
}

/// kv-v2 without, then with the audit device (fresh server each); prints the comparison.
pub async fn audit_compare(opts: &ServerOpts, cfg: &RunCfg) -> Result<Value> {
    let off = run_kv(
        KvBench::V2,
        &ServerOpts {
            audit: false,
            ..opts.clone()
        },
        cfg,
    )
    .await?;
    let on = run_kv(
        KvBench::V2,
        &ServerOpts {
            audit: true,
            ..opts.clone()
        },
        cfg,
    )
    .await?;
    println!("## audit-compare (kv-v2, audit off vs on)");
    let cmp = print_comparison(&off.rows, &on.rows);
    if let Some(a) = on.audit {
        a.print("audit log after the \"on\" run");
    }
    println!();
    Ok(json!({
        "off": kv_json(&off, false),
        "on": kv_json(&on, true),
        "comparison": cmp,
    }))
}

/// Prints off/on pairs (same scenario and connection count) and returns them as JSON.
pub fn print_comparison(off: &[Row], on: &[Row]) -> Value {
    println!(
        "{:<18} {:>5} {:>11} {:>11} {:>10} {:>14}",
        "scenario", "conns", "req/s off", "req/s on", "slowdown", "errors off/on"
    );
    let mut cmp = Vec::new();
    for a in off {
        let Some(b) = on
            .iter()
            .find(|b| b.scenario == a.scenario && b.conns() == a.conns())
        else {
            continue;
        };
        let slowdown = slowdown_pct(a, b);
        println!(
            "{:<18} {:>5} {:>11.0} {:>11.0} {:>9.1}% {:>14}",
            a.scenario,
            a.conns(),
            a.rps(),
            b.rps(),
            slowdown,
            format!("{}/{}", a.stats.errors, b.stats.errors)
        );
        cmp.push(json!({
            "scenario": a.scenario,
            "clients": a.conns(),
            "req_per_sec_off": a.rps(),
            "req_per_sec_on": b.rps(),
            "slowdown_pct": slowdown,
        }));
    }
    Value::Array(cmp)
}

/// `(1 − on/off) × 100 %`; negative = the "on" run was faster.
pub fn slowdown_pct(off: &Row, on: &Row) -> f64 {
    if off.rps() > 0.0 {
        (1.0 - on.rps() / off.rps()) * 100.0
    } else {
        f64::NAN
    }
}

// ------------------------------------------------------------------------------------------------
// Namespaces

/// KV v2 reads in the root namespace, inside a namespace, and with a quota rule on another
/// namespace, on one server: prints each as a ratio to the root-namespace read.
pub async fn namespaces(opts: &ServerOpts, cfg: &RunCfg) -> Result<Value> {
    eprintln!("starting {} (namespaces)", opts.binary.display());
    let mut srv = Server::start(opts).await?;
    scenarios::setup_namespaces(&mut srv)
        .await
        .context("setup namespaces")?;
    let order = [
        Scenario::Health,
        Scenario::KvV2Read,
        Scenario::KvV2ReadNamespace,
        Scenario::KvV2ReadQuotaElsewhere,
    ];
    let title = format!(
        "namespaces (audit {})",
        if opts.audit { "on" } else { "off" }
    );
    ratio_table(&srv, &order, cfg, &title).await
}

/// Issue 13: logins and reads with identity policies.
pub async fn auth(opts: &ServerOpts, cfg: &RunCfg) -> Result<Value> {
    eprintln!("starting {} (auth)", opts.binary.display());
    let mut srv = Server::start(opts).await?;
    scenarios::setup_auth(&mut srv)
        .await
        .context("setup auth")?;
    let order = [
        Scenario::Health,
        Scenario::KvV2Read,
        Scenario::KvV2ReadEntity,
        Scenario::UserpassLogin,
    ];
    let title = format!(
        "auth (audit {}; Argon2id m=19 MiB, t=2, p=1)",
        if opts.audit { "on" } else { "off" }
    );
    ratio_table(&srv, &order, cfg, &title).await
}

/// Runs `order` on `srv` and prints each row as a ratio to the KV v2 read (plain token, root
/// namespace) with as many connections.
async fn ratio_table(srv: &Server, order: &[Scenario], cfg: &RunCfg, title: &str) -> Result<Value> {
    let mut run_no = 0;
    let rows = run_scenarios(srv, order, &cfg.conns, cfg, &mut run_no).await?;
    println!("## {title}");
    report::print_table(&rows, &[]);
    println!(
        "{:<18} {:>5} {:>11} {:>16}",
        "scenario", "conns", "req/s", "vs kv-v2 read"
    );
    let mut ratios = Vec::new();
    for row in &rows {
        let Some(base) = rows
            .iter()
            .find(|b| b.scenario == Scenario::KvV2Read.name() && b.conns() == row.conns())
        else {
            continue;
        };
        let ratio = if base.rps() > 0.0 {
            row.rps() / base.rps()
        } else {
            f64::NAN
        };
        println!(
            "{:<18} {:>5} {:>11.0} {:>15.3}x",
            row.scenario,
            row.conns(),
            row.rps(),
            ratio
        );
        ratios.push(json!({
            "scenario": row.scenario,
            "clients": row.conns(),
            "req_per_sec": row.rps(),
            "ratio_to_kv_v2_read": ratio,
        }));
    }
    println!();
    Ok(json!({
        "results": report::rows_json(&rows, &[]),
        "ratios": ratios,
    }))
}
