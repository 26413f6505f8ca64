//! `coffre policy …`: ACL policies (`sys/policies/acl/…`), like `vault policy`.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::Ctx;
use crate::output::{self, Format};

/// `coffre policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create or replace a policy from a file (HCL or JSON), or from stdin with `-`
    ///
    /// Policy names are lower-cased by the server. `root` cannot be written.
    Write(WriteArgs),
    /// Print a policy's text (with --format json: the server's response)
    Read(NameArgs),
    /// List the policy names, one per line
    List,
    /// Delete a policy (`root` and `default` cannot be deleted)
    ///
    /// Tokens that have the policy keep its name but lose its permissions.
    Delete(NameArgs),
    /// Policies from the role templates of docs/ACCESS.md (developer, devops,
    /// security-officer, tech-lead, admin)
    #[command(subcommand)]
    Template(super::policy_template::TemplateCommand),
}

/// Arguments of `coffre policy write`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Policy name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// File holding the policy (HCL or JSON), or `-` to read it from stdin
    #[arg(value_name = "FILE")]
    pub file: String,
}

/// Arguments of `coffre policy read` and `coffre policy delete`.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// Policy name
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// Runs `coffre policy …`.
pub async fn run(ctx: &Ctx, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Write(args) => write(ctx, args).await?,
        PolicyCommand::Read(args) => read(ctx, args).await?,
        PolicyCommand::List => list(ctx).await?,
        PolicyCommand::Delete(args) => delete(ctx, args).await?,
        PolicyCommand::Template(cmd) => super::policy_template::run(ctx, cmd).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn check_name(name: &str) -> anyhow::Result<&str> {
    let name = name.trim();
    if name.is_empty() {
        bail!("missing policy NAME");
    }
    if name.contains('/') {
        bail!("invalid policy name {name:?}: no '/' allowed");
    }
    Ok(name)
}

/// The policy text from FILE, or stdin for `-`.
fn read_policy(file: &str, stdin: impl Read) -> anyhow::Result<String> {
    let text = if file == "-" {
        let mut text = String::new();
        let mut stdin = stdin;
        stdin
            .read_to_string(&mut text)
            .context("cannot read the policy from stdin")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read policy file {file}"))?
    };
    if text.trim().is_empty() {
        bail!("the policy is empty");
    }
    Ok(text)
}

async fn write(ctx: &Ctx, args: WriteArgs) -> anyhow::Result<()> {
    let name = check_name(&args.name)?;
    let text = read_policy(&args.file, std::io::stdin().lock())?;
    let resp = ctx
        .client()?
        .policy_write(name, &text)
        .await
        .with_context(|| format!("error uploading policy {name}"))?;
    match (ctx.format, resp) {
        (Format::Json, Some(resp)) => output::print_json(&resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, resp) => {
            if let Some(resp) = &resp {
                output::print_warnings(ctx.format, resp);
            }
            output::println(&format!("Success! Uploaded policy: {name}"))
        }
    }
}

async fn read(ctx: &Ctx, args: NameArgs) -> anyhow::Result<()> {
    let name = check_name(&args.name)?;
    let resp = ctx
        .client()?
        .policy_read(name)
        .await
        .with_context(|| format!("error reading policy {name}"))?;
    let Some(resp) = resp else {
        bail!("no policy named: {name}");
    };
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            let data = resp.get("data").unwrap_or(&resp);
            let Some(text) = data
                .get("policy")
                .or_else(|| data.get("rules"))
                .and_then(Value::as_str)
            else {
                bail!("no policy text in the response for {name}");
            };
            let mut text = text.to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            output::print(&text)
        }
    }
}

async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let resp = ctx
        .client()?
        .policy_list()
        .await
        .context("error listing policies")?;
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

async fn delete(ctx: &Ctx, args: NameArgs) -> anyhow::Result<()> {
    let name = check_name(&args.name)?;
    let resp = ctx
        .client()?
        .policy_delete(name)
        .await
        .with_context(|| format!("error deleting policy {name}"))?;
    match (ctx.format, resp) {
        (Format::Json, Some(resp)) => output::print_json(&resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, resp) => {
            if let Some(resp) = &resp {
                output::print_warnings(ctx.format, resp);
            }
            output::println(&format!("Success! Deleted policy: {name}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name(" dev ").expect("name"), "dev");
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
    }

    #[test]
    fn policy_from_stdin() {
        let text = read_policy(
            "-",
            &b"path \"secret/*\" { capabilities = [\"read\"] }\n"[..],
        )
        .expect("stdin");
        assert!(text.starts_with("path"));
        assert!(read_policy("-", &b"  \n"[..]).is_err());
        assert!(read_policy("/nonexistent/policy.hcl", &b""[..]).is_err());
    }
}
