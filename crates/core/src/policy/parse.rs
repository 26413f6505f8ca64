//! Parsing policy text (HCL, or the equivalent JSON) into a [`Policy`].
//!
//! Both syntaxes are first turned into one small tree ([`Node`], which remembers byte offsets
//! for HCL so errors can name a line and column), then interpreted once.
//!
//! Accepted forms of the `path` key: `path "pattern" { … }` blocks (HCL), `path = { "pattern" =
//! { … } }` (HCL object), `{"path": {"pattern": {…}}}` and `{"path": [{"pattern": {…}}]}` (JSON).
//! Two `path` entries with the same pattern are kept as two rules; [`Acl::new`](super::Acl::new)
//! merges them exactly as it merges the same pattern coming from two policies (Vault does the
//! same). Within one `path` entry a repeated `capabilities` key accumulates; any other repeated
//! key keeps its last value.

use std::collections::HashMap;

use hcl::edit::Span;
use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::{BlockLabel, Body, Structure};
use serde_json::{Number, Value};

use super::caps::Capabilities;
use super::matcher::Pattern;
use crate::fields::parse_duration_secs;

/// A policy that could not be parsed. Displays as `failed to parse policy: <detail>`, the text
/// Vault returns (as a 400) when a policy is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse policy: {message}")]
pub struct PolicyError {
    message: String,
}

impl PolicyError {
    fn new(message: impl Into<String>) -> PolicyError {
        PolicyError {
            message: message.into(),
        }
    }

    /// The detail, without the `failed to parse policy: ` prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A parsed ACL policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy name (lower-cased by the caller).
    pub name: String,
    /// The policy text exactly as submitted.
    pub raw: String,
    /// The `path` rules in the order written (same-pattern rules not merged yet).
    pub paths: Vec<PathRule>,
    /// Whether some path uses identity templating (`{{identity.…}}`); such rules are skipped by
    /// [`Acl::new`](super::Acl::new) since coffre has no identity store.
    pub templated: bool,
}

/// One `path` rule of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// The pattern as written, without a leading `/` (a trailing `*` is kept).
    pub path: String,
    /// Granted capabilities; exactly [`Capabilities::DENY`] when the rule denies.
    pub capabilities: Capabilities,
    /// `allowed_parameters`, keys lower-cased; an empty list means "any value"; an empty map
    /// means "no constraint".
    pub allowed_parameters: HashMap<String, Vec<Value>>,
    /// `denied_parameters`, same conventions (`"*"` key = every parameter).
    pub denied_parameters: HashMap<String, Vec<Value>>,
    /// `required_parameters`, lower-cased.
    pub required_parameters: Vec<String>,
    /// `min_wrapping_ttl` in seconds (0 = unset).
    pub min_wrapping_ttl: u64,
    /// `max_wrapping_ttl` in seconds (0 = unset).
    pub max_wrapping_ttl: u64,
    /// OpenBao `pagination_limit` (0 = unset). Stored, not enforced.
    pub pagination_limit: u64,
    /// OpenBao `list_scan_response_keys_filter_path`. Stored, not enforced.
    pub response_keys_filter_path: Option<String>,
    /// OpenBao `expiration` as Unix seconds: the rule is ignored from then on.
    pub expiration: Option<i64>,
    pub(crate) pattern: Pattern,
}

impl PathRule {
    /// The rule with its templated path rendered by `lookup` (`{{identity.entity.id}}` →
    /// the entity's id); `None` when a parameter has no value or the result is no pattern.
    pub(crate) fn rendered(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<PathRule> {
        let mut out = String::with_capacity(self.path.len());
        let mut rest = self.path.as_str();
        while let Some(start) = rest.find("{{") {
            let end = rest[start..].find("}}")? + start;
            out.push_str(&rest[..start]);
            out.push_str(&lookup(rest[start + 2..end].trim())?);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        let pattern = Pattern::parse(&out).ok()?;
        Some(PathRule {
            path: out,
            pattern,
            ..self.clone()
        })
    }
}

/// Parses HCL or JSON policy text. `name` is already lower-cased by the caller.
///
/// Errors name a line and column for HCL (syntax errors and misplaced keys alike) and carry
/// serde_json's position for JSON syntax errors.
pub fn parse_policy(name: &str, text: &str) -> Result<Policy, PolicyError> {
    let ctx = Ctx { text };
    let is_json = text.trim_start().starts_with('{');
    let top = if is_json {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PolicyError::new(e.to_string()))?;
        match Node::from_json(&value) {
            Node {
                kind: Kind::Object(entries),
                ..
            } => entries,
            _ => return Err(PolicyError::new("does not contain a root object")),
        }
    } else {
        let body = hcl::edit::parser::parse_body(text).map_err(|e| {
            let loc = e.location();
            PolicyError::new(format!(
                "{} on line {}, column {}",
                e.message().replace('\n', " "),
                loc.line(),
                loc.column()
            ))
        })?;
        ctx.body_entries(&body)?
    };

    let mut policy = Policy {
        name: name.to_string(),
        raw: text.to_string(),
        paths: Vec::new(),
        templated: false,
    };
    for (key, node) in &top {
        match key.as_str() {
            "name" => {}
            "path" => ctx.parse_paths(node, &mut policy.paths)?,
            _ => {
                return Err(PolicyError::new(format!(
                    "invalid key {key:?}{}",
                    ctx.at(node.pos)
                )));
            }
        }
    }
    policy.templated = policy.paths.iter().any(|p| is_templated(&p.path));
    Ok(policy)
}

/// Whether a pattern uses identity templating.
pub(crate) fn is_templated(path: &str) -> bool {
    path.contains("{{") && path.contains("}}")
}

/// A syntax-neutral value tree.
#[derive(Debug, Clone)]
struct Node {
    /// Byte offset in the HCL text (None for JSON).
    pos: Option<usize>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Node>),
    /// Entries in order; repeated keys are kept.
    Object(Vec<(String, Node)>),
}

