//! One node of several on one PostgreSQL database: the storage's election drives the core's
//! role, its change feed keeps the core's caches true, and the requests a standby does not
//! serve go on to the active node (forwarded, or redirected when configured).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response as HttpResponse;
use coffre_core::{Core, NodeDirectory, NodeStatus};
use coffre_storage::{Change, Ha};

use crate::config::HaSettings;
use crate::http::HttpInput;
use crate::reply;

/// Set on a request a standby forwards: the node that receives it never forwards it again
/// (two nodes that each think the other active would otherwise pass it back and forth).
const FORWARDED_BY: &str = "x-coffre-forwarded-by";
/// How long a forwarded request may take (a database statement is bounded at 60 s).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(90);
/// Pause before retrying a role change or a change that failed to apply (storage down).
const RETRY: Duration = Duration::from_millis(500);

/// Request headers not passed on: they describe the hop, not the request.
const HOP_HEADERS: &[HeaderName] = &[
    header::HOST,
    header::CONNECTION,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// This node's part in the deployment.
pub struct Cluster {
    ha: Ha,
    redirect_writes: bool,
    client: reqwest::Client,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("ha", &self.ha).finish()
    }
}

impl Cluster {
    /// The node `ha` is, configured by `settings`.
    pub fn new(ha: Ha, settings: &HaSettings) -> anyhow::Result<Cluster> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Cluster {
            ha,
            redirect_writes: settings.redirect_writes,
            client,
        })
    }

    /// The storage's view of the deployment.
    pub(crate) fn ha(&self) -> &Ha {
        &self.ha
    }

    /// Makes `core` follow the election and the change feed, in the background, for as long
    /// as the runtime runs.
    pub fn drive(
        self: &Arc<Self>,
        core: Arc<Core>,
        feed: tokio::sync::mpsc::UnboundedReceiver<Change>,
    ) {
        tokio::spawn(follow_role(self.ha.watch_role(), core.clone()));
        tokio::spawn(follow_seal(self.clone(), core.clone()));
        tokio::spawn(follow_changes(feed, core));
    }

    /// Sends a request this standby does not serve to the active node, and its answer back.
    pub(crate) async fn send_on(
        &self,
        input: &HttpInput,
        client: Option<std::net::IpAddr>,
    ) -> HttpResponse {
        if input.headers.contains_key(FORWARDED_BY) {
            return unavailable(
                "this node is not the active node (the request was forwarded to it)",
            );
        }
        let me = &self.ha.node().node_id;
        let Some(leader) = self
            .ha
            .leader()
            .filter(|l| !l.api_addr.is_empty() && &l.node_id != me)
        else {
            return unavailable("this node is a standby and no active node is known yet");
        };
        let url = format!("{}{}", leader.api_addr, input.uri_path_and_query());
        if self.redirect_writes {
            let mut resp = reply::errors(StatusCode::TEMPORARY_REDIRECT, &[]);
            if let Ok(v) = HeaderValue::from_str(&url) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            return resp;
        }
        let mut req = self
            .client
            .request(input.method.clone(), &url)
            .body(input.body.clone());
        for (name, value) in &input.headers {
            if !HOP_HEADERS.contains(name) && name.as_str() != "x-forwarded-for" {
                req = req.header(name, value);
            }
        }
        // The active node believes this only if told to trust this node as a proxy
        // (`x_forwarded_for_authorized_addrs`); otherwise it records this node's address.
        let mut hops: Vec<String> = input
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        if let Some(ip) = client {
            hops.push(ip.to_string());
        }
        if !hops.is_empty() {
            req = req.header("x-forwarded-for", hops.join(", "));
        }
        req = req.header(FORWARDED_BY, me.as_str());
        let answer = match req.send().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, active = %leader.api_addr, "forwarding to the active node failed");
                return unavailable(&format!(
                    "this node is a standby and the active node ({}) cannot be reached",
                    leader.api_addr
                ));
            }
        };
        let status = answer.status();
        let headers = answer.headers().clone();
        let body = match answer.bytes().await {
            Ok(b) => b,
            Err(_) => {
                return unavailable("the active node's answer was cut off");
            }
        };
        let mut resp = HttpResponse::new(Body::from(body));
        *resp.status_mut() = status;
        for (name, value) in &headers {
            if !HOP_HEADERS.contains(name) {
                resp.headers_mut().append(name, value.clone());
            }
        }
        resp
    }
}

