//! `coffre`: the server and the command-line client of coffre.
//!
//! Exit codes: 0 success, 1 any error (including usage errors), 2 `coffre status` on a
//! sealed server.

mod commands;
mod input;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::Ctx;
use output::Format;

/// coffre: a secrets manager speaking the HashiCorp Vault HTTP API.
///
/// Client commands find the server through --address, else COFFRE_ADDR, else VAULT_ADDR,
/// else http://127.0.0.1:8200, and authenticate with COFFRE_TOKEN (or VAULT_TOKEN). They work
/// in the namespace of --namespace, else COFFRE_NAMESPACE, else VAULT_NAMESPACE (else the root).
/// COFFRE_CACERT / VAULT_CACERT name a PEM file of CA certificates to trust;
/// COFFRE_SKIP_VERIFY=true / VAULT_SKIP_VERIFY=true accept any server certificate.
#[derive(Debug, Parser)]
#[command(name = "coffre", version, propagate_version = true)]
struct Cli {
    /// Address of the coffre server, e.g. https://127.0.0.1:8200 [default: VAULT_ADDR, else
    /// http://127.0.0.1:8200]
    #[arg(long, global = true, env = "COFFRE_ADDR", value_name = "URL")]
    address: Option<String>,

    /// Output format of client commands: `table` for humans, `json` for the server's response
    /// as pretty-printed JSON
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,

    /// Namespace to work in, e.g. `team-a` or `team-a/prod` [default: COFFRE_NAMESPACE, else
    /// VAULT_NAMESPACE, else the root namespace]
    #[arg(long, short = 'n', global = true, value_name = "NAMESPACE")]
    namespace: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a coffre server, from a config file or in dev mode
    ///
    /// With --config, runs the server described by a TOML file. With --dev, runs an in-memory
    /// server that is already initialized and unsealed, listening on loopback only, and prints
    /// its root token: for development and tests, never for real secrets.
    ///
    /// Logs go to stderr; set the level or filter with COFFRE_LOG (default `info`, e.g.
    /// COFFRE_LOG=debug or COFFRE_LOG=coffre_server=trace). Stops on SIGINT or SIGTERM.
    Server(commands::server::ServerArgs),
    /// Initialize, unseal, seal and rotate the server's keys
    #[command(subcommand)]
    Operator(commands::operator::OperatorCommand),
    /// Print the seal status (exit code 0 when unsealed, 2 when sealed, 1 on error)
    Status(commands::status::StatusArgs),
    /// Read the data at a path (GET /v1/PATH)
    Read(commands::generic::ReadArgs),
    /// Write key=value data to a path (PUT /v1/PATH)
    Write(commands::generic::WriteArgs),
    /// List the keys under a path (LIST /v1/PATH)
    List(commands::generic::ListArgs),
    /// Delete the data at a path (DELETE /v1/PATH)
    Delete(commands::generic::DeleteArgs),
    /// Verify and search audit logs (offline), and read a device's chain head and key
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Read and write secrets of a KV engine, version 1 or 2 (like `vault kv`)
    ///
    /// PATH starts with the mount (`secret/app/db`), detected from the server along with the
    /// KV version, or is relative to --mount. Vault-style single-dash flags (`-mount=secret`,
    /// `-field=password`) are accepted too.
    #[command(subcommand)]
    Kv(commands::kv::KvCommand),
    /// Write, read, list and delete ACL policies (sys/policies/acl)
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Create, look up, renew and revoke tokens; check a token's capabilities
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Transit engine: manage keys, encrypt/decrypt, sign/verify, generate data keys
    ///
    /// Pipe friendly: `echo -n secret | coffre transit encrypt k | coffre transit decrypt k`.
    /// `coffre transit verify` exits with 0 for a valid signature, 2 for an invalid one and 1
    /// on errors. --mount defaults to `transit`.
    #[command(subcommand)]
    Transit(commands::transit::TransitCommand),
    /// Create, list, look up, patch and delete namespaces (tenants)
    ///
    /// Deleting a namespace destroys its key first (crypto-shredding) and asks for
    /// confirmation. Vault-style flags (`-custom-metadata=k=v`, `-f`) are accepted too.
    #[command(subcommand)]
    Namespace(commands::namespace::NamespaceCommand),
    /// Log in with a token, userpass or AppRole and keep the token for later commands
    ///
    /// `coffre login --method userpass username=alice` asks for the password; `coffre login
    /// --method approle role_id=… secret_id=…`; `coffre login TOKEN`. The token goes to the
    /// token file (COFFRE_TOKEN_FILE, else ~/.coffre-token, mode 0600) unless --no-store;
    /// COFFRE_TOKEN and VAULT_TOKEN take precedence over it. Vault-style flags
    /// (`-method=userpass`) are accepted too.
    Login(commands::login::LoginArgs),
    /// Login MFA: TOTP methods, enforcements and enrolments (with a QR code in the terminal)
    #[command(subcommand)]
    Mfa(commands::mfa::MfaCommand),
    /// The identity store: entities without a recent login, for access reviews
    #[command(subcommand)]
    Identity(commands::identity::IdentityCommand),
    /// Enable, disable, list and tune auth methods (sys/auth)
    #[command(subcommand)]
    Auth(commands::auth::AuthCommand),
    /// Rotation policies of KV v2 secrets, the rotation calendar, rotate/promote/rollback
    ///
    /// `coffre rotate set secret/api --preset api-key`, then `coffre rotate calendar`, `coffre
    /// rotate check` (exit 2 when something is overdue), `coffre rotate run [--dry-run]
    /// [--force] [PATH...]`, `coffre rotate rollback PATH`.
    #[command(subcommand)]
    Rotate(commands::rotate::RotateCommand),
    /// Look up, renew and revoke leases of dynamic secrets (sys/leases)
    ///
    /// `coffre read database/creds/app` prints a lease_id; `coffre lease renew --increment
    /// 30m ID`, `coffre lease revoke ID`, `coffre lease revoke --prefix database/creds/app`.
    #[command(subcommand)]
    Lease(commands::lease::LeaseCommand),
}

