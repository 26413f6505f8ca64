//! Server configuration (TOML), validated into typed settings before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use coffre_storage::{PgTls, TlsMode};
use serde::Deserialize;

/// Default listen address, as Vault.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8200";
/// Default request body limit: 32 MiB, as Vault.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 << 20;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where data lives.
    pub storage: StorageConfig,
    /// TLS settings; required (either files or an explicit `disable = true`).
    pub tls: Option<TlsConfig>,
    /// Largest accepted request body in bytes.
    #[serde(default = "default_max_request_size")]
    pub max_request_size: usize,
    /// Barrier settings.
    #[serde(default)]
    pub barrier: BarrierConfig,
    /// Connection timeouts.
    #[serde(default)]
    pub http: HttpConfig,
    /// Audit devices (`[[audit]]` tables).
    #[serde(default)]
    pub audit: Vec<AuditConfig>,
    /// Allow `sys/audit/:path` to enable devices over the API (off: the lesson of
    /// CVE-2025-6000 / CVE-2025-54997).
    #[serde(default)]
    pub allow_api_audit_creation: bool,
    /// Several nodes on one PostgreSQL database (`[ha]`).
    pub ha: Option<HaConfig>,
}

/// `[ha]`: this node is one of several sharing a PostgreSQL storage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaConfig {
    /// Turns it on (the section alone does not, so it can be kept and switched).
    #[serde(default)]
    pub enabled: bool,
    /// A name unique among the nodes (default: the API address).
    pub node_id: Option<String>,
    /// The address the other nodes reach this node's API at, as Vault's `api_addr`
    /// (default: `http(s)://` and the listen address).
    pub api_addr: Option<String>,
    /// What a standby does with a write: `forward` it to the active node (default) or
    /// `redirect` the client there (307).
    pub standby_writes: Option<String>,
}

/// A validated `[ha]`.
#[derive(Debug, Clone)]
pub struct HaSettings {
    /// This node's id.
    pub node_id: String,
    /// This node's API address.
    pub api_addr: String,
    /// Answer writes on a standby with a 307 to the active node instead of forwarding them.
    pub redirect_writes: bool,
}

/// One `[[audit]]` device.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// `file` or `stdout`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Log file (for `file`).
    pub path: Option<PathBuf>,
    /// API name (`sys/audit` path); defaults to the type.
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Rotate at this size in bytes.
    pub rotate_max_bytes: Option<u64>,
    /// Rotate at this age (duration, e.g. "24h").
    pub rotate_max_age: Option<String>,
    /// Keep this many rotated files.
    pub retain_files: Option<usize>,
    /// Delete rotated files older than this (duration, e.g. "720h").
    pub retain_max_age: Option<String>,
    /// A signed checkpoint every this many entries (default 1000).
    pub checkpoint_every: Option<u64>,
    /// And at least this often while entries are written (default "60s").
    pub checkpoint_interval: Option<String>,
    /// HMAC token accessors (default true, as Vault).
    pub hmac_accessor: Option<bool>,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `embedded` (redb, default), `postgres` (a PostgreSQL database several nodes can share)
    /// or `inmem` (testing only: nothing survives a restart).
    #[serde(default = "default_backend")]
    pub backend: String,
    /// The PostgreSQL backend's connection URL (`postgresql://user:pass@host:5432/db`).
    pub url: Option<String>,
    /// The PostgreSQL backend's connection pool size (default 16).
    pub pool_size: Option<usize>,
    /// The PostgreSQL backend's connect timeout, e.g. `"5s"` (default 10 s).
    pub connect_timeout: Option<String>,
    /// The PostgreSQL schema to keep coffre's tables in (default: the connection's, `public`).
    pub schema: Option<String>,
    /// TLS to PostgreSQL, libpq's `sslmode` names: `disable`, `prefer` (default), `require`,
    /// `verify-ca`, `verify-full`. May be given in the URL instead (`?sslmode=`), not both.
    pub tls_mode: Option<String>,
    /// PEM file of the CAs that sign the database's certificate (URL: `sslrootcert`).
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate and key for PostgreSQL's `cert` authentication (URL: `sslcert`,
    /// `sslkey`).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Data directory for the embedded backend.
    pub path: Option<PathBuf>,
    /// Page cache of the embedded backend, in MiB (default 64).
    pub cache_mb: Option<usize>,
    /// Cache of recently read (encrypted) values of the embedded backend, in MiB (default 16;
    /// 0 turns it off).
    pub value_cache_mb: Option<usize>,
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve plain HTTP. Must be said explicitly.
    #[serde(default)]
    pub disable: bool,
    /// PEM certificate chain.
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    pub key_file: Option<PathBuf>,
}

