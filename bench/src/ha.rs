//! Issue 16: KV v2 read and write throughput of coffre on its embedded store, on PostgreSQL
//! without and with HA (1, 2, 3 nodes), and of OpenBao 2.7 on the same PostgreSQL, in one
//! run. Every node is pinned to the server core; PostgreSQL runs where the kernel puts it, and
//! its CPU time is reported beside the servers'.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::report::{self, Row};
use crate::scenarios::{self, Scenario};
use crate::server::ServerOpts;
use crate::suites::{self, RunCfg};
use crate::targets::{Product, Storage};

/// What the `ha` suite compares.
pub struct HaPlan {
    pub postgres_url: String,
    /// Node counts for coffre in HA mode.
    pub nodes: Vec<usize>,
    /// Node counts for OpenBao in HA mode (empty: no OpenBao).
    pub openbao_nodes: Vec<usize>,
    pub openbao_binary: Option<std::path::PathBuf>,
}

/// One measured set-up.
struct Setup {
    label: String,
    product: Product,
    storage: Storage,
    nodes: usize,
}

const ORDER: [Scenario; 3] = [Scenario::Health, Scenario::KvV2Read, Scenario::KvV2Write];

fn setups(plan: &HaPlan) -> Vec<Setup> {
    let pid = std::process::id();
    let pg = |i: usize, ha: bool| Storage::Postgres {
        url: plan.postgres_url.clone(),
        name: format!("coffre_bench_{pid}_{i}"),
        ha,
    };
    let mut v = vec![
        Setup {
            label: "coffre embedded".into(),
            product: Product::Coffre,
            storage: Storage::Local,
            nodes: 1,
        },
        Setup {
            label: "coffre pg, no HA".into(),
            product: Product::Coffre,
            storage: pg(1, false),
            nodes: 1,
        },
    ];
    for &n in &plan.nodes {
        let i = v.len();
        v.push(Setup {
            label: "coffre pg HA".into(),
            product: Product::Coffre,
            storage: pg(i, true),
            nodes: n,
        });
    }
    for &n in &plan.openbao_nodes {
        let i = v.len();
        v.push(Setup {
            label: "openbao pg HA".into(),
            product: Product::OpenBao,
            storage: pg(i, true),
            nodes: n,
        });
    }
    v
}

struct Measured {
    setup: Setup,
    rows: Vec<Row>,
}

pub async fn ha(opts: &ServerOpts, cfg: &RunCfg, plan: &HaPlan) -> Result<Value> {
    let mut measured = Vec::new();
    for setup in setups(plan) {
        let mut o = opts.clone();
        o.product = setup.product;
        o.storage = setup.storage.clone();
        if setup.product == Product::OpenBao {
            o.binary = plan
                .openbao_binary
                .clone()
                .context("OpenBao set-ups need its binary")?;
        }
        eprintln!("ha: {} with {} node(s)", setup.label, setup.nodes);
        let rows = measure(&o, setup.nodes, cfg)
            .await
            .with_context(|| format!("{} with {} node(s)", setup.label, setup.nodes))?;
        measured.push(Measured { setup, rows });
    }
    print(&measured, opts);
    Ok(to_json(&measured))
}

async fn measure(opts: &ServerOpts, nodes: usize, cfg: &RunCfg) -> Result<Vec<Row>> {
    let mut cluster = Cluster::start(opts, nodes).await?;
    let result = async {
        scenarios::setup_kv2(cluster.primary_mut()).await?;
        cluster.wait_for_token().await?;
        let mut run_no = 0;
        suites::run_scenarios_on(&cluster.target()?, &ORDER, &cfg.conns, cfg, &mut run_no).await
    }
    .await;
    // The database objects go whatever happened.
    cluster.shut_down().await?;
    result
}

/// The same scenario and connection count in another set-up.
fn find<'a>(m: &'a [Measured], pick: impl Fn(&Setup) -> bool, row: &Row) -> Option<&'a Row> {
    m.iter()
        .find(|x| pick(&x.setup))?
        .rows
        .iter()
        .find(|r| r.scenario == row.scenario && r.conns() == row.conns())
}

fn ratio(a: &Row, b: Option<&Row>) -> Option<f64> {
    b.filter(|b| b.rps() > 0.0).map(|b| a.rps() / b.rps())
}

fn fmt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

fn is_embedded(s: &Setup) -> bool {
    s.storage == Storage::Local
}

