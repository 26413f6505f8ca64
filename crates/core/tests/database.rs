//! The database secrets engine and leases against the machine's real PostgreSQL and MariaDB
//! (URLs from `COFFRE_TEST_POSTGRES_URL` / `COFFRE_TEST_MYSQL_URL`, set by scripts/test.sh;
//! without them each test prints SKIPPED). On a manual clock: dynamic users log in, are
//! dropped when their lease is revoked, expires or its token is revoked, and leases survive a
//! restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use coffre_core::{Core, CoreConfig, ErrorKind, ManualClock, Operation, Request, Response};
use coffre_dbplugin::{ConnectionConfig, Kind};
use coffre_storage::{Backend, InMemoryBackend};
use common::obj;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// One database the tests talk to.
struct Db {
    kind: Kind,
    plugin: &'static str,
    /// `connection_url` with `{{username}}` and `{{password}}`.
    url: String,
    root_user: String,
    /// The root password the configuration stores (MariaDB's root has none here; the
    /// machine's PostgreSQL trusts every local login, so any password works there).
    root_password: &'static str,
    creation: &'static str,
}

/// The database from `var` (`postgresql://user@host:port/db` or `mysql://user@host:port/db`),
/// or `None` with a visible SKIPPED line.
fn db(var: &str, test: &str) -> Option<Db> {
    let Ok(url) = std::env::var(var) else {
        eprintln!(
            "SKIPPED {test}: {var} is not set (scripts/test.sh sets it when the database is up)"
        );
        return None;
    };
    let (scheme, rest) = url.split_once("://")?;
    let (user, location) = rest.split_once('@')?;
    Some(match scheme {
        "mysql" => Db {
            kind: Kind::Mysql,
            plugin: "mysql-database-plugin",
            url: {
                let (host, name) = location.split_once('/').unwrap_or((location, ""));
                format!("{{{{username}}}}:{{{{password}}}}@tcp({host})/{name}")
            },
            root_user: user.to_string(),
            root_password: "",
            creation: "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON test.* TO '{{name}}'@'%';",
        },
        _ => Db {
            kind: Kind::Postgres,
            plugin: "postgresql-database-plugin",
            url: format!(
                "postgresql://{{{{username}}}}:{{{{password}}}}@{location}?sslmode=disable"
            ),
            root_user: user.to_string(),
            root_password: "root-secret-never-shown",
            creation: "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
        },
    })
}

impl Db {
    /// Whether `user`/`password` can log in (MariaDB checks passwords; the machine's
    /// PostgreSQL trusts every local login, so there it says whether the user exists).
    async fn logs_in(&self, user: &str, password: &str) -> bool {
        let config = ConnectionConfig {
            kind: self.kind,
            url: self.url.clone(),
            username: self.root_user.clone(),
            password: Zeroizing::new(String::new()),
            max_open_connections: 1,
            connect_timeout: Duration::from_secs(5),
        };
        coffre_dbplugin::try_login(&config, user, password)
            .await
            .is_ok()
    }
}

struct Fx {
    core: Core,
    backend: Arc<dyn Backend>,
    clock: Arc<ManualClock>,
    root: String,
    share: String,
}

impl Fx {
    async fn new(db: &Db) -> Fx {
        let backend: Arc<dyn Backend> = Arc::new(InMemoryBackend::new());
        let clock = ManualClock::at(1_800_000_000);
        let core = Core::new(
            backend.clone(),
            CoreConfig {
                clock: clock.clone(),
                ..CoreConfig::default()
            },
        );
        let (share, root) = core.dev_init(None).await.expect("init");
        let fx = Fx {
            core,
            backend,
            clock,
            root,
            share: hex::encode(share.expose()),
        };
        fx.ok(
            Operation::Update,
            "sys/mounts/database",
            json!({"type": "database"}),
        )
        .await;
        fx.ok(
            Operation::Update,
            "database/config/db",
            json!({
                "plugin_name": db.plugin,
                "connection_url": db.url,
                "username": db.root_user,
                "password": db.root_password,
                "allowed_roles": ["app", "bad"],
            }),
        )
        .await;
        fx.ok(
            Operation::Update,
            "database/roles/app",
            json!({
                "db_name": "db",
                "creation_statements": db.creation,
                "default_ttl": "1h",
                "max_ttl": "2h",
            }),
        )
        .await;
        fx
    }

    async fn call_as(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        data: Value,
    ) -> coffre_core::Result<Option<Response>> {
        self.core
            .handle(
                Request::new(op, path)
                    .with_token(token)
                    .with_data(obj(data)),
            )
            .await
    }

    async fn ok(&self, op: Operation, path: &str, data: Value) -> Option<Response> {
        self.call_as(&self.root, op, path, data)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// New credentials: (lease id, username, password, lease duration).
    async fn creds(&self, token: &str) -> (String, String, String, u64) {
        let resp = self
            .call_as(token, Operation::Read, "database/creds/app", json!({}))
            .await
            .expect("creds")
            .expect("response");
        let data = resp.data.clone().expect("data");
        (
            resp.lease_id.clone(),
            data["username"].as_str().expect("username").to_string(),
            data["password"].as_str().expect("password").to_string(),
            resp.lease_duration,
        )
    }

    async fn lookup(&self, lease: &str) -> coffre_core::Result<Option<Response>> {
        self.call_as(
            &self.root,
            Operation::Update,
            "sys/leases/lookup",
            json!({ "lease_id": lease }),
        )
        .await
    }

    async fn restart(&mut self) {
        self.core = Core::new(
            self.backend.clone(),
            CoreConfig {
                clock: self.clock.clone(),
                ..CoreConfig::default()
            },
        );
        self.core.unseal(&self.share).await.expect("unseal");
    }
}

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
