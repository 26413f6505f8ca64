//! coffre's HTTP server: the Vault-compatible `/v1` API over axum, with rustls for TLS.
//! It only translates HTTP to [`coffre_core::Request`] and back; every decision is the core's.

#![forbid(unsafe_code)]
// Handlers return a finished HTTP response as their error value; it is built once per failed
// request, so its size does not matter and boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod ha;
mod hardening;
mod http;
mod input;
pub mod migrate;
mod raw;
mod reply;
pub mod timeouts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use coffre_core::{Core, CoreConfig, Operation, Request};
use coffre_storage::{Backend, InMemoryBackend, RedbBackend};
use serde_json::{Map, json};

pub use crate::config::Config;
use crate::config::{StorageChoice, Transport, Validated};
pub use crate::http::{AppState, router};

/// Options for `coffre server --dev`.
#[derive(Debug, Clone, Default)]
pub struct DevOptions {
    /// Address to listen on; loopback only. Defaults to 127.0.0.1:8200.
    pub listen: Option<String>,
    /// Root token to create instead of a random one.
    pub root_token: Option<String>,
}

/// Start-up work before anything listens: no core dumps, and aws-lc's random generator seeded.
/// Its first use in a process gathers entropy for about 20 ms (measured on the project's VM);
/// left to chance it landed on the first request after unseal.
fn prepare_process() {
    hardening::disable_core_dumps();
    if let Err(e) = coffre_crypto::random_array::<16>() {
        tracing::warn!(error = %e, "random generator not available at start");
    }
}

/// Runs the server described by a TOML config file until SIGINT/SIGTERM.
pub async fn run_with_config_file(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?.validate()?;
    prepare_process();
    let mut cluster = None;
    let backend: Arc<dyn Backend> = match &config.storage {
        StorageChoice::Embedded(dir, options) => {
            let (dir, options) = (dir.clone(), *options);
            let backend =
                tokio::task::spawn_blocking(move || RedbBackend::open_with(&dir, options))
                    .await
                    .context("opening storage")??;
            Arc::new(backend)
        }
        StorageChoice::InMemory => {
            tracing::warn!("in-memory storage: nothing survives a restart");
            Arc::new(InMemoryBackend::new())
        }
        StorageChoice::Postgres(pg) => {
            let backend = Arc::new(
                coffre_storage::PostgresBackend::open(pg)
                    .await
                    .context("opening the PostgreSQL storage")?,
            );
            if let Some(settings) = &config.ha {
                let (ha, feed) = backend.start_ha(coffre_storage::NodeInfo {
                    node_id: settings.node_id.clone(),
                    api_addr: settings.api_addr.clone(),
                    version: coffre_core::VERSION.to_string(),
                });
                cluster = Some((Arc::new(ha::Cluster::new(ha, settings)?), feed));
            }
            backend
        }
    };
    let mut core = Core::new(
        backend,
        CoreConfig {
            max_encryptions_per_term: config.max_encryptions_per_term,
            audit_devices: config.audit.clone(),
            allow_api_audit_creation: config.allow_api_audit_creation,
            quiet_without_audit: false,
            clock: coffre_core::clock::system(),
        },
    );
    if let Some((c, _)) = &cluster {
        core = core.with_nodes(c.clone());
    }
    core.events().start_metrics();
    core.events().start_alerting();
    let core = Arc::new(core);
    let cluster = match cluster {
        Some((c, feed)) => {
            // A standby until the election says otherwise.
            core.set_active(false).await?;
            c.drive(core.clone(), feed);
            if let Some(settings) = &config.ha {
                println!(
                    "one of several nodes: {} at {} (a standby until elected)",
                    settings.node_id, settings.api_addr
                );
            }
            Some(c)
        }
        None => None,
    };
    if config.audit.is_empty() {
        println!(
            "warning: no audit device is configured: requests will not be audited (add an \
             [[audit]] section to the configuration)"
        );
    }
    let listener = bind(config.listen)?;
    let scheme = match config.transport {
        Transport::Plain => "http",
        Transport::Tls { .. } => "https",
    };
    println!(
        "coffre {} listening on {scheme}://{}",
        coffre_core::VERSION,
        listener.local_addr()?
    );
    if !core.is_initialized().await? {
        println!("not initialized: run `coffre operator init`");
    }
    serve(core, listener, &config, cluster).await
}

