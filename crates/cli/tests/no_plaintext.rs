//! Secrets at rest: neither a written secret value nor the root token (nor the unseal shares) may
//! appear in any file of the data dir, in any obvious encoding.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::*;
use serde_json::json;

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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Returns (file, offset, needle label) for every hit.
fn scan(dir: &Path, needles: &[(String, Vec<u8>)]) -> (Vec<String>, usize, u64) {
    let mut files = Vec::new();
    all_files(dir, &mut files);
    let mut hits = Vec::new();
    let mut total = 0u64;
    for f in &files {
        let bytes = fs::read(f).expect("read data file");
        total += bytes.len() as u64;
        for (label, n) in needles {
            if let Some(off) = find(&bytes, n) {
                hits.push(format!("{label} found in {} at offset {off}", f.display()));
            }
        }
    }
    (hits, files.len(), total)
}

#[test]
fn scanner_finds_plaintext() {
    // Self-test of the scanner so a silent scanner bug cannot make the real test pass.
    let d = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(d.path().join("a/b")).expect("mkdir");
    fs::write(
        d.path().join("a/b/f.bin"),
        b"\x00\x01prefix-CANARY123-suffix",
    )
    .expect("write");
    let (hits, nfiles, _) = scan(d.path(), &[("c".into(), b"CANARY123".to_vec())]);
    assert_eq!(nfiles, 1);
    assert_eq!(hits.len(), 1, "{hits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_at_rest() {
    let inst = Install::new();
    let mut server = inst.start().await;
    let (ir, root) = init_unseal_mount(&server, 5, 3).await;

    let canary = uuid::Uuid::new_v4().simple().to_string(); // 32 random hex chars
    let key_tag = format!(
        "zz-canary-key-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );

    // small value
    let r = root
        .put(&format!("kv1/{key_tag}/small"), json!({"secret": canary}))
        .await;
    assert_eq!(r.status, 204, "PUT small canary: {r}");
    // large value (overflow pages), canary in the middle, then overwritten (old copy freed)
    let big = format!("{}{canary}{}", "x".repeat(40_000), "y".repeat(40_000));
    let r = root
        .put(&format!("kv1/{key_tag}/big"), json!({"blob": big}))
        .await;
    assert_eq!(r.status, 204, "PUT big canary: {r}");
    let r = root
        .put(
            &format!("kv1/{key_tag}/big"),
            json!({"blob": big, "rev": 2}),
        )
        .await;
    assert_eq!(r.status, 204, "PUT big canary rev 2: {r}");
    // written then deleted (must not linger in free pages either)
    let r = root
        .put(&format!("kv1/{key_tag}/deleted"), json!({"gone": canary}))
        .await;
    assert_eq!(r.status, 204, "PUT deleted canary: {r}");
    let r = root.delete(&format!("kv1/{key_tag}/deleted")).await;
    assert_eq!(r.status, 204, "DELETE canary: {r}");
    // many keys so that the store actually grows past trivial size
    for i in 0..50 {
        let r = root
            .put(
                &format!("kv1/{key_tag}/many/{i}"),
                json!({"i": i, "secret": canary}),
            )
            .await;
        assert_eq!(r.status, 204, "PUT many/{i}: {r}");
    }

    // The canary is really there through the API (otherwise the scan proves nothing).
    let r = root.get(&format!("kv1/{key_tag}/small")).await;
    assert_eq!(r.status, 200, "GET small: {r}");
    assert_eq!(
        r.json["data"]["secret"],
        json!(canary),
        "canary not readable via API: {r}"
    );
    let r = root.get(&format!("kv1/{key_tag}/big")).await;
    assert_eq!(
        r.json["data"]["blob"],
        json!(big),
        "big canary not readable via API"
    );

    // Stop cleanly (SIGTERM; SIGKILL after 10 s), then scan the raw bytes of every file.
    server.stop();
    let data_dir = inst.data_dir();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("canary value".into(), canary.as_bytes().to_vec()),
        (
            "canary value (base64)".into(),
            b64.encode(canary.as_bytes()).into_bytes(),
        ),
        (
            "canary value (hex-decoded bytes)".into(),
            hex::decode(&canary).expect("hex"),
        ),
        ("root token".into(), ir.root_token.as_bytes().to_vec()),
        (
            "root token (base64)".into(),
            b64.encode(ir.root_token.as_bytes()).into_bytes(),
        ),
    ];
    // the part of the token after a `hvs.`-style prefix
    if let Some((_, tail)) = ir.root_token.split_once('.')
        && tail.len() >= 16
    {
        needles.push((
            "root token (without prefix)".into(),
            tail.as_bytes().to_vec(),
        ));
    }
    for (i, (h, b)) in ir.keys.iter().zip(&ir.keys_base64).enumerate() {
        needles.push((format!("unseal share {i} (hex)"), h.as_bytes().to_vec()));
        needles.push((format!("unseal share {i} (base64)"), b.as_bytes().to_vec()));
        needles.push((
            format!("unseal share {i} (raw bytes)"),
            hex::decode(h).expect("hex share"),
        ));
    }
    let (hits, nfiles, total) = scan(&data_dir, &needles);
    eprintln!(
        "scanned {nfiles} files, {total} bytes under {}",
        data_dir.display()
    );
    // informational only: key names may legitimately be stored in clear (Vault does)
    let (name_hits, _, _) = scan(
        &data_dir,
        &[("key name".into(), key_tag.as_bytes().to_vec())],
    );
    eprintln!(
        "info: secret key path `{key_tag}` {} in the data dir",
        if name_hits.is_empty() {
            "does not appear"
        } else {
            "appears in clear"
        }
    );
    let log = server.log();
    assert!(
        !log.contains(&canary),
        "the canary secret value appears in the server log"
    );
    for (i, share) in ir.keys.iter().enumerate() {
        assert!(
            !log.contains(share.as_str()),
            "unseal share {i} appears in the server log"
        );
    }
    assert!(
        !log.contains(&ir.root_token),
        "the root token appears in the server log"
    );
    assert!(
        nfiles > 0 && total > 0,
        "data dir is empty: nothing was persisted?"
    );
    assert!(
        hits.is_empty(),
        "plaintext secrets found at rest:\n  {}",
        hits.join("\n  ")
    );

    // Prove the scanned files really hold the data: restart, unseal, read the canary back.
    let server2 = inst.start().await;
    let api = server2.api();
    unseal_ok(&api, &[&ir.keys[1], &ir.keys[3], &ir.keys[4]]).await;
    let r = api
        .with_token(&ir.root_token)
        .get(&format!("kv1/{key_tag}/small"))
        .await;
    assert_eq!(r.status, 200, "GET small after restart: {r}");
    assert_eq!(
        r.json["data"]["secret"],
        json!(canary),
        "canary lost after restart: {r}"
    );
    let r = api
        .with_token(&ir.root_token)
        .get(&format!("kv1/{key_tag}/deleted"))
        .await;
    assert_eq!(r.status, 404, "deleted canary came back after restart: {r}");
}
