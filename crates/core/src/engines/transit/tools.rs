//! `random[/:source][/:bytes]` and `hash[/:algorithm]`, shared with `sys/tools/random` and
//! `sys/tools/hash` (same parameters, same responses).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffre_crypto::HashAlgorithm;
use coffre_crypto::transit::symmetric::random_secret;
use serde_json::{Map, Value, json};

use super::policy::crypto_err;
use crate::error::{Error, Result};
use crate::fields::{opt_i64, opt_str};
use crate::request::Response;

/// Largest `bytes` a random request may ask for.
pub(crate) const MAX_RANDOM_BYTES: i64 = 128 * 1024;

fn valid_source(s: &str) -> bool {
    matches!(s, "" | "platform" | "seal" | "all")
}

fn format_field(data: &Map<String, Value>, default: &str) -> Result<String> {
    let format = opt_str(data, "format")?.unwrap_or(default);
    match format {
        "hex" | "base64" => Ok(format.to_string()),
        other => Err(Error::invalid(format!(
            "unsupported encoding format {other:?}; must be \"hex\" or \"base64\""
        ))),
    }
}

/// Random bytes. `url_rest` is what follows `random` in the path, without the leading slash:
/// `""`, `"<bytes>"`, `"<source>"` or `"<source>/<bytes>"`; `data` carries `bytes`
/// (default 32), `format` (`base64` default, or `hex`) and `source`.
///
/// Response data: `{"random_bytes": "…"}`.
///
/// # Errors
/// 400 for a bad byte count, source or format.
pub(crate) fn random_response(url_rest: &str, data: &Map<String, Value>) -> Result<Response> {
    let parse_count = |s: &str| {
        s.parse::<i64>()
            .map_err(|e| Error::invalid(format!("error parsing url-set byte count: {e}")))
    };
    let body_bytes = || -> Result<i64> { Ok(opt_i64(data, "bytes")?.unwrap_or(32)) };
    let (source, bytes) = match url_rest.split_once('/') {
        Some((source, count)) => (source.to_string(), parse_count(count)?),
        None if url_rest.is_empty() => (
            opt_str(data, "source")?.unwrap_or("platform").to_string(),
            body_bytes()?,
        ),
        None if valid_source(url_rest) => (url_rest.to_string(), body_bytes()?),
        None => (
            opt_str(data, "source")?.unwrap_or("platform").to_string(),
            parse_count(url_rest)?,
        ),
    };
    let format = format_field(data, "base64")?;
    if bytes < 1 {
        return Err(Error::invalid("'bytes' cannot be less than 1"));
    }
    if bytes > MAX_RANDOM_BYTES {
        return Err(Error::invalid(format!(
            "'bytes' should be less than {MAX_RANDOM_BYTES}"
        )));
    }
    if !valid_source(&source) {
        return Err(Error::invalid(format!(
            "unsupported entropy source {source:?}; must be \"platform\" or \"seal\", or \"all\""
        )));
    }
    let n = usize::try_from(bytes).map_err(|_| Error::invalid("'bytes' is out of range"))?;
    let random = random_secret(n).map_err(crypto_err)?;
    let encoded = if format == "hex" {
        hex::encode(random.expose())
    } else {
        STANDARD.encode(random.expose())
    };
    let mut out = Map::new();
    out.insert("random_bytes".into(), json!(encoded));
    let mut resp = Response::with_data(out);
    if source == "seal" {
        resp.warnings
            .push("no seal/entropy augmentation available, using platform entropy source".into());
    }
    Ok(resp)
}