/// Runs an in-memory, initialized and unsealed dev server until SIGINT/SIGTERM.
pub async fn run_dev(opts: DevOptions) -> anyhow::Result<()> {
    let listen: SocketAddr = opts
        .listen
        .as_deref()
        .unwrap_or(config::DEFAULT_LISTEN)
        .parse()
        .context("invalid --listen address")?;
    if !listen.ip().is_loopback() {
        anyhow::bail!(
            "dev mode listens on loopback only (got {listen}): it has no TLS and a known root token"
        );
    }
    prepare_process();
    let core = Arc::new(Core::new(
        Arc::new(InMemoryBackend::new()),
        CoreConfig {
            quiet_without_audit: true,
            ..CoreConfig::default()
        },
    ));
    core.events().start_metrics();
    core.events().start_alerting();
    let (unseal_key, root_token) = core.dev_init(opts.root_token.as_deref()).await?;
    mount_dev_secret_engine(&core, &root_token).await?;
    let listener = bind(listen)?;
    let addr = listener.local_addr()?;
    println!(
        "coffre dev server: in-memory, already unsealed. Never use dev mode in production.\n\n\
         \x20 Address:     http://{addr}\n\
         \x20 Unseal Key:  {}\n\
         \x20 Root Token:  {root_token}\n\n\
         \x20 export COFFRE_ADDR=http://{addr} COFFRE_TOKEN={root_token}\n",
        hex::encode(unseal_key.expose())
    );
    let config = Validated {
        listen: addr,
        transport: Transport::Plain,
        storage: StorageChoice::InMemory,
        max_request_size: config::DEFAULT_MAX_REQUEST_SIZE,
        max_encryptions_per_term: coffre_core::DEFAULT_MAX_ENCRYPTIONS_PER_TERM,
        audit: Vec::new(),
        allow_api_audit_creation: false,
        timeouts: timeouts::HttpTimeouts::default(),
        trusted_proxies: Vec::new(),
        ha: None,
    };
    serve(core, listener, &config, None).await
}

/// Dev mode mounts a KV version 2 engine at `secret/` (as Vault does), through the pipeline.
async fn mount_dev_secret_engine(core: &Core, root_token: &str) -> anyhow::Result<()> {
    let mut data = Map::new();
    data.insert("type".into(), json!("kv"));
    data.insert("options".into(), json!({ "version": "2" }));
    data.insert("description".into(), json!("key/value secret storage"));
    let req = Request::new(Operation::Update, "sys/mounts/secret")
        .with_token(root_token)
        .with_data(data);
    core.handle(req).await.context("mounting secret/")?;
    Ok(())
}

fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    // axum-server needs a non-blocking std listener, or accept() blocks the runtime.
    listener.set_nonblocking(true)?;
    Ok(listener)
}

async fn serve(
    core: Arc<Core>,
    listener: std::net::TcpListener,
    config: &Validated,
    cluster: Option<Arc<ha::Cluster>>,
) -> anyhow::Result<()> {
    let app = router(AppState {
        core: core.clone(),
        max_request_size: config.max_request_size,
        body_read_timeout: config.timeouts.body_read,
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        cluster,
    })
    .into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    let idle = timeouts::IdleAcceptor::new(config.timeouts.idle);
    let header_read = config.timeouts.header_read;
    let http = |builder: &mut hyper_util::server::conn::auto::Builder<_>| {
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_read);
        builder.http2().timer(hyper_util::rt::TokioTimer::new());
    };
    match &config.transport {
        Transport::Plain => {
            let mut server = axum_server::from_tcp(listener)?.acceptor(idle);
            http(server.http_builder());
            server.handle(handle).serve(app).await?;
        }
        Transport::Tls {
            cert_file,
            key_file,
        } => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert_file, key_file)
                .await
                .context("loading TLS certificate and key")?;
            let mut server =
                axum_server::from_tcp_rustls(listener, tls)?.map(|tls| tls.acceptor(idle));
            http(server.http_builder());
            server.handle(handle).serve(app).await?;
        }
    }
    core.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_on_signal(handle: axum_server::Handle<SocketAddr>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}
