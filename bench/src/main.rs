//! coffre-bench: load scenarios against a real `coffre` server process.
//!
//! `cargo run --release -p coffre-bench -- <kv-v1|kv-v2|audit-compare|all> [--duration-secs 5]
//! [--binary target/release/coffre] [--audit]`
//!
//! Structure: a [`Bench`] starts one server (optionally with a file audit device), prepares it
//! (mounts, policy, token, seed data) and runs a list of [`Scenario`]s, each at several client
//! counts. The CLI subcommands ([`Suite`]) run one or more benches: `audit-compare` runs kv-v2
//! twice (fresh server each, audit off then on) and compares throughput. A scenario is one kind
//! of request; adding one = a new enum variant + its `name` / `prepare` / `request` arms.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use tokio::sync::Barrier;

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
    /// KV v1 (root token): durable writes and reads of 100 B values.
    #[command(name = "kv-v1")]
    KvV1(Common),
    /// KV v2 with a non-root token (policy `bench`): reads and durable writes of 100 B values.
    #[command(name = "kv-v2")]
    KvV2(Common),
    /// kv-v2 twice on fresh servers, without then with a file audit device; prints the slowdown.
    #[command(name = "audit-compare")]
    AuditCompare(Common),
    /// kv-v1, kv-v2, then audit-compare.
    #[command(name = "all")]
    All(Common),
}

/// Options shared by every suite.
#[derive(Args, Clone, Debug)]
struct Common {
    /// Measured duration of each (scenario, clients) run.
    #[arg(long, default_value_t = 5)]
    duration_secs: u64,
    /// Unmeasured warm-up before each run.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Path of the server binary (relative paths are tried against the cwd, then the workspace root).
    #[arg(long, default_value = "target/release/coffre")]
    binary: PathBuf,
    /// Client counts to run every scenario with (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    clients: Vec<usize>,
    /// Where to write the JSON results (default: bench/results).
    #[arg(long)]
    results_dir: Option<PathBuf>,
    /// Add a file audit device (`<tempdir>/audit.log`) to the server config of kv-v1 / kv-v2
    /// (audit-compare always runs both ways and ignores this).
    #[arg(long)]
    audit: bool,
}

// ------------------------------------------------------------------------------------------------
// Scenarios

const VALUE_LEN: usize = 100;
const READ_KEYS: usize = 1_000;

#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// `PUT kv1/bench/w/<client>/<seq>` with a 100 B value (each acknowledged write is durable).
    KvV1Write,
    /// `GET kv1/bench/r/<k>` over 1,000 pre-written keys.
    KvV1Read,
    /// `GET secret/data/k<n>` over 1,000 pre-written keys (non-root token).
    KvV2Read,
    /// `POST secret/data/w<worker>-<seq>` `{"data":{"v":<100 B>}}` (non-root token; durable,
    /// unique keys, so every write creates version 1 of a new secret).
    KvV2Write,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::KvV1Write => "kv-v1 write",
            Scenario::KvV1Read => "kv-v1 read",
            Scenario::KvV2Read => "kv-v2 read",
            Scenario::KvV2Write => "kv-v2 write",
        }
    }

    /// One-off setup on the server before the scenario runs (seed data etc.).
    async fn prepare(self, srv: &ServerCtx) -> Result<()> {
        match self {
            Scenario::KvV1Write => Ok(()),
            Scenario::KvV1Read => {
                let v = json!({ "value": value_100b(0) });
                for k in 0..READ_KEYS {
                    srv.expect_ok("PUT", &format!("kv1/bench/r/{k}"), Some(&v))
                        .await?;
                }
                Ok(())
            }
            Scenario::KvV2Write => Ok(()),
            Scenario::KvV2Read => {
                // Seeded with the load token, so a policy mistake fails here, not as errors.
                for k in 0..READ_KEYS {
                    let v = json!({ "data": { "v": value_100b(k as u64) } });
                    srv.expect_ok_as(
                        &srv.load_token,
                        "POST",
                        &format!("secret/data/k{k}"),
                        Some(&v),
                    )
                    .await?;
                }
                Ok(())
            }
        }
    }

    /// One request; Ok(true) on a 2xx answer.
    async fn request(self, w: &Worker, seq: u64) -> Result<bool> {
        match self {
            Scenario::KvV1Write => {
                let path = format!("kv1/bench/w/{}/{}", w.id, seq);
                let body = json!({ "value": value_100b(seq) });
                w.send("PUT", &path, Some(&body)).await
            }
            Scenario::KvV1Read => {
                let k = w.rand_index(seq, READ_KEYS);
                w.send("GET", &format!("kv1/bench/r/{k}"), None).await
            }
            Scenario::KvV2Read => {
                let k = w.rand_index(seq, READ_KEYS);
                w.send("GET", &format!("secret/data/k{k}"), None).await
            }
            Scenario::KvV2Write => {
                let path = format!("secret/data/w{}-{}", w.id, seq);
                let body = json!({ "data": { "v": value_100b(seq) } });
                w.send("POST", &path, Some(&body)).await
            }
        }
    }
}

