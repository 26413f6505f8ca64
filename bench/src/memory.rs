//! Memory and restart figures: RSS idle after unseal, RSS after N KV v2 secrets, and the time
//! from the final unseal request to the first successful KV v2 read after a restart.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::load::{self, ReqParts, Stats, Stop};
use crate::scenarios;
use crate::server::{self, Server, ServerOpts};

pub struct MemoryReport {
    pub secrets: u64,
    /// VmRSS / VmHWM (KiB) right after init + unseal (nothing mounted yet), after a short idle.
    pub rss_idle_kib: (u64, u64),
    /// The N writes (32 connections).
    pub write: Stats,
    /// VmRSS / VmHWM (KiB) after the writes.
    pub rss_after_kib: (u64, u64),
    /// Latency of the final `sys/unseal` request after the restart.
    pub unseal_latency: Duration,
    /// From just before that request to the first successful read of a random secret.
    pub unseal_to_ready: Duration,
    /// Reads tried until one succeeded (the last one included).
    pub ready_polls: u64,
    /// VmRSS / VmHWM (KiB) of the restarted server once ready.
    pub rss_restarted_kib: (u64, u64),
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl MemoryReport {
    pub fn to_json(&self) -> Value {
        json!({
            "secrets": self.secrets,
            "rss_idle_kib": self.rss_idle_kib.0,
            "hwm_idle_kib": self.rss_idle_kib.1,
            "write": self.write.to_json(),
            "rss_after_writes_kib": self.rss_after_kib.0,
            "hwm_after_writes_kib": self.rss_after_kib.1,
            "unseal_request_ms": self.unseal_latency.as_secs_f64() * 1e3,
            "unseal_to_ready_ms": self.unseal_to_ready.as_secs_f64() * 1e3,
            "ready_polls": self.ready_polls,
            "rss_restarted_kib": self.rss_restarted_kib.0,
            "hwm_restarted_kib": self.rss_restarted_kib.1,
        })
    }

    pub fn print(&self) {
        println!(
            "RSS idle after unseal            {:>8.1} MiB (peak {:.1})",
            mib(self.rss_idle_kib.0),
            mib(self.rss_idle_kib.1)
        );
        println!(
            "RSS after {:>6} KV v2 secrets    {:>8.1} MiB (peak {:.1}); written at {:.0}/s, p99 {:.0} µs, {} errors",
            self.secrets,
            mib(self.rss_after_kib.0),
            mib(self.rss_after_kib.1),
            self.write.rps(),
            self.write.p99_us,
            self.write.errors
        );
        println!(
            "restart: unseal request          {:>8.1} ms",
            self.unseal_latency.as_secs_f64() * 1e3
        );
        println!(
            "restart: unseal to first read    {:>8.1} ms ({} read(s) tried)",
            self.unseal_to_ready.as_secs_f64() * 1e3,
            self.ready_polls
        );
        println!(
            "RSS after restart, ready         {:>8.1} MiB (peak {:.1})",
            mib(self.rss_restarted_kib.0),
            mib(self.rss_restarted_kib.1)
        );
    }
}

/// Fresh server (same config as the scenarios: embedded storage + file audit device).
pub async fn measure(opts: &ServerOpts, secrets: u64) -> Result<MemoryReport> {
    eprintln!("memory: fresh server, {secrets} KV v2 secrets, then restart + unseal");
    let mut srv = Server::start(opts).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle_kib = server::rss_kib(srv.pid()?)?;

    scenarios::setup_kv2(&mut srv).await?;
    let parts = ReqParts::new(srv.addr(), Some(&srv.ctx.load_token))?;
    let write = load::run(
        &[srv.addr()],
        scenarios::kv2_writer(&parts, "secret/data/s"),
        32,
        Stop::Count(secrets),
        0,
        srv.probe()?,
    )
    .await
    .context("writing the secrets")?;
    if write.errors > 0 {
        bail!(
            "memory: {} of {secrets} writes failed; first: {}",
            write.errors,
            write.first_error.unwrap_or_default()
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after_kib = server::rss_kib(srv.pid()?)?;

    srv.restart_sealed().await?;
    // warm the setup client's connection so the timed requests do not include a connect
    let _ = srv.ctx.call("", "GET", "sys/seal-status", None).await?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let key = format!("secret/data/s{}", load::mix(nanos) % secrets.max(1));
    let t0 = Instant::now();
    let st = srv.unseal().await?;
    let unseal_latency = t0.elapsed();
    if st["sealed"] != json!(false) {
        bail!("still sealed after unseal: {st}");
    }
    let mut ready_polls = 0u64;
    let token = srv.ctx.load_token.clone();
    let unseal_to_ready = loop {
        ready_polls += 1;
        let (status, body) = srv.ctx.call(&token, "GET", &key, None).await?;
        if status == 200 {
            if body["data"]["data"]["v"].is_null() {
                bail!("read of {key} after restart: no data.data.v: {body}");
            }
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("{key} not readable 60 s after unseal: last {status} {body}");
        }
    };
    let rss_restarted_kib = server::rss_kib(srv.pid()?)?;
    if let Some(p) = srv.proc.take() {
        p.stop()?;
    }
    Ok(MemoryReport {
        secrets,
        rss_idle_kib,
        write,
        rss_after_kib,
        unseal_latency,
        unseal_to_ready,
        ready_polls,
        rss_restarted_kib,
    })
}
