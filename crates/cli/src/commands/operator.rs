//! `coffre operator …`: init, unseal, seal, rotate, key-status, members, migrate.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use coffre_client::{InitResponse, KeyStatus};

use super::Ctx;
use super::status::print_seal_status;
use crate::input;
use crate::output::{self, Format};

/// `coffre operator` subcommands.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Initialize a new server: generate the unseal key shares and the initial root token
    ///
    /// The keys and the root token are printed once and never again: store them safely.
    /// The server stays sealed after init; unseal it with `coffre operator unseal`.
    Init(InitArgs),
    /// Enter one unseal key share (repeat until the threshold is reached)
    ///
    /// Without KEY, one line is read from stdin (not echoed when stdin is a terminal), which
    /// keeps the key out of the shell history. --reset discards the shares entered so far.
    Unseal(UnsealArgs),
    /// Seal the server (needs a token with sudo on sys/seal)
    ///
    /// A sealed server answers nothing but the sys/ status endpoints until it is unsealed
    /// again with the threshold number of key shares.
    Seal,
    /// Rotate the barrier encryption key and print the new key status
    ///
    /// Adds a new key term: new writes are encrypted with it, existing data stays readable.
    /// Needs a token with sudo on sys/rotate.
    Rotate,
    /// Print the barrier key status: key term, install time, encryption count
    KeyStatus,
    /// List the nodes sharing the storage (several nodes on PostgreSQL): which one is active,
    /// their API addresses and last heartbeats (sys/ha-status)
    Members,
    /// Copy a stopped deployment's storage to another backend (embedded <-> PostgreSQL)
    ///
    /// Offline: stop the servers of both first. Values are copied still encrypted, so the
    /// same unseal keys open the copy. The destination must be empty; the copy is checked by
    /// counting and hashing every key and value on both sides.
    Migrate(MigrateArgs),
}

/// Arguments of `coffre operator migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where the data is: embedded:PATH or postgres:URL
    #[arg(long, value_name = "BACKEND:WHERE")]
    pub from: String,
    /// Where it goes (empty): embedded:PATH or postgres:URL
    #[arg(long, value_name = "BACKEND:WHERE")]
    pub to: String,
    /// The PostgreSQL schema of coffre's tables, on the PostgreSQL side [default: public]
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
}

/// Arguments of `coffre operator init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Number of unseal key shares to generate (1–255)
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=255))]
    pub key_shares: u32,

    /// Number of shares needed to unseal (1–255, at most --key-shares)
    #[arg(long, value_name = "T", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=255))]
    pub key_threshold: u32,
}

/// Arguments of `coffre operator unseal`.
#[derive(Debug, Args)]
pub struct UnsealArgs {
    /// One unseal key share, hex or base64 [default: read a line from stdin]
    #[arg(value_name = "KEY", conflicts_with = "reset")]
    pub key: Option<String>,

    /// Discard the key shares entered so far in this unseal attempt
    #[arg(long)]
    pub reset: bool,
}

