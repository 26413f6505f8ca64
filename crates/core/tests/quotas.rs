//! Rate-limit quotas through the core: the API, which rule applies, 429 with a retry time, per
//! namespace, with a manual clock (no sleeping).

mod common;

use std::sync::Arc;

use coffre_core::{Core, Error, ErrorKind, ManualClock, Operation, Request};
use serde_json::{Value, json};

use common::obj;

struct Fx {
    core: Core,
    clock: Arc<ManualClock>,
    root: String,
}

impl Fx {
    async fn new() -> Fx {
        let clock = ManualClock::starting_now();
        let (core, root) = common::dev_core(&clock).await;
        Fx { core, clock, root }
    }

    async fn call(
        &self,
        ns: &str,
        op: Operation,
        path: &str,
        data: Value,
    ) -> coffre_core::Result<Option<coffre_core::Response>> {
        let mut req = Request::new(op, path)
            .with_token(&self.root)
            .in_namespace(ns)
            .with_data(obj(data));
        req.remote_addr = Some("192.0.2.7".into());
        self.core.handle(req).await
    }

    async fn ok(&self, ns: &str, op: Operation, path: &str, data: Value) -> Value {
        match self.call(ns, op, path, data).await {
            Ok(r) => Value::Object(r.and_then(|r| r.data).unwrap_or_default()),
            Err(e) => panic!("{op:?} {ns}|{path}: {e}"),
        }
    }

    /// How many of `n` reads of `path` in `ns` are refused with 429.
    async fn refused_of(&self, n: usize, ns: &str, path: &str) -> usize {
        let mut refused = 0;
        for _ in 0..n {
            match self.call(ns, Operation::Read, path, json!({})).await {
                Err(e @ Error::RateLimited { .. }) => {
                    assert_eq!(e.kind(), ErrorKind::TooManyRequests);
                    assert!(e.retry_after_secs().is_some_and(|s| s >= 1));
                    refused += 1;
                }
                Err(e) => panic!("{ns}|{path}: {e}"),
                Ok(_) => {}
            }
        }
        refused
    }
}

#[tokio::test]
async fn the_rate_limit_api_as_openbao() {
    let fx = Fx::new().await;
    fx.ok(
        "",
        Operation::Update,
        "sys/mounts/secret",
        json!({"type": "kv"}),
    )
    .await;
    fx.ok(
        "",
        Operation::Update,
        "sys/quotas/rate-limit/global",
        json!({"rate": 897.3, "interval": "2m", "block_interval": "5m"}),
    )
    .await;
    let read = fx
        .ok(
            "",
            Operation::Read,
            "sys/quotas/rate-limit/global",
            json!({}),
        )
        .await;
    assert_eq!(
        read,
        json!({"type": "rate-limit", "name": "global", "path": "", "role": "", "rate": 897.3,
               "interval": 120, "block_interval": 300, "inheritable": true})
    );
    fx.ok(
        "",
        Operation::Update,
        "sys/quotas/rate-limit/kv",
        json!({"rate": 5, "path": "secret/"}),
    )
    .await;
    let listed = fx
        .ok("", Operation::List, "sys/quotas/rate-limit/", json!({}))
        .await;
    assert_eq!(listed["keys"], json!(["global", "kv"]));
    let kv = fx
        .ok("", Operation::Read, "sys/quotas/rate-limit/kv", json!({}))
        .await;
    assert_eq!(
        (&kv["path"], &kv["inheritable"]),
        (&json!("secret/"), &json!(false))
    );

    for (body, why) in [
        (json!({"rate": 0}), "rate"),
        (json!({"rate": -1}), "rate"),
        (json!({"rate": 1, "path": "nosuch/"}), "mount path"),
        (json!({"rate": 1, "path": "secret/"}), "similar properties"),
        (
            json!({"rate": 1, "path": "secret/", "inheritable": true}),
            "inheritable",
        ),
        (json!({"rate": 1, "role": "r"}), "role"),
    ] {
        let e = fx
            .call("", Operation::Update, "sys/quotas/rate-limit/other", body)
            .await
            .err();
        assert!(
            e.as_ref().is_some_and(
                |e| e.kind() == ErrorKind::InvalidRequest && e.to_string().contains(why)
            ),
            "{why}: {e:?}"
        );
    }
    fx.ok("", Operation::Delete, "sys/quotas/rate-limit/kv", json!({}))
        .await;
    let listed = fx
        .ok("", Operation::List, "sys/quotas/rate-limit/", json!({}))
        .await;
    assert_eq!(listed["keys"], json!(["global"]));
}

