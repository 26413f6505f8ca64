//! Shared helpers for the black-box integration tests: start a real `coffre` process on a free
//! loopback port with a temporary config + data dir, talk to it with reqwest, init/unseal it.
#![allow(dead_code)]

pub mod dev;
pub mod ha_fx;

use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Pick a free loopback port by binding 127.0.0.1:0 and releasing it.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A temporary workspace for one server "installation": `<root>/data` is the storage dir,
/// config and logs live next to it (never inside the data dir).
pub struct Install {
    pub root: tempfile::TempDir,
}

impl Install {
    pub fn new() -> Install {
        let root = tempfile::Builder::new()
            .prefix("coffre-test-")
            .tempdir()
            .expect("tempdir");
        fs::create_dir_all(root.path().join("data")).expect("mkdir data");
        Install { root }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Start a server process on this installation (a new free port each time).
    pub async fn start(&self) -> Server {
        Server::start(self.root.path(), &self.data_dir()).await
    }
}

/// A running `coffre server` child process; killed (SIGKILL) on drop.
pub struct Server {
    child: Option<Child>,
    pub addr: String,
    pub base: String,
    pub log_path: PathBuf,
}

impl Server {
    pub async fn start(work_dir: &Path, data_dir: &Path) -> Server {
        Server::start_with(work_dir, data_dir, "").await
    }

    /// Like [`Server::start`], with `extra` appended to the config (e.g. `[[audit]]` tables).
    pub async fn start_with(work_dir: &Path, data_dir: &Path, extra: &str) -> Server {
        let storage = format!(
            "[storage]\nbackend = \"embedded\"\npath = \"{}\"\n",
            data_dir.display()
        );
        Server::start_on(work_dir, &storage, extra).await
    }

    /// A server with the `[storage]` table `storage` (e.g. the PostgreSQL backend).
    pub async fn start_on(work_dir: &Path, storage: &str, extra: &str) -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config_path = work_dir.join(format!("config-{port}.toml"));
        let config = format!("listen = \"{addr}\"\n\n{storage}\n[tls]\ndisable = true\n\n{extra}");
        fs::write(&config_path, config).expect("write config");
        let log_path = work_dir.join(format!("server-{port}.log"));
        let log = fs::File::create(&log_path).expect("create log");
        let log2 = log.try_clone().expect("clone log");
        let child = Command::new(env!("CARGO_BIN_EXE_coffre"))
            .arg("server")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .expect("spawn coffre server");
        let mut server = Server {
            child: Some(child),
            base: format!("http://{addr}"),
            addr,
            log_path,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = http_client();
        let url = format!("{}/v1/sys/seal-status", self.base);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(st)) = child.try_wait()
            {
                panic!(
                    "coffre server exited before becoming ready ({st}); log:\n{}",
                    self.log()
                );
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status().as_u16() == 200
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "coffre server at {} not ready after {:?}; log:\n{}",
                    self.addr,
                    READY_TIMEOUT,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL (what `Child::kill` does on Unix) and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to 10 s for a clean exit, then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_child(&c),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => return,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => break,
                }
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("reqwest client")
}

/// Response: status, JSON body (Null for an empty body, a JSON string holding the raw text when the
/// body is not JSON), and headers.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub json: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    /// `errors` is an array (the Vault error shape).
    pub fn has_errors_array(&self) -> bool {
        self.json.get("errors").is_some_and(Value::is_array)
    }
    pub fn errors_text(&self) -> String {
        self.json
            .get("errors")
            .map(|e| e.to_string())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = self.text.clone();
        if t.len() > 400 {
            t.truncate(400);
            t.push('…');
        }
        write!(f, "{} {}", self.status, t)
    }
}

/// A small reqwest wrapper around one server.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

pub enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            client: http_client(),
            base: base.to_string(),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Api {
        let mut a = self.clone();
        a.token = Some(token.to_string());
        a
    }

    pub fn without_token(&self) -> Api {
        let mut a = self.clone();
        a.token = None;
        a
    }

    /// Fully general request. `path` is relative to `/v1/` (e.g. `sys/init`, `kv1/foo?list=true`).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Body,
        extra_headers: &[(&str, &str)],
    ) -> Resp {
        self.try_request(method, path, body, extra_headers)
            .await
            .unwrap_or_else(|e| panic!("{method} /v1/{path}: transport error: {e:?}"))
    }

    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Body,
        extra_headers: &[(&str, &str)],
    ) -> Result<Resp, reqwest::Error> {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let url = format!("{}/v1/{}", self.base, path);
        let mut rb = self.client.request(m, url);
        if let Some(t) = &self.token {
            rb = rb.header("X-Vault-Token", t);
        }
        for (k, v) in extra_headers {
            rb = rb.header(*k, *v);
        }
        rb = match body {
            Body::None => rb,
            Body::Json(v) => rb
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&v).expect("serialize")),
            Body::Raw(b) => rb.header("Content-Type", "application/json").body(b),
        };
        let r = rb.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Ok(Resp {
            status,
            json,
            text,
            headers,
        })
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request("GET", path, Body::None, &[]).await
    }
    pub async fn list(&self, path: &str) -> Resp {
        self.request("LIST", path, Body::None, &[]).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, Body::None, &[]).await
    }
    pub async fn put(&self, path: &str, v: Value) -> Resp {
        self.request("PUT", path, Body::Json(v), &[]).await
    }
    pub async fn post(&self, path: &str, v: Value) -> Resp {
        self.request("POST", path, Body::Json(v), &[]).await
    }
    pub async fn put_empty(&self, path: &str) -> Resp {
        self.request("PUT", path, Body::None, &[]).await
    }
    pub async fn post_empty(&self, path: &str) -> Resp {
        self.request("POST", path, Body::None, &[]).await
    }

    /// (status, json) convenience.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let r = self
            .request(method, path, body.map_or(Body::None, Body::Json), &[])
            .await;
        (r.status, r.json)
    }

    pub async fn seal_status(&self) -> Value {
        let r = self.get("sys/seal-status").await;
        assert_eq!(r.status, 200, "GET sys/seal-status: {r}");
        r.json
    }
}

