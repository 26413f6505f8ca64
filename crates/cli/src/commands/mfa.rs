//! `coffre mfa …`: TOTP methods, login enforcements and enrolments (`identity/mfa/…`), with
//! the enrolment's QR code drawn in the terminal. Also the MFA step of `coffre login`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use coffre_client::Client;
use qrcodegen::{QrCode, QrCodeEcc};
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::input;
use crate::output::{self, Format};

/// `coffre mfa` subcommands.
#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Create a TOTP method; prints its id
    Create(CreateArgs),
    /// Require MFA for logins: through auth mounts (accessors or types), of groups or entities
    Enforce(EnforceArgs),
    /// Enrol an entity (default: the calling token's) in a TOTP method: prints the QR code,
    /// the otpauth URL and 10 single-use backup codes, once
    Enrol(EnrolArgs),
    /// Remove an entity's enrolment in a TOTP method
    Unenrol(UnenrolArgs),
}

/// Arguments of `coffre mfa create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Shown by authenticator apps
    #[arg(long)]
    pub issuer: String,
    /// A name for the method (`X-Vault-MFA: NAME:CODE` may use it)
    #[arg(long)]
    pub name: Option<String>,
    /// 6 or 8
    #[arg(long)]
    pub digits: Option<u32>,
    /// Seconds a code is valid, e.g. `30s`
    #[arg(long)]
    pub period: Option<String>,
    /// SHA1, SHA256 or SHA512
    #[arg(long)]
    pub algorithm: Option<String>,
}

/// Arguments of `coffre mfa enforce`.
#[derive(Debug, Args)]
pub struct EnforceArgs {
    /// The enforcement's name
    #[arg(value_name = "NAME")]
    pub name: String,
    /// MFA method ids, any one of which satisfies it (repeatable)
    #[arg(long = "method", required = true)]
    pub methods: Vec<String>,
    /// Auth mount accessors (repeatable)
    #[arg(long = "auth-accessor")]
    pub accessors: Vec<String>,
    /// Auth method types, e.g. `userpass` (repeatable)
    #[arg(long = "auth-type")]
    pub types: Vec<String>,
    /// Identity group ids (repeatable)
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// Identity entity ids (repeatable)
    #[arg(long = "entity")]
    pub entities: Vec<String>,
}

/// Arguments of `coffre mfa enrol`.
#[derive(Debug, Args)]
pub struct EnrolArgs {
    /// The TOTP method's id
    #[arg(long)]
    pub method: String,
    /// The entity to enrol (an administrator's call); default: the calling token's entity
    #[arg(long)]
    pub entity: Option<String>,
}

/// Arguments of `coffre mfa unenrol`.
#[derive(Debug, Args)]
pub struct UnenrolArgs {
    /// The TOTP method's id
    #[arg(long)]
    pub method: String,
    /// The entity
    #[arg(long)]
    pub entity: String,
}

