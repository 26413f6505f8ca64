//! The validation webhook of a two-phase rotation: before `next` is promoted, coffre asks the
//! policy's `validate` URL to confirm it holds the new value.
//!
//! coffre sends `POST <url>` with a JSON body naming the secret and the version carrying
//! `next` (never the value). The consumer reads the value from coffre as it normally does and
//! answers 2xx with `{"fingerprint": "<hex SHA-256 of next>"}` (of the public key, for a key
//! pair). Anything else (another status, another fingerprint, no answer in 10 s) fails the
//! promotion, which is retried with backoff while the current value stays current.

use std::sync::LazyLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};

const TIMEOUT: Duration = Duration::from_secs(10);

/// One client for every validation: it keeps connections and TLS configuration.
static CLIENT: LazyLock<std::result::Result<reqwest::Client, String>> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "coffre/",
            env!("CARGO_PKG_VERSION"),
            " rotation-validate"
        ))
        .build()
        .map_err(|e| e.to_string())
});

/// What the webhook is told.
pub(crate) struct Check<'a> {
    pub(crate) namespace: &'a str,
    /// The secret's full path (mount and key), e.g. `secret/jwt`.
    pub(crate) path: &'a str,
    /// The version that carries `next`.
    pub(crate) version: u64,
    /// The fingerprint the answer must carry.
    pub(crate) fingerprint: &'a str,
}

fn failed(url: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("rotation validation by {url} failed: {why}"))
}

/// Asks `url` to confirm `check`; `Ok` only for a 2xx answer carrying the fingerprint.
pub(crate) async fn confirm(url: &str, check: &Check<'_>) -> Result<()> {
    let client = CLIENT
        .as_ref()
        .map_err(|e| Error::Internal(format!("http client: {e}")))?;
    let body = json!({
        "namespace": check.namespace,
        "path": check.path,
        "version": check.version,
        "fingerprint_algorithm": "sha256",
    });
    let resp = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| failed(url, format!("no answer ({})", e.without_url())))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(failed(url, format!("it answered {}", status.as_u16())));
    }
    let answer: Value = resp
        .json()
        .await
        .map_err(|_| failed(url, "the answer is not JSON"))?;
    let given = answer
        .get("fingerprint")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !coffre_crypto::ct_eq(given.as_bytes(), check.fingerprint.as_bytes()) {
        return Err(failed(url, "the fingerprint does not match the next value"));
    }
    Ok(())
}
