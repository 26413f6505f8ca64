//! The compiled ACL of a set of policies.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::caps::{Capabilities, Decision, Op};
use super::matcher::Pattern;
use super::parse::{PathRule, Policy, is_templated};

/// The value of an ACL template parameter (`identity.entity.id`, …) for one entity.
pub(crate) type TemplateLookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// The merged permissions of one pattern.
#[derive(Debug, Clone)]
struct Rule {
    /// The pattern as written (trailing `*` included).
    text: String,
    pattern: Pattern,
    caps: Capabilities,
    allowed: HashMap<String, Vec<Value>>,
    denied: HashMap<String, Vec<Value>>,
    required: Vec<String>,
    min_wrap: u64,
    max_wrap: u64,
    pagination_limit: u64,
    filter_path: Option<String>,
    /// Which policy contributed which capabilities.
    granting: Vec<(String, Capabilities)>,
}

impl Rule {
    fn new(policy: &str, r: &PathRule) -> Rule {
        Rule {
            text: r.path.clone(),
            pattern: r.pattern.clone(),
            caps: r.capabilities,
            allowed: r.allowed_parameters.clone(),
            denied: r.denied_parameters.clone(),
            required: r.required_parameters.clone(),
            min_wrap: r.min_wrapping_ttl,
            max_wrap: r.max_wrapping_ttl,
            pagination_limit: r.pagination_limit,
            filter_path: r.response_keys_filter_path.clone(),
            granting: if r.capabilities.is_deny() {
                Vec::new()
            } else {
                vec![(policy.to_string(), r.capabilities)]
            },
        }
    }

    /// Merges another rule with the same pattern (SPEC §6.3, OpenBao's `NewACL`).
    fn merge(&mut self, policy: &str, r: &PathRule) {
        if self.caps.is_deny() {
            return;
        }
        if r.capabilities.is_deny() {
            self.caps = Capabilities::DENY;
            self.allowed.clear();
            self.denied.clear();
            self.granting.clear();
            return;
        }
        self.caps |= r.capabilities;
        self.granting.push((policy.to_string(), r.capabilities));
        // The smallest non-zero wrapping bounds win.
        if r.max_wrapping_ttl > 0 && (self.max_wrap == 0 || r.max_wrapping_ttl < self.max_wrap) {
            self.max_wrap = r.max_wrapping_ttl;
        }
        if r.min_wrapping_ttl > 0 && (self.min_wrap == 0 || r.min_wrapping_ttl < self.min_wrap) {
            self.min_wrap = r.min_wrapping_ttl;
        }
        merge_parameters(&mut self.allowed, &r.allowed_parameters);
        merge_parameters(&mut self.denied, &r.denied_parameters);
        for p in &r.required_parameters {
            if !self.required.contains(p) {
                self.required.push(p.clone());
            }
        }
        if r.pagination_limit > 0
            && (self.pagination_limit == 0 || r.pagination_limit < self.pagination_limit)
        {
            self.pagination_limit = r.pagination_limit;
        }
        if self.filter_path.is_none() {
            self.filter_path.clone_from(&r.response_keys_filter_path);
        }
    }

    /// The request-level checks once the rule is known: operation, wrapping bounds, parameters.
    fn permits(&self, op: Op, data: &Map<String, Value>, wrap_ttl: Option<u64>) -> bool {
        if self.caps.is_deny() || !self.caps.contains(op.capability()) {
            return false;
        }
        if self.max_wrap > 0 && wrap_ttl.is_none_or(|t| t > self.max_wrap) {
            return false;
        }
        if self.min_wrap > 0 && wrap_ttl.is_none_or(|t| t < self.min_wrap) {
            return false;
        }
        if self.min_wrap != 0 && self.max_wrap != 0 && self.max_wrap < self.min_wrap {
            // Possible after merging two rules.
            return false;
        }
        if !op.checks_parameters() {
            return true;
        }
        if self.required.iter().any(|p| !data.contains_key(p)) {
            return false;
        }
        if data.is_empty() {
            return true;
        }
        if !self.denied.is_empty() {
            if self.denied.contains_key("*") {
                return false;
            }
            for (key, value) in data {
                if let Some(list) = self.denied.get(lower(key).as_ref())
                    && value_in_list(value, list)
                {
                    return false;
                }
            }
        }
        if self.allowed.is_empty() {
            return true;
        }
        let allow_all = self.allowed.contains_key("*");
        if allow_all && self.allowed.len() == 1 {
            return true;
        }
        data.iter()
            .all(|(key, value)| match self.allowed.get(lower(key).as_ref()) {
                Some(list) => value_in_list(value, list),
                None => allow_all,
            })
    }

    fn resultant(&self) -> Value {
        let mut out = Map::new();
        out.insert("capabilities".into(), json!(self.caps.names()));
        if self.min_wrap != 0 {
            out.insert("min_wrapping_ttl".into(), json!(self.min_wrap));
        }
        if self.max_wrap != 0 {
            out.insert("max_wrapping_ttl".into(), json!(self.max_wrap));
        }
        if !self.allowed.is_empty() {
            out.insert("allowed_parameters".into(), json!(self.allowed));
        }
        if !self.denied.is_empty() {
            out.insert("denied_parameters".into(), json!(self.denied));
        }
        if !self.required.is_empty() {
            out.insert("required_parameters".into(), json!(self.required));
        }
        Value::Object(out)
    }
}