/// Runs `coffre mfa …`.
pub async fn run(ctx: &Ctx, cmd: MfaCommand) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match cmd {
        MfaCommand::Create(a) => {
            let mut body = json!({"issuer": a.issuer});
            if let Some(n) = a.name {
                body["method_name"] = json!(n);
            }
            if let Some(d) = a.digits {
                body["digits"] = json!(d);
            }
            if let Some(p) = a.period {
                body["period"] = json!(input::parse_duration(&p)?);
            }
            if let Some(alg) = a.algorithm {
                body["algorithm"] = json!(alg);
            }
            let resp = client
                .write("identity/mfa/method/totp", body)
                .await
                .context("error creating the MFA method")?
                .context("the server's answer was empty")?;
            if ctx.format == Format::Json {
                return output::print_json(&resp).map(|()| ExitCode::SUCCESS);
            }
            let id = resp
                .pointer("/data/method_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            output::println(id)?;
        }
        MfaCommand::Enforce(a) => {
            let body = json!({
                "mfa_method_ids": a.methods,
                "auth_method_accessors": a.accessors,
                "auth_method_types": a.types,
                "identity_group_ids": a.groups,
                "identity_entity_ids": a.entities,
            });
            client
                .write(&format!("identity/mfa/login-enforcement/{}", a.name), body)
                .await
                .context("error writing the login enforcement")?;
            output::println(&format!(
                "Success! Logins now need MFA under enforcement {}",
                a.name
            ))?;
        }
        MfaCommand::Enrol(a) => {
            let (path, body) = match &a.entity {
                Some(e) => (
                    "identity/mfa/method/totp/admin-generate",
                    json!({"method_id": a.method, "entity_id": e}),
                ),
                None => (
                    "identity/mfa/method/totp/generate",
                    json!({"method_id": a.method}),
                ),
            };
            let resp = client
                .write(path, body)
                .await
                .context("error enrolling")?
                .context("the server's answer was empty")?;
            if ctx.format == Format::Json {
                return output::print_json(&resp).map(|()| ExitCode::SUCCESS);
            }
            output::print_warnings(Format::Table, &resp);
            let Some(url) = resp.pointer("/data/url").and_then(Value::as_str) else {
                bail!("nothing was enrolled");
            };
            output::print(&terminal_qr(url)?)?;
            output::println(url)?;
            if let Some(Value::Array(codes)) = resp.pointer("/data/backup_codes") {
                output::println("\nBackup codes (each works once in place of a TOTP code):")?;
                for c in codes {
                    output::println(&format!("  {}", c.as_str().unwrap_or("")))?;
                }
            }
        }
        MfaCommand::Unenrol(a) => {
            client
                .write(
                    "identity/mfa/method/totp/admin-destroy",
                    json!({"method_id": a.method, "entity_id": a.entity}),
                )
                .await
                .context("error removing the enrolment")?;
            output::println("Success! The enrolment was removed.")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `text` as a QR code in Unicode half blocks (two modules per character cell), with the
/// quiet zone the standard asks for.
pub fn terminal_qr(text: &str) -> anyhow::Result<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium)
        .context("the URL is too long for a QR code")?;
    let border = 2;
    let size = qr.size();
    let dark = |x: i32, y: i32| x >= 0 && y >= 0 && x < size && y < size && qr.get_module(x, y);
    let mut out = String::new();
    let mut y = -border;
    while y < size + border {
        for x in -border..size + border {
            out.push(match (dark(x, y), dark(x, y + 1)) {
                (true, true) => ' ',
                (true, false) => '▄',
                (false, true) => '▀',
                (false, false) => '█',
            });
        }
        out.push('\n');
        y += 2;
    }
    Ok(out)
}

/// The MFA step of a login: asks for a passcode per enforcement (TOTP or backup code) and
/// validates through `sys/mfa/validate`. Returns the validated response.
pub async fn complete_login(client: &Client, resp: &Value) -> anyhow::Result<Value> {
    let requirement = resp
        .pointer("/auth/mfa_requirement")
        .context("the login response has no MFA requirement")?;
    let request_id = requirement
        .get("mfa_request_id")
        .and_then(Value::as_str)
        .context("the MFA requirement has no request id")?;
    let mut payload = Map::new();
    if let Some(Value::Object(constraints)) = requirement.get("mfa_constraints") {
        for (name, c) in constraints {
            let Some(method) = c.pointer("/any/0") else {
                continue;
            };
            let id = method.get("id").and_then(Value::as_str).unwrap_or("");
            let label = method
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(id);
            let code = input::read_secret_line(&format!(
                "MFA ({name}): code from {label} or a backup code: "
            ))?;
            payload.insert(id.to_string(), json!([code]));
        }
    }
    let mut anonymous = client.clone();
    anonymous.set_token(None);
    anonymous
        .write(
            "sys/mfa/validate",
            json!({"mfa_request_id": request_id, "mfa_payload": payload}),
        )
        .await
        .context("error validating MFA")?
        .context("the server's MFA answer was empty")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_square_with_a_quiet_zone() {
        let qr = terminal_qr("otpauth://totp/coffre:alice?secret=JBSWY3DPEHPK3PXP").expect("qr");
        let lines: Vec<&str> = qr.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(
            lines[0].chars().all(|c| c == '█'),
            "quiet zone: {}",
            lines[0]
        );
        assert!(width.div_ceil(2) <= lines.len() + 1);
    }
}
