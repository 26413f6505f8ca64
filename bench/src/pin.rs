//! CPU pinning: the server on one core, the load generator on another.
//!
//! The bench pins its own process (before the tokio runtime exists, so every thread inherits
//! it) with `sched_setaffinity`, and starts the server through `taskset -c <cpu>` when
//! `/usr/bin/taskset` exists; otherwise it sets the affinity of every thread of the server
//! process from the outside (right after spawn and again once the server answers).

use std::path::Path;

use anyhow::{Context, Result};
use rustix::process::Pid;
use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
use serde_json::{Value, json};

pub const TASKSET: &str = "/usr/bin/taskset";

/// Where the server and the load run.
#[derive(Clone, Debug)]
pub struct Pinning {
    /// CPU the server is pinned to (None: unpinned).
    pub server_cpu: Option<usize>,
    /// CPU the load generator (this process) is pinned to.
    pub load_cpu: Option<usize>,
    /// Start the server through `taskset` (else: sched_setaffinity on its threads).
    pub taskset: bool,
    /// CPUs the bench was allowed to use before pinning.
    pub cpus: usize,
    /// Human-readable summary (printed and stored in the JSON).
    pub note: String,
}

impl Pinning {
    pub fn to_json(&self) -> Value {
        json!({
            "server_cpu": self.server_cpu,
            "load_cpu": self.load_cpu,
            "cpus": self.cpus,
            "taskset": self.taskset,
            "note": self.note,
        })
    }
}

/// CPUs this process may run on, ascending.
fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => Vec::new(),
    }
}

fn one_cpu(cpu: usize) -> CpuSet {
    let mut s = CpuSet::new();
    s.set(cpu);
    s
}

/// Decides the pinning and pins the calling thread (call it from `main` before any other
/// thread exists). The server gets the first allowed CPU, the load the second.
/// `no_taskset` forces the sched_setaffinity path even where taskset exists.
pub fn plan(disabled: bool, no_taskset: bool) -> Pinning {
    let taskset = !no_taskset && Path::new(TASKSET).exists();
    let cpus = allowed_cpus();
    let n = cpus.len().max(1);
    if disabled {
        return Pinning {
            server_cpu: None,
            load_cpu: None,
            cpus: n,
            taskset,
            note: "pinning disabled (--no-pin): server and load share all cores".into(),
        };
    }
    if cpus.len() < 2 {
        return Pinning {
            server_cpu: None,
            load_cpu: None,
            cpus: n,
            taskset,
            note: format!(
                "only {} CPU available: server and load run unpinned on the same core",
                cpus.len().max(1)
            ),
        };
    }
    let (server, load) = (cpus[0], cpus[1]);
    match sched_setaffinity(None, &one_cpu(load)) {
        Ok(()) => Pinning {
            server_cpu: Some(server),
            load_cpu: Some(load),
            cpus: n,
            taskset,
            note: format!(
                "server on CPU {server} ({}), load generator on CPU {load} (sched_setaffinity)",
                if taskset {
                    "taskset"
                } else {
                    "sched_setaffinity"
                }
            ),
        },
        Err(e) => Pinning {
            server_cpu: None,
            load_cpu: None,
            cpus: n,
            taskset,
            note: format!("sched_setaffinity failed ({e}): running unpinned"),
        },
    }
}

/// Pins every current thread of `pid` to `cpu` (threads created later inherit from their
/// creator, so calling this once the server is up covers the whole process).
pub fn pin_process(pid: u32, cpu: usize) -> Result<()> {
    let set = one_cpu(cpu);
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("/proc/{pid}/task"))?;
    for t in tasks {
        let tid: i32 = match t?.file_name().to_str().and_then(|s| s.parse().ok()) {
            Some(tid) => tid,
            None => continue,
        };
        if let Some(p) = Pid::from_raw(tid) {
            // a thread may have exited in between
            let _ = sched_setaffinity(Some(p), &set);
        }
    }
    Ok(())
}

/// `Cpus_allowed_list` of a process, as the kernel reports it (for the printed summary).
pub fn cpus_allowed(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}
