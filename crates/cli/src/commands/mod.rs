//! One module per command group.

pub mod audit;
pub mod auth;
pub mod generic;
pub mod identity;
pub mod kv;
pub mod lease;
pub mod login;
pub mod mfa;
pub mod namespace;
pub mod operator;
pub mod policy;
pub mod policy_template;
pub mod rotate;
pub mod server;
pub mod status;
pub mod token;
pub mod transit;

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context;
use coffre_client::{Client, ClientOptions};

use crate::output::Format;

/// What every client command gets from the global flags.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `--address` / `COFFRE_ADDR`.
    pub address: Option<String>,
    /// `--format`.
    pub format: Format,
    /// `--namespace` / `COFFRE_NAMESPACE` / `VAULT_NAMESPACE`.
    pub namespace: Option<String>,
}

impl Ctx {
    /// A client configured from the environment, with `--address` taking precedence.
    pub fn client(&self) -> anyhow::Result<Client> {
        let mut opts = ClientOptions::from_env()?;
        if let Some(addr) = &self.address {
            opts.address = addr.clone();
        }
        if let Some(ns) = &self.namespace {
            opts.namespace = Some(ns.clone());
        }
        if opts.token.is_none() {
            opts.token = login::stored_token()?;
        }
        Ok(Client::with_options(opts)?)
    }
}

/// Runs a client command on a single-threaded tokio runtime.
pub fn block_on(fut: impl Future<Output = anyhow::Result<ExitCode>>) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(fut)
}
