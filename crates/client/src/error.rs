//! The client's error type.

use std::fmt;

/// Everything a [`Client`](crate::Client) call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-success status. `errors` is the `errors` array of the
    /// `{"errors": [...]}` body (empty when the body had none).
    #[error("{}", api_message(.status, .errors))]
    Api {
        /// HTTP status code.
        status: u16,
        /// Messages from the body's `errors` array.
        errors: Vec<String>,
    },
    /// The request never got a response: connection refused, TLS failure, timeout…
    #[error("error contacting the server: {0}")]
    Transport(String),
    /// The server answered with a body this client could not decode.
    #[error("error decoding the server's response: {0}")]
    Decode(String),
    /// Bad address, unreadable CA file, invalid token characters…
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The HTTP status for [`ClientError::Api`], `None` otherwise.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Builds an [`ClientError::Api`] from a status and a raw response body. The body is
    /// expected to be `{"errors": [...]}`; anything else becomes a single message (or none).
    pub(crate) fn from_response(status: u16, body: &[u8]) -> ClientError {
        ClientError::Api {
            status,
            errors: parse_errors(body),
        }
    }

    /// Builds a [`ClientError::Transport`] from a reqwest error, with its whole source chain
    /// (reqwest's own message is often just "error sending request").
    pub(crate) fn transport(err: &reqwest::Error) -> ClientError {
        let mut msg = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            let text = s.to_string();
            if !msg.contains(&text) {
                msg.push_str(": ");
                msg.push_str(&text);
            }
            source = s.source();
        }
        if err.is_timeout() && !msg.contains("timed out") {
            msg.push_str(" (timed out)");
        }
        ClientError::Transport(msg)
    }
}

/// Longest raw (non-JSON) error body kept in a message.
const MAX_RAW_ERROR: usize = 1024;

fn parse_errors(body: &[u8]) -> Vec<String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) {
        return match map.get("errors") {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        };
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    let mut end = text.len().min(MAX_RAW_ERROR);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut msg = text[..end].to_string();
    if end < text.len() {
        msg.push('…');
    }
    vec![msg]
}

fn api_message<'a>(status: &u16, errors: &'a [String]) -> ApiDisplay<'a> {
    ApiDisplay {
        status: *status,
        errors,
    }
}

struct ApiDisplay<'a> {
    status: u16,
    errors: &'a [String],
}

impl fmt::Display for ApiDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Error making API request. Code: {}. Errors:",
            self.status
        )?;
        if self.errors.is_empty() {
            return f.write_str(" (none)");
        }
        for e in self.errors {
            write!(f, " * {}", e.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_display() {
        let e = ClientError::from_response(400, br#"{"errors":["msg"]}"#);
        assert_eq!(
            e.to_string(),
            "Error making API request. Code: 400. Errors: * msg"
        );
        assert_eq!(e.status(), Some(400));

        let e = ClientError::from_response(403, br#"{"errors":["a","b"]}"#);
        assert_eq!(
            e.to_string(),
            "Error making API request. Code: 403. Errors: * a * b"
        );

        let e = ClientError::from_response(404, br#"{"errors":[]}"#);
        assert_eq!(
            e.to_string(),
            "Error making API request. Code: 404. Errors: (none)"
        );
    }

    #[test]
    fn non_json_error_body() {
        let e = ClientError::from_response(502, b"bad gateway\n");
        assert_eq!(
            e,
            ClientError::Api {
                status: 502,
                errors: vec!["bad gateway".into()]
            }
        );
        let e = ClientError::from_response(500, b"");
        assert_eq!(
            e,
            ClientError::Api {
                status: 500,
                errors: vec![]
            }
        );
        let long = "é".repeat(2000);
        match ClientError::from_response(500, long.as_bytes()) {
            ClientError::Api { errors, .. } => assert!(errors[0].len() <= MAX_RAW_ERROR + 3),
            other => panic!("unexpected {other:?}"),
        }
    }
}
