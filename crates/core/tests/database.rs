//! The database secrets engine and leases against the machine's real PostgreSQL and MariaDB
//! (URLs from `COFFRE_TEST_POSTGRES_URL` / `COFFRE_TEST_MYSQL_URL`, set by scripts/test.sh;
//! without them each test prints SKIPPED). On a manual clock: dynamic users log in, are
//! dropped when their lease is revoked, expires or its token is revoked, and leases survive a
//! restart.

mod common;

use coffre_core::{ErrorKind, Operation};
use coffre_dbplugin::Kind;
use common::db_fx::{Db, Fx, db};
use serde_json::{Value, json};

async fn dynamic_credentials_live_and_die_with_their_lease(db: Db) {
    let mut fx = Fx::new(&db).await;
    // The configuration reads back without its password.
    let config = fx
        .ok(Operation::Read, "database/config/db", json!({}))
        .await
        .and_then(|r| r.data)
        .expect("config");
    assert_eq!(config["plugin_name"], db.plugin);
    assert!(
        !Value::Object(config.clone())
            .to_string()
            .contains("root-secret-never-shown"),
        "{config:?}"
    );

    // 1. Credentials log in; revoking the lease drops the user.
    let (lease, user, pass, duration) = fx.creds(&fx.root).await;
    assert!(lease.starts_with("database/creds/app/"), "{lease}");
    assert_eq!(duration, 3600);
    assert!(
        user.starts_with("v-root-app-") || user.starts_with("v-root-app"),
        "{user}"
    );
    assert!(db.logs_in(&user, &pass).await, "the new user logs in");
    if db.kind == Kind::Mysql {
        assert!(
            !db.logs_in(&user, "wrong").await,
            "MariaDB checks the password"
        );
    }
    let looked = fx.lookup(&lease).await.expect("lookup").expect("lease");
    assert_eq!(looked.data.expect("data")["ttl"], 3600);
    // Renewal is capped by the role's max_ttl (2h).
    let renewed = fx
        .ok(
            Operation::Update,
            "sys/leases/renew",
            json!({"lease_id": lease, "increment": "3h"}),
        )
        .await
        .expect("renewed");
    assert_eq!(renewed.lease_duration, 7200);
    assert!(!renewed.warnings.is_empty(), "a capped renewal warns");
    fx.ok(
        Operation::Update,
        "sys/leases/revoke",
        json!({ "lease_id": lease }),
    )
    .await;
    assert!(!db.logs_in(&user, &pass).await, "the revoked user is gone");
    assert!(
        fx.lookup(&lease).await.is_err(),
        "the revoked lease is gone"
    );

    // 1b. PostgreSQL: revocation ends the user's open sessions too.
    if db.kind == Kind::Postgres {
        let (lease, user, _, _) = fx.creds(&fx.root).await;
        let (host, port, name) = db.pg_location();
        let mut session = std::process::Command::new("psql")
            .args(["-h", &host, "-p", &port, "-U", &user, "-d", &name])
            .args(["-c", "SELECT pg_sleep(60)"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("psql");
        // Until the session is up.
        for _ in 0..100 {
            if db.session_count(&user) > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(db.session_count(&user), 1, "the user's session is open");
        fx.ok(
            Operation::Update,
            "sys/leases/revoke",
            json!({ "lease_id": lease }),
        )
        .await;
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = session.try_wait().expect("wait") {
                break status;
            }
            assert!(
                started.elapsed().as_secs() < 20,
                "the session outlived the revocation"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(!status.success(), "the session was terminated");
    }

    // 2. Expiry on the clock, across a restart: the lease survives it and the runner drops
    //    the user when it expires.
    let (lease, user, pass, _) = fx.creds(&fx.root).await;
    fx.restart().await;
    assert!(fx.lookup(&lease).await.expect("lookup").is_some());
    fx.clock.advance_secs(3_599);
    fx.core.run_jobs().await.expect("jobs");
    assert!(db.logs_in(&user, &pass).await, "not expired yet");
    fx.clock.advance_secs(2);
    fx.core.run_jobs().await.expect("jobs");
    assert!(!db.logs_in(&user, &pass).await, "the expired user is gone");
    assert!(fx.lookup(&lease).await.is_err());

    // 3. Revoking the token that asked revokes its leases.
    let token = common::token_with(
        &fx.core,
        &fx.root,
        "creds",
        r#"path "database/creds/app" { capabilities = ["read"] }"#,
    )
    .await;
    let (_, user, pass, _) = fx.creds(&token).await;
    assert!(db.logs_in(&user, &pass).await);
    fx.ok(
        Operation::Update,
        "auth/token/revoke",
        json!({ "token": token }),
    )
    .await;
    fx.core.run_jobs().await.expect("jobs");
    assert!(!db.logs_in(&user, &pass).await, "the token's user is gone");

    // 3b. A configuration's password_policy shapes the generated passwords.
    fx.ok(
        Operation::Update,
        "sys/policies/password/digits",
        json!({"policy": "length = 30\nrule \"charset\" {\n  charset = \"0123456789\"\n}\n"}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "database/config/db",
        json!({"password_policy": "digits"}),
    )
    .await;
    let (lease, user, pass, _) = fx.creds(&fx.root).await;
    assert_eq!(pass.len(), 30, "{pass}");
    assert!(pass.chars().all(|c| c.is_ascii_digit()), "{pass}");
    assert!(db.logs_in(&user, &pass).await);
    fx.ok(
        Operation::Update,
        "sys/leases/revoke",
        json!({ "lease_id": lease }),
    )
    .await;
    fx.ok(
        Operation::Update,
        "database/config/db",
        json!({"password_policy": ""}),
    )
    .await;

    // 3c. A lease the database cannot revoke (it is down): retried with backoff, then
    //     irrevocable; only revoke-force removes it, and the user stays (as in Vault).
    let (lease, user, pass, _) = fx.creds(&fx.root).await;
    let down = db.url.replace(":5432", ":1").replace(":3306", ":1");
    fx.ok(
        Operation::Update,
        "database/config/db",
        json!({"connection_url": down, "verify_connection": false}),
    )
    .await;
    let err = fx
        .call_as(
            &fx.root,
            Operation::Update,
            "sys/leases/revoke",
            json!({ "lease_id": lease }),
        )
        .await
        .expect_err("the database is down");
    assert!(!err.to_string().contains("root-secret"), "{err}");
    for _ in 0..6 {
        fx.clock.advance_secs(3_600);
        fx.core.run_jobs().await.expect("jobs");
    }
    assert!(
        fx.lookup(&lease).await.expect("lookup").is_some(),
        "an irrevocable lease stays readable"
    );
    let prefix_err = fx
        .call_as(
            &fx.root,
            Operation::Update,
            "sys/leases/revoke-prefix/database/creds/app",
            json!({}),
        )
        .await;
    assert!(prefix_err.is_err(), "revoke-prefix stops at the failure");
    fx.ok(
        Operation::Update,
        "sys/leases/revoke-force/database/creds/app",
        json!({}),
    )
    .await;
    assert!(fx.lookup(&lease).await.is_err(), "revoke-force removed it");
    fx.ok(
        Operation::Update,
        "database/config/db",
        json!({"connection_url": db.url, "verify_connection": true}),
    )
    .await;
    assert!(
        db.logs_in(&user, &pass).await,
        "revoke-force leaves the user in the database"
    );
    db.drop_user(&user).await;
    fx.ok(Operation::Update, "sys/leases/tidy", json!({})).await;

    // 4. Bad input: clear errors, nothing half-created, no password in any message.
    let err = fx
        .call_as(
            &fx.root,
            Operation::Update,
            "database/config/down",
            json!({
                "plugin_name": db.plugin,
                "connection_url": db.url.replace(":5432", ":1").replace(":3306", ":1"),
                "username": db.root_user,
                "password": "hunter2-not-in-errors",
            }),
        )
        .await
        .expect_err("unreachable");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(err.to_string().contains("verifying connection"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    if db.kind == Kind::Mysql {
        // MariaDB checks the root password: a wrong one is refused at verification.
        let err = fx
            .call_as(
                &fx.root,
                Operation::Update,
                "database/config/wrong",
                json!({
                    "plugin_name": db.plugin,
                    "connection_url": db.url,
                    "username": db.root_user,
                    "password": "wrong-root-pw-not-in-errors",
                }),
            )
            .await
            .expect_err("wrong root password");
        assert!(err.to_string().contains("Access denied"), "{err}");
        assert!(!err.to_string().contains("wrong-root-pw"), "{err}");
    }
    let err = fx
        .call_as(
            &fx.root,
            Operation::Update,
            "database/config/x",
            json!({"plugin_name": "oracle-database-plugin", "connection_url": "x"}),
        )
        .await
        .expect_err("unknown plugin");
    assert!(err.to_string().contains("plugin_name"), "{err}");
    let err = fx
        .call_as(
            &fx.root,
            Operation::Update,
            "database/roles/orphan",
            json!({"db_name": "nope", "creation_statements": "SELECT 1"}),
        )
        .await
        .expect_err("unknown config");
    assert!(err.to_string().contains("db_name"), "{err}");
    // A creation that fails after its first statement leaves no user behind.
    let half = match db.kind {
        Kind::Mysql => "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT NONSENSE;",
        Kind::Postgres => {
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'; GRANT NONSENSE;"
        }
    };
    fx.ok(
        Operation::Update,
        "database/roles/bad",
        json!({"db_name": "db", "creation_statements": [half]}),
    )
    .await;
    let before = fx.core.run_jobs().await.expect("jobs");
    let err = fx
        .call_as(&fx.root, Operation::Read, "database/creds/bad", json!({}))
        .await
        .expect_err("syntax error");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(
        err.to_string().contains("creating the database user"),
        "{err}"
    );
    let _ = before;
    let leases = fx
        .call_as(
            &fx.root,
            Operation::List,
            "sys/leases/lookup/database/creds/bad/",
            json!({}),
        )
        .await
        .expect("list");
    assert!(leases.is_none(), "no lease for a failed creation");
    assert_eq!(
        db.users_named_like("v-root-bad%"),
        0,
        "the user created before the failing statement was dropped"
    );
    // TTLs: a default over the role's maximum, a maximum over the mount's; nothing stored.
    for (body, field) in [
        (json!({"default_ttl": "3h", "max_ttl": "1h"}), "default_ttl"),
        (json!({"max_ttl": "10000h"}), "max_ttl"),
    ] {
        let mut body = body;
        body["db_name"] = json!("db");
        body["creation_statements"] = json!(db.creation);
        let err = fx
            .call_as(&fx.root, Operation::Update, "database/roles/ttl", body)
            .await
            .expect_err("a TTL over its maximum");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
        assert!(err.to_string().starts_with(field), "{err}");
    }
    let ttl_role = fx
        .call_as(&fx.root, Operation::Read, "database/roles/ttl", json!({}))
        .await
        .expect("read");
    assert!(ttl_role.is_none(), "no role stored");
    let err = fx
        .call_as(&fx.root, Operation::Read, "database/creds/nope", json!({}))
        .await
        .expect_err("unknown role");
    assert!(err.to_string().contains("unknown role"), "{err}");
}

#[tokio::test]
async fn postgres_dynamic_credentials() {
    let Some(db) = db("COFFRE_TEST_POSTGRES_URL", "postgres_dynamic_credentials") else {
        return;
    };
    dynamic_credentials_live_and_die_with_their_lease(db).await;
}

#[tokio::test]
async fn mysql_dynamic_credentials() {
    let Some(db) = db("COFFRE_TEST_MYSQL_URL", "mysql_dynamic_credentials") else {
        return;
    };
    dynamic_credentials_live_and_die_with_their_lease(db).await;
}
