//! The server under test: a release `coffre server --config` in a temp dir (embedded storage,
//! optional file audit device), pinned to its core, plus a small reqwest client for setup
//! calls (the measured load goes through `load.rs`, not through this client).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::pin::{self, Pinning};
use crate::targets::{self, NodeFiles, Product, Storage};

/// How to start a server.
#[derive(Clone, Debug)]
pub struct ServerOpts {
    pub binary: PathBuf,
    /// Add a file audit device writing `<tempdir>/audit.log`.
    pub audit: bool,
    pub pinning: Pinning,
    pub product: Product,
    pub storage: Storage,
}

impl ServerOpts {
    /// coffre on its embedded store (every suite but `ha`).
    pub fn coffre(binary: PathBuf, audit: bool, pinning: Pinning) -> Self {
        Self {
            binary,
            audit,
            pinning,
            product: Product::Coffre,
            storage: Storage::Local,
        }
    }
}

pub fn resolve_binary(p: &Path) -> Result<PathBuf> {
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

/// The server's temp dir: config, data dir, log, audit log. Outlives server processes, so a
/// server can be restarted on the same data.
pub struct ServerDir {
    /// Removed (with the data) when the bench is done with the server.
    _dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub config: PathBuf,
    pub log: PathBuf,
    pub audit_log: Option<PathBuf>,
}

fn free_port() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl ServerDir {
    /// A dir with node `node`'s configuration (`node` names it within a cluster).
    fn new(opts: &ServerOpts, node: usize) -> Result<Self> {
        let addr = free_port()?;
        let dir = tempfile::Builder::new().prefix("coffre-bench-").tempdir()?;
        std::fs::create_dir_all(dir.path().join("data"))?;
        let audit_log = opts.audit.then(|| dir.path().join("audit.log"));
        let text = targets::config_text(
            opts.product,
            &opts.storage,
            &NodeFiles {
                node,
                addr,
                cluster_addr: free_port()?,
                dir: dir.path(),
                audit_log: audit_log.as_deref(),
            },
        )?;
        let config = dir.path().join(match opts.product {
            Product::Coffre => "config.toml",
            Product::OpenBao => "config.hcl",
        });
        std::fs::write(&config, text)?;
        let log = dir.path().join("server.log");
        Ok(Self {
            _dir: dir,
            addr,
            config,
            log,
            audit_log,
        })
    }
}

/// One running server process; killed when dropped.
pub struct ServerProc {
    child: Child,
    pub pid: u32,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProc {
    fn spawn(opts: &ServerOpts, dir: &ServerDir) -> Result<Self> {
        let (binary, pinning) = (opts.binary.as_path(), &opts.pinning);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&dir.log)?;
        let use_taskset = pinning.server_cpu.is_some() && pinning.taskset;
        let mut cmd = if use_taskset {
            let mut c = Command::new(pin::TASKSET);
            c.arg("-c")
                .arg(pinning.server_cpu.unwrap_or(0).to_string())
                .arg(binary);
            c
        } else {
            Command::new(binary)
        };
        match opts.product {
            Product::Coffre => cmd.arg("server").arg("--config").arg(&dir.config),
            Product::OpenBao => cmd
                .arg("server")
                .arg(format!("-config={}", dir.config.display()))
                .env("BAO_LOG_LEVEL", "warn"),
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", binary.display()))?;
        let pid = child.id();
        if let (false, Some(cpu)) = (use_taskset, pinning.server_cpu) {
            // Without taskset the child starts with our (load-core) affinity: move it now,
            // and again once it is up (`pin_threads`).
            let _ = pin::pin_process(pid, cpu);
        }
        Ok(Self { child, pid })
    }

    /// SIGTERM (graceful shutdown: storage and audit flushed), then wait; SIGKILL after 15 s.
    pub fn stop(mut self) -> Result<()> {
        if let Some(p) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("server did not stop within 15 s of SIGTERM; killing it");
        Ok(()) // Drop kills
    }
}

/// Setup client (reqwest; not used for measured load).
pub struct ServerCtx {
    pub base: String,
    /// Root token (setup).
    pub token: String,
    /// Token the load sends (root unless the suite's setup creates another).
    pub load_token: String,
    /// The `bench` token of the namespace `bench-ns/` (namespaces suite only).
    pub ns_token: String,
    /// A userpass login's token whose KV policy comes from an identity group (auth suite only).
    pub entity_token: String,
    /// The single unseal share (init is 1-of-1).
    pub unseal_key: String,
    client: reqwest::Client,
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()?)
}

impl ServerCtx {
    pub async fn call(
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
    /// Waits (10 s at most) until a KV v2 mount takes writes: OpenBao upgrades a new mount
    /// in the background and refuses writes until it is done.
    pub async fn wait_for_kv2(&self, mount: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let body = json!({"data": {"ready": "yes"}});
        let path = format!("{mount}/data/bench-ready");
        loop {
            match self.call(&self.token, "POST", &path, Some(&body)).await? {
                (200 | 204, _) => return Ok(()),
                (s, v) if Instant::now() > deadline => bail!("POST /v1/{path} → {s} {v}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    /// As the root token; fails unless 2xx.
    pub async fn expect_ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.expect_ok_as(&self.token, method, path, body).await
    }
    pub async fn expect_ok_as(
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

/// A server under test: its dir, its current process and the setup client.
pub struct Server {
    pub dir: ServerDir,
    pub proc: Option<ServerProc>,
    pub ctx: ServerCtx,
    opts: ServerOpts,
}

impl Server {
    /// Fresh dir, start, init 1-of-1, unseal.
    pub async fn start(opts: &ServerOpts) -> Result<Self> {
        let mut srv = Self::start_node(opts, 0).await?;
        srv.init().await?;
        let st = srv.unseal().await?;
        if st["sealed"] != json!(false) {
            bail!("still sealed after unseal: {st}");
        }
        Ok(srv)
    }

    /// Node `node` of a cluster in a fresh dir, started and answering, not yet initialized
    /// or unsealed (see [`Server::init`], [`Server::join`]).
    pub async fn start_node(opts: &ServerOpts, node: usize) -> Result<Self> {
        let dir = ServerDir::new(opts, node)?;
        let mut srv = Server {
            ctx: ServerCtx {
                base: format!("http://{}", dir.addr),
                token: String::new(),
                load_token: String::new(),
                ns_token: String::new(),
                entity_token: String::new(),
                unseal_key: String::new(),
                client: http_client()?,
            },
            dir,
            proc: None,
            opts: opts.clone(),
        };
        srv.spawn().await?;
        Ok(srv)
    }

    /// `sys/init` with one share; keeps the key and the root token. A coffre node of a
    /// cluster answers 503 until an active node is elected: retried for 15 s.
    pub async fn init(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let body = json!({"secret_shares": 1, "secret_threshold": 1});
        let init = loop {
            match self.ctx.call("", "PUT", "sys/init", Some(&body)).await? {
                (200, v) => break v,
                (503, _) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                (s, v) => bail!("PUT /v1/sys/init → {s} {v}"),
            }
        };
        let key = init["keys"][0]
            .as_str()
            .ok_or_else(|| anyhow!("sys/init: no keys: {init}"))?;
        let token = init["root_token"]
            .as_str()
            .ok_or_else(|| anyhow!("sys/init: no root_token"))?;
        self.use_keys(key, token);
        Ok(())
    }

    /// Takes the cluster's unseal key and root token (another node initialized it).
    pub fn use_keys(&mut self, unseal_key: &str, root_token: &str) {
        self.ctx.unseal_key = unseal_key.to_string();
        self.ctx.token = root_token.to_string();
        self.ctx.load_token = root_token.to_string();
    }

    /// Spawns the process and waits until `sys/seal-status` answers.
    async fn spawn(&mut self) -> Result<()> {
        let proc = ServerProc::spawn(&self.opts, &self.dir)?;
        self.proc = Some(proc);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(p) = self.proc.as_mut()
                && let Some(st) = p.child.try_wait()?
            {
                bail!(
                    "server exited early ({st}):\n{}",
                    std::fs::read_to_string(&self.dir.log).unwrap_or_default()
                );
            }
            if let Ok((200, _)) = self.ctx.call("", "GET", "sys/seal-status", None).await {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "server not ready after 30 s:\n{}",
                    std::fs::read_to_string(&self.dir.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let (Some(cpu), Some(p)) = (self.opts.pinning.server_cpu, &self.proc) {
            pin::pin_process(p.pid, cpu)?;
        }
        Ok(())
    }

    /// Sends the unseal share; returns the `sys/unseal` answer.
    pub async fn unseal(&self) -> Result<Value> {
        self.ctx
            .expect_ok(
                "PUT",
                "sys/unseal",
                Some(&json!({"key": self.ctx.unseal_key})),
            )
            .await
    }

    /// Graceful stop, then a new process on the same dir (sealed, answering seal-status).
    pub async fn restart_sealed(&mut self) -> Result<()> {
        if let Some(p) = self.proc.take() {
            p.stop()?;
        }
        // The old keep-alive connection is dead: a fresh setup client.
        self.ctx.client = http_client()?;
        self.spawn().await
    }

    /// What the load generator samples around a measured window.
    pub fn probe(&self) -> Result<crate::load::Probe> {
        Ok(crate::load::Probe {
            server_pids: vec![self.pid()?],
            storage_cpu: matches!(self.opts.storage, Storage::Postgres { .. }),
            server_cpu: self.opts.pinning.server_cpu,
            load_cpu: self.opts.pinning.load_cpu,
        })
    }

    pub fn pid(&self) -> Result<u32> {
        self.proc
            .as_ref()
            .map(|p| p.pid)
            .ok_or_else(|| anyhow!("server not running"))
    }

    /// The address the load connects to.
    pub fn addr(&self) -> SocketAddr {
        self.dir.addr
    }

    /// `Cpus_allowed_list` of the server process (to show the pinning took).
    pub fn cpus_allowed(&self) -> String {
        self.proc
            .as_ref()
            .map(|p| pin::cpus_allowed(p.pid))
            .unwrap_or_default()
    }
}

// ------------------------------------------------------------------------------------------------
// /proc readers

/// Kernel clock ticks per second (`sysconf(_SC_CLK_TCK)`, read from the auxiliary vector).
pub fn clock_ticks() -> u64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100,
        n => n,
    }
}

/// utime + stime of a process in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    stat_ticks(&format!("/proc/{pid}/stat"))
}

/// utime + stime of this process (the load generator) in clock ticks.
pub fn self_cpu_ticks() -> Result<u64> {
    stat_ticks("/proc/self/stat")
}

/// (busy, total) clock ticks of one CPU from `/proc/stat` (busy: everything but idle and
/// iowait), for every process on it, not only the server.
pub fn core_ticks(cpu: usize) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let label = format!("cpu{cpu}");
    let line = s
        .lines()
        .find(|l| l.split_whitespace().next() == Some(label.as_str()))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

fn stat_ticks(path: &str) -> Result<u64> {
    let s = std::fs::read_to_string(path)?;
    // The command name (field 2) may contain spaces; fields restart after its last ')'.
    let rest = s
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("bad {path}"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime = field 14 → index 11, stime = 15 → 12.
    let utime: u64 = f.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
    let stime: u64 = f.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
    Ok(utime + stime)
}

/// (VmRSS, VmHWM) of a process in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// utime + stime of every PostgreSQL process on the machine (`comm` = `postgres`), in clock
/// ticks: the database's share of a run's work (its sessions are long-lived pooled
/// connections, so few exit inside a window).
pub fn postgres_cpu_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(|e| stat_ticks(&e.path().join("stat").display().to_string()).ok())
        .sum()
}
