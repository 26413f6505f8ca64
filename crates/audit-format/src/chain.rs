//! The tamper-evident line format and its verifier. Pure: no I/O.
//!
//! Every entry is one JSON line. The writer serializes the entry with sorted keys (including
//! `seq`, its position in the device's chain, and `prev`, the previous entry's hash) and then
//! appends the hash as the last member:
//!
//! ```text
//! {"prev":"<64 hex>","seq":7,"time":"…","type":"request",…,"hash":"<64 hex>"}
//! hash = SHA-256(prev (32 raw bytes) || the line without its ,"hash":… member, closed with })
//! ```
//!
//! So the verifier recovers the exact hashed bytes by cutting the fixed-size suffix; it never
//! re-serializes JSON.
//!
//! Lines written since namespaces (format v2) also carry a `tag` after `prev`, and hash
//! differently, so that one tenant's entries can be proven without showing anyone else's:
//!
//! ```text
//! {"seq":7,"prev":"<64 hex>","tag":"<64 hex>",…,"hash":"<64 hex>"}
//! tag  = SHA-256("coffre-audit-ns-tag-v1\0" || namespace uuid (16 bytes) || seq (u64 BE))
//! hash = SHA-256(prev || tag || SHA-256(the line without its hash member, closed with }))
//! ```
//!
//! Given only `(seq, prev, tag, body hash)` of another tenant's entry, a verifier can carry
//! the chain over it, and can tell it is not one of its own (its own tag at that `seq`
//! differs), but learns nothing of its content and cannot link tags to a namespace without
//! that namespace's uuid. Lines without a `tag` (format v1) verify as before. A checkpoint entry (`type = "checkpoint"`) carries an Ed25519 signature
//! of the chain head it follows, so an attacker who rewrites the chain (recomputing every
//! hash) cannot forge the checkpoints without the device's signing key.

use coffre_crypto::{sha256_parts, verify_ed25519};
use serde_json::{Map, Value};

/// `prev` of the first entry of a chain.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// A namespace's uuid as 16 bytes; tags bind each entry to it.
pub type NamespaceUuid = [u8; 16];

/// The root namespace's uuid (all zero); also tags checkpoints and the core's own entries.
pub const ROOT_NAMESPACE: NamespaceUuid = [0u8; 16];

/// Domain separator of namespace tags.
const TAG_CONTEXT: &[u8] = b"coffre-audit-ns-tag-v1\0";

/// The tag of the entry at `seq` made in namespace `ns`.
pub fn namespace_tag(ns: &NamespaceUuid, seq: u64) -> [u8; 32] {
    sha256_parts(&[TAG_CONTEXT, ns, &seq.to_be_bytes()])
}

/// The hash of a v2 line from its parts (what a redacted entry in a tenant export keeps).
pub fn v2_hash(prev: &[u8; 32], tag: &[u8; 32], body_hash: &[u8; 32]) -> [u8; 32] {
    sha256_parts(&[prev, tag, body_hash])
}

/// Length of `,"hash":"` + 64 hex + `"}`.
const SUFFIX_LEN: usize = 9 + 64 + 2;

/// Domain separator of checkpoint signatures.
const CHECKPOINT_CONTEXT: &[u8] = b"coffre-audit-checkpoint-v1\0";

/// The message a checkpoint signs: the head hash after entry `head_seq`.
pub fn checkpoint_message(head_seq: u64, head: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_CONTEXT.len() + 8 + 32);
    m.extend_from_slice(CHECKPOINT_CONTEXT);
    m.extend_from_slice(&head_seq.to_be_bytes());
    m.extend_from_slice(head);
    m
}

/// The position of a chain: the last entry's sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the last entry (0 before the first).
    pub seq: u64,
    /// Hash of the last entry ([`GENESIS`] before the first).
    pub hash: [u8; 32],
}

