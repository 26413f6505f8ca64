//! MySQL and MariaDB over mysql_async and its pool.
//!
//! MySQL commits account statements (`CREATE USER`, `GRANT`) as they run, so there is no
//! transaction to roll back: the engine undoes a half-done creation with the revocation
//! statements instead.

use mysql_async::prelude::Queryable as _;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use zeroize::Zeroizing;

use crate::{ConnectionConfig, DbError, scrub};

pub struct My {
    pool: Pool,
    /// mysql_async has no connect timeout of its own: getting a connection is bounded here.
    connect_timeout: std::time::Duration,
}

fn message(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

/// Vault's MySQL connection URLs are Go DSNs (`{{username}}:{{password}}@tcp(host:3306)/`);
/// mysql_async takes `mysql://user:pass@host:3306/db`. Both are accepted.
fn to_url(config: &ConnectionConfig) -> Result<Zeroizing<String>, DbError> {
    let user = utf8_percent_encode(&config.username, NON_ALPHANUMERIC).to_string();
    let pass = Zeroizing::new(utf8_percent_encode(&config.password, NON_ALPHANUMERIC).to_string());
    let filled = Zeroizing::new(
        config
            .url
            .replace("{{username}}", &user)
            .replace("{{password}}", &pass),
    );
    if filled.starts_with("mysql://") {
        return Ok(filled);
    }
    // `[user[:pass]@]tcp(host:port)/[db][?params]`
    let (creds, rest) = match filled.rsplit_once("@tcp(") {
        Some((c, r)) => (Some(c), r),
        None => match filled.strip_prefix("tcp(") {
            Some(r) => (None, r),
            None => {
                return Err(DbError::Config(
                    "invalid connection_url: expected mysql://user:pass@host:port/db or \
                     user:pass@tcp(host:port)/db"
                        .into(),
                ));
            }
        },
    };
    let (addr, tail) = rest
        .split_once(')')
        .ok_or_else(|| DbError::Config("invalid connection_url: tcp( is not closed".into()))?;
    let db = tail.trim_start_matches('/');
    let db = db.split_once('?').map_or(db, |(d, _)| d);
    let creds = creds.map_or(String::new(), |c| format!("{c}@"));
    Ok(Zeroizing::new(format!("mysql://{creds}{addr}/{db}")))
}

impl My {
    pub fn open(config: &ConnectionConfig) -> Result<My, DbError> {
        My::open_with(config, true)
    }

    /// A pool that connects without selecting the URL's database: a login check must not
    /// fail because the user (rightly) has no rights on it.
    pub fn open_for_login(config: &ConnectionConfig) -> Result<My, DbError> {
        My::open_with(config, false)
    }

    fn open_with(config: &ConnectionConfig, with_database: bool) -> Result<My, DbError> {
        let url = to_url(config)?;
        let secrets = [config.password.as_str()];
        let opts = Opts::from_url(&url).map_err(|e| {
            DbError::Config(scrub(format!("invalid connection_url: {e}"), &secrets))
        })?;
        let mut builder = OptsBuilder::from_opts(opts);
        if !with_database {
            builder = builder.db_name(None::<String>);
        }
        if !url.contains('@') {
            builder = builder
                .user(Some(config.username.clone()))
                .pass(Some(config.password.to_string()));
        }
        let constraints = PoolConstraints::new(0, config.max_open_connections.max(1))
            .ok_or_else(|| DbError::Config("invalid max_open_connections".into()))?;
        let builder = builder.pool_opts(PoolOpts::default().with_constraints(constraints));
        Ok(My {
            pool: Pool::new(builder),
            connect_timeout: config.connect_timeout,
        })
    }

    async fn conn(&self) -> Result<mysql_async::Conn, DbError> {
        match tokio::time::timeout(self.connect_timeout, self.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(DbError::Connect(format!(
                "cannot connect to MySQL: {}",
                message(&e)
            ))),
            Err(_) => Err(DbError::Connect(format!(
                "cannot connect to MySQL: no connection within {:?}",
                self.connect_timeout
            ))),
        }
    }

    pub async fn verify(&self) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        conn.query_drop("SELECT 1")
            .await
            .map_err(|e| DbError::Connect(format!("MySQL: {}", message(&e))))
    }

    /// Runs each statement in order (each entry split on `;`, as Vault does).
    pub async fn execute(&self, statements: &[Zeroizing<String>]) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        for entry in statements {
            for statement in entry.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                conn.query_drop(statement)
                    .await
                    .map_err(|e| DbError::Statement(format!("MySQL: {}", message(&e))))?;
            }
        }
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Kind;

    fn cfg(url: &str) -> ConnectionConfig {
        ConnectionConfig {
            kind: Kind::Mysql,
            url: url.into(),
            username: "root".into(),
            password: Zeroizing::new("p@ss:w/rd".into()),
            max_open_connections: 2,
            connect_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn go_dsns_become_urls() {
        let u = to_url(&cfg("{{username}}:{{password}}@tcp(127.0.0.1:3306)/")).expect("dsn");
        assert_eq!(u.as_str(), "mysql://root:p%40ss%3Aw%2Frd@127.0.0.1:3306/");
        let u = to_url(&cfg("tcp(db:3306)/app?tls=false")).expect("dsn");
        assert_eq!(u.as_str(), "mysql://db:3306/app");
        let u = to_url(&cfg("mysql://{{username}}:{{password}}@h:1/")).expect("url");
        assert_eq!(u.as_str(), "mysql://root:p%40ss%3Aw%2Frd@h:1/");
        assert!(to_url(&cfg("host=db")).is_err());
    }
}
