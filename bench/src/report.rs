//! Tables (stdout) and JSON sections.

use serde_json::{Value, json};

use crate::load::Stats;

/// One (scenario, connections) measurement.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: &'static str,
    pub items_per_req: u64,
    pub stats: Stats,
}

impl Row {
    pub fn conns(&self) -> usize {
        self.stats.conns
    }
    pub fn rps(&self) -> f64 {
        self.stats.rps()
    }
    pub fn items_per_sec(&self) -> f64 {
        self.rps() * self.items_per_req as f64
    }
}

/// The `sys/health` row with the same connection count, if any.
fn baseline(rows: &[Row], conns: usize) -> Option<&Row> {
    rows.iter()
        .find(|r| r.scenario == "sys/health" && r.conns() == conns)
}

/// req/s of `r` divided by the health baseline's at the same connection count.
pub fn ratio(r: &Row, baselines: &[Row]) -> Option<f64> {
    baseline(baselines, r.conns())
        .filter(|b| b.rps() > 0.0)
        .map(|b| r.rps() / b.rps())
}

pub fn row_json(r: &Row, baselines: &[Row]) -> Value {
    let mut v = r.stats.to_json();
    if let Some(o) = v.as_object_mut() {
        o.insert("scenario".into(), json!(r.scenario));
        // legacy field name, as in earlier result files
        o.insert("clients".into(), json!(r.conns()));
        if r.items_per_req > 1 {
            o.insert("items_per_request".into(), json!(r.items_per_req));
            o.insert("items_per_sec".into(), json!(r.items_per_sec()));
        }
        o.insert("ratio_to_health".into(), json!(ratio(r, baselines)));
    }
    v
}

pub fn rows_json(rows: &[Row], baselines: &[Row]) -> Value {
    Value::Array(rows.iter().map(|r| row_json(r, baselines)).collect())
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

/// Busy time on the server's core not spent by the server (percentage points) above which a
/// row is flagged as disturbed.
const NOISE_PCT: f64 = 15.0;

/// The main table: one line per (scenario, connections). `baselines` holds the health rows
/// the ratio refers to (empty: no ratio column).
pub fn print_table(rows: &[Row], baselines: &[Row]) {
    let items = rows.iter().any(|r| r.items_per_req > 1);
    let ratio_col = !baselines.is_empty();
    let mut head = format!(
        "{:<18} {:>5} {:>10} {:>9} {:>9} {:>9} {:>10} {:>5} {:>5}",
        "scenario", "conns", "req/s", "p50 µs", "p99 µs", "p99.9 µs", "srv µs/req", "srv%", "load%"
    );
    if items {
        head.push_str(&format!(" {:>10}", "items/s"));
    }
    if ratio_col {
        head.push_str(&format!(" {:>8}", "x health"));
    }
    head.push_str(&format!(" {:>6}", "errors"));
    println!("{head}");
    for r in rows {
        let s = &r.stats;
        let mut line = format!(
            "{:<18} {:>5} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>10} {:>5} {:>5}",
            r.scenario,
            r.conns(),
            r.rps(),
            s.p50_us,
            s.p99_us,
            s.p999_us,
            fmt_opt(s.cpu_us_per_req, 1),
            fmt_opt(s.server_cpu_pct, 0),
            fmt_opt(s.load_cpu_pct, 0),
        );
        if items {
            line.push_str(&format!(
                " {:>10}",
                if r.items_per_req > 1 {
                    format!("{:.0}", r.items_per_sec())
                } else {
                    String::new()
                }
            ));
        }
        if ratio_col {
            line.push_str(&format!(" {:>8}", fmt_opt(ratio(r, baselines), 2)));
        }
        line.push_str(&format!(" {:>6}", s.errors));
        println!("{line}");
    }
    for r in rows {
        let s = &r.stats;
        let other =
            |core: Option<f64>, own: Option<f64>| core.zip(own).filter(|(c, o)| c - o > NOISE_PCT);
        let srv = other(s.server_core_busy_pct, s.server_cpu_pct)
            .map(|(c, o)| format!("server core {c:.0}% busy, server {o:.0}%"));
        let load = other(s.load_core_busy_pct, s.load_cpu_pct)
            .map(|(c, o)| format!("load core {c:.0}% busy, load generator {o:.0}%"));
        if srv.is_some() || load.is_some() {
            println!(
                "  ! {} ({} conns): {}: other work on the core(s) (other processes, or kernel \
                 I/O threads for writes)",
                r.scenario,
                r.conns(),
                srv.into_iter().chain(load).collect::<Vec<_>>().join("; ")
            );
        }
        if let Some(e) = &s.first_error {
            println!(
                "  ! {} ({} conns): {} errors, first: {e}",
                r.scenario,
                r.conns(),
                r.stats.errors
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Issue-6 targets

/// One target line: what, the figure, the goal, met or not (None: not measured).
pub struct Target {
    pub what: String,
    pub figure: String,
    pub goal: &'static str,
    pub met: Option<bool>,
}

impl Target {
    pub fn to_json(&self) -> Value {
        json!({ "target": self.what, "figure": self.figure, "goal": self.goal, "met": self.met })
    }
}

pub fn print_targets(targets: &[Target]) {
    println!(
        "{:<40} {:>22} {:<26} met",
        "issue-6 target", "measured", "goal"
    );
    for t in targets {
        println!(
            "{:<40} {:>22} {:<26} {}",
            t.what,
            t.figure,
            t.goal,
            match t.met {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "?",
            }
        );
    }
}