/// Runs `coffre operator …`.
pub async fn run(ctx: &Ctx, cmd: OperatorCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OperatorCommand::Init(args) => init(ctx, args).await?,
        OperatorCommand::Unseal(args) => unseal(ctx, args).await?,
        OperatorCommand::Seal => seal(ctx).await?,
        OperatorCommand::Rotate => rotate(ctx).await?,
        OperatorCommand::KeyStatus => key_status(ctx).await?,
        OperatorCommand::Members => members(ctx).await?,
        OperatorCommand::Migrate(args) => migrate(args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn init(ctx: &Ctx, args: InitArgs) -> anyhow::Result<()> {
    if args.key_threshold > args.key_shares {
        bail!(
            "--key-threshold ({}) cannot exceed --key-shares ({})",
            args.key_threshold,
            args.key_shares
        );
    }
    let resp = ctx
        .client()?
        .init(args.key_shares, args.key_threshold)
        .await
        .context("error initializing")?;
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => output::print(&init_table(&resp, args.key_threshold)),
    }
}

fn init_table(resp: &InitResponse, threshold: u32) -> String {
    let mut out = String::new();
    for (i, key) in resp.keys.iter().enumerate() {
        out.push_str(&format!("Unseal Key {}: {key}\n", i + 1));
    }
    out.push_str(&format!("\nInitial Root Token: {}\n\n", resp.root_token));
    out.push_str(&format!(
        "Coffre initialized with {} key shares and a key threshold of {threshold}: store the \
         keys and the root token safely now (they are never shown again); {threshold} keys are \
         needed to unseal after every restart.\n",
        resp.keys.len()
    ));
    out
}

async fn unseal(ctx: &Ctx, args: UnsealArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let status = if args.reset {
        client
            .unseal_reset()
            .await
            .context("error resetting unseal")?
    } else {
        let key = match args.key {
            Some(key) => key,
            None => input::read_secret_line("Unseal Key (will be hidden): ")?,
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("no unseal key given");
        }
        client.unseal(key).await.context("error unsealing")?
    };
    print_seal_status(ctx.format, &status)
}

async fn seal(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.client()?.seal().await.context("error sealing")?;
    match ctx.format {
        Format::Json => Ok(()),
        Format::Table => output::println("Success! Coffre is sealed."),
    }
}

async fn rotate(ctx: &Ctx) -> anyhow::Result<()> {
    let client = ctx.client()?;
    client.rotate().await.context("error rotating key")?;
    let status = client
        .key_status()
        .await
        .context("key rotated, but error reading the new key status")?;
    if ctx.format == Format::Table {
        output::println("Success! Rotated key\n")?;
    }
    print_key_status(ctx.format, &status)
}

async fn key_status(ctx: &Ctx) -> anyhow::Result<()> {
    let status = ctx
        .client()?
        .key_status()
        .await
        .context("error reading key status")?;
    print_key_status(ctx.format, &status)
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    use coffre_server::migrate::{Endpoint, migrate};
    let from = Endpoint::parse(&args.from, args.schema.as_deref())?;
    let to = Endpoint::parse(&args.to, args.schema.as_deref())?;
    let summary = migrate(&from, &to).await?;
    output::println(&format!(
        "Success! Copied {} keys; both sides hold the same keys and values (SHA-256 {})",
        summary.keys,
        hex::encode(summary.digest)
    ))
}

async fn members(ctx: &Ctx) -> anyhow::Result<()> {
    let resp = ctx
        .client()?
        .read("sys/ha-status")
        .await
        .context("error reading the members (sys/ha-status)")?
        .unwrap_or_default();
    let nodes = resp
        .get("data")
        .and_then(|d| d.get("nodes"))
        .or_else(|| resp.get("nodes"))
        .and_then(|n| n.as_array())
        .cloned()
        .unwrap_or_default();
    match ctx.format {
        Format::Json => output::print_json(&nodes),
        Format::Table => {
            if nodes.is_empty() {
                return output::println("No other nodes: this server is not one of several.");
            }
            output::print(&members_table(&nodes))
        }
    }
}

fn members_table(nodes: &[serde_json::Value]) -> String {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                text(&n["hostname"]),
                text(&n["api_address"]),
                n["active_node"].as_bool().unwrap_or(false).to_string(),
                text(&n["last_echo"]),
                text(&n["version"]),
            ]
        })
        .collect();
    output::columns(
        &[
            "Host Name",
            "API Address",
            "Active Node",
            "Last Echo",
            "Version",
        ],
        &rows,
    )
}

fn print_key_status(format: Format, status: &KeyStatus) -> anyhow::Result<()> {
    match format {
        Format::Json => output::print_json(status),
        Format::Table => output::print_kv_table(&[
            ("Key Term".into(), status.term.to_string()),
            ("Install Time".into(), status.install_time.clone()),
            ("Encryption Count".into(), status.encryptions.to_string()),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn init_output() {
        let resp: InitResponse = serde_json::from_value(json!({
            "keys": ["aa", "bb"], "keys_base64": ["qg==", "uw=="], "root_token": "hvs.root"
        }))
        .expect("init");
        let text = init_table(&resp, 2);
        assert!(
            text.starts_with(
                "Unseal Key 1: aa\nUnseal Key 2: bb\n\nInitial Root Token: hvs.root\n"
            )
        );
        assert_eq!(text.lines().count(), 6);
    }

    #[test]
    fn members_output() {
        let nodes = [
            json!({"hostname": "node-a", "api_address": "http://10.0.0.1:8200",
                   "active_node": true, "last_echo": null, "version": "0.1.0"}),
            json!({"hostname": "b", "api_address": "http://10.0.0.2:8200",
                   "active_node": false, "last_echo": "2026-12-07T15:00:00Z", "version": "0.1.0"}),
        ];
        let text = members_table(&nodes);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Host Name    API Address             Active Node    Last Echo               Version"
        );
        assert!(
            lines[2].starts_with("node-a       http://10.0.0.1:8200    true "),
            "{text}"
        );
        assert!(
            lines[3].contains("false          2026-12-07T15:00:00Z"),
            "{text}"
        );
    }
}
