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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_credentials_and_their_lease_through_the_cli() {
    let Ok(url) = std::env::var("COFFRE_TEST_POSTGRES_URL") else {
        eprintln!(
            "SKIPPED database_credentials_and_their_lease_through_the_cli: COFFRE_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let location = url
        .split_once('@')
        .map_or("127.0.0.1:5432/test", |(_, l)| l);
    let inst = Install::new();
    let server = inst.start().await;
    let ir = init(&server.api(), 1, 1).await;
    unseal_ok(&server.api(), &ir.keys).await;
    let root = ir.root_token.clone();
    let api = server.api().with_token(&root);
    for (path, body) in [
        ("sys/mounts/database", json!({"type": "database"})),
        (
            "database/config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@{location}?sslmode=disable"),
                "username": "postgres",
                "password": "x",
                "allowed_roles": "app",
            }),
        ),
        (
            "database/roles/app",
            json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                "default_ttl": "1h",
                "max_ttl": "4h",
            }),
        ),
    ] {
        let r = api.post(path, body).await;
        assert!(r.status / 100 == 2, "{path}: {r}");
    }
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
