//! `coffre audit …`: offline verification and search of audit logs, and the few online calls
//! an auditor needs (device list, chain head, checkpoint public key, audit-hash).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use coffre_audit_format::chain::{self, ChainHead, LogFile, VerifyOptions};
use coffre_audit_format::export;
use coffre_audit_format::search::Filter;
use serde_json::{Value, json};

use super::Ctx;
use crate::output::{self, Format};

/// `coffre audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify audit log files offline: the hash chain, and with --public-key the signed
    /// checkpoints. Exit 0 when intact; otherwise 1 and the first bad line (file:line).
    ///
    /// Give every file of one device (rotated ones too, in any order: they are put in chain
    /// order by their first entry). With --expect-head, or --online DEVICE to ask the running
    /// server, entries cut from the end are detected too.
    Verify(VerifyArgs),
    /// Print the entries of audit log files that match every given filter, as JSON lines
    Search(SearchArgs),
    /// Write one namespace's own entries, as a file its tenant can verify offline with
    /// `coffre audit verify EXPORT --public-key KEY` (docs/NAMESPACES.md, "Audit export")
    ///
    /// Other tenants' entries appear only as their position, tag and hash. The source log is
    /// verified first: a tampered log is refused, naming the line.
    Export(ExportArgs),
    /// Print a device's checkpoint public key (hex), from the server
    PublicKey {
        /// Device name
        #[arg(default_value = "file")]
        device: String,
    },
    /// Print a device's chain head (`SEQ:HASH`), from the server
    Head {
        /// Device name
        #[arg(default_value = "file")]
        device: String,
    },
    /// List the enabled audit devices
    List,
    /// HMAC a value with a device's salt, as it would appear in the log (sys/audit-hash).
    /// The value is read from stdin (one line; prompted without echo on a terminal), never
    /// from the command line, where the shell history and `ps` would keep it.
    Hash {
        /// Device name
        device: String,
    },
}

/// Arguments of `coffre audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Log files of one device
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Ed25519 public key (hex) that must have signed every checkpoint
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// The chain head the log must end at, as printed by `coffre audit head`: SEQ:HASH
    #[arg(long, value_name = "SEQ:HASH")]
    expect_head: Option<String>,
    /// Fetch the public key and head of this device from the running server
    #[arg(long, value_name = "DEVICE", conflicts_with_all = ["public_key", "expect_head"])]
    online: Option<String>,
    /// Accept a log that does not start at the chain's first entry (older files retired)
    #[arg(long)]
    partial: bool,
    /// For a tenant export: the namespace's uuid as the tenant knows it (else the one its
    /// entries state)
    #[arg(long, value_name = "UUID")]
    namespace_uuid: Option<String>,
}

/// Arguments of `coffre audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The namespace to export, e.g. `team-a` or `team-a/prod`
    #[arg(long, value_name = "PATH")]
    namespace: String,
    /// Log files of one device (rotated ones too, in any order)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also check the source log's checkpoint signatures with this public key (hex)
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
}

/// Arguments of `coffre audit search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Log files
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Request path starts with this
    #[arg(long)]
    path_prefix: Option<String>,
    /// Token accessor as it appears in the log (HMAC'd unless the device sets hmac_accessor = false)
    #[arg(long)]
    accessor: Option<String>,
    /// Entries at or after this RFC 3339 time
    #[arg(long)]
    since: Option<String>,
    /// Entries at or before this RFC 3339 time
    #[arg(long)]
    until: Option<String>,
    /// Operation: read, list, create, update, delete, patch
    #[arg(long)]
    operation: Option<String>,
    /// Entry type: request, response or checkpoint
    #[arg(long = "type")]
    kind: Option<String>,
}

