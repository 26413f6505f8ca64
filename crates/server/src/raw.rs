//! The raw `sys/` handlers that work while sealed and answer with a bare JSON object instead of
//! the envelope: init, unseal, seal-status, seal, health, leader.

use axum::http::{Method, StatusCode};
use axum::response::Response as HttpResponse;
use base64::Engine as _;
use coffre_core::Error;
use coffre_core::fields::{self, parse_bool_str};
use serde_json::{Map, Value, json};

use crate::http::{AppState, HttpInput};
use crate::input;
use crate::reply;

/// Handles `input` if it is one of the raw routes; `None` sends it down the logical path.
pub(crate) async fn route(state: &AppState, input: &HttpInput) -> Option<HttpResponse> {
    let resp = match input.path.trim_end_matches('/') {
        "sys/init" => init(state, input).await,
        "sys/unseal" => unseal(state, input).await,
        "sys/seal-status" => only(input, &[Method::GET], || seal_status(state)).await,
        "sys/seal" => seal(state, input).await,
        "sys/health" => health(state, input).await,
        "sys/leader" => only(input, &[Method::GET], || leader(state)).await,
        _ => return None,
    };
    Some(resp)
}

async fn only<F, Fut>(input: &HttpInput, methods: &[Method], f: F) -> HttpResponse
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = HttpResponse>,
{
    if methods.contains(&input.method) {
        f().await
    } else {
        reply::errors(StatusCode::METHOD_NOT_ALLOWED, &[])
    }
}

fn is_write(input: &HttpInput) -> bool {
    input.method == Method::PUT || input.method == Method::POST
}

fn body(input: &HttpInput) -> Result<Map<String, Value>, HttpResponse> {
    input::body(&input.headers, &input.body)
        .map_err(|input::InputError::Bad(msg)| reply::errors(StatusCode::BAD_REQUEST, &[msg]))
}

