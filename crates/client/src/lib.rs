//! Typed async client of coffre's HTTP API (the HashiCorp Vault `/v1` API).
//!
//! ```no_run
//! # async fn demo() -> Result<(), coffre_client::ClientError> {
//! let client = coffre_client::Client::from_env()?;
//! let status = client.seal_status().await?;
//! if !status.sealed {
//!     client.write("secret/foo", serde_json::json!({"k": "v"})).await?;
//!     let secret = client.read("secret/foo").await?;
//!     println!("{secret:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! Paths given to the generic calls are relative to `/v1/` (`secret/foo` → `/v1/secret/foo`).

mod error;
mod kv;
mod namespace;
mod policy;
mod token;
mod transit;
mod types;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use error::ClientError;
pub use kv::{KvMetadataUpdate, KvMount, kv2_path};
pub use policy::list_keys;
/// HTTP method type used by [`Client::request`] (re-exported from reqwest).
pub use reqwest::Method;
pub use token::{TokenCreateRequest, capabilities_of};
pub use transit::{
    DataKeyKind, TransitKeyConfig, TransitKeyCreate, TransitSignOptions, base64_decode,
    base64_encode, transit_field, transit_path, transit_plaintext, transit_valid,
};
pub use types::{HealthResponse, InitResponse, KeyStatus, SealStatus};

/// Address used when neither `COFFRE_ADDR` nor `VAULT_ADDR` is set.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8200";

