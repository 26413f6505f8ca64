//! `coffre namespace …` and the global namespace flag on the real binary against a dev server.

mod common;

use common::dev::{DevServer, coffre, coffre_env};

#[tokio::test]
async fn namespaces_through_the_cli() {
    let server = DevServer::start().await;
    let base = server.base.as_str();
    let out = coffre(
        base,
        &[
            "namespace",
            "create",
            "team-a",
            "--custom-metadata",
            "owner=alice",
        ],
        b"",
    );
    let text = out.ok("create");
    assert!(text.contains("team-a/") && text.contains("owner"), "{text}");
    // Vault's spelling of the flags works too.
    coffre(
        base,
        &["-namespace=team-a", "namespace", "create", "prod"],
        b"",
    )
    .ok("create nested");
    assert_eq!(
        coffre(base, &["namespace", "list"], b"").ok("list"),
        "team-a/\n"
    );
    assert_eq!(
        coffre(base, &["namespace", "list", "--namespace", "team-a"], b"").ok("list"),
        "prod/\n"
    );
    let looked = coffre(
        base,
        &["--format", "json", "namespace", "lookup", "team-a"],
        b"",
    )
    .ok("lookup");
    let looked: serde_json::Value = serde_json::from_str(&looked).expect("json");
    assert_eq!(looked["data"]["custom_metadata"]["owner"], "alice");
    let patched = coffre(
        base,
        &[
            "namespace",
            "patch",
            "team-a",
            "--custom-metadata",
            "tier=gold",
            "--remove-custom-metadata",
            "owner",
        ],
        b"",
    )
    .ok("patch");
    assert!(
        patched.contains("tier") && !patched.contains("alice"),
        "{patched}"
    );

    // Every command works in the namespace of --namespace, COFFRE_NAMESPACE or VAULT_NAMESPACE.
    coffre(
        base,
        &["-n", "team-a", "write", "sys/mounts/kv", "type=kv-v2"],
        b"",
    )
    .ok("mount");
    coffre_env(
        base,
        &["kv", "put", "kv/app", "password=s3cret"],
        b"",
        &[("COFFRE_NAMESPACE", "team-a")],
    )
    .ok("put");
    let got = coffre_env(
        base,
        &["kv", "get", "-field=password", "kv/app"],
        b"",
        &[("VAULT_NAMESPACE", "team-a")],
    );
    assert_eq!(got.ok("get"), "s3cret");
    assert_ne!(
        coffre(base, &["kv", "get", "kv/app"], b"").code,
        0,
        "not in the root namespace"
    );
    assert_ne!(
        coffre_env(
            base,
            &["kv", "get", "kv/app"],
            b"",
            &[("COFFRE_NAMESPACE", "nosuch")]
        )
        .code,
        0
    );

    // Deleting asks for the name back; a parent with children is refused.
    let refused = coffre(base, &["namespace", "delete", "team-a", "--force"], b"");
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("child namespaces"),
        "{}",
        refused.stderr
    );
    let not_confirmed = coffre(
        base,
        &["-n", "team-a", "namespace", "delete", "prod"],
        b"yes\n",
    );
    assert_ne!(not_confirmed.code, 0);
    assert!(
        not_confirmed.stderr.contains("not confirmed"),
        "{}",
        not_confirmed.stderr
    );
    coffre(
        base,
        &["-n", "team-a", "namespace", "delete", "prod"],
        b"prod\n",
    )
    .ok("delete confirmed");
    let deleted = coffre(base, &["namespace", "delete", "-f", "team-a"], b"").ok("delete forced");
    assert!(deleted.contains("key is destroyed"), "{deleted}");
    assert_ne!(
        coffre(base, &["namespace", "lookup", "team-a"], b"").code,
        0
    );
}

/// A 10 req/s limit on team-a, under concurrent load over HTTP: team-a gets 429s with
/// `Retry-After`, team-b none.
#[tokio::test]
async fn a_tenant_rate_limit_under_load_spares_the_other_tenant() {
    use common::Api;
    use common::dev::ROOT;
    use serde_json::json;

    let server = DevServer::start().await;
    let api = Api::new(&server.base).with_token(ROOT);
    for ns in ["team-a", "team-b"] {
        assert_eq!(
            api.post(&format!("sys/namespaces/{ns}"), json!({}))
                .await
                .status,
            200
        );
    }
    let r = api
        .post(
            "sys/quotas/rate-limit/team-a",
            json!({"rate": 10, "path": "team-a/"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let burst = |ns: &'static str| {
        let api = api.clone();
        async move {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..200 {
                let api = api.clone();
                calls.spawn(async move {
                    api.request(
                        "GET",
                        "sys/mounts",
                        common::Body::None,
                        &[("X-Vault-Namespace", ns)],
                    )
                    .await
                });
            }
            calls.join_all().await
        }
    };
    let (a, b) = tokio::join!(burst("team-a"), burst("team-b"));
    let limited: Vec<_> = a.iter().filter(|r| r.status == 429).collect();
    let passed = a.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        limited.len() + passed,
        a.len(),
        "only 200 or 429 for team-a"
    );
    assert!(!limited.is_empty(), "team-a was never limited");
    assert!(limited.iter().all(|r| {
        r.header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1))
    }));
    assert!(
        limited[0].text.contains("rate limit quota exceeded"),
        "{}",
        limited[0].text
    );
    assert!(b.iter().all(|r| r.status == 200), "team-b was limited");
}
