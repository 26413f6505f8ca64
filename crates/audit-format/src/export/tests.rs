use serde_json::{Map, Value, json};

use super::*;
use crate::chain::{ChainHead, LogFile, checkpoint_message};
use coffre_crypto::AuditSigningKey;

const A: NamespaceUuid = [0xa1; 16];
const B: NamespaceUuid = [0xb2; 16];

fn uuid_text(u: &NamespaceUuid) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn entry(i: u64, ns: Option<(&str, &NamespaceUuid)>) -> String {
    let mut request = json!({"path": format!("secret/data/s{i}"), "id": format!("req-{i}")});
    if let Some((path, u)) = ns {
        request["namespace"] = json!({"id": "x", "path": path, "uuid": uuid_text(u)});
    }
    json!({"type": "request", "time": format!("t{i}"), "request": request}).to_string()
}

/// A log mixing team-a, team-b and root entries, a signed checkpoint every 4 entries.
fn log(key: &AuditSigningKey, n: u64) -> String {
    let mut head = ChainHead::genesis();
    let mut text = String::new();
    for i in 0..n {
        let (body, ns) = match i % 3 {
            0 => (entry(i, Some(("team-a/", &A))), A),
            1 => (entry(i, Some(("team-b/", &B))), B),
            _ => (entry(i, None), ROOT_NAMESPACE),
        };
        text.push_str(&head.append(&body, &ns));
        text.push('\n');
        if (i + 1) % 4 == 0 {
            let sig = key.sign(&checkpoint_message(head.seq, &head.hash));
            let mut cp = Map::new();
            cp.insert("type".into(), json!("checkpoint"));
            cp.insert(
                "checkpoint".into(),
                json!({"head_seq": head.seq, "head": hex::encode(head.hash), "signature": hex::encode(sig)}),
            );
            text.push_str(&head.append(&Value::Object(cp).to_string(), &ROOT_NAMESPACE));
            text.push('\n');
        }
    }
    text
}

fn exported(key: &AuditSigningKey) -> String {
    let src = log(key, 12);
    let (out, summary) = export(
        &[LogFile {
            name: "audit.log",
            text: &src,
        }],
        "team-a/",
        Some(&key.public_key()),
    )
    .expect("export");
    assert_eq!(
        summary,
        ExportSummary {
            own: 4,
            redacted: 8,
            checkpoints: 3
        }
    );
    out
}

#[test]
fn an_export_verifies_and_holds_nothing_of_the_others() {
    let key = AuditSigningKey::generate().expect("key");
    let out = exported(&key);
    assert!(is_export(&out));
    let report = verify_export("x", &out, Some(&key.public_key()), Some(A)).expect("verifies");
    assert_eq!(
        (report.own, report.redacted, report.checkpoints_verified),
        (4, 8, 3)
    );
    assert_eq!(report.own_unsigned, 0);
    // Nothing of team-b's or the root's entries: no path, no request id, no uuid.
    for leak in ["team-b", "s1\"", "req-1\"", "req-2\"", &uuid_text(&B)] {
        assert!(!out.contains(leak), "{leak} in the export");
    }
    assert!(
        out.contains("req-0") && out.contains("req-9"),
        "team-a's own entries are there"
    );
    // Without the uuid given, the one team-a's entries state is used.
    assert!(verify_export("x", &out, Some(&key.public_key()), None).is_ok());
    // Another tenant cannot pass it off as theirs.
    assert!(verify_export("x", &out, Some(&key.public_key()), Some(B)).is_err());
}

fn lines(out: &str) -> Vec<String> {
    out.lines().map(str::to_string).collect()
}

fn check(lines: &[String], key: &AuditSigningKey) -> Result<ExportReport, VerifyFailure> {
    let mut t = lines.join("\n");
    t.push('\n');
    verify_export("export", &t, Some(&key.public_key()), Some(A))
}

#[test]
fn editing_dropping_moving_or_hiding_an_own_entry_is_caught_and_named() {
    let key = AuditSigningKey::generate().expect("key");
    let ls = lines(&exported(&key));
    // Line 2 is entry 1 (team-a's), line 5 is entry 4 (team-a's).
    let mut edited = ls.clone();
    edited[1] = edited[1].replace("s0", "sX");
    let e = check(&edited, &key).expect_err("edited");
    assert!(e.reason.contains("entry 1") && e.line == 2, "{e}");

    let mut dropped = ls.clone();
    dropped.remove(4);
    let e = check(&dropped, &key).expect_err("dropped");
    assert!(e.reason.contains("sequence break"), "{e}");

    let mut moved = ls.clone();
    moved.swap(1, 2);
    assert!(check(&moved, &key).is_err(), "reordered");

    // Hidden: team-a's entry 4 replaced by a redacted record of itself.
    let p = crate::chain::parse_line(&ls[4]).expect("line");
    let mut hidden = ls.clone();
    hidden[4] = format!(
        "{{\"redacted\":{{\"seq\":{},\"prev\":\"{}\",\"tag\":\"{}\",\"body\":\"{}\"}}}}",
        p.seq,
        hex::encode(p.prev),
        hex::encode(p.tag.expect("tag")),
        hex::encode(p.body_hash())
    );
    let e = check(&hidden, &key).expect_err("hidden");
    assert!(
        e.reason.contains("entry 4") && e.reason.contains("withheld"),
        "{e}"
    );
}

#[test]
fn a_tampered_source_log_is_refused_with_its_line() {
    let key = AuditSigningKey::generate().expect("key");
    let src = log(&key, 12).replace("s3\"", "sZ\"");
    let e = export(
        &[LogFile {
            name: "audit.log",
            text: &src,
        }],
        "team-a/",
        Some(&key.public_key()),
    )
    .expect_err("tampered");
    assert_eq!((e.file.as_str(), e.line), ("audit.log", 4), "{e}");
}