/// OpenBao with as many nodes as `s` (coffre set-ups on PostgreSQL only).
fn openbao_like(s: &Setup) -> impl Fn(&Setup) -> bool + '_ {
    move |o: &Setup| o.product == Product::OpenBao && o.nodes == s.nodes
}

fn print(m: &[Measured], opts: &ServerOpts) {
    println!(
        "## ha: KV v2 on embedded storage, on PostgreSQL, and OpenBao 2.7 on the same PostgreSQL"
    );
    println!("{}", opts.pinning.note);
    println!("every node pinned to the server core; PostgreSQL unpinned (its CPU in `pg µs/req`)");
    println!(
        "{:<17} {:>5} {:<12} {:>5} {:>9} {:>8} {:>8} {:>10} {:>9} {:>8} {:>9}",
        "set-up",
        "nodes",
        "scenario",
        "conns",
        "req/s",
        "p50 µs",
        "p99 µs",
        "srv µs/req",
        "pg µs/req",
        "x embed",
        "x openbao"
    );
    for x in m {
        for r in &x.rows {
            let vs_bao = (x.setup.product == Product::Coffre)
                .then(|| ratio(r, find(m, openbao_like(&x.setup), r)))
                .flatten();
            println!(
                "{:<17} {:>5} {:<12} {:>5} {:>9.0} {:>8.0} {:>8.0} {:>10} {:>9} {:>8} {:>9}",
                x.setup.label,
                x.setup.nodes,
                r.scenario,
                r.conns(),
                r.rps(),
                r.stats.p50_us,
                r.stats.p99_us,
                fmt(r.stats.cpu_us_per_req, 1),
                fmt(r.stats.storage_cpu_us_per_req, 1),
                fmt(ratio(r, find(m, is_embedded, r)), 3),
                fmt(vs_bao, 2),
            );
            if r.stats.errors > 0 {
                println!(
                    "  ^ {} errors; first: {}",
                    r.stats.errors,
                    r.stats.first_error.as_deref().unwrap_or("-")
                );
            }
        }
    }
    print_ha_cost(m);
    println!();
}

/// What fencing and announcing a write costs: one coffre node on PostgreSQL with HA against
/// the same without.
fn print_ha_cost(m: &[Measured]) {
    let pick = |ha: bool| {
        move |s: &Setup| {
            s.product == Product::Coffre
                && s.nodes == 1
                && matches!(s.storage, Storage::Postgres { ha: h, .. } if h == ha)
        }
    };
    let Some(on) = m.iter().find(|x| pick(true)(&x.setup)) else {
        return;
    };
    println!("per KV v2 write, one node, HA (fence + pg_notify) against no HA:");
    for r in on
        .rows
        .iter()
        .filter(|r| r.scenario == Scenario::KvV2Write.name())
    {
        let Some(off) = find(m, pick(false), r) else {
            continue;
        };
        let total = |x: &Row| {
            x.stats
                .cpu_us_per_req
                .zip(x.stats.storage_cpu_us_per_req)
                .map(|(a, b)| a + b)
        };
        println!(
            "  {:>2} conns: p50 {:.0} → {:.0} µs, CPU (coffre + pg) {} → {} µs/write, req/s ×{}",
            r.conns(),
            off.stats.p50_us,
            r.stats.p50_us,
            fmt(total(off), 1),
            fmt(total(r), 1),
            fmt(ratio(r, Some(off)), 3),
        );
    }
}

fn to_json(m: &[Measured]) -> Value {
    let setups: Vec<Value> = m
        .iter()
        .map(|x| {
            let rows: Vec<Value> = x
                .rows
                .iter()
                .map(|r| {
                    let mut v = report::row_json(r, &x.rows);
                    if let Some(o) = v.as_object_mut() {
                        o.insert(
                            "ratio_to_embedded".into(),
                            json!(ratio(r, find(m, is_embedded, r))),
                        );
                        if x.setup.product == Product::Coffre {
                            o.insert(
                                "ratio_to_openbao_same_nodes".into(),
                                json!(ratio(r, find(m, openbao_like(&x.setup), r))),
                            );
                        }
                    }
                    v
                })
                .collect();
            let (storage, ha) = match &x.setup.storage {
                Storage::Local => ("local", false),
                Storage::Postgres { ha, .. } => ("postgres", *ha),
            };
            json!({
                "label": x.setup.label,
                "product": x.setup.product.name(),
                "storage": storage,
                "ha": ha,
                "nodes": x.setup.nodes,
                "results": rows,
            })
        })
        .collect();
    json!({ "setups": setups })
}
