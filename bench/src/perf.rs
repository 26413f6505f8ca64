//! The performance suites of issue 6 (`all`) and issue 4 (`transit`).

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::memory::{self, MemoryReport};
use crate::report::{self, Row, Target};
use crate::scenarios::{self, Scenario, SigKey};
use crate::server::{Server, ServerOpts};
use crate::suites::{self, RunCfg};

/// The issue-6 scenarios, in table order.
const MAIN: [Scenario; 5] = [
    Scenario::Health,
    Scenario::KvV2Read,
    Scenario::KvV2Write,
    Scenario::TransitEncrypt1k,
    Scenario::TransitSign(SigKey::Ed25519),
];

/// The connection count the targets refer to: 32 if measured, else the largest.
fn target_conns(cfg: &RunCfg) -> usize {
    if cfg.conns.contains(&32) {
        32
    } else {
        cfg.conns.iter().copied().max().unwrap_or(1)
    }
}

async fn start_perf_server(opts: &ServerOpts) -> Result<Server> {
    let mut srv = Server::start(opts).await?;
    scenarios::setup_kv2_transit(&mut srv)
        .await
        .context("setup (kv-v2 + transit)")?;
    eprintln!(
        "server pid {} on CPU(s) {} (audit {})",
        srv.pid()?,
        srv.cpus_allowed(),
        if opts.audit { "on" } else { "off" }
    );
    Ok(srv)
}

/// `all`: the issue-6 table (audit on), the transit table (unless `with_transit` is false),
/// kv-v2 with audit off for the comparison, the memory figures and the targets.
pub async fn all(
    opts: &ServerOpts,
    cfg: &RunCfg,
    secrets: u64,
    with_transit: bool,
) -> Result<Value> {
    let on_opts = ServerOpts {
        audit: true,
        ..opts.clone()
    };
    let big = target_conns(cfg);

    eprintln!("all: server with embedded storage and a file audit device");
    let srv = start_perf_server(&on_opts).await?;
    let server_cpus = srv.cpus_allowed();
    let mut run_no = 0;
    let rows = suites::run_scenarios(&srv, &MAIN, &cfg.conns, cfg, &mut run_no).await?;
    let extra: Vec<Scenario> = if with_transit {
        Scenario::transit_all()
            .into_iter()
            .filter(|s| !MAIN.contains(s))
            .collect()
    } else {
        Vec::new()
    };
    let extra_rows = suites::run_scenarios(&srv, &extra, &cfg.conns, cfg, &mut run_no).await?;
    let audit = suites::server_audit_stats(&srv)?;
    drop(srv);

    eprintln!("all: kv-v2 with audit off ({big} connections) for the comparison");
    let off_opts = ServerOpts {
        audit: false,
        ..opts.clone()
    };
    let off_srv = start_perf_server(&off_opts).await?;
    let mut off_run = 0;
    let off_rows = suites::run_scenarios(
        &off_srv,
        &[Scenario::KvV2Read, Scenario::KvV2Write],
        &[big],
        cfg,
        &mut off_run,
    )
    .await?;
    drop(off_srv);

    let mem = memory::measure(&on_opts, secrets).await?;

    // ---- print
    println!("## all: coffre server (embedded storage, file audit device), CPU(s) {server_cpus}");
    println!("{}", opts.pinning.note);
    report::print_table(&rows, &rows);
    if let Some(a) = audit {
        a.print("audit log");
    }
    println!();
    let transit_rows: Vec<Row> = if with_transit {
        order_transit(&rows, &extra_rows)
    } else {
        Vec::new()
    };
    if with_transit {
        println!("## transit (same server; x health = req/s / sys/health req/s)");
        report::print_table(&transit_rows, &rows);
        println!();
    }
    let on_kv: Vec<Row> = rows
        .iter()
        .filter(|r| r.conns() == big && r.scenario.starts_with("kv-v2"))
        .cloned()
        .collect();
    println!("## audit off vs on (kv-v2, {big} connections, separate servers)");
    let cmp = suites::print_comparison(&off_rows, &on_kv);
    println!();
    println!("## memory and restart ({secrets} secrets, audit on)");
    mem.print();
    println!();
    let targets = targets(&rows, &off_rows, &mem, big);
    println!("## issue-6 targets (information only; {big} connections)");
    report::print_targets(&targets);
    println!();

    Ok(json!({
        "server_cpus": server_cpus,
        "target_connections": big,
        "results": report::rows_json(&rows, &rows),
        "audit_log": audit.map(suites::AuditStats::to_json),
        "transit": if with_transit { report::rows_json(&transit_rows, &rows) } else { Value::Null },
        "audit_off": report::rows_json(&off_rows, &[]),
        "audit_comparison": cmp,
        "memory": mem.to_json(),
        "targets": targets.iter().map(Target::to_json).collect::<Vec<_>>(),
    }))
}