/// A hash of base64 `input`. `url_algorithm` is the optional path segment after `hash`;
/// otherwise `algorithm` (default `sha2-256`): `sha2-224/256/384/512`, `sha3-256/384/512`.
/// `format` is `hex` (default) or `base64`.
///
/// Response data: `{"sum": "…"}`.
///
/// # Errors
/// 400 for a malformed input, an unknown algorithm or format.
pub(crate) fn hash_response(
    url_algorithm: Option<&str>,
    data: &Map<String, Value>,
) -> Result<Response> {
    // No input hashes the empty string, as OpenBao does.
    let input = opt_str(data, "input")?.unwrap_or("");
    let input = STANDARD
        .decode(input)
        .map_err(|e| Error::invalid(format!("unable to decode input as base64: {e}")))?;
    let format = format_field(data, "hex")?;
    let algorithm = match url_algorithm.filter(|a| !a.is_empty()) {
        Some(a) => a,
        None => opt_str(data, "algorithm")?
            .filter(|s| !s.is_empty())
            .unwrap_or("sha2-256"),
    };
    let alg = HashAlgorithm::from_name(algorithm)
        .filter(|a| *a != HashAlgorithm::Sha1)
        .ok_or_else(|| Error::invalid(format!("unsupported algorithm {algorithm}")))?;
    let sum = alg.digest(&input);
    let encoded = if format == "hex" {
        hex::encode(sum)
    } else {
        STANDARD.encode(sum)
    };
    let mut out = Map::new();
    out.insert("sum".into(), json!(encoded));
    Ok(Response::with_data(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn random_len(url: &str, data: Value) -> Result<usize> {
        let resp = random_response(url, &m(data))?;
        let s = resp
            .data
            .as_ref()
            .and_then(|d| d["random_bytes"].as_str())
            .unwrap_or("")
            .to_string();
        Ok(STANDARD.decode(s).map(|b| b.len()).unwrap_or(usize::MAX))
    }

    #[test]
    fn random_byte_counts_and_sources() {
        assert_eq!(random_len("", json!({})).ok(), Some(32));
        assert_eq!(random_len("", json!({"bytes": 16})).ok(), Some(16));
        assert_eq!(random_len("", json!({"bytes": "7"})).ok(), Some(7));
        assert_eq!(random_len("24", json!({"bytes": 16})).ok(), Some(24));
        assert_eq!(random_len("platform", json!({"bytes": 5})).ok(), Some(5));
        assert_eq!(random_len("all/9", json!({})).ok(), Some(9));
        assert_eq!(random_len("", json!({"bytes": 131072})).ok(), Some(131072));
        assert!(random_len("", json!({"bytes": 0})).is_err());
        assert!(random_len("", json!({"bytes": 131073})).is_err());
        assert!(random_len("bogus", json!({})).is_err());
        assert!(random_len("bogus/4", json!({})).is_err());
        assert!(random_len("", json!({"format": "raw"})).is_err());
        let seal = random_response("seal", &m(json!({"bytes": 4}))).expect("seal");
        assert_eq!(seal.warnings.len(), 1);
        let hex_resp = random_response("", &m(json!({"bytes": 4, "format": "hex"}))).expect("hex");
        let s = hex_resp
            .data
            .as_ref()
            .and_then(|d| d["random_bytes"].as_str())
            .unwrap_or("");
        assert_eq!(s.len(), 8);
        assert!(s.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn hashes() {
        let sum = |url: Option<&str>, data: Value| -> Option<String> {
            hash_response(url, &m(data))
                .ok()
                .and_then(|r| r.data)
                .and_then(|d| d["sum"].as_str().map(str::to_string))
        };
        // "abc"
        let abc = json!({"input": "YWJj"});
        assert_eq!(
            sum(None, abc.clone()).as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            sum(Some("sha3-256"), abc.clone()).as_deref(),
            Some("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
        );
        assert_eq!(
            sum(
                None,
                json!({"input": "YWJj", "algorithm": "sha2-512", "format": "base64"})
            )
            .map(|s| STANDARD.decode(s).map(|b| b.len()).unwrap_or(0)),
            Some(64)
        );
        // No input is the empty input, as in OpenBao.
        assert_eq!(
            sum(None, json!({})),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into())
        );
        assert!(hash_response(None, &m(json!({"input": "!!"}))).is_err());
        assert!(hash_response(Some("md5"), &m(abc.clone())).is_err());
        assert!(hash_response(Some("sha1"), &m(abc.clone())).is_err());
        assert!(hash_response(None, &m(json!({"input": "YWJj", "format": "raw"}))).is_err());
    }
}
