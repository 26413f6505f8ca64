//! The core reads time only from its injected clock: moving a `ManualClock` forward expires
//! tokens (and their children) at once, with no sleeping.

mod common;

use coffre_core::{Core, ErrorKind, ManualClock, Operation, Request};
use common::obj;
use serde_json::{Value, json};

async fn create(core: &Core, parent: &str, ttl: &str, policies: Value) -> String {
    let resp = core
        .handle(
            Request::new(Operation::Update, "auth/token/create")
                .with_token(parent)
                .with_data(obj(json!({ "ttl": ttl, "policies": policies }))),
        )
        .await
        .expect("create")
        .expect("response");
    resp.auth.expect("auth")["client_token"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn lookup_self(core: &Core, token: &str) -> coffre_core::Result<i64> {
    let resp = core
        .handle(Request::new(Operation::Read, "auth/token/lookup-self").with_token(token))
        .await?
        .expect("response");
    Ok(resp.data.expect("data")["ttl"].as_i64().expect("ttl"))
}

#[tokio::test]
async fn tokens_expire_when_the_clock_says_so() {
    let clock = ManualClock::starting_now();
    let (core, root) = common::dev_core(&clock).await;
    core.handle(
        Request::new(Operation::Update, "sys/policies/acl/creator")
            .with_token(&root)
            .with_data(obj(json!({
                "policy": r#"path "auth/token/create" { capabilities = ["create", "update"] }"#
            }))),
    )
    .await
    .expect("policy");
    let parent = create(&core, &root, "2h", json!(["creator"])).await;
    let child = create(&core, &parent, "1h", json!(["default"])).await;
    assert_eq!(lookup_self(&core, &parent).await.expect("valid"), 7200);
    assert_eq!(lookup_self(&core, &child).await.expect("valid"), 3600);

    clock.advance_secs(1800);
    assert_eq!(
        lookup_self(&core, &parent).await.expect("valid"),
        5400,
        "TTL counts down with the clock"
    );
    // The child renews itself past its parent's expiry; the parent's expiry still ends it.
    core.handle(
        Request::new(Operation::Update, "auth/token/renew-self")
            .with_token(&child)
            .with_data(obj(json!({"increment": "3h"}))),
    )
    .await
    .expect("renew");
    assert!(lookup_self(&core, &child).await.expect("valid") > 5400);

    clock.advance_secs(5401);
    let e = lookup_self(&core, &parent).await.expect_err("expired");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let e = lookup_self(&core, &child)
        .await
        .expect_err("child of an expired parent");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
}