impl ChainHead {
    /// The state of an empty chain.
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: GENESIS,
        }
    }

    /// Appends an entry given as a serialized, non-empty JSON object that has no `seq`,
    /// `prev` or `hash` member: returns the line (without newline) and advances the head.
    ///
    /// The line is `{"seq":N,"prev":"<hex>",` + the entry's members + `,"hash":"<hex>"}`; the
    /// hash covers exactly the bytes before `,"hash"` plus the closing brace, so the entry
    /// can be serialized anywhere (on the request threads) and the writer only concatenates.
    pub fn append(&mut self, body: &str, ns: &NamespaceUuid) -> String {
        let mut line = String::with_capacity(body.len() + 260);
        self.append_to(body, ns, &mut line);
        line
    }

    /// As [`ChainHead::append`], but pushes the line onto `out` (the writer's group buffer),
    /// and hashes it in place: no per-line allocation or copy. `ns` is the namespace the
    /// entry belongs to ([`ROOT_NAMESPACE`] for checkpoints and the core's own entries).
    pub fn append_to(&mut self, body: &str, ns: &NamespaceUuid, out: &mut String) {
        use std::fmt::Write as _;
        debug_assert!(body.starts_with('{') && body.ends_with('}') && body.len() > 2);
        let seq = self.seq + 1;
        let members = body.get(1..).unwrap_or("}");
        let start = out.len();
        out.reserve(body.len() + 260);
        let tag = namespace_tag(ns, seq);
        // Writing to a String cannot fail.
        let _ = write!(out, "{{\"seq\":{seq},\"prev\":\"");
        push_hex32(out, &self.hash);
        out.push_str("\",\"tag\":\"");
        push_hex32(out, &tag);
        out.push_str("\",");
        out.push_str(members);
        let body_hash = sha256_parts(&[out.get(start..).unwrap_or_default().as_bytes()]);
        let hash = v2_hash(&self.hash, &tag, &body_hash);
        out.pop(); // the closing brace
        out.push_str(",\"hash\":\"");
        push_hex32(out, &hash);
        out.push_str("\"}");
        self.seq = seq;
        self.hash = hash;
    }
}

/// Lower-case hex of 32 bytes (the `hex` crate's `encode` goes through a char iterator,
/// which showed up in profiles of the audit path).
pub fn push_hex32(out: &mut String, bytes: &[u8; 32]) {
    let mut buf = [0u8; 64];
    // Cannot fail: the buffer is exactly twice the input length, and hex is ASCII.
    if hex::encode_to_slice(bytes, &mut buf).is_ok()
        && let Ok(text) = std::str::from_utf8(&buf)
    {
        out.push_str(text);
    }
}

fn chain_hash(prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    sha256_parts(&[prev, canonical])
}

/// A line split into its hashed part and its stated hash.
pub struct ParsedLine {
    /// The JSON object without the hash member.
    pub entry: Map<String, Value>,
    /// The bytes the hash covers.
    pub canonical: String,
    /// The hash written on the line.
    pub hash: [u8; 32],
    /// `seq` member.
    pub seq: u64,
    /// `prev` member.
    pub prev: [u8; 32],
    /// `tag` member (format v2; `None` on a v1 line).
    pub tag: Option<[u8; 32]>,
}

impl ParsedLine {
    /// SHA-256 of the hashed bytes (what a redacted entry keeps of a v2 line).
    pub fn body_hash(&self) -> [u8; 32] {
        sha256_parts(&[self.canonical.as_bytes()])
    }

    /// What the line's hash must be, by its format.
    pub fn expected_hash(&self) -> [u8; 32] {
        match &self.tag {
            Some(tag) => v2_hash(&self.prev, tag, &self.body_hash()),
            None => chain_hash(&self.prev, self.canonical.as_bytes()),
        }
    }
}

fn decode32(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}

/// Parses one line; `None` if it is not a well-formed chain entry.
pub fn parse_line(line: &str) -> Option<ParsedLine> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.len() < SUFFIX_LEN + 2 || !line.is_char_boundary(line.len() - SUFFIX_LEN) {
        return None;
    }
    let (body, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    let hash_hex = suffix.strip_prefix(",\"hash\":\"")?.strip_suffix("\"}")?;
    let hash = decode32(hash_hex)?;
    let canonical = format!("{body}}}");
    let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(&canonical) else {
        return None;
    };
    let seq = entry.get("seq")?.as_u64()?;
    let prev = decode32(entry.get("prev")?.as_str()?)?;
    let tag = match entry.get("tag") {
        None => None,
        Some(t) => Some(decode32(t.as_str()?)?),
    };
    Some(ParsedLine {
        entry,
        canonical,
        hash,
        seq,
        prev,
        tag,
    })
}

/// One input to the verifier: a name for messages and the file's text.
pub struct LogFile<'a> {
    /// Shown in reports.
    pub name: &'a str,
    /// Whole file contents.
    pub text: &'a str,
}

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// File name as given.
    pub file: String,
    /// 1-based line number of the first bad line (one past the last line for a cut tail).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked (checkpoints included).
    pub entries: u64,
    /// Checkpoint signatures checked (0 without a public key).
    pub checkpoints_verified: u64,
    /// The head after the last entry.
    pub head: ChainHead,
    /// `seq` of the first entry seen.
    pub first_seq: u64,
}

/// Options of [`verify`].
#[derive(Default)]
pub struct VerifyOptions<'a> {
    /// Check checkpoint signatures against this Ed25519 public key.
    pub public_key: Option<&'a [u8]>,
    /// A head the log must reach, with this hash at that entry (detects a cut tail). Entries
    /// after it are allowed: the server keeps appending after it reported its head.
    pub expect_head: Option<ChainHead>,
    /// Accept a log whose first entry is not the chain's first (older files retired by
    /// retention). Off by default: then a missing beginning is an error.
    pub allow_partial: bool,
}

