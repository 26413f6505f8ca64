//! [`PostgresBackend`] ("postgresql"): the store in a PostgreSQL table, so several coffre nodes
//! can share the database their operators already run, replicate and back up.
//!
//! One table, `coffre_kv (key text COLLATE "C" PRIMARY KEY, value bytea)`: the "C" collation
//! orders keys by their bytes, the order every other backend has (UTF-8 byte order is code
//! point order), so `list`, `scan` and `scan_range` are index range reads. PostgreSQL sees
//! storage keys and ciphertext only: values are encrypted by the core's barrier before they
//! get here.
//!
//! **Durability**: every write is a statement or a transaction committed before `Ok` returns;
//! with PostgreSQL's default `synchronous_commit = on` a committed transaction is on disk (and
//! on a synchronous replica, when one is configured). Concurrent writes are group-committed
//! by PostgreSQL itself.
//!
//! **Schema**: coffre creates it and records its version in `coffre_schema`; a database whose
//! schema is newer than this build knows is refused rather than written to.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

/// Statement parameters of mixed types.
type Params<'a> = [&'a (dyn ToSql + Sync)];

use crate::{Backend, Op, Result, StorageError};

/// The schema version this build writes.
const SCHEMA_VERSION: i32 = 1;

/// How to reach the database.
#[derive(Clone)]
pub struct PostgresConfig {
    /// A libpq URL or `key=value` string, e.g. `postgresql://coffre@db:5432/coffre`.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long to wait to connect, and for a pooled connection.
    pub connect_timeout: Duration,
    /// A schema to keep the tables in (created if missing); `None`: the connection's default
    /// (`public`). Tests use one per run.
    pub schema: Option<String>,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PostgresConfig")
            .field("pool_size", &self.pool_size)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The PostgreSQL backend.
pub struct PostgresBackend {
    pool: Pool,
    /// `"<schema>".coffre_kv` or `coffre_kv`.
    table: String,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn db_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Database(format!("PostgreSQL: {e}"))
}

/// The driver's message: the server's own text for a database error (never a value: values
/// travel as parameters, which errors do not echo).
fn pg_err(e: &tokio_postgres::Error) -> StorageError {
    match e.as_db_error() {
        Some(d) => db_err(format!("{}: {}", d.severity(), d.message())),
        None => db_err(e),
    }
}

fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PostgresBackend {
    /// Connects, creates or checks the schema, and returns the backend. Fails with the cause
    /// (bad URL, unreachable database, refused login, newer schema).
    pub async fn open(config: &PostgresConfig) -> Result<PostgresBackend> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| db_err(format!("invalid url: {e}")))?;
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
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .build()
            .map_err(db_err)?;
        let (table, schema_table) = match &config.schema {
            Some(s) if valid_schema(s) => (
                format!("\"{s}\".coffre_kv"),
                format!("\"{s}\".coffre_schema"),
            ),
            Some(s) => return Err(db_err(format!("invalid schema name {s:?}"))),
            None => ("coffre_kv".to_string(), "coffre_schema".to_string()),
        };
        let backend = PostgresBackend { pool, table };
        backend
            .migrate(config.schema.as_deref(), &schema_table)
            .await?;
        Ok(backend)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(b) => pg_err(&b),
            other => db_err(format!("no connection: {other}")),
        })
    }

    /// Creates the tables (version 1) or checks the recorded version.
    async fn migrate(&self, schema: Option<&str>, schema_table: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_err(&e))?;
        // Serializes nodes migrating at once (one transaction-scoped advisory lock).
        tx.execute("SELECT pg_advisory_xact_lock(4242001)", &[])
            .await
            .map_err(|e| pg_err(&e))?;
        if let Some(s) = schema {
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))
                .await
                .map_err(|e| pg_err(&e))?;
        }
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {schema_table} (version integer NOT NULL)"
        ))
        .await
        .map_err(|e| pg_err(&e))?;
        let recorded: Option<i32> = tx
            .query_opt(&format!("SELECT max(version) FROM {schema_table}"), &[])
            .await
            .map_err(|e| pg_err(&e))?
            .and_then(|row| row.get::<_, Option<i32>>(0));
        match recorded {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(db_err(format!(
                    "the database's schema is version {v}, newer than this build's \
                     {SCHEMA_VERSION}: upgrade coffre"
                )));
            }
            Some(_) => {}
            None => {
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {} (key text COLLATE \"C\" PRIMARY KEY, \
                     value bytea NOT NULL)",
                    self.table
                ))
                .await
                .map_err(|e| pg_err(&e))?;
                tx.execute(
                    &format!("INSERT INTO {schema_table} (version) VALUES ($1)"),
                    &[&SCHEMA_VERSION],
                )
                .await
                .map_err(|e| pg_err(&e))?;
            }
        }
        tx.commit().await.map_err(|e| pg_err(&e))
    }

    /// Keys starting with `prefix`, in order, at most `limit`.
    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT key FROM {} WHERE key >= $1 AND starts_with(key, $1) ORDER BY key",
                    self.table
                ),
                &[&prefix],
            )
            .await
            .map_err(|e| pg_err(&e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

#[async_trait::async_trait]
impl Backend for PostgresBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT value FROM {} WHERE key = $1", self.table),
                &[&key],
            )
            .await
            .map_err(|e| pg_err(&e))?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.batch(vec![Op::Put(key.to_string(), value)]).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.batch(vec![Op::Delete(key.to_string())]).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        // One level below `prefix`, computed by the database: the part of each key after the
        // prefix, cut after its first `/`.
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT DISTINCT CASE WHEN strpos(rest, '/') > 0 \
                       THEN left(rest, strpos(rest, '/')) ELSE rest END COLLATE \"C\" AS name \
                     FROM (SELECT substr(key, length($1) + 1) AS rest FROM {} \
                           WHERE key >= $1 AND starts_with(key, $1)) AS below \
                     WHERE rest <> '' ORDER BY name",
                    self.table
                ),
                &[&prefix],
            )
            .await
            .map_err(|e| pg_err(&e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.keys_with_prefix(prefix).await
    }

    async fn scan_range(&self, start: &str, end: &str, limit: usize) -> Result<Vec<String>> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                &format!(
                    "SELECT key FROM {} WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
                    self.table
                ),
                &[&start as &(dyn ToSql + Sync), &end, &limit] as &Params<'_>,
            )
            .await
            .map_err(|e| pg_err(&e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool> {
        let client = self.client().await?;
        let t = &self.table;
        // Each case is one statement: atomic without a transaction of our own.
        let changed = match (expected, new) {
            (None, Some(v)) => client
                .execute(
                    &format!(
                        "INSERT INTO {t} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
                    ),
                    &[&key as &(dyn ToSql + Sync), &v] as &Params<'_>,
                )
                .await
                .map(|n| n == 1),
            (None, None) => client
                .query_opt(&format!("SELECT 1 FROM {t} WHERE key = $1"), &[&key])
                .await
                .map(|row| row.is_none()),
            (Some(e), Some(v)) => client
                .execute(
                    &format!("UPDATE {t} SET value = $3 WHERE key = $1 AND value = $2"),
                    &[&key as &(dyn ToSql + Sync), &e, &v] as &Params<'_>,
                )
                .await
                .map(|n| n == 1),
            (Some(e), None) => client
                .execute(
                    &format!("DELETE FROM {t} WHERE key = $1 AND value = $2"),
                    &[&key as &(dyn ToSql + Sync), &e] as &Params<'_>,
                )
                .await
                .map(|n| n == 1),
        };
        changed.map_err(|e| pg_err(&e))
    }

    async fn batch(&self, ops: Vec<Op>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_err(&e))?;
        let put = tx
            .prepare_cached(&format!(
                "INSERT INTO {} (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                self.table
            ))
            .await
            .map_err(|e| pg_err(&e))?;
        let delete = tx
            .prepare_cached(&format!("DELETE FROM {} WHERE key = $1", self.table))
            .await
            .map_err(|e| pg_err(&e))?;
        for op in &ops {
            match op {
                Op::Put(k, v) => {
                    tx.execute(&put, &[k as &(dyn ToSql + Sync), v] as &Params<'_>)
                        .await
                }
                Op::Delete(k) => tx.execute(&delete, &[k]).await,
            }
            .map_err(|e| pg_err(&e))?;
        }
        tx.commit().await.map_err(|e| pg_err(&e))
    }

    fn kind(&self) -> &'static str {
        "postgresql"
    }
}
