//! coffre's database plugins, as Vault's `postgresql-database-plugin` and
//! `mysql-database-plugin`: a pooled connection per configured database, the statements a role
//! runs (with `{{name}}`, `{{username}}`, `{{password}}` and `{{expiration}}` filled in), and
//! the usernames dynamic roles generate.
//!
//! This crate knows databases, not coffre: the database secrets engine in `coffre-core` keeps
//! configurations, roles and leases and calls in here. No error leaves with a password in it:
//! every driver message is scrubbed of the passwords involved ([`DbError`]).

mod mysql;
mod postgres;
mod template;

use std::time::Duration;

use zeroize::Zeroizing;

pub use template::{Vars, render};

/// Which database a configuration talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Mysql,
}

impl Kind {
    /// The kind behind a Vault `plugin_name` (the MySQL family's variants share one protocol).
    pub fn from_plugin_name(name: &str) -> Option<Kind> {
        match name {
            "postgresql-database-plugin" => Some(Kind::Postgres),
            "mysql-database-plugin"
            | "mysql-aurora-database-plugin"
            | "mysql-rds-database-plugin"
            | "mysql-legacy-database-plugin" => Some(Kind::Mysql),
            _ => None,
        }
    }

    /// The longest user name coffre generates for the database: PostgreSQL's identifier
    /// limit (63 bytes); for the MySQL family MySQL's 32 characters (MariaDB takes 80).
    pub fn max_username_len(self) -> usize {
        match self {
            Kind::Postgres => 63,
            Kind::Mysql => 32,
        }
    }

    /// What revokes a dynamic user when its role gives no `revocation_statements`.
    pub fn default_revocation(self) -> &'static [&'static str] {
        match self {
            // Sessions first (a live session would keep the role's objects busy), then what
            // it owns, then the role.
            Kind::Postgres => &[
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}' AND pid <> pg_backend_pid();",
                "REASSIGN OWNED BY \"{{name}}\" TO CURRENT_USER;",
                "DROP OWNED BY \"{{name}}\";",
                "DROP ROLE IF EXISTS \"{{name}}\";",
            ],
            Kind::Mysql => &["DROP USER IF EXISTS '{{name}}'@'%';"],
        }
    }

    /// What changes a user's password when a static role gives no `rotation_statements`.
    pub fn default_rotation(self) -> &'static [&'static str] {
        match self {
            Kind::Postgres => &["ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"],
            Kind::Mysql => &["ALTER USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"],
        }
    }

    /// What makes a dynamic user's password valid until a new expiry when its lease is
    /// renewed (PostgreSQL's `VALID UNTIL`; MySQL has nothing to change).
    pub fn default_renew(self) -> &'static [&'static str] {
        match self {
            Kind::Postgres => &["ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';"],
            Kind::Mysql => &[],
        }
    }
}

/// A failure talking to a database. Its message never holds a password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The configuration is wrong (bad URL, unknown option): the caller's fault.
    #[error("{0}")]
    Config(String),
    /// The database could not be reached or refused the login.
    #[error("{0}")]
    Connect(String),
    /// A statement failed.
    #[error("{0}")]
    Statement(String),
}

impl DbError {
    /// The same error with every one of `secrets` in its message replaced by `[redacted]`.
    pub fn scrubbed(self, secrets: &[&str]) -> DbError {
        match self {
            DbError::Config(m) => DbError::Config(scrub(m, secrets)),
            DbError::Connect(m) => DbError::Connect(scrub(m, secrets)),
            DbError::Statement(m) => DbError::Statement(scrub(m, secrets)),
        }
    }

    /// Whether the request that led here was wrong (400) rather than the database (500).
    pub fn is_client_error(&self) -> bool {
        matches!(self, DbError::Config(_) | DbError::Statement(_))
    }
}

/// The longest a call into the database may take: a statement stuck on a lock must not hold a
/// request, or the job runner's pass, forever.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    tokio::time::timeout(STATEMENT_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(DbError::Statement(format!(
                "the database did not answer within {STATEMENT_TIMEOUT:?}"
            )))
        })
}

/// Replaces every non-empty `secret` in `message` with `[redacted]`.
pub(crate) fn scrub(message: String, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 3)
        .fold(message, |m, s| m.replace(*s, "[redacted]"))
}

/// How to reach a database: Vault's `connection_url` (with `{{username}}` and `{{password}}`
/// placeholders) and the root credentials to put in it.
#[derive(Clone)]
pub struct ConnectionConfig {
    pub kind: Kind,
    pub url: String,
    pub username: String,
    pub password: Zeroizing<String>,
    /// Most connections open at once (Vault's `max_open_connections`, default 4).
    pub max_open_connections: usize,
    /// How long to wait to connect, and for a pooled connection.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("kind", &self.kind)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A pooled connection to one configured database.
pub enum Connection {
    Postgres(postgres::Pg),
    Mysql(mysql::My),
}

impl Connection {
    /// Builds the pool (no connection is made until one is needed).
    pub fn open(config: &ConnectionConfig) -> Result<Connection, DbError> {
        Ok(match config.kind {
            Kind::Postgres => Connection::Postgres(postgres::Pg::open(config)?),
            Kind::Mysql => Connection::Mysql(mysql::My::open(config)?),
        })
    }

