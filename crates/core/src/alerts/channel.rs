//! Notification channels and their delivery: each channel has its own queue and task, so a
//! slow or dead receiver delays only its own notifications, never the rules or a request.
//!
//! - `webhook`: `POST` of the alert as JSON, signed: `X-Coffre-Timestamp` (Unix seconds) and
//!   `X-Coffre-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//! - `slack`: `POST` to a Slack-compatible incoming webhook, in Slack's blocks format.
//! - `syslog`: one RFC 5424 message per alert over UDP or TCP.
//!
//! A delivery that fails (no answer, a non-2xx status) is retried with exponential backoff
//! (`retries` times, from `backoff`); when every attempt failed, the alert becomes a dead
//! letter ([`super::Alerting::dead_letters`]).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use zeroize::Zeroize;

use super::{Alert, DeadLetters};
use crate::error::{Error, Result};
use crate::fields;

/// Alerts a channel may have waiting before new ones become dead letters.
const QUEUE: usize = 1_024;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Where a channel delivers.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Target {
    /// A generic webhook, signed with the channel's secret.
    Webhook {
        /// `http://` or `https://` URL.
        url: String,
    },
    /// A Slack-compatible incoming webhook.
    Slack {
        /// The webhook's URL.
        url: String,
    },
    /// A syslog collector.
    Syslog {
        /// `host:port`.
        address: String,
        /// `udp` or `tcp`.
        protocol: String,
        /// RFC 5424 facility number (default 13, log audit).
        facility: u8,
    },
}

/// A channel as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Its name, unique in its namespace.
    pub name: String,
    /// Where it delivers.
    pub target: Target,
    /// The webhook's signing secret (empty: unsigned). Never shown.
    #[serde(default)]
    pub secret: String,
    /// Attempts after the first.
    pub retries: u32,
    /// The first wait between attempts, in milliseconds (doubled each time).
    pub backoff_ms: u64,
    /// How long one attempt may take, in milliseconds.
    pub timeout_ms: u64,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

fn millis(data: &Map<String, Value>, key: &str, default: u64) -> Result<u64> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(default),
        // Durations as Vault writes them ("250ms", "2s") or a number of seconds.
        Some(Value::String(s)) if s.ends_with("ms") => s
            .trim_end_matches("ms")
            .trim()
            .parse::<u64>()
            .map_err(|_| Error::invalid(format!("{key:?} is not a duration"))),
        Some(_) => fields::opt_duration_secs(data, key)
            .map(|s| s.unwrap_or(0).saturating_mul(1000))
            .map_err(|_| Error::invalid(format!("{key:?} is not a duration"))),
    }
}

