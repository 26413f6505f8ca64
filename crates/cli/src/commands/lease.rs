//! `coffre lease …`: look up, renew and revoke the leases of dynamic secrets — like
//! `vault lease`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Ctx;
use crate::output::{self, Format};

/// `coffre lease` subcommands.
#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Show a lease's times (issue, expiry, last renewal, TTL)
    Lookup(IdArgs),
    /// Extend a lease (by --increment, default its own TTL), within its max TTL
    Renew(RenewArgs),
    /// Revoke a lease, or with --prefix every lease below a prefix (--force: even when the
    /// engine cannot revoke them)
    Revoke(RevokeArgs),
}

/// A lease id.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// The lease id, e.g. database/creds/app/Xy…
    pub lease_id: String,
}

/// Arguments of `coffre lease renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The TTL asked for, e.g. `30m`
    #[arg(long)]
    pub increment: Option<String>,
    /// The lease id
    pub lease_id: String,
}

/// Arguments of `coffre lease revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Treat LEASE_ID as a prefix and revoke every lease below it (needs sudo)
    #[arg(long)]
    pub prefix: bool,
    /// With --prefix: remove the leases even if their engine fails to revoke them (needs sudo)
    #[arg(long)]
    pub force: bool,
    /// The lease id (or prefix)
    pub lease_id: String,
}

fn print(ctx: &Ctx, resp: &Value) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        return output::print_json(resp);
    }
    output::print_warnings(ctx.format, resp);
    output::print_kv_table(&output::response_rows(resp))
}

/// Runs `coffre lease …`.
pub async fn run(ctx: &Ctx, cmd: LeaseCommand) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match cmd {
        LeaseCommand::Lookup(a) => {
            let resp = client
                .write("sys/leases/lookup", json!({ "lease_id": a.lease_id }))
                .await
                .context("error looking up lease")?
                .unwrap_or_default();
            print(ctx, &resp)?;
        }
        LeaseCommand::Renew(a) => {
            let mut body = json!({ "lease_id": a.lease_id });
            if let Some(i) = a.increment {
                body["increment"] = json!(i);
            }
            let resp = client
                .write("sys/leases/renew", body)
                .await
                .context("error renewing lease")?
                .unwrap_or_default();
            print(ctx, &resp)?;
        }
        LeaseCommand::Revoke(a) => {
            if a.force && !a.prefix {
                bail!("--force needs --prefix (as in vault lease revoke)");
            }
            let id = a.lease_id.trim_matches('/');
            let (path, body) = match (a.prefix, a.force) {
                (true, true) => (format!("sys/leases/revoke-force/{id}"), json!({})),
                (true, false) => (format!("sys/leases/revoke-prefix/{id}"), json!({})),
                _ => ("sys/leases/revoke".to_string(), json!({ "lease_id": id })),
            };
            client
                .write(&path, body)
                .await
                .context("error revoking lease")?;
            if ctx.format == Format::Table {
                output::println("All revocation operations queued successfully!")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
