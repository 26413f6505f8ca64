//! The one request type and the one response type that cross from the HTTP layer into the core.

use serde_json::{Map, Value};

/// A logical operation, as Vault derives it from the HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// GET.
    Read,
    /// LIST verb or `?list=true`.
    List,
    /// POST/PUT on an object that does not exist yet (decided by the route's existence check).
    Create,
    /// POST/PUT on an existing object, or on a route without an existence check.
    Update,
    /// DELETE.
    Delete,
    /// PATCH (JSON merge patch).
    Patch,
}

impl Operation {
    /// The lower-case name used in audit entries and policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::List => "list",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Patch => "patch",
        }
    }

    /// Whether the client wrote with POST/PUT (create or update).
    pub fn is_write(self) -> bool {
        matches!(self, Operation::Create | Operation::Update)
    }
}

/// A client request, already stripped of HTTP.
#[derive(Clone)]
pub struct Request {
    /// Unique id, echoed in the response envelope.
    pub id: String,
    /// What the client wants to do. POST/PUT arrive as `Update`; the pipeline may settle them
    /// to `Create` through the route's existence check.
    pub operation: Operation,
    /// Logical path after `/v1/`, without a leading slash.
    pub path: String,
    /// Body (or query string for reads), JSON `null` values already removed.
    pub data: Map<String, Value>,
    /// Client token, if one was sent.
    pub token: Option<String>,
    /// Remote address, for audit.
    pub remote_addr: Option<String>,
}

impl std::fmt::Debug for Request {
    // Never print the token or the data: both may be secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_keys", &self.data.len())
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A random (v4) UUID. The bytes come from aws-lc's per-thread generator: `Uuid::new_v4`
/// makes a `getrandom` system call for every request (about 2% of a KV read in profiles).
fn new_request_id() -> String {
    match coffre_crypto::random_array::<16>() {
        Ok(bytes) => uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string(),
        Err(_) => uuid::Uuid::new_v4().to_string(),
    }
}

impl Request {
    /// A request with a fresh id and no data.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Request {
            id: new_request_id(),
            operation,
            path: path.into(),
            data: Map::new(),
            token: None,
            remote_addr: None,
        }
    }

    /// Builder: attach a token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Builder: attach data.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }
}

/// A successful response. The server wraps it in Vault's envelope. `Debug` shows no data:
/// responses carry secret values and client tokens.
#[derive(Clone, Default)]
pub struct Response {
    /// The `data` object of the envelope.
    pub data: Option<Map<String, Value>>,
    /// Warnings for the client.
    pub warnings: Vec<String>,
    /// `lease_duration` in seconds.
    pub lease_duration: u64,
    /// Whether the lease is renewable.
    pub renewable: bool,
    /// Copy the keys of `data` to the top level of the body too (Vault does this for some
    /// `sys/` routes and hvac relies on it).
    pub inject_data_top_level: bool,
    /// Send the normal envelope with this status instead of 200 (Vault does this for reads of
    /// deleted KV v2 versions: 404 with data, which hvac reads).
    pub status: Option<u16>,
    /// The `auth` block (token creation and login).
    pub auth: Option<Map<String, Value>>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("data_keys", &self.data.as_ref().map(Map::len))
            .field("auth", &self.auth.as_ref().map(|_| "[redacted]"))
            .field("warnings", &self.warnings)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// A response carrying `data`.
    pub fn with_data(data: Map<String, Value>) -> Self {
        Response {
            data: Some(data),
            ..Response::default()
        }
    }

    /// A response with no body (HTTP 204 unless it carries warnings).
    pub fn empty() -> Self {
        Response::default()
    }

    /// Whether there is nothing to send (so the server answers 204).
    pub fn is_empty(&self) -> bool {
        self.data.is_none() && self.warnings.is_empty() && self.auth.is_none()
    }

    /// Builder: mark as a top-level-injected `sys/` response.
    pub fn injected(mut self) -> Self {
        self.inject_data_top_level = true;
        self
    }
}
