//! Namespaces as tenants, through the core's API: the header and path-prefix forms, a tenant's
//! own mounts, policies and tokens, isolation between tenants, and crypto-shredding.

mod common;

use std::sync::Arc;

use coffre_core::{Core, CoreConfig, ErrorKind, Operation, Request, Response};
use coffre_storage::{Backend, InMemoryBackend};
use serde_json::{Value, json};

use common::obj;

struct Fx {
    core: Core,
    backend: Arc<InMemoryBackend>,
    share: String,
    root: String,
}

impl Fx {
    async fn new() -> Fx {
        let backend = Arc::new(InMemoryBackend::new());
        let core = Core::new(backend.clone(), CoreConfig::default());
        let (share, root) = core.dev_init(None).await.expect("init");
        Fx {
            core,
            backend,
            share: hex::encode(share.expose()),
            root,
        }
    }

    async fn call(
        &self,
        token: &str,
        ns: &str,
        op: Operation,
        path: &str,
        data: Value,
    ) -> coffre_core::Result<Option<Response>> {
        self.core
            .handle(
                Request::new(op, path)
                    .with_token(token)
                    .in_namespace(ns)
                    .with_data(obj(data)),
            )
            .await
    }

    async fn ok(&self, token: &str, ns: &str, op: Operation, path: &str, data: Value) -> Value {
        match self.call(token, ns, op, path, data).await {
            Ok(Some(r)) => Value::Object(r.data.unwrap_or_default()),
            Ok(None) => panic!("{op:?} {ns}|{path}: 404"),
            Err(e) => panic!("{op:?} {ns}|{path}: {e}"),
        }
    }

