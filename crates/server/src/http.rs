//! The HTTP front: one axum fallback that splits `/v1/...` into the raw `sys/` handlers
//! (which work while sealed) and the logical path into the core's pipeline.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response as HttpResponse;
use coffre_core::fields::parse_bool_str;
use coffre_core::{Core, Operation, Request};
use serde_json::{Map, Value};

use crate::input::{self, InputError};
use crate::raw;
use crate::reply;

/// Shared state of the HTTP layer.
#[derive(Clone)]
pub struct AppState {
    /// The core.
    pub core: Arc<Core>,
    /// Body limit in bytes.
    pub max_request_size: usize,
    /// The whole body must arrive within this.
    pub body_read_timeout: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` is believed (empty: the header is ignored).
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// This node's part among several sharing the storage (`None`: the only node).
    pub cluster: Option<Arc<crate::ha::Cluster>>,
}

/// The client's address: the connection's, or, when the connection comes from a trusted
/// proxy, the rightmost `X-Forwarded-For` address that is not itself a trusted proxy (the
/// leftmost when all are). `Err` for a header from a trusted proxy that does not parse.
pub(crate) fn client_address(
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Result<Option<std::net::IpAddr>, ()> {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    let Some(peer) = peer.filter(|p| is_trusted(p)) else {
        return Ok(peer);
    };
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().map_err(|_| ())?;
        for hop in text.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            hops.push(hop.parse::<std::net::IpAddr>().map_err(|_| ())?);
        }
    }
    Ok(Some(
        hops.iter()
            .rev()
            .find(|h| !is_trusted(h))
            .or(hops.first())
            .copied()
            .unwrap_or(peer),
    ))
}

/// The whole HTTP application (testable without a socket).
pub fn router(state: AppState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// The parts of an HTTP request the handlers need.
pub(crate) struct HttpInput {
    pub(crate) method: Method,
    /// The request's URI as received (forwarded as is).
    pub(crate) uri: axum::http::Uri,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: bytes::Bytes,
    pub(crate) remote: Option<SocketAddr>,
}

async fn dispatch(State(state): State<AppState>, req: axum::extract::Request) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let remote = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let Some(path) = parts.uri.path().strip_prefix("/v1/") else {
        return reply::errors(StatusCode::NOT_FOUND, &[]);
    };
    let path = match percent_decode(path) {
        Some(p) => p,
        None => return reply::errors(StatusCode::BAD_REQUEST, &["invalid path encoding".into()]),
    };
    // Normalized once here, after decoding (so `%2F%2F` and `%2e%2e` are caught too): the raw
    // handlers and the core see the same path.
    let path = match coffre_core::normalize_path(&path) {
        Ok(p) => p.into_owned(),
        Err(e) => return reply::error(&e),
    };
    // Checked after decoding, so `%0a` or `%00` cannot smuggle control characters into keys
    // or audit entries.
    if path.chars().any(|c| c.is_control()) {
        return reply::errors(
            StatusCode::BAD_REQUEST,
            &["invalid characters in path".into()],
        );
    }
    let read = axum::body::to_bytes(body, state.max_request_size);
    let body = match tokio::time::timeout(state.body_read_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return reply::errors(
                StatusCode::PAYLOAD_TOO_LARGE,
                &["http: request body too large".into()],
            );
        }
        Err(_) => {
            return reply::errors(
                StatusCode::REQUEST_TIMEOUT,
                &["http: request body not received in time".into()],
            );
        }
    };
    let input = HttpInput {
        method: parts.method,
        uri: parts.uri.clone(),
        path,
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
        remote,
    };
    let is_head = input.method == Method::HEAD;
    let mut resp = match raw::route(&state, &input).await {
        Some(resp) => resp,
        None => logical(&state, &input).await,
    };
    if is_head {
        *resp.body_mut() = Body::empty();
    }
    resp
}

impl HttpInput {
    /// The path and query as the client sent them.
    pub(crate) fn uri_path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("/", |p| p.as_str())
    }
}

/// Decodes `%XX` escapes in the path. A `%` that does not start a valid escape, or bytes that
/// are not UTF-8 once decoded, make the path invalid (400) rather than passing through.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let hex_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_hexdigit);
    let malformed = bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'%' && !(hex_at(i + 1) && hex_at(i + 2)));
    if malformed {
        return None;
    }
    percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Maps the HTTP method (and `?list=`) to a logical operation.
fn operation(
    method: &Method,
    headers: &HeaderMap,
    query: &mut Map<String, Value>,
) -> Result<Operation, HttpResponse> {
    let list_flag = match query.remove("list") {
        None => false,
        Some(Value::String(s)) => {
            parse_bool_str(&s).ok_or_else(|| reply::errors(StatusCode::BAD_REQUEST, &[]))?
        }
        Some(_) => return Err(reply::errors(StatusCode::BAD_REQUEST, &[])),
    };
    // `?help=1` (any non-empty value, as OpenBao) or the HELP method asks for the path's help.
    let help_flag = match query.remove("help") {
        None => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    if help_flag || method.as_str() == "HELP" {
        return Ok(Operation::Help);
    }
    match method.as_str() {
        // HEAD is answered only by the raw `sys/` handlers (health checks), as in OpenBao.
        "GET" if list_flag => Ok(Operation::List),
        "GET" => Ok(Operation::Read),
        "LIST" => Ok(Operation::List),
        "POST" | "PUT" => Ok(Operation::Update),
        "DELETE" => Ok(Operation::Delete),
        "PATCH" => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let media = ct.split(';').next().unwrap_or("").trim();
            if media.is_empty() {
                // Go's mime parser, which OpenBao answers with.
                return Err(reply::errors(
                    StatusCode::BAD_REQUEST,
                    &["mime: no media type".into()],
                ));
            }
            if media.eq_ignore_ascii_case("application/merge-patch+json") {
                Ok(Operation::Patch)
            } else {
                Err(reply::errors(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &[format!(
                        "PATCH requires Content-Type of application/merge-patch+json, provided {ct}"
                    )],
                ))
            }
        }
        _ => Err(reply::errors(StatusCode::METHOD_NOT_ALLOWED, &[])),
    }
}

/// A logical request through the core's pipeline.
async fn logical(state: &AppState, input: &HttpInput) -> HttpResponse {
    let mut query = input::query(input.query.as_deref());
    let op = match operation(&input.method, &input.headers, &mut query) {
        Ok(op) => op,
        Err(resp) => return resp,
    };
    // Response wrapping (cubbyhole) is not available: a client asking for a wrapped secret
    // must not get it in the clear instead.
    if input.headers.contains_key("x-vault-wrap-ttl") {
        return reply::errors(
            StatusCode::BAD_REQUEST,
            &["response wrapping (X-Vault-Wrap-TTL) is not supported".into()],
        );
    }
    let data = match op {
        Operation::Read | Operation::List | Operation::Delete | Operation::Help => {
            // Reads take their parameters from the query string; a body is ignored.
            query
        }
        _ => match input::body(&input.headers, &input.body) {
            Ok(mut body) => {
                for (k, v) in query {
                    body.entry(k).or_insert(v);
                }
                body
            }
            Err(InputError::Bad(msg)) => {
                return reply::errors(StatusCode::BAD_REQUEST, &[msg]);
            }
        },
    };
    let mut path = input.path.clone();
    if op == Operation::List && !path.ends_with('/') {
        path.push('/');
    }
    let mut req = Request::new(op, path).with_data(data);
    req.token = input::token(&input.headers);
    match input.headers.get("x-vault-namespace").map(|v| v.to_str()) {
        None => {}
        Some(Ok(ns)) => req.namespace = ns.to_string(),
        Some(Err(_)) => {
            return reply::errors(
                StatusCode::BAD_REQUEST,
                &["invalid X-Vault-Namespace header".into()],
            );
        }
    }
    for value in input.headers.get_all("x-vault-mfa") {
        match value.to_str() {
            Ok(v) => req.add_mfa(v.to_string()),
            Err(_) => {
                return reply::errors(
                    StatusCode::BAD_REQUEST,
                    &["invalid X-Vault-MFA header".into()],
                );
            }
        }
    }
    let client = client_address(
        input.remote.map(|a| a.ip()),
        &input.headers,
        &state.trusted_proxies,
    );
    let client = match client {
        Ok(addr) => addr,
        Err(()) => {
            return reply::errors(
                StatusCode::BAD_REQUEST,
                &["invalid X-Forwarded-For header".into()],
            );
        }
    };
    req.remote_addr = client.map(|a| a.to_string());
    let request_id = req.id.clone();
    match state.core.handle(req).await {
        // Help is answered with the bare help object, as OpenBao does (`bao path-help`).
        Ok(Some(resp)) if op == Operation::Help => reply::json(
            StatusCode::OK,
            &Value::Object(resp.data.unwrap_or_default()),
        ),
        Ok(Some(resp)) => reply::envelope(&request_id, resp),
        Ok(None) => reply::errors(StatusCode::NOT_FOUND, &[]),
        // A standby does not serve it: the active node does.
        Err(e) if e.kind() == coffre_core::ErrorKind::Standby => match &state.cluster {
            Some(cluster) => cluster.send_on(input, client).await,
            None => reply::error(&e),
        },
        Err(e) => reply::error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn paths_are_percent_decoded_strictly() {
        assert_eq!(percent_decode("kv/a%20b").as_deref(), Some("kv/a b"));
        assert_eq!(percent_decode("kv/plain").as_deref(), Some("kv/plain"));
        assert_eq!(percent_decode("kv/%C3%A9").as_deref(), Some("kv/é"));
        assert_eq!(percent_decode("kv/%zz"), None);
        assert_eq!(percent_decode("kv/%4"), None);
        assert_eq!(percent_decode("kv/%FF"), None, "not UTF-8");
    }
}

#[cfg(test)]
mod forwarded_tests {
    use super::client_address;
    use axum::http::{HeaderMap, HeaderValue};

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.1.1.1"),
        );
        // From the proxy: the rightmost address that is not a proxy.
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &h, &trusted),
            Ok(Some(ip("203.0.113.7")))
        );
        // From anyone else: the header is ignored.
        assert_eq!(
            client_address(Some(ip("192.0.2.1")), &h, &trusted),
            Ok(Some(ip("192.0.2.1")))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &h, &[]),
            Ok(Some(ip("10.0.0.2")))
        );
        // A forged left part does not help: the rightmost untrusted hop is the client.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("127.0.0.1, 198.51.100.9"),
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &h, &trusted),
            Ok(Some(ip("198.51.100.9")))
        );
        h.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(client_address(Some(ip("10.0.0.2")), &h, &trusted), Err(()));
        // No header: the proxy itself.
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &HeaderMap::new(), &trusted),
            Ok(Some(ip("10.0.0.2")))
        );
    }
}
