//! A `coffre server --dev` child process and a way to run the CLI against it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Api, READY_TIMEOUT, free_port};

/// The dev server's root token.
pub const ROOT: &str = "root";

/// A `coffre server --dev` child process; killed on drop.
pub struct DevServer {
    child: Child,
    pub base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl DevServer {
    pub async fn start() -> DevServer {
        let dir = tempfile::Builder::new()
            .prefix("coffre-transit-cli-")
            .tempdir()
            .expect("tempdir");
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_coffre"))
            .args([
                "server",
                "--dev",
                "--listen",
                &addr,
                "--dev-root-token",
                ROOT,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn coffre server --dev");
        let mut server = DevServer {
            child,
            base: format!("http://{addr}"),
            log,
            _dir: dir,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let api = Api::new(&self.base);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("dev server exited ({st}); log:\n{}", self.log());
            }
            if let Ok(r) = api
                .try_request("GET", "sys/seal-status", super::Body::None, &[])
                .await
                && r.status == 200
                && r.json["sealed"] == json!(false)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dev server not ready; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Result of one CLI run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts exit code 0 and returns stdout as text.
    pub fn ok(&self, what: &str) -> String {
        assert_eq!(self.code, 0, "{what}: {self:?} / {}", self.text());
        self.text()
    }
}

/// Runs `coffre ARGS` against `base` with the root token, `stdin` piped in.
pub fn coffre(base: &str, args: &[&str], stdin: &[u8]) -> Out {
    coffre_env(base, args, stdin, &[])
}

/// [`coffre`] with more environment variables set.
pub fn coffre_env(base: &str, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffre"))
        .args(args)
        .env("COFFRE_ADDR", base)
        .env("COFFRE_TOKEN", ROOT)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .env_remove("VAULT_NAMESPACE")
        .env_remove("COFFRE_NAMESPACE")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run coffre");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait coffre");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
