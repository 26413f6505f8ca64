//! `coffre transit …` on the real binary against a dev server: key management, stdin/stdout
//! encryption round-trips (binary data included), rotation, sign/verify exit codes, data keys.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::Api;
use common::dev::{DevServer, ROOT, coffre};
use serde_json::{Value, json};
use std::process::Command;

/// Encrypts `plaintext` read from stdin; returns the ciphertext line (checked to be one line).
fn encrypt(base: &str, key: &str, plaintext: &[u8]) -> String {
    let out = coffre(base, &["transit", "encrypt", key], plaintext).ok("encrypt");
    assert!(out.ends_with('\n'), "{out:?}");
    assert_eq!(out.lines().count(), 1, "{out:?}");
    out.trim_end().to_string()
}

/// Decrypts a ciphertext read from stdin (with the newline a pipe would carry).
fn decrypt(base: &str, key: &str, ciphertext: &str) -> Vec<u8> {
    let out = coffre(
        base,
        &["transit", "decrypt", key],
        format!("{ciphertext}\n").as_bytes(),
    );
    assert_eq!(out.code, 0, "decrypt: {out:?}");
    out.stdout
}

/// The value column of a `Key  Value` table row.
fn row<'a>(table: &'a str, key: &str) -> Option<&'a str> {
    table.lines().find_map(|l| {
        l.strip_prefix(key)
            .filter(|rest| rest.starts_with("  "))
            .map(str::trim)
    })
}

