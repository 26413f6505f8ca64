//! PostgreSQL over tokio-postgres, pooled by deadpool-postgres.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use zeroize::Zeroizing;

use crate::{ConnectionConfig, DbError, scrub};

pub struct Pg {
    pool: Pool,
}

/// The driver's message: the server's own text for a database error.
fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// The connection URL with the credentials in it: percent-encoded in a URL, as they are in a
/// `key=value` string (where the template should quote them).
fn filled_url(config: &ConnectionConfig) -> Zeroizing<String> {
    let is_url = config.url.starts_with("postgres://") || config.url.starts_with("postgresql://");
    let (user, pass) = if is_url {
        (
            utf8_percent_encode(&config.username, NON_ALPHANUMERIC).to_string(),
            Zeroizing::new(utf8_percent_encode(&config.password, NON_ALPHANUMERIC).to_string()),
        )
    } else {
        (
            config.username.clone(),
            Zeroizing::new(config.password.to_string()),
        )
    };
    Zeroizing::new(
        config
            .url
            .replace("{{username}}", &user)
            .replace("{{password}}", &pass),
    )
}

impl Pg {
    pub fn open(config: &ConnectionConfig) -> Result<Pg, DbError> {
        let url = filled_url(config);
        let secrets = [config.password.as_str()];
        let mut pg: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            DbError::Config(scrub(
                format!("invalid connection_url: {}", message(&e)),
                &secrets,
            ))
        })?;
        if pg.get_ssl_mode() == SslMode::Require {
            return Err(DbError::Config(
                "connection_url asks for sslmode=require: TLS to PostgreSQL is not supported yet \
                 (use sslmode=disable or prefer)"
                    .into(),
            ));
        }
        if pg.get_user().is_none() && !config.username.is_empty() {
            pg.user(&config.username);
        }
        if pg.get_password().is_none() && !config.password.is_empty() {
            pg.password(config.password.as_bytes());
        }
        pg.connect_timeout(config.connect_timeout);
        pg.application_name("coffre");
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_open_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| DbError::Config(format!("connection pool: {e}")))?;
        Ok(Pg { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        self.pool.get().await.map_err(|e| {
            let text = match &e {
                deadpool_postgres::PoolError::Backend(b) => message(b),
                other => other.to_string(),
            };
            DbError::Connect(format!("cannot connect to PostgreSQL: {text}"))
        })
    }

    pub async fn verify(&self) -> Result<(), DbError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| DbError::Connect(format!("PostgreSQL: {}", message(&e))))
    }

    /// Runs every statement in one transaction: all of them happen, or none.
    pub async fn execute(&self, statements: &[Zeroizing<String>]) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| DbError::Connect(format!("PostgreSQL: {}", message(&e))))?;
        for statement in statements {
            tx.batch_execute(statement)
                .await
                .map_err(|e| DbError::Statement(format!("PostgreSQL: {}", message(&e))))?;
        }
        tx.commit()
            .await
            .map_err(|e| DbError::Statement(format!("PostgreSQL: {}", message(&e))))
    }

    pub fn close(self) {
        self.pool.close();
    }
}
