//! `coffre login`: logs in with a token, userpass or AppRole (like `vault login`) and keeps
//! the token in the token file for later commands.
//!
//! The token file is `COFFRE_TOKEN_FILE`, else `~/.coffre-token`, written with mode 0600.
//! `COFFRE_TOKEN` / `VAULT_TOKEN` take precedence over it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::input;
use crate::output::{self, Format};

/// Arguments of `coffre login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The auth method: token, userpass or approle
    #[arg(long, default_value = "token")]
    pub method: String,

    /// Where the method is mounted below `auth/` [default: the method's name]
    #[arg(long)]
    pub path: Option<String>,

    /// Print the token without storing it in the token file
    #[arg(long = "no-store")]
    pub no_store: bool,

    /// Print only the token
    #[arg(long = "token-only")]
    pub token_only: bool,

    /// For `token`: the token (read from stdin when absent or `-`). For userpass:
    /// `username=NAME [password=PW]` (the password is asked for when absent). For approle:
    /// `role_id=ID secret_id=ID`.
    #[arg(value_name = "ARGS")]
    pub args: Vec<String>,
}

/// The token file's path.
pub fn token_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COFFRE_TOKEN_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".coffre-token"))
}

/// The token kept by the last `coffre login`, if any.
pub fn stored_token() -> anyhow::Result<Option<String>> {
    let Some(path) = token_file() else {
        return Ok(None);
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read the token file {}", path.display())),
    }
}

fn store_token(token: &str) -> anyhow::Result<PathBuf> {
    let path = token_file().context("no token file: set COFFRE_TOKEN_FILE or HOME")?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&path)
        .with_context(|| format!("cannot write the token file {}", path.display()))?;
    f.write_all(token.as_bytes())?;
    Ok(path)
}

/// The login request of a method: its path and body.
fn login_request(method: &str, mount: &str, args: &[String]) -> anyhow::Result<(String, Value)> {
    let mut pairs = input::parse_pairs(args, "login")?;
    match method {
        "userpass" => {
            let user = pairs
                .remove("username")
                .context("userpass needs username=NAME")?;
            let password = match pairs.remove("password") {
                Some(p) => p,
                None => input::read_secret_line("Password (will be hidden): ")?,
            };
            let mut body = Map::new();
            body.insert("password".into(), json!(password));
            body.extend(pairs.into_iter().map(|(k, v)| (k, json!(v))));
            Ok((format!("auth/{mount}/login/{user}"), Value::Object(body)))
        }
        "approle" => {
            if !pairs.contains_key("role_id") {
                bail!("approle needs role_id=ID (and secret_id=ID)");
            }
            let body: Map<String, Value> = pairs.into_iter().map(|(k, v)| (k, json!(v))).collect();
            Ok((format!("auth/{mount}/login"), Value::Object(body)))
        }
        other => bail!("unknown login method {other:?}: token, userpass or approle"),
    }
}

/// Runs `coffre login`.
pub async fn run(ctx: &Ctx, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let method = args.method.as_str();
    let mount = args
        .path
        .clone()
        .unwrap_or_else(|| method.to_string())
        .trim_matches('/')
        .to_string();
    let (token, resp) = if method == "token" {
        let given = match args.args.first().map(String::as_str) {
            Some("-") | None => input::read_secret_line("Token (will be hidden): ")?,
            Some(t) => t.strip_prefix("token=").unwrap_or(t).to_string(),
        };
        let resp = client
            .with_token(given.clone())
            .token_lookup_self()
            .await
            .context("error looking up the token")?;
        (given, resp)
    } else {
        let (path, body) = login_request(method, &mount, &args.args)?;
        // A login needs no token; an old one is not sent.
        let mut anonymous = client.clone();
        anonymous.set_token(None);
        let mut resp = anonymous
            .write(&path, body)
            .await
            .context("error logging in")?
            .context("the server's login response was empty")?;
        if resp
            .pointer("/auth/mfa_requirement")
            .is_some_and(|r| !r.is_null())
        {
            resp = super::mfa::complete_login(&client, &resp).await?;
        }
        let token = resp
            .pointer("/auth/client_token")
            .and_then(Value::as_str)
            .context("the server's login response has no token")?
            .to_string();
        (token, resp)
    };
    if !args.no_store {
        store_token(&token)?;
    }
    if args.token_only {
        output::println(&token)?;
        return Ok(ExitCode::SUCCESS);
    }
    if ctx.format == Format::Json {
        output::print_json(&resp)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.no_store {
        eprintln!(
            "Success! You are now logged in; the token is stored in the token file and used \
             by later commands."
        );
    }
    if resp.get("auth").is_some_and(Value::is_object) {
        super::token::print_auth(ctx, &resp, None)?;
    } else if let Some(Value::Object(data)) = resp.get("data") {
        output::print_kv_table(&output::field_rows(data))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_of_each_method() {
        let (path, body) = login_request(
            "userpass",
            "up",
            &["username=alice".into(), "password=pw".into()],
        )
        .expect("userpass");
        assert_eq!(
            (path.as_str(), body),
            ("auth/up/login/alice", json!({"password": "pw"}))
        );
        let (path, body) = login_request(
            "approle",
            "approle",
            &["role_id=r".into(), "secret_id=s".into()],
        )
        .expect("approle");
        assert_eq!(
            (path.as_str(), body),
            (
                "auth/approle/login",
                json!({"role_id": "r", "secret_id": "s"})
            )
        );
        assert!(login_request("approle", "approle", &[]).is_err());
        assert!(login_request("ldap", "ldap", &[]).is_err());
    }
}
