//! Slow-loris clients: a client that trickles its request head or body, or says nothing at
//! all, loses its connection instead of holding it forever. Bounds here are generous upper
//! limits for "the server gave up", not timing measurements.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Install, Server};

const TIMEOUTS: &str =
    "[http]\nheader_read_timeout = \"1s\"\nbody_read_timeout = \"1s\"\nidle_timeout = \"2s\"\n";
/// Far above the configured 1–2 s: only a server that never gives up exceeds it.
const GAVE_UP_WITHIN: Duration = Duration::from_secs(15);

async fn server(install: &Install) -> Server {
    Server::start_with(install.root.path(), &install.data_dir(), TIMEOUTS).await
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(&server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    s
}

/// Whether the server has closed the connection (EOF or reset); `false` while it is open.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(_) => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_request_head_is_cut_off() {
    let install = Install::new();
    let server = server(&install).await;
    let (addr, result) = (server.addr.clone(), tokio::task::spawn_blocking({
        let addr = server.addr.clone();
        move || {
            let mut s = TcpStream::connect(&addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
            let head = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
            let start = Instant::now();
            for b in head.iter().cycle() {
                if s.write_all(&[*b]).is_err() || closed(&mut s) {
                    return Some(start.elapsed());
                }
                if start.elapsed() > GAVE_UP_WITHIN {
                    return None;
                }
            }
            None
        }
    }).await.expect("join"));
    assert!(
        result.is_some(),
        "the server kept a trickled head open for {GAVE_UP_WITHIN:?} ({addr})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408() {
    let install = Install::new();
    let server = server(&install).await;
    let addr = server.addr.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        s.write_all(b"PUT /v1/sys/policies/acl/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").expect("head");
        let start = Instant::now();
        let mut got = Vec::new();
        while start.elapsed() < GAVE_UP_WITHIN {
            let _ = s.write_all(b" ");
            let mut buf = [0u8; 1024];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    })
    .await
    .expect("join");
    assert!(answer.starts_with("HTTP/1.1 408"), "got {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed() {
    let install = Install::new();
    let server = server(&install).await;
    let mut s = connect(&server);
    let cut = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        while start.elapsed() < GAVE_UP_WITHIN {
            if closed(&mut s) {
                return true;
            }
        }
        false
    })
    .await
    .expect("join");
    assert!(cut, "a connection that sent nothing stayed open");
    // The server still serves others.
    let r = server.api().get("sys/health").await;
    assert_eq!(r.status, 501, "uninitialized health");
}

#[tokio::test]
async fn timeouts_are_validated() {
    let install = Install::new();
    let config = install.root.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{}\"\n[storage]\npath = \"{}\"\n[tls]\ndisable = true\n[http]\nbody_read_timeout = \"soon\"\n",
            common::free_port(),
            install.data_dir().display()
        ),
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffre"))
        .args(["server", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("body_read_timeout"), "{err}");
}
