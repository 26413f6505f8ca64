//! Several coffre nodes on one PostgreSQL database ([`PostgresBackend::start_ha`]): the
//! election of the active node, the term that fences its writes, membership heartbeats, and
//! the feed of changed keys that keeps the standbys' caches true.
//!
//! **The election** is a session-level advisory lock held on a dedicated connection (pooled
//! connections would lend the lock to whoever borrows them next). Why a lock and not a lease
//! row: PostgreSQL releases the lock the moment the holder's session ends, and no other session
//! can take it while it lives, so two holders are impossible by construction; a lease row
//! needs clocks for the same guarantee. The winner then bumps the term in `coffre_leader`
//! (waiting for every write of the previous term to end, see the fencing in
//! [`crate::postgres`]) and only then writes.
//!
//! **Stepping down**: the holder checks its session every [`CHECK_INTERVAL`] (its heartbeat is
//! the check) with a bounded query, and steps down on any failure, *before* the database can
//! hand the lock on: its own query cannot reach the server either, and the server only frees
//! the lock once its keepalives (about five seconds) give the session up.
//!
//! **The change feed**: a second dedicated connection `LISTEN`s on the deployment's channel.
//! PostgreSQL delivers every notification of a committed transaction to a listening session;
//! what a node can miss is only what was committed while it was not listening, so each
//! (re)connection is reported as [`Change::Everything`].

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;

use crate::Result;
use crate::postgres::{NOTIFY_EVERYTHING, PostgresBackend, connect_config, pg_err};

/// How often the holder checks its session, a waiting node tries for the lock, and every node
/// heartbeats and reads who leads.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// How long a check may take before the holder steps down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the new leader waits for the previous term's writes to end (a partitioned old
/// leader's transactions end when the database's keepalives give its sessions up).
const TERM_BUMP_TIMEOUT: Duration = Duration::from_secs(15);
/// A node is listed as a member while its last heartbeat is this recent.
const MEMBER_WINDOW_SECS: i64 = 30;

/// Who this node is to the others.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// A name unique in the deployment.
    pub node_id: String,
    /// The address the other nodes (and clients sent on by a standby) reach its API at.
    pub api_addr: String,
    /// The coffre version it runs.
    pub version: String,
}

/// Who holds the leadership, as the `coffre_leader` row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInfo {
    /// The active node's id (empty before any node has led).
    pub node_id: String,
    /// Its API address.
    pub api_addr: String,
    /// The leadership term (each election adds one).
    pub term: i64,
    /// When it became active (Unix seconds).
    pub since_unix: i64,
}

/// One node seen recently.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its id.
    pub node_id: String,
    /// Its API address.
    pub api_addr: String,
    /// Its version.
    pub version: String,
    /// Its last heartbeat (Unix seconds).
    pub last_echo_unix: i64,
}

/// What the change feed reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// These storage keys were written or deleted by a committed transaction.
    Keys(Vec<String>),
    /// Anything may have changed (the feed reconnected, or a change was too large to name).
    Everything,
}

/// One node's part in a deployment of several. Dropping it steps down and leaves.
pub struct Ha {
    node: NodeInfo,
    role: watch::Receiver<bool>,
    /// Whether this node may lead (a sealed node may not: it could serve nothing).
    eligible: watch::Sender<bool>,
    leader: Arc<ArcSwapOption<LeaderInfo>>,
    backend: Arc<PostgresBackend>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Ha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ha")
            .field("node_id", &self.node.node_id)
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Joins the deployment as `node`: from now on writes go through only while this node is
    /// the active one. Returns the node's handle and the feed of keys the others change.
    /// Needs a Tokio runtime.
    pub fn start_ha(self: &Arc<Self>, node: NodeInfo) -> (Ha, mpsc::UnboundedReceiver<Change>) {
        self.fence.enable();
        let (role_tx, role) = watch::channel(false);
        let (eligible, eligible_rx) = watch::channel(true);
        let leader = Arc::new(ArcSwapOption::empty());
        let (changes_tx, changes) = mpsc::unbounded_channel();
        let elect = {
            let (backend, node, leader) = (self.clone(), node.clone(), leader.clone());
            tokio::spawn(async move {
                loop {
                    if let Err(e) = hold(&backend, &node, &role_tx, &leader, &eligible_rx).await {
                        tracing::warn!(error = %e, "leadership session lost; retrying");
                    }
                    step_down(&backend, &role_tx);
                    tokio::time::sleep(CHECK_INTERVAL).await;
                }
            })
        };
        let feed = {
            let backend = self.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = listen(&backend, &changes_tx).await {
                        tracing::warn!(error = %e, "change feed lost; reconnecting");
                    }
                    if changes_tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(CHECK_INTERVAL).await;
                }
            })
        };
        let ha = Ha {
            node,
            role,
            eligible,
            leader,
            backend: self.clone(),
            tasks: vec![elect, feed],
        };
        (ha, changes)
    }
}

