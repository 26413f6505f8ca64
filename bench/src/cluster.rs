//! Several nodes of one server on one PostgreSQL database (or a single node on any storage):
//! started, initialized through the first, unsealed each on its own, and waited for until one
//! is active and the rest standbys. The database objects the nodes created are dropped when
//! the bench is done with them.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use crate::load::Probe;
use crate::server::{Server, ServerOpts};
use crate::suites::Target;
use crate::targets::{Product, Storage};

pub struct Cluster {
    pub nodes: Vec<Server>,
    /// Index of the active node in `nodes`.
    pub active: usize,
    opts: ServerOpts,
}

impl Cluster {
    /// `count` nodes of `opts` (more than one needs PostgreSQL storage with `ha`).
    pub async fn start(opts: &ServerOpts, count: usize) -> Result<Self> {
        if count > 1 && !matches!(opts.storage, Storage::Postgres { ha: true, .. }) {
            bail!("several nodes need PostgreSQL storage in HA mode");
        }
        let mut nodes = Vec::with_capacity(count);
        for i in 0..count.max(1) {
            nodes.push(Server::start_node(opts, i).await?);
        }
        let mut cluster = Cluster {
            nodes,
            active: 0,
            opts: opts.clone(),
        };
        cluster.nodes[0].init().await?;
        let (key, token) = (
            cluster.nodes[0].ctx.unseal_key.clone(),
            cluster.nodes[0].ctx.token.clone(),
        );
        for n in &mut cluster.nodes {
            n.use_keys(&key, &token);
            let st = n.unseal().await?;
            if st["sealed"] != serde_json::json!(false) {
                bail!("still sealed after unseal: {st}");
            }
        }
        cluster.active = cluster.wait_for_roles().await?;
        Ok(cluster)
    }

    /// Waits (30 s at most) until exactly one node answers `sys/health` 200 (active) and every
    /// other one a standby code (429, or 473 for an OpenBao performance standby).
    async fn wait_for_roles(&self) -> Result<usize> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut codes = Vec::with_capacity(self.nodes.len());
            for n in &self.nodes {
                codes.push(n.ctx.call("", "GET", "sys/health", None).await?.0);
            }
            let active: Vec<usize> = (0..codes.len()).filter(|&i| codes[i] == 200).collect();
            let standbys = codes.iter().filter(|&&c| c == 429 || c == 473).count();
            if active.len() == 1 && standbys + 1 == codes.len() {
                return Ok(active[0]);
            }
            if Instant::now() > deadline {
                bail!("no single active node after 30 s: sys/health codes {codes:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn primary(&self) -> &Server {
        &self.nodes[self.active]
    }

    pub fn primary_mut(&mut self) -> &mut Server {
        &mut self.nodes[self.active]
    }

    /// Waits (10 s at most) until every node accepts the load token: a standby learns of a
    /// token created on the active one through the database.
    pub async fn wait_for_token(&self) -> Result<()> {
        let token = self.primary().ctx.load_token.clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        for n in &self.nodes {
            loop {
                match n
                    .ctx
                    .call(&token, "GET", "auth/token/lookup-self", None)
                    .await?
                {
                    (200, _) => break,
                    (s, v) if Instant::now() > deadline => {
                        bail!("{}: lookup-self of the load token → {s} {v}", n.ctx.base)
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        Ok(())
    }

    /// The load on every node, CPU charged to all of them (and PostgreSQL's, if used).
    pub fn target(&self) -> Result<Target<'_>> {
        let pids = self
            .nodes
            .iter()
            .map(Server::pid)
            .collect::<Result<Vec<_>>>()?;
        Ok(Target {
            primary: self.primary(),
            addrs: self.nodes.iter().map(Server::addr).collect(),
            probe: Probe {
                server_pids: pids,
                storage_cpu: matches!(self.opts.storage, Storage::Postgres { .. }),
                server_cpu: self.opts.pinning.server_cpu,
                load_cpu: self.opts.pinning.load_cpu,
            },
        })
    }

    /// Stops every node, then drops what they created in PostgreSQL.
    pub async fn shut_down(mut self) -> Result<()> {
        for n in self.nodes.drain(..) {
            if let Some(p) = n.proc {
                p.stop()?;
            }
        }
        if let Storage::Postgres { url, name, .. } = &self.opts.storage {
            drop_objects(url, self.opts.product, name).await?;
        }
        Ok(())
    }
}

/// Drops coffre's schema `name`, or OpenBao's two tables named after it.
pub async fn drop_objects(url: &str, product: Product, name: &str) -> Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| anyhow!("connect to {url}: {e}"))?;
    let conn = tokio::spawn(conn);
    let sql = match product {
        Product::Coffre => format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"),
        Product::OpenBao => {
            format!("DROP TABLE IF EXISTS \"{name}_kv_store\", \"{name}_ha_locks\"")
        }
    };
    client.batch_execute(&sql).await?;
    drop(client);
    let _ = conn.await;
    Ok(())
}
