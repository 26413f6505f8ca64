//! A database the tests talk to (from `COFFRE_TEST_POSTGRES_URL` / `COFFRE_TEST_MYSQL_URL`)
//! and a core on a manual clock with a database mount configured for it.

use std::sync::Arc;
use std::time::Duration;

use coffre_core::{Core, ManualClock, Operation, Request, Response};
use coffre_dbplugin::{Connection, ConnectionConfig, Kind};
use coffre_storage::{Backend, InMemoryBackend};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{audited_config as config, obj};

/// One database the tests talk to.
pub struct Db {
    pub kind: Kind,
    pub plugin: &'static str,
    /// `connection_url` with `{{username}}` and `{{password}}`.
    pub url: String,
    pub root_user: String,
    /// The root password the configuration stores (MariaDB's root has none here; the
    /// machine's PostgreSQL trusts every local login, so any password works there).
    pub root_password: &'static str,
    pub creation: &'static str,
}

/// The database from `var` (`postgresql://user@host:port/db` or `mysql://user@host:port/db`),
/// or `None` with a visible SKIPPED line.
pub fn db(var: &str, test: &str) -> Option<Db> {
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
    pub async fn logs_in(&self, user: &str, password: &str) -> bool {
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

pub struct Fx {
    pub core: Core,
    pub backend: Arc<dyn Backend>,
    pub clock: Arc<ManualClock>,
    pub root: String,
    pub share: String,
    /// The core's file audit log.
    pub log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Fx {
    pub async fn new(db: &Db) -> Fx {
        let backend: Arc<dyn Backend> = Arc::new(InMemoryBackend::new());
        let clock = ManualClock::at(1_800_000_000);
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("audit.log");
        let core = Core::new(backend.clone(), config(&clock, &log));
        let (share, root) = core.dev_init(None).await.expect("init");
        let fx = Fx {
            core,
            backend,
            clock,
            root,
            share: hex::encode(share.expose()),
            log,
            _dir: dir,
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

    pub async fn call_as(
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

    pub async fn ok(&self, op: Operation, path: &str, data: Value) -> Option<Response> {
        self.call_as(&self.root, op, path, data)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// New credentials: (lease id, username, password, lease duration).
    pub async fn creds(&self, token: &str) -> (String, String, String, u64) {
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

    pub async fn lookup(&self, lease: &str) -> coffre_core::Result<Option<Response>> {
        self.call_as(
            &self.root,
            Operation::Update,
            "sys/leases/lookup",
            json!({ "lease_id": lease }),
        )
        .await
    }

    pub async fn restart(&mut self) {
        self.core = Core::new(self.backend.clone(), config(&self.clock, &self.log));
        self.core.unseal(&self.share).await.expect("unseal");
    }

    /// How many audit entries are the request entry of background event `name` (e.g.
    /// `rotation.failed`) for `path`.
    pub fn audited(&self, name: &str, path: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| {
                e["type"] == "request"
                    && e["request"]["background"] == name
                    && e["request"]["path"] == path
            })
            .count()
    }
}

impl Db {
    /// Runs `sql` as the root user (test setup: users for static roles).
    pub async fn admin(&self, sql: &str) {
        let config = ConnectionConfig {
            kind: self.kind,
            url: self.url.clone(),
            username: self.root_user.clone(),
            password: Zeroizing::new(self.root_password.to_string()),
            max_open_connections: 1,
            connect_timeout: Duration::from_secs(5),
        };
        let conn = Connection::open(&config).expect("open");
        conn.execute(&[sql.to_string()], &coffre_dbplugin::Vars::default())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await;
    }

    /// Creates a login user with `password` (dropped first if a run before left it).
    pub async fn create_user(&self, name: &str, password: &str) {
        match self.kind {
            Kind::Mysql => {
                self.drop_user(name).await;
                self.admin(&format!(
                    "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"
                ))
                .await;
            }
            Kind::Postgres => {
                self.drop_user(name).await;
                self.admin(&format!(
                    "CREATE ROLE \"{name}\" WITH LOGIN PASSWORD '{password}'"
                ))
                .await;
            }
        }
    }

    /// Drops user `name` if it exists.
    pub async fn drop_user(&self, name: &str) {
        match self.kind {
            Kind::Mysql => {
                self.admin(&format!("DROP USER IF EXISTS '{name}'@'%'"))
                    .await
            }
            Kind::Postgres => self.admin(&format!("DROP ROLE IF EXISTS \"{name}\"")).await,
        }
    }

    /// PostgreSQL: (host, port, database) of the URL.
    pub fn pg_location(&self) -> (String, String, String) {
        let at = self.url.split_once('@').map_or("", |(_, l)| l);
        let (hostport, rest) = at.split_once('/').unwrap_or((at, ""));
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
        let name = rest.split_once('?').map_or(rest, |(d, _)| d);
        (host.to_string(), port.to_string(), name.to_string())
    }

    /// PostgreSQL: how many sessions `user` has open (asked with psql as the root user).
    pub fn session_count(&self, user: &str) -> usize {
        let (host, port, name) = self.pg_location();
        let out = std::process::Command::new("psql")
            .args([
                "-h",
                &host,
                "-p",
                &port,
                "-U",
                &self.root_user,
                "-d",
                &name,
                "-tAc",
            ])
            .arg(format!(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = '{user}'"
            ))
            .output()
            .expect("psql");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// How many users of the database have a name `LIKE` `pattern` (asked as the root user
    /// with the database's own client).
    pub fn users_named_like(&self, pattern: &str) -> usize {
        let out = match self.kind {
            Kind::Postgres => {
                let (host, port, name) = self.pg_location();
                std::process::Command::new("psql")
                    .args(["-h", &host, "-p", &port, "-U", &self.root_user, "-d", &name])
                    .arg("-tAc")
                    .arg(format!(
                        "SELECT count(*) FROM pg_roles WHERE rolname LIKE '{pattern}'"
                    ))
                    .output()
            }
            Kind::Mysql => {
                let at = self.url.split_once("tcp(").map_or("", |(_, l)| l);
                let hostport = at.split_once(')').map_or(at, |(h, _)| h);
                let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
                std::process::Command::new("mysql")
                    .args(["-h", host, "-P", port, "-u", &self.root_user, "-N", "-e"])
                    .arg(format!(
                        "SELECT count(*) FROM mysql.user WHERE User LIKE '{pattern}'"
                    ))
                    .output()
            }
        }
        .expect("the database's client");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a count")
    }

    /// Whether the database checks passwords (the machine's PostgreSQL trusts local logins).
    pub fn checks_passwords(&self) -> bool {
        self.kind == Kind::Mysql
    }
}