#[derive(Debug, Clone)]
pub struct InitResult {
    pub keys: Vec<String>,
    pub keys_base64: Vec<String>,
    pub root_token: String,
}

/// `PUT sys/init`; panics unless 200 with the expected shape.
pub async fn init(api: &Api, shares: u32, threshold: u32) -> InitResult {
    let r = api
        .put(
            "sys/init",
            json!({"secret_shares": shares, "secret_threshold": threshold}),
        )
        .await;
    assert_eq!(r.status, 200, "PUT sys/init: {r}");
    let strs = |k: &str| -> Vec<String> {
        r.json[k]
            .as_array()
            .unwrap_or_else(|| panic!("sys/init: `{k}` not an array: {r}"))
            .iter()
            .map(|v| v.as_str().expect("string share").to_string())
            .collect()
    };
    let keys = strs("keys");
    let keys_base64 = strs("keys_base64");
    assert_eq!(keys.len(), shares as usize, "sys/init keys count: {r}");
    assert_eq!(
        keys_base64.len(),
        shares as usize,
        "sys/init keys_base64 count: {r}"
    );
    let root_token = r.json["root_token"]
        .as_str()
        .unwrap_or_else(|| panic!("sys/init root_token: {r}"))
        .to_string();
    assert!(!root_token.is_empty(), "empty root token");
    InitResult {
        keys,
        keys_base64,
        root_token,
    }
}

/// Submit each share in order to `sys/unseal`, asserting 200 each time; returns the last status.
pub async fn unseal<S: AsRef<str>>(api: &Api, shares: &[S]) -> Value {
    let mut last = Value::Null;
    for s in shares {
        let r = api.put("sys/unseal", json!({"key": s.as_ref()})).await;
        assert_eq!(r.status, 200, "PUT sys/unseal: {r}");
        last = r.json;
    }
    last
}

/// Unseal with the given shares and assert the result is unsealed.
pub async fn unseal_ok<S: AsRef<str>>(api: &Api, shares: &[S]) {
    let st = unseal(api, shares).await;
    assert_eq!(
        st["sealed"],
        json!(false),
        "not unsealed after shares: {st}"
    );
}

/// Fresh server: init with shares/threshold, unseal with the first `threshold` hex shares, mount
/// kv v1 at `kv1`. Returns the init result and an API handle carrying the root token.
pub async fn init_unseal_mount(server: &Server, shares: u32, threshold: u32) -> (InitResult, Api) {
    let api = server.api();
    let ir = init(&api, shares, threshold).await;
    let ks: Vec<&str> = ir.keys[..threshold as usize]
        .iter()
        .map(String::as_str)
        .collect();
    unseal_ok(&api, &ks).await;
    let root = api.with_token(&ir.root_token);
    let r = root.post("sys/mounts/kv1", json!({"type": "kv"})).await;
    assert!(
        r.status == 204 || r.status == 200,
        "POST sys/mounts/kv1: {r}"
    );
    (ir, root)
}

/// Collects soft check failures so one run reports every discrepancy; `finish` panics with all.
#[derive(Default)]
pub struct Checks {
    failures: Vec<String>,
    passed: usize,
}

impl Checks {
    pub fn new() -> Checks {
        Checks::default()
    }
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        if ok {
            self.passed += 1;
        } else {
            let msg = what();
            eprintln!("CHECK FAILED: {msg}");
            self.failures.push(msg);
        }
        ok
    }
    /// Status check with request description for the report.
    pub fn status(&mut self, req: &str, r: &Resp, expected: u16) -> bool {
        self.check(r.status == expected, || {
            format!("{req}: expected {expected}, got {r}")
        })
    }
    pub fn status_in(&mut self, req: &str, r: &Resp, expected: &[u16]) -> bool {
        self.check(expected.contains(&r.status), || {
            format!("{req}: expected one of {expected:?}, got {r}")
        })
    }
    pub fn eq(&mut self, what: &str, actual: &Value, expected: &Value) -> bool {
        self.check(actual == expected, || {
            format!("{what}: expected {expected}, got {actual}")
        })
    }
    pub fn finish(self, test: &str) {
        eprintln!(
            "[{test}] {} checks passed, {} failed",
            self.passed,
            self.failures.len()
        );
        if !self.failures.is_empty() {
            let mut s = format!("{} check(s) failed in {test}:\n", self.failures.len());
            for f in &self.failures {
                let _ = writeln!(s, "  - {f}");
            }
            panic!("{s}");
        }
    }
}

/// Hex share with one byte flipped (the last one, so the x-coordinate stays valid).
pub fn corrupt_hex_share(hex_share: &str) -> String {
    let mut b = hex::decode(hex_share).expect("hex share");
    let last = b.len() - 1;
    b[last] ^= 0x5a;
    hex::encode(b)
}