/// Policy of the non-root load token used by kv-v2.
const BENCH_POLICY: &str = r#"path "secret/data/*" { capabilities = ["create","read","update"] }"#;

/// One server's worth of scenarios.
#[derive(Clone, Copy, Debug)]
enum Bench {
    KvV1,
    KvV2,
}

impl Bench {
    fn name(self) -> &'static str {
        match self {
            Bench::KvV1 => "kv-v1",
            Bench::KvV2 => "kv-v2",
        }
    }
    fn scenarios(self) -> Vec<Scenario> {
        match self {
            Bench::KvV1 => vec![Scenario::KvV1Write, Scenario::KvV1Read],
            Bench::KvV2 => vec![Scenario::KvV2Read, Scenario::KvV2Write],
        }
    }
    /// Server-side setup shared by the scenarios (after init + unseal); may set the load token.
    async fn setup(self, srv: &mut ServerCtx) -> Result<()> {
        match self {
            Bench::KvV1 => {
                srv.expect_ok("POST", "sys/mounts/kv1", Some(&json!({"type": "kv"})))
                    .await?;
                Ok(())
            }
            Bench::KvV2 => {
                srv.expect_ok(
                    "POST",
                    "sys/mounts/secret",
                    Some(&json!({"type": "kv", "options": {"version": "2"}})),
                )
                .await?;
                srv.expect_ok(
                    "PUT",
                    "sys/policies/acl/bench",
                    Some(&json!({ "policy": BENCH_POLICY })),
                )
                .await?;
                let created = srv
                    .expect_ok(
                        "POST",
                        "auth/token/create",
                        Some(&json!({"policies": ["bench"], "ttl": "2h"})),
                    )
                    .await?;
                let token = created["auth"]["client_token"]
                    .as_str()
                    .ok_or_else(|| anyhow!("auth/token/create: no auth.client_token: {created}"))?
                    .to_string();
                let me = srv
                    .expect_ok_as(&token, "GET", "auth/token/lookup-self", None)
                    .await?;
                let policies = &me["data"]["policies"];
                if policies.as_array().is_none_or(|p| {
                    p.iter().any(|x| x == "root") || !p.iter().any(|x| x == "bench")
                }) {
                    bail!("load token is not a plain `bench` token: policies {policies}");
                }
                srv.load_token = token;
                Ok(())
            }
        }
    }
}

fn value_100b(seed: u64) -> String {
    let mut s = format!("{seed:020}-");
    while s.len() < VALUE_LEN {
        s.push((b'a' + (s.len() % 26) as u8) as char);
    }
    s.truncate(VALUE_LEN);
    s
}

// ------------------------------------------------------------------------------------------------
// Server process

struct ServerProc {
    child: Child,
    _dir: tempfile::TempDir,
    log_path: PathBuf,
    /// `<tempdir>/audit.log` when the server was started with the audit device.
    audit_log: Option<PathBuf>,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct ServerCtx {
    base: String,
    /// Root token (setup).
    token: String,
    /// Token the workers send (root unless the bench's setup creates another).
    load_token: String,
    client: reqwest::Client,
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()?)
}

