//! `coffre server`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgGroup, Args};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Environment variable holding the log filter (`tracing` env-filter syntax).
const LOG_ENV: &str = "COFFRE_LOG";

/// Arguments of `coffre server` (its help text is on the `Server` command in `main.rs`).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("mode").required(true).args(["config", "dev"])))]
pub struct ServerArgs {
    /// Path of the server's TOML configuration file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Run an in-memory, initialized and unsealed development server
    #[arg(long)]
    pub dev: bool,

    /// Address the dev server listens on, loopback only [default: 127.0.0.1:8200]
    #[arg(long, value_name = "ADDR", conflicts_with = "config")]
    pub listen: Option<String>,

    /// Root token of the dev server instead of a random one
    #[arg(long, value_name = "TOKEN", conflicts_with = "config")]
    pub dev_root_token: Option<String>,
}

/// Runs `coffre server`.
pub fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    init_tracing()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(path) = args.config {
        rt.block_on(coffre_server::run_with_config_file(&path))
            .with_context(|| format!("server with config {}", path.display()))?;
    } else {
        let opts = coffre_server::DevOptions {
            listen: args.listen,
            root_token: args.dev_root_token,
        };
        rt.block_on(coffre_server::run_dev(opts))
            .context("dev server")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn init_tracing() -> anyhow::Result<()> {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .with_env_var(LOG_ENV)
        .from_env()
        .with_context(|| format!("invalid {LOG_ENV}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}
