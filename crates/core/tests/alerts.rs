//! Alert rules over the event stream (issue 17), with an injected clock and a local HTTP
//! receiver: a threshold rule fires once per window and keeps its cooldown, the webhook's
//! signature verifies with the shared secret, a receiver answering 500 gets retries and then
//! a dead letter, and a receiver that never answers holds no request up.

mod common;

use std::sync::Arc;
use std::time::Duration;

use coffre_core::{Core, ManualClock, Operation, Request, Response};
use common::{obj, token_with};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the receiver does with each request.
#[derive(Clone, Copy)]
enum Answer {
    /// Answers this status.
    Status(u16),
    /// Answers 500 to the first `n` requests, then 200.
    FailFirst(usize),
    /// Reads the request and never answers.
    Never,
}

/// One request the receiver got: its headers (lowercased names) and body.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A minimal HTTP/1.1 receiver on a free loopback port.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    loop {
                        let Some(received) = read_request(&mut stream).await else {
                            return;
                        };
                        let n = {
                            let mut seen = seen.lock();
                            seen.push(received);
                            seen.len()
                        };
                        let status = match answer {
                            Answer::Status(s) => s,
                            Answer::FailFirst(k) if n <= k => 500,
                            Answer::FailFirst(_) => 200,
                            Answer::Never => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                return;
                            }
                        };
                        let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                        if stream.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().clone()
    }

    /// Waits (a liveness bound, not a timing check) until `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..1000 {
            if self.got.lock().len() >= n {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the receiver got {} of {n} requests", self.got.lock().len());
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received { headers, body })
}

async fn call(core: &Core, token: &str, op: Operation, path: &str, data: Value) -> Response {
    core.handle(
        Request::new(op, path)
            .with_token(token)
            .with_data(obj(data)),
    )
    .await
    .unwrap_or_else(|e| panic!("{path}: {e}"))
    .unwrap_or_default()
}

async fn try_call(core: &Core, token: &str, op: Operation, path: &str) {
    let _ = core.handle(Request::new(op, path).with_token(token)).await;
}

struct Fx {
    core: Core,
    clock: Arc<ManualClock>,
    root: String,
    /// A token whose policy allows nothing under `secret/`.
    nobody: String,
}

async fn fx() -> Fx {
    let clock = ManualClock::at(1_800_000_000);
    let (core, root) = common::dev_core(&clock).await;
    core.events().start_alerting();
    call(
        &core,
        &root,
        Operation::Update,
        "sys/mounts/secret",
        json!({"type": "kv-v2"}),
    )
    .await;
    let nobody = token_with(
        &core,
        &root,
        "nobody",
        r#"path "other/*" { capabilities = ["read"] }"#,
    )
    .await;
    // A rule whose alert tells the test that every event before it was evaluated (events
    // are evaluated in order).
    call(
        &core,
        &root,
        Operation::Update,
        "sys/alerts/rules/sentinel",
        json!({"events": ["request"], "paths": ["sentinel/*"]}),
    )
    .await;
    Fx {
        core,
        clock,
        root,
        nobody,
    }
}

impl Fx {
    fn fired(&self, rule: &str) -> usize {
        self.core
            .events()
            .alerting()
            .fired("")
            .iter()
            .filter(|a| a.rule == rule)
            .count()
    }

