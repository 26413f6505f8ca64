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
//! on a synchronous replica, when one is configured). Concurrent batches are written in one
//! transaction each group ([`crate::postgres_group`]); a batch is acknowledged when its group's
//! transaction is committed.
//!
//! **Schema**: coffre creates it and records its version in `coffre_schema`; a database whose
//! schema is newer than this build knows is refused rather than written to. Version 2 adds
//! the tables of several nodes: `coffre_leader` (one row: the leadership term and who holds
//! it) and `coffre_nodes` (each node's address and last heartbeat).
//!
//! **Several nodes** ([`PostgresBackend::start_ha`]): writes are *fenced*. Each write
//! transaction first takes a share lock on the leader row and checks that its term is the one
//! this node was elected with; a node elected after it bumps the term under an exclusive lock,
//! which waits for every write of the old term to end. So every write of a deposed node either
//! commits before the new leader acts or is refused ([`StorageError::Standby`]): no two
//! actives ever write. Each write transaction also announces its keys with `pg_notify`, which
//! PostgreSQL delivers to the other nodes when (and only if) it commits; they drop what they
//! cached of those keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;

/// Statement parameters of mixed types.
type Params<'a> = [&'a (dyn ToSql + Sync)];

use crate::postgres_group::GroupCommitter;
use crate::postgres_sql::Sql;
use crate::postgres_tls::{self, PgTls};
use crate::{Backend, Op, Result, StorageError};

/// The schema version this build writes.
const SCHEMA_VERSION: i32 = 2;

/// Server-side TCP keepalives on every session (sent in the startup packet): a node that
/// vanishes without closing its connections has its sessions, their locks and their open
/// transactions ended within about five seconds instead of the operating system's hours.
const KEEPALIVE_OPTIONS: &str =
    "-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3";

/// The longest `pg_notify` payload sent (PostgreSQL's limit is 8000 bytes).
const NOTIFY_CHUNK: usize = 7000;
/// The payload that means "anything may have changed" (a key too long for one notification).
pub(crate) const NOTIFY_EVERYTHING: &str = "*";

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
    /// TLS to the database (libpq's `sslmode` meanings; default `prefer`).
    pub tls: PgTls,
}

impl PostgresConfig {
    /// A configuration from a libpq URL, with its TLS parameters (`sslmode`, `sslrootcert`,
    /// `sslcert`, `sslkey`) taken out into [`PostgresConfig::tls`]; 16 connections, 10 s to
    /// connect, the connection's default schema.
    pub fn from_url(url: &str) -> Result<PostgresConfig> {
        let (url, params) = postgres_tls::split_tls_params(url)?;
        Ok(PostgresConfig {
            url,
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
            schema: None,
            tls: PgTls::from_params(params)?,
        })
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PostgresConfig")
            .field("pool_size", &self.pool_size)
            .field("schema", &self.schema)
            .field("tls", &self.tls.mode)
            .finish_non_exhaustive()
    }
}

/// The names of coffre's tables, qualified with the configured schema.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    /// `"<schema>".coffre_kv` or `coffre_kv`.
    pub(crate) kv: String,
    pub(crate) version: String,
    pub(crate) leader: String,
    pub(crate) nodes: String,
    /// The notification channel of this deployment (one per schema).
    pub(crate) channel: String,
    /// The advisory lock key of the election (one per schema).
    pub(crate) lock_key: i64,
    /// The request path's statements on these tables.
    pub(crate) sql: Sql,
}

impl Tables {
    fn new(schema: Option<&str>) -> Tables {
        let q = |t: &str| match schema {
            Some(s) => format!("\"{s}\".{t}"),
            None => t.to_string(),
        };
        let lock_key = lock_key(schema.unwrap_or(""));
        let (kv, leader) = (q("coffre_kv"), q("coffre_leader"));
        Tables {
            sql: Sql::new(&kv, &leader),
            kv,
            version: q("coffre_schema"),
            leader,
            nodes: q("coffre_nodes"),
            channel: format!("coffre_{:016x}", lock_key as u64),
            lock_key,
        }
    }
}

