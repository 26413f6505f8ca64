//! KV v2 secrets under a rotation policy.

use super::*;

#[tokio::test]
async fn a_30_day_policy_notifies_on_day_27_and_rotates_once_on_day_30() {
    let fx = Fx::new().await;
    fx.ok(
        Operation::Update,
        "secret/data/api",
        json!({"data": {"value": "old", "user": "svc"}}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "secret/metadata/api",
        json!({"rotation": {"period": "30d", "notify_before": "3d", "generator": "api-key"},
               "criticality": "high", "owner": "team-payments"}),
    )
    .await;

    fx.run().await;
    fx.days(26);
    fx.run().await;
    assert_eq!(fx.audited("rotation.due_soon"), 0, "day 26: nothing yet");
    fx.days(1);
    fx.run().await;
    fx.run().await;
    assert_eq!(fx.audited("rotation.due_soon"), 1, "day 27: announced once");
    assert_eq!(fx.meta("api").await["rotation_status"]["state"], "due_soon");
    assert_eq!(fx.data("api").await["metadata"]["version"], 1);

    fx.days(3);
    fx.run().await;
    fx.run().await;
    let now = fx.data("api").await;
    assert_eq!(now["metadata"]["version"], 2, "day 30: rotated, once");
    let value = now["data"]["value"].as_str().expect("value");
    assert!(value.starts_with("sk-") && value.len() > 40, "{value}");
    assert_eq!(now["data"]["user"], "svc", "other fields are kept");
    assert_eq!(fx.audited("rotation.rotated"), 1);
    assert_eq!(fx.audited("rotation"), 1, "the change itself is audited");

    let meta = fx.meta("api").await;
    assert_eq!(meta["rotation"]["period"], "30d");
    assert_eq!(meta["rotation"]["generator"]["type"], "api-key");
    assert_eq!(meta["criticality"], "high");
    assert_eq!(meta["owner"], "team-payments");
    assert_eq!(meta["rotation_status"]["state"], "ok");
    assert_eq!(meta["rotation_status"]["rotations"], 1);
    assert_eq!(meta["rotation_status"]["previous_version"], 1);

    // The next period runs from the rotation: nothing more until day 57.
    fx.days(26);
    fx.run().await;
    assert_eq!(fx.audited("rotation.due_soon"), 1);
    assert_eq!(fx.data("api").await["metadata"]["version"], 2);
}

#[tokio::test]
async fn a_failing_rotation_is_marked_overdue_and_retried_with_backoff() {
    let fx = Fx::new().await;
    fx.ok(
        Operation::Update,
        "secret/metadata/db",
        json!({"rotation": {"period": "1d",
                            "generator": {"type": "password", "policy": "corp"}}}),
    )
    .await;
    fx.days(1);
    let r = fx.run().await;
    assert_eq!(r.failed, 1, "the password policy does not exist yet");
    assert_eq!(fx.audited("rotation.overdue"), 1);
    assert_eq!(fx.audited("rotation.failed"), 1);

    let cal = fx
        .ok(
            Operation::Read,
            "sys/rotation/calendar",
            json!({"within": "1d"}),
        )
        .await;
    let entry = &cal["entries"][0];
    assert_eq!(entry["path"], "secret/db");
    assert_eq!(entry["overdue"], true);
    assert_eq!(entry["state"], "failing");
    assert_eq!(entry["attempts"], 1);
    assert!(
        entry["last_error"].as_str().unwrap_or("").contains("corp"),
        "{entry}"
    );

    let r = fx.run().await;
    assert_eq!(
        (r.succeeded, r.failed),
        (0, 0),
        "backing off: not retried at once"
    );
    fx.clock.advance_secs(30);
    assert_eq!(fx.run().await.failed, 1, "retried after 30 s");
    fx.clock.advance_secs(59);
    assert_eq!(fx.run().await.failed, 0, "the second retry waits 60 s");
    assert_eq!(fx.audited("rotation.overdue"), 1, "overdue announced once");
    assert_eq!(fx.audited("rotation.failed"), 2);

    fx.ok(
        Operation::Update,
        "sys/policies/password/corp",
        json!({"policy": "length = 20\nrule \"charset\" { charset = \"abcdefgh\" }"}),
    )
    .await;
    fx.clock.advance_secs(1);
    let r = fx.run().await;
    assert_eq!(r.succeeded, 1);
    let data = fx.data("db").await;
    let pw = data["data"]["value"].as_str().expect("password");
    assert_eq!(pw.len(), 20);
    assert!(pw.chars().all(|c| "abcdefgh".contains(c)));
    let cal = fx
        .ok(
            Operation::Read,
            "sys/rotation/calendar",
            json!({"within": "1h"}),
        )
        .await;
    assert_eq!(cal["entries"], json!([]), "nothing due any more: {cal}");
}

#[tokio::test]
async fn a_crash_after_the_rotation_commit_never_rotates_twice() {
    let faulty = Arc::new(FaultyBackend::new(Arc::new(InMemoryBackend::new())));
    let mut fx = Fx::on(faulty.clone()).await;
    fx.ok(
        Operation::Update,
        "secret/data/k",
        json!({"data": {"value": "v1"}}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "secret/metadata/k",
        json!({"rotation": {"period": "1d", "generator": "hex"}}),
    )
    .await;
    fx.days(1);
    // The rotation's version write reaches the disk; nothing after it does (the job's own
    // record is never updated).
    faulty.crash_after_write("logical/");
    let r = fx.run().await;
    assert!(faulty.crashed(), "the crash point was reached ({r:?})");
    fx.restart(faulty.inner()).await;
    assert_eq!(fx.data("k").await["metadata"]["version"], 2);
    fx.run().await;
    fx.run().await;
    let after = fx.data("k").await;
    assert_eq!(
        after["metadata"]["version"], 2,
        "the restarted runner finds the due time done"
    );
    assert_eq!(after["data"]["value"].as_str().unwrap_or("").len(), 64);
}

/// The same for two-phase, at both of its commits: a crash right after the runner's publish,
/// then right after its promotion. Each happens once, and the secret always has a value.
#[tokio::test]
async fn a_crash_after_publish_or_promote_never_does_either_twice() {
    let faulty = Arc::new(FaultyBackend::new(Arc::new(InMemoryBackend::new())));
    let mut fx = Fx::on(faulty.clone()).await;
    fx.ok(
        Operation::Update,
        "secret/data/k",
        json!({"data": {"value": "v1"}}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "secret/metadata/k",
        json!({"rotation": {"period": "2d", "strategy": "two-phase", "grace": "1d", "generator": "hex"}}),
    )
    .await;

    fx.days(2);
    faulty.crash_after_write("logical/");
    let r = fx.run().await;
    assert!(
        faulty.crashed(),
        "the publish crash point was reached ({r:?})"
    );
    let faulty = Arc::new(FaultyBackend::new(faulty.inner()));
    fx.restart(faulty.clone()).await;
    let published = fx.data("k").await;
    assert_eq!(
        published["metadata"]["version"], 2,
        "published before the crash"
    );
    assert_eq!(published["data"]["value"], "v1", "current stays current");
    let next = published["data"]["next"]
        .as_str()
        .expect("next")
        .to_string();
    fx.run().await;
    fx.run().await;
    let again = fx.data("k").await;
    assert_eq!(again["metadata"]["version"], 2, "not published twice");
    assert_eq!(again["data"]["next"], next.as_str());

    fx.days(1);
    faulty.crash_after_write("logical/");
    let r = fx.run().await;
    assert!(
        faulty.crashed(),
        "the promote crash point was reached ({r:?})"
    );
    fx.restart(faulty.inner()).await;
    let promoted = fx.data("k").await;
    assert_eq!(
        promoted["metadata"]["version"], 3,
        "promoted before the crash"
    );
    assert_eq!(promoted["data"]["value"], next.as_str());
    fx.run().await;
    fx.run().await;
    let after = fx.data("k").await;
    assert_eq!(after["metadata"]["version"], 3, "not promoted twice");
    assert_eq!(after["data"]["value"], next.as_str());
    // Each change was audited before it was made (its event after it is what the crashes
    // cut off), and neither was made again.
    assert_eq!(fx.audited("rotation"), 2, "one publish, one promote");
}

/// A tiny HS256 JWT consumer, as the seeds' services verify tokens: it accepts a token signed
/// with any of the keys it is given.
mod jwt {
    use base64::Engine as _;

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    }

    pub fn sign(key: &str, sub: &str) -> String {
        let head = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = b64(format!(r#"{{"sub":"{sub}"}}"#).as_bytes());
        let input = format!("{head}.{body}");
        let sig = coffre_crypto::hmac_sha256(key.as_bytes(), input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    pub fn verify(token: &str, keys: &[&str]) -> bool {
        let Some((input, sig)) = token.rsplit_once('.') else {
            return false;
        };
        keys.iter().any(|k| {
            let want = b64(&coffre_crypto::hmac_sha256(k.as_bytes(), input.as_bytes()));
            coffre_crypto::ct_eq(want.as_bytes(), sig.as_bytes())
        })
    }

    /// The keys a consumer accepts from a secret's data: the value and, while published, next.
    pub fn keys(data: &serde_json::Value) -> Vec<String> {
        ["value", "next"]
            .iter()
            .filter_map(|f| data[f].as_str().map(str::to_string))
            .collect()
    }
}

#[tokio::test]
async fn two_phase_survives_a_restart_between_publish_and_promote_and_rolls_back() {
    let backend: Arc<dyn Backend> = Arc::new(InMemoryBackend::new());
    let mut fx = Fx::on(backend.clone()).await;
    let old = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 64]);
    fx.ok(
        Operation::Update,
        "secret/data/jwt",
        json!({"data": {"value": old}}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "secret/metadata/jwt",
        json!({"rotation": "jwt-signing"}),
    )
    .await;
    let old_token = jwt::sign(&old, "alice");

    fx.days(30);
    fx.run().await;
    let published = fx.data("jwt").await;
    assert_eq!(published["metadata"]["version"], 2);
    assert_eq!(
        published["data"]["value"],
        old.as_str(),
        "current stays current"
    );
    let next = published["data"]["next"]
        .as_str()
        .expect("next published")
        .to_string();
    assert_ne!(next, old);
    assert_eq!(fx.audited("rotation.published"), 1);

    // Killed between publish and promote: the restarted server still has a working value.
    fx.restart(backend.clone()).await;
    let after_restart = fx.data("jwt").await;
    assert_eq!(after_restart["data"]["value"], old.as_str());
    let keys = jwt::keys(&after_restart["data"]);
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let new_token = jwt::sign(&next, "bob");
    assert!(
        jwt::verify(&old_token, &keys),
        "grace: the old key verifies"
    );
    assert!(
        jwt::verify(&new_token, &keys),
        "grace: the next key verifies"
    );
    assert_eq!(
        fx.meta("jwt").await["rotation_status"]["state"],
        "pending_promotion"
    );

    fx.clock.advance_secs(DAY - 1);
    fx.run().await;
    assert_eq!(
        fx.data("jwt").await["metadata"]["version"],
        2,
        "grace not over"
    );
    fx.clock.advance_secs(1);
    fx.run().await;
    let promoted = fx.data("jwt").await;
    assert_eq!(promoted["metadata"]["version"], 3);
    assert_eq!(promoted["data"]["value"], next.as_str());
    assert!(promoted["data"].get("next").is_none());
    let keys = jwt::keys(&promoted["data"]);
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert!(
        !jwt::verify(&old_token, &keys),
        "after promote: old refused"
    );
    assert!(
        jwt::verify(&new_token, &keys),
        "after promote: new verifies"
    );
    assert_eq!(fx.audited("rotation.rotated"), 1);

    let rb = fx
        .ok(Operation::Update, "secret/rollback/jwt", json!({}))
        .await;
    assert_eq!(rb["restored_version"], 1);
    assert_eq!(rb["version"], 4);
    let back = fx.data("jwt").await;
    assert_eq!(
        back["data"]["value"],
        old.as_str(),
        "rolled back as a new version"
    );
    assert_eq!(fx.audited("rotation.rolled_back"), 1);

    // A destroyed version cannot come back; nothing changes.
    fx.ok(
        Operation::Update,
        "secret/destroy/jwt",
        json!({"versions": [3]}),
    )
    .await;
    let err = fx
        .call(
            Operation::Update,
            "secret/rollback/jwt",
            json!({"version": 3}),
        )
        .await
        .expect_err("destroyed");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("version 3 is destroyed"), "{err}");
    assert_eq!(fx.data("jwt").await["metadata"]["version"], 4);
}

async fn snapshot(backend: &Arc<dyn Backend>) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for key in backend.scan("").await.expect("scan") {
        // The barrier's own counters move with every encryption; they are not data.
        if key.starts_with("core/") {
            continue;
        }
        let value = backend.get(&key).await.expect("get");
        out.push((key, value));
    }
    out
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_force_rotates_now() {
    let fx = Fx::new().await;
    fx.ok(
        Operation::Update,
        "secret/data/s",
        json!({"data": {"value": "v"}}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "secret/metadata/s",
        json!({"rotation": "session-key"}),
    )
    .await;
    let before = snapshot(&fx.backend).await;
    let dry = fx
        .ok(
            Operation::Update,
            "secret/rotate/s",
            json!({"dry_run": true}),
        )
        .await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["would"], "publish");
    assert_eq!(snapshot(&fx.backend).await, before, "storage unchanged");

    let forced = fx.ok(Operation::Update, "secret/rotate/s", json!({})).await;
    assert_eq!(forced["phase"], "published");
    assert!(forced.get("next").is_none() && forced.get("value").is_none());
    assert_eq!(fx.data("s").await["metadata"]["version"], 2);
    let promoted = fx
        .ok(Operation::Update, "secret/promote/s", json!({}))
        .await;
    assert_eq!(promoted["phase"], "promoted");
    assert_eq!(fx.data("s").await["metadata"]["version"], 3);
}

#[tokio::test]
async fn rotation_can_be_granted_without_read() {
    let fx = Fx::new().await;
    fx.ok(
        Operation::Update,
        "secret/data/app/key",
        json!({"data": {"value": "v"}}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "secret/metadata/app/key",
        json!({"rotation": "api-key"}),
    )
    .await;
    let rotator = token_with(
        &fx.core,
        &fx.root,
        "rotator",
        r#"path "secret/rotate/app/*" { capabilities = ["update"] }"#,
    )
    .await;
    let resp = fx
        .core
        .handle(Request::new(Operation::Update, "secret/rotate/app/key").with_token(&rotator))
        .await
        .expect("rotate")
        .expect("response");
    let data = resp.data.expect("data");
    assert_eq!(data["rotated"], true);
    assert!(
        !serde_json::to_string(&data).expect("json").contains("sk-"),
        "no value in the response: {data:?}"
    );
    let err = fx
        .core
        .handle(Request::new(Operation::Read, "secret/data/app/key").with_token(&rotator))
        .await
        .expect_err("no read");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(fx.data("app/key").await["metadata"]["version"], 2);
}

#[tokio::test]
async fn bad_policies_are_refused_with_the_field_and_change_nothing() {
    let fx = Fx::new().await;
    fx.ok(
        Operation::Update,
        "secret/data/x",
        json!({"data": {"value": "v"}}),
    )
    .await;
    for (rotation, needle) in [
        (json!("monthly"), "preset: unknown preset"),
        (
            json!({"period": "1d", "generator": "magic"}),
            "generator: unknown type",
        ),
        (
            json!({"period": "1d", "strategy": "green"}),
            "strategy: unknown strategy",
        ),
        (
            json!({"period": "1d", "strategy": "two-phase", "generator": "hex", "grace": "2d"}),
            "grace: must be shorter",
        ),
        (
            json!({"preset": "jwt-signing", "validate": "file:///etc/passwd"}),
            "validate: must be an http",
        ),
    ] {
        let err = fx
            .call(
                Operation::Update,
                "secret/metadata/x",
                json!({ "rotation": rotation }),
            )
            .await
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.to_string().contains(needle), "{err}");
    }
    let meta = fx.meta("x").await;
    assert_eq!(meta["rotation"], Value::Null);
    assert_eq!(meta["current_metadata_version"], 0, "nothing written");
    let err = fx
        .call(Operation::Update, "secret/rotate/x", json!({}))
        .await
        .expect_err("no policy");
    assert!(err.to_string().contains("no rotation policy"), "{err}");
}

#[tokio::test]
async fn the_calendar_lists_what_is_due_in_the_window_soonest_first() {
    let fx = Fx::new().await;
    for (key, preset) in [("a", "session-key"), ("b", "api-key"), ("c", "rsa")] {
        fx.ok(
            Operation::Update,
            &format!("secret/data/{key}"),
            json!({"data": {"value": "v"}}),
        )
        .await;
        fx.ok(
            Operation::Update,
            &format!("secret/metadata/{key}"),
            json!({ "rotation": preset }),
        )
        .await;
    }
    let cal = fx
        .ok(
            Operation::Read,
            "sys/rotation/calendar",
            json!({"within": "90d"}),
        )
        .await;
    let paths: Vec<&str> = cal["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, ["secret/a", "secret/b"], "rsa is due in 365 days");
    assert_eq!(cal["entries"][0]["preset"], "session-key");
    assert_eq!(cal["entries"][0]["overdue"], false);
    let presets = fx
        .ok(Operation::Read, "sys/rotation/presets", json!({}))
        .await;
    assert_eq!(presets["presets"]["jwt-signing"]["period"], "30d");
}

/// A validation webhook on a loopback port: answers each POST with the fingerprint the test
/// put in `answer`, and counts the requests.
async fn webhook(
    answer: Arc<parking_lot::Mutex<String>>,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let mut got = 0;
            // Read the head and the JSON body (small) until the body's length has arrived.
            loop {
                let n = sock.read(&mut buf[got..]).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got += n;
                let text = String::from_utf8_lossy(&buf[..got]);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
            }
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = json!({ "fingerprint": *answer.lock() }).to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    (format!("http://{addr}/validate"), hits)
}

#[tokio::test]
async fn promotion_waits_for_the_validator_to_confirm_the_next_value() {
    let fx = Fx::new().await;
    let answer = Arc::new(parking_lot::Mutex::new("wrong".to_string()));
    let (url, hits) = webhook(answer.clone()).await;
    fx.ok(
        Operation::Update,
        "secret/data/hmac",
        json!({"data": {"value": "current"}}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "secret/metadata/hmac",
        json!({"rotation": {"preset": "hmac-key", "grace": "1h", "validate": url}}),
    )
    .await;
    fx.days(30);
    fx.run().await;
    let next = fx.data("hmac").await["data"]["next"]
        .as_str()
        .expect("published")
        .to_string();

    fx.clock.advance_secs(3_600);
    assert_eq!(
        fx.run().await.failed,
        1,
        "a wrong fingerprint refuses promotion"
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let still = fx.data("hmac").await;
    assert_eq!(still["data"]["value"], "current", "the current value stays");
    assert_eq!(still["data"]["next"], next.as_str());

    *answer.lock() = hex::encode(coffre_crypto::sha256(next.as_bytes()));
    fx.clock.advance_secs(30);
    assert_eq!(fx.run().await.succeeded, 1);
    let promoted = fx.data("hmac").await;
    assert_eq!(promoted["data"]["value"], next.as_str());
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
}