    /// Returns once every event published so far has been evaluated.
    async fn settle(&self) {
        let before = self.fired("sentinel");
        try_call(&self.core, &self.root, Operation::Read, "sentinel/x").await;
        for _ in 0..1000 {
            if self.fired("sentinel") > before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the evaluator never caught up");
    }

    async fn channel(&self, name: &str, url: &str, extra: Value) {
        let mut data =
            json!({"type": "webhook", "url": url, "secret": "shared-secret", "backoff": "10ms"});
        for (k, v) in extra.as_object().expect("object") {
            data[k] = v.clone();
        }
        call(
            &self.core,
            &self.root,
            Operation::Update,
            &format!("sys/alerts/channels/{name}"),
            data,
        )
        .await;
    }

    async fn rule(&self, name: &str, data: Value) {
        // A write answers an empty success (a 204), not "nothing here" (a 404).
        let answer = self
            .core
            .handle(
                Request::new(Operation::Update, format!("sys/alerts/rules/{name}"))
                    .with_token(self.root.as_str())
                    .with_data(obj(data)),
            )
            .await
            .expect("written");
        assert!(answer.is_some_and(|r| r.is_empty()), "{name}: a 204");
    }
}

#[tokio::test]
async fn a_threshold_rule_fires_once_per_window_keeps_its_cooldown_and_signs_its_webhook() {
    let fx = fx().await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    fx.channel("hook", &receiver.url, json!({})).await;
    fx.rule(
        "three-denials",
        json!({
            "events": ["request"], "outcomes": ["denied"], "paths": ["secret/*"],
            "threshold": 3, "window": "60s", "cooldown": "120s", "group_by": "identity",
            "severity": "critical", "channels": ["hook"],
        }),
    )
    .await;
    let deny = || try_call(&fx.core, &fx.nobody, Operation::Read, "secret/data/db");

    // Two denials, then the window slides past them: no alert.
    deny().await;
    deny().await;
    fx.clock.advance_secs(61);
    deny().await;
    deny().await;
    fx.settle().await;
    assert_eq!(fx.fired("three-denials"), 0);
    // The third within 60 s fires it, once.
    deny().await;
    fx.settle().await;
    assert_eq!(fx.fired("three-denials"), 1);
    // Within the cooldown, however many: nothing.
    for _ in 0..10 {
        fx.clock.advance_secs(5);
        deny().await;
    }
    fx.settle().await;
    assert_eq!(fx.fired("three-denials"), 1, "the cooldown holds");
    // After it, three new denials fire it again.
    fx.clock.advance_secs(120);
    for _ in 0..3 {
        deny().await;
    }
    fx.settle().await;
    assert_eq!(fx.fired("three-denials"), 2);

    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2);
    for r in &got {
        let timestamp: i64 = r
            .header("x-coffre-timestamp")
            .expect("timestamp")
            .parse()
            .expect("a number");
        let expected = format!(
            "sha256={}",
            hex::encode(coffre_crypto::hmac_sha256(
                b"shared-secret",
                format!("{timestamp}.{}", String::from_utf8_lossy(&r.body)).as_bytes()
            ))
        );
        assert_eq!(r.header("x-coffre-signature"), Some(expected.as_str()));
        let wrong = coffre_crypto::hmac_sha256(b"another-secret", &r.body);
        assert_ne!(
            r.header("x-coffre-signature"),
            Some(hex::encode(wrong).as_str())
        );
        let alert = r.json();
        assert_eq!(alert["rule"], "three-denials");
        assert_eq!(alert["severity"], "critical");
        assert_eq!(alert["count"], 3);
        assert_eq!(alert["event"]["outcome"], "denied");
        assert_eq!(alert["event"]["path"], "secret/data/db");
        assert!(!r.body.windows(5).any(|w| w == b"hvs.x"), "no token");
    }
    assert_eq!(
        got[1].json()["fired_at_unix"].as_i64().expect("time")
            - got[0].json()["fired_at_unix"].as_i64().expect("time"),
        170,
        "fired on the core's clock"
    );
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_then_a_dead_letter() {
    let fx = fx().await;
    let flaky = Receiver::start(Answer::FailFirst(2)).await;
    let broken = Receiver::start(Answer::Status(500)).await;
    fx.channel("flaky", &flaky.url, json!({"retries": 3})).await;
    fx.channel("broken", &broken.url, json!({"retries": 2}))
        .await;
    fx.rule(
        "any-denial",
        json!({"events": ["request"], "outcomes": ["denied"], "paths": ["secret/*"], "channels": ["flaky", "broken", "missing"]}),
    )
    .await;
    try_call(&fx.core, &fx.nobody, Operation::Read, "secret/data/db").await;

    let got = flaky.wait_for(3).await;
    assert_eq!(got.len(), 3, "two 500s, then delivered");
    assert_eq!(got[0].body, got[2].body, "the same alert each time");
    broken.wait_for(3).await;
    // The dead letters: the broken channel after its 3 attempts, the missing one at once.
    let mut dead = Vec::new();
    for _ in 0..500 {
        let answer = call(
            &fx.core,
            &fx.root,
            Operation::Read,
            "sys/alerts/dead-letters",
            json!({}),
        )
        .await;
        dead = answer.data.expect("data")["dead_letters"]
            .as_array()
            .expect("list")
            .clone();
        if dead.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut channels: Vec<&str> = dead
        .iter()
        .map(|d| d["channel"].as_str().expect("name"))
        .collect();
    channels.sort_unstable();
    assert_eq!(channels, ["broken", "missing"]);
    let broken_letter = dead
        .iter()
        .find(|d| d["channel"] == "broken")
        .expect("broken");
    assert!(
        broken_letter["error"]
            .as_str()
            .expect("error")
            .contains("3 attempts failed; last: it answered 500"),
        "{broken_letter}"
    );
    assert_eq!(broken.received().len(), 3, "no attempt past the retries");
    assert_eq!(flaky.received().len(), 3, "nothing after the delivery");
}

#[tokio::test]
async fn a_receiver_that_never_answers_holds_no_request_up() {
    let fx = fx().await;
    let dead = Receiver::start(Answer::Never).await;
    fx.channel("dead", &dead.url, json!({"timeout": "600s", "retries": 0}))
        .await;
    fx.rule(
        "every-denial",
        json!({"events": ["request"], "outcomes": ["denied"], "paths": ["secret/*"], "channels": ["dead"]}),
    )
    .await;
    // Every one of these fires an alert for a channel whose receiver hangs: they all finish
    // (the bound is a liveness check), while the receiver has not answered the first.
    let requests = async {
        for _ in 0..300 {
            try_call(&fx.core, &fx.nobody, Operation::Read, "secret/data/db").await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), requests)
        .await
        .expect("requests finish while the receiver hangs");
    fx.settle().await;
    assert_eq!(fx.fired("every-denial"), 300);
    dead.wait_for(1).await;
    assert_eq!(
        dead.received().len(),
        1,
        "one delivery in flight, the rest queued"
    );
    assert!(
        fx.core.events().dropped().iter().all(|(_, n)| *n == 0),
        "the evaluator lost nothing"
    );
}

#[tokio::test]
async fn the_seed_rules_are_written_once_and_flag_critical_reads_and_prod_writes() {
    let fx = fx().await;
    let listed = call(
        &fx.core,
        &fx.root,
        Operation::List,
        "sys/alerts/rules",
        json!({}),
    )
    .await;
    let keys = listed.data.expect("data")["keys"].clone();
    for seed in [
        "repeated-access-failures",
        "unauthorized-access",
        "critical-secret-read",
        "production-secret-modified",
        "rotation-failed",
        "rotation-overdue",
        "rotation-notice",
        "violation-threshold",
        "access-anomaly",
    ] {
        assert!(
            keys.as_array().expect("keys").contains(&json!(seed)),
            "{seed}"
        );
    }
    // A secret marked critical: reading it fires the seed rule; another secret does not.
    let r = &fx.root;
    call(
        &fx.core,
        r,
        Operation::Update,
        "secret/data/signing",
        json!({"data": {"k": "v"}}),
    )
    .await;
    call(
        &fx.core,
        r,
        Operation::Update,
        "secret/metadata/signing",
        json!({"custom_metadata": {"critical": "true"}}),
    )
    .await;
    call(
        &fx.core,
        r,
        Operation::Update,
        "secret/data/plain",
        json!({"data": {"k": "v"}}),
    )
    .await;
    call(&fx.core, r, Operation::Read, "secret/data/plain", json!({})).await;
    fx.settle().await;
    assert_eq!(fx.fired("critical-secret-read"), 0);
    call(
        &fx.core,
        r,
        Operation::Read,
        "secret/data/signing",
        json!({}),
    )
    .await;
    call(
        &fx.core,
        r,
        Operation::Update,
        "secret/data/prod/db",
        json!({"data": {"k": "v"}}),
    )
    .await;
    fx.settle().await;
    assert_eq!(fx.fired("critical-secret-read"), 1);
    assert_eq!(fx.fired("production-secret-modified"), 1);

    // Seeds are rules like any other: deleted, they are gone.
    call(
        &fx.core,
        r,
        Operation::Delete,
        "sys/alerts/rules/rotation-notice",
        json!({}),
    )
    .await;
    let listed = call(&fx.core, r, Operation::List, "sys/alerts/rules", json!({})).await;
    assert!(
        !listed.data.expect("data")["keys"]
            .as_array()
            .expect("keys")
            .contains(&json!("rotation-notice"))
    );
    let bad = fx
        .core
        .handle(
            Request::new(Operation::Update, "sys/alerts/rules/bad")
                .with_token(r.as_str())
                .with_data(obj(json!({"events": ["request"], "severity": "loud"}))),
        )
        .await
        .expect_err("refused");
    assert!(bad.to_string().contains("severity"), "{bad}");
    // The channel's secret is never shown.
    fx.channel("hook", "http://127.0.0.1:9/x", json!({})).await;
    let shown = call(
        &fx.core,
        r,
        Operation::Read,
        "sys/alerts/channels/hook",
        json!({}),
    )
    .await;
    let shown = Value::Object(shown.data.expect("data"));
    assert_eq!(shown["signed"], true);
    assert!(!shown.to_string().contains("shared-secret"));
}
