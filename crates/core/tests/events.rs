//! The event stream (issue 17's seam): one event per request once its audit entries are
//! written, refused requests included, and one per background change (rotation events); a
//! subscriber that never reads loses events, counted, and holds no request up.

mod common;

use coffre_core::events::{EventKind, Outcome};
use coffre_core::{Core, ManualClock, Operation, Request};
use common::{obj, token_with};
use serde_json::json;

async fn call(core: &Core, token: &str, op: Operation, path: &str, data: serde_json::Value) {
    let _ = core
        .handle(
            Request::new(op, path)
                .with_token(token)
                .with_data(obj(data)),
        )
        .await;
}

#[tokio::test]
async fn requests_and_background_changes_are_published_without_waiting() {
    let clock = ManualClock::at(1_800_000_000);
    let (core, root) = common::dev_core(&clock).await;
    let r = &root;
    call(
        &core,
        r,
        Operation::Update,
        "sys/mounts/secret",
        json!({"type": "kv-v2"}),
    )
    .await;
    let reader = token_with(
        &core,
        r,
        "reader",
        r#"path "secret/data/open" { capabilities = ["read"] }"#,
    )
    .await;

    let mut events = core.events().subscribe("test", 64);
    // Never read: it must not hold anything up.
    let _stuck = core.events().subscribe("stuck", 1);

    call(
        &core,
        r,
        Operation::Update,
        "secret/data/open",
        json!({"data": {"v": "1"}}),
    )
    .await;
    call(
        &core,
        &reader,
        Operation::Read,
        "secret/data/open",
        json!({}),
    )
    .await;
    call(
        &core,
        &reader,
        Operation::Read,
        "secret/data/closed",
        json!({}),
    )
    .await;
    call(
        &core,
        "not-a-token",
        Operation::Read,
        "secret/data/open",
        json!({}),
    )
    .await;

    let mut seen = Vec::new();
    for _ in 0..4 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv());
        seen.push(next.await.expect("an event within 5 s").expect("event"));
    }
    let summary: Vec<(&str, Outcome)> = seen.iter().map(|e| (e.path.as_str(), e.outcome)).collect();
    assert_eq!(
        summary,
        vec![
            ("secret/data/open", Outcome::Ok),
            ("secret/data/open", Outcome::Ok),
            ("secret/data/closed", Outcome::Denied),
            ("secret/data/open", Outcome::Denied),
        ]
    );
    let EventKind::Request {
        operation,
        mount_type,
        ..
    } = &seen[1].kind
    else {
        panic!("a request event: {:?}", seen[1]);
    };
    assert_eq!(*operation, Operation::Read);
    assert_eq!(mount_type, "kv");
    assert_eq!(seen[1].mount, "secret/");
    assert!(seen[1].identity.is_some(), "the reader is named");
    assert!(seen[3].identity.is_none(), "an unknown token names nobody");

    // A background change: a rotation on the job runner.
    call(
        &core,
        r,
        Operation::Update,
        "secret/metadata/open",
        json!({"rotation": {"period": "1d", "generator": "hex"}}),
    )
    .await;
    clock.advance_secs(86_401);
    core.run_jobs().await.expect("pass");
    let mut names = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let EventKind::Background { name } = e.kind {
            names.push((name, e.outcome));
        }
    }
    assert!(names.contains(&("rotation", Outcome::Ok)), "{names:?}");
    assert!(
        names.contains(&("rotation.rotated", Outcome::Ok)),
        "{names:?}"
    );

    let dropped = core.events().dropped();
    let stuck = dropped.iter().find(|(n, _)| *n == "stuck").expect("stuck");
    assert!(
        stuck.1 >= 4,
        "the stuck subscriber's losses are counted: {dropped:?}"
    );
    let test = dropped.iter().find(|(n, _)| *n == "test").expect("test");
    assert_eq!(test.1, 0);
}
