//! The audit log on the real binary: secrets never in the log, denials recorded, fail-closed
//! with an unwritable device, and a chain that verifies across rotation and restarts (also
//! after kill -9) with `coffre audit verify`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Install, Server, init, unseal_ok};
use serde_json::{Value, json};

fn audit_cfg(path: &Path, extra: &str) -> String {
    format!(
        "[[audit]]\ntype = \"file\"\npath = \"{}\"\n{extra}\n",
        path.display()
    )
}

/// Runs the `coffre` CLI; returns (success, stdout, stderr).
fn coffre(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffre"))
        .args(args)
        .env_remove("COFFRE_ADDR")
        .env_remove("VAULT_ADDR")
        .output()
        .expect("run coffre");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The device's files in chain order: rotated ones (`audit.log.<last seq>`, zero-padded so
/// name order is chain order), then the current `audit.log`.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read log dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("audit.log."))
        })
        .collect();
    rotated.sort();
    rotated.push(dir.join("audit.log"));
    rotated
}

#[tokio::test]
async fn the_log_hides_secrets_records_denials_and_verifies() {
    let inst = Install::new();
    let log = inst.root.path().join("audit").join("audit.log");
    let mut server = Server::start_with(
        inst.root.path(),
        &inst.data_dir(),
        &audit_cfg(&log, "checkpoint_every = 5"),
    )
    .await;
    let api = server.api();
    let ir = init(&api, 1, 1).await;
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    let r = root
        .post(
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
    assert_eq!(r.status, 204, "mount: {r}");

    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let r = root
        .post("secret/data/app/db", json!({"data": {"password": canary}}))
        .await;
    assert_eq!(r.status, 200, "write: {r}");
    let r = root.get("secret/data/app/db").await;
    assert_eq!(
        r.json["data"]["data"]["password"],
        json!(canary),
        "read back: {r}"
    );

    let denied = api
        .with_token("hvs.not-a-real-token")
        .get("secret/data/app/db")
        .await;
    assert_eq!(denied.status, 403);

    let r = root
        .put(
            "sys/audit/other",
            json!({"type": "file", "options": {"file_path": "/tmp/x.log"}}),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "API audit creation must be refused by default: {r}"
    );
    assert!(r.text.contains("allow_api_audit_creation"), "{r}");

    let r = root.get("sys/audit").await;
    assert_eq!(
        r.json["file/"]["type"],
        json!("file"),
        "sys/audit list: {r}"
    );

    let r = root
        .post("sys/audit-hash/file", json!({"input": canary}))
        .await;
    let hash = r.json["data"]["hash"].as_str().expect("hash").to_string();
    assert!(hash.starts_with("hmac-sha256:"), "{r}");
    // The CLI takes the value on stdin, never on argv.
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffre"))
        .args(["audit", "hash", "file"])
        .env("COFFRE_ADDR", &server.base)
        .env("COFFRE_TOKEN", &ir.root_token)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run coffre audit hash");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{canary}").expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "coffre audit hash failed");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hash);
    let (ok, _, _) = coffre(&["audit", "hash", "file", "on-the-command-line"]);
    assert!(!ok, "a value on argv must be refused");
    let chain = root.get("sys/audit-chain/file").await;
    let pk = chain.json["data"]["public_key"]
        .as_str()
        .expect("public key")
        .to_string();
    server.stop();

    let text = fs::read_to_string(&log).expect("read audit log");
    assert!(
        !text.contains(&canary),
        "the canary value is in the audit log"
    );
    assert!(
        !text.contains(&ir.root_token),
        "the root token is in the audit log"
    );
    assert!(
        text.contains(&hash),
        "the audit-hash of the canary should appear in the log"
    );
    let denial = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .any(|e| {
            e["type"] == json!("request")
                && e["request"]["path"] == json!("secret/data/app/db")
                && e["error"] == json!("permission denied")
        });
    assert!(denial, "the denied request is not logged with its error");
    assert!(text.contains("\"checkpoint\""), "no checkpoint written");

    let log_s = log.to_str().expect("utf-8 path");
    let (ok, out, err) = coffre(&["audit", "verify", log_s, "--public-key", &pk]);
    assert!(ok, "verify failed: {out}{err}");
    assert!(out.starts_with("OK:"), "{out}");

    let (ok, out, err) = coffre(&[
        "audit",
        "search",
        log_s,
        "--path-prefix",
        "secret/data/app",
        "--operation",
        "read",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.lines().count() >= 3,
        "expected request+response of the read and the denial:\n{out}"
    );

    // Tamper with one entry: verify must fail and name that line.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let victim = lines
        .iter()
        .position(|l| l.contains("secret/data/app/db"))
        .expect("an entry to tamper with");
    lines[victim] = lines[victim].replacen("secret/data/app/db", "secret/data/app/xx", 1);
    let tampered = inst.root.path().join("tampered.log");
    fs::write(&tampered, lines.join("\n") + "\n").expect("write tampered copy");
    let (ok, _, err) = coffre(&[
        "audit",
        "verify",
        tampered.to_str().expect("path"),
        "--public-key",
        &pk,
    ]);
    assert!(!ok, "tampering not detected");
    assert!(
        err.contains(&format!(":{}:", victim + 1)),
        "wrong line reported: {err}"
    );
}