/// Command groups that accept Vault-style single-dash long flags (`-mount=secret`).
const VAULT_STYLE_GROUPS: [&str; 8] = [
    "kv",
    "policy",
    "token",
    "namespace",
    "login",
    "auth",
    "rotate",
    "lease",
];

/// Rewrites Vault-style single-dash long flags (`-mount=x`, `-field`, `-self`) to their
/// `--` form for the `kv`, `policy` and `token` commands, so muscle memory from the `vault`
/// CLI works. Arguments after `--`, single letters (`-h`), `-` alone and negative numbers are
/// left alone.
fn vault_style_args(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    // The first argument that is neither a flag nor the value of a global flag.
    let mut group = None;
    let mut skip_value = false;
    for arg in args.iter().skip(1) {
        let a = arg.to_str().unwrap_or_default();
        if skip_value {
            skip_value = false;
        } else if matches!(
            a,
            "--address" | "--format" | "--namespace" | "-address" | "-format" | "-namespace" | "-n"
        ) {
            skip_value = true;
        } else if !a.starts_with('-') {
            group = Some(a);
            break;
        }
    }
    if !group.is_some_and(|g| VAULT_STYLE_GROUPS.contains(&g)) {
        // The global `-namespace` flag is Vault's spelling for every command.
        return args.into_iter().map(global_vault_flag).collect();
    }
    let mut out = Vec::with_capacity(args.len());
    let mut rest = false;
    for arg in args {
        let rewritten = match arg.to_str() {
            _ if rest => None,
            Some("--") => {
                rest = true;
                None
            }
            Some(a) if is_single_dash_long_flag(a) => Some(format!("-{a}")),
            _ => None,
        };
        out.push(rewritten.map_or(arg, Into::into));
    }
    out
}

/// `-namespace[=x]` → `--namespace[=x]` (the one Vault-style global flag of every command).
fn global_vault_flag(arg: std::ffi::OsString) -> std::ffi::OsString {
    match arg.to_str() {
        Some(a) if a == "-namespace" || a.starts_with("-namespace=") => format!("-{a}").into(),
        _ => arg,
    }
}