/// Transit rows in issue-4 order, from the main rows (encrypt, sign ed25519) and the extra ones.
fn order_transit(main: &[Row], extra: &[Row]) -> Vec<Row> {
    let mut out = Vec::new();
    for sc in Scenario::transit_all() {
        out.extend(
            main.iter()
                .chain(extra)
                .filter(|r| r.scenario == sc.name())
                .cloned(),
        );
    }
    out
}

fn find<'a>(rows: &'a [Row], scenario: &str, conns: usize) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.scenario == scenario && r.conns() == conns)
}

fn targets(on: &[Row], off: &[Row], mem: &MemoryReport, big: usize) -> Vec<Target> {
    let mut t = Vec::new();
    let read = find(on, "kv-v2 read", big);
    let ratio = read.and_then(|r| report::ratio(r, on));
    t.push(Target {
        what: "KV v2 read, audit on: vs health".into(),
        figure: ratio.map_or("-".into(), |x| format!("{:.0}% of health", x * 100.0)),
        goal: ">= 70% of baseline req/s",
        met: ratio.map(|x| x >= 0.70),
    });
    t.push(Target {
        what: "KV v2 read, audit on: p99".into(),
        figure: read.map_or("-".into(), |r| format!("{:.0} µs", r.stats.p99_us)),
        goal: "< 1 ms",
        met: read.map(|r| r.stats.p99_us < 1000.0),
    });
    let write = find(on, "kv-v2 write", big);
    t.push(Target {
        what: "KV v2 durable write, audit on".into(),
        figure: write.map_or("-".into(), |r| format!("{:.0} req/s", r.rps())),
        goal: ">= 20k req/s",
        met: write.map(|r| r.rps() >= 20_000.0),
    });
    let enc = find(on, "encrypt 1KiB", big);
    t.push(Target {
        what: "transit encrypt 1 KiB".into(),
        figure: enc.map_or("-".into(), |r| format!("{:.0} req/s", r.rps())),
        goal: ">= 40k req/s",
        met: enc.map(|r| r.rps() >= 40_000.0),
    });
    for sc in ["kv-v2 read", "kv-v2 write"] {
        let pair = find(off, sc, big).zip(find(on, sc, big));
        let slow = pair.map(|(a, b)| suites::slowdown_pct(a, b));
        t.push(Target {
            what: format!("audit on vs off ({sc})"),
            figure: slow.map_or("-".into(), |s| format!("{s:.1}% slower")),
            goal: "<= 15% slower",
            met: slow.map(|s| s <= 15.0),
        });
    }
    let ready = mem.unseal_to_ready.as_secs_f64();
    t.push(Target {
        what: format!("unseal to ready, {} secrets", mem.secrets),
        figure: format!("{:.0} ms", ready * 1e3),
        goal: "< 1 s",
        met: Some(ready < 1.0),
    });
    let mb = mem.rss_after_kib.0 as f64 * 1024.0 / 1e6;
    t.push(Target {
        what: format!("RSS after {} secrets", mem.secrets),
        figure: format!("{mb:.1} MB"),
        goal: "< 150 MB",
        met: Some(mb < 150.0),
    });
    t
}

/// `transit`: the issue-4 operations plus the health baseline on one server (audit on).
pub async fn transit(opts: &ServerOpts, cfg: &RunCfg) -> Result<Value> {
    let on_opts = ServerOpts {
        audit: true,
        ..opts.clone()
    };
    eprintln!("transit: server with embedded storage and a file audit device");
    let srv = start_perf_server(&on_opts).await?;
    let server_cpus = srv.cpus_allowed();
    let mut run_no = 0;
    let base =
        suites::run_scenarios(&srv, &[Scenario::Health], &cfg.conns, cfg, &mut run_no).await?;
    let rows =
        suites::run_scenarios(&srv, &Scenario::transit_all(), &cfg.conns, cfg, &mut run_no).await?;
    drop(srv);
    println!(
        "## transit: coffre server (embedded storage, file audit device), CPU(s) {server_cpus}"
    );
    println!("{}", opts.pinning.note);
    let table: Vec<Row> = base.iter().chain(&rows).cloned().collect();
    report::print_table(&table, &base);
    println!();
    Ok(json!({
        "server_cpus": server_cpus,
        "baseline": report::rows_json(&base, &base),
        "results": report::rows_json(&rows, &base),
    }))
}