/// Sequence number of a file's first entry, to put several files in chain order.
pub fn first_seq(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .and_then(parse_line)
        .map(|p| p.seq)
}

/// Verifies files that together hold one chain, in the order given. The first entry may be
/// the chain's first (`seq` 1, `prev` genesis) or a later one when older files were retired.
pub fn verify(
    files: &[LogFile<'_>],
    opts: &VerifyOptions<'_>,
) -> Result<VerifyReport, VerifyFailure> {
    let mut head: Option<ChainHead> = None;
    let mut entries = 0u64;
    let mut checkpoints = 0u64;
    let mut first = None;
    let mut last_pos = ("", 0usize);
    for file in files {
        let fail = |line: usize, reason: String| VerifyFailure {
            file: file.name.to_string(),
            line,
            reason,
        };
        for (idx, raw) in file.text.split_terminator('\n').enumerate() {
            let n = idx + 1;
            last_pos = (file.name, n);
            let Some(p) = parse_line(raw) else {
                return Err(fail(n, "malformed entry (not a chained audit line)".into()));
            };
            match head {
                None => {
                    if p.seq == 1 && p.prev != GENESIS {
                        return Err(fail(
                            n,
                            "first entry of the chain does not start at genesis".into(),
                        ));
                    }
                    if p.seq != 1 && !opts.allow_partial {
                        return Err(fail(
                            n,
                            format!(
                                "the chain starts at entry {} instead of 1: entries are missing before it \
                                 (use the partial option if older files were retired)",
                                p.seq
                            ),
                        ));
                    }
                    first = Some(p.seq);
                }
                Some(h) => {
                    if p.seq != h.seq + 1 {
                        return Err(fail(
                            n,
                            format!("sequence break: expected {}, found {}", h.seq + 1, p.seq),
                        ));
                    }
                    if p.prev != h.hash {
                        return Err(fail(n, "previous-hash mismatch: an entry before it was removed, inserted or changed".into()));
                    }
                }
            }
            if p.expected_hash() != p.hash {
                return Err(fail(n, "hash mismatch: the entry was modified".into()));
            }
            if let Some(expected) = opts.expect_head.filter(|e| e.seq == p.seq)
                && expected.hash != p.hash
            {
                return Err(fail(
                    n,
                    "entry differs from the server's chain head at this position".into(),
                ));
            }
            if p.entry.get("type").and_then(Value::as_str) == Some("checkpoint")
                && let Some(pk) = opts.public_key
            {
                verify_checkpoint(&p, pk).map_err(|r| fail(n, r))?;
                checkpoints += 1;
            }
            entries += 1;
            head = Some(ChainHead {
                seq: p.seq,
                hash: p.hash,
            });
        }
    }
    let head = head.unwrap_or_else(ChainHead::genesis);
    if let Some(expected) = opts.expect_head
        && expected.seq > head.seq
    {
        return Err(VerifyFailure {
            file: last_pos.0.to_string(),
            line: last_pos.1 + 1,
            reason: format!(
                "log ends at entry {} but the chain head is entry {}: entries were cut from the end",
                head.seq, expected.seq
            ),
        });
    }
    Ok(VerifyReport {
        entries,
        checkpoints_verified: checkpoints,
        head,
        first_seq: first.unwrap_or(0),
    })
}

/// Checks a checkpoint line's signature (and that it signs the entry before it).
pub fn verify_checkpoint_line(p: &ParsedLine, public_key: &[u8]) -> Result<(), String> {
    verify_checkpoint(p, public_key)
}

fn verify_checkpoint(p: &ParsedLine, public_key: &[u8]) -> Result<(), String> {
    let cp = p
        .entry
        .get("checkpoint")
        .and_then(Value::as_object)
        .ok_or("checkpoint entry without a checkpoint object")?;
    let head_seq = cp
        .get("head_seq")
        .and_then(Value::as_u64)
        .ok_or("checkpoint without head_seq")?;
    let head = cp
        .get("head")
        .and_then(Value::as_str)
        .and_then(decode32)
        .ok_or("checkpoint without head")?;
    let sig = cp
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| hex::decode(s).ok())
        .ok_or("checkpoint without signature")?;
    if head_seq + 1 != p.seq || head != p.prev {
        return Err("checkpoint does not sign the entry before it".into());
    }
    if !verify_ed25519(public_key, &checkpoint_message(head_seq, &head), &sig) {
        return Err("checkpoint signature is invalid for this public key".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
