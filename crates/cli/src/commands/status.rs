//! `coffre status`, and the seal-status table shared with `coffre operator unseal`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use coffre_client::SealStatus;

use super::Ctx;
use crate::output::{self, Format};

/// Arguments of `coffre status` (none besides the global flags).
#[derive(Debug, Args)]
pub struct StatusArgs {}

/// Exit code of `coffre status` on a sealed server.
const SEALED: u8 = 2;

/// Runs `coffre status`: 0 unsealed, 2 sealed, errors are 1 (via `main`).
pub async fn run(ctx: &Ctx, _args: StatusArgs) -> anyhow::Result<ExitCode> {
    let status = ctx
        .client()?
        .seal_status()
        .await
        .context("error checking seal status")?;
    print_seal_status(ctx.format, &status)?;
    Ok(if status.sealed {
        ExitCode::from(SEALED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints a seal status as a table or as JSON.
pub fn print_seal_status(format: Format, status: &SealStatus) -> anyhow::Result<()> {
    match format {
        Format::Json => output::print_json(status),
        Format::Table => output::print_kv_table(&seal_status_rows(status)),
    }
}

fn seal_status_rows(s: &SealStatus) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = vec![
        ("Seal Type".into(), s.type_.clone()),
        ("Initialized".into(), s.initialized.to_string()),
        ("Sealed".into(), s.sealed.to_string()),
        ("Total Shares".into(), s.n.to_string()),
        ("Threshold".into(), s.t.to_string()),
        ("Unseal Progress".into(), format!("{}/{}", s.progress, s.t)),
    ];
    if s.sealed && !s.nonce.is_empty() {
        rows.push(("Unseal Nonce".into(), s.nonce.clone()));
    }
    rows.push(("Version".into(), or_na(&s.version)));
    rows.push((
        "Storage Type".into(),
        or_na(s.storage_type.as_deref().unwrap_or("")),
    ));
    if let Some(name) = s.cluster_name.as_deref().filter(|v| !v.is_empty()) {
        rows.push(("Cluster Name".into(), name.to_string()));
    }
    if let Some(id) = s.cluster_id.as_deref().filter(|v| !v.is_empty()) {
        rows.push(("Cluster ID".into(), id.to_string()));
    }
    rows
}

fn or_na(v: &str) -> String {
    if v.is_empty() {
        "n/a".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows() {
        let s: SealStatus = serde_json::from_value(json!({
            "type": "shamir", "initialized": true, "sealed": true, "t": 3, "n": 5,
            "progress": 1, "nonce": "n1", "version": "0.1.0"
        }))
        .expect("status");
        let rows = seal_status_rows(&s);
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "Seal Type",
                "Initialized",
                "Sealed",
                "Total Shares",
                "Threshold",
                "Unseal Progress",
                "Unseal Nonce",
                "Version",
                "Storage Type"
            ]
        );
        assert_eq!(rows[5].1, "1/3");
        assert_eq!(rows[8].1, "n/a");
    }
}