fn is_single_dash_long_flag(arg: &str) -> bool {
    let Some(body) = arg.strip_prefix('-') else {
        return false;
    };
    let name = body.split_once('=').map_or(body, |(n, _)| n);
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(vault_style_args(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and --version go to stdout with exit 0; usage errors exit 1.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let ctx = Ctx {
        address: cli.address.filter(|a| !a.trim().is_empty()),
        format: cli.format,
        namespace: cli.namespace.filter(|n| !n.trim().is_empty()),
    };
    let result = match cli.command {
        Command::Server(args) => commands::server::run(args),
        Command::Operator(cmd) => commands::block_on(commands::operator::run(&ctx, cmd)),
        Command::Status(args) => commands::block_on(commands::status::run(&ctx, args)),
        Command::Read(args) => commands::block_on(commands::generic::read(&ctx, args)),
        Command::Write(args) => commands::block_on(commands::generic::write(&ctx, args)),
        Command::List(args) => commands::block_on(commands::generic::list(&ctx, args)),
        Command::Delete(args) => commands::block_on(commands::generic::delete(&ctx, args)),
        Command::Audit(cmd) => commands::block_on(commands::audit::run(&ctx, cmd)),
        Command::Kv(cmd) => commands::block_on(commands::kv::run(&ctx, cmd)),
        Command::Policy(cmd) => commands::block_on(commands::policy::run(&ctx, cmd)),
        Command::Token(cmd) => commands::block_on(commands::token::run(&ctx, cmd)),
        Command::Transit(cmd) => commands::block_on(commands::transit::run(&ctx, cmd)),
        Command::Namespace(cmd) => commands::block_on(commands::namespace::run(&ctx, cmd)),
        Command::Login(args) => commands::block_on(commands::login::run(&ctx, args)),
        Command::Auth(cmd) => commands::block_on(commands::auth::run(&ctx, cmd)),
        Command::Mfa(cmd) => commands::block_on(commands::mfa::run(&ctx, cmd)),
        Command::Identity(cmd) => commands::block_on(commands::identity::run(&ctx, cmd)),
        Command::Rotate(cmd) => commands::block_on(commands::rotate::run(&ctx, cmd)),
        Command::Lease(cmd) => commands::block_on(commands::lease::run(&ctx, cmd)),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_commands() {
        let cli = Cli::try_parse_from(["coffre", "server", "--dev", "--listen", "127.0.0.1:9"])
            .expect("server --dev");
        assert!(matches!(cli.command, Command::Server(_)));
        assert!(Cli::try_parse_from(["coffre", "server"]).is_err());
        assert!(Cli::try_parse_from(["coffre", "server", "--dev", "--config", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["coffre", "server", "--config", "x", "--listen", "y"]).is_err()
        );

        let cli = Cli::try_parse_from(["coffre", "--format", "json", "read", "secret/foo"])
            .expect("read");
        assert_eq!(cli.format, Format::Json);
        let cli = Cli::try_parse_from(["coffre", "write", "kv/a", "x=1", "y=@f", "--format=json"])
            .expect("write");
        assert_eq!(cli.format, Format::Json);
        assert!(Cli::try_parse_from(["coffre", "write", "kv/a", "-"]).is_ok());

        assert!(Cli::try_parse_from(["coffre", "operator", "unseal", "--reset", "k"]).is_err());
        assert!(Cli::try_parse_from(["coffre", "operator", "init", "--key-shares", "0"]).is_err());
        assert!(Cli::try_parse_from(["coffre", "operator", "key-status"]).is_ok());
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let argv: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        Cli::try_parse_from(vault_style_args(argv))
    }

    #[test]
    fn parses_kv_policy_token_commands() {
        for ok in [
            &["coffre", "kv", "put", "secret/a", "k=v", "--cas", "0"][..],
            &["coffre", "kv", "put", "--mount", "secret", "a", "k=v"],
            &["coffre", "kv", "put", "-mount=secret", "a", "k=v"],
            &["coffre", "kv", "put", "-mount", "secret", "a", "-"],
            &[
                "coffre",
                "kv",
                "get",
                "--version",
                "1",
                "--field",
                "k",
                "secret/a",
            ],
            &[
                "coffre",
                "kv",
                "get",
                "-field=k",
                "-format=json",
                "secret/a",
            ],
            &["coffre", "kv", "patch", "secret/a", "k=v"],
            &["coffre", "kv", "list", "secret/"],
            &["coffre", "kv", "delete", "--versions", "1,2", "secret/a"],
            &["coffre", "kv", "undelete", "--versions", "1", "secret/a"],
            &["coffre", "kv", "destroy", "--versions", "1", "secret/a"],
            &["coffre", "kv", "metadata", "get", "secret/a"],
            &[
                "coffre",
                "kv",
                "metadata",
                "put",
                "--max-versions",
                "3",
                "--cas-required",
                "--delete-version-after",
                "1h",
                "--custom-metadata",
                "a=b",
                "--custom-metadata",
                "c=d",
                "secret/a",
            ],
            &[
                "coffre",
                "kv",
                "metadata",
                "put",
                "--cas-required=false",
                "secret/a",
            ],
            &["coffre", "kv", "metadata", "delete", "secret/a"],
            &["coffre", "policy", "write", "dev", "-"],
            &["coffre", "policy", "read", "dev"],
            &["coffre", "policy", "list"],
            &["coffre", "policy", "delete", "dev"],
            &[
                "coffre",
                "token",
                "create",
                "--policy",
                "a",
                "--policy",
                "b",
                "--ttl",
                "1h",
                "--explicit-max-ttl",
                "2h",
                "--period",
                "1h",
                "--num-uses",
                "2",
                "--orphan",
                "--no-default-policy",
                "--display-name",
                "x",
                "--type",
                "batch",
                "--role",
                "r",
                "--metadata",
                "k=v",
            ],
            &["coffre", "token", "lookup"],
            &["coffre", "token", "lookup", "--accessor", "acc"],
            &["coffre", "token", "renew", "tok", "--increment", "1h"],
            &["coffre", "token", "revoke", "-self"],
            &["coffre", "token", "revoke", "tok", "--mode", "orphan"],
            &["coffre", "token", "revoke", "--accessor", "acc"],
            &["coffre", "token", "capabilities", "secret/data/a"],
            &["coffre", "token", "capabilities", "tok", "secret/data/a"],
        ] {
            assert!(parse(ok).is_ok(), "{ok:?}: {:?}", parse(ok).err());
        }
        for bad in [
            &["coffre", "kv", "put", "secret/a"][..],
            &["coffre", "kv", "undelete", "secret/a"],
            &["coffre", "kv", "get", "--version", "x", "secret/a"],
            &["coffre", "policy", "write", "dev"],
            &["coffre", "token", "create", "--type", "other"],
            &["coffre", "token", "lookup", "--accessor"],
            &["coffre", "token", "revoke"],
            &["coffre", "token", "revoke", "--self", "tok"],
            &[
                "coffre",
                "token",
                "revoke",
                "--accessor",
                "a",
                "--mode",
                "orphan",
            ],
            &["coffre", "token", "revoke", "tok", "--mode", "path"],
            &["coffre", "token", "capabilities"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        let cli = parse(&["coffre", "kv", "get", "-mount=secret", "a"]).expect("kv get");
        let Command::Kv(commands::kv::KvCommand::Get(args)) = cli.command else {
            panic!("not kv get");
        };
        assert_eq!(args.loc.mount.as_deref(), Some("secret"));
    }

    #[test]
    fn vault_style_flags_only_where_safe() {
        let conv = |args: &[&str]| -> Vec<String> {
            vault_style_args(args.iter().map(Into::into).collect())
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            conv(&[
                "coffre", "kv", "get", "-field=a", "-h", "-", "-5", "--", "-x-y"
            ]),
            [
                "coffre",
                "kv",
                "get",
                "--field=a",
                "-h",
                "-",
                "-5",
                "--",
                "-x-y"
            ]
        );
        assert_eq!(
            conv(&["coffre", "--format", "json", "token", "revoke", "-self"]),
            ["coffre", "--format", "json", "token", "revoke", "--self"]
        );
        assert_eq!(
            conv(&["coffre", "-format", "json", "policy", "list"]),
            ["coffre", "--format", "json", "policy", "list"]
        );
        // Other commands are parsed as they are.
        assert_eq!(
            conv(&["coffre", "write", "-mount"]),
            ["coffre", "write", "-mount"]
        );
    }
}
