//! A tenant's audit export: its own entries out of a device's log, in a form the tenant can
//! verify offline, and nothing of anyone else's beyond what the proof needs.
//!
//! The export is JSON lines. The first is a header, `{"coffre_audit_export":1,"namespace":P}`.
//! Then, in chain order, one record per entry of the log (from its first format-v2 line):
//!
//! - the tenant's own entries (`request.namespace.path` = P) and the checkpoints, verbatim;
//! - every other entry as `{"redacted":{"seq":N,"prev":H,"tag":T,"body":B}}`: its position,
//!   the chain hash before it, its namespace tag and the SHA-256 of its bytes.
//!
//! The verifier recomputes the chain through both kinds (see [`crate::chain`] for the hash),
//! checks the checkpoint signatures, and checks that no redacted entry carries the tenant's own
//! tag at its position: so a tenant entry that was edited, dropped, moved or hidden among the
//! redacted ones is caught, and named by its sequence number.
//!
//! What an export reveals of other tenants: how many entries the log holds between the tenant's
//! and where, the chain hashes, and each redacted entry's tag and body hash. A tag is a hash of
//! the entry's namespace uuid (122 random bits) and position: without that uuid it links to no
//! namespace (a tenant can recognise only the namespaces whose uuid it knows, its children's).
//! A body hash of an entry full of random ids and HMACs reveals nothing of its content.

use serde_json::{Value, json};

use crate::chain::{
    ChainHead, LogFile, NamespaceUuid, ROOT_NAMESPACE, VerifyFailure, VerifyOptions, namespace_tag,
    parse_line, push_hex32, v2_hash, verify,
};

/// Key of the header record.
const HEADER: &str = "coffre_audit_export";

fn record_namespace(entry: &serde_json::Map<String, Value>) -> Option<(&str, &str)> {
    let ns = entry.get("request")?.get("namespace")?;
    Some((ns.get("path")?.as_str()?, ns.get("uuid")?.as_str()?))
}

fn is_checkpoint(entry: &serde_json::Map<String, Value>) -> bool {
    entry.get("type").and_then(Value::as_str) == Some("checkpoint")
}

/// What an export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The tenant's entries, in full.
    pub own: u64,
    /// Other entries, redacted.
    pub redacted: u64,
    /// Checkpoints, in full.
    pub checkpoints: u64,
}

/// Exports namespace `namespace` (a path such as `team-a/`) from `files`, which must hold one
/// intact chain (it is verified first, so a tampered source is refused with its file and line).
pub fn export(
    files: &[LogFile<'_>],
    namespace: &str,
    public_key: Option<&[u8]>,
) -> Result<(String, ExportSummary), VerifyFailure> {
    verify(
        files,
        &VerifyOptions {
            public_key,
            expect_head: None,
            allow_partial: true,
        },
    )?;
    let mut out = json!({ HEADER: 1, "namespace": namespace }).to_string();
    out.push('\n');
    let mut summary = ExportSummary {
        own: 0,
        redacted: 0,
        checkpoints: 0,
    };
    for file in files {
        for raw in file.text.split_terminator('\n') {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            // Verified above: every line parses.
            let Some(p) = parse_line(raw) else { continue };
            let Some(tag) = p.tag else {
                // Format v1 (before namespaces): no tenant entries, and not redactable; the
                // export starts after them, trusting the first v2 line's `prev`.
                continue;
            };
            let own = record_namespace(&p.entry).is_some_and(|(path, _)| path == namespace);
            if own || is_checkpoint(&p.entry) {
                out.push_str(raw);
                if own {
                    summary.own += 1;
                } else {
                    summary.checkpoints += 1;
                }
            } else {
                let mut rec = String::with_capacity(300);
                rec.push_str(&format!("{{\"redacted\":{{\"seq\":{},\"prev\":\"", p.seq));
                push_hex32(&mut rec, &p.prev);
                rec.push_str("\",\"tag\":\"");
                push_hex32(&mut rec, &tag);
                rec.push_str("\",\"body\":\"");
                push_hex32(&mut rec, &p.body_hash());
                rec.push_str("\"}}");
                out.push_str(&rec);
                summary.redacted += 1;
            }
            out.push('\n');
        }
    }
    Ok((out, summary))
}

/// What a successful verification of an export saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The namespace the export is for.
    pub namespace: String,
    /// Its own entries.
    pub own: u64,
    /// Redacted entries carried over.
    pub redacted: u64,
    /// Checkpoint signatures checked (0 without a public key).
    pub checkpoints_verified: u64,
    /// Own entries after the last checkpoint: chained, but not signed yet.
    pub own_unsigned: u64,
    /// The head after the last record.
    pub head: ChainHead,
}

fn decode32(v: Option<&Value>) -> Option<[u8; 32]> {
    hex::decode(v?.as_str()?).ok()?.try_into().ok()
}

/// Whether `text` is a tenant export (its first line is the header).
pub fn is_export(text: &str) -> bool {
    text.lines()
        .next()
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .is_some_and(|v| v.get(HEADER).is_some())
}

