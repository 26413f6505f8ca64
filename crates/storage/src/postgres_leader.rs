//! Leadership among coffre nodes sharing one PostgreSQL database: a session-level advisory
//! lock held on a dedicated connection (pooled connections would lend the lock to whoever
//! borrows them next).
//!
//! Why an advisory lock and not a lease row: PostgreSQL releases the lock the moment the
//! holder's session ends, and no other session can take it while it lives, so two holders are
//! impossible by construction; a lease row needs clocks and fencing tokens for the same
//! guarantee. What remains is the holder *knowing* it lost the lock: the holder checks its
//! session every [`CHECK_INTERVAL`] with a bounded query and steps down on any failure, and the
//! session asks the server to probe the connection with TCP keepalives, so a holder cut off
//! from the database loses the lock within seconds instead of the operating system's hours.
//! A node that steps down stops being leader *before* the server can hand the lock on (its
//! check fails first: its own query cannot reach the server either).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;

/// How often the holder checks its session, and a waiting node tries for the lock.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// How long a check may take before the holder steps down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// One node's part in the election. Dropping it releases the lock (its session ends).
pub struct Leadership {
    leader: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("leader", &self.is_leader())
            .finish()
    }
}

/// The lock key of an election: every node of one deployment (same `scope`, e.g. the schema)
/// competes for the same key.
pub fn lock_key(scope: &str) -> i64 {
    // FNV-1a: stable across builds and platforms (the std hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"coffre-leader:".iter().chain(scope.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

impl Leadership {
    /// Starts competing for leadership of `key` through the database at `url`.
    pub fn start(url: &str, key: i64) -> Leadership {
        let leader = Arc::new(AtomicBool::new(false));
        let flag = leader.clone();
        let url = url.to_string();
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = hold(&url, key, &flag).await {
                    tracing::warn!(error = %e, "leadership session lost; retrying");
                }
                flag.store(false, Ordering::SeqCst);
                tokio::time::sleep(CHECK_INTERVAL).await;
            }
        });
        Leadership { leader, task }
    }

    /// Whether this node holds the lock now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.leader.store(false, Ordering::SeqCst);
        // Aborting drops the connection: the session ends and the server frees the lock.
        self.task.abort();
    }
}

/// One session: connect, ask for keepalives, try for the lock until it is held, then check the
/// session until it fails. Returns (with the flag to be cleared) when the session is gone.
async fn hold(url: &str, key: i64, leader: &AtomicBool) -> Result<(), String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    config.connect_timeout(CHECK_TIMEOUT);
    config.application_name("coffre-leader");
    let (client, connection) = config.connect(NoTls).await.map_err(|e| format!("{e}"))?;
    let connection = tokio::spawn(connection);
    let result = async {
        client
            .batch_execute(
                "SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; \
                 SET tcp_keepalives_count = 3",
            )
            .await
            .map_err(|e| format!("{e}"))?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&key];
        loop {
            let ask = if leader.load(Ordering::SeqCst) {
                // Held: the session is what holds it; check the session is alive.
                client.query_one("SELECT true", &[])
            } else {
                client.query_one("SELECT pg_try_advisory_lock($1)", &params)
            };
            let held: bool = match tokio::time::timeout(CHECK_TIMEOUT, ask).await {
                Ok(Ok(row)) => row.get(0),
                Ok(Err(e)) => return Err(format!("{e}")),
                Err(_) => return Err("the database did not answer in time".to_string()),
            };
            if held && !leader.swap(true, Ordering::SeqCst) {
                tracing::info!("this node holds the leadership");
            }
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    }
    .await;
    // Step down before anything else can happen: the caller clears the flag, and dropping
    // the client ends the session (if the server still sees it).
    leader.store(false, Ordering::SeqCst);
    drop(client);
    connection.abort();
    result
}
