//! Vault's root-protected paths need `sudo` on top of the operation's capability. A token whose
//! policy grants every other capability everywhere is refused on each of them, however the
//! path is spelled; a token with `sudo` gets past the check.

mod common;

use coffre_core::{Core, CoreConfig, ErrorKind, Operation, Request};

/// A policy granting `caps` on every path.
fn everywhere(caps: &str) -> String {
    format!(r#"path "*" {{ capabilities = [{caps}] }}"#)
}

/// Vault's root paths (OpenBao `PathsSpecial.Root` of the system and token backends), with a
/// concrete path under each prefix entry.
const SUDO_PATHS: &[&str] = &[
    "sys/audit",
    "sys/audit/file",
    "sys/auth/userpass",
    "sys/auth/userpass/tune",
    "sys/remount",
    "sys/rotate",
    "sys/rotate/keyring",
    "sys/rotate/root",
    "sys/config/cors",
    "sys/config/auditing/request-headers/x",
    "sys/leases",
    "sys/leases/lookup/x",
    "sys/leases/revoke-prefix/x",
    "sys/leases/revoke-force/x",
    "sys/revoke-prefix/x",
    "sys/revoke-force/x",
    "sys/plugins/catalog/x",
    "sys/raw/core/mounts",
    "sys/seal",
    "sys/step-down",
    "auth/token/accessors",
    "auth/token/accessors/",
    "auth/token/revoke-orphan",
];

fn spellings(path: &str) -> Vec<String> {
    vec![
        path.to_string(),
        format!("/{path}"),
        format!("//{path}"),
        path.replacen('/', "//", 1),
        format!("{path}/"),
    ]
}

#[tokio::test]
async fn every_sudo_path_refuses_a_token_without_sudo_however_spelled() {
    let core = Core::new(
        std::sync::Arc::new(coffre_storage::InMemoryBackend::new()),
        CoreConfig::default(),
    );
    let (_share, root) = core.dev_init(None).await.expect("init");
    let all_but_sudo = common::token_with(
        &core,
        &root,
        "all-but-sudo",
        &everywhere(r#""create","read","update","delete","list","patch""#),
    )
    .await;
    let with_sudo = common::token_with(
        &core,
        &root,
        "with-sudo",
        &everywhere(r#""create","read","update","delete","list","patch","sudo""#),
    )
    .await;
    for path in SUDO_PATHS {
        for spelled in spellings(path) {
            for op in [
                Operation::Read,
                Operation::Update,
                Operation::Delete,
                Operation::List,
            ] {
                let req = Request::new(op, spelled.clone()).with_token(&all_but_sudo);
                match core.handle(req).await {
                    Err(e) if e.kind() == ErrorKind::PermissionDenied => {}
                    other => panic!(
                        "{op:?} {spelled:?} without sudo: expected 403, got {:?}",
                        other.map(|r| r.map(|_| "response"))
                    ),
                }
            }
        }
        // With sudo the check passes (the handler may still answer 4xx for other reasons).
        let req = Request::new(Operation::Read, path.to_string()).with_token(&with_sudo);
        if let Err(e) = core.handle(req).await {
            assert_ne!(
                e.kind(),
                ErrorKind::PermissionDenied,
                "read {path} with sudo was refused: {e}"
            );
        }
    }
}