/// Per key: an empty list ("any value") wins, otherwise the value lists are concatenated.
fn merge_parameters(into: &mut HashMap<String, Vec<Value>>, from: &HashMap<String, Vec<Value>>) {
    for (key, values) in from {
        match into.entry(key.clone()) {
            Entry::Vacant(e) => {
                e.insert(values.clone());
            }
            Entry::Occupied(mut e) => {
                let existing = e.get_mut();
                if values.is_empty() || existing.is_empty() {
                    existing.clear();
                } else {
                    existing.splice(0..0, values.iter().cloned());
                }
            }
        }
    }
}

/// Lower-cases a request key, borrowing when it already is.
fn lower(key: &str) -> Cow<'_, str> {
    if key.chars().any(char::is_uppercase) {
        Cow::Owned(key.to_lowercase())
    } else {
        Cow::Borrowed(key)
    }
}

/// Whether a request value is permitted by a policy value list (`[]` = anything; strings are
/// compared with a leading and/or trailing `*` glob; numbers numerically).
fn value_in_list(value: &Value, list: &[Value]) -> bool {
    list.is_empty() || list.iter().any(|el| value_matches(el, value))
}

fn value_matches(el: &Value, value: &Value) -> bool {
    match (el, value) {
        (Value::String(pattern), Value::String(v)) => glob_match(pattern, v),
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
                a == b
            } else if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
                a == b
            } else {
                a.as_f64() == b.as_f64()
            }
        }
        _ => el == value,
    }
}

/// Vault's `GlobbedStringsMatch`.
fn glob_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) => value.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

/// A compiled set of policies: the union of a token's policies.
///
/// Build it once per distinct policy set; [`check`](Acl::check) and
/// [`capabilities`](Acl::capabilities) only do a hash lookup and a scan of the non-exact
/// patterns in priority order, without allocating (unless a request key needs lower-casing).
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    rules: Vec<Rule>,
    /// Exact pattern → index in `rules`.
    exact: HashMap<String, usize>,
    /// Indexes of the non-exact rules, highest priority first.
    non_exact: Vec<usize>,
    /// The earliest `expiration` of an included rule.
    valid_until: Option<i64>,
}

impl Acl {
    /// Compiles `policies`. Rules with the same pattern are merged (union of capabilities, `deny`
    /// wipes the rest, parameter constraints merged); different patterns stay separate.
    /// Identity-templated rules and rules whose `expiration` has passed are skipped.
    /// A policy named `root` makes the whole ACL the root ACL.
    /// Compiles at the system clock's time; the core uses [`Acl::new_at`] with its own clock.
    pub fn new(policies: &[Arc<Policy>]) -> Acl {
        use crate::clock::Clock as _;
        Self::new_at(policies, crate::clock::SystemClock.now_unix_secs())
    }

    /// Compiles as of `now` (Unix seconds): rules whose `expiration` is past are skipped.
    pub fn new_at(policies: &[Arc<Policy>], now: i64) -> Acl {
        Self::compile(policies, now, None)
    }

    /// Compiles for a token of an entity: templated rules are rendered with `lookup` (the
    /// value of a parameter such as `identity.entity.id`); a rule naming a parameter the
    /// entity has no value for is skipped, as in Vault.
    pub(crate) fn new_for_entity(
        policies: &[Arc<Policy>],
        now: i64,
        lookup: &TemplateLookup<'_>,
    ) -> Acl {
        Self::compile(policies, now, Some(lookup))
    }

    fn compile(policies: &[Arc<Policy>], now: i64, lookup: Option<&TemplateLookup<'_>>) -> Acl {
        if policies.iter().any(|p| p.name == "root") {
            return Acl::root();
        }
        let mut acl = Acl::default();
        let mut by_text: HashMap<String, usize> = HashMap::new();
        for policy in policies {
            for rule in &policy.paths {
                let rendered;
                let rule = if is_templated(&rule.path) {
                    // Without an entity (or a value) the rule grants nothing.
                    match lookup.and_then(|l| rule.rendered(l)) {
                        Some(r) => {
                            rendered = r;
                            &rendered
                        }
                        None => continue,
                    }
                } else {
                    rule
                };
                if let Some(exp) = rule.expiration {
                    if exp <= now {
                        continue;
                    }
                    acl.valid_until = Some(acl.valid_until.map_or(exp, |v| v.min(exp)));
                }
                match by_text.entry(rule.path.clone()) {
                    Entry::Occupied(e) => acl.rules[*e.get()].merge(&policy.name, rule),
                    Entry::Vacant(e) => {
                        e.insert(acl.rules.len());
                        acl.rules.push(Rule::new(&policy.name, rule));
                    }
                }
            }
        }
        for (i, rule) in acl.rules.iter().enumerate() {
            if rule.pattern.is_exact() {
                acl.exact.insert(rule.pattern.body().to_string(), i);
            } else {
                acl.non_exact.push(i);
            }
        }
        let rules = &acl.rules;
        acl.non_exact
            .sort_by(|a, b| Pattern::cmp_priority_desc(&rules[*a].pattern, &rules[*b].pattern));
        acl
    }

