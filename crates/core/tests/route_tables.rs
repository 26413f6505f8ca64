//! What the pipeline takes from the backends' route tables, the same for every backend: 404 for
//! an undeclared path, 405 for an undeclared operation, 400 for a field of the wrong type, a
//! warning for an undeclared field, help for any valid token, and the unauthenticated class.

mod common;

use coffre_core::{Core, CoreConfig, Error, ErrorKind, Operation, Request, Response};
use serde_json::{Value, json};

async fn core_with_root() -> (Core, String) {
    let core = Core::new(
        std::sync::Arc::new(coffre_storage::InMemoryBackend::new()),
        CoreConfig::default(),
    );
    let (_share, root) = core.dev_init(None).await.expect("init");
    for (path, kind) in [
        ("sys/mounts/transit", "transit"),
        ("sys/mounts/kv", "kv-v2"),
    ] {
        core.handle(
            Request::new(Operation::Update, path)
                .with_token(&root)
                .with_data(common::obj(json!({ "type": kind }))),
        )
        .await
        .expect("mount");
    }
    (core, root)
}

async fn call(
    core: &Core,
    token: Option<&str>,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Option<Response>, Error> {
    let mut req = Request::new(op, path).with_data(common::obj(data));
    if let Some(t) = token {
        req = req.with_token(t);
    }
    core.handle(req).await
}

fn kind(r: Result<Option<Response>, Error>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

#[tokio::test]
async fn undeclared_paths_operations_and_bad_fields_are_refused_alike_in_every_backend() {
    let (core, root) = core_with_root().await;
    let t = Some(root.as_str());
    for path in ["transit/nope", "kv/data/", "sys/nope", "auth/token/nope"] {
        let r = call(&core, t, Operation::Read, path, json!({})).await;
        assert_eq!(kind(r), Some(ErrorKind::NotFound), "{path}");
    }
    for (op, path) in [
        (Operation::Read, "transit/encrypt/k"),
        (Operation::Delete, "kv/config"),
        (Operation::Read, "sys/rotate"),
        (Operation::Delete, "auth/token/create"),
    ] {
        let r = call(&core, t, op, path, json!({})).await;
        assert_eq!(
            kind(r),
            Some(ErrorKind::UnsupportedOperation),
            "{op:?} {path}"
        );
    }
    for (path, data) in [
        ("transit/keys/k", json!({"exportable": "maybe"})),
        ("kv/config", json!({"max_versions": "many"})),
        ("sys/mounts/x", json!({"type": "kv", "config": "not a map"})),
        ("auth/token/create", json!({"ttl": "soon"})),
    ] {
        let r = call(&core, t, Operation::Update, path, data).await;
        let err = r.expect_err(path);
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{path}: {err}");
        assert!(err.to_string().contains("Field validation failed"), "{err}");
    }
    let resp = call(
        &core,
        t,
        Operation::Update,
        "kv/data/a",
        json!({"data": {"x": 1}, "bogus": 1}),
    )
    .await
    .expect("write")
    .expect("body");
    assert_eq!(
        resp.warnings,
        ["Endpoint ignored these unrecognized parameters: [bogus]"]
    );
}

#[tokio::test]
async fn help_is_open_to_any_valid_token_and_rendered_from_the_table() {
    let (core, root) = core_with_root().await;
    let nobody = common::token_with(
        &core,
        &root,
        "nothing",
        r#"path "x" { capabilities = ["deny"] }"#,
    )
    .await;
    let help = |token: Option<String>, path: &'static str| {
        let core = &core;
        async move { call(core, token.as_deref(), Operation::Help, path, json!({})).await }
    };
    let resp = help(Some(nobody.clone()), "transit/keys/k")
        .await
        .expect("help")
        .expect("body");
    let data = resp.data.expect("data");
    let text = data["help"].as_str().expect("text");
    assert!(text.contains("Matching Route: keys/{name}"), "{text}");
    assert!(text.contains("exportable (bool)"), "{text}");
    assert!(data["openapi"]["paths"]["/transit/keys/{name}"].is_object());
    // A mount's root lists its paths; sys/ and auth/token/ have help like any backend.
    for path in ["kv/", "sys/mounts", "auth/token/create"] {
        let r = help(Some(nobody.clone()), path).await.expect(path);
        assert!(r.and_then(|r| r.data).is_some(), "{path}");
    }
    assert_eq!(
        kind(help(None, "transit/keys/k").await),
        Some(ErrorKind::PermissionDenied)
    );
    assert_eq!(
        kind(help(Some(root.clone()), "transit/nope").await),
        Some(ErrorKind::NotFound)
    );
}

#[tokio::test]
async fn an_unauthenticated_path_needs_no_token_and_its_handler_sees_the_caller() {
    let (core, root) = core_with_root().await;
    let anonymous = call(
        &core,
        None,
        Operation::Read,
        "sys/internal/ui/mounts",
        json!({}),
    )
    .await
    .expect("anonymous")
    .expect("body")
    .data
    .expect("data");
    assert_eq!(
        anonymous["secret"],
        json!({}),
        "nothing listed to anonymous"
    );
    let as_root = call(
        &core,
        Some(&root),
        Operation::Read,
        "sys/internal/ui/mounts",
        json!({}),
    )
    .await
    .expect("root")
    .expect("body")
    .data
    .expect("data");
    assert!(as_root["secret"]["transit/"].is_object());
    // A token that is sent is checked, as OpenBao does; one mount needs a caller.
    let bad = call(
        &core,
        Some("bogus"),
        Operation::Read,
        "sys/internal/ui/mounts",
        json!({}),
    )
    .await;
    assert_eq!(kind(bad), Some(ErrorKind::PermissionDenied));
    let one = call(
        &core,
        None,
        Operation::Read,
        "sys/internal/ui/mounts/kv",
        json!({}),
    )
    .await;
    assert_eq!(kind(one), Some(ErrorKind::PermissionDenied));
    // Every other path still needs a token.
    let r = call(&core, None, Operation::Read, "sys/mounts", json!({})).await;
    assert_eq!(kind(r), Some(ErrorKind::PermissionDenied));
}
