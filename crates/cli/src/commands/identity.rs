//! `coffre identity …`: the identity store, for access reviews.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::Ctx;
use crate::output::{self, Format};

/// `coffre identity` subcommands.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// List the entities without a login in a number of days, with their aliases and policies
    /// (sys/identity/inactive)
    Inactive(InactiveArgs),
}

/// Arguments of `coffre identity inactive`.
#[derive(Debug, Args)]
pub struct InactiveArgs {
    /// Days without a login
    #[arg(long, default_value_t = 30)]
    pub days: u32,
}

/// Runs `coffre identity …`.
pub async fn run(ctx: &Ctx, cmd: IdentityCommand) -> anyhow::Result<ExitCode> {
    let IdentityCommand::Inactive(args) = cmd;
    let resp = ctx
        .client()?
        .read(&format!("sys/identity/inactive?days={}", args.days))
        .await
        .context("error listing inactive identities")?
        .context("the server's answer was empty")?;
    if ctx.format == Format::Json {
        output::print_json(&resp)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(Value::Array(entities)) = resp.pointer("/data/entities") else {
        bail!("the server's answer has no entities");
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let list = |v: &Value, k: &str| -> String {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    let mut text = format!(
        "{:<24} {:<36} {:<32} {:<28} {}\n",
        "Name", "Id", "Last login", "Aliases", "Policies"
    );
    for e in entities {
        let aliases: Vec<String> = e
            .get("aliases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|a| format!("{}{}", s(a, "mount_path"), s(a, "name")))
                    .collect()
            })
            .unwrap_or_default();
        let last = e
            .get("last_login_time")
            .and_then(Value::as_str)
            .unwrap_or("never");
        let mut policies = list(e, "policies");
        let groups = list(e, "group_policies");
        if !groups.is_empty() {
            policies = if policies.is_empty() {
                groups
            } else {
                format!("{policies},{groups}")
            };
        }
        text.push_str(&format!(
            "{:<24} {:<36} {:<32} {:<28} {}\n",
            s(e, "name"),
            s(e, "id"),
            last,
            aliases.join(","),
            policies
        ));
    }
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