#[tokio::test]
async fn a_request_that_cannot_be_audited_is_refused_and_has_no_effect() {
    let inst = Install::new();
    let log = inst.root.path().join("audit.log");
    let good = audit_cfg(&log, "");

    let mut s1 = Server::start_with(inst.root.path(), &inst.data_dir(), &good).await;
    let api = s1.api();
    let ir = init(&api, 1, 1).await;
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    assert_eq!(
        root.post("sys/mounts/kv1", json!({"type": "kv"}))
            .await
            .status,
        204
    );
    assert_eq!(root.put("kv1/before", json!({"v": "1"})).await.status, 204);
    s1.stop();

    // /dev/full accepts the open and fails every write with ENOSPC.
    let mut s2 = Server::start_with(
        inst.root.path(),
        &inst.data_dir(),
        &audit_cfg(Path::new("/dev/full"), ""),
    )
    .await;
    let api = s2.api();
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    let r = root
        .put("kv1/refused", json!({"v": "must not be stored"}))
        .await;
    assert_eq!(r.status, 500, "write with a failing audit device: {r}");
    assert!(r.text.contains("failed to audit request"), "{r}");
    let r = root.get("kv1/before").await;
    assert_eq!(r.status, 500, "reads are refused too: {r}");
    s2.stop();

    let mut s3 = Server::start_with(inst.root.path(), &inst.data_dir(), &good).await;
    let api = s3.api();
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    assert_eq!(
        root.get("kv1/refused").await.status,
        404,
        "the refused write took effect"
    );
    assert_eq!(root.get("kv1/before").await.status, 200);
    s3.stop();
}

