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
/// else http://127.0.0.1:8200, and authenticate with COFFRE_TOKEN (or VAULT_TOKEN).
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
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    };
    let result = match cli.command {
        Command::Server(args) => commands::server::run(args),
        Command::Operator(cmd) => commands::block_on(commands::operator::run(&ctx, cmd)),
        Command::Status(args) => commands::block_on(commands::status::run(&ctx, args)),
        Command::Read(args) => commands::block_on(commands::generic::read(&ctx, args)),
        Command::Write(args) => commands::block_on(commands::generic::write(&ctx, args)),
        Command::List(args) => commands::block_on(commands::generic::list(&ctx, args)),
        Command::Delete(args) => commands::block_on(commands::generic::delete(&ctx, args)),
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
}
