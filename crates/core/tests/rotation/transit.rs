//! Transit keys under a rotation policy: their rotations run as jobs (at most once per due
//! time, across a crash), fail and retry like KV secrets', show in the calendar, and roll back.

use super::*;

impl Fx {
    async fn transit(&self) {
        self.ok(
            Operation::Update,
            "sys/mounts/transit",
            json!({"type": "transit"}),
        )
        .await;
    }

    async fn latest(&self, key: &str) -> i64 {
        self.ok(Operation::Read, &format!("transit/keys/{key}"), json!({}))
            .await["latest_version"]
            .as_i64()
            .expect("latest_version")
    }

    async fn calendar(&self, within: &str) -> Vec<Value> {
        let cal = self
            .ok(
                Operation::Read,
                "sys/rotation/calendar",
                json!({ "within": within }),
            )
            .await;
        cal["entries"].as_array().cloned().unwrap_or_default()
    }
}

#[tokio::test]
async fn a_transit_key_rotates_once_per_period_on_the_job_runner() {
    let fx = Fx::new().await;
    fx.transit().await;
    fx.ok(
        Operation::Update,
        "transit/keys/jwt",
        json!({"type": "ed25519"}),
    )
    .await;
    fx.ok(
        Operation::Update,
        "transit/keys/jwt/config",
        json!({"rotation": "jwt-signing"}),
    )
    .await;
    let signed = fx
        .ok(
            Operation::Update,
            "transit/sign/jwt",
            json!({"input": "aGVsbG8="}),
        )
        .await;
    // The calendar shows the key with its due time, 30 days out.
    let entries = fx.calendar("31d").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["path"], "transit/keys/jwt");
    assert_eq!(entries[0]["state"], "ok");
    assert_eq!(entries[0]["due_unix"], 1_800_000_000 + 30 * DAY);
    assert_eq!(fx.calendar("29d").await, Vec::<Value>::new());
    fx.days(29);
    fx.run().await;
    assert_eq!(fx.latest("jwt").await, 1, "not due before day 30");
    fx.days(1);
    let report = fx.run().await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(fx.latest("jwt").await, 2);
    assert_eq!(fx.audited("rotation.rotated"), 1);
    assert_eq!(fx.audited("rotation"), 1, "the change itself is audited");
    // Passes at the same time, and a day later, find nothing due.
    fx.run().await;
    fx.days(1);
    fx.run().await;
    assert_eq!(fx.latest("jwt").await, 2);
    assert_eq!(fx.audited("rotation.rotated"), 1);
    // The next due time is a period after the rotation.
    let entries = fx.calendar("30d").await;
    assert_eq!(entries[0]["due_unix"], 1_800_000_000 + 60 * DAY);
    assert_eq!(entries[0]["rotations"], 1);
    // What version 1 signed still verifies.
    let verified = fx
        .ok(
            Operation::Update,
            "transit/verify/jwt",
            json!({"input": "aGVsbG8=", "signature": signed["signature"]}),
        )
        .await;
    assert_eq!(verified["valid"], true);
    // Turning rotation off removes the key from the calendar.
    fx.ok(
        Operation::Update,
        "transit/keys/jwt/config",
        json!({"rotation": null}),
    )
    .await;
    fx.days(40);
    fx.run().await;
    assert_eq!(fx.latest("jwt").await, 2);
    assert_eq!(fx.calendar("90d").await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_crash_after_a_transit_rotation_never_rotates_twice() {
    let faulty = Arc::new(FaultyBackend::new(Arc::new(InMemoryBackend::new())));
    let mut fx = Fx::on(faulty.clone()).await;
    fx.transit().await;
    fx.ok(
        Operation::Update,
        "transit/keys/k",
        json!({"auto_rotate_period": "1d"}),
    )
    .await;
    // A first pass settles the namespace's recurring jobs.
    fx.run().await;
    fx.days(1);
    // The key's new version reaches the disk; the job's record is never updated.
    faulty.crash_after_write("logical/");
    let r = fx.run().await;
    assert!(faulty.crashed(), "the crash point was reached ({r:?})");
    fx.restart(faulty.inner()).await;
    assert_eq!(fx.latest("k").await, 2);
    fx.run().await;
    fx.run().await;
    assert_eq!(
        fx.latest("k").await,
        2,
        "the restarted runner finds it done"
    );
}

#[tokio::test]
async fn a_failing_transit_rotation_is_overdue_and_retried_with_backoff() {
    let faulty = Arc::new(FaultyBackend::new(Arc::new(InMemoryBackend::new())));
    let fx = Fx::on(faulty.clone()).await;
    fx.transit().await;
    fx.ok(
        Operation::Update,
        "transit/keys/k",
        json!({"auto_rotate_period": "1d"}),
    )
    .await;
    fx.run().await;
    fx.days(1);
    faulty.fail_writes("logical/", 1);
    let report = fx.run().await;
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(fx.latest("k").await, 1);
    assert_eq!(fx.audited("rotation.failed"), 1);
    assert_eq!(fx.audited("rotation.overdue"), 1);
    let entries = fx.calendar("0s").await;
    assert_eq!(entries[0]["state"], "failing");
    assert_eq!(entries[0]["overdue"], true);
    // The retry waits for the backoff (30 s), then succeeds.
    fx.run().await;
    assert_eq!(fx.latest("k").await, 1);
    fx.clock.advance_secs(31);
    let report = fx.run().await;
    assert_eq!(report.succeeded, 1, "{report:?}");
    assert_eq!(fx.latest("k").await, 2);
    assert_eq!(fx.audited("rotation.overdue"), 1, "announced once");
}

#[tokio::test]
async fn a_transit_key_rolls_back_to_an_earlier_version() {
    let fx = Fx::new().await;
    fx.transit().await;
    fx.ok(Operation::Update, "transit/keys/k", json!({})).await;
    let one = fx
        .ok(
            Operation::Update,
            "transit/encrypt/k",
            json!({"plaintext": "b25l"}),
        )
        .await;
    fx.ok(Operation::Update, "transit/keys/k/rotate", json!({}))
        .await;
    let back = fx
        .ok(
            Operation::Update,
            "transit/keys/k/rollback",
            json!({"version": 1}),
        )
        .await;
    assert_eq!(back["restored_version"], 1);
    assert_eq!(back["version"], 3);
    assert_eq!(fx.audited("rotation.rolled_back"), 1);
    let plain = fx
        .ok(
            Operation::Update,
            "transit/decrypt/k",
            json!({"ciphertext": one["ciphertext"]}),
        )
        .await;
    assert_eq!(plain["plaintext"], "b25l");
    // A policy can grant rollback alone; without it the path is denied.
    let limited = token_with(
        &fx.core,
        &fx.root,
        "encrypt-only",
        r#"path "transit/encrypt/k" { capabilities = ["update"] }"#,
    )
    .await;
    let err = fx
        .core
        .handle(Request::new(Operation::Update, "transit/keys/k/rollback").with_token(&limited))
        .await
        .expect_err("denied");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(fx.latest("k").await, 3);
}