/// Default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Header carrying the client token.
pub const TOKEN_HEADER: &str = "X-Vault-Token";
/// The header naming the namespace of a request.
pub const NAMESPACE_HEADER: &str = "X-Vault-Namespace";

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// How to build a [`Client`]. Its `Debug` output hides the token.
#[derive(Clone)]
pub struct ClientOptions {
    /// Server address, e.g. `https://127.0.0.1:8200` (no `/v1`).
    pub address: String,
    /// Client token sent as `X-Vault-Token`.
    pub token: Option<String>,
    /// PEM file of CA certificates to trust *instead of* the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Accept any server certificate (self-signed, wrong host name…). Dangerous.
    pub skip_verify: bool,
    /// Whole-request timeout; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Namespace sent as `X-Vault-Namespace` (`None`: the root namespace).
    pub namespace: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            address: DEFAULT_ADDR.to_string(),
            token: None,
            ca_cert: None,
            skip_verify: false,
            timeout: Some(DEFAULT_TIMEOUT),
            namespace: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("address", &self.address)
            .field("token", &redacted(&self.token))
            .field("ca_cert", &self.ca_cert)
            .field("skip_verify", &self.skip_verify)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ClientOptions {
    /// Reads the options from the environment:
    ///
    /// | Option | Variables (first non-empty wins) | Default |
    /// |---|---|---|
    /// | address | `COFFRE_ADDR`, `VAULT_ADDR` | `http://127.0.0.1:8200` |
    /// | token | `COFFRE_TOKEN`, `VAULT_TOKEN` | none |
    /// | CA file | `COFFRE_CACERT`, `VAULT_CACERT` | system roots |
    /// | skip verify | `COFFRE_SKIP_VERIFY`, `VAULT_SKIP_VERIFY` (a boolean: `true`, `1`, `false`…) | false |
    pub fn from_env() -> Result<ClientOptions> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<ClientOptions> {
        let first = |names: [&'static str; 2]| -> Option<(&'static str, String)> {
            names
                .into_iter()
                .find_map(|n| get(n).filter(|v| !v.is_empty()).map(|v| (n, v)))
        };
        let mut opts = ClientOptions::default();
        if let Some((_, addr)) = first(["COFFRE_ADDR", "VAULT_ADDR"]) {
            opts.address = addr;
        }
        opts.token = first(["COFFRE_TOKEN", "VAULT_TOKEN"]).map(|(_, t)| t);
        opts.namespace = first(["COFFRE_NAMESPACE", "VAULT_NAMESPACE"]).map(|(_, n)| n);
        opts.ca_cert = first(["COFFRE_CACERT", "VAULT_CACERT"]).map(|(_, p)| PathBuf::from(p));
        if let Some((name, v)) = first(["COFFRE_SKIP_VERIFY", "VAULT_SKIP_VERIFY"]) {
            opts.skip_verify = parse_bool(&v).ok_or_else(|| {
                ClientError::Config(format!("{name} must be a boolean, got {v:?}"))
            })?;
        }
        Ok(opts)
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn redacted(token: &Option<String>) -> &'static str {
    match token {
        Some(_) => "Some(<redacted>)",
        None => "None",
    }
}

/// An async client of one coffre server. Cheap to clone (the connection pool is shared).
///
/// Its `Debug` output hides the token.
#[derive(Clone)]
pub struct Client {
    addr: String,
    token: Option<String>,
    namespace: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("token", &redacted(&self.token))
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `addr` (e.g. `http://127.0.0.1:8200`) with default TLS settings (system
    /// roots) and timeout.
    pub fn new(addr: impl Into<String>, token: Option<String>) -> Result<Client> {
        Client::with_options(ClientOptions {
            address: addr.into(),
            token,
            ..ClientOptions::default()
        })
    }

    /// A client configured from the environment; see [`ClientOptions::from_env`].
    pub fn from_env() -> Result<Client> {
        Client::with_options(ClientOptions::from_env()?)
    }

    /// A client built from explicit options.
    pub fn with_options(opts: ClientOptions) -> Result<Client> {
        let addr = normalize_addr(&opts.address)?;
        if let Some(token) = &opts.token {
            token_header(token)?;
        }
        let mut headers = HeaderMap::new();
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        let namespace = opts
            .namespace
            .as_deref()
            .map(|ns| ns.trim().trim_matches('/'))
            .filter(|ns| !ns.is_empty());
        if let Some(ns) = namespace {
            let value = HeaderValue::from_str(ns).map_err(|_| {
                ClientError::Config(format!("invalid namespace {ns:?}: not a valid header"))
            })?;
            headers.insert(NAMESPACE_HEADER, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("coffre-client/", env!("CARGO_PKG_VERSION")));
        if let Some(timeout) = opts.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(path) = &opts.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                ClientError::Config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ClientError::Config(format!("invalid CA file {}: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(ClientError::Config(format!(
                    "no PEM certificate in CA file {}",
                    path.display()
                )));
            }
            builder = builder.tls_certs_only(certs);
        }
        if opts.skip_verify {
            builder = builder
                .tls_danger_accept_invalid_certs(true)
                .tls_danger_accept_invalid_hostnames(true);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Client {
            addr,
            token: opts.token,
            namespace: namespace.map(str::to_string),
            http,
        })
    }

    /// The same client (same connection pool) with another token.
    pub fn with_token(&self, token: impl Into<String>) -> Client {
        Client {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// Replaces (or clears) the token.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// The namespace this client works in (`None`: the root).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The token this client sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The server address (without a trailing slash).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Full URL of an API path (relative to `/v1/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.addr, path.trim_start_matches('/'))
    }

    // ---------------------------------------------------------------- generic calls

    /// Sends one request and returns the raw status and body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let url = reqwest::Url::parse(&self.url(path))
            .map_err(|e| ClientError::Config(format!("invalid request path {path:?}: {e}")))?;
        self.send_url(method, url, body, None).await
    }

    /// URL of an API path taken literally (`?` and `#` in `path` are percent-encoded, not a
    /// query or fragment), with query parameters appended.
    fn url_with_query(&self, path: &str, query: &[(&str, String)]) -> Result<reqwest::Url> {
        let mut url = reqwest::Url::parse(&self.url(""))
            .map_err(|e| ClientError::Config(format!("invalid server address: {e}")))?;
        let full = format!("{}{}", url.path(), path.trim_start_matches('/'));
        url.set_path(&full);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends one request to a literal path with query parameters and an optional
    /// `Content-Type` for the JSON body (default `application/json`).
    async fn send_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        content_type: Option<&'static str>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let url = self.url_with_query(path, query)?;
        self.send_url(method, url, body, content_type).await
    }

    async fn send_url(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&Value>,
        content_type: Option<&'static str>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let mut req = self.http.request(method, url);
        if let Some(token) = &self.token {
            req = req.header(TOKEN_HEADER, token_header(token)?);
        }
        if let Some(body) = body {
            // `json` keeps a Content-Type that is already set.
            if let Some(ct) = content_type {
                req = req.header(reqwest::header::CONTENT_TYPE, ct);
            }
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| ClientError::transport(&e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ClientError::transport(&e))?;
        Ok((status, bytes.to_vec()))
    }

    /// Sends `method` to `path` (relative to `/v1/`) with an optional JSON body.
    ///
    /// Returns the response JSON on 2xx (`None` for an empty body, e.g. 204), and
    /// [`ClientError::Api`] for any other status.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Option<Value>> {
        let (status, bytes) = self.send(method, path, body.as_ref()).await?;
        finish(status, &bytes)
    }

    /// Like [`request`](Self::request) but a 404 gives `Ok(None)`.
    async fn request_or_none(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>> {
        let (status, bytes) = self.send(method, path, body).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        finish(status, &bytes)
    }

    /// Like [`request`](Self::request), for a literal path (see [`Client::url`]; `?` and `#`
    /// are percent-encoded) with query parameters and an optional body `Content-Type`.
    async fn request_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        content_type: Option<&'static str>,
    ) -> Result<Option<Value>> {
        let (status, bytes) = self
            .send_with(method, path, query, body, content_type)
            .await?;
        finish(status, &bytes)
    }

    /// Like [`request_with`](Self::request_with) but a 404 gives `Ok(None)`.
    async fn request_with_or_none(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>> {
        let (status, bytes) = self.send_with(method, path, query, body, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        finish(status, &bytes)
    }

    /// `GET path`: the whole response JSON, or `None` when nothing is there (404).
    pub async fn read(&self, path: &str) -> Result<Option<Value>> {
        self.request_or_none(Method::GET, path, None).await
    }

    /// `PUT path` with a JSON body: the response JSON, or `None` for 204.
    pub async fn write(&self, path: &str, body: Value) -> Result<Option<Value>> {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// `LIST path`: the whole response JSON (keys under `data.keys`), or `None` when there
    /// are no keys (404).
    pub async fn list(&self, path: &str) -> Result<Option<Value>> {
        self.request_or_none(list_method(), path, None).await
    }

    /// `DELETE path`: the response JSON, or `None` for 204.
    pub async fn delete(&self, path: &str) -> Result<Option<Value>> {
        self.request(Method::DELETE, path, None).await
    }

    // ---------------------------------------------------------------- sys helpers

    /// `GET sys/init`: whether the server has been initialized.
    pub async fn init_status(&self) -> Result<bool> {
        let v: Value = decode(self.request(Method::GET, "sys/init", None).await?)?;
        v.get("initialized")
            .and_then(Value::as_bool)
            .ok_or_else(|| ClientError::Decode("sys/init: missing \"initialized\"".into()))
    }

    /// `PUT sys/init` with Shamir parameters.
    pub async fn init(&self, secret_shares: u32, secret_threshold: u32) -> Result<InitResponse> {
        let body = json!({"secret_shares": secret_shares, "secret_threshold": secret_threshold});
        decode(self.request(Method::PUT, "sys/init", Some(body)).await?)
    }

    /// `PUT sys/unseal` with one key share (hex or base64).
    pub async fn unseal(&self, key: &str) -> Result<SealStatus> {
        let body = json!({ "key": key });
        decode(self.request(Method::PUT, "sys/unseal", Some(body)).await?)
    }

    /// `PUT sys/unseal` with `reset: true`: forgets the shares entered so far.
    pub async fn unseal_reset(&self) -> Result<SealStatus> {
        let body = json!({ "reset": true });
        decode(self.request(Method::PUT, "sys/unseal", Some(body)).await?)
    }

    /// `GET sys/seal-status`.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        decode(self.request(Method::GET, "sys/seal-status", None).await?)
    }

    /// `PUT sys/seal` (needs a token with `sudo` on `sys/seal`).
    pub async fn seal(&self) -> Result<()> {
        self.request(Method::PUT, "sys/seal", None).await.map(drop)
    }

    /// `PUT sys/rotate`: adds a new barrier key term (needs `sudo`).
    pub async fn rotate(&self) -> Result<()> {
        self.request(Method::PUT, "sys/rotate", None)
            .await
            .map(drop)
    }

    /// `GET sys/key-status`.
    pub async fn key_status(&self) -> Result<KeyStatus> {
        match self.request(Method::GET, "sys/key-status", None).await? {
            Some(resp) => KeyStatus::from_response(&resp),
            None => Err(ClientError::Decode("sys/key-status: empty response".into())),
        }
    }

    /// `GET sys/health`. The non-200 codes health uses to signal state (429 standby, 501 not
    /// initialized, 503 sealed, …) are returned as a normal [`HealthResponse`] when the body
    /// is a health object.
    pub async fn health(&self) -> Result<HealthResponse> {
        let (status, bytes) = self.send(Method::GET, "sys/health", None).await?;
        if status.is_success() {
            return decode(finish(status, &bytes)?);
        }
        if matches!(status.as_u16(), 429 | 472 | 473 | 474 | 501 | 503 | 530)
            && let Ok(health) = serde_json::from_slice::<HealthResponse>(&bytes)
        {
            return Ok(health);
        }
        Err(ClientError::from_response(status.as_u16(), &bytes))
    }
}

/// The `LIST` HTTP verb.
pub fn list_method() -> Method {
    Method::from_bytes(b"LIST").unwrap_or(Method::GET)
}

fn normalize_addr(addr: &str) -> Result<String> {
    let trimmed = addr.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| ClientError::Config(format!("invalid server address {addr:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::Config(format!(
            "invalid server address {addr:?}: scheme must be http or https"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ClientError::Config(format!(
            "invalid server address {addr:?}: no host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::Config(format!(
            "invalid server address {addr:?}: no query or fragment allowed"
        )));
    }
    Ok(trimmed.to_string())
}

fn token_header(token: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(token).map_err(|_| {
        ClientError::Config("token contains characters not allowed in an HTTP header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// 2xx → body JSON (`None` when empty); anything else → [`ClientError::Api`].
fn finish(status: StatusCode, bytes: &[u8]) -> Result<Option<Value>> {
    if !status.is_success() {
        return Err(ClientError::from_response(status.as_u16(), bytes));
    }
    if status == StatusCode::NO_CONTENT || bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ClientError::Decode(format!("status {}: {e}", status.as_u16())))
}

fn decode<T: DeserializeOwned>(body: Option<Value>) -> Result<T> {
    let body = body.ok_or_else(|| ClientError::Decode("empty response body".into()))?;
    serde_json::from_value(body).map_err(|e| ClientError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn opts(vars: &[(&str, &str)]) -> Result<ClientOptions> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ClientOptions::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn env_precedence() {
        let o = opts(&[]).expect("opts");
        assert_eq!(o.address, DEFAULT_ADDR);
        assert_eq!(o.token, None);
        assert!(!o.skip_verify);

        let o = opts(&[
            ("VAULT_ADDR", "http://v:1"),
            ("VAULT_TOKEN", "vt"),
            ("VAULT_CACERT", "/v.pem"),
            ("VAULT_SKIP_VERIFY", "true"),
        ])
        .expect("opts");
        assert_eq!(o.address, "http://v:1");
        assert_eq!(o.token.as_deref(), Some("vt"));
        assert_eq!(o.ca_cert, Some(PathBuf::from("/v.pem")));
        assert!(o.skip_verify);

        let o = opts(&[
            ("VAULT_ADDR", "http://v:1"),
            ("COFFRE_ADDR", "http://c:2"),
            ("VAULT_TOKEN", "vt"),
            ("COFFRE_TOKEN", "ct"),
            ("VAULT_SKIP_VERIFY", "true"),
            ("COFFRE_SKIP_VERIFY", "false"),
        ])
        .expect("opts");
        assert_eq!(o.address, "http://c:2");
        assert_eq!(o.token.as_deref(), Some("ct"));
        assert!(!o.skip_verify);

        // Empty values count as unset.
        let o = opts(&[("COFFRE_ADDR", ""), ("VAULT_ADDR", "http://v:1")]).expect("opts");
        assert_eq!(o.address, "http://v:1");

        assert!(matches!(
            opts(&[("COFFRE_SKIP_VERIFY", "yes")]),
            Err(ClientError::Config(_))
        ));
    }

    #[test]
    fn debug_hides_token() {
        let c = Client::new("http://127.0.0.1:8200/", Some("hvs.topsecret".into())).expect("new");
        assert_eq!(c.addr(), "http://127.0.0.1:8200");
        assert!(!format!("{c:?}").contains("topsecret"));
        let o = ClientOptions {
            token: Some("hvs.topsecret".into()),
            ..ClientOptions::default()
        };
        assert!(!format!("{o:?}").contains("topsecret"));
        assert!(!format!("{:?}", c.with_token("other-secret")).contains("other-secret"));
    }

    #[test]
    fn urls_and_addresses() {
        let c = Client::new("https://vault.example:8200", None).expect("new");
        assert_eq!(
            c.url("secret/foo"),
            "https://vault.example:8200/v1/secret/foo"
        );
        assert_eq!(
            c.url("/sys/health"),
            "https://vault.example:8200/v1/sys/health"
        );
        for bad in ["", "127.0.0.1:8200", "ftp://x", "http://", "http://x/?a=b"] {
            assert!(
                matches!(Client::new(bad, None), Err(ClientError::Config(_))),
                "{bad:?} accepted"
            );
        }
        assert!(matches!(
            Client::new("http://x", Some("bad\ntoken".into())),
            Err(ClientError::Config(_))
        ));
        assert_eq!(list_method().as_str(), "LIST");
    }

    #[test]
    fn finish_statuses() {
        assert_eq!(finish(StatusCode::NO_CONTENT, b"").expect("204"), None);
        assert_eq!(finish(StatusCode::OK, b"  ").expect("empty"), None);
        assert_eq!(
            finish(StatusCode::OK, br#"{"a":1}"#).expect("json"),
            Some(json!({"a": 1}))
        );
        assert!(matches!(
            finish(StatusCode::OK, b"nope"),
            Err(ClientError::Decode(_))
        ));
        assert_eq!(
            finish(
                StatusCode::FORBIDDEN,
                br#"{"errors":["permission denied"]}"#
            ),
            Err(ClientError::Api {
                status: 403,
                errors: vec!["permission denied".into()]
            })
        );
    }
}