/// Runs an audit subcommand.
pub async fn run(ctx: &Ctx, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify(args) => verify(ctx, args).await,
        AuditCommand::Search(args) => search(args),
        AuditCommand::Export(args) => export(args),
        AuditCommand::PublicKey { device } => {
            let chain = chain_info(ctx, &device).await?;
            output::println(chain.1.as_str())?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Head { device } => {
            let (head, _) = chain_info(ctx, &device).await?;
            output::println(&format!("{}:{}", head.seq, hex::encode(head.hash)))?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::List => {
            let resp = ctx
                .client()?
                .read("sys/audit")
                .await?
                .unwrap_or(Value::Null);
            let data = resp.get("data").cloned().unwrap_or(Value::Null);
            match ctx.format {
                Format::Json => output::print_json(&data)?,
                Format::Table => {
                    let rows: Vec<(String, String)> = data
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| {
                                    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
                                    let path = v
                                        .pointer("/options/file_path")
                                        .and_then(Value::as_str)
                                        .unwrap_or("");
                                    (k.clone(), format!("{kind} {path}").trim().to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    output::print_kv_table(&rows)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Hash { device } => {
            let input = zeroize::Zeroizing::new(crate::input::read_secret_line("Value to hash: ")?);
            let resp = ctx
                .client()?
                .write(
                    &format!("sys/audit-hash/{device}"),
                    json!({ "input": input.as_str() }),
                )
                .await?
                .unwrap_or(Value::Null);
            let hash = resp
                .pointer("/data/hash")
                .and_then(Value::as_str)
                .context("no hash in response")?;
            output::println(hash)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parses `SEQ:HASH`.
fn parse_head(s: &str) -> anyhow::Result<ChainHead> {
    let (seq, hash) = s.split_once(':').context("expected SEQ:HASH")?;
    let seq = seq.trim().parse().context("SEQ must be a number")?;
    let hash: [u8; 32] = hex::decode(hash.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("HASH must be 64 hex characters")?;
    Ok(ChainHead { seq, hash })
}

async fn chain_info(ctx: &Ctx, device: &str) -> anyhow::Result<(ChainHead, String)> {
    let resp = ctx
        .client()?
        .read(&format!("sys/audit-chain/{device}"))
        .await?
        .with_context(|| format!("no audit device named {device:?}"))?;
    let seq = resp
        .pointer("/data/seq")
        .and_then(Value::as_u64)
        .context("no seq in response")?;
    let head = resp
        .pointer("/data/head")
        .and_then(Value::as_str)
        .context("no head in response")?;
    let pk = resp
        .pointer("/data/public_key")
        .and_then(Value::as_str)
        .context("no public key")?;
    Ok((parse_head(&format!("{seq}:{head}"))?, pk.to_string()))
}

/// Reads the files and puts them in chain order (by their first entry's sequence number).
fn read_in_chain_order(files: &[PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    let mut loaded = Vec::with_capacity(files.len());
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        loaded.push((f.display().to_string(), text));
    }
    loaded.sort_by_key(|(_, text)| chain::first_seq(text).unwrap_or(u64::MAX));
    Ok(loaded)
}

async fn verify(ctx: &Ctx, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let (public_key, expect_head) = match &args.online {
        Some(device) => {
            let (head, pk) = chain_info(ctx, device).await?;
            (Some(pk), Some(head))
        }
        None => (
            args.public_key.clone(),
            args.expect_head.as_deref().map(parse_head).transpose()?,
        ),
    };
    let pk = parse_key(public_key.as_deref())?;
    let loaded = read_in_chain_order(&args.files)?;
    if let [(name, text)] = loaded.as_slice()
        && export::is_export(text)
    {
        return verify_export(name, text, pk.as_deref(), args.namespace_uuid.as_deref());
    }
    let files: Vec<LogFile<'_>> = loaded
        .iter()
        .map(|(n, t)| LogFile { name: n, text: t })
        .collect();
    let opts = VerifyOptions {
        public_key: pk.as_deref(),
        expect_head,
        allow_partial: args.partial,
    };
    match chain::verify(&files, &opts) {
        Ok(report) => {
            let msg = format!(
                "OK: {} entries (sequence {}..{}), {} checkpoint signatures verified{}, head {}:{}",
                report.entries,
                report.first_seq,
                report.head.seq,
                report.checkpoints_verified,
                if pk.is_none() {
                    " (no public key given: signatures not checked)"
                } else {
                    ""
                },
                report.head.seq,
                hex::encode(report.head.hash)
            );
            output::println(&msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            eprintln!("TAMPERED: {failure}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn parse_key(hex_key: Option<&str>) -> anyhow::Result<Option<Vec<u8>>> {
    hex_key
        .map(|k| {
            hex::decode(k.trim())
                .ok()
                .filter(|b| b.len() == 32)
                .context("public key must be 64 hex characters")
        })
        .transpose()
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let namespace = format!("{}/", args.namespace.trim().trim_matches('/'));
    if namespace == "/" {
        bail!("--namespace names the namespace to export (the root has no export)");
    }
    let pk = parse_key(args.public_key.as_deref())?;
    let loaded = read_in_chain_order(&args.files)?;
    let files: Vec<LogFile<'_>> = loaded
        .iter()
        .map(|(n, t)| LogFile { name: n, text: t })
        .collect();
    match export::export(&files, &namespace, pk.as_deref()) {
        Ok((text, summary)) => {
            output::print(&text)?;
            eprintln!(
                "exported {namespace}: {} of its entries, {} checkpoints, {} other entries redacted",
                summary.own, summary.checkpoints, summary.redacted
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            eprintln!("TAMPERED: {failure}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn verify_export(
    name: &str,
    text: &str,
    pk: Option<&[u8]>,
    uuid: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let uuid = uuid
        .map(|u| export::parse_uuid(u).context("--namespace-uuid must be a uuid"))
        .transpose()?;
    match export::verify_export(name, text, pk, uuid) {
        Ok(r) => {
            let mut msg = format!(
                "OK: export of {}: {} of its entries, {} redacted, {} checkpoint signatures verified, head {}:{}",
                r.namespace,
                r.own,
                r.redacted,
                r.checkpoints_verified,
                r.head.seq,
                hex::encode(r.head.hash)
            );
            if pk.is_none() {
                msg.push_str(" (no public key given: signatures not checked)");
            } else if r.own_unsigned > 0 {
                msg.push_str(&format!(
                    " ({} entries after the last checkpoint are chained but not signed yet)",
                    r.own_unsigned
                ));
            }
            output::println(&msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            eprintln!("TAMPERED: {failure}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn search(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let filter = Filter {
        path_prefix: args.path_prefix,
        accessor: args.accessor,
        since: args.since,
        until: args.until,
        operation: args.operation,
        kind: args.kind,
    };
    if let Err(e) = filter.validate() {
        bail!(e);
    }
    let loaded = read_in_chain_order(&args.files)?;
    let mut out = String::new();
    for (_, text) in &loaded {
        for line in text.lines().filter(|l| filter.matches(l)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse() {
        let h = parse_head(&format!("7:{}", "ab".repeat(32))).expect("valid");
        assert_eq!(h.seq, 7);
        assert!(parse_head("7").is_err());
        assert!(parse_head("x:00").is_err());
        assert!(parse_head("7:abcd").is_err());
    }
}
