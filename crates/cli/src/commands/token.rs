//! `coffre token …`: create, look up, renew and revoke tokens, check capabilities — like
//! `vault token`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use coffre_client::TokenCreateRequest;
use serde_json::Value;

use super::Ctx;
use crate::input;
use crate::output::{self, Format};

/// `coffre token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token (a child of the calling token unless --orphan)
    ///
    /// Prints token, token_accessor, token_duration, token_renewable, token_policies,
    /// identity_policies and policies. Without --policy the token gets the caller's policies.
    /// `--field token` prints only the new token, for scripts.
    Create(CreateArgs),
    /// Show a token's properties (without TOKEN: the calling token's)
    ///
    /// TOKEN `-` reads the token from stdin. With --accessor, TOKEN is an accessor.
    Lookup(LookupArgs),
    /// Extend a token's TTL (without TOKEN: the calling token)
    ///
    /// TOKEN `-` reads the token from stdin. With --accessor, TOKEN is an accessor.
    Renew(RenewArgs),
    /// Revoke a token and all its children (or --self, or by --accessor)
    ///
    /// TOKEN `-` reads the token from stdin. `--mode orphan` revokes only the token and
    /// makes its children orphans (needs sudo).
    Revoke(RevokeArgs),
    /// Print a token's capabilities on a path (without TOKEN: the calling token's)
    ///
    /// Uses sys/capabilities-self with one argument, sys/capabilities with TOKEN (or
    /// sys/capabilities-accessor with --accessor).
    #[command(override_usage = "coffre token capabilities [OPTIONS] [TOKEN] <PATH>")]
    Capabilities(CapabilitiesArgs),
}

/// `--type` of `coffre token create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenType {
    /// Persisted, renewable, can have children.
    Service,
    /// Lightweight, not persisted, not renewable.
    Batch,
}

/// Arguments of `coffre token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Policy to attach (repeat the flag, or separate with commas)
    #[arg(long = "policy", value_name = "POLICY")]
    pub policies: Vec<String>,

    /// Initial TTL, e.g. 30m, 1h, 7d (default: the token mount's, 768h)
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,

    /// Hard limit on the token's life; renewals cannot extend past it
    #[arg(long, value_name = "DURATION")]
    pub explicit_max_ttl: Option<String>,

    /// Make a periodic token: every renewal resets its TTL to this (needs sudo)
    #[arg(long, value_name = "DURATION")]
    pub period: Option<String>,

    /// Number of uses after which the token is revoked (0: unlimited)
    #[arg(long, value_name = "N", visible_alias = "use-limit")]
    pub num_uses: Option<u64>,

    /// Create a token without a parent: not revoked when its creator is
    #[arg(long)]
    pub orphan: bool,

    /// Do not attach the `default` policy
    #[arg(long)]
    pub no_default_policy: bool,

    /// Display name (stored as token-NAME)
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,

    /// Token type
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub token_type: Option<TokenType>,

    /// Create the token against this token role
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,

    /// Metadata KEY=VALUE to attach (repeat the flag for several keys)
    #[arg(long = "metadata", value_name = "K=V")]
    pub metadata: Vec<String>,

    /// Whether the token can be renewed (`--renewable` alone means true)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub renewable: Option<bool>,

    /// Print only this field of the output (e.g. token, token_accessor)
    #[arg(long, value_name = "FIELD")]
    pub field: Option<String>,
}

/// Arguments of `coffre token lookup`.
#[derive(Debug, Args)]
pub struct LookupArgs {
    /// Token to look up (`-`: read from stdin) [default: the calling token]
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,

    /// TOKEN is an accessor
    #[arg(long, requires = "token")]
    pub accessor: bool,

    /// Print only this field of the token's properties
    #[arg(long, value_name = "FIELD")]
    pub field: Option<String>,
}

/// Arguments of `coffre token renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Token to renew (`-`: read from stdin) [default: the calling token]
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,

    /// TTL to ask for, from now, e.g. 1h (capped by the token's limits) [default: the
    /// token's own TTL]
    #[arg(long, value_name = "DURATION")]
    pub increment: Option<String>,

    /// TOKEN is an accessor
    #[arg(long, requires = "token")]
    pub accessor: bool,

    /// Print only this field of the output (e.g. token_duration)
    #[arg(long, value_name = "FIELD")]
    pub field: Option<String>,
}

/// `--mode` of `coffre token revoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RevokeMode {
    /// Revoke only the token; its children become orphans (needs sudo).
    Orphan,
}

/// Arguments of `coffre token revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Token to revoke (`-`: read from stdin)
    #[arg(value_name = "TOKEN", required_unless_present = "self_")]
    pub token: Option<String>,

    /// Revoke the calling token
    #[arg(long = "self", conflicts_with_all = ["token", "accessor", "mode"])]
    pub self_: bool,

    /// TOKEN is an accessor
    #[arg(long, conflicts_with = "mode")]
    pub accessor: bool,

    /// Revocation mode [default: the token and all its children]
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<RevokeMode>,
}