async fn init(state: &AppState, input: &HttpInput) -> HttpResponse {
    if input.method == Method::GET {
        return match state.core.is_initialized().await {
            Ok(i) => reply::json(StatusCode::OK, &json!({ "initialized": i })),
            Err(e) => reply::error(&e),
        };
    }
    if !is_write(input) {
        return reply::errors(StatusCode::METHOD_NOT_ALLOWED, &[]);
    }
    let data = match body(input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let result = async {
        if fields::opt_string_list(&data, "pgp_keys")?.is_some_and(|k| !k.is_empty())
            || fields::opt_str(&data, "root_token_pgp_key")?.is_some_and(|k| !k.is_empty())
        {
            return Err(Error::invalid("PGP-encrypted shares are not supported"));
        }
        let shares = fields::opt_i64(&data, "secret_shares")?.unwrap_or(0);
        let threshold = fields::opt_i64(&data, "secret_threshold")?.unwrap_or(0);
        state.core.init(shares, threshold, None).await
    }
    .await;
    match result {
        Ok(init) => {
            let hex: Vec<String> = init
                .shares
                .iter()
                .map(|s| hex::encode(s.expose()))
                .collect();
            let b64: Vec<String> = init
                .shares
                .iter()
                .map(|s| base64::engine::general_purpose::STANDARD.encode(s.expose()))
                .collect();
            reply::json(
                StatusCode::OK,
                &json!({ "keys": hex, "keys_base64": b64, "root_token": init.root_token }),
            )
        }
        // One node initializes the storage for all: the active one.
        Err(e) if e.kind() == coffre_core::ErrorKind::Standby => match &state.cluster {
            Some(cluster) => cluster.send_on(input, None).await,
            None => reply::error(&e),
        },
        Err(e) => reply::error(&e),
    }
}

/// Looks a field up ignoring case (Vault decodes `sys/unseal` without JSON tags).
fn field_ci<'a>(data: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    data.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

async fn unseal(state: &AppState, input: &HttpInput) -> HttpResponse {
    if !is_write(input) {
        return reply::errors(StatusCode::METHOD_NOT_ALLOWED, &[]);
    }
    let data = match body(input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let reset = match field_ci(&data, "reset") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => parse_bool_str(s).unwrap_or(false),
        Some(_) => {
            return reply::errors(StatusCode::BAD_REQUEST, &["'reset' must be a bool".into()]);
        }
    };
    let result = if reset {
        state.core.unseal_reset().await
    } else {
        match field_ci(&data, "key") {
            Some(Value::String(k)) if !k.is_empty() => state.core.unseal(k).await,
            Some(Value::String(_)) | None => Err(Error::invalid(
                "'key' must be specified in request body as JSON, or 'reset' set to true",
            )),
            Some(_) => Err(Error::invalid("'key' must be a valid hex or base64 string")),
        }
    };
    match result {
        Ok(status) => reply::json(StatusCode::OK, &json!(status)),
        Err(e) => reply::error(&e),
    }
}

async fn seal_status(state: &AppState) -> HttpResponse {
    match state.core.seal_status().await {
        Ok(status) => reply::json(StatusCode::OK, &json!(status)),
        Err(e) => reply::error(&e),
    }
}

async fn seal(state: &AppState, input: &HttpInput) -> HttpResponse {
    if !is_write(input) {
        return reply::errors(StatusCode::METHOD_NOT_ALLOWED, &[]);
    }
    let token = input::token(&input.headers);
    match state.core.seal(token.as_ref().map(|t| t.expose())).await {
        Ok(()) => reply::no_content(),
        Err(e) => reply::error(&e),
    }
}

async fn health(state: &AppState, input: &HttpInput) -> HttpResponse {
    if input.method != Method::GET && input.method != Method::HEAD {
        return reply::errors(StatusCode::METHOD_NOT_ALLOWED, &[]);
    }
    let query = input::query(input.query.as_deref());
    let code = |name: &str, default: u16| -> Result<u16, HttpResponse> {
        match query.get(name) {
            None => Ok(default),
            Some(Value::String(s)) => s
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| {
                    reply::errors(
                        StatusCode::BAD_REQUEST,
                        &[format!("unable to parse {name} code: {s}")],
                    )
                }),
            Some(_) => Err(reply::errors(StatusCode::BAD_REQUEST, &[])),
        }
    };
    let flag = |name: &str| -> Result<bool, HttpResponse> {
        match query.get(name) {
            None => Ok(false),
            // `?standbyok` alone means true, as Vault reads it.
            Some(Value::String(s)) if s.is_empty() => Ok(true),
            Some(Value::String(s)) => parse_bool_str(s).ok_or_else(|| {
                reply::errors(
                    StatusCode::BAD_REQUEST,
                    &[format!("bad value for {name} parameter: {s}")],
                )
            }),
            Some(_) => Err(reply::errors(StatusCode::BAD_REQUEST, &[])),
        }
    };
    let codes = (|| {
        // `perfstandbyok` is read for Vault's clients; coffre has one kind of standby, which
        // serves reads as OpenBao 2.7's do and answers as a standby (429).
        flag("perfstandbyok")?;
        Ok((
            code("activecode", 200)?,
            code("sealedcode", 503)?,
            code("uninitcode", 501)?,
            code("standbycode", 429)?,
            flag("standbyok")?,
        ))
    })();
    let (active, sealed_code, uninit, standby_code, standby_ok) = match codes {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let status = match state.core.seal_status().await {
        Ok(s) => s,
        Err(e) => return reply::error(&e),
    };
    let standby = state.cluster.is_some() && !state.core.is_active();
    let code = if !status.initialized {
        uninit
    } else if status.sealed {
        sealed_code
    } else if standby && !standby_ok {
        standby_code
    } else {
        active
    };
    let mut body = json!({
        "initialized": status.initialized,
        "sealed": status.sealed,
        "standby": standby,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": state.core.clock().now_unix_secs(),
        "version": status.version,
        "enterprise": false,
    });
    if let (Some(obj), Some(name), Some(id)) =
        (body.as_object_mut(), status.cluster_name, status.cluster_id)
    {
        obj.insert("cluster_name".into(), json!(name));
        obj.insert("cluster_id".into(), json!(id));
    }
    reply::json(StatusCode::from_u16(code).unwrap_or(StatusCode::OK), &body)
}

async fn leader(state: &AppState) -> HttpResponse {
    if state.core.is_sealed() {
        return reply::error(&Error::Sealed);
    }
    if let Some(cluster) = &state.cluster {
        let leader = cluster.ha().leader();
        let since = leader.as_ref().map_or(0, |l| l.since_unix);
        return reply::json(
            StatusCode::OK,
            &json!({
                "ha_enabled": true,
                "is_self": state.core.is_active(),
                "active_time": coffre_core::rfc3339_nanos(since.saturating_mul(1_000_000_000)),
                "leader_address": leader.as_ref().map_or("", |l| l.api_addr.as_str()),
                "leader_cluster_address": "",
                "performance_standby": false,
                "performance_standby_last_remote_wal": 0,
                "raft_committed_index": 0,
                "raft_applied_index": 0,
            }),
        );
    }
    reply::json(
        StatusCode::OK,
        &json!({
            "ha_enabled": false,
            "is_self": false,
            "active_time": "0001-01-01T00:00:00Z",
            "leader_address": "",
            "leader_cluster_address": "",
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
            "raft_committed_index": 0,
            "raft_applied_index": 0,
        }),
    )
}