/// The lock key of a deployment's election: every node on the same schema competes for it.
fn lock_key(scope: &str) -> i64 {
    // FNV-1a: stable across builds and platforms (the std hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"coffre-leader:".iter().chain(scope.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// The term this node writes under, once several nodes share the database: 0 while it is not
/// the active node (every write refused). Single-node use never enables it.
#[derive(Debug, Default)]
pub(crate) struct Fence {
    enabled: std::sync::atomic::AtomicBool,
    term: AtomicI64,
}

impl Fence {
    pub(crate) fn enable(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }
    fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }
    pub(crate) fn set(&self, term: i64) {
        self.term.store(term, Ordering::SeqCst);
    }
    fn term(&self) -> i64 {
        self.term.load(Ordering::SeqCst)
    }
}

/// The PostgreSQL backend.
pub struct PostgresBackend {
    pool: Pool,
    pub(crate) tables: Tables,
    pub(crate) config: PostgresConfig,
    pub(crate) fence: Arc<Fence>,
    /// The connector of the dedicated sessions (election, change feed).
    pub(crate) tls: tokio_postgres_rustls::MakeRustlsConnect,
    writer: Arc<Writer>,
    /// Where [`Backend::batch`] goes: concurrent batches share transactions.
    group: GroupCommitter,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("table", &self.tables.kv)
            .finish_non_exhaustive()
    }
}

fn db_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Database(format!("PostgreSQL: {e}"))
}

fn unavailable(e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(format!("PostgreSQL: {e}"))
}

/// The driver's message: the server's own text for a database error (never a value: values
/// travel as parameters, which errors do not echo). A lost connection, or the server shutting
/// down or starting up, is [`StorageError::Unavailable`]: it passes.
pub(crate) fn pg_err(e: &tokio_postgres::Error) -> StorageError {
    match e.as_db_error() {
        Some(d) => {
            let code = d.code().code();
            let text = format!("{}: {}", d.severity(), d.message());
            // Class 08: connection exception; 57P01-03: admin shutdown, crash shutdown,
            // cannot connect now.
            if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") {
                unavailable(text)
            } else {
                db_err(text)
            }
        }
        None => unavailable(with_causes(e)),
    }
}

/// The driver's error followed by its causes ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"): its own text often names only the step that failed.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// A pooled connection, or why there is none.
async fn client_of(pool: &Pool) -> Result<deadpool_postgres::Object> {
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(b) => pg_err(&b),
        other => unavailable(format!("no connection: {other}")),
    })
}

/// A libpq configuration with coffre's connection settings.
pub(crate) fn connect_config(
    config: &PostgresConfig,
    application: &str,
) -> Result<tokio_postgres::Config> {
    let mut pg: tokio_postgres::Config = config
        .url
        .parse()
        .map_err(|e: tokio_postgres::Error| db_err(format!("invalid url: {e}")))?;
    pg.connect_timeout(config.connect_timeout);
    pg.ssl_mode(config.tls.mode.ssl_mode());
    // The URL's own name wins: operators tell nodes apart in pg_stat_activity with it.
    if pg.get_application_name().is_none() {
        pg.application_name(application);
    }
    pg.options(KEEPALIVE_OPTIONS);
    pg.keepalives(true);
    pg.keepalives_idle(Duration::from_secs(2));
    pg.keepalives_interval(Duration::from_secs(1));
    pg.keepalives_retries(3);
    Ok(pg)
}