impl Channel {
    /// A channel from the API's fields (`sys/alerts/channels/:name`).
    pub fn from_api(name: &str, data: &Map<String, Value>) -> Result<Channel> {
        super::rule::check_name(name)?;
        let url = || -> Result<String> {
            let url = fields::opt_str(data, "url")?.unwrap_or("");
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::invalid("\"url\" must be an http:// or https:// URL"));
            }
            Ok(url.to_string())
        };
        let target = match fields::opt_str(data, "type")?.unwrap_or("") {
            "webhook" => Target::Webhook { url: url()? },
            "slack" => Target::Slack { url: url()? },
            "syslog" => {
                let address = fields::opt_str(data, "address")?.unwrap_or("").to_string();
                if address.parse::<std::net::SocketAddr>().is_err() && !address.contains(':') {
                    return Err(Error::invalid("\"address\" must be host:port"));
                }
                let protocol = fields::opt_str(data, "protocol")?
                    .unwrap_or("udp")
                    .to_string();
                if !matches!(protocol.as_str(), "udp" | "tcp") {
                    return Err(Error::invalid("\"protocol\" must be udp or tcp"));
                }
                let facility = fields::opt_i64(data, "facility")?.unwrap_or(13);
                let facility = u8::try_from(facility)
                    .ok()
                    .filter(|f| *f <= 23)
                    .ok_or_else(|| Error::invalid("\"facility\" must be 0 to 23"))?;
                Target::Syslog {
                    address,
                    protocol,
                    facility,
                }
            }
            other => {
                return Err(Error::invalid(format!(
                    "channel type {other:?} unknown: use webhook, slack or syslog"
                )));
            }
        };
        let retries = fields::opt_i64(data, "retries")?.unwrap_or(5);
        Ok(Channel {
            name: name.to_string(),
            target,
            secret: fields::opt_str(data, "secret")?.unwrap_or("").to_string(),
            retries: u32::try_from(retries)
                .ok()
                .filter(|r| *r <= 20)
                .ok_or_else(|| Error::invalid("\"retries\" must be 0 to 20"))?,
            backoff_ms: millis(data, "backoff", 1_000)?.max(1),
            timeout_ms: millis(data, "timeout", 10_000)?.max(1),
        })
    }

    /// The API form (the secret only as whether there is one; a Slack URL, which is its
    /// credential, only up to its host).
    pub fn to_api(&self) -> Map<String, Value> {
        let mut d = match serde_json::to_value(&self.target) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if let Target::Slack { url } = &self.target {
            d.insert("url".into(), json!(redacted_url(url)));
        }
        d.insert("name".into(), json!(self.name));
        d.insert("signed".into(), json!(!self.secret.is_empty()));
        d.insert("retries".into(), json!(self.retries));
        d.insert("backoff".into(), json!(format!("{}ms", self.backoff_ms)));
        d.insert("timeout".into(), json!(format!("{}ms", self.timeout_ms)));
        d
    }
}

/// `scheme://host/…`: a URL without the path and query that may carry a credential.
fn redacted_url(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => format!("{}/…", &url[..after_scheme + i]),
        None => url.to_string(),
    }
}

/// The signature of a webhook body: hex HMAC-SHA256 over `"<timestamp>.<body>"`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut signed = Vec::with_capacity(body.len() + 21);
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    format!(
        "sha256={}",
        hex::encode(coffre_crypto::hmac_sha256(secret, &signed))
    )
}

/// Slack's blocks format of an alert.
fn slack_body(alert: &Alert) -> Value {
    let title = format!("[{}] {}", alert.severity.to_uppercase(), alert.rule);
    let mut lines = vec![alert.description.clone()];
    let e = &alert.event;
    lines.push(format!(
        "*Event:* `{}` {} ({})",
        e.event_type, e.path, e.outcome
    ));
    if let Some(who) = &e.identity {
        lines.push(format!("*Who:* `{who}`"));
    }
    lines.push(format!(
        "*Count:* {} within {}s",
        alert.count, alert.window_seconds
    ));
    json!({
        "text": format!("{title}: {}", alert.description),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
                "coffre · namespace `{}` · {}", alert.namespace_label(), alert.fired_at)}]},
        ],
    })
}

/// One RFC 5424 line: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`.
fn syslog_line(alert: &Alert, facility: u8, body: &str) -> String {
    let severity = match alert.severity {
        "critical" => 2,
        "warning" => 4,
        _ => 6,
    };
    let pri = u16::from(facility) * 8 + severity;
    format!("<{pri}>1 {} - coffre - alert - {body}\n", alert.fired_at)
}

/// A channel's queue, drained by its own task.
pub(crate) struct Dispatcher {
    pub(crate) channel: Arc<Channel>,
    queue: mpsc::Sender<Arc<Alert>>,
}

impl Dispatcher {
    /// Starts the channel's task (needs a Tokio runtime).
    pub(crate) fn start(channel: Arc<Channel>, dead: Arc<DeadLetters>) -> Result<Dispatcher> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(channel.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("coffre/", env!("CARGO_PKG_VERSION"), " alerts"))
            .build()
            .map_err(|e| Error::Internal(format!("http client: {e}")))?;
        let (queue, mut receiver) = mpsc::channel::<Arc<Alert>>(QUEUE);
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Internal("alert channels need a runtime".into()))?;
        let task_channel = channel.clone();
        runtime.spawn(async move {
            while let Some(alert) = receiver.recv().await {
                if let Err(why) = deliver(&client, &task_channel, &alert).await {
                    tracing::warn!(channel = %task_channel.name, rule = %alert.rule, error = %why, "alert not delivered: dead letter");
                    dead.push(&task_channel.name, &alert, why);
                }
            }
        });
        Ok(Dispatcher { channel, queue })
    }

    /// Queues `alert` without waiting; a full queue makes it a dead letter at once.
    pub(crate) fn send(&self, alert: &Arc<Alert>, dead: &DeadLetters) {
        if self.queue.try_send(alert.clone()).is_err() {
            dead.push(
                &self.channel.name,
                alert,
                "the channel's queue is full".into(),
            );
        }
    }
}

