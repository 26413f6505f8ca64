//! Tokens, policies and KV v2 secrets written through the `coffre` CLI survive a server
//! restart (SIGKILL, then a new process on the same data dir), and none of the secrets
//! (secret values, tokens, policy text) is stored in plaintext in the data dir.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Runs the `coffre` binary as a client of `base` with `token`, without any VAULT_* / COFFRE_*
/// setting inherited from the environment.
fn coffre(base: &str, token: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffre"));
    for var in [
        "VAULT_ADDR",
        "VAULT_TOKEN",
        "VAULT_CACERT",
        "VAULT_SKIP_VERIFY",
        "COFFRE_CACERT",
        "COFFRE_SKIP_VERIFY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("COFFRE_ADDR", base)
        .env("COFFRE_TOKEN", token)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run coffre")
}

fn show(args: &[&str], out: &Output) -> String {
    format!(
        "coffre {}: {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `coffre` and asserts exit code 0; returns stdout.
fn coffre_ok(base: &str, token: &str, args: &[&str]) -> String {
    let out = coffre(base, token, args);
    assert!(out.status.success(), "{}", show(args, &out));
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Like [`coffre_ok`] with `--format json`, parsed.
fn coffre_json(base: &str, token: &str, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let text = coffre_ok(base, token, &all);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("coffre {args:?}: not JSON ({e}): {text}"))
}

/// `coffre_ok`, retrying for a few seconds while a freshly enabled KV v2 mount is still being
/// set up (the server answers 400 "Upgrading…" meanwhile).
fn coffre_ok_retry(base: &str, token: &str, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = coffre(base, token, args);
        if out.status.success() {
            return String::from_utf8(out.stdout).expect("utf-8 stdout");
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("Upgrading") || Instant::now() > deadline {
            panic!("{}", show(args, &out));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        let ft = e.file_type().expect("file_type");
        if ft.is_dir() {
            all_files(&p, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

/// Every (needle label, file) where the needle's raw bytes occur; and the number of files.
fn scan(dir: &Path, needles: &[(&str, &str)]) -> (Vec<String>, usize) {
    let mut files = Vec::new();
    all_files(dir, &mut files);
    let mut hits = Vec::new();
    for f in &files {
        let bytes = fs::read(f).expect("read data file");
        for (label, needle) in needles {
            assert!(!needle.is_empty(), "empty needle {label}");
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(format!("{label} found in {}", f.display()));
            }
        }
    }
    (hits, files.len())
}

#[test]
fn scanner_finds_needles() {
    // Self-test, so that a broken scanner cannot make the real check pass.
    let d = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(d.path().join("a/b")).expect("mkdir");
    fs::write(d.path().join("a/b/f.bin"), b"\x00\x01xx-NEEDLE-42-yy").expect("write");
    fs::write(d.path().join("g.bin"), b"nothing here").expect("write");
    let (hits, files) = scan(d.path(), &[("n", "NEEDLE-42"), ("m", "absent")]);
    assert_eq!(files, 2);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].starts_with("n found in "), "{hits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_state_survives_restart_and_is_not_stored_in_plaintext() {
    let inst = Install::new();
    let mut server = inst.start().await;
    let api = server.api();
    let ir = init(&api, 1, 1).await;
    unseal_ok(&api, &ir.keys).await;
    let root = ir.root_token.clone();

    let tag = uuid::Uuid::new_v4().simple().to_string();
    let canary1 = format!("canary-one-{tag}");
    let canary2 = format!("canary-two-{tag}");
    let policy_name = "persist-app";
    let policy_marker = format!("policy-marker-{tag}");
    let policy_text = format!(
        "# {policy_marker}\n\
         path \"kv2/data/*\" {{\n  capabilities = [\"create\", \"read\", \"update\"]\n}}\n\
         path \"kv2/metadata/*\" {{\n  capabilities = [\"create\", \"read\", \"update\", \"list\"]\n}}\n"
    );

    // --- First run: write everything through the CLI.
    let base = server.base.clone();
    let policy_file = inst.root.path().join("persist-app.hcl");
    fs::write(&policy_file, &policy_text).expect("write policy file");
    let out = coffre_ok(
        &base,
        &root,
        &[
            "policy",
            "write",
            policy_name,
            policy_file.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        out.contains("Success! Uploaded policy: persist-app"),
        "{out}"
    );

    let created = coffre_json(
        &base,
        &root,
        &[
            "token",
            "create",
            "--policy",
            policy_name,
            "--ttl",
            "2h",
            "--metadata",
            "purpose=persistence",
        ],
    );
    let token = created["auth"]["client_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no client_token: {created}"))
        .to_string();
    let accessor = created["auth"]["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    assert!(
        created["auth"]["policies"]
            .as_array()
            .is_some_and(|p| p.contains(&json!(policy_name))),
        "{created}"
    );

    // Table output of token create shows the token fields.
    let table = coffre_ok(&base, &root, &["token", "create", "--policy", policy_name]);
    for row in [
        "token ",
        "token_accessor",
        "token_duration",
        "token_renewable",
        "token_policies",
    ] {
        assert!(
            table.contains(row),
            "no {row:?} in token create output:\n{table}"
        );
    }

    // KV v2 mount with options (the CLI's `write` sends strings only).
    let r = api
        .with_token(&root)
        .post(
            "sys/mounts/kv2",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert!(r.status == 204 || r.status == 200, "mount kv2: {r}");

    // Two versions, written with the new (policy-limited) token.
    let v1 = format!("secret={canary1}");
    let v2 = format!("secret={canary2}");
    let out = coffre_ok_retry(&base, &token, &["kv", "put", "kv2/app/config", &v1]);
    assert!(
        out.contains("== Secret Path ==") && out.contains("kv2/data/app/config"),
        "{out}"
    );
    let w2 = coffre_json(
        &base,
        &token,
        &["kv", "put", "--cas", "1", "kv2/app/config", &v2],
    );
    assert_eq!(w2["data"]["version"], json!(2), "{w2}");
    let out = coffre_ok(
        &base,
        &token,
        &[
            "kv",
            "metadata",
            "put",
            "--custom-metadata",
            "owner=team",
            "kv2/app/config",
        ],
    );
    assert!(out.contains("Success!"), "{out}");
    // Sanity before the restart.
    let got = coffre_ok(
        &base,
        &token,
        &["kv", "get", "--field", "secret", "kv2/app/config"],
    );
    assert_eq!(got.trim_end(), canary2);

    // --- Kill the server (no clean shutdown) and start a new one on the same data dir.
    server.kill();
    let mut server2 = inst.start().await;
    let api2 = server2.api();
    let st = api2.seal_status().await;
    assert_eq!(
        st["sealed"],
        json!(true),
        "restarted server not sealed: {st}"
    );
    unseal_ok(&api2, &ir.keys).await;
    let base = server2.base.clone();

    // The created token still works and still has its policy.
    let looked = coffre_json(&base, &token, &["token", "lookup"]);
    assert_eq!(looked["data"]["id"], json!(token), "{looked}");
    assert_eq!(looked["data"]["accessor"], json!(accessor), "{looked}");
    assert!(
        looked["data"]["policies"]
            .as_array()
            .is_some_and(|p| p.contains(&json!(policy_name))),
        "{looked}"
    );
    assert_eq!(
        looked["data"]["meta"]["purpose"],
        json!("persistence"),
        "{looked}"
    );
    let table = coffre_ok(&base, &token, &["token", "lookup"]);
    assert!(table.contains(policy_name), "{table}");

    // The root token too, and the policy reads back verbatim.
    let read = coffre_ok(&base, &root, &["policy", "read", policy_name]);
    assert_eq!(read.trim_end(), policy_text.trim_end());
    let list = coffre_ok(&base, &root, &["policy", "list"]);
    assert!(list.lines().any(|l| l == policy_name), "{list}");

    // Latest version is 2 with the second canary; version 1 has the first.
    let latest = coffre_json(&base, &token, &["kv", "get", "kv2/app/config"]);
    assert_eq!(latest["data"]["data"]["secret"], json!(canary2), "{latest}");
    assert_eq!(latest["data"]["metadata"]["version"], json!(2), "{latest}");
    assert_eq!(
        latest["data"]["metadata"]["custom_metadata"],
        json!({"owner": "team"}),
        "{latest}"
    );
    let table = coffre_ok(&base, &token, &["kv", "get", "kv2/app/config"]);
    let meta_at = table
        .find("====== Metadata ======")
        .expect("metadata section");
    let data_at = table.find("====== Data ======").expect("data section");
    assert!(meta_at < data_at, "{table}");
    assert!(table.contains(&canary2), "{table}");
    let first = coffre_ok(
        &base,
        &token,
        &[
            "kv",
            "get",
            "--version",
            "1",
            "--field",
            "secret",
            "kv2/app/config",
        ],
    );
    assert_eq!(first.trim_end(), canary1);
    let first_json = coffre_json(
        &base,
        &token,
        &["kv", "get", "-version=1", "kv2/app/config"],
    );
    assert_eq!(
        first_json["data"]["metadata"]["version"],
        json!(1),
        "{first_json}"
    );

    // Metadata: custom metadata and both versions.
    let meta = coffre_json(&base, &token, &["kv", "metadata", "get", "kv2/app/config"]);
    assert_eq!(
        meta["data"]["custom_metadata"],
        json!({"owner": "team"}),
        "{meta}"
    );
    assert_eq!(meta["data"]["current_version"], json!(2), "{meta}");
    let versions = meta["data"]["versions"].as_object().expect("versions");
    assert_eq!(versions.len(), 2, "{meta}");
    assert!(
        versions.contains_key("1") && versions.contains_key("2"),
        "{meta}"
    );
    let table = coffre_ok(&base, &token, &["kv", "metadata", "get", "kv2/app/config"]);
    assert!(table.contains("====== Version 2 ======"), "{table}");

    // Errors go to stderr with exit code 1.
    let out = coffre(&base, &token, &["policy", "read", "no-such-policy"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        show(&["policy read"], &out)
    );
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Error"));

    // --- Stop the server and look for the secrets in the raw files of the data dir.
    server2.stop();
    let needles = [
        ("canary value v1", canary1.as_str()),
        ("canary value v2", canary2.as_str()),
        ("created token", token.as_str()),
        ("root token", root.as_str()),
        ("policy text", policy_text.as_str()),
        ("policy marker", policy_marker.as_str()),
    ];
    let (hits, files) = scan(&inst.data_dir(), &needles);
    assert!(files > 0, "no file in the data dir");
    assert!(
        hits.is_empty(),
        "plaintext secrets in the data dir:\n{}",
        hits.join("\n")
    );
}
