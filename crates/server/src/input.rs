//! Turning HTTP input into request data: the body (JSON object or form), the query string,
//! the token headers and Go-style list flags.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

/// Why the input could not be used.
#[derive(Debug)]
pub enum InputError {
    /// 400 with this message.
    Bad(String),
}

/// The client token: `X-Vault-Token`, else `Authorization: Bearer`.
pub fn token(headers: &HeaderMap) -> Option<coffre_core::ClientToken> {
    token_text(headers).map(coffre_core::ClientToken::new)
}

fn token_text(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok())
        && !t.is_empty()
    {
        return Some(t.to_string());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Removes JSON `null` members: Vault treats them as absent.
fn drop_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, v| !v.is_null());
}

/// Parses a request body. Empty means no data; JSON must be an object; a form body is
/// accepted when the client says so and the body does not look like JSON (curl's default).
pub fn body(headers: &HeaderMap, bytes: &[u8]) -> Result<Map<String, Value>, InputError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Ok(Map::new());
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "application/x-www-form-urlencoded");
    if is_form && *first != b'{' && *first != b'[' {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(bytes) {
            let entry = map
                .entry(k.into_owned())
                .or_insert(Value::String(String::new()));
            if let Value::String(existing) = entry {
                if existing.is_empty() {
                    *existing = v.into_owned();
                } else {
                    existing.push(',');
                    existing.push_str(&v);
                }
            }
        }
        return Ok(map);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(mut map)) => {
            drop_nulls(&mut map);
            Ok(map)
        }
        // `bao write -f` sends `null` for "no fields": Vault decodes it into an empty map.
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(InputError::Bad(
            "failed to parse JSON input: request body must be a JSON object".into(),
        )),
        Err(e) => Err(InputError::Bad(format!("failed to parse JSON input: {e}"))),
    }
}

/// Parses a query string: a single value becomes a string, repeated keys an array.
pub fn query(raw: Option<&str>) -> Map<String, Value> {
    let mut map = Map::new();
    let Some(raw) = raw else { return map };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            None => {
                map.insert(k.into_owned(), v);
            }
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn token_headers() {
        let mut h = HeaderMap::new();
        assert!(token(&h).is_none());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(token_text(&h).as_deref(), Some("abc"));
        h.insert("x-vault-token", HeaderValue::from_static("xyz"));
        assert_eq!(token_text(&h).as_deref(), Some("xyz"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(token(&h).is_none());
    }

    #[test]
    fn bodies() {
        let h = HeaderMap::new();
        assert!(body(&h, b"").expect("empty").is_empty());
        assert!(body(&h, b"  \n").expect("blank").is_empty());
        let m = body(&h, br#"{"a":1,"b":null}"#).expect("json");
        assert_eq!(m.len(), 1);
        assert!(body(&h, b"null").expect("bao write -f").is_empty());
        assert!(body(&h, b"[1,2]").is_err());
        assert!(body(&h, b"{nope").is_err());
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let m = body(&form, b"a=1&a=2&b=x").expect("form");
        assert_eq!(m.get("a"), Some(&Value::String("1,2".into())));
        // curl -d '{"json":true}' sends the form content type with a JSON body.
        let m = body(&form, br#"{"k":"v"}"#).expect("json in form");
        assert_eq!(m.get("k"), Some(&Value::String("v".into())));
    }

    #[test]
    fn queries() {
        let q = query(Some("list=true&x=1&x=2"));
        assert_eq!(q.get("list"), Some(&Value::String("true".into())));
        assert_eq!(q.get("x").and_then(Value::as_array).map(Vec::len), Some(2));
    }
}