impl Node {
    fn from_json(value: &Value) -> Node {
        let kind = match value {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => Kind::Number(n.clone()),
            Value::String(s) => Kind::String(s.clone()),
            Value::Array(items) => Kind::Array(items.iter().map(Node::from_json).collect()),
            Value::Object(map) => Kind::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
        };
        Node { pos: None, kind }
    }

    fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Number(n) => Value::Number(n.clone()),
            Kind::String(s) => Value::String(s.clone()),
            Kind::Array(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a bool",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "a list",
            Kind::Object(_) => "an object",
        }
    }
}

fn start(span: Option<std::ops::Range<usize>>) -> Option<usize> {
    span.map(|r| r.start)
}

fn hcl_number(n: &hcl::edit::Number) -> Number {
    if let Some(u) = n.as_u64() {
        Number::from(u)
    } else if let Some(i) = n.as_i64() {
        Number::from(i)
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .unwrap_or_else(|| Number::from(0))
    }
}

/// Interpretation of the value tree, with the source text for positions.
struct Ctx<'a> {
    text: &'a str,
}

impl Ctx<'_> {
    /// ` on line L, column C` for a byte offset, or nothing.
    fn at(&self, pos: Option<usize>) -> String {
        let Some(pos) = pos else {
            return String::new();
        };
        let before = self.text.get(..pos).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!(" on line {line}, column {col}")
    }

    /// The entries of an HCL body. A block `ident "l1" "l2" { body }` becomes
    /// `ident = { "l1" = { "l2" = { body } } }`, as HCL 1 (Vault's parser) reads it.
    fn body_entries(&self, body: &Body) -> Result<Vec<(String, Node)>, PolicyError> {
        let mut out = Vec::with_capacity(body.len());
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let mut node = self.expr_node(&attr.value)?;
                    node.pos = start(attr.span()).or(node.pos);
                    out.push((attr.key.as_str().to_string(), node));
                }
                Structure::Block(block) => {
                    let pos = start(block.span());
                    if block.ident.as_str() == "path" && block.labels.len() != 1 {
                        return Err(PolicyError::new(format!(
                            "a path block needs exactly one label (the path pattern){}",
                            self.at(pos)
                        )));
                    }
                    let mut node = Node {
                        pos,
                        kind: Kind::Object(self.body_entries(&block.body)?),
                    };
                    for label in block.labels.iter().rev() {
                        let label = match label {
                            BlockLabel::Ident(i) => i.as_str().to_string(),
                            BlockLabel::String(s) => s.value().clone(),
                        };
                        node = Node {
                            pos,
                            kind: Kind::Object(vec![(label, node)]),
                        };
                    }
                    out.push((block.ident.as_str().to_string(), node));
                }
            }
        }
        Ok(out)
    }

    fn expr_node(&self, expr: &Expression) -> Result<Node, PolicyError> {
        let pos = start(expr.span());
        let kind = match expr {
            Expression::Null(_) => Kind::Null,
            Expression::Bool(b) => Kind::Bool(*b.value()),
            Expression::Number(n) => Kind::Number(hcl_number(n.value())),
            Expression::String(s) => Kind::String(s.value().clone()),
            Expression::Array(items) => Kind::Array(
                items
                    .iter()
                    .map(|e| self.expr_node(e))
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Object(object) => {
                let mut entries = Vec::with_capacity(object.len());
                for (key, value) in object.iter() {
                    let key = match key {
                        ObjectKey::Ident(i) => i.as_str().to_string(),
                        ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                        ObjectKey::Expression(other) => {
                            return Err(PolicyError::new(format!(
                                "object keys must be strings{}",
                                self.at(start(other.span()))
                            )));
                        }
                    };
                    entries.push((key, self.expr_node(value.expr())?));
                }
                Kind::Object(entries)
            }
            Expression::Parenthesis(p) => return self.expr_node(p.inner()),
            _ => {
                return Err(PolicyError::new(format!(
                    "unsupported expression (only literal values are allowed){}",
                    self.at(pos)
                )));
            }
        };
        Ok(Node { pos, kind })
    }

    fn parse_paths(&self, node: &Node, out: &mut Vec<PathRule>) -> Result<(), PolicyError> {
        match &node.kind {
            Kind::Object(entries) => {
                for (pattern, body) in entries {
                    out.push(self.parse_rule(pattern, body)?);
                }
                Ok(())
            }
            Kind::Array(items) => items
                .iter()
                .try_for_each(|item| self.parse_paths(item, out)),
            _ => Err(PolicyError::new(format!(
                "\"path\" must be an object of path rules, not {}{}",
                node.type_name(),
                self.at(node.pos)
            ))),
        }
    }

    /// The entries of an object, flattening a list of objects (HCL 1's JSON shape).
    fn object_entries<'n>(
        &self,
        node: &'n Node,
        what: &str,
        out: &mut Vec<&'n (String, Node)>,
    ) -> Result<(), PolicyError> {
        match &node.kind {
            Kind::Object(entries) => {
                out.extend(entries.iter());
                Ok(())
            }
            Kind::Array(items) => items
                .iter()
                .try_for_each(|item| self.object_entries(item, what, out)),
            _ => Err(PolicyError::new(format!(
                "{what} must be an object, not {}{}",
                node.type_name(),
                self.at(node.pos)
            ))),
        }
    }

    /// A list of strings; a single string is taken as a one-element list.
    fn strings(&self, node: &Node, what: &str) -> Result<Vec<String>, PolicyError> {
        let bad = |n: &Node| {
            PolicyError::new(format!(
                "{what} must be a list of strings, found {}{}",
                n.type_name(),
                self.at(n.pos)
            ))
        };
        match &node.kind {
            Kind::String(s) => Ok(vec![s.clone()]),
            Kind::Array(items) => items
                .iter()
                .map(|i| match &i.kind {
                    Kind::String(s) => Ok(s.clone()),
                    _ => Err(bad(i)),
                })
                .collect(),
            _ => Err(bad(node)),
        }
    }

    /// `{ key = [values] }` with lower-cased keys; a scalar value is a one-element list.
    fn parameter_map(
        &self,
        node: &Node,
        what: &str,
        into: &mut HashMap<String, Vec<Value>>,
    ) -> Result<(), PolicyError> {
        let mut entries = Vec::new();
        self.object_entries(node, what, &mut entries)?;
        for (key, value) in entries {
            let values = match &value.kind {
                Kind::Array(items) => items.iter().map(Node::to_json).collect(),
                _ => vec![value.to_json()],
            };
            into.insert(key.to_lowercase(), values);
        }
        Ok(())
    }

    fn duration(&self, node: &Node, what: &str) -> Result<u64, PolicyError> {
        let parsed = match &node.kind {
            Kind::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            Kind::String(s) => parse_duration_secs(s),
            _ => None,
        };
        parsed.ok_or_else(|| {
            PolicyError::new(format!(
                "error parsing {what}: invalid duration{}",
                self.at(node.pos)
            ))
        })
    }

    fn parse_rule(&self, pattern_text: &str, body: &Node) -> Result<PathRule, PolicyError> {
        let mut entries = Vec::new();
        self.object_entries(body, &format!("path {pattern_text:?}"), &mut entries)?;
        let err = |msg: String| PolicyError::new(format!("path {pattern_text:?}: {msg}"));

        let path = pattern_text.strip_prefix('/').unwrap_or(pattern_text);
        let pattern = Pattern::parse(path).map_err(|m| err(format!("{m}{}", self.at(body.pos))))?;

        let mut cap_names: Vec<(String, Option<usize>)> = Vec::new();
        let mut legacy: Option<(String, Option<usize>)> = None;
        let mut rule = PathRule {
            path: path.to_string(),
            capabilities: Capabilities::NONE,
            allowed_parameters: HashMap::new(),
            denied_parameters: HashMap::new(),
            required_parameters: Vec::new(),
            min_wrapping_ttl: 0,
            max_wrapping_ttl: 0,
            pagination_limit: 0,
            response_keys_filter_path: None,
            expiration: None,
            pattern,
        };

        for (key, value) in entries {
            match key.as_str() {
                "capabilities" => {
                    for c in self
                        .strings(value, "capabilities")
                        .map_err(|e| err(e.message))?
                    {
                        cap_names.push((c, value.pos));
                    }
                }
                "policy" => match &value.kind {
                    Kind::String(s) => legacy = Some((s.clone(), value.pos)),
                    _ => {
                        return Err(err(format!(
                            "policy must be a string{}",
                            self.at(value.pos)
                        )));
                    }
                },
                "allowed_parameters" => {
                    rule.allowed_parameters.clear();
                    self.parameter_map(value, "allowed_parameters", &mut rule.allowed_parameters)
                        .map_err(|e| err(e.message))?;
                }
                "denied_parameters" => {
                    rule.denied_parameters.clear();
                    self.parameter_map(value, "denied_parameters", &mut rule.denied_parameters)
                        .map_err(|e| err(e.message))?;
                }
                "required_parameters" => {
                    rule.required_parameters = self
                        .strings(value, "required_parameters")
                        .map_err(|e| err(e.message))?
                        .into_iter()
                        .map(|s| s.to_lowercase())
                        .collect();
                }
                "min_wrapping_ttl" => {
                    rule.min_wrapping_ttl = self
                        .duration(value, "min_wrapping_ttl")
                        .map_err(|e| err(e.message))?;
                }
                "max_wrapping_ttl" => {
                    rule.max_wrapping_ttl = self
                        .duration(value, "max_wrapping_ttl")
                        .map_err(|e| err(e.message))?;
                }
                "pagination_limit" => {
                    rule.pagination_limit = match &value.kind {
                        Kind::Number(n) => n.as_u64(),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        err(format!(
                            "pagination_limit must be a non-negative integer{}",
                            self.at(value.pos)
                        ))
                    })?;
                }
                "list_scan_response_keys_filter_path" => match &value.kind {
                    Kind::String(s) => {
                        rule.response_keys_filter_path = Some(s.clone()).filter(|s| !s.is_empty());
                    }
                    _ => {
                        return Err(err(format!(
                            "list_scan_response_keys_filter_path must be a string{}",
                            self.at(value.pos)
                        )));
                    }
                },
                "expiration" => {
                    let parsed = match &value.kind {
                        Kind::String(s) if s.is_empty() => Some(None),
                        Kind::String(s) => parse_absolute_time(s).map(Some),
                        Kind::Number(n) => n.as_i64().map(Some),
                        _ => None,
                    };
                    rule.expiration = parsed.ok_or_else(|| {
                        err(format!("invalid expiration time{}", self.at(value.pos)))
                    })?;
                }
                // Accepted and ignored (enterprise features / documentation).
                "comment" | "mfa_methods" | "control_group" => {}
                other => {
                    return Err(err(format!("invalid key {other:?}{}", self.at(value.pos))));
                }
            }
        }

        if let Some((policy, pos)) = legacy {
            let names: &[&str] = match policy.as_str() {
                "deny" => &["deny"],
                "read" => &["read", "list"],
                "write" => &["create", "read", "update", "delete", "list"],
                "sudo" => &["create", "read", "update", "delete", "list", "sudo"],
                _ => return Err(err(format!("invalid policy {policy:?}{}", self.at(pos)))),
            };
            cap_names.extend(names.iter().map(|n| (n.to_string(), pos)));
        }

        for (name, pos) in &cap_names {
            match Capabilities::from_name(name) {
                Some(c) if c != Capabilities::ROOT => rule.capabilities |= c,
                _ => {
                    return Err(err(format!("invalid capability {name:?}{}", self.at(*pos))));
                }
            }
        }
        if rule.capabilities.is_deny() {
            // A deny rule carries nothing else.
            rule.capabilities = Capabilities::DENY;
            rule.allowed_parameters.clear();
            rule.denied_parameters.clear();
            rule.required_parameters.clear();
            rule.min_wrapping_ttl = 0;
            rule.max_wrapping_ttl = 0;
            return Ok(rule);
        }

        if rule.min_wrapping_ttl != 0
            && rule.max_wrapping_ttl != 0
            && rule.max_wrapping_ttl < rule.min_wrapping_ttl
        {
            return Err(err(
                "max_wrapping_ttl cannot be less than min_wrapping_ttl".to_string()
            ));
        }
        if rule.response_keys_filter_path.is_some()
            && !rule.capabilities.contains(Capabilities::LIST)
        {
            return Err(err("list_scan_response_keys_filter_path needs to be used on a path with the list capability".to_string()));
        }
        Ok(rule)
    }
}

/// RFC 3339 (`2030-01-02T03:04:05Z`, fractional seconds and offsets allowed) or Unix seconds.
fn parse_absolute_time(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let rb = rest.as_bytes();
            if rest.len() != 6 || rb[3] != b':' {
                return None;
            }
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(min).ok()?,
        u8::try_from(sec).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp()
            - offset,
    )
}