    /// The root ACL: everything is allowed, including `sudo`.
    pub fn root() -> Acl {
        Acl {
            root: true,
            ..Acl::default()
        }
    }

    /// Whether this is the root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// The earliest Unix time at which an included rule expires (OpenBao `expiration`): a cached
    /// ACL must be rebuilt from then on.
    pub fn valid_until(&self) -> Option<i64> {
        self.valid_until
    }

    /// The rule deciding `path`: exact, then (listing) exact without the trailing `/`, then the
    /// best non-exact pattern, then (listing, OpenBao) the best non-exact pattern for the path
    /// without its trailing `/`.
    fn lookup(&self, path: &str, listing: bool) -> Option<&Rule> {
        let path = path.trim_start_matches('/');
        let trimmed = if listing {
            path.strip_suffix('/')
        } else {
            None
        };
        let idx = self
            .exact
            .get(path)
            .or_else(|| trimmed.and_then(|t| self.exact.get(t)))
            .copied()
            .or_else(|| self.best_non_exact(path))
            .or_else(|| trimmed.and_then(|t| self.best_non_exact(t)))?;
        Some(&self.rules[idx])
    }

    fn best_non_exact(&self, path: &str) -> Option<usize> {
        self.non_exact
            .iter()
            .copied()
            .find(|&i| self.rules[i].pattern.matches(path))
    }

    /// The capabilities that apply to `path` — what `sys/capabilities` reports (resolved with
    /// LIST's trailing-slash fallbacks, as Vault does). Empty when nothing matches;
    /// [`Capabilities::ALL_ROOT`] for the root ACL.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::ALL_ROOT;
        }
        self.lookup(path, true).map(|r| r.caps).unwrap_or_default()
    }

    /// Checks one request that is not response-wrapped. See [`check_wrapped`](Acl::check_wrapped).
    pub fn check(&self, op: Op, path: &str, data: &Map<String, Value>) -> Decision {
        self.check_wrapped(op, path, data, None)
    }

    /// Checks one request: the matched rule must grant `op`; if it sets wrapping-TTL bounds the
    /// request must be wrapped (`wrap_ttl` in seconds) within them; for read/create/update/patch
    /// the request parameters must satisfy `required_`/`denied_`/`allowed_parameters`.
    /// `sudo` in the result tells whether the rule grants `sudo` (checked by the caller on
    /// root-protected paths).
    pub fn check_wrapped(
        &self,
        op: Op,
        path: &str,
        data: &Map<String, Value>,
        wrap_ttl: Option<u64>,
    ) -> Decision {
        if self.root {
            return Decision {
                allowed: true,
                sudo: true,
                root: true,
                capabilities: Capabilities::ALL_ROOT,
            };
        }
        let Some(rule) = self.lookup(path, op.is_listing()) else {
            return Decision::default();
        };
        Decision {
            allowed: rule.permits(op, data, wrap_ttl),
            sudo: rule.caps.contains(Capabilities::SUDO),
            root: false,
            capabilities: rule.caps,
        }
    }

    /// The policies that granted `op` on `path` (for audit `policy_results`); `["root"]` for root.
    pub fn granting_policies(&self, op: Op, path: &str) -> Vec<&str> {
        if self.root {
            return vec!["root"];
        }
        let Some(rule) = self.lookup(path, op.is_listing()) else {
            return Vec::new();
        };
        let mut names: Vec<&str> = Vec::new();
        for (name, caps) in &rule.granting {
            if caps.contains(op.capability()) && !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }

    /// The `sys/internal/ui/resultant-acl` data: `{"root": bool, "exact_paths": {…},
    /// "glob_paths": {…}}` (glob keys without their `*`; `+` patterns are not listed, as in
    /// OpenBao).
    pub fn resultant_acl(&self) -> Value {
        if self.root {
            return json!({ "root": true });
        }
        let mut exact = Map::new();
        let mut glob = Map::new();
        for rule in &self.rules {
            match &rule.pattern {
                Pattern::Exact(p) => {
                    exact.insert(p.clone(), rule.resultant());
                }
                Pattern::Prefix(p) => {
                    glob.insert(p.clone(), rule.resultant());
                }
                Pattern::Segments(_) => {}
            }
        }
        json!({ "root": false, "exact_paths": exact, "glob_paths": glob })
    }

    /// The merged rules as `(pattern, capabilities)`, non-exact ones in priority order.
    pub fn rules(&self) -> impl Iterator<Item = (&str, Capabilities)> {
        self.exact
            .values()
            .chain(self.non_exact.iter())
            .map(|&i| (self.rules[i].text.as_str(), self.rules[i].caps))
    }
}
