//! Filtering audit entries: the base of incident response ("who read this secret?").

use serde_json::Value;

/// What to look for. Every set criterion must match.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// `request.path` starts with this.
    pub path_prefix: Option<String>,
    /// `auth.accessor` / `request.client_token_accessor` equals this (as logged: HMAC'd
    /// unless the device sets `hmac_accessor = false`).
    pub accessor: Option<String>,
    /// `time` at or after this RFC 3339 instant.
    pub since: Option<String>,
    /// `time` at or before this RFC 3339 instant.
    pub until: Option<String>,
    /// `request.operation` equals this.
    pub operation: Option<String>,
    /// Entry type (`request`, `response`, `checkpoint`).
    pub kind: Option<String>,
}

fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

impl Filter {
    /// Checks the since/until values parse.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("since", &self.since), ("until", &self.until)] {
            if let Some(v) = v
                && parse_time(v).is_none()
            {
                return Err(format!(
                    "--{name} must be an RFC 3339 time, e.g. 2026-11-21T10:00:00Z"
                ));
            }
        }
        Ok(())
    }

    /// Whether one log line matches. Lines that are not JSON objects never match.
    pub fn matches(&self, line: &str) -> bool {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return false;
        };
        let s = |ptr: &str| v.pointer(ptr).and_then(Value::as_str);
        if let Some(k) = &self.kind
            && s("/type") != Some(k.as_str())
        {
            return false;
        }
        if let Some(p) = &self.path_prefix
            && !s("/request/path").is_some_and(|path| path.starts_with(p.as_str()))
        {
            return false;
        }
        if let Some(op) = &self.operation
            && s("/request/operation") != Some(op.as_str())
        {
            return false;
        }
        if let Some(a) = &self.accessor {
            let hit = s("/auth/accessor") == Some(a.as_str())
                || s("/request/client_token_accessor") == Some(a.as_str());
            if !hit {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = s("/time").and_then(parse_time) else {
                return false;
            };
            if let Some(since) = self.since.as_deref().and_then(parse_time)
                && t < since
            {
                return false;
            }
            if let Some(until) = self.until.as_deref().and_then(parse_time)
                && t > until
            {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine() {
        let line = r#"{"type":"request","time":"2026-11-21T10:00:00Z","auth":{"accessor":"acc1"},"request":{"path":"secret/data/app/db","operation":"read"}}"#;
        let f = |f: Filter| f.matches(line);
        assert!(f(Filter::default()));
        assert!(f(Filter {
            path_prefix: Some("secret/data/app".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            path_prefix: Some("secret/data/other".into()),
            ..Filter::default()
        }));
        assert!(f(Filter {
            accessor: Some("acc1".into()),
            operation: Some("read".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            operation: Some("update".into()),
            ..Filter::default()
        }));
        assert!(f(Filter {
            since: Some("2026-11-21T09:00:00Z".into()),
            until: Some("2026-11-21T11:00:00Z".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            since: Some("2026-11-21T10:00:01Z".into()),
            ..Filter::default()
        }));
        assert!(!Filter::default().matches("not json"));
        assert!(
            Filter {
                since: Some("yesterday".into()),
                ..Filter::default()
            }
            .validate()
            .is_err()
        );
    }
}
