//! The generic commands: `coffre read`, `write`, `list`, `delete` on any API path.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

use super::Ctx;
use crate::input;
use crate::output::{self, Format};

/// Arguments of `coffre read`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// API path relative to /v1/, e.g. secret/foo or sys/mounts
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// Arguments of `coffre write`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// API path relative to /v1/, e.g. secret/foo
    #[arg(value_name = "PATH")]
    pub path: String,

    /// Data as key=value pairs (values are strings; value @FILE reads FILE), or `-` alone to
    /// read a JSON object from stdin
    #[arg(value_name = "K=V")]
    pub data: Vec<String>,
}

/// Arguments of `coffre list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// API path relative to /v1/, e.g. secret/ or sys/policies/acl
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// Arguments of `coffre delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// API path relative to /v1/, e.g. secret/foo
    #[arg(value_name = "PATH")]
    pub path: String,
}

fn clean(path: &str) -> anyhow::Result<&str> {
    let p = path.trim().trim_start_matches('/');
    if p.is_empty() {
        bail!("missing PATH");
    }
    Ok(p)
}

/// `coffre read PATH`.
pub async fn read(ctx: &Ctx, args: ReadArgs) -> anyhow::Result<ExitCode> {
    let path = clean(&args.path)?;
    let resp = ctx
        .client()?
        .read(path)
        .await
        .with_context(|| format!("error reading {path}"))?;
    let Some(resp) = resp else {
        bail!("no value found at {path}");
    };
    match ctx.format {
        Format::Json => output::print_json(&resp)?,
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            let rows = output::response_rows(&resp);
            if !rows.is_empty() {
                output::print_kv_table(&rows)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `coffre write PATH [K=V...]`.
pub async fn write(ctx: &Ctx, args: WriteArgs) -> anyhow::Result<ExitCode> {
    let path = clean(&args.path)?;
    let data = input::parse_write_data(&args.data, std::io::stdin().lock(), |p| {
        std::fs::read_to_string(p)
    })?;
    let resp = ctx
        .client()?
        .write(path, Value::Object(data))
        .await
        .with_context(|| format!("error writing data to {path}"))?;
    print_result(
        ctx.format,
        resp.as_ref(),
        &format!("Data written to: {path}"),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `coffre list PATH`.
pub async fn list(ctx: &Ctx, args: ListArgs) -> anyhow::Result<ExitCode> {
    let path = clean(&args.path)?;
    let resp = ctx
        .client()?
        .list(path)
        .await
        .with_context(|| format!("error listing {path}"))?;
    let Some(resp) = resp else {
        bail!("no value found at {path}");
    };
    match ctx.format {
        Format::Json => output::print_json(&resp)?,
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            let keys = resp
                .get("data")
                .and_then(|d| d.get("keys"))
                .or_else(|| resp.get("keys"));
            let Some(Value::Array(keys)) = keys else {
                bail!("no keys in the response from {path}");
            };
            let mut text = String::from("Keys\n----\n");
            for k in keys {
                text.push_str(&output::cell(k));
                text.push('\n');
            }
            output::print(&text)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `coffre delete PATH`.
pub async fn delete(ctx: &Ctx, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let path = clean(&args.path)?;
    let resp = ctx
        .client()?
        .delete(path)
        .await
        .with_context(|| format!("error deleting {path}"))?;
    print_result(
        ctx.format,
        resp.as_ref(),
        &format!("Data deleted (if it existed) at: {path}"),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Output of a write-like command: the response if there is one with something to show,
/// else `Success! <what>` (table mode; nothing in JSON mode when there is no body).
fn print_result(format: Format, resp: Option<&Value>, what: &str) -> anyhow::Result<()> {
    match (format, resp) {
        (Format::Json, Some(resp)) => output::print_json(resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, None) => output::println(&format!("Success! {what}")),
        (Format::Table, Some(resp)) => {
            output::print_warnings(format, resp);
            let rows = output::response_rows(resp);
            if rows.is_empty() {
                output::println(&format!("Success! {what}"))
            } else {
                output::print_kv_table(&rows)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean("/secret/foo").expect("path"), "secret/foo");
        assert_eq!(clean("secret/").expect("path"), "secret/");
        assert!(clean(" / ").is_err());
    }
}