/// Delivers with retries; the last attempt's error when all failed.
async fn deliver(
    client: &reqwest::Client,
    channel: &Channel,
    alert: &Alert,
) -> std::result::Result<(), String> {
    let mut wait = Duration::from_millis(channel.backoff_ms);
    let mut attempt = 0;
    loop {
        let error = match attempt_once(client, channel, alert).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if attempt >= channel.retries {
            return Err(format!("{} attempts failed; last: {error}", attempt + 1));
        }
        attempt += 1;
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}

async fn attempt_once(
    client: &reqwest::Client,
    channel: &Channel,
    alert: &Alert,
) -> std::result::Result<(), String> {
    let body = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
    let post = |url: &str, body: Vec<u8>| {
        client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
    };
    let request = match &channel.target {
        Target::Webhook { url } => {
            let mut request = post(url, body.clone());
            if !channel.secret.is_empty() {
                let now = alert.fired_at_unix;
                request = request
                    .header("X-Coffre-Timestamp", now.to_string())
                    .header(
                        "X-Coffre-Signature",
                        signature(channel.secret.as_bytes(), now, &body),
                    );
            }
            request
        }
        Target::Slack { url } => post(url, slack_body(alert).to_string().into_bytes()),
        Target::Syslog {
            address,
            protocol,
            facility,
        } => {
            let text = String::from_utf8_lossy(&body);
            let line = syslog_line(alert, *facility, &text);
            let timeout = Duration::from_millis(channel.timeout_ms);
            return tokio::time::timeout(timeout, send_syslog(address, protocol, &line))
                .await
                .map_err(|_| "timed out".to_string())?
                .map_err(|e| e.to_string());
        }
    };
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer ({})", e.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("it answered {}", response.status().as_u16()))
    }
}

async fn send_syslog(address: &str, protocol: &str, line: &str) -> std::io::Result<()> {
    if protocol == "tcp" {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        // RFC 6587 octet counting.
        stream
            .write_all(format!("{} {line}", line.len()).as_bytes())
            .await?;
        stream.flush().await
    } else {
        let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
        socket.send_to(line.as_bytes(), address).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_the_timestamp_and_body() {
        // Known answer: HMAC-SHA256(key="secret", "1700000000.{}").
        let sig = signature(b"secret", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(sig, signature(b"secret", 1_700_000_001, b"{}"));
        assert_ne!(sig, signature(b"other", 1_700_000_000, b"{}"));
    }

    #[test]
    fn channels_are_checked_and_never_show_their_secret() {
        let data = json!({"type": "webhook", "url": "http://127.0.0.1:9/x", "secret": "s3cr3t", "backoff": "20ms"});
        let channel = Channel::from_api("hook", data.as_object().expect("object")).expect("ok");
        assert_eq!(channel.backoff_ms, 20);
        let shown = Value::Object(channel.to_api()).to_string();
        assert!(!shown.contains("s3cr3t"));
        assert!(!format!("{channel:?}").contains("s3cr3t"));
        let slack = json!({"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/XYZ"});
        let slack = Channel::from_api("chat", slack.as_object().expect("object")).expect("ok");
        assert_eq!(slack.to_api()["url"], "https://hooks.slack.com/…");
        let bad = json!({"type": "webhook", "url": "ftp://x"});
        assert!(Channel::from_api("hook", bad.as_object().expect("object")).is_err());
        let bad = json!({"type": "pager"});
        assert!(Channel::from_api("hook", bad.as_object().expect("object")).is_err());
    }
}