impl Ha {
    /// Whether this node is the active one now (holds the lock, and writes under its term).
    pub fn is_active(&self) -> bool {
        *self.role.borrow()
    }

    /// Whether this node may lead: one that may not never takes the lock, and gives it up if
    /// it holds it and stays ineligible for two checks in a row (0.5 to 1 s). A sealed node
    /// is not eligible.
    pub fn set_eligible(&self, eligible: bool) {
        self.eligible
            .send_if_modified(|e| std::mem::replace(e, eligible) != eligible);
    }

    /// Changes of [`Ha::is_active`], as they happen.
    pub fn watch_role(&self) -> watch::Receiver<bool> {
        self.role.clone()
    }

    /// Who leads, as last read (every [`CHECK_INTERVAL`]); `None` before the first read.
    pub fn leader(&self) -> Option<Arc<LeaderInfo>> {
        self.leader.load_full()
    }

    /// This node.
    pub fn node(&self) -> &NodeInfo {
        &self.node
    }

    /// The nodes that sent a heartbeat in the last 30 seconds, by id.
    pub async fn members(&self) -> Result<Vec<Member>> {
        let client = self.backend.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT node_id, api_addr, version, \
                       extract(epoch FROM last_echo)::bigint FROM {} \
                     WHERE last_echo > now() - make_interval(secs => $1) ORDER BY node_id",
                    self.backend.tables.nodes
                ),
                &[&(MEMBER_WINDOW_SECS as f64)],
            )
            .await
            .map_err(|e| pg_err(&e))?;
        Ok(rows
            .iter()
            .map(|r| Member {
                node_id: r.get(0),
                api_addr: r.get(1),
                version: r.get(2),
                last_echo_unix: r.get(3),
            })
            .collect())
    }
}

impl Drop for Ha {
    fn drop(&mut self) {
        self.backend.fence.set(0);
        // Aborting drops the connections: the sessions end and the server frees the lock.
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Stops writing first, then says so.
fn step_down(backend: &PostgresBackend, role: &watch::Sender<bool>) {
    backend.fence.set(0);
    if role.send_replace(false) {
        tracing::warn!("this node is no longer the active node");
    }
}

async fn bounded<T>(
    limit: Duration,
    what: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, what).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(pg_err(&e).to_string()),
        Err(_) => Err("the database did not answer in time".to_string()),
    }
}

/// A dedicated connection's two halves.
type Session = (
    tokio_postgres::Client,
    tokio_postgres::Connection<
        tokio_postgres::Socket,
        <tokio_postgres_rustls::MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<
            tokio_postgres::Socket,
        >>::Stream,
    >,
);

async fn connect(backend: &PostgresBackend, application: &str) -> Result<Session, String> {
    let config = connect_config(&backend.config, application).map_err(|e| e.to_string())?;
    bounded(CHECK_TIMEOUT, config.connect(backend.tls.clone())).await
}

