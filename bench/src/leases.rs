//! `leases` (issue 15): the database engine and leases, in process on `coffre-core` with the
//! embedded (redb) store and the machine's PostgreSQL (`COFFRE_TEST_POSTGRES_URL`, default
//! `postgresql://postgres@127.0.0.1:5432/test`).
//!
//! 1. **Issue rate**: `database/creds` by 16 tasks for a few seconds, with a role that really
//!    creates a PostgreSQL user (`CREATE ROLE … VALID UNTIL`), and with one whose statement is
//!    `SELECT 1` (what the lease machinery costs on its own). Printed per second and as a
//!    ratio to durable KV v2 writes by the same tasks in the same run.
//! 2. **Unseal to ready with N live leases**: seal, unseal, and the first lease lookup, timed
//!    with 0, 10,000 and 100,000 leases (target: under 1 s and flat in N — nothing about
//!    leases is read at unseal).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use coffre_core::{Core, CoreConfig, Operation, Request};
use serde_json::{Map, Value, json};

const TASKS: usize = 16;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn call(
    core: &Core,
    token: &str,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Option<coffre_core::Response>> {
    core.handle(
        Request::new(op, path)
            .with_token(token)
            .with_data(obj(data)),
    )
    .await
    .with_context(|| path.to_string())
}

/// Requests per second of `make` (a request path and body per call) by TASKS tasks for `secs`.
async fn rate(
    core: &Arc<Core>,
    root: &str,
    secs: f64,
    op: Operation,
    path: impl Fn(u64) -> (String, Value) + Send + Sync + 'static,
) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let path = Arc::new(path);
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (core, root, stop, count, path) = (
            core.clone(),
            root.to_string(),
            stop.clone(),
            count.clone(),
            path.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = count.fetch_add(1, Ordering::Relaxed);
                let (p, body) = path(n);
                call(&core, &root, op, &p, body).await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Issues `n` light leases (role `light`), 64 at a time.
async fn populate(core: &Arc<Core>, root: &str, n: usize) -> Result<Duration> {
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (core, root, next) = (core.clone(), root.to_string(), next.clone());
        tasks.push(tokio::spawn(async move {
            while (next.fetch_add(1, Ordering::Relaxed) as usize) < n {
                call(
                    &core,
                    &root,
                    Operation::Read,
                    "database/creds/light",
                    json!({}),
                )
                .await?;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

pub async fn leases(sizes: &[usize]) -> Result<Value> {
    let url = std::env::var("COFFRE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/test".into());
    let location = url
        .split_once('@')
        .map(|(_, l)| l.to_string())
        .context("COFFRE_TEST_POSTGRES_URL: expected postgresql://user@host:port/db")?;
    let dir = tempfile::tempdir()?;
    let store_dir = dir.path().to_path_buf();
    let backend =
        tokio::task::spawn_blocking(move || coffre_storage::RedbBackend::open(&store_dir))
            .await??;
    let core = Arc::new(Core::new(
        Arc::new(backend),
        CoreConfig {
            quiet_without_audit: true,
            ..CoreConfig::default()
        },
    ));
    let (share, root) = core.dev_init(None).await?;
    let share = hex_share(share.expose());
    for (path, body) in [
        (
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        ),
        ("sys/mounts/database", json!({"type": "database"})),
        (
            "database/config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@{location}?sslmode=disable"),
                "username": "postgres",
                "password": "x",
                "allowed_roles": "*",
                "max_open_connections": 16,
            }),
        ),
        (
            "database/roles/real",
            json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                "default_ttl": "1h",
            }),
        ),
        (
            "database/roles/light",
            json!({
                "db_name": "pg",
                "creation_statements": "SELECT 1",
                "revocation_statements": "SELECT 1",
                "default_ttl": "24h",
            }),
        ),
    ] {
        call(&core, &root, Operation::Update, path, body).await?;
    }

    println!("## leases (in process, embedded store, PostgreSQL at {location}; {TASKS} tasks)");
    let secs = 3.0;
    let kv_write = rate(&core, &root, secs, Operation::Update, |n| {
        (
            format!("secret/data/w/{n}"),
            json!({"data": {"value": "v"}}),
        )
    })
    .await?;
    let creds_real = rate(&core, &root, secs, Operation::Read, |_| {
        ("database/creds/real".into(), json!({}))
    })
    .await?;
    let creds_light = rate(&core, &root, secs, Operation::Read, |_| {
        ("database/creds/light".into(), json!({}))
    })
    .await?;
    println!(
        "{:>28} {:>10.0}/s\n{:>28} {:>10.0}/s {:>6.2}x\n{:>28} {:>10.0}/s {:>6.2}x",
        "KV v2 durable write",
        kv_write,
        "creds (CREATE ROLE)",
        creds_real,
        creds_real / kv_write,
        "creds (SELECT 1)",
        creds_light,
        creds_light / kv_write,
    );
    // The real users go (revoke-prefix drops them); the light leases count below.
    call(
        &core,
        &root,
        Operation::Update,
        "sys/leases/revoke-prefix/database/creds/real",
        json!({}),
    )
    .await?;
    call(
        &core,
        &root,
        Operation::Update,
        "sys/leases/revoke-prefix/database/creds/light",
        json!({}),
    )
    .await?;

    println!(
        "{:>10} {:>12} {:>12} {:>14}",
        "leases", "populate s", "unseal ms", "first lookup ms"
    );
    let mut rows = Vec::new();
    let mut live = 0usize;
    for &n in sizes {
        if n < live {
            bail!("--leases must grow");
        }
        let populate_time = populate(&core, &root, n - live).await?;
        live = n;
        // One lease to look up after the unseal.
        let probe = call(
            &core,
            &root,
            Operation::Read,
            "database/creds/light",
            json!({}),
        )
        .await?
        .map(|r| r.lease_id)
        .unwrap_or_default();
        core.seal(Some(&root)).await?;
        let t = Instant::now();
        core.unseal(&share).await?;
        let unseal = t.elapsed();
        let t = Instant::now();
        call(
            &core,
            &root,
            Operation::Update,
            "sys/leases/lookup",
            json!({ "lease_id": probe }),
        )
        .await?;
        let first = t.elapsed();
        println!(
            "{:>10} {:>12.1} {:>12.1} {:>14.2}",
            n,
            populate_time.as_secs_f64(),
            unseal.as_secs_f64() * 1e3,
            first.as_secs_f64() * 1e3
        );
        rows.push(json!({
            "leases": n,
            "populate_secs": populate_time.as_secs_f64(),
            "unseal_ms": unseal.as_secs_f64() * 1e3,
            "first_lookup_ms": first.as_secs_f64() * 1e3,
        }));
    }
    println!();
    core.shutdown().await;
    Ok(json!({
        "kv_write_per_sec": kv_write,
        "creds_create_role_per_sec": creds_real,
        "creds_select_1_per_sec": creds_light,
        "unseal": rows,
    }))
}

fn hex_share(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
