//! `coffre auth …`: enable, disable, list and tune auth methods (`sys/auth`), like
//! `vault auth`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::input;
use crate::output::{self, Format};

/// `coffre auth` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Enable an auth method (userpass, approle) at a path below `auth/`
    Enable(EnableArgs),
    /// Disable an auth method: its users, roles and secret ids are removed, and the tokens its
    /// logins made stop working
    Disable(PathArgs),
    /// List the enabled auth methods
    List,
    /// Tune an auth method: token TTLs, token type, listing visibility, lockout
    Tune(TuneArgs),
}

/// Arguments of `coffre auth enable`.
#[derive(Debug, Args)]
pub struct EnableArgs {
    /// The method's type: userpass or approle
    #[arg(value_name = "TYPE")]
    pub kind: String,
    /// Where to mount it below `auth/` [default: the type]
    #[arg(long)]
    pub path: Option<String>,
    /// Free text shown in listings
    #[arg(long)]
    pub description: Option<String>,
}

/// Arguments naming a mounted method.
#[derive(Debug, Args)]
pub struct PathArgs {
    /// The method's path below `auth/`, e.g. `userpass`
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// Arguments of `coffre auth tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The method's path below `auth/`
    #[arg(value_name = "PATH")]
    pub path: String,
    /// Default TTL of tokens its logins make, e.g. `1h`
    #[arg(long = "default-lease-ttl")]
    pub default_lease_ttl: Option<String>,
    /// Longest TTL of tokens its logins make
    #[arg(long = "max-lease-ttl")]
    pub max_lease_ttl: Option<String>,
    /// default-service, default-batch, service or batch
    #[arg(long = "token-type")]
    pub token_type: Option<String>,
    /// `unauth` to show the method to callers without a token, `hidden` otherwise
    #[arg(long = "listing-visibility")]
    pub listing_visibility: Option<String>,
    /// Failed logins that lock a name (default 5)
    #[arg(long = "lockout-threshold")]
    pub lockout_threshold: Option<u64>,
    /// How long a lock lasts, e.g. `15m`
    #[arg(long = "lockout-duration")]
    pub lockout_duration: Option<String>,
    /// Quiet time after which failures are forgotten, e.g. `15m`
    #[arg(long = "lockout-counter-reset")]
    pub lockout_counter_reset: Option<String>,
    /// Turn lockout off (`true`) or on (`false`) for this method
    #[arg(long = "lockout-disable")]
    pub lockout_disable: Option<bool>,
}

fn mount(path: &str) -> anyhow::Result<&str> {
    let p = path.trim_matches('/');
    if p.is_empty() {
        bail!("missing PATH");
    }
    Ok(p.strip_prefix("auth/").unwrap_or(p))
}

/// Runs `coffre auth …`.
pub async fn run(ctx: &Ctx, cmd: AuthCommand) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match cmd {
        AuthCommand::Enable(args) => {
            let path = mount(args.path.as_deref().unwrap_or(&args.kind))?.to_string();
            let mut body = json!({"type": args.kind});
            if let Some(d) = args.description {
                body["description"] = json!(d);
            }
            client
                .write(&format!("sys/auth/{path}"), body)
                .await
                .with_context(|| format!("error enabling {} at auth/{path}/", args.kind))?;
            output::println(&format!(
                "Success! Enabled {} auth method at: {path}/",
                args.kind
            ))?;
        }
        AuthCommand::Disable(args) => {
            let path = mount(&args.path)?;
            client
                .delete(&format!("sys/auth/{path}"))
                .await
                .with_context(|| format!("error disabling auth/{path}/"))?;
            output::println(&format!("Success! Disabled the auth method at: {path}/"))?;
        }
        AuthCommand::List => {
            let resp = client
                .read("sys/auth")
                .await
                .context("error listing auth methods")?
                .context("the server listed no auth methods")?;
            if ctx.format == Format::Json {
                output::print_json(&resp)?;
            } else {
                print_methods(&resp)?;
            }
        }
        AuthCommand::Tune(args) => {
            let path = mount(&args.path)?.to_string();
            let body = tune_body(&args)?;
            client
                .write(&format!("sys/auth/{path}/tune"), Value::Object(body))
                .await
                .with_context(|| format!("error tuning auth/{path}/"))?;
            output::println(&format!("Success! Tuned the auth method at: {path}/"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tune_body(args: &TuneArgs) -> anyhow::Result<Map<String, Value>> {
    let mut body = Map::new();
    for (name, value) in [
        ("default_lease_ttl", &args.default_lease_ttl),
        ("max_lease_ttl", &args.max_lease_ttl),
    ] {
        if let Some(v) = value {
            body.insert(name.into(), json!(input::parse_duration(v)?));
        }
    }
    if let Some(t) = &args.token_type {
        body.insert("token_type".into(), json!(t));
    }
    if let Some(v) = &args.listing_visibility {
        body.insert("listing_visibility".into(), json!(v));
    }
    let mut lockout = Map::new();
    if let Some(n) = args.lockout_threshold {
        lockout.insert("lockout_threshold".into(), json!(n));
    }
    for (name, value) in [
        ("lockout_duration", &args.lockout_duration),
        ("lockout_counter_reset", &args.lockout_counter_reset),
    ] {
        if let Some(v) = value {
            lockout.insert(name.into(), json!(input::parse_duration(v)?));
        }
    }
    if let Some(b) = args.lockout_disable {
        lockout.insert("disable_lockout".into(), json!(b));
    }
    if !lockout.is_empty() {
        body.insert("user_lockout_config".into(), Value::Object(lockout));
    }
    if body.is_empty() {
        bail!("nothing to tune: give at least one flag");
    }
    Ok(body)
}

/// A table: path, type, accessor, description.
fn print_methods(resp: &Value) -> anyhow::Result<()> {
    let Some(Value::Object(data)) = resp.get("data") else {
        bail!("the server's response has no data");
    };
    let mut lines = vec![format!(
        "{:<20} {:<10} {:<40} {}",
        "Path", "Type", "Accessor", "Description"
    )];
    for (path, m) in data {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        lines.push(format!(
            "{:<20} {:<10} {:<40} {}",
            path,
            s("type"),
            s("accessor"),
            s("description")
        ));
    }
    output::print(&(lines.join("\n") + "\n"))
}