/// One session of the election: heartbeat, try for the lock until it is held (then bump the
/// term and start writing), read who leads; every [`CHECK_INTERVAL`] until a query fails.
async fn hold(
    backend: &PostgresBackend,
    node: &NodeInfo,
    role: &watch::Sender<bool>,
    leader: &ArcSwapOption<LeaderInfo>,
    eligible: &watch::Receiver<bool>,
) -> Result<(), String> {
    let (client, connection) = connect(backend, "coffre-leader").await?;
    let connection = tokio::spawn(connection);
    let t = &backend.tables;
    let result = async {
        let heartbeat = bounded(
            CHECK_TIMEOUT,
            client.prepare(&format!(
                "INSERT INTO {} (node_id, api_addr, version, last_echo) \
                 VALUES ($1, $2, $3, now()) ON CONFLICT (node_id) DO UPDATE \
                 SET api_addr = EXCLUDED.api_addr, version = EXCLUDED.version, last_echo = now()",
                t.nodes
            )),
        )
        .await?;
        let read_leader = bounded(
            CHECK_TIMEOUT,
            client.prepare(&format!(
                "SELECT term, node_id, api_addr, extract(epoch FROM since)::bigint FROM {} \
                 WHERE id = 1",
                t.leader
            )),
        )
        .await?;
        let mut term = 0i64;
        // Checks in a row at which this node, leading, was not eligible: it gives the lead up
        // at the second, so a node sealed for a moment (between `sys/init` and its unseal)
        // does not hand the leadership on for nothing.
        let mut strikes = 0;
        loop {
            bounded(
                CHECK_TIMEOUT,
                client.execute(&heartbeat, &[&node.node_id, &node.api_addr, &node.version]),
            )
            .await?;
            let may_lead = *eligible.borrow();
            strikes = if term != 0 && !may_lead {
                strikes + 1
            } else {
                0
            };
            if strikes >= 2 {
                // Ending the session frees the lock for a node that can serve.
                return Err("this node may not lead now (sealed): giving the leadership up".into());
            }
            if term == 0 && may_lead {
                let got: bool = bounded(
                    CHECK_TIMEOUT,
                    client.query_one("SELECT pg_try_advisory_lock($1)", &[&t.lock_key]),
                )
                .await?
                .get(0);
                if got {
                    // Waits for every write of the previous term to end: from its commit on,
                    // a deposed leader's writes are refused.
                    let row = bounded(
                        TERM_BUMP_TIMEOUT,
                        client.query_one(
                            &format!(
                                "UPDATE {} SET term = term + 1, node_id = $1, api_addr = $2, \
                                 since = now() WHERE id = 1 RETURNING term",
                                t.leader
                            ),
                            &[&node.node_id, &node.api_addr],
                        ),
                    )
                    .await?;
                    term = row.get(0);
                    backend.fence.set(term);
                    role.send_replace(true);
                    tracing::info!(term, "this node is the active node");
                }
            }
            let row = bounded(CHECK_TIMEOUT, client.query_one(&read_leader, &[])).await?;
            let current = LeaderInfo {
                term: row.get(0),
                node_id: row.get(1),
                api_addr: row.get(2),
                since_unix: row.get(3),
            };
            if term != 0 && current.term != term {
                return Err(format!(
                    "the leadership moved to term {} while this node held term {term}",
                    current.term
                ));
            }
            if leader.load().as_deref() != Some(&current) {
                leader.store(Some(Arc::new(current)));
            }
            tokio::time::sleep(CHECK_INTERVAL).await;
        }
    }
    .await;
    // Step down before anything else can happen; dropping the client ends the session (if the
    // server still sees it).
    step_down(backend, role);
    drop(client);
    connection.abort();
    result
}

/// One session of the change feed: `LISTEN`, report [`Change::Everything`] (what was
/// committed before was not announced to this session), then every notification.
async fn listen(
    backend: &PostgresBackend,
    changes: &mpsc::UnboundedSender<Change>,
) -> Result<(), String> {
    let (client, mut connection) = connect(backend, "coffre-changes").await?;
    let (payloads_tx, mut payloads) = mpsc::unbounded_channel::<String>();
    let connection = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message
                && payloads_tx.send(n.payload().to_string()).is_err()
            {
                return;
            }
        }
    });
    let result = async {
        let channel = &backend.tables.channel;
        bounded(
            CHECK_TIMEOUT,
            client.batch_execute(&format!("LISTEN {channel}")),
        )
        .await?;
        if changes.send(Change::Everything).is_err() {
            return Ok(());
        }
        loop {
            tokio::select! {
                payload = payloads.recv() => {
                    let Some(payload) = payload else {
                        return Err("the connection closed".to_string());
                    };
                    let change = if payload == NOTIFY_EVERYTHING {
                        Change::Everything
                    } else {
                        Change::Keys(payload.split('\n').map(str::to_string).collect())
                    };
                    if changes.send(change).is_err() {
                        return Ok(());
                    }
                }
                () = tokio::time::sleep(CHECK_INTERVAL) => {
                    bounded(CHECK_TIMEOUT, client.simple_query("SELECT 1")).await?;
                }
            }
        }
    }
    .await;
    drop(client);
    connection.abort();
    result
}
