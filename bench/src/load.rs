//! The load generator: closed-loop workers, each with one keep-alive HTTP/1.1 connection made
//! with hyper's low-level `client::conn::http1` over a tokio `TcpStream` (no pool, no proxy
//! logic, no redirects, no per-request URL parsing). Requests come from a scenario's
//! [`MakeReq`], which reuses pre-built URIs, header values and bodies (`Bytes`, so a clone is
//! a reference-count bump). Everything runs on the bench's single-threaded runtime, on the
//! load core.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::server;

pub type Body = Full<Bytes>;
/// Builds the request for sequence number `seq` (unique per request within a run).
pub type MakeReq = Arc<dyn Fn(u64) -> Request<Body> + Send + Sync>;

static X_VAULT_TOKEN: HeaderName = HeaderName::from_static("x-vault-token");

/// Pre-built pieces shared by the requests of one scenario.
#[derive(Clone)]
pub struct ReqParts {
    host: HeaderValue,
    token: Option<HeaderValue>,
    json: HeaderValue,
}

impl ReqParts {
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Result<Self> {
        Ok(Self {
            host: HeaderValue::from_str(&addr.to_string())?,
            token: token
                .filter(|t| !t.is_empty())
                .map(HeaderValue::from_str)
                .transpose()?,
            json: HeaderValue::from_static("application/json"),
        })
    }
    /// A request from pre-built parts; `body` empty means no body and no content type.
    pub fn build(&self, method: &Method, uri: Uri, body: &Bytes) -> Request<Body> {
        let mut req = Request::new(Full::new(body.clone()));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        if let Some(t) = &self.token {
            h.insert(X_VAULT_TOKEN.clone(), t.clone());
        }
        if !body.is_empty() {
            h.insert(CONTENT_TYPE, self.json.clone());
        }
        req
    }
}

/// `/v1/<path>` as an origin-form URI.
pub fn uri(path: &str) -> Uri {
    Uri::try_from(format!("/v1/{path}")).unwrap_or_else(|_| Uri::from_static("/"))
}

/// Cheap deterministic pseudo-random number from a sequence number (splitmix64).
pub fn mix(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What to sample around a measured window.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// Server processes, one per node (their CPU time is charged per request).
    pub server_pids: Vec<u32>,
    /// Also charge the CPU time of the machine's PostgreSQL processes.
    pub storage_cpu: bool,
    /// The core the server is pinned to (its total busy time, all processes).
    pub server_cpu: Option<usize>,
    /// The core this process is pinned to (same).
    pub load_cpu: Option<usize>,
}

#[derive(Clone, Copy)]
struct Sample {
    server: Option<u64>,
    storage: Option<u64>,
    load: Option<u64>,
    core: Option<(u64, u64)>,
    load_core: Option<(u64, u64)>,
}

impl Probe {
    fn sample(&self) -> Sample {
        Sample {
            server: (!self.server_pids.is_empty())
                .then(|| {
                    self.server_pids
                        .iter()
                        .map(|&p| server::cpu_ticks(p).ok())
                        .sum::<Option<u64>>()
                })
                .flatten(),
            storage: self.storage_cpu.then(server::postgres_cpu_ticks),
            load: server::self_cpu_ticks().ok(),
            core: self.server_cpu.and_then(server::core_ticks),
            load_core: self.load_cpu.and_then(server::core_ticks),
        }
    }
}

/// When a run stops.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Unmeasured warm-up, then a measured window.
    Timed {
        warmup: Duration,
        duration: Duration,
    },
    /// Exactly `n` requests in total, with sequence numbers `0..n` shared out to the workers
    /// (used to write a fixed number of secrets).
    Count(u64),
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Stats {
    pub conns: usize,
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Server CPU (utime + stime, every node) during the measured window / requests, in µs.
    pub cpu_us_per_req: Option<f64>,
    /// PostgreSQL's CPU (all its processes) during the window / requests, in µs.
    pub storage_cpu_us_per_req: Option<f64>,
    /// Server CPU time / wall time of the window, in % of one core (100 = saturated core).
    pub server_cpu_pct: Option<f64>,
    /// This process's (the load generator's) CPU time / wall time, in % of one core.
    pub load_cpu_pct: Option<f64>,
    /// How busy the server's CPU was, counting every process on it (from `/proc/stat`); well
    /// above `server_cpu_pct` means something else ran on the server's core.
    pub server_core_busy_pct: Option<f64>,
    /// The same for the load generator's core.
    pub load_core_busy_pct: Option<f64>,
    /// First non-2xx answer or transport error, for diagnosis.
    pub first_error: Option<String>,
}

impl Stats {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn to_json(&self) -> Value {
        json!({
            "connections": self.conns,
            "requests": self.requests,
            "errors": self.errors,
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "req_per_sec": self.rps(),
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "p999_us": self.p999_us,
            "server_cpu_us_per_req": self.cpu_us_per_req,
            "storage_cpu_us_per_req": self.storage_cpu_us_per_req,
            "server_cpu_pct": self.server_cpu_pct,
            "load_cpu_pct": self.load_cpu_pct,
            "server_core_busy_pct": self.server_core_busy_pct,
            "load_core_busy_pct": self.load_core_busy_pct,
            "first_error": self.first_error,
        })
    }
}

fn percentile_us(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted_ns.len() as f64).ceil() as usize;
    sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1000.0
}