#[tokio::test]
async fn transit_commands_end_to_end() {
    let server = DevServer::start().await;
    let base = server.base.as_str();
    let api = Api::new(base).with_token(ROOT);
    let r = api
        .post("sys/mounts/transit", json!({"type": "transit"}))
        .await;
    assert!(r.status == 204 || r.status == 200, "mount transit: {r}");

    // Keys: create an AES key.
    let out = coffre(base, &["transit", "keys", "create", "aes"], b"").ok("create aes");
    assert_eq!(row(&out, "type"), Some("aes256-gcm96"), "{out}");
    assert_eq!(row(&out, "latest_version"), Some("1"), "{out}");

    // Encrypt from stdin, decrypt back: text, binary (not UTF-8), empty-ish edge bytes.
    let samples: [&[u8]; 3] = [
        b"hello transit",
        &[0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3, 0x28, b'\r', b'\n'],
        b"trailing newline\n",
    ];
    let mut v1_ciphertexts = Vec::new();
    for sample in samples {
        let ct = encrypt(base, "aes", sample);
        assert!(ct.starts_with("vault:v1:"), "{ct}");
        assert_eq!(decrypt(base, "aes", &ct), sample);
        v1_ciphertexts.push((ct, sample));
    }

    // Plaintext and ciphertext as arguments, `-` for stdin.
    let ct = coffre(base, &["transit", "encrypt", "aes", "as an argument"], b"")
        .ok("encrypt arg")
        .trim_end()
        .to_string();
    let out = coffre(base, &["transit", "decrypt", "aes", &ct], b"");
    assert_eq!(out.stdout, b"as an argument", "{out:?}");
    let ct = coffre(base, &["transit", "encrypt", "aes", "-"], b"dash")
        .ok("encrypt -")
        .trim_end()
        .to_string();
    let out = coffre(base, &["transit", "decrypt", "aes", "-"], ct.as_bytes());
    assert_eq!(out.stdout, b"dash", "{out:?}");

    // A real shell pipeline.
    let bin = env!("CARGO_BIN_EXE_coffre");
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf secret | '{bin}' transit encrypt aes | '{bin}' transit decrypt aes"
        ))
        .env("COFFRE_ADDR", base)
        .env("COFFRE_TOKEN", ROOT)
        .output()
        .expect("sh pipeline");
    assert!(piped.status.success(), "{piped:?}");
    assert_eq!(piped.stdout, b"secret");

    // --format json prints the server's response.
    let out = coffre(
        base,
        &["--format", "json", "transit", "encrypt", "aes", "x"],
        b"",
    )
    .ok("encrypt json");
    let resp: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(resp["data"]["key_version"], json!(1), "{out}");

    // A tampered ciphertext is an error: exit 1, message on stderr, nothing on stdout.
    let (ct0, _) = &v1_ciphertexts[0];
    let tampered = format!("{}AAAA", ct0.trim_end_matches('='));
    let out = coffre(base, &["transit", "decrypt", "aes", &tampered], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.starts_with("Error: "), "{out:?}");

    // Rotate: old ciphertexts still decrypt, new ones use v2.
    let out = coffre(base, &["transit", "keys", "rotate", "aes"], b"").ok("rotate");
    assert_eq!(row(&out, "latest_version"), Some("2"), "{out}");
    for (ct, sample) in &v1_ciphertexts {
        assert_eq!(decrypt(base, "aes", ct), *sample);
    }
    let ct2 = encrypt(base, "aes", b"after rotation");
    assert!(ct2.starts_with("vault:v2:"), "{ct2}");
    assert_eq!(decrypt(base, "aes", &ct2), b"after rotation");
    let ct_v1 = coffre(
        base,
        &["transit", "encrypt", "aes", "old", "--key-version", "1"],
        b"",
    )
    .ok("encrypt --key-version");
    assert!(ct_v1.starts_with("vault:v1:"), "{ct_v1}");
    let out = coffre(base, &["transit", "keys", "read", "aes"], b"").ok("read");
    for (k, v) in [
        ("name", "aes"),
        ("type", "aes256-gcm96"),
        ("latest_version", "2"),
        ("min_decryption_version", "1"),
        ("min_encryption_version", "0"),
        ("deletion_allowed", "false"),
        ("exportable", "false"),
    ] {
        assert_eq!(row(&out, k), Some(v), "{k}: {out}");
    }
    for v in ["version 1", "version 2"] {
        let created = row(&out, v).unwrap_or_else(|| panic!("{v}: {out}"));
        assert!(created.starts_with("20") && created.ends_with('Z'), "{out}");
    }

    // Ed25519: sign, verify (exit 0), tampered input (exit 2).
    coffre(
        base,
        &["transit", "keys", "create", "ed", "--type", "ed25519"],
        b"",
    )
    .ok("create ed");
    let message: &[u8] = b"signed \xff message";
    let sig = coffre(base, &["transit", "sign", "ed"], message).ok("sign");
    assert_eq!(sig.lines().count(), 1, "{sig:?}");
    let sig = sig.trim_end();
    assert!(sig.starts_with("vault:v1:"), "{sig}");
    let out = coffre(
        base,
        &["transit", "verify", "ed", "--signature", sig],
        message,
    );
    assert_eq!((out.code, out.text().as_str()), (0, "valid\n"), "{out:?}");
    let out = coffre(
        base,
        &["transit", "verify", "ed", "-", "--signature", sig],
        b"signed \xff messagE",
    );
    assert_eq!((out.code, out.text().as_str()), (2, "invalid\n"), "{out:?}");
    let text_sig = coffre(base, &["transit", "sign", "ed", "hello"], b"")
        .ok("sign arg")
        .trim_end()
        .to_string();
    let out = coffre(
        base,
        &["transit", "verify", "ed", "hello", "--signature", &text_sig],
        b"",
    );
    assert_eq!(out.code, 0, "{out:?}");
    let out = coffre(
        base,
        &[
            "--format",
            "json",
            "transit",
            "verify",
            "ed",
            "hellO",
            "--signature",
            &text_sig,
        ],
        b"",
    );
    assert_eq!(out.code, 2, "{out:?}");
    let resp: Value = serde_json::from_slice(&out.stdout).expect("verify json");
    assert_eq!(resp["data"]["valid"], json!(false));
    // A malformed signature is an error (1), not "invalid".
    let out = coffre(
        base,
        &["transit", "verify", "ed", "x", "--signature", "nope"],
        b"",
    );
    assert_eq!(out.code, 1, "{out:?}");

    // Data keys: the wrapped key decrypts to the plaintext key.
    let out = coffre(
        base,
        &["--format", "json", "transit", "datakey", "aes", "plaintext"],
        b"",
    )
    .ok("datakey plaintext");
    let resp: Value = serde_json::from_str(&out).expect("datakey json");
    let wrapped = resp["data"]["ciphertext"].as_str().expect("ciphertext");
    let key = STANDARD
        .decode(resp["data"]["plaintext"].as_str().expect("plaintext"))
        .expect("base64 key");
    assert_eq!(key.len(), 32);
    assert_eq!(decrypt(base, "aes", wrapped), key);

    let out = coffre(
        base,
        &["transit", "datakey", "aes", "wrapped", "--bits", "512"],
        b"",
    )
    .ok("datakey wrapped");
    assert!(row(&out, "plaintext").is_none(), "{out}");
    let wrapped = row(&out, "ciphertext").expect("ciphertext row");
    assert!(wrapped.starts_with("vault:v2:"), "{out}");
    assert_eq!(decrypt(base, "aes", wrapped).len(), 64);

    let out = coffre(base, &["transit", "datakey", "aes"], b"").ok("datakey table");
    let plain = STANDARD
        .decode(row(&out, "plaintext").expect("plaintext row"))
        .expect("base64");
    let wrapped = row(&out, "ciphertext").expect("ciphertext row");
    assert_eq!(decrypt(base, "aes", wrapped), plain);

    // List shows both keys.
    let out = coffre(base, &["transit", "keys", "list"], b"").ok("list");
    let names: Vec<&str> = out.lines().collect();
    assert!(names.contains(&"aes") && names.contains(&"ed"), "{out}");

    // Delete needs deletion_allowed.
    let out = coffre(base, &["transit", "keys", "delete", "aes"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("deletion is not allowed"), "{out:?}");
    let out = coffre(
        base,
        &[
            "transit",
            "keys",
            "config",
            "aes",
            "--deletion-allowed",
            "true",
        ],
        b"",
    )
    .ok("config");
    assert_eq!(row(&out, "deletion_allowed"), Some("true"), "{out}");
    let out = coffre(base, &["transit", "keys", "delete", "aes"], b"").ok("delete");
    assert!(out.starts_with("Success! Deleted key"), "{out}");
    let out = coffre(base, &["transit", "keys", "list"], b"").ok("list after delete");
    assert_eq!(out, "ed\n");
    let out = coffre(base, &["transit", "keys", "read", "aes"], b"");
    assert_eq!(out.code, 1, "{out:?}");
}
