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
    /// `?help=1` (or the `HELP` method): the path's help text and OpenAPI document. Open to
    /// every valid token, never dispatched to a handler.
    Help,
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
            Operation::Help => "help",
        }
    }

    /// Whether the client wrote with POST/PUT (create or update).
    pub fn is_write(self) -> bool {
        matches!(self, Operation::Create | Operation::Update)
    }
}

/// A client token as it travels through the pipeline: zeroized when dropped, not `Clone`
/// (there is one copy, moved from the request into the authorization proof), and `Debug`
/// prints `[redacted]`. Only its keyed hash is ever stored.
pub struct ClientToken(zeroize::Zeroizing<String>);

impl ClientToken {
    /// Takes ownership of the token text.
    pub fn new(token: String) -> Self {
        ClientToken(zeroize::Zeroizing::new(token))
    }

    /// The token text (for hashing, and for `lookup-self`'s answer).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A client request, already stripped of HTTP.
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
    pub token: Option<ClientToken>,
    /// Remote address, for audit.
    pub remote_addr: Option<String>,
    /// The `X-Vault-Namespace` header (empty: the root namespace). The path may name
    /// namespaces below it too; the pipeline resolves both.
    pub namespace: String,
    /// `X-Vault-MFA` headers (`method:passcode`), for a single-phase login with MFA.
    pub mfa: Vec<zeroize::Zeroizing<String>>,
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

/// A random (v4) UUID. Ids come from a per-thread pool of aws-lc random bytes refilled 256 ids
/// at a time: one generator call per id (`Uuid::new_v4`'s `getrandom` system call, or aws-lc's
/// DRBG with its key schedule and RDRAND) cost about 2% of a request in profiles.
pub(crate) fn new_request_id() -> String {
    const IDS_PER_FILL: usize = 256;
    thread_local! {
        static POOL: std::cell::RefCell<(usize, Vec<u8>)> =
            const { std::cell::RefCell::new((0, Vec::new())) };
    }
    let bytes = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let (used, buf) = &mut *pool;
        if *used >= buf.len() {
            buf.resize(16 * IDS_PER_FILL, 0);
            *used = 0;
            if coffre_crypto::fill_random(buf).is_err() {
                // Never hand out bytes the generator did not fill.
                buf.clear();
                return None;
            }
        }
        let id: [u8; 16] = buf.get(*used..*used + 16)?.try_into().ok()?;
        *used += 16;
        Some(id)
    });
    match bytes {
        Some(bytes) => uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    }
}

/// The one spelling of a logical path that every check sees: no leading slash, no empty
/// segments (`a//b` is `a/b`), a trailing slash kept (it means a folder). Segments `.` and `..`
/// are refused rather than resolved: no Vault path has them, and resolving them would let a
/// request name one path to the ACL and another to a handler.
///
/// # Errors
/// 400 for a `.` or `..` segment.
pub fn normalize_path(path: &str) -> crate::Result<std::borrow::Cow<'_, str>> {
    let trailing = path.ends_with('/');
    let mut segments = path.split('/').filter(|s| !s.is_empty()).peekable();
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(crate::Error::invalid(
            "invalid path: '.' and '..' segments are not allowed",
        ));
    }
    let already = !path.starts_with('/') && !path.contains("//");
    if already {
        return Ok(std::borrow::Cow::Borrowed(path));
    }
    let mut out = String::with_capacity(path.len());
    while let Some(seg) = segments.next() {
        out.push_str(seg);
        if segments.peek().is_some() || trailing {
            out.push('/');
        }
    }
    Ok(std::borrow::Cow::Owned(out))
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
            namespace: String::new(),
            mfa: Vec::new(),
        }
    }

    /// Builder: the namespace the request is made in (`X-Vault-Namespace`).
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Builder: attach a token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(ClientToken::new(token.into()));
        self
    }

    /// Builder: attach data.
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    /// Adds an `X-Vault-MFA` value (`method:passcode`).
    pub fn with_mfa(mut self, value: impl Into<String>) -> Self {
        self.add_mfa(value.into());
        self
    }

    /// Adds an `X-Vault-MFA` value (`method:passcode`) to the request.
    pub fn add_mfa(&mut self, value: String) {
        self.mfa.push(zeroize::Zeroizing::new(value));
    }

    /// Sets the client's address (as the HTTP layer does from the connection).
    pub fn from_addr(mut self, addr: impl Into<String>) -> Self {
        self.remote_addr = Some(addr.into());
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
    /// Set by an engine handing out a dynamic secret: the pipeline registers the lease and
    /// fills in `lease_id`, `lease_duration` and `renewable`.
    pub lease: Option<crate::leases::NewLease>,
    /// The `lease_id` of the envelope (empty: none).
    pub lease_id: String,
    /// Sent as this body instead of the envelope (`sys/metrics?format=prometheus`).
    pub raw: Option<RawBody>,
    /// Set by an engine reading a secret marked critical: the request's event says so, for
    /// alert rules ([`crate::alerts`]). Never sent.
    pub critical: bool,
}

/// A response body sent as it is, with its content type.
#[derive(Debug, Clone)]
pub struct RawBody {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
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
    /// The answer to a LIST: `{"keys": [...]}`, or `None` (a 404) when there are none, as
    /// Vault answers.
    pub(crate) fn keys(keys: Vec<String>) -> Option<Response> {
        if keys.is_empty() {
            return None;
        }
        let mut data = Map::new();
        data.insert("keys".into(), Value::from(keys));
        Some(Response::with_data(data))
    }

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

    /// A bodiless answer with this status (OpenBao answers a KV v2 patch of a missing secret
    /// with an empty 404, not with `{"errors":[]}`).
    pub fn status_only(status: u16) -> Self {
        Response {
            status: Some(status),
            ..Response::default()
        }
    }

    /// Whether there is nothing to send (so the server answers 204, or `status` with no body).
    pub fn is_empty(&self) -> bool {
        self.data.is_none()
            && self.warnings.is_empty()
            && self.auth.is_none()
            && self.lease_id.is_empty()
    }

    /// Builder: mark as a top-level-injected `sys/` response.
    pub fn injected(mut self) -> Self {
        self.inject_data_top_level = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_have_one_spelling() {
        let n = |p: &str| normalize_path(p).map(std::borrow::Cow::into_owned);
        assert_eq!(n("sys/audit").expect("ok"), "sys/audit");
        assert_eq!(n("/sys/audit").expect("ok"), "sys/audit");
        assert_eq!(n("//sys//audit").expect("ok"), "sys/audit");
        assert_eq!(n("secret/a/").expect("ok"), "secret/a/");
        assert_eq!(n("secret//a//").expect("ok"), "secret/a/");
        assert_eq!(n("").expect("ok"), "");
        assert!(n("secret/../sys/audit").is_err());
        assert!(n("./sys/audit").is_err());
        assert!(n("sys/audit/.").is_err());
        assert_eq!(
            n("secret/..x").expect("ok"),
            "secret/..x",
            "only whole segments"
        );
    }

    #[test]
    fn request_ids_are_distinct_v4_uuids_across_pool_refills() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).expect("uuid");
            assert_eq!(parsed.get_version_num(), 4, "{id}");
        }
    }
}
