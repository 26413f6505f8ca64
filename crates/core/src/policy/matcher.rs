//! Compiled path patterns and Vault's priority order between non-exact patterns.
//!
//! Vault's `*`/`+` are not shell globs:
//! * a trailing `*` turns the pattern into a plain string-prefix match (`secret/zip-*` matches
//!   `secret/zip-zap/x`);
//! * a segment that is exactly `+` matches any single segment — including an empty one, as in
//!   Vault (`secret/+` matches `secret/`); a `+` pattern may also end with `*`, in which case
//!   its last segment is prefix-matched and any further segments of the path are accepted.

use std::cmp::{Ordering, Reverse};

/// A validated path pattern (leading `/` already stripped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// No wildcard: matches only itself.
    Exact(String),
    /// Trailing `*` without `+` segments: matches every path starting with the string.
    Prefix(String),
    /// At least one `+` segment.
    Segments(SegmentPattern),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentPattern {
    /// The pattern without its trailing `*`.
    body: String,
    segs: Vec<Seg>,
    /// Ended with `*`: the last segment is prefix-matched and extra path segments are allowed.
    prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Any,
    Lit(String),
}

/// Vault's priority of a non-exact pattern; a greater value wins.
///
/// Field order is the comparison order: position of the first `+`/`*` (later wins), then
/// non-prefix beats prefix, then fewer `+` segments, then the longer pattern (without its `*`),
/// then the lexicographically larger one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Priority<'a> {
    first_wildcard: usize,
    non_prefix: bool,
    fewer_plus: Reverse<usize>,
    len: usize,
    text: &'a str,
}

impl Pattern {
    /// Validates and compiles `pattern` (whose leading `/` the caller has stripped).
    pub(crate) fn parse(pattern: &str) -> Result<Pattern, String> {
        if pattern.contains("+*") {
            return Err("invalid use of wildcards ('+*' is forbidden)".to_string());
        }
        if let Some(i) = pattern.find('*')
            && i != pattern.len() - 1
        {
            return Err("invalid use of wildcards ('*' is only allowed at the end)".to_string());
        }
        let (body, prefix) = match pattern.strip_suffix('*') {
            Some(body) => (body, true),
            None => (pattern, false),
        };
        if !body.split('/').any(|s| s == "+") {
            return Ok(if prefix {
                Pattern::Prefix(body.to_string())
            } else {
                Pattern::Exact(body.to_string())
            });
        }
        let segs = body
            .split('/')
            .map(|s| {
                if s == "+" {
                    Seg::Any
                } else {
                    Seg::Lit(s.to_string())
                }
            })
            .collect();
        Ok(Pattern::Segments(SegmentPattern {
            body: body.to_string(),
            segs,
            prefix,
        }))
    }

    /// Whether this is an exact (wildcard-free) pattern.
    pub(crate) fn is_exact(&self) -> bool {
        matches!(self, Pattern::Exact(_))
    }

    /// Whether the pattern is a glob (ends in `*`).
    pub(crate) fn is_prefix(&self) -> bool {
        match self {
            Pattern::Exact(_) => false,
            Pattern::Prefix(_) => true,
            Pattern::Segments(s) => s.prefix,
        }
    }

    /// The pattern text without a trailing `*`.
    pub(crate) fn body(&self) -> &str {
        match self {
            Pattern::Exact(s) | Pattern::Prefix(s) => s,
            Pattern::Segments(s) => &s.body,
        }
    }

    /// Whether `path` matches (for exact patterns: equality).
    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == path,
            Pattern::Prefix(p) => path.starts_with(p.as_str()),
            Pattern::Segments(s) => s.matches(path),
        }
    }

    /// The priority among non-exact patterns (meaningless for exact ones).
    pub(crate) fn priority(&self) -> Priority<'_> {
        match self {
            Pattern::Exact(s) | Pattern::Prefix(s) => Priority {
                first_wildcard: s.len(),
                non_prefix: !self.is_prefix(),
                fewer_plus: Reverse(0),
                len: s.len(),
                text: s,
            },
            Pattern::Segments(s) => Priority {
                // Vault uses the first '+' character of the pattern.
                first_wildcard: s.body.find('+').unwrap_or(s.body.len()),
                non_prefix: !s.prefix,
                fewer_plus: Reverse(s.segs.iter().filter(|g| **g == Seg::Any).count()),
                len: s.body.len(),
                text: &s.body,
            },
        }
    }

    /// Orders patterns by decreasing priority.
    pub(crate) fn cmp_priority_desc(a: &Pattern, b: &Pattern) -> Ordering {
        b.priority().cmp(&a.priority())
    }
}

impl SegmentPattern {
    fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/');
        let last = self.segs.len() - 1;
        for (i, seg) in self.segs.iter().enumerate() {
            let Some(part) = parts.next() else {
                return false;
            };
            if let Seg::Lit(lit) = seg
                && part != lit
                && !(self.prefix && i == last && part.starts_with(lit.as_str()))
            {
                return false;
            }
        }
        self.prefix || parts.next().is_none()
    }
}