#[tokio::test]
async fn the_chain_verifies_across_rotation_and_restarts() {
    let inst = Install::new();
    let dir = inst.root.path().join("audit");
    let log = dir.join("audit.log");
    let cfg = audit_cfg(&log, "rotate_max_bytes = 4096\ncheckpoint_every = 7");

    let mut s1 = Server::start_with(inst.root.path(), &inst.data_dir(), &cfg).await;
    let api = s1.api();
    let ir = init(&api, 1, 1).await;
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    assert_eq!(
        root.post("sys/mounts/kv1", json!({"type": "kv"}))
            .await
            .status,
        204
    );
    for i in 0..30 {
        assert_eq!(
            root.put(&format!("kv1/a{i}"), json!({"v": i})).await.status,
            204
        );
    }
    // A crash: the chain must continue from what reached the file.
    s1.kill();

    let mut s2 = Server::start_with(inst.root.path(), &inst.data_dir(), &cfg).await;
    let api = s2.api();
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    for i in 0..30 {
        assert_eq!(root.get(&format!("kv1/a{i}")).await.status, 200);
    }
    s2.stop();

    let mut s3 = Server::start_with(inst.root.path(), &inst.data_dir(), &cfg).await;
    let api = s3.api();
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    for i in 0..10 {
        assert_eq!(
            root.put(&format!("kv1/b{i}"), json!({"v": i})).await.status,
            204
        );
    }
    let chain = root.get("sys/audit-chain/file").await;
    let pk = chain.json["data"]["public_key"]
        .as_str()
        .expect("public key")
        .to_string();
    let head = format!(
        "{}:{}",
        chain.json["data"]["seq"].as_u64().expect("seq"),
        chain.json["data"]["head"].as_str().expect("head")
    );
    s3.stop();

    let files = log_files(&dir);
    assert!(
        files.len() >= 3,
        "expected rotation into several files, got {files:?}"
    );
    let mut args: Vec<String> = vec!["audit".into(), "verify".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend([
        "--public-key".into(),
        pk.clone(),
        "--expect-head".into(),
        head.clone(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = coffre(&argv);
    assert!(
        ok,
        "chain across rotation and restarts does not verify: {out}{err}"
    );
    assert!(out.contains("checkpoint signatures verified"), "{out}");

    // Cut the log back to just before the reported head (truncate the file holding it, drop
    // every later file): detected against the expected head.
    let head_hash = head.split(':').nth(1).expect("hash").to_string();
    let mut remaining = Vec::new();
    let mut cut_done = false;
    for f in &files {
        if cut_done {
            fs::remove_file(f).expect("remove later file");
            continue;
        }
        let text = fs::read_to_string(f).expect("read");
        if let Some(pos) = text.lines().position(|l| l.contains(&head_hash)) {
            let kept: String = text.lines().take(pos).map(|l| format!("{l}\n")).collect();
            fs::write(f, kept).expect("truncate");
            cut_done = true;
        }
        remaining.push(f.display().to_string());
    }
    assert!(cut_done, "head entry not found in the files");
    let mut args: Vec<String> = vec!["audit".into(), "verify".into()];
    args.extend(remaining);
    args.extend(["--public-key".into(), pk, "--expect-head".into(), head]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, _, err) = coffre(&argv);
    assert!(!ok, "a cut tail was not detected");
    assert!(err.contains("cut from the end"), "{err}");
}

/// A tenant's export from a real server's log: it verifies with the device's public key,
/// holds nothing of the other tenant's requests (paths, data or their HMACs), and an edited,
/// dropped or reordered entry of the tenant's is caught and named.
#[tokio::test]
async fn a_tenant_export_verifies_and_reveals_no_other_tenant() {
    let inst = Install::new();
    let log = inst.root.path().join("audit").join("audit.log");
    let mut server = Server::start_with(
        inst.root.path(),
        &inst.data_dir(),
        &audit_cfg(&log, "checkpoint_every = 7"),
    )
    .await;
    let api = server.api();
    let ir = init(&api, 1, 1).await;
    unseal_ok(&api, &ir.keys[..1]).await;
    let root = api.with_token(&ir.root_token);
    for ns in ["team-a", "team-b"] {
        assert_eq!(
            root.post(&format!("sys/namespaces/{ns}"), json!({}))
                .await
                .status,
            200
        );
        let r = root
            .post(&format!("{ns}/sys/mounts/kv"), json!({"type": "kv-v2"}))
            .await;
        assert_eq!(r.status, 204, "{r}");
    }
    for i in 0..6 {
        for (ns, secret) in [("team-a", "alpha-path"), ("team-b", "bravo-path")] {
            let r = root
                .post(
                    &format!("{ns}/kv/data/{secret}-{i}"),
                    json!({"data": {"v": format!("{ns}-{i}")}}),
                )
                .await;
            assert_eq!(r.status, 200, "{r}");
        }
    }
    let chain = root.get("sys/audit-chain/file").await;
    let pk = chain.json["data"]["public_key"]
        .as_str()
        .expect("public key")
        .to_string();
    server.stop(); // a final checkpoint seals the tail

    let logs: Vec<String> = log_files(log.parent().expect("dir"))
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec![
        "audit",
        "export",
        "--namespace",
        "team-a",
        "--public-key",
        &pk,
    ];
    args.extend(logs.iter().map(String::as_str));
    let (ok, export, err) = coffre(&args);
    assert!(ok, "export: {err}");
    assert!(
        export.contains("alpha-path-5"),
        "team-a's own entries are in it"
    );
    let source = fs::read_to_string(&log).expect("log");
    // Nothing of team-b's: not its paths, not the HMACs of its data, not its namespace.
    let b_values: Vec<String> = source
        .lines()
        .filter(|l| l.contains("bravo-path"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            v.pointer("/request/data/data/v")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    assert!(
        !b_values.is_empty(),
        "team-b's data HMACs are in the source log"
    );
    for leak in ["bravo-path", "team-b"]
        .iter()
        .map(|s| s.to_string())
        .chain(b_values)
    {
        assert!(
            !export.contains(&leak),
            "{leak} leaked into team-a's export"
        );
    }

    let dir = inst.root.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        fs::write(&p, text).expect("write export");
        p.display().to_string()
    };
    let good = write("team-a.jsonl", &export);
    let (ok, out, err) = coffre(&["audit", "verify", &good, "--public-key", &pk]);
    assert!(ok && out.starts_with("OK: export of team-a/"), "{out}{err}");
    assert!(
        !out.contains("not signed"),
        "the final checkpoint covers every entry: {out}"
    );

    let lines: Vec<&str> = export.lines().collect();
    let own: Vec<usize> = (1..lines.len())
        .filter(|&i| lines[i].contains("alpha-path"))
        .collect();
    let seq_of = |line: &str| {
        serde_json::from_str::<Value>(line).expect("json")["seq"]
            .as_u64()
            .expect("seq")
    };
    let edit = |f: &dyn Fn(&mut Vec<String>)| {
        let mut ls: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        f(&mut ls);
        ls.join("\n") + "\n"
    };
    let target = own[2];
    let seq = seq_of(lines[target]);
    for (name, text) in [
        (
            "edited",
            edit(&|ls| ls[target] = ls[target].replace("alpha-path", "alpha-pathX")),
        ),
        (
            "dropped",
            edit(&|ls| {
                ls.remove(target);
            }),
        ),
        ("reordered", edit(&|ls| ls.swap(target, target + 1))),
    ] {
        let p = write(&format!("{name}.jsonl"), &text);
        let (ok, _, err) = coffre(&["audit", "verify", &p, "--public-key", &pk]);
        assert!(!ok && err.starts_with("TAMPERED"), "{name}: {err}");
        assert!(
            err.contains(&format!("entry {seq}")) || err.contains(&format!("entry {}", seq + 1)),
            "{name} names the entry: {err}"
        );
    }
    // A tampered source log is refused at export time, with its line.
    let tampered = source.replacen("alpha-path-1", "alpha-path-9", 1);
    let src = write("tampered.log", &tampered);
    let (ok, _, err) = coffre(&["audit", "export", "--namespace", "team-a", &src]);
    assert!(
        !ok && err.contains("TAMPERED") && err.contains("tampered.log:"),
        "{err}"
    );
}