struct Conn {
    tx: SendRequest<Body>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { tx })
    }

    /// Sends one request and drains the answer. Ok(None) on 2xx, Ok(Some(msg)) otherwise
    /// (`want_msg`: read the body into the message, else just the status).
    async fn send(&mut self, req: Request<Body>, want_msg: bool) -> Result<Option<String>> {
        self.tx.ready().await?;
        let resp = self.tx.send_request(req).await?;
        let status = resp.status();
        let mut body = resp.into_body();
        if status.is_success() || !want_msg {
            while let Some(f) = body.frame().await {
                f?;
            }
            return Ok((!status.is_success()).then(|| status.to_string()));
        }
        let bytes = body.collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        Ok(Some(format!("{status} {text}")))
    }
}

/// One worker's measurement.
#[derive(Default)]
struct WorkerOut {
    lat_ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl WorkerOut {
    async fn one(&mut self, conn: &mut Option<Conn>, addr: SocketAddr, req: Request<Body>) {
        let want_msg = self.first_error.is_none();
        let t = Instant::now();
        let res = match conn.as_mut() {
            Some(c) => c.send(req, want_msg).await,
            None => Err(anyhow::anyhow!("not connected")),
        };
        self.lat_ns.push(t.elapsed().as_nanos() as u64);
        match res {
            Ok(None) => {}
            Ok(Some(msg)) => {
                self.errors += 1;
                self.first_error.get_or_insert(msg);
            }
            Err(e) => {
                self.errors += 1;
                self.first_error
                    .get_or_insert_with(|| format!("transport: {e:#}"));
                // reconnect for the next request
                *conn = Conn::open(addr).await.ok();
            }
        }
    }
}

/// Runs `conns` closed-loop workers until `stop`, worker `i` on `addrs[i % addrs.len()]` (the
/// nodes of a cluster share the connections); `seq_base` (distinct per run on one server)
/// goes into the high bits of the timed mode's sequence numbers, so generated keys never
/// repeat across runs. `probe`: whose CPU time to charge per request.
pub async fn run(
    addrs: &[SocketAddr],
    make: MakeReq,
    conns: usize,
    stop: Stop,
    seq_base: u64,
    probe: Probe,
) -> Result<Stats> {
    let conns = conns.max(1);
    anyhow::ensure!(!addrs.is_empty(), "no server address to load");
    // Every worker connects first; then warm-up; then all start the window together.
    let barrier = Arc::new(Barrier::new(conns + 1));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(conns);
    for id in 0..conns {
        let make = make.clone();
        let barrier = barrier.clone();
        let next = next.clone();
        let addr = addrs[id % addrs.len()];
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await.ok();
            let mut out = WorkerOut {
                lat_ns: Vec::with_capacity(1 << 14),
                ..Default::default()
            };
            let mut seq = (seq_base << 48) | ((id as u64 + 1) << 32);
            barrier.wait().await;
            match stop {
                Stop::Timed { warmup, duration } => {
                    let warm_end = Instant::now() + warmup;
                    while Instant::now() < warm_end {
                        out.one(&mut conn, addr, make(seq)).await;
                        seq += 1;
                    }
                    out = WorkerOut {
                        lat_ns: Vec::with_capacity(1 << 16),
                        ..Default::default()
                    };
                    barrier.wait().await;
                    let end = Instant::now() + duration;
                    while Instant::now() < end {
                        out.one(&mut conn, addr, make(seq)).await;
                        seq += 1;
                    }
                }
                Stop::Count(n) => {
                    barrier.wait().await;
                    loop {
                        let s = next.fetch_add(1, Ordering::Relaxed);
                        if s >= n {
                            break;
                        }
                        out.one(&mut conn, addr, make(s)).await;
                    }
                }
            }
            out
        }));
    }
    barrier.wait().await; // connected
    barrier.wait().await; // warm-up done (Timed) / go (Count)
    let s0 = probe.sample();
    let start = Instant::now();
    let mut all: Vec<u64> = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let out = t.await?;
        all.extend(out.lat_ns);
        errors += out.errors;
        if first_error.is_none() {
            first_error = out.first_error;
        }
    }
    let elapsed = start.elapsed();
    let s1 = probe.sample();
    all.sort_unstable();
    let requests = all.len() as u64;
    let tick_secs = 1.0 / server::clock_ticks() as f64;
    let wall = elapsed.as_secs_f64().max(1e-9);
    let delta = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| b.saturating_sub(a));
    let server_ticks = delta(s0.server, s1.server);
    let per_req = |ticks: Option<u64>| {
        ticks
            .filter(|_| requests > 0)
            .map(|t| t as f64 * tick_secs * 1e6 / requests as f64)
    };
    let cpu_us_per_req = per_req(server_ticks);
    let storage_cpu_us_per_req = per_req(delta(s0.storage, s1.storage));
    let server_cpu_pct = server_ticks.map(|t| t as f64 * tick_secs / wall * 100.0);
    let load_cpu_pct = delta(s0.load, s1.load).map(|t| t as f64 * tick_secs / wall * 100.0);
    let busy = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| {
        a.zip(b).and_then(|((b0, t0), (b1, t1))| {
            let total = t1.saturating_sub(t0);
            (total > 0).then(|| b1.saturating_sub(b0) as f64 / total as f64 * 100.0)
        })
    };
    let server_core_busy_pct = busy(s0.core, s1.core);
    let load_core_busy_pct = busy(s0.load_core, s1.load_core);
    Ok(Stats {
        conns,
        requests,
        errors,
        elapsed,
        p50_us: percentile_us(&all, 0.50),
        p99_us: percentile_us(&all, 0.99),
        p999_us: percentile_us(&all, 0.999),
        cpu_us_per_req,
        storage_cpu_us_per_req,
        server_cpu_pct,
        load_cpu_pct,
        server_core_busy_pct,
        load_core_busy_pct,
        first_error,
    })
}