impl ServerCtx {
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let mut rb = self
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes())?,
                format!("{}/v1/{path}", self.base),
            )
            .header("X-Vault-Token", token);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let r = rb.send().await?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await?;
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((status, v))
    }
    /// As the root token; fails unless 2xx.
    async fn expect_ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.expect_ok_as(&self.token, method, path, body).await
    }
    async fn expect_ok_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let (s, v) = self.call(token, method, path, body).await?;
        if s / 100 != 2 {
            bail!("{method} /v1/{path} → {s} {v}");
        }
        Ok(v)
    }
}

fn resolve_binary(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() || p.exists() {
        return Ok(p.to_path_buf());
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p);
    if ws.exists() {
        return Ok(ws);
    }
    Err(anyhow!(
        "server binary {} not found (build it first: cargo build --release -p coffre-cli)",
        p.display()
    ))
}

/// A TOML basic string literal (JSON string escapes are valid TOML escapes).
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

async fn start_server(binary: &Path, audit: bool) -> Result<(ServerProc, ServerCtx)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = tempfile::Builder::new().prefix("coffre-bench-").tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let cfg = dir.path().join("config.toml");
    let mut cfg_text = format!(
        "listen = \"127.0.0.1:{port}\"\n\n[storage]\nbackend = \"embedded\"\npath = {}\n\n[tls]\ndisable = true\n",
        toml_str(&data.display().to_string())
    );
    let audit_log = audit.then(|| dir.path().join("audit.log"));
    if let Some(p) = &audit_log {
        cfg_text.push_str(&format!(
            "\n[[audit]]\ntype = \"file\"\npath = {}\n",
            toml_str(&p.display().to_string())
        ));
    }
    std::fs::write(&cfg, cfg_text)?;
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path)?;
    let child = Command::new(binary)
        .arg("server")
        .arg("--config")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("spawn {}", binary.display()))?;
    let mut proc = ServerProc {
        child,
        _dir: dir,
        log_path,
        audit_log,
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = http_client()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = proc.child.try_wait()? {
            bail!(
                "server exited early ({st}):\n{}",
                std::fs::read_to_string(&proc.log_path).unwrap_or_default()
            );
        }
        if let Ok(r) = client
            .get(format!("{base}/v1/sys/seal-status"))
            .send()
            .await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            let _ = proc.child.kill();
            bail!(
                "server not ready after 20 s:\n{}",
                std::fs::read_to_string(&proc.log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ctx = ServerCtx {
        base,
        token: String::new(),
        load_token: String::new(),
        client,
    };
    let init = ctx
        .expect_ok(
            "PUT",
            "sys/init",
            Some(&json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await?;
    let key = init["keys"][0]
        .as_str()
        .ok_or_else(|| anyhow!("sys/init: no keys: {init}"))?
        .to_string();
    ctx.token = init["root_token"]
        .as_str()
        .ok_or_else(|| anyhow!("sys/init: no root_token"))?
        .to_string();
    ctx.load_token = ctx.token.clone();
    let st = ctx
        .expect_ok("PUT", "sys/unseal", Some(&json!({"key": key})))
        .await?;
    if st["sealed"] != json!(false) {
        bail!("still sealed after unseal: {st}");
    }
    Ok((proc, ctx))
}

// ------------------------------------------------------------------------------------------------
// Load generation

struct Worker {
    id: usize,
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Worker {
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<bool> {
        let mut rb = self
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes())?,
                format!("{}/v1/{path}", self.base),
            )
            .header("X-Vault-Token", &self.token);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let r = rb.send().await?;
        let ok = r.status().is_success();
        let _ = r.bytes().await?; // drain so the connection is reused
        Ok(ok)
    }
    /// Cheap deterministic pseudo-random index (splitmix64 of worker id and sequence).
    fn rand_index(&self, seq: u64, n: usize) -> usize {
        let mut z = seq
            .wrapping_add((self.id as u64) << 40)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}

struct RunResult {
    scenario: &'static str,
    clients: usize,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
}

impl RunResult {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "clients": self.clients,
            "requests": self.requests,
            "errors": self.errors,
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "req_per_sec": self.rps(),
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "p999_us": self.p999_us,
        })
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One (scenario, clients) measurement. `run_no` (distinct per run on one server) goes into the
/// top bits of every worker's sequence numbers, so write keys never repeat across runs.
async fn run(
    scenario: Scenario,
    srv: &ServerCtx,
    run_no: u64,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<RunResult> {
    // All workers connect first, then start together on the barrier.
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::with_capacity(clients);
    for id in 0..clients {
        let w = Worker {
            id,
            base: srv.base.clone(),
            token: srv.load_token.clone(),
            client: http_client()?,
        };
        let barrier = barrier.clone();
        let my_base = (run_no << 48) | ((id as u64 + 1) << 32);
        tasks.push(tokio::spawn(async move {
            // establish the keep-alive connection outside the measurement
            let _ = w.send("GET", "sys/seal-status", None).await;
            barrier.wait().await;
            let mut seq = my_base;
            let warm_end = Instant::now() + warmup;
            while Instant::now() < warm_end {
                let _ = scenario.request(&w, seq).await;
                seq += 1;
            }
            barrier.wait().await;
            let end = Instant::now() + duration;
            let mut lat: Vec<u64> = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let ok = matches!(scenario.request(&w, seq).await, Ok(true));
                lat.push(t.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                }
                seq += 1;
            }
            (lat, errors)
        }));
    }
    barrier.wait().await; // connected
    barrier.wait().await; // warm-up done
    let start = Instant::now();
    let mut all: Vec<u64> = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await?;
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    Ok(RunResult {
        scenario: scenario.name(),
        clients,
        requests: all.len() as u64,
        errors,
        elapsed,
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
        p999_us: percentile(&all, 0.999),
    })
}

fn print_table(rows: &[RunResult]) {
    println!(
        "{:<16} {:>7} {:>10} {:>11} {:>9} {:>9} {:>10} {:>7}",
        "scenario", "clients", "requests", "req/s", "p50 µs", "p99 µs", "p99.9 µs", "errors"
    );
    for r in rows {
        println!(
            "{:<16} {:>7} {:>10} {:>11.1} {:>9} {:>9} {:>10} {:>7}",
            r.scenario,
            r.clients,
            r.requests,
            r.rps(),
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.errors
        );
    }
}

/// Size of the audit log (and any rotated siblings `audit.log.*`) at the end of a run.
#[derive(Clone, Copy, Debug)]
struct AuditStats {
    files: usize,
    bytes: u64,
    lines: u64,
}

fn audit_stats(path: &Path) -> Result<AuditStats> {
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
    fn to_json(self) -> Value {
        json!({ "files": self.files, "bytes": self.bytes, "lines": self.lines })
    }
    fn print(self, label: &str) {
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

/// What one bench (one server) produced.
struct Outcome {
    rows: Vec<RunResult>,
    audit: Option<AuditStats>,
}

/// Start a fresh server, set it up and run every scenario of `bench` at every client count.
async fn run_bench(bench: Bench, common: &Common, binary: &Path, audit: bool) -> Result<Outcome> {
    let duration = Duration::from_secs(common.duration_secs.max(1));
    let warmup = Duration::from_secs(common.warmup_secs);
    eprintln!(
        "starting {} ({}, audit {})",
        binary.display(),
        bench.name(),
        if audit { "on" } else { "off" }
    );
    let (proc, mut srv) = start_server(binary, audit).await?;
    bench
        .setup(&mut srv)
        .await
        .with_context(|| format!("setup {}", bench.name()))?;

    let mut rows = Vec::new();
    let mut run_no = 0u64;
    for scenario in bench.scenarios() {
        scenario
            .prepare(&srv)
            .await
            .with_context(|| format!("prepare {}", scenario.name()))?;
        for &clients in &common.clients {
            eprintln!(
                "running {} with {clients} client(s) for {duration:?}…",
                scenario.name()
            );
            run_no += 1;
            rows.push(run(scenario, &srv, run_no, clients.max(1), warmup, duration).await?);
        }
    }
    // Entries are acknowledged once written to the file, so the log is complete here; read it
    // before the server (and its temp dir) goes away.
    let audit = proc.audit_log.as_deref().map(audit_stats).transpose()?;
    drop(proc);
    Ok(Outcome { rows, audit })
}

fn bench_json(o: &Outcome, audit: bool) -> Value {
    json!({
        "audit": audit,
        "audit_log": o.audit.map(AuditStats::to_json),
        "results": o.rows.iter().map(RunResult::to_json).collect::<Vec<_>>(),
    })
}

/// Run `bench` once, print its table; returns its JSON section.
async fn single(bench: Bench, common: &Common, binary: &Path) -> Result<Value> {
    let o = run_bench(bench, common, binary, common.audit).await?;
    println!(
        "## {} (audit {})",
        bench.name(),
        if common.audit { "on" } else { "off" }
    );
    print_table(&o.rows);
    if let Some(a) = o.audit {
        a.print("audit log");
    }
    println!();
    Ok(bench_json(&o, common.audit))
}

/// kv-v2 without, then with the audit device (fresh server each); prints the comparison.
async fn audit_compare(common: &Common, binary: &Path) -> Result<Value> {
    let off = run_bench(Bench::KvV2, common, binary, false).await?;
    let on = run_bench(Bench::KvV2, common, binary, true).await?;
    println!("## audit-compare (kv-v2, audit off vs on)");
    println!(
        "{:<16} {:>7} {:>11} {:>11} {:>10} {:>14}",
        "scenario", "clients", "req/s off", "req/s on", "slowdown", "errors off/on"
    );
    let mut cmp = Vec::new();
    for (a, b) in off.rows.iter().zip(&on.rows) {
        let slowdown = if a.rps() > 0.0 {
            (1.0 - b.rps() / a.rps()) * 100.0
        } else {
            f64::NAN
        };
        println!(
            "{:<16} {:>7} {:>11.1} {:>11.1} {:>9.1}% {:>14}",
            a.scenario,
            a.clients,
            a.rps(),
            b.rps(),
            slowdown,
            format!("{}/{}", a.errors, b.errors)
        );
        cmp.push(json!({
            "scenario": a.scenario,
            "clients": a.clients,
            "req_per_sec_off": a.rps(),
            "req_per_sec_on": b.rps(),
            "slowdown_pct": slowdown,
        }));
    }
    if let Some(a) = on.audit {
        a.print("audit log after the \"on\" run");
    }
    println!();
    Ok(json!({
        "off": bench_json(&off, false),
        "on": bench_json(&on, true),
        "comparison": cmp,
    }))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let suite = cli.suite;
    let (name, common) = match &suite {
        Suite::KvV1(c) => ("kv-v1", c),
        Suite::KvV2(c) => ("kv-v2", c),
        Suite::AuditCompare(c) => ("audit-compare", c),
        Suite::All(c) => ("all", c),
    };
    let binary = resolve_binary(&common.binary)?;

    let section = match &suite {
        Suite::KvV1(_) => single(Bench::KvV1, common, &binary).await?,
        Suite::KvV2(_) => single(Bench::KvV2, common, &binary).await?,
        Suite::AuditCompare(_) => audit_compare(common, &binary).await?,
        Suite::All(_) => json!({
            "kv-v1": single(Bench::KvV1, common, &binary).await?,
            "kv-v2": single(Bench::KvV2, common, &binary).await?,
            "audit-compare": audit_compare(common, &binary).await?,
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
        "duration_secs": common.duration_secs.max(1),
        "warmup_secs": common.warmup_secs,
        "clients": common.clients,
        "value_bytes": VALUE_LEN,
        "read_keys": READ_KEYS,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    });
    // The suite's own keys sit at the top level (kv-v1 / kv-v2: `results`, as before).
    if let (Some(d), Value::Object(sec)) = (doc.as_object_mut(), section) {
        d.extend(sec);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("wrote {}", out.display());
    Ok(())
}