/// `[http]`: connection timeouts (durations such as `"10s"`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The request head must arrive within this (default 10s); an HTTP/1 connection idle
    /// between requests for longer is closed too.
    pub header_read_timeout: Option<String>,
    /// The request body must arrive within this (default 30s), or 408.
    pub body_read_timeout: Option<String>,
    /// A connection on which nothing moves for this long is closed (default 5m).
    pub idle_timeout: Option<String>,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` header names the client, as
    /// Vault's listener option of the same name. Without it the header is ignored, and bound
    /// CIDRs, quotas and audit entries see the connection's address.
    #[serde(default)]
    pub x_forwarded_for_authorized_addrs: Vec<String>,
}

/// `[barrier]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarrierConfig {
    /// Rotate the barrier key after this many encryptions under one term.
    #[serde(default = "default_max_encryptions")]
    pub max_encryptions_per_term: u64,
}

impl Default for BarrierConfig {
    fn default() -> Self {
        BarrierConfig {
            max_encryptions_per_term: default_max_encryptions(),
        }
    }
}

impl HttpConfig {
    fn timeouts(&self) -> anyhow::Result<crate::timeouts::HttpTimeouts> {
        let parse =
            |v: &Option<String>, what: &str, default: std::time::Duration| match v.as_deref() {
                None => Ok(default),
                Some(s) => coffre_core::fields::parse_duration_secs(s)
                    .filter(|d| *d > 0)
                    .map(std::time::Duration::from_secs)
                    .ok_or_else(|| {
                        anyhow::anyhow!("[http] {what}: invalid duration {s:?} (at least 1s)")
                    }),
            };
        Ok(crate::timeouts::HttpTimeouts {
            header_read: parse(
                &self.header_read_timeout,
                "header_read_timeout",
                crate::timeouts::DEFAULT_HEADER_READ,
            )?,
            body_read: parse(
                &self.body_read_timeout,
                "body_read_timeout",
                crate::timeouts::DEFAULT_BODY_READ,
            )?,
            idle: parse(
                &self.idle_timeout,
                "idle_timeout",
                crate::timeouts::DEFAULT_IDLE,
            )?,
        })
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.into()
}
impl StorageConfig {
    /// The TLS settings of the PostgreSQL backend: the URL's (`url_tls`) with the `tls_*`
    /// keys, each given in one place or the other.
    fn pg_tls(&self, url: &str, url_tls: PgTls) -> anyhow::Result<PgTls> {
        let has = |name: &str| url.contains(&format!("{name}="));
        let both = |key: &str, param: &str, set: bool| {
            if set && has(param) {
                anyhow::bail!("[storage] {key} and the url's {param} both set: keep one");
            }
            Ok(())
        };
        both("tls_mode", "sslmode", self.tls_mode.is_some())?;
        both("tls_ca_file", "sslrootcert", self.tls_ca_file.is_some())?;
        both("tls_cert_file", "sslcert", self.tls_cert_file.is_some())?;
        both("tls_key_file", "sslkey", self.tls_key_file.is_some())?;
        let mode = match self.tls_mode.as_deref() {
            None => url_tls.mode,
            Some(m) => TlsMode::parse(m).ok_or_else(|| {
                anyhow::anyhow!(
                    "[storage] tls_mode {m:?}: expected disable, prefer, require, verify-ca or verify-full"
                )
            })?,
        };
        let client_cert = match (&self.tls_cert_file, &self.tls_key_file) {
            (None, None) => url_tls.client_cert,
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            _ => anyhow::bail!("[storage] tls_cert_file and tls_key_file go together"),
        };
        Ok(PgTls {
            mode,
            ca_file: self.tls_ca_file.clone().or(url_tls.ca_file),
            client_cert,
        })
    }
}

fn default_backend() -> String {
    "embedded".into()
}
fn default_max_request_size() -> usize {
    DEFAULT_MAX_REQUEST_SIZE
}
fn default_max_encryptions() -> u64 {
    coffre_core::DEFAULT_MAX_ENCRYPTIONS_PER_TERM
}

/// How to serve connections.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Plain HTTP (explicitly requested).
    Plain,
    /// TLS with these PEM files.
    Tls {
        /// Certificate chain.
        cert_file: PathBuf,
        /// Private key.
        key_file: PathBuf,
    },
}