fn unavailable(message: &str) -> HttpResponse {
    reply::errors(StatusCode::SERVICE_UNAVAILABLE, &[message.to_string()])
}

#[async_trait::async_trait]
impl NodeDirectory for Cluster {
    async fn nodes(&self) -> coffre_core::Result<Vec<NodeStatus>> {
        let leader = self.ha.leader();
        let members = self.ha.members().await?;
        Ok(members
            .into_iter()
            .map(|m| NodeStatus {
                active: leader.as_ref().is_some_and(|l| l.node_id == m.node_id),
                node_id: m.node_id,
                api_address: m.api_addr,
                last_echo_unix: m.last_echo_unix,
                version: m.version,
            })
            .collect())
    }
}

/// The core's role follows the election: active when the storage says this node leads (and
/// its fence lets it write), a standby otherwise. A promotion that cannot read the storage
/// yet is retried while the node still leads.
async fn follow_role(mut role: tokio::sync::watch::Receiver<bool>, core: Arc<Core>) {
    loop {
        let want = *role.borrow_and_update();
        while core.is_active() != want {
            match core.set_active(want).await {
                Ok(()) => {
                    tracing::info!(active = want, "role changed");
                }
                Err(e) if want => {
                    tracing::warn!(error = %e, "could not become active; retrying");
                    tokio::time::sleep(RETRY).await;
                    if !*role.borrow() {
                        break;
                    }
                }
                Err(e) => {
                    // Stepped down, but the state the next active node writes could not be
                    // read again (the storage is down): read it until it can be, as long as
                    // this node stays a standby.
                    tracing::warn!(error = %e, "stepped down; reloading the state failed, retrying");
                    while !*role.borrow() {
                        tokio::time::sleep(RETRY).await;
                        match core.reload().await {
                            Ok(()) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "reloading the state failed; retrying")
                            }
                        }
                    }
                }
            }
        }
        if role.changed().await.is_err() {
            return;
        }
    }
}

/// How often the seal state is looked at for the election.
const SEAL_CHECK: Duration = Duration::from_millis(100);

/// A sealed node serves nothing, so it may not lead: it stands aside (giving the lock up if
/// it holds it) until it is unsealed. An uninitialized deployment may be led, so that
/// `sys/init` has a node to reach.
async fn follow_seal(cluster: Arc<Cluster>, core: Arc<Core>) {
    loop {
        let eligible = !core.is_sealed() || !core.is_initialized().await.unwrap_or(true);
        cluster.ha.set_eligible(eligible);
        tokio::time::sleep(SEAL_CHECK).await;
    }
}

/// The core takes in the feed's changes, those that arrived together as one; one that fails
/// (the storage is down) is retried as "everything" until it applies.
async fn follow_changes(mut feed: tokio::sync::mpsc::UnboundedReceiver<Change>, core: Arc<Core>) {
    while let Some(first) = feed.recv().await {
        let mut change = first;
        while let Ok(next) = feed.try_recv() {
            change = merge(change, next);
        }
        while let Err(e) = core.apply_change(&change).await {
            tracing::warn!(error = %e, "could not take in another node's changes; retrying");
            tokio::time::sleep(RETRY).await;
            change = Change::Everything;
        }
    }
}

fn merge(a: Change, b: Change) -> Change {
    match (a, b) {
        (Change::Keys(mut a), Change::Keys(b)) => {
            a.extend(b);
            Change::Keys(a)
        }
        _ => Change::Everything,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_that_arrive_together_merge() {
        let k = |s: &[&str]| Change::Keys(s.iter().map(|s| s.to_string()).collect());
        assert_eq!(merge(k(&["a"]), k(&["b"])), k(&["a", "b"]));
        assert_eq!(merge(k(&["a"]), Change::Everything), Change::Everything);
        assert_eq!(merge(Change::Everything, k(&["b"])), Change::Everything);
    }
}