    async fn kind(&self, token: &str, ns: &str, op: Operation, path: &str) -> Option<ErrorKind> {
        match self.call(token, ns, op, path, json!({})).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(ErrorKind::NotFound),
            Err(e) => Some(e.kind()),
        }
    }

    /// Creates namespace `name` in `parent`, mounts KV v2 at `kv/` in it and writes one secret.
    async fn tenant(&self, parent: &str, name: &str, secret: &str) {
        self.ok(
            &self.root,
            parent,
            Operation::Update,
            &format!("sys/namespaces/{name}"),
            json!({}),
        )
        .await;
        let ns = format!("{parent}/{name}");
        self.ok(
            &self.root,
            &ns,
            Operation::Update,
            "sys/mounts/kv",
            json!({"type": "kv-v2"}),
        )
        .await;
        self.ok(
            &self.root,
            &ns,
            Operation::Update,
            "kv/data/app",
            json!({"data": {"secret": secret}}),
        )
        .await;
    }

    /// A token created in namespace `ns` with a policy (written in `ns`) granting `caps` on
    /// every path there.
    async fn token_in(&self, ns: &str, caps: &str) -> String {
        self.ok(
            &self.root,
            ns,
            Operation::Update,
            "sys/policies/acl/all",
            json!({"policy": format!(r#"path "*" {{ capabilities = [{caps}] }}"#)}),
        )
        .await;
        let r = self
            .call(
                &self.root,
                ns,
                Operation::Update,
                "auth/token/create",
                json!({"policies": ["all"]}),
            )
            .await
            .expect("create")
            .expect("response");
        r.auth.expect("auth")["client_token"]
            .as_str()
            .expect("token")
            .to_string()
    }
}

const ALL: &str = r#""create","read","update","delete","list","patch","sudo""#;

#[tokio::test]
async fn namespaces_are_created_listed_read_patched_and_deleted() {
    let fx = Fx::new().await;
    let created = fx
        .ok(
            &fx.root,
            "",
            Operation::Update,
            "sys/namespaces/team-a",
            json!({"custom_metadata": {"owner": "alice"}}),
        )
        .await;
    assert_eq!(created["path"], "team-a/");
    assert_eq!(created["custom_metadata"], json!({"owner": "alice"}));
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 6);
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "sys/namespaces/prod",
        json!({}),
    )
    .await;

    let listed = fx
        .ok(&fx.root, "", Operation::List, "sys/namespaces/", json!({}))
        .await;
    assert_eq!(listed["keys"], json!(["team-a/"]));
    let nested = fx
        .ok(
            &fx.root,
            "team-a",
            Operation::List,
            "sys/namespaces/",
            json!({}),
        )
        .await;
    assert_eq!(nested["keys"], json!(["prod/"]));
    // The path-prefix form names the same namespace.
    let nested = fx
        .ok(
            &fx.root,
            "",
            Operation::List,
            "team-a/sys/namespaces/",
            json!({}),
        )
        .await;
    assert_eq!(nested["keys"], json!(["prod/"]));
    assert_eq!(nested["key_info"]["prod/"]["path"], "team-a/prod/");

    let patched = fx
        .ok(
            &fx.root,
            "",
            Operation::Patch,
            "sys/namespaces/team-a",
            json!({"custom_metadata": {"owner": null, "tier": "gold"}}),
        )
        .await;
    assert_eq!(patched["custom_metadata"], json!({"tier": "gold"}));
    let read = fx
        .ok(
            &fx.root,
            "",
            Operation::Read,
            "sys/namespaces/team-a",
            json!({}),
        )
        .await;
    assert_eq!(
        (read["id"].as_str(), &read["custom_metadata"]),
        (Some(id.as_str()), &json!({"tier": "gold"}))
    );

    // A namespace with children is not deleted; a leaf is.
    assert_eq!(
        fx.kind(&fx.root, "", Operation::Delete, "sys/namespaces/team-a")
            .await,
        Some(ErrorKind::InvalidRequest)
    );
    let deleted = fx
        .ok(
            &fx.root,
            "team-a",
            Operation::Delete,
            "sys/namespaces/prod",
            json!({}),
        )
        .await;
    assert_eq!(deleted["status"], "in-progress");
    assert_eq!(
        fx.kind(&fx.root, "team-a/prod", Operation::Read, "sys/mounts")
            .await,
        Some(ErrorKind::NotFound)
    );
    fx.ok(
        &fx.root,
        "",
        Operation::Delete,
        "sys/namespaces/team-a",
        json!({}),
    )
    .await;
    assert_eq!(
        fx.kind(&fx.root, "", Operation::List, "sys/namespaces/")
            .await,
        Some(ErrorKind::NotFound)
    );

    for bad in ["sys", "a/b", "..", "a b", "x*", "root"] {
        assert_eq!(
            fx.kind(
                &fx.root,
                "",
                Operation::Update,
                &format!("sys/namespaces/{bad}")
            )
            .await,
            Some(ErrorKind::InvalidRequest),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_namespace_is_a_404_never_the_root() {
    let fx = Fx::new().await;
    for ns in ["nosuch", "nosuch/deeper", "team-a"] {
        assert_eq!(
            fx.kind(&fx.root, ns, Operation::Read, "sys/mounts").await,
            Some(ErrorKind::NotFound),
            "{ns}"
        );
    }
    // Dot and empty segments are refused, not resolved to something else; a name no
    // namespace could have is not found (OpenBao's answer).
    for ns in ["../", "a/../b", "a/./b", "a//b", "team-a/.."] {
        assert_eq!(
            fx.kind(&fx.root, ns, Operation::Read, "sys/mounts").await,
            Some(ErrorKind::InvalidRequest),
            "{ns}"
        );
    }
    for ns in ["a%2Fb", "sys", "team-a.", "a b"] {
        assert_eq!(
            fx.kind(&fx.root, ns, Operation::Read, "sys/mounts").await,
            Some(ErrorKind::NotFound),
            "{ns}"
        );
    }
    // `root` and "" both name the root namespace.
    assert_eq!(
        fx.kind(&fx.root, "root", Operation::Read, "sys/mounts")
            .await,
        None
    );
}

#[tokio::test]
async fn each_tenant_has_its_own_mounts_data_policies_and_tokens() {
    let fx = Fx::new().await;
    fx.tenant("", "team-a", "a-secret").await;
    fx.tenant("", "team-b", "b-secret").await;

    // Header and path-prefix forms reach the same data; the root has no `kv/` mount.
    let via_header = fx
        .ok(
            &fx.root,
            "team-a",
            Operation::Read,
            "kv/data/app",
            json!({}),
        )
        .await;
    let via_prefix = fx
        .ok(
            &fx.root,
            "",
            Operation::Read,
            "team-a/kv/data/app",
            json!({}),
        )
        .await;
    assert_eq!(via_header["data"], json!({"secret": "a-secret"}));
    assert_eq!(via_prefix["data"], via_header["data"]);
    let b = fx
        .ok(
            &fx.root,
            "team-b",
            Operation::Read,
            "kv/data/app",
            json!({}),
        )
        .await;
    assert_eq!(b["data"], json!({"secret": "b-secret"}));
    assert_eq!(
        fx.kind(&fx.root, "", Operation::Read, "kv/data/app").await,
        Some(ErrorKind::NotFound)
    );
    let mounts = fx
        .ok(&fx.root, "team-a", Operation::Read, "sys/mounts", json!({}))
        .await;
    assert!(
        mounts.get("kv/").is_some() && mounts.get("secret/").is_none(),
        "{mounts}"
    );

    // A tenant's token carries its namespace and works only there.
    let a = fx.token_in("team-a", ALL).await;
    let a_id = fx
        .ok(
            &fx.root,
            "",
            Operation::Read,
            "sys/namespaces/team-a",
            json!({}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(a.ends_with(&format!(".{a_id}")), "{a}");
    let me = fx
        .ok(
            &a,
            "team-a",
            Operation::Read,
            "auth/token/lookup-self",
            json!({}),
        )
        .await;
    assert_eq!(me["policies"], json!(["all", "default"]));
    assert!(
        fx.kind(&a, "team-a", Operation::Read, "kv/data/app")
            .await
            .is_none()
    );

    let denied = Some(ErrorKind::PermissionDenied);
    for (ns, path) in [
        ("team-b", "kv/data/app"),
        ("", "team-b/kv/data/app"),
        ("", "kv/data/app"),
        ("", "sys/mounts"),
        ("", "sys/policies/acl/all"),
        ("team-b", "sys/mounts"),
        ("team-b", "sys/policies/acl/all"),
        ("team-b", "auth/token/accessors"),
        ("", "team-b/auth/token/create"),
        ("team-b", "sys/namespaces/"),
        ("", "sys/namespaces/team-b"),
    ] {
        for op in [
            Operation::Read,
            Operation::List,
            Operation::Update,
            Operation::Delete,
        ] {
            assert_eq!(
                fx.kind(&a, ns, op, path).await,
                denied,
                "{op:?} {ns}|{path}"
            );
        }
    }
    // Server-wide sys/ paths do not exist inside a namespace, whatever the tenant's policy.
    for (op, path) in [
        (Operation::Read, "sys/audit"),
        (Operation::Update, "sys/audit/mine"),
        (Operation::Delete, "sys/audit/mine"),
        (Operation::Update, "sys/audit-hash/file"),
        (Operation::Read, "sys/audit-chain/file"),
        (Operation::Update, "sys/rotate"),
        (Operation::Update, "sys/rotate/keyring"),
        (Operation::Read, "sys/key-status"),
    ] {
        for (t, ns, p) in [
            (&a, "team-a", path.to_string()),
            (&fx.root, "", format!("team-a/{path}")),
        ] {
            assert_eq!(
                fx.kind(t, ns, op, &p).await,
                Some(ErrorKind::NotFound),
                "{op:?} {ns}|{p}"
            );
        }
    }
    // The token of another tenant is not found in this one's store.
    let b_token = fx.token_in("team-b", ALL).await;
    assert_eq!(
        fx.kind(&b_token, "team-a", Operation::Read, "kv/data/app")
            .await,
        denied
    );
}

#[tokio::test]
async fn a_root_namespace_policy_reaches_the_child_paths_it_names_and_nothing_else() {
    let fx = Fx::new().await;
    fx.tenant("", "team-a", "a-secret").await;
    fx.tenant("", "team-b", "b-secret").await;
    let t = common::token_with(
        &fx.core,
        &fx.root,
        "team-a-only",
        r#"path "team-a/*" { capabilities = ["read", "list"] }"#,
    )
    .await;
    let read = fx
        .ok(&t, "team-a", Operation::Read, "kv/data/app", json!({}))
        .await;
    assert_eq!(read["data"], json!({"secret": "a-secret"}));
    let read = fx
        .ok(&t, "", Operation::Read, "team-a/kv/data/app", json!({}))
        .await;
    assert_eq!(read["data"], json!({"secret": "a-secret"}));
    let denied = Some(ErrorKind::PermissionDenied);
    assert_eq!(
        fx.kind(&t, "team-a", Operation::Update, "kv/data/app")
            .await,
        denied
    );
    assert_eq!(
        fx.kind(&t, "team-b", Operation::Read, "kv/data/app").await,
        denied
    );
    assert_eq!(
        fx.kind(&t, "", Operation::Read, "team-b/kv/data/app").await,
        denied
    );
    assert_eq!(fx.kind(&t, "", Operation::Read, "sys/mounts").await, denied);
    let caps = fx
        .ok(
            &t,
            "",
            Operation::Update,
            "sys/capabilities-self",
            json!({"paths": ["team-a/kv/data/app"]}),
        )
        .await;
    assert_eq!(caps["capabilities"], json!(["list", "read"]));
}

/// Everything stored, as a backup of the storage would hold it.
async fn snapshot(backend: &InMemoryBackend) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for key in backend.scan("").await.expect("scan") {
        if let Some(v) = backend.get(&key).await.expect("get") {
            out.push((key, v));
        }
    }
    out
}

#[tokio::test]
async fn a_deleted_namespace_cannot_be_read_from_a_copy_made_before_with_the_current_keys() {
    let fx = Fx::new().await;
    fx.tenant("", "team-a", "a-secret").await;
    fx.tenant("", "team-b", "b-secret").await;
    let a_id = fx
        .ok(
            &fx.root,
            "",
            Operation::Read,
            "sys/namespaces/team-a",
            json!({}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let before = snapshot(&fx.backend).await;
    assert!(
        before
            .iter()
            .any(|(k, _)| k.starts_with(&format!("namespaces/{a_id}/logical/"))),
        "team-a's secret is in the copy"
    );

    fx.ok(
        &fx.root,
        "",
        Operation::Delete,
        "sys/namespaces/team-a",
        json!({}),
    )
    .await;
    let after = snapshot(&fx.backend).await;
    let current = |key: &str| after.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());

    // The copy from before, with the keys of now (the keyring and the namespace key table).
    let restored = Arc::new(InMemoryBackend::new());
    for (k, v) in &before {
        restored.put(k, v.clone()).await.expect("put");
    }
    for key in ["core/keyring", "core/namespace-keys"] {
        restored
            .put(key, current(key).expect(key))
            .await
            .expect("put");
    }
    let core = Core::new(restored, CoreConfig::default());
    core.unseal(&fx.share).await.expect("unseal the copy");
    let read = |ns: &'static str| {
        let root = fx.root.clone();
        let core = &core;
        async move {
            core.handle(
                Request::new(Operation::Read, "kv/data/app")
                    .with_token(root)
                    .in_namespace(ns),
            )
            .await
        }
    };
    let b = read("team-b").await.expect("team-b").expect("data");
    assert_eq!(b.data.expect("data")["data"], json!({"secret": "b-secret"}));
    // team-a's entry is in the copy, but no key decrypts its data: the namespace is gone.
    assert_eq!(
        read("team-a").await.err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
}

#[tokio::test]
async fn max_secrets_caps_what_a_namespace_stores() {
    let fx = Fx::new().await;
    fx.ok(
        &fx.root,
        "",
        Operation::Update,
        "sys/namespaces/team-a",
        json!({"max_secrets": 3}),
    )
    .await;
    for (path, body) in [
        ("sys/mounts/kv", json!({"type": "kv-v2"})),
        ("sys/mounts/kv1", json!({"type": "kv"})),
        ("kv/data/a", json!({"data": {"v": "1"}})),
        ("kv1/b", json!({"v": "1"})),
    ] {
        fx.ok(&fx.root, "team-a", Operation::Update, path, body)
            .await;
    }
    let read = fx
        .ok(
            &fx.root,
            "",
            Operation::Read,
            "sys/namespaces/team-a",
            json!({}),
        )
        .await;
    assert_eq!(read["max_secrets"], 3);
    // A third secret fits; a fourth does not, in either engine, nor as bare metadata.
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv/data/c",
        json!({"data": {"v": "1"}}),
    )
    .await;
    let full = Some(ErrorKind::TooManyRequests);
    for (path, body) in [
        ("kv/data/d", json!({"data": {"v": "1"}})),
        ("kv/metadata/d", json!({"max_versions": 2})),
        ("kv1/d", json!({"v": "1"})),
    ] {
        let e = fx
            .call(&fx.root, "team-a", Operation::Update, path, body)
            .await
            .err();
        assert_eq!(e.as_ref().map(|e| e.kind()), full, "{path}: {e:?}");
        assert!(e.is_some_and(|e| e.to_string().contains("max_secrets")));
    }
    // New versions of a stored secret are not new secrets.
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv/data/a",
        json!({"data": {"v": "2"}}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv1/b",
        json!({"v": "2"}),
    )
    .await;
    // Deleting makes room (KV v2: the metadata; a soft delete keeps the secret).
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Delete,
        "kv/data/a",
        json!({}),
    )
    .await;
    assert_eq!(
        fx.call(
            &fx.root,
            "team-a",
            Operation::Update,
            "kv1/d",
            json!({"v": "1"})
        )
        .await
        .err()
        .map(|e| e.kind()),
        full
    );
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Delete,
        "kv/metadata/a",
        json!({}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv1/d",
        json!({"v": "1"}),
    )
    .await;
    fx.ok(&fx.root, "team-a", Operation::Delete, "kv1/b", json!({}))
        .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv/data/e",
        json!({"data": {"v": "1"}}),
    )
    .await;
    // The count survives a seal (it is taken again at unseal), and the root is not capped.
    fx.core.seal(Some(&fx.root)).await.expect("seal");
    fx.core.unseal(&fx.share).await.expect("unseal");
    let e = fx
        .call(
            &fx.root,
            "team-a",
            Operation::Update,
            "kv/data/f",
            json!({"data": {}}),
        )
        .await
        .err();
    assert_eq!(e.map(|e| e.kind()), full);
    // Raising or lifting the cap (by the parent) makes room.
    fx.ok(
        &fx.root,
        "",
        Operation::Patch,
        "sys/namespaces/team-a",
        json!({"max_secrets": 4}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv/data/f",
        json!({"data": {"v": "1"}}),
    )
    .await;
    assert_eq!(
        fx.call(
            &fx.root,
            "team-a",
            Operation::Update,
            "kv/data/g",
            json!({"data": {"v": "1"}})
        )
        .await
        .err()
        .map(|e| e.kind()),
        full
    );
    fx.ok(
        &fx.root,
        "",
        Operation::Patch,
        "sys/namespaces/team-a",
        json!({"max_secrets": 0}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv/data/g",
        json!({"data": {"v": "1"}}),
    )
    .await;
    let read = fx
        .ok(
            &fx.root,
            "",
            Operation::Read,
            "sys/namespaces/team-a",
            json!({}),
        )
        .await;
    assert!(read.get("max_secrets").is_none(), "{read}");
    // The namespace cannot raise its own cap: sys/namespaces/team-a is its parent's path.
    assert_eq!(
        fx.kind(&fx.root, "team-a", Operation::Read, "sys/namespaces/team-a")
            .await,
        Some(ErrorKind::NotFound)
    );
}

/// A token of the root namespace creating a token in a tenant: only with sudo, only with the
/// tenant's policies named, never `root`, and never outliving the creator, whose child it is.
#[tokio::test]
async fn tokens_made_for_a_tenant_from_above_are_bounded() {
    let fx = Fx::new().await;
    fx.ok(
        &fx.root,
        "",
        Operation::Update,
        "sys/namespaces/team-a",
        json!({}),
    )
    .await;
    let make = |caps: &'static str| {
        let fx = &fx;
        async move {
            fx.ok(&fx.root, "", Operation::Update, "sys/policies/acl/maker",
                  json!({"policy": format!(r#"path "team-a/auth/token/create" {{ capabilities = [{caps}] }}"#)}))
                .await;
            let r = fx
                .call(
                    &fx.root,
                    "",
                    Operation::Update,
                    "auth/token/create",
                    json!({"policies": ["maker"], "ttl": "10m"}),
                )
                .await
                .expect("create")
                .expect("response");
            r.auth.expect("auth")["client_token"]
                .as_str()
                .expect("token")
                .to_string()
        }
    };
    let plain = make(r#""create","update""#).await;
    assert_eq!(
        fx.kind(&plain, "team-a", Operation::Update, "auth/token/create")
            .await,
        Some(ErrorKind::PermissionDenied),
        "no sudo"
    );
    let sudo = make(r#""create","update","sudo""#).await;
    assert_eq!(
        fx.kind(&sudo, "team-a", Operation::Update, "auth/token/create")
            .await,
        Some(ErrorKind::InvalidRequest),
        "the caller's policy names mean nothing in team-a"
    );
    let r = fx
        .call(
            &sudo,
            "team-a",
            Operation::Update,
            "auth/token/create",
            json!({"policies": ["default"], "ttl": "24h"}),
        )
        .await
        .expect("create")
        .expect("response");
    let auth = r.auth.expect("auth");
    assert!(
        auth["lease_duration"].as_u64().is_some_and(|t| t <= 600),
        "{auth:?}"
    );
    assert_eq!(auth["orphan"], false);
    assert_eq!(
        fx.call(
            &sudo,
            "team-a",
            Operation::Update,
            "auth/token/create",
            json!({"policies": ["root"]}),
        )
        .await
        .err()
        .map(|e| e.kind()),
        Some(ErrorKind::InvalidRequest),
        "no root token from above"
    );
}

/// A token made for a namespace below is its creator's child across the stores: revoking the
/// creator revokes it and its own children; `revoke-orphan` leaves them standing.
#[tokio::test]
async fn a_tree_of_tokens_spans_namespaces() {
    let fx = Fx::new().await;
    fx.tenant("", "team-a", "a-secret").await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "sys/namespaces/prod",
        json!({}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "sys/policies/acl/all",
        json!({"policy": format!(r#"path "*" {{ capabilities = [{ALL}] }}"#)}),
    )
    .await;
    fx.ok(
        &fx.root,
        "",
        Operation::Update,
        "sys/policies/acl/all",
        json!({"policy": format!(r#"path "*" {{ capabilities = [{ALL}] }}"#)}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a/prod",
        Operation::Update,
        "sys/policies/acl/all",
        json!({"policy": format!(r#"path "*" {{ capabilities = [{ALL}] }}"#)}),
    )
    .await;
    let token = |r: Option<Response>| -> String {
        r.expect("response").auth.expect("auth")["client_token"]
            .as_str()
            .expect("token")
            .to_string()
    };
    let create = |parent: String, ns: &'static str| {
        let fx = &fx;
        async move {
            token(
                fx.call(
                    &parent,
                    ns,
                    Operation::Update,
                    "auth/token/create",
                    json!({"policies": ["all"]}),
                )
                .await
                .expect("create"),
            )
        }
    };
    let works = |t: String| {
        let fx = &fx;
        async move {
            fx.kind(&t, "team-a", Operation::Read, "auth/token/lookup-self")
                .await
                .is_none()
        }
    };

    // root → admin (root namespace, sudo) → a (team-a) → a2 (team-a) and p (team-a/prod).
    for round in ["cascade", "orphan"] {
        let admin = create(fx.root.clone(), "").await;
        let a = create(admin.clone(), "team-a").await;
        let a2 = create(a.clone(), "team-a").await;
        let p = create(a.clone(), "team-a/prod").await;
        let looked = fx
            .ok(
                &a,
                "team-a",
                Operation::Read,
                "auth/token/lookup-self",
                json!({}),
            )
            .await;
        assert_eq!(looked["orphan"], false, "{round}");
        for t in [&a, &a2, &p] {
            assert!(works(t.clone()).await, "{round}: {t} works");
        }
        if round == "cascade" {
            fx.ok(
                &admin,
                "",
                Operation::Update,
                "auth/token/revoke-self",
                json!({}),
            )
            .await;
            for t in [&a, &a2, &p] {
                assert!(
                    !works(t.clone()).await,
                    "{round}: {t} revoked with its ancestor"
                );
            }
            // They are gone from their stores, not merely refused.
            for ns in ["team-a", "team-a/prod"] {
                let left = fx
                    .call(
                        &fx.root,
                        ns,
                        Operation::List,
                        "auth/token/accessors",
                        json!({}),
                    )
                    .await
                    .expect("list")
                    .and_then(|r| r.data)
                    .unwrap_or_default();
                assert!(
                    left.get("keys").is_none_or(|k| k == &json!([])),
                    "{ns}: {left:?}"
                );
            }
        } else {
            fx.ok(
                &fx.root,
                "",
                Operation::Update,
                "auth/token/revoke-orphan",
                json!({"token": admin}),
            )
            .await;
            assert!(!works(admin.clone()).await);
            let looked = fx
                .ok(
                    &a,
                    "team-a",
                    Operation::Read,
                    "auth/token/lookup-self",
                    json!({}),
                )
                .await;
            assert_eq!(looked["orphan"], true, "orphaned");
            for t in [&a, &a2, &p] {
                assert!(works(t.clone()).await, "{round}: {t} still works");
            }
            // team-a's tree goes on below: revoking a reaches prod.
            fx.ok(
                &a,
                "team-a",
                Operation::Update,
                "auth/token/revoke-self",
                json!({}),
            )
            .await;
            for t in [&a, &a2, &p] {
                assert!(!works(t.clone()).await, "{round}: {t} revoked");
            }
        }
    }
}

/// A cap counts the namespaces below too; disabling a mount or deleting a child frees room.
#[tokio::test]
async fn max_secrets_counts_the_namespaces_below() {
    let fx = Fx::new().await;
    fx.ok(
        &fx.root,
        "",
        Operation::Update,
        "sys/namespaces/team-a",
        json!({"max_secrets": 2}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "sys/namespaces/child",
        json!({}),
    )
    .await;
    for ns in ["team-a", "team-a/child"] {
        fx.ok(
            &fx.root,
            ns,
            Operation::Update,
            "sys/mounts/kv1",
            json!({"type": "kv"}),
        )
        .await;
        fx.ok(&fx.root, ns, Operation::Update, "kv1/a", json!({"v": "1"}))
            .await;
    }
    let full = Some(ErrorKind::TooManyRequests);
    for ns in ["team-a", "team-a/child"] {
        let e = fx
            .call(&fx.root, ns, Operation::Update, "kv1/b", json!({"v": "1"}))
            .await;
        assert_eq!(e.err().map(|e| e.kind()), full, "{ns}");
    }
    // Disabling the child's mount frees its secret's place.
    fx.ok(
        &fx.root,
        "team-a/child",
        Operation::Delete,
        "sys/mounts/kv1",
        json!({}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv1/b",
        json!({"v": "1"}),
    )
    .await;
    let e = fx
        .call(
            &fx.root,
            "team-a",
            Operation::Update,
            "kv1/c",
            json!({"v": "1"}),
        )
        .await;
    assert_eq!(e.err().map(|e| e.kind()), full);
    // Counted again at unseal, children included.
    fx.ok(
        &fx.root,
        "team-a/child",
        Operation::Update,
        "sys/mounts/kv2",
        json!({"type": "kv-v2"}),
    )
    .await;
    fx.ok(
        &fx.root,
        "",
        Operation::Patch,
        "sys/namespaces/team-a",
        json!({"max_secrets": 3}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a/child",
        Operation::Update,
        "kv2/data/x",
        json!({"data": {"v": "1"}}),
    )
    .await;
    fx.core.seal(Some(&fx.root)).await.expect("seal");
    fx.core.unseal(&fx.share).await.expect("unseal");
    let e = fx
        .call(
            &fx.root,
            "team-a",
            Operation::Update,
            "kv1/c",
            json!({"v": "1"}),
        )
        .await;
    assert_eq!(e.err().map(|e| e.kind()), full);
    // Deleting the child frees what it held.
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Delete,
        "sys/namespaces/child",
        json!({}),
    )
    .await;
    fx.ok(
        &fx.root,
        "team-a",
        Operation::Update,
        "kv1/c",
        json!({"v": "1"}),
    )
    .await;
}

#[tokio::test]
async fn token_paths_go_to_the_namespace_of_the_token_they_concern() {
    let fx = Fx::new().await;
    fx.tenant("", "team-a", "a-secret").await;
    fx.tenant("", "team-b", "b-secret").await;
    let a = fx.token_in("team-a", r#""read""#).await;
    let b = fx.token_in("team-b", ALL).await;

    // A token looks itself up wherever the request is sent (OpenBao routes -self paths to
    // the token's namespace): its own data, not the other tenant's.
    for (ns, path) in [
        ("team-b", "auth/token/lookup-self"),
        ("", "team-b/auth/token/lookup-self"),
        ("", "auth/token/lookup-self"),
    ] {
        let me = fx.ok(&a, ns, Operation::Read, path, json!({})).await;
        assert_eq!(me["namespace_path"], "team-a/", "{ns}|{path}");
    }
    // Naming another namespace's token sends the request there, where the ACL decides: the
    // root token reaches it from the root namespace, team-b's token does not.
    let looked = fx
        .ok(
            &fx.root,
            "",
            Operation::Update,
            "auth/token/lookup",
            json!({"token": a}),
        )
        .await;
    assert_eq!(looked["namespace_path"], "team-a/");
    assert_eq!(
        fx.call(
            &b,
            "team-b",
            Operation::Update,
            "auth/token/lookup",
            json!({"token": a})
        )
        .await
        .err()
        .map(|e| e.kind()),
        Some(ErrorKind::PermissionDenied)
    );
    assert_eq!(
        fx.call(
            &b,
            "team-b",
            Operation::Update,
            "auth/token/revoke",
            json!({"token": a})
        )
        .await
        .err()
        .map(|e| e.kind()),
        Some(ErrorKind::PermissionDenied)
    );
    assert!(
        fx.kind(&a, "team-a", Operation::Read, "kv/data/app")
            .await
            .is_none(),
        "team-b could not revoke it"
    );
    fx.call(
        &fx.root,
        "",
        Operation::Update,
        "auth/token/revoke",
        json!({"token": a}),
    )
    .await
    .expect("revoked from the root namespace");
    assert_eq!(
        fx.kind(&a, "team-a", Operation::Read, "kv/data/app").await,
        Some(ErrorKind::PermissionDenied)
    );
}

/// Children made in a namespace below while their parent is being revoked: none survives,
/// in the store below or anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_child_below_survives_a_concurrent_revocation_of_its_parent() {
    let fx = Arc::new(Fx::new().await);
    fx.ok(
        &fx.root,
        "",
        Operation::Update,
        "sys/namespaces/team-a",
        json!({}),
    )
    .await;
    fx.ok(
        &fx.root,
        "",
        Operation::Update,
        "sys/policies/acl/maker",
        json!({"policy": r#"path "team-a/auth/token/create" { capabilities = ["update", "sudo"] }
path "auth/token/revoke-self" { capabilities = ["update"] }"#}),
    )
    .await;
    for round in 0..10 {
        let r = fx
            .call(
                &fx.root,
                "",
                Operation::Update,
                "auth/token/create",
                json!({"policies": ["maker"]}),
            )
            .await
            .expect("create")
            .expect("response");
        let parent = r.auth.expect("auth")["client_token"]
            .as_str()
            .expect("token")
            .to_string();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (fx, parent) = (fx.clone(), parent.clone());
            tasks.spawn(async move {
                let _ = fx
                    .call(
                        &parent,
                        "team-a",
                        Operation::Update,
                        "auth/token/create",
                        json!({"policies": ["default"]}),
                    )
                    .await;
            });
        }
        let (revoker, token) = (fx.clone(), parent.clone());
        tasks.spawn(async move {
            revoker
                .ok(
                    &token,
                    "",
                    Operation::Update,
                    "auth/token/revoke-self",
                    json!({}),
                )
                .await;
        });
        while tasks.join_next().await.is_some() {}
        let left = fx
            .call(
                &fx.root,
                "team-a",
                Operation::List,
                "auth/token/accessors",
                json!({}),
            )
            .await
            .expect("list")
            .and_then(|r| r.data)
            .unwrap_or_default();
        assert!(
            left.get("keys").is_none_or(|k| k == &json!([])),
            "round {round}: {left:?}"
        );
    }
}