/// The `pg_notify` payloads announcing `keys`: newline-separated, each under
/// [`NOTIFY_CHUNK`] bytes; a key too long for one is announced as "everything".
fn notify_payloads<'k>(keys: impl Iterator<Item = &'k str>) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = String::new();
    for key in keys {
        if key.len() >= NOTIFY_CHUNK || key.contains('\n') {
            return vec![NOTIFY_EVERYTHING.to_string()];
        }
        if !current.is_empty() && current.len() + 1 + key.len() > NOTIFY_CHUNK {
            payloads.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(key);
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
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
        let pg = connect_config(config, "coffre")?;
        let tls = postgres_tls::connector(&config.tls)?;
        let manager = Manager::from_config(
            pg,
            tls.clone(),
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
        if let Some(s) = config.schema.as_deref().filter(|s| !valid_schema(s)) {
            return Err(db_err(format!("invalid schema name {s:?}")));
        }
        let tables = Tables::new(config.schema.as_deref());
        let fence = Arc::new(Fence::default());
        let writer = Arc::new(Writer {
            pool: pool.clone(),
            tables: tables.clone(),
            fence: fence.clone(),
        });
        let committing = writer.clone();
        let group = GroupCommitter::spawn(move |ops| {
            let writer = committing.clone();
            async move { writer.commit(ops).await }
        });
        let backend = PostgresBackend {
            pool,
            tables,
            config: config.clone(),
            fence,
            tls,
            writer,
            group,
        };
        backend.migrate(config.schema.as_deref()).await?;
        Ok(backend)
    }

    /// The advisory lock key of this deployment's election (for operators looking at
    /// `pg_locks`).
    pub fn election_key(&self) -> i64 {
        self.tables.lock_key
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        client_of(&self.pool).await
    }

    /// Creates the tables or brings them to this build's version, refusing a newer schema.
    async fn migrate(&self, schema: Option<&str>) -> Result<()> {
        let schema_table = &self.tables.version;
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
            Some(v) if v == SCHEMA_VERSION => {}
            from => {
                let t = &self.tables;
                let mut steps = Vec::new();
                if from.is_none() {
                    steps.push(format!(
                        "CREATE TABLE IF NOT EXISTS {} (key text COLLATE \"C\" PRIMARY KEY, \
                         value bytea NOT NULL)",
                        t.kv
                    ));
                }
                // Version 2: the tables of several nodes.
                steps.push(format!(
                    "CREATE TABLE IF NOT EXISTS {} (id integer PRIMARY KEY CHECK (id = 1), \
                     term bigint NOT NULL, node_id text NOT NULL, api_addr text NOT NULL, \
                     since timestamptz NOT NULL)",
                    t.leader
                ));
                steps.push(format!(
                    "INSERT INTO {} (id, term, node_id, api_addr, since) \
                     VALUES (1, 0, '', '', now()) ON CONFLICT (id) DO NOTHING",
                    t.leader
                ));
                steps.push(format!(
                    "CREATE TABLE IF NOT EXISTS {} (node_id text PRIMARY KEY, \
                     api_addr text NOT NULL, version text NOT NULL, \
                     last_echo timestamptz NOT NULL)",
                    t.nodes
                ));
                for step in steps {
                    tx.batch_execute(&step).await.map_err(|e| pg_err(&e))?;
                }
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

    /// [`Backend::compare_and_swap`] of a node of several: the same statements, inside a
    /// fenced and announced transaction.
    async fn compare_and_swap_fenced(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_err(&e))?;
        self.writer.fenced(&tx).await?;
        let changed = swap(&tx, &self.tables.sql, key, expected, new)
            .await
            .map_err(|e| pg_err(&e))?;
        if changed {
            self.writer.announce(&tx, std::iter::once(key)).await?;
        }
        tx.commit().await.map_err(|e| pg_err(&e))?;
        Ok(changed)
    }

    /// Keys starting with `prefix`, in order, at most `limit`.
    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let client = self.client().await?;
        let scan = client
            .prepare_cached(&self.tables.sql.scan)
            .await
            .map_err(|e| pg_err(&e))?;
        let rows = client
            .query(&scan, &[&prefix])
            .await
            .map_err(|e| pg_err(&e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

/// What write transactions need, shared by the backend and its group committer.
pub(crate) struct Writer {
    pool: Pool,
    tables: Tables,
    fence: Arc<Fence>,
}

impl Writer {
    /// Inside a write transaction of a node of several: holds the leader row in share mode
    /// and checks this node's term is current. Refused ([`StorageError::Standby`]) when it is
    /// not, and nothing is written.
    async fn fenced(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
        let term = self.fence.term();
        if term == 0 {
            return Err(StorageError::Standby);
        }
        let current = tx
            .prepare_cached(&self.tables.sql.fence)
            .await
            .map_err(|e| pg_err(&e))?;
        if tx
            .query_opt(&current, &[&term])
            .await
            .map_err(|e| pg_err(&e))?
            .is_none()
        {
            return Err(StorageError::Standby);
        }
        Ok(())
    }

    /// Inside a write transaction of a node of several: tells the other nodes which keys it
    /// changes (delivered when the transaction commits, never if it does not).
    async fn announce<'k>(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        keys: impl Iterator<Item = &'k str>,
    ) -> Result<()> {
        let notify = tx
            .prepare_cached(&self.tables.sql.notify)
            .await
            .map_err(|e| pg_err(&e))?;
        for payload in notify_payloads(keys) {
            tx.execute(&notify, &[&self.tables.channel, &payload])
                .await
                .map_err(|e| pg_err(&e))?;
        }
        Ok(())
    }

    /// One group's operations in one transaction (fenced and announced on a node of
    /// several).
    async fn commit(&self, ops: Vec<Op>) -> Result<()> {
        let mut client = client_of(&self.pool).await?;
        let tx = client.transaction().await.map_err(|e| pg_err(&e))?;
        let several = self.fence.enabled();
        if several {
            self.fenced(&tx).await?;
        }
        let put = tx
            .prepare_cached(&self.tables.sql.put)
            .await
            .map_err(|e| pg_err(&e))?;
        let delete = tx
            .prepare_cached(&self.tables.sql.delete)
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
        if several {
            self.announce(&tx, ops.iter().map(Op::key)).await?;
        }
        tx.commit().await.map_err(|e| pg_err(&e))
    }
}

/// Compare-and-swap of `key` as one statement, on a connection or in a transaction: whether
/// it applied.
async fn swap(
    db: &impl deadpool_postgres::GenericClient,
    sql: &Sql,
    key: &str,
    expected: Option<&[u8]>,
    new: Option<Vec<u8>>,
) -> Result<bool, tokio_postgres::Error> {
    match (expected, new) {
        (None, Some(v)) => {
            let st = db.prepare_cached(&sql.insert_new).await?;
            let params: &Params<'_> = &[&key, &v];
            db.execute(&st, params).await.map(|n| n == 1)
        }
        (None, None) => {
            let st = db.prepare_cached(&sql.exists).await?;
            db.query_opt(&st, &[&key]).await.map(|row| row.is_none())
        }
        (Some(e), Some(v)) => {
            let st = db.prepare_cached(&sql.update_if).await?;
            let params: &Params<'_> = &[&key, &e, &v];
            db.execute(&st, params).await.map(|n| n == 1)
        }
        (Some(e), None) => {
            let st = db.prepare_cached(&sql.delete_if).await?;
            let params: &Params<'_> = &[&key, &e];
            db.execute(&st, params).await.map(|n| n == 1)
        }
    }
}

#[async_trait::async_trait]
impl Backend for PostgresBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let get = client
            .prepare_cached(&self.tables.sql.get)
            .await
            .map_err(|e| pg_err(&e))?;
        let row = client
            .query_opt(&get, &[&key])
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
        let client = self.client().await?;
        let list = client
            .prepare_cached(&self.tables.sql.list)
            .await
            .map_err(|e| pg_err(&e))?;
        let rows = client
            .query(&list, &[&prefix])
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
        let range = client
            .prepare_cached(&self.tables.sql.scan_range)
            .await
            .map_err(|e| pg_err(&e))?;
        let params: &Params<'_> = &[&start, &end, &limit];
        let rows = client.query(&range, params).await.map_err(|e| pg_err(&e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool> {
        if self.fence.enabled() {
            return self.compare_and_swap_fenced(key, expected, new).await;
        }
        let client = self.client().await?;
        // Each case is one statement: atomic without a transaction of our own.
        swap(&client, &self.tables.sql, key, expected, new)
            .await
            .map_err(|e| pg_err(&e))
    }

    async fn batch(&self, ops: Vec<Op>) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.group.commit(ops).await
    }

    fn kind(&self) -> &'static str {
        "postgresql"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_carry_every_key_in_chunks_under_the_limit() {
        let keys: Vec<String> = (0..2000).map(|i| format!("logical/u/key-{i:05}")).collect();
        let payloads = notify_payloads(keys.iter().map(String::as_str));
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= NOTIFY_CHUNK));
        let back: Vec<&str> = payloads.iter().flat_map(|p| p.split('\n')).collect();
        assert_eq!(back, keys.iter().map(String::as_str).collect::<Vec<_>>());
        let long = "k".repeat(NOTIFY_CHUNK);
        assert_eq!(
            notify_payloads(["a", long.as_str()].into_iter()),
            vec![NOTIFY_EVERYTHING.to_string()]
        );
        assert!(notify_payloads(std::iter::empty()).is_empty());
    }

    #[test]
    fn each_schema_has_its_own_lock_and_channel() {
        let (a, b) = (Tables::new(Some("one")), Tables::new(Some("two")));
        assert_ne!(a.lock_key, b.lock_key);
        assert_ne!(a.channel, b.channel);
        assert_eq!(a.channel.len(), "coffre_".len() + 16);
        assert_eq!(Tables::new(None).kv, "coffre_kv");
        assert_eq!(a.leader, "\"one\".coffre_leader");
    }
}
