//! `coffre read database/creds/…` and `coffre lease lookup|renew|revoke` on the real binary
//! against the machine's PostgreSQL (`COFFRE_TEST_POSTGRES_URL`; SKIPPED without it).

mod common;

use common::dev::coffre_env;
use common::*;
use serde_json::{Value, json};

fn ok(base: &str, token: &str, args: &[&str]) -> String {
    coffre_env(base, args, b"", &[("COFFRE_TOKEN", token)]).ok(&args.join(" "))
}

fn json_of(base: &str, token: &str, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let text = ok(base, token, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
}

/// The machine's PostgreSQL (`host:port/db` of `COFFRE_TEST_POSTGRES_URL`), or `None` with a
/// visible SKIPPED line.
fn postgres(test: &str) -> Option<String> {
    let Ok(url) = std::env::var("COFFRE_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED {test}: COFFRE_TEST_POSTGRES_URL is not set");
        return None;
    };
    Some(
        url.split_once('@')
            .map_or("127.0.0.1:5432/test", |(_, l)| l)
            .to_string(),
    )
}

/// Mounts `database/` with a configuration `pg` for `location` and role `role` (its body).
async fn mount_database(api: &Api, location: &str, role: &str, role_body: serde_json::Value) {
    for (path, body) in [
        (
            "sys/mounts/database".to_string(),
            json!({"type": "database"}),
        ),
        (
            "database/config/pg".to_string(),
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@{location}?sslmode=disable"),
                "username": "postgres",
                "password": "x",
                "allowed_roles": "*",
                "max_open_connections": 8,
            }),
        ),
        (format!("database/roles/{role}"), role_body),
    ] {
        let r = api.post(&path, body).await;
        assert!(r.status / 100 == 2, "{path}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_credentials_and_their_lease_through_the_cli() {
    let Some(location) = postgres("database_credentials_and_their_lease_through_the_cli") else {
        return;
    };
    let inst = Install::new();
    let server = inst.start().await;
    let ir = init(&server.api(), 1, 1).await;
    unseal_ok(&server.api(), &ir.keys).await;
    let root = ir.root_token.clone();
    let api = server.api().with_token(&root);
    let role = json!({
        "db_name": "pg",
        "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
        "default_ttl": "1h",
        "max_ttl": "4h",
    });
    mount_database(&api, &location, "app", role).await;
    let base = server.base.clone();
    let table = ok(&base, &root, &["read", "database/creds/app"]);
    assert!(table.contains("lease_id"), "{table}");
    assert!(table.contains("lease_duration"), "{table}");
    let creds = json_of(&base, &root, &["read", "database/creds/app"]);
    let lease = creds["lease_id"].as_str().expect("lease id").to_string();
    assert!(lease.starts_with("database/creds/app/"), "{creds}");
    let looked = json_of(&base, &root, &["lease", "lookup", &lease]);
    assert_eq!(looked["data"]["id"], lease.as_str());
    let renewed = json_of(
        &base,
        &root,
        &["lease", "renew", "--increment", "2h", &lease],
    );
    assert_eq!(renewed["lease_duration"], 7200, "{renewed}");
    let out = ok(&base, &root, &["lease", "revoke", &lease]);
    assert!(out.contains("queued successfully"), "{out}");
    let gone = coffre_env(
        &base,
        &["lease", "lookup", &lease],
        b"",
        &[("COFFRE_TOKEN", &root)],
    );
    assert_ne!(gone.code, 0, "the revoked lease is gone");
    // By prefix.
    json_of(&base, &root, &["read", "database/creds/app"]);
    ok(
        &base,
        &root,
        &["lease", "revoke", "--prefix", "database/creds/app"],
    );
    let left = api.list("sys/leases/lookup/database/creds/app/").await;
    assert_eq!(left.status, 404, "{left}");
}

/// 10,000 live leases, the server killed with SIGKILL and restarted: every lease is still
/// there and revocable, and they expire on time. The role's statements are trivial (`SELECT
/// 1`) so the test measures leases, not user creation; the tests above drop real users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_leases_survive_sigkill_and_expire_on_time() {
    let Some(location) = postgres("ten_thousand_leases_survive_sigkill_and_expire_on_time") else {
        return;
    };
    const LEASES: usize = 10_000;
    const TTL_SECS: u64 = 40;
    let inst = Install::new();
    let mut server = inst.start().await;
    let ir = init(&server.api(), 1, 1).await;
    unseal_ok(&server.api(), &ir.keys).await;
    let root = ir.root_token.clone();
    let api = server.api().with_token(&root);
    let role = json!({
        "db_name": "pg",
        "creation_statements": "SELECT 1",
        "revocation_statements": "SELECT 1",
        "default_ttl": TTL_SECS,
    });
    mount_database(&api, &location, "light", role).await;
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let api = server.api().with_token(&root);
        tasks.spawn(async move {
            let mut issued = Vec::new();
            for _ in (worker..LEASES).step_by(16) {
                let r = api.get("database/creds/light").await;
                assert_eq!(r.status, 200, "{r}");
                let id = r.json["lease_id"].as_str().expect("lease").to_string();
                issued.push((id, std::time::Instant::now()));
            }
            issued
        });
    }
    let mut issued = Vec::new();
    while let Some(batch) = tasks.join_next().await {
        issued.extend(batch.expect("worker"));
    }
    let issued_in = started.elapsed();
    let last_issued = std::time::Instant::now();
    assert_eq!(issued.len(), LEASES);

    server.kill();
    let server = inst.start().await;
    unseal_ok(&server.api(), &ir.keys).await;
    let api = server.api().with_token(&root);
    let listed = api.list("sys/leases/lookup/database/creds/light/").await;
    let listed_at = std::time::Instant::now();
    let survivors: std::collections::HashSet<String> = listed.json["data"]["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str())
                .map(|k| format!("database/creds/light/{k}"))
                .collect()
        })
        .unwrap_or_default();
    // Every lease whose TTL had not run out when the list was taken (a second of margin) is
    // there: none was lost to the kill, none went early. (All of them, unless issuing took
    // longer than the TTL.)
    let live: Vec<&String> = issued
        .iter()
        .filter(|(_, at)| *at + std::time::Duration::from_secs(TTL_SECS - 1) > listed_at)
        .map(|(id, _)| id)
        .collect();
    assert!(
        !live.is_empty(),
        "issuing outlasted the TTL ({issued_in:?})"
    );
    for id in &live {
        assert!(survivors.contains(*id), "{id} did not survive the kill");
    }
    let all: std::collections::HashSet<&String> = issued.iter().map(|(id, _)| id).collect();
    assert!(
        survivors.iter().all(|id| all.contains(id)),
        "the list holds only the leases issued"
    );
    eprintln!(
        "{} of {LEASES} leases checked live after the restart",
        live.len()
    );
    // Still revocable, one by one: a sample of a hundred.
    for id in live.iter().step_by((live.len() / 100).max(1)).take(100) {
        let r = api
            .put("sys/leases/revoke", json!({ "lease_id": id }))
            .await;
        assert_eq!(r.status, 204, "{r}");
        let r = api
            .put("sys/leases/lookup", json!({ "lease_id": id }))
            .await;
        assert_eq!(r.status, 400, "a revoked lease is gone: {r}");
    }
    // All gone soon after their TTL (the runner revokes 1,000 per pass, paced).
    let deadline = last_issued + std::time::Duration::from_secs(TTL_SECS + 90);
    loop {
        let left = api.list("sys/leases/lookup/database/creds/light/").await;
        if left.status == 404 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} leases left after their TTL",
            left.json["data"]["keys"].as_array().map_or(0, Vec::len)
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let expired_after = started.elapsed();
    assert!(
        expired_after.as_secs() >= TTL_SECS,
        "leases went before their TTL ({expired_after:?})"
    );
    eprintln!(
        "{LEASES} leases issued in {issued_in:?}, all expired {expired_after:?} after the first"
    );
}