    /// Connects and runs a trivial query (Vault's `verify_connection`).
    pub async fn verify(&self) -> Result<(), DbError> {
        bounded(async {
            match self {
                Connection::Postgres(c) => c.verify().await,
                Connection::Mysql(c) => c.verify().await,
            }
        })
        .await
    }

    /// Runs `statements` with `vars` filled in, in order; on PostgreSQL in one transaction.
    /// Each entry may hold several statements separated by `;`.
    pub async fn execute(&self, statements: &[String], vars: &Vars<'_>) -> Result<(), DbError> {
        let kind = self.kind();
        let rendered: Vec<Zeroizing<String>> =
            statements.iter().map(|s| render(s, vars, kind)).collect();
        let secrets: Vec<&str> = vars.password.into_iter().collect();
        let run = async {
            match self {
                Connection::Postgres(c) => c.execute(&rendered).await,
                Connection::Mysql(c) => c.execute(&rendered).await,
            }
        };
        bounded(run).await.map_err(|e| e.scrubbed(&secrets))
    }

    pub fn kind(&self) -> Kind {
        match self {
            Connection::Postgres(_) => Kind::Postgres,
            Connection::Mysql(_) => Kind::Mysql,
        }
    }

    /// Closes the pool's connections (a configuration changed or was deleted).
    pub async fn close(self) {
        match self {
            Connection::Postgres(c) => c.close(),
            Connection::Mysql(c) => c.close().await,
        }
    }
}

/// Logs in as `username` with `password` through the configuration's URL and runs a trivial
/// query: how a rotated password is checked before it is trusted.
pub async fn try_login(
    config: &ConnectionConfig,
    username: &str,
    password: &str,
) -> Result<(), DbError> {
    let as_user = ConnectionConfig {
        username: username.to_string(),
        password: Zeroizing::new(password.to_string()),
        max_open_connections: 1,
        ..config.clone()
    };
    // MySQL: without the URL's database, which the user may have no rights on. PostgreSQL
    // needs a database to connect to; its login rights are checked with it.
    let conn = match config.kind {
        Kind::Mysql => Connection::Mysql(mysql::My::open_for_login(&as_user)?),
        Kind::Postgres => Connection::open(&as_user)?,
    };
    let result = conn.verify().await;
    conn.close().await;
    result.map_err(|e| e.scrubbed(&[password]))
}

/// A dynamic user's name, as Vault's default templates make it: `v-<display>-<role>-<random>-
/// <unix seconds>`, display name and role cut to 8 characters each, the whole cut to the
/// database's limit. `random` comes from the caller's CSPRNG (letters and digits).
pub fn username(kind: Kind, display_name: &str, role: &str, random: &str, now: i64) -> String {
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(n)
            .collect()
    };
    let name = match kind {
        Kind::Postgres => format!(
            "v-{}-{}-{}-{now}",
            clean(display_name, 8),
            clean(role, 8),
            random
        ),
        // Short enough for 32 characters with a useful random part.
        Kind::Mysql => format!("v-{}-{}-{}", clean(display_name, 4), clean(role, 4), random),
    };
    name.chars().take(kind.max_username_len()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_fit_the_database() {
        let pg = username(
            Kind::Postgres,
            "token-ci",
            "readonly",
            "a1B2c3D4e5F6g7H8i9J0",
            1_800_000_000,
        );
        assert_eq!(pg, "v-token_ci-readonly-a1B2c3D4e5F6g7H8i9J0-1800000000");
        assert!(pg.len() <= 63);
        let long = username(
            Kind::Mysql,
            "a very long display name",
            "role'; DROP",
            "a1B2c3D4e5F6g7H8i9J0",
            1,
        );
        assert_eq!(long.len(), 32, "{long}");
        assert!(
            long.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{long}"
        );
    }

    #[test]
    fn plugin_names_as_vault() {
        assert_eq!(
            Kind::from_plugin_name("postgresql-database-plugin"),
            Some(Kind::Postgres)
        );
        assert_eq!(
            Kind::from_plugin_name("mysql-database-plugin"),
            Some(Kind::Mysql)
        );
        assert_eq!(Kind::from_plugin_name("oracle-database-plugin"), None);
    }

    #[test]
    fn scrub_removes_passwords() {
        assert_eq!(
            scrub("login failed for s3cret!".into(), &["s3cret!", ""]),
            "login failed for [redacted]"
        );
    }
}