/// Verifies an export. `uuid`, when given, is the namespace uuid the tenant knows for itself;
/// otherwise the one its own (hash-chained) entries state is used.
pub fn verify_export(
    name: &str,
    text: &str,
    public_key: Option<&[u8]>,
    uuid: Option<NamespaceUuid>,
) -> Result<ExportReport, VerifyFailure> {
    let fail = |line: usize, reason: String| VerifyFailure {
        file: name.to_string(),
        line,
        reason,
    };
    let mut lines = text.split_terminator('\n').enumerate();
    let header: Value = lines
        .next()
        .and_then(|(_, l)| serde_json::from_str(l).ok())
        .filter(|h: &Value| h.get(HEADER).and_then(Value::as_u64) == Some(1))
        .ok_or_else(|| fail(1, "not a coffre audit export (no header)".into()))?;
    let namespace = header
        .get("namespace")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(1, "export header without a namespace".into()))?
        .to_string();
    let records: Vec<(usize, &str)> = lines.map(|(i, l)| (i + 1, l)).collect();

    // The tenant's uuid: given, or stated by its own entries (all must agree).
    let mut own_uuid = uuid;
    for (n, raw) in &records {
        if let Some(p) = parse_line(raw)
            && let Some((path, u)) = record_namespace(&p.entry)
            && path == namespace
        {
            let stated = uuid_bytes(u)
                .ok_or_else(|| fail(*n, "entry with a malformed namespace uuid".into()))?;
            match own_uuid {
                None => own_uuid = Some(stated),
                Some(known) if known != stated => {
                    return Err(fail(
                        *n,
                        format!("entry {} states another uuid for {namespace}", p.seq),
                    ));
                }
                Some(_) => {}
            }
        }
    }

    let mut head: Option<ChainHead> = None;
    let mut report = ExportReport {
        namespace: namespace.clone(),
        own: 0,
        redacted: 0,
        checkpoints_verified: 0,
        own_unsigned: 0,
        head: ChainHead::genesis(),
    };
    for (n, raw) in records {
        let (seq, prev, hash, kind) = if let Some(p) = parse_line(raw) {
            let Some(tag) = p.tag else {
                return Err(fail(
                    n,
                    "a format-v1 line cannot be part of an export".into(),
                ));
            };
            if p.expected_hash() != p.hash {
                return Err(fail(
                    n,
                    format!("entry {}: hash mismatch: the entry was modified", p.seq),
                ));
            }
            let kind = if is_checkpoint(&p.entry) {
                if tag != namespace_tag(&ROOT_NAMESPACE, p.seq) {
                    return Err(fail(n, format!("checkpoint {} has a wrong tag", p.seq)));
                }
                if let Some(pk) = public_key {
                    crate::chain::verify_checkpoint_line(&p, pk)
                        .map_err(|r| fail(n, format!("checkpoint {}: {r}", p.seq)))?;
                    report.checkpoints_verified += 1;
                    report.own_unsigned = 0;
                }
                Kind::Checkpoint
            } else {
                match record_namespace(&p.entry) {
                    Some((path, _)) if path == namespace => {
                        let own = own_uuid.map(|u| namespace_tag(&u, p.seq));
                        if own != Some(tag) {
                            return Err(fail(
                                n,
                                format!("entry {}: its tag is not {namespace}'s", p.seq),
                            ));
                        }
                        Kind::Own
                    }
                    _ => {
                        return Err(fail(
                            n,
                            format!(
                                "entry {} of another namespace is in the export in full",
                                p.seq
                            ),
                        ));
                    }
                }
            };
            (p.seq, p.prev, p.hash, kind)
        } else {
            let rec: Value =
                serde_json::from_str(raw).map_err(|_| fail(n, "malformed record".into()))?;
            let r = rec
                .get("redacted")
                .ok_or_else(|| fail(n, "malformed record".into()))?;
            let bad = || fail(n, "malformed redacted record".into());
            let seq = r.get("seq").and_then(Value::as_u64).ok_or_else(bad)?;
            let prev = decode32(r.get("prev")).ok_or_else(bad)?;
            let tag = decode32(r.get("tag")).ok_or_else(bad)?;
            let body = decode32(r.get("body")).ok_or_else(bad)?;
            if own_uuid.is_some_and(|u| namespace_tag(&u, seq) == tag) {
                return Err(fail(
                    n,
                    format!("entry {seq} is one of {namespace}'s but was withheld (redacted)"),
                ));
            }
            (seq, prev, v2_hash(&prev, &tag, &body), Kind::Redacted)
        };
        if let Some(h) = head {
            if seq != h.seq + 1 {
                return Err(fail(
                    n,
                    format!(
                        "sequence break: expected entry {}, found {seq}: entries were dropped or moved",
                        h.seq + 1
                    ),
                ));
            }
            if prev != h.hash {
                return Err(fail(
                    n,
                    format!(
                        "entry {seq}: previous-hash mismatch: an entry before it was changed, dropped or moved"
                    ),
                ));
            }
        }
        match kind {
            Kind::Own => {
                report.own += 1;
                report.own_unsigned += 1;
            }
            Kind::Redacted => report.redacted += 1,
            Kind::Checkpoint => {}
        }
        head = Some(ChainHead { seq, hash });
    }
    report.head = head.unwrap_or_else(ChainHead::genesis);
    if public_key.is_none() {
        report.own_unsigned = report.own;
    }
    Ok(report)
}

enum Kind {
    Own,
    Redacted,
    Checkpoint,
}

fn uuid_bytes(text: &str) -> Option<NamespaceUuid> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    hex::decode(hex).ok()?.try_into().ok()
}

/// The 16 bytes of a namespace uuid in its usual text form.
pub fn parse_uuid(text: &str) -> Option<NamespaceUuid> {
    uuid_bytes(text)
}

#[cfg(test)]
mod tests;
