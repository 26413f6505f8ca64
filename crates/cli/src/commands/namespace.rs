//! `coffre namespace …`: tenants (`sys/namespaces/…`), like `bao namespace`. Names are taken
//! in the namespace of `--namespace` (a child of it is created, listed or deleted).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::Ctx;
use crate::input;
use crate::output::{self, Format};

/// `coffre namespace` subcommands.
#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// Create a namespace below the current one (with its own mounts, policies, tokens and key)
    Create(CreateArgs),
    /// List the namespaces directly below the current one, one per line
    List,
    /// Show a namespace's id, path and custom metadata
    Lookup(NameArgs),
    /// Change a namespace's custom metadata (others keys are kept)
    Patch(PatchArgs),
    /// Delete a namespace for good: its key is destroyed first, so nothing in it can be read
    /// again, from this server or from a backup taken afterwards
    ///
    /// Asks for the namespace's name as confirmation unless --force is given. A namespace with
    /// namespaces below it is not deleted.
    Delete(DeleteArgs),
}

/// Arguments of `coffre namespace create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name of the new namespace (one path segment)
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Custom metadata, `key=value` (repeatable)
    #[arg(long = "custom-metadata", value_name = "KEY=VALUE")]
    pub custom_metadata: Vec<String>,
}

/// Arguments of `coffre namespace lookup`.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// Namespace name
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// Arguments of `coffre namespace patch`.
#[derive(Debug, Args)]
pub struct PatchArgs {
    /// Namespace name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Custom metadata to set, `key=value` (repeatable)
    #[arg(long = "custom-metadata", value_name = "KEY=VALUE")]
    pub custom_metadata: Vec<String>,

    /// Custom metadata keys to remove (repeatable)
    #[arg(long = "remove-custom-metadata", value_name = "KEY")]
    pub remove: Vec<String>,
}

/// Arguments of `coffre namespace delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Namespace name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Do not ask for confirmation
    #[arg(long, short = 'f')]
    pub force: bool,
}

/// Runs `coffre namespace …`.
pub async fn run(ctx: &Ctx, cmd: NamespaceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        NamespaceCommand::Create(args) => create(ctx, args).await?,
        NamespaceCommand::List => list(ctx).await?,
        NamespaceCommand::Lookup(args) => lookup(ctx, args).await?,
        NamespaceCommand::Patch(args) => patch(ctx, args).await?,
        NamespaceCommand::Delete(args) => delete(ctx, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn check_name(name: &str) -> anyhow::Result<&str> {
    let name = name.trim().trim_matches('/');
    if name.is_empty() {
        bail!("missing namespace NAME");
    }
    if name.contains('/') {
        bail!("invalid namespace name {name:?}: one path segment, no '/'");
    }
    Ok(name)
}

fn string_map(pairs: &[String], flag: &str) -> anyhow::Result<Map<String, Value>> {
    Ok(input::parse_pairs(pairs, flag)?
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect())
}

/// Prints a namespace response: the server's JSON, or its fields as a table.
fn print_entry(ctx: &Ctx, resp: &Value) -> anyhow::Result<()> {
    match ctx.format {
        Format::Json => output::print_json(resp),
        Format::Table => {
            output::print_warnings(ctx.format, resp);
            let data = resp.get("data").and_then(Value::as_object);
            output::print_kv_table(&data.map(output::field_rows).unwrap_or_default())
        }
    }
}

async fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let name = check_name(&args.name)?;
    let meta = string_map(&args.custom_metadata, "--custom-metadata")?;
    let resp = ctx
        .client()?
        .namespace_create(name, &meta)
        .await
        .with_context(|| format!("error creating namespace {name}"))?;
    print_entry(ctx, &resp.unwrap_or(Value::Null))
}

async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let resp = ctx
        .client()?
        .namespace_list()
        .await
        .context("error listing namespaces")?;
    let resp = resp.unwrap_or_else(|| serde_json::json!({"data": {"keys": []}}));
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            let mut text = String::new();
            for name in coffre_client::list_keys(&resp) {
                text.push_str(&name);
                text.push('\n');
            }
            output::print(&text)
        }
    }
}

async fn lookup(ctx: &Ctx, args: NameArgs) -> anyhow::Result<()> {
    let name = check_name(&args.name)?;
    let resp = ctx
        .client()?
        .namespace_read(name)
        .await
        .with_context(|| format!("error looking up namespace {name}"))?;
    let Some(resp) = resp else {
        bail!("namespace not found: {name}");
    };
    print_entry(ctx, &resp)
}

async fn patch(ctx: &Ctx, args: PatchArgs) -> anyhow::Result<()> {
    let name = check_name(&args.name)?;
    let mut meta = string_map(&args.custom_metadata, "--custom-metadata")?;
    for key in &args.remove {
        if meta.insert(key.clone(), Value::Null).is_some() {
            bail!("custom metadata key {key:?} is both set and removed");
        }
    }
    if meta.is_empty() {
        bail!("nothing to change: give --custom-metadata or --remove-custom-metadata");
    }
    let resp = ctx
        .client()?
        .namespace_patch(name, &meta)
        .await
        .with_context(|| format!("error patching namespace {name}"))?;
    print_entry(ctx, &resp.unwrap_or(Value::Null))
}

/// Asks for the namespace's name on stdin; `true` when it was typed back.
fn confirmed(name: &str, full: &str, answer: impl BufRead) -> anyhow::Result<bool> {
    if std::io::stdin().is_terminal() {
        eprint!(
            "Deleting namespace {full} destroys its key: every secret, key and token in it is \
             lost for good.\nType the namespace name ({name}) to confirm: "
        );
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    let mut answer = answer;
    answer
        .read_line(&mut line)
        .context("cannot read the confirmation from stdin")?;
    Ok(line.trim() == name)
}

async fn delete(ctx: &Ctx, args: DeleteArgs) -> anyhow::Result<()> {
    let name = check_name(&args.name)?;
    let client = ctx.client()?;
    let full = match client.namespace() {
        Some(parent) => format!("{parent}/{name}/"),
        None => format!("{name}/"),
    };
    if !args.force && !confirmed(name, &full, std::io::stdin().lock())? {
        bail!("not confirmed: namespace {full} was not deleted");
    }
    let resp = client
        .namespace_delete(name)
        .await
        .with_context(|| format!("error deleting namespace {full}"))?;
    match (ctx.format, resp) {
        (Format::Json, Some(resp)) => output::print_json(&resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, resp) => {
            if let Some(resp) = &resp {
                output::print_warnings(ctx.format, resp);
            }
            output::println(&format!(
                "Success! Namespace deleted: {full} (its key is destroyed; its data is being removed)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_segment() {
        assert_eq!(check_name(" team-a/ ").expect("name"), "team-a");
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
    }

    #[test]
    fn deletion_needs_the_name_typed_back() {
        assert!(confirmed("team-a", "team-a/", &b"team-a\n"[..]).expect("read"));
        assert!(!confirmed("team-a", "team-a/", &b"y\n"[..]).expect("read"));
        assert!(!confirmed("team-a", "team-a/", &b""[..]).expect("read"));
    }
}