#[tokio::test]
async fn a_tenant_limit_refuses_the_tenant_only_and_refills_with_time() {
    let fx = Fx::new().await;
    for ns in ["team-a", "team-b"] {
        fx.ok(
            "",
            Operation::Update,
            &format!("sys/namespaces/{ns}"),
            json!({}),
        )
        .await;
    }
    // Written by the root for team-a: 10 requests a second.
    fx.ok(
        "",
        Operation::Update,
        "sys/quotas/rate-limit/team-a",
        json!({"rate": 10, "path": "team-a/"}),
    )
    .await;
    assert_eq!(fx.refused_of(25, "team-a", "sys/mounts").await, 15);
    assert_eq!(
        fx.refused_of(25, "", "team-a/sys/mounts").await,
        25,
        "the prefix form counts too"
    );
    assert_eq!(
        fx.refused_of(25, "team-b", "sys/mounts").await,
        0,
        "team-b is not limited"
    );
    assert_eq!(fx.refused_of(25, "", "sys/mounts").await, 0, "nor the root");
    // The quota API stays reachable, so the rule can be fixed.
    fx.ok(
        "team-a",
        Operation::List,
        "sys/quotas/rate-limit/",
        json!({}),
    )
    .await;
    fx.clock.advance_secs(1);
    assert_eq!(fx.refused_of(12, "team-a", "sys/mounts").await, 2);

    // team-a cannot see or change the root's rule; its own rule is its own.
    assert!(
        fx.call(
            "team-a",
            Operation::Read,
            "sys/quotas/rate-limit/team-a",
            json!({})
        )
        .await
        .expect("read")
        .is_none()
    );
    fx.ok(
        "team-a",
        Operation::Update,
        "sys/quotas/rate-limit/team-a",
        json!({"rate": 1000, "path": "sys/"}),
    )
    .await;
    let root_rule = fx
        .ok(
            "",
            Operation::Read,
            "sys/quotas/rate-limit/team-a",
            json!({}),
        )
        .await;
    assert_eq!(
        (&root_rule["rate"], &root_rule["path"]),
        (&json!(10.0), &json!("team-a/"))
    );
    let own = fx
        .ok(
            "team-a",
            Operation::Read,
            "sys/quotas/rate-limit/team-a",
            json!({}),
        )
        .await;
    assert_eq!(own["path"], "sys/");
    // team-a's own, looser rule does not lift the root's: both apply, the root's 10/s bites.
    fx.clock.advance_secs(5);
    assert_eq!(fx.refused_of(50, "team-a", "sys/mounts").await, 40);
    // A stricter rule of its own does bite (1 a second on sys/).
    fx.ok(
        "team-a",
        Operation::Update,
        "sys/quotas/rate-limit/team-a",
        json!({"rate": 1, "path": "sys/"}),
    )
    .await;
    fx.clock.advance_secs(5);
    assert_eq!(fx.refused_of(5, "team-a", "sys/mounts").await, 4);
    // Neither the root's rule nor its name is in team-a's way.
    fx.ok(
        "team-a",
        Operation::Update,
        "sys/quotas/rate-limit/mine",
        json!({"rate": 5}),
    )
    .await;

    // Deleting the namespace drops every rule for it.
    fx.ok("", Operation::Delete, "sys/namespaces/team-a", json!({}))
        .await;
    assert!(
        fx.call("", Operation::List, "sys/quotas/rate-limit/", json!({}))
            .await
            .expect("list")
            .is_none()
    );
}
