//! Building HTTP responses the way Vault clients expect them: exact `Content-Type:
//! application/json`, `Cache-Control: no-store`, `{"errors": [...]}` bodies, the success
//! envelope, and the single mapping from error categories to status codes.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response as HttpResponse;
use coffre_core::{Error, ErrorKind, Response};
use serde_json::{Map, Value, json};

/// The HTTP status for an error category. Exhaustive on purpose.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::UnsupportedOperation => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Sealed | ErrorKind::Standby | ErrorKind::Unavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON response with Vault's headers.
pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> HttpResponse {
    // Most bodies fit: one allocation instead of a few doublings from empty.
    let mut bytes = Vec::with_capacity(512);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes = b"{}".to_vec();
    }
    let mut resp = HttpResponse::new(Body::from(bytes));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An empty 204.
pub fn no_content() -> HttpResponse {
    let mut resp = HttpResponse::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `{"errors": [msg...]}` with `status`.
pub fn errors(status: StatusCode, messages: &[String]) -> HttpResponse {
    json(status, &json!({ "errors": messages }))
}

/// A core error as an HTTP response. Internal details are logged, not sent.
pub fn error(err: &Error) -> HttpResponse {
    let kind = err.kind();
    if kind == ErrorKind::Internal {
        tracing::error!(error = %err, "request failed");
    }
    let mut resp = errors(status_for(kind), &[err.public_message()]);
    if let Some(secs) = err.retry_after_secs() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The success envelope around a core response (or 204 when there is nothing to say).
pub fn envelope(request_id: &str, resp: Response) -> HttpResponse {
    let status = resp
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    if let Some(raw) = resp.raw {
        let mut http = HttpResponse::new(Body::from(raw.body));
        *http.status_mut() = status;
        let h = http.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(raw.content_type),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return http;
    }
    if resp.is_empty() {
        if status == StatusCode::OK {
            return no_content();
        }
        let mut bare = no_content();
        *bare.status_mut() = status;
        return bare;
    }
    let body = Envelope {
        request_id,
        lease_id: &resp.lease_id,
        renewable: resp.renewable,
        lease_duration: resp.lease_duration,
        data: resp.data.as_ref(),
        wrap_info: None,
        warnings: (!resp.warnings.is_empty()).then_some(resp.warnings.as_slice()),
        auth: resp.auth.as_ref(),
    };
    if resp.inject_data_top_level
        && let Some(data) = &resp.data
    {
        // Rare (`sys/` endpoints that hvac reads at the top level): merge into one map.
        let mut merged = data.clone();
        if let Ok(Value::Object(fields)) = serde_json::to_value(&body) {
            merged.extend(fields);
        }
        return json(status, &Value::Object(merged));
    }
    json(status, &body)
}

/// Vault's success envelope. Serialized straight from borrowed parts: building a `Value` map
/// first cost eight key allocations and a deep copy of the data on every request.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    request_id: &'a str,
    lease_id: &'a str,
    renewable: bool,
    lease_duration: u64,
    data: Option<&'a Map<String, Value>>,
    wrap_info: Option<()>,
    warnings: Option<&'a [String]>,
    auth: Option<&'a Map<String, Value>>,
}