/// Arguments of `coffre token capabilities`.
#[derive(Debug, Args)]
pub struct CapabilitiesArgs {
    /// Token (or accessor with --accessor) whose capabilities to show, then PATH; a single
    /// argument is the PATH, checked for the calling token
    #[arg(value_name = "TOKEN")]
    pub first: String,

    /// API path, e.g. secret/data/app
    #[arg(value_name = "PATH")]
    pub path: Option<String>,

    /// TOKEN is an accessor
    #[arg(long)]
    pub accessor: bool,
}

/// Runs `coffre token …`.
pub async fn run(ctx: &Ctx, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create(args) => create(ctx, args).await?,
        TokenCommand::Lookup(args) => lookup(ctx, args).await?,
        TokenCommand::Renew(args) => renew(ctx, args).await?,
        TokenCommand::Revoke(args) => revoke(ctx, args).await?,
        TokenCommand::Capabilities(args) => capabilities(ctx, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A token argument: `-` reads it from stdin (keeps it out of the shell history).
fn token_arg(arg: &str, what: &str) -> anyhow::Result<String> {
    let value = if arg == "-" {
        input::read_secret_line(&format!("{what} (will be hidden): "))?
    } else {
        arg.to_string()
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        bail!("empty {what}");
    }
    Ok(value)
}

fn opt_duration(value: Option<&String>, flag: &str) -> anyhow::Result<Option<u64>> {
    value
        .map(|d| input::parse_duration(d).with_context(|| format!("invalid {flag}")))
        .transpose()
}

/// Builds the create request from the flags.
fn create_request(args: &CreateArgs) -> anyhow::Result<TokenCreateRequest> {
    let policies: Vec<String> = args
        .policies
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    Ok(TokenCreateRequest {
        policies,
        metadata: input::parse_pairs(&args.metadata, "--metadata")?,
        no_default_policy: args.no_default_policy,
        ttl: opt_duration(args.ttl.as_ref(), "--ttl")?,
        explicit_max_ttl: opt_duration(args.explicit_max_ttl.as_ref(), "--explicit-max-ttl")?,
        period: opt_duration(args.period.as_ref(), "--period")?,
        num_uses: args.num_uses,
        display_name: args.display_name.clone(),
        token_type: args.token_type.map(|t| match t {
            TokenType::Service => "service".to_string(),
            TokenType::Batch => "batch".to_string(),
        }),
        renewable: args.renewable,
        orphan: args.orphan,
        role: args.role.clone(),
    })
}

/// Prints `rows` as a table, or only the `field` row's value.
fn print_rows(rows: &[(String, String)], field: Option<&str>) -> anyhow::Result<()> {
    match field {
        Some(field) => match rows.iter().find(|(k, _)| k == field) {
            Some((_, v)) => output::print_field(&Value::String(v.clone())),
            None => bail!("field {field:?} not present in the output"),
        },
        None => output::print_kv_table(rows),
    }
}

/// Output of create/renew: the `auth` block as token rows.
pub(crate) fn print_auth(ctx: &Ctx, resp: &Value, field: Option<&str>) -> anyhow::Result<()> {
    if ctx.format == Format::Json && field.is_none() {
        return output::print_json(resp);
    }
    output::print_warnings(Format::Table, resp);
    if !resp.get("auth").is_some_and(Value::is_object) {
        bail!("the server's response has no auth block");
    }
    print_rows(&output::response_rows(resp), field)
}

async fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let req = create_request(&args)?;
    let resp = ctx
        .client()?
        .token_create(&req)
        .await
        .context("error creating token")?;
    print_auth(ctx, &resp, args.field.as_deref())
}

async fn lookup(ctx: &Ctx, args: LookupArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let resp = match (&args.token, args.accessor) {
        (None, _) => client.token_lookup_self().await,
        (Some(acc), true) => {
            let acc = token_arg(acc, "accessor")?;
            client.token_lookup_accessor(&acc).await
        }
        (Some(token), false) => {
            let token = token_arg(token, "token")?;
            client.token_lookup(&token).await
        }
    }
    .context("error looking up token")?;
    if ctx.format == Format::Json && args.field.is_none() {
        return output::print_json(&resp);
    }
    output::print_warnings(Format::Table, &resp);
    let rows = match resp.get("data") {
        Some(Value::Object(data)) => output::field_rows(data),
        _ => bail!("the server's response has no token data"),
    };
    print_rows(&rows, args.field.as_deref())
}

async fn renew(ctx: &Ctx, args: RenewArgs) -> anyhow::Result<()> {
    let increment = opt_duration(args.increment.as_ref(), "--increment")?;
    let client = ctx.client()?;
    let resp = match (&args.token, args.accessor) {
        (None, _) => client.token_renew_self(increment).await,
        (Some(acc), true) => {
            let acc = token_arg(acc, "accessor")?;
            client.token_renew_accessor(&acc, increment).await
        }
        (Some(token), false) => {
            let token = token_arg(token, "token")?;
            client.token_renew(&token, increment).await
        }
    }
    .context("error renewing token")?;
    print_auth(ctx, &resp, args.field.as_deref())
}

async fn revoke(ctx: &Ctx, args: RevokeArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let resp = if args.self_ {
        client.token_revoke_self().await
    } else {
        let Some(arg) = &args.token else {
            bail!("missing TOKEN (or --self)");
        };
        if args.accessor {
            let acc = token_arg(arg, "accessor")?;
            client.token_revoke_accessor(&acc).await
        } else {
            let token = token_arg(arg, "token")?;
            match args.mode {
                Some(RevokeMode::Orphan) => client.token_revoke_orphan(&token).await,
                None => client.token_revoke(&token).await,
            }
        }
    }
    .context("error revoking token")?;
    match (ctx.format, resp) {
        (Format::Json, Some(resp)) => output::print_json(&resp),
        (Format::Json, None) => Ok(()),
        (Format::Table, resp) => {
            if let Some(resp) = &resp {
                output::print_warnings(ctx.format, resp);
            }
            output::println("Success! Revoked token (if it existed)")
        }
    }
}

async fn capabilities(ctx: &Ctx, args: CapabilitiesArgs) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let (who, path) = match &args.path {
        Some(path) => (Some(args.first.as_str()), path.as_str()),
        None => (None, args.first.as_str()),
    };
    let path = path.trim().trim_start_matches('/');
    if path.is_empty() {
        bail!("missing PATH");
    }
    let resp = match (who, args.accessor) {
        (None, true) => bail!("--accessor needs an ACCESSOR argument before PATH"),
        (None, false) => client.capabilities_self(&[path]).await,
        (Some(acc), true) => {
            let acc = token_arg(acc, "accessor")?;
            client.capabilities_accessor(&acc, &[path]).await
        }
        (Some(token), false) => {
            let token = token_arg(token, "token")?;
            client.capabilities(&token, &[path]).await
        }
    }
    .with_context(|| format!("error checking capabilities on {path}"))?;
    match ctx.format {
        Format::Json => output::print_json(&resp),
        Format::Table => {
            output::print_warnings(ctx.format, &resp);
            let mut caps = coffre_client::capabilities_of(&resp, path);
            caps.sort();
            output::println(&caps.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create_args(extra: &[&str]) -> CreateArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            a: CreateArgs,
        }
        let mut argv = vec!["x"];
        argv.extend_from_slice(extra);
        P::try_parse_from(argv).expect("parse").a
    }

    #[test]
    fn create_request_from_flags() {
        let args = create_args(&[
            "--policy",
            "a,b",
            "--policy",
            "c",
            "--ttl",
            "1h",
            "--explicit-max-ttl",
            "2h",
            "--period",
            "30m",
            "--use-limit",
            "3",
            "--orphan",
            "--no-default-policy",
            "--display-name",
            "ci",
            "--type",
            "batch",
            "--metadata",
            "team=ops",
            "--renewable=false",
        ]);
        let req = create_request(&args).expect("request");
        assert_eq!(req.policies, ["a", "b", "c"]);
        assert_eq!(
            (req.ttl, req.explicit_max_ttl, req.period),
            (Some(3600), Some(7200), Some(1800))
        );
        assert_eq!(req.num_uses, Some(3));
        assert!(req.orphan && req.no_default_policy);
        assert_eq!(req.token_type.as_deref(), Some("batch"));
        assert_eq!(req.renewable, Some(false));
        assert_eq!(req.metadata.get("team").map(String::as_str), Some("ops"));
        let (path, body) = req.endpoint_and_body().expect("body");
        assert_eq!(path, "auth/token/create-orphan");
        assert_eq!(body["meta"], json!({"team": "ops"}));
        assert_eq!(body["display_name"], json!("ci"));

        assert!(create_request(&create_args(&["--ttl", "soon"])).is_err());
        assert!(create_request(&create_args(&["--metadata", "novalue"])).is_err());
        let plain = create_request(&create_args(&[])).expect("plain");
        assert_eq!(plain, TokenCreateRequest::default());
    }

    #[test]
    fn field_rows_pick() {
        let rows = vec![("token".to_string(), "hvs.x".to_string())];
        assert!(print_rows(&rows, Some("nope")).is_err());
    }
}