/// Which storage backend to open.
#[derive(Debug, Clone)]
pub enum StorageChoice {
    /// redb in this directory, with these cache sizes.
    Embedded(PathBuf, coffre_storage::GroupCommitConfig),
    /// In memory.
    InMemory,
    /// PostgreSQL.
    Postgres(coffre_storage::PostgresConfig),
}

/// A configuration that passed validation.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Listen address.
    pub listen: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// Storage.
    pub storage: StorageChoice,
    /// Body limit.
    pub max_request_size: usize,
    /// Barrier budget.
    pub max_encryptions_per_term: u64,
    /// Audit devices.
    pub audit: Vec<coffre_core::AuditDeviceConfig>,
    /// `allow_api_audit_creation`.
    pub allow_api_audit_creation: bool,
    /// `[http]`.
    pub timeouts: crate::timeouts::HttpTimeouts,
    /// See [`HttpConfig::x_forwarded_for_authorized_addrs`].
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Several nodes (`[ha]` enabled).
    pub ha: Option<HaSettings>,
}

impl Config {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
    }

    /// Checks the settings and resolves them into what the server needs.
    pub fn validate(&self) -> anyhow::Result<Validated> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid listen address {:?}: {e}", self.listen))?;
        let transport = match &self.tls {
            Some(TlsConfig {
                cert_file: Some(cert),
                key_file: Some(key),
                ..
            }) => Transport::Tls {
                cert_file: cert.clone(),
                key_file: key.clone(),
            },
            Some(TlsConfig { disable: true, .. }) => Transport::Plain,
            _ => anyhow::bail!(
                "TLS is not configured: set [tls] cert_file and key_file, or `disable = true` \
                 under [tls] to serve plain HTTP on purpose"
            ),
        };
        let storage = match self.storage.backend.as_str() {
            "embedded" => StorageChoice::Embedded(
                self.storage.path.clone().ok_or_else(|| {
                    anyhow::anyhow!("[storage] path is required for the embedded backend")
                })?,
                coffre_storage::GroupCommitConfig::default()
                    .with_cache_bytes(match self.storage.cache_mb {
                        None => coffre_storage::DEFAULT_CACHE_BYTES,
                        Some(0) => anyhow::bail!("[storage] cache_mb must be at least 1"),
                        Some(mb) => mb.saturating_mul(1 << 20),
                    })
                    .with_value_cache_bytes(
                        self.storage
                            .value_cache_mb
                            .map_or(coffre_storage::DEFAULT_VALUE_CACHE_BYTES, |mb| {
                                mb.saturating_mul(1 << 20)
                            }),
                    ),
            ),
            "inmem" => StorageChoice::InMemory,
            "postgres" | "postgresql" => {
                let url = self.storage.url.clone().ok_or_else(|| {
                    anyhow::anyhow!("[storage] url is required for the postgres backend")
                })?;
                let connect_timeout = match &self.storage.connect_timeout {
                    None => std::time::Duration::from_secs(10),
                    Some(t) => std::time::Duration::from_secs(
                        coffre_core::fields::parse_duration_secs(t)
                            .filter(|s| *s > 0)
                            .ok_or_else(|| {
                                anyhow::anyhow!("[storage] connect_timeout {t:?} is not a duration")
                            })?,
                    ),
                };
                let from_url = coffre_storage::PostgresConfig::from_url(&url)
                    .map_err(|e| anyhow::anyhow!("[storage] url: {e}"))?;
                StorageChoice::Postgres(coffre_storage::PostgresConfig {
                    pool_size: match self.storage.pool_size {
                        Some(0) => anyhow::bail!("[storage] pool_size must be at least 1"),
                        Some(n) => n,
                        None => 16,
                    },
                    connect_timeout,
                    schema: self.storage.schema.clone(),
                    tls: self.storage.pg_tls(&url, from_url.tls.clone())?,
                    ..from_url
                })
            }
            other => anyhow::bail!(
                "unknown storage backend {other:?}: expected \"embedded\", \"postgres\" or \"inmem\""
            ),
        };
        let ha = self.ha_settings(listen, &transport, &storage)?;
        if self.max_request_size < 1024 {
            anyhow::bail!("max_request_size must be at least 1024 bytes");
        }
        if self.barrier.max_encryptions_per_term == 0 {
            anyhow::bail!("[barrier] max_encryptions_per_term must be positive");
        }
        Ok(Validated {
            listen,
            transport,
            storage,
            max_request_size: self.max_request_size,
            max_encryptions_per_term: self.barrier.max_encryptions_per_term,
            audit: self.audit_devices()?,
            allow_api_audit_creation: self.allow_api_audit_creation,
            timeouts: self.http.timeouts()?,
            trusted_proxies: self
                .http
                .x_forwarded_for_authorized_addrs
                .iter()
                .map(|a| {
                    a.parse::<ipnet::IpNet>()
                        .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            anyhow::anyhow!(
                                "[http] x_forwarded_for_authorized_addrs: {a:?} is not an address or CIDR block"
                            )
                        })
                })
                .collect::<anyhow::Result<_>>()?,
            ha,
        })
    }

    fn ha_settings(
        &self,
        listen: SocketAddr,
        transport: &Transport,
        storage: &StorageChoice,
    ) -> anyhow::Result<Option<HaSettings>> {
        let Some(ha) = self.ha.as_ref().filter(|h| h.enabled) else {
            return Ok(None);
        };
        if !matches!(storage, StorageChoice::Postgres(_)) {
            anyhow::bail!(
                "[ha] needs the postgres storage backend: several nodes share one PostgreSQL \
                 database"
            );
        }
        let scheme = match transport {
            Transport::Plain => "http",
            Transport::Tls { .. } => "https",
        };
        let api_addr = match &ha.api_addr {
            Some(a) if a.starts_with("http://") || a.starts_with("https://") => {
                a.trim_end_matches('/').to_string()
            }
            Some(a) => anyhow::bail!("[ha] api_addr {a:?} must start with http:// or https://"),
            None if listen.ip().is_unspecified() => anyhow::bail!(
                "[ha] api_addr is required when listening on {listen}: the other nodes need \
                 an address they can reach"
            ),
            None => format!("{scheme}://{listen}"),
        };
        let redirect_writes = match ha.standby_writes.as_deref() {
            None | Some("forward") => false,
            Some("redirect") => true,
            Some(other) => {
                anyhow::bail!("[ha] standby_writes {other:?}: expected \"forward\" or \"redirect\"")
            }
        };
        let node_id = ha.node_id.clone().unwrap_or_else(|| api_addr.clone());
        if node_id.is_empty() {
            anyhow::bail!("[ha] node_id must not be empty");
        }
        Ok(Some(HaSettings {
            node_id,
            api_addr,
            redirect_writes,
        }))
    }

    fn audit_devices(&self) -> anyhow::Result<Vec<coffre_core::AuditDeviceConfig>> {
        let duration = |v: &Option<String>, what: &str| -> anyhow::Result<Option<u64>> {
            v.as_deref()
                .map(|s| {
                    coffre_core::fields::parse_duration_secs(s)
                        .filter(|d| *d > 0)
                        .ok_or_else(|| anyhow::anyhow!("[[audit]] {what}: invalid duration {s:?}"))
                })
                .transpose()
        };
        let mut out: Vec<coffre_core::AuditDeviceConfig> = Vec::new();
        for a in &self.audit {
            let sink = match (a.kind.as_str(), &a.path) {
                ("file", Some(p)) => coffre_core::AuditSink::File(p.clone()),
                ("file", None) => anyhow::bail!("[[audit]] of type \"file\" needs a path"),
                ("stdout", _) => coffre_core::AuditSink::Stdout,
                (other, _) => anyhow::bail!(
                    "[[audit]] type {other:?} is not supported: use \"file\" or \"stdout\""
                ),
            };
            let name = a.name.clone().unwrap_or_else(|| a.kind.clone());
            if name.is_empty() || name.contains('/') {
                anyhow::bail!("[[audit]] name {name:?} must be non-empty and contain no '/'");
            }
            if out.iter().any(|d| d.name == name) {
                anyhow::bail!(
                    "two [[audit]] devices are named {name:?}: give each a distinct name"
                );
            }
            out.push(coffre_core::AuditDeviceConfig {
                name,
                sink,
                description: a.description.clone(),
                rotate_bytes: a.rotate_max_bytes,
                rotate_secs: duration(&a.rotate_max_age, "rotate_max_age")?,
                retain_files: a.retain_files,
                retain_secs: duration(&a.retain_max_age, "retain_max_age")?,
                checkpoint_every: a.checkpoint_every.unwrap_or(1000).max(1),
                checkpoint_secs: duration(&a.checkpoint_interval, "checkpoint_interval")?
                    .unwrap_or(60),
                hmac_accessor: a.hmac_accessor.unwrap_or(true),
                from_config: true,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> anyhow::Result<Validated> {
        toml::from_str::<Config>(s)?.validate()
    }

    #[test]
    fn refuses_to_start_without_a_tls_decision() {
        let err = parse("[storage]\npath = \"/tmp/x\"\n").expect_err("must refuse");
        assert!(err.to_string().contains("TLS is not configured"), "{err}");
        assert!(parse("[storage]\npath = \"/tmp/x\"\n[tls]\n").is_err());
    }

    #[test]
    fn plain_and_tls() {
        let v = parse(
            "listen = \"127.0.0.1:9\"\n[storage]\npath = \"/tmp/x\"\n[tls]\ndisable = true\n",
        )
        .expect("valid");
        assert!(matches!(v.transport, Transport::Plain));
        let v = parse("[storage]\npath = \"/d\"\n[tls]\ncert_file = \"c\"\nkey_file = \"k\"\n")
            .expect("valid");
        assert!(matches!(v.transport, Transport::Tls { .. }));
    }

    #[test]
    fn postgres_storage_settings() {
        let v = parse(
            "[storage]\nbackend = \"postgres\"\nurl = \"postgresql://c@db/coffre\"\npool_size = 4\nconnect_timeout = \"3s\"\n[tls]\ndisable = true\n",
        )
        .expect("valid");
        let StorageChoice::Postgres(pg) = v.storage else {
            panic!("postgres expected")
        };
        assert_eq!(pg.pool_size, 4);
        assert_eq!(pg.connect_timeout, std::time::Duration::from_secs(3));
        for bad in [
            "[storage]\nbackend = \"postgres\"\n[tls]\ndisable = true\n",
            "[storage]\nbackend = \"postgres\"\nurl = \"x\"\npool_size = 0\n[tls]\ndisable = true\n",
            "[storage]\nbackend = \"postgres\"\nurl = \"x\"\nconnect_timeout = \"soon\"\n[tls]\ndisable = true\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postgres_tls_from_the_url_or_the_storage_keys() {
        let pg = |extra: &str, url: &str| {
            parse(&format!(
                "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\n{extra}[tls]\ndisable = true\n"
            ))
            .map(|v| match v.storage {
                StorageChoice::Postgres(pg) => pg,
                _ => panic!("postgres expected"),
            })
        };
        let d = pg("", "postgresql://c@db/coffre").expect("valid");
        assert_eq!(d.tls.mode, TlsMode::Prefer, "libpq's default");
        let u = pg(
            "",
            "postgresql://c@db/coffre?sslmode=verify-full&sslrootcert=/ca.pem",
        )
        .expect("valid");
        assert_eq!(
            u.url, "postgresql://c@db/coffre",
            "the driver never sees sslmode"
        );
        assert_eq!(u.tls.mode, TlsMode::VerifyFull);
        assert_eq!(u.tls.ca_file, Some(PathBuf::from("/ca.pem")));
        let k = pg(
            "tls_mode = \"verify-ca\"\ntls_ca_file = \"/ca.pem\"\ntls_cert_file = \"/c.pem\"\ntls_key_file = \"/k.pem\"\n",
            "postgresql://c@db/coffre",
        )
        .expect("valid");
        assert_eq!(k.tls.mode, TlsMode::VerifyCa);
        assert_eq!(
            k.tls.client_cert,
            Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem")))
        );
        for (extra, url, says) in [
            (
                "tls_mode = \"disable\"\n",
                "postgresql://db/x?sslmode=require",
                "both set",
            ),
            ("tls_mode = \"allow\"\n", "postgresql://db/x", "\"allow\""),
            ("", "postgresql://db/x?sslmode=allow", "\"allow\""),
            (
                "tls_cert_file = \"/c.pem\"\n",
                "postgresql://db/x",
                "go together",
            ),
        ] {
            let err = pg(extra, url).expect_err(says);
            assert!(err.to_string().contains(says), "{extra} {url}: {err}");
        }
    }

    #[test]
    fn storage_cache_sizes() {
        let sizes = |extra: &str| match parse(&format!(
            "[storage]\npath = \"/d\"\n{extra}[tls]\ndisable = true\n"
        ))
        .expect("valid")
        .storage
        {
            StorageChoice::Embedded(_, c) => (c.cache_bytes, c.value_cache_bytes),
            StorageChoice::InMemory | StorageChoice::Postgres(_) => panic!("embedded expected"),
        };
        assert_eq!(
            sizes(""),
            (
                coffre_storage::DEFAULT_CACHE_BYTES,
                coffre_storage::DEFAULT_VALUE_CACHE_BYTES
            )
        );
        assert_eq!(
            sizes("cache_mb = 8\nvalue_cache_mb = 2\n"),
            (8 << 20, 2 << 20)
        );
        assert_eq!(
            sizes("value_cache_mb = 0\n").1,
            0,
            "0 turns the value cache off"
        );
        assert!(parse("[storage]\npath = \"/d\"\ncache_mb = 0\n[tls]\ndisable = true\n").is_err());
    }

    #[test]
    fn audit_devices() {
        let base = "[storage]\npath = \"/d\"\n[tls]\ndisable = true\n";
        let v = parse(&format!("{base}[[audit]]\ntype = \"file\"\npath = \"/var/log/a.log\"\nrotate_max_age = \"24h\"\n[[audit]]\ntype = \"stdout\"\n"))
            .expect("valid");
        assert_eq!(v.audit.len(), 2);
        assert_eq!(v.audit[0].name, "file");
        assert_eq!(v.audit[0].rotate_secs, Some(86_400));
        assert!(!v.allow_api_audit_creation);
        assert!(parse(&format!("{base}[[audit]]\ntype = \"file\"\n")).is_err());
        assert!(parse(&format!("{base}[[audit]]\ntype = \"syslog\"\n")).is_err());
        let dup = format!("{base}[[audit]]\ntype = \"stdout\"\n[[audit]]\ntype = \"stdout\"\n");
        assert!(parse(&dup).is_err());
    }

    #[test]
    fn rejects_unknown_keys_and_backends() {
        assert!(parse("[storage]\npath = \"/d\"\nbogus = 1\n[tls]\ndisable = true\n").is_err());
        assert!(parse("[storage]\nbackend = \"etcd\"\n[tls]\ndisable = true\n").is_err());
        assert!(parse("[storage]\n[tls]\ndisable = true\n").is_err());
    }
}
