//! Resource quotas: rate-limit rules (`sys/quotas/rate-limit/:name`, OpenBao's API).
//!
//! Each namespace keeps its own rules, in its own storage (`sys/quotas/rate-limit/<name>`); a
//! rule's `path` is relative to that namespace and names the namespace itself (`""`), a
//! namespace below it (`team-a/`), a mount (`kv/`) or a path inside a mount (`kv/data/app`).
//! Names are per namespace, so a tenant neither sees nor changes another's rules.
//!
//! One rule applies to a request, the most specific (OpenBao's order): a path inside the
//! request's mount, then the mount, then the request's namespace, then the nearest ancestor
//! namespace whose rule is `inheritable`. All rules of the unsealed core are compiled into one
//! immutable [`QuotaIndex`]; with no rule at all the check is one atomic load.

mod limiter;
mod secrets;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::barrier::View;
use crate::error::{Error, Result};
use limiter::Limiter;
pub(crate) use limiter::Verdict;
pub(crate) use secrets::SecretCount;

/// Storage prefix of a namespace's rate-limit rules (relative to the namespace's view).
pub(crate) const RATE_LIMIT_PREFIX: &str = "sys/quotas/rate-limit/";

/// A rate-limit rule as stored. `namespace` is the full path of the namespace the rule
/// applies to (the one it was written in, or one below it); `mount` and `suffix` are relative
/// to that namespace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct RateLimitRule {
    pub(crate) name: String,
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) mount: String,
    #[serde(default)]
    pub(crate) suffix: String,
    pub(crate) rate: f64,
    pub(crate) interval_secs: u64,
    #[serde(default)]
    pub(crate) block_interval_secs: u64,
    #[serde(default)]
    pub(crate) inheritable: bool,
}

impl RateLimitRule {
    /// The API form; `path` shown relative to `viewer` (the namespace of the request).
    pub(crate) fn to_api(&self, viewer: &str) -> serde_json::Map<String, serde_json::Value> {
        let ns = self
            .namespace
            .strip_prefix(viewer)
            .unwrap_or(&self.namespace);
        let mut path = format!("{ns}{}", self.mount);
        path.push_str(&self.suffix);
        let mut d = serde_json::Map::new();
        d.insert("type".into(), "rate-limit".into());
        d.insert("name".into(), self.name.clone().into());
        d.insert("path".into(), path.into());
        d.insert("role".into(), "".into());
        d.insert("rate".into(), self.rate.into());
        d.insert("interval".into(), self.interval_secs.into());
        d.insert("block_interval".into(), self.block_interval_secs.into());
        d.insert("inheritable".into(), self.inheritable.into());
        d
    }

    /// Whether `other` targets exactly what this rule targets.
    pub(crate) fn same_target(&self, other: &RateLimitRule) -> bool {
        (&self.namespace, &self.mount, &self.suffix)
            == (&other.namespace, &other.mount, &other.suffix)
    }
}

/// Where a request lands, for choosing its rule.
pub(crate) struct Target<'a> {
    pub(crate) namespace: &'a str,
    /// The mount's path in its namespace (`""`: no mount matched).
    pub(crate) mount: &'a str,
    /// The path inside the mount.
    pub(crate) rel: &'a str,
}

/// How specific a rule is for a request: (depth of its target namespace, level, suffix length),
/// level 2 = a path in the mount, 1 = the mount, 0 = the whole namespace. Higher wins.
type Specificity = (usize, u8, usize);

struct Compiled {
    rule: RateLimitRule,
    /// Which namespace stores the rule (rules are per namespace).
    owner: String,
    limiter: Limiter,
}

/// Every rule of the unsealed core, ready for the request path.
#[derive(Default)]
pub(crate) struct QuotaIndex {
    /// By the namespace the rule applies to.
    by_namespace: BTreeMap<String, Vec<Arc<Compiled>>>,
}

impl QuotaIndex {
    fn is_empty(&self) -> bool {
        self.by_namespace.is_empty()
    }

    /// The rules that apply to `target`: for each namespace that wrote rules reaching it, its
    /// most specific one (path in the mount, then mount, then the namespace itself, then the
    /// nearest inheritable rule above). Every one of them must allow the request, so a rule a
    /// parent set on a tenant is a ceiling the tenant's own rules cannot lift.
    fn rules_for(&self, target: &Target<'_>) -> Vec<&Arc<Compiled>> {
        // (owner, specificity, rule): specificity = (depth of the target namespace, level,
        // suffix length), level 2 = path in the mount, 1 = mount, 0 = namespace-wide.
        let mut best: Vec<(&str, Specificity, &Arc<Compiled>)> = Vec::new();
        let mut candidates: Vec<(&Arc<Compiled>, Specificity)> = Vec::new();
        if let Some(rules) = self.by_namespace.get(target.namespace) {
            let depth = target.namespace.len();
            for c in rules {
                let r = &c.rule;
                if r.mount.is_empty() {
                    candidates.push((c, (depth, 0, 0)));
                } else if r.mount == target.mount {
                    if r.suffix.is_empty() {
                        candidates.push((c, (depth, 1, 0)));
                    } else if target.rel.starts_with(&r.suffix) {
                        candidates.push((c, (depth, 2, r.suffix.len())));
                    }
                }
            }
        }
        let mut ns = target.namespace;
        while !ns.is_empty() {
            let trimmed = ns.strip_suffix('/').unwrap_or(ns);
            ns = trimmed.rfind('/').map_or("", |i| &ns[..=i]);
            if let Some(rules) = self.by_namespace.get(ns) {
                for c in rules {
                    if c.rule.mount.is_empty() && c.rule.inheritable {
                        candidates.push((c, (ns.len(), 0, 0)));
                    }
                }
            }
        }
        for (c, key) in candidates {
            match best.iter_mut().find(|(owner, _, _)| *owner == c.owner) {
                Some(slot) if slot.1 >= key => {}
                Some(slot) => *slot = (c.owner.as_str(), key, c),
                None => best.push((c.owner.as_str(), key, c)),
            }
        }
        best.into_iter().map(|(_, _, c)| c).collect()
    }
}

/// The quota rules of the unsealed core.
#[derive(Default)]
pub(crate) struct Quotas {
    index: ArcSwap<QuotaIndex>,
    /// Serializes rule changes.
    pub(crate) write: tokio::sync::Mutex<()>,
}

impl Quotas {
    /// Loads the rules stored in each namespace (`views`: namespace path, its storage).
    pub(crate) async fn open(views: Vec<(String, View)>) -> Result<Quotas> {
        let quotas = Quotas::default();
        let mut all = Vec::new();
        for (owner, view) in views {
            for rule in load(&view).await? {
                all.push((owner.clone(), rule));
            }
        }
        quotas.publish(all);
        Ok(quotas)
    }

    /// Replaces the compiled rules. Limiters of rules that did not change keep their state.
    pub(crate) fn publish(&self, rules: Vec<(String, RateLimitRule)>) {
        let old = self.index.load_full();
        let mut by_namespace: BTreeMap<String, Vec<Arc<Compiled>>> = BTreeMap::new();
        for (owner, rule) in rules {
            let kept = old
                .by_namespace
                .get(&rule.namespace)
                .and_then(|v| v.iter().find(|c| c.owner == owner && c.rule == rule))
                .cloned();
            let compiled = kept.unwrap_or_else(|| {
                Arc::new(Compiled {
                    limiter: Limiter::new(rule.rate, rule.interval_secs, rule.block_interval_secs),
                    rule: rule.clone(),
                    owner,
                })
            });
            by_namespace
                .entry(compiled.rule.namespace.clone())
                .or_default()
                .push(compiled);
        }
        self.index.store(Arc::new(QuotaIndex { by_namespace }));
    }

    /// Every compiled rule, with the namespace that stores it.
    pub(crate) fn all(&self) -> Vec<(String, RateLimitRule)> {
        self.index
            .load()
            .by_namespace
            .values()
            .flatten()
            .map(|c| (c.owner.clone(), c.rule.clone()))
            .collect()
    }

    /// Checks a request from `client` against its rule. Free when there are no rules.
    pub(crate) fn check(&self, target: &Target<'_>, client: &str, now_nanos: i64) -> Result<()> {
        let index = self.index.load();
        if index.is_empty() {
            return Ok(());
        }
        let mut wait = 0;
        for compiled in index.rules_for(target) {
            if let Verdict::Refused { retry_after_secs } = compiled.limiter.take(client, now_nanos)
            {
                wait = wait.max(retry_after_secs);
            }
        }
        if wait == 0 {
            return Ok(());
        }
        Err(Error::RateLimited {
            path: format!("{}{}", target.namespace, target.rel),
            retry_after_secs: wait,
        })
    }
}

/// The rules stored in one namespace.
pub(crate) async fn load(view: &View) -> Result<Vec<RateLimitRule>> {
    let mut rules = Vec::new();
    for name in view.list(RATE_LIMIT_PREFIX).await? {
        if let Some(raw) = view.get(&format!("{RATE_LIMIT_PREFIX}{name}")).await? {
            let rule: RateLimitRule = serde_json::from_slice(raw.expose())
                .map_err(|e| Error::Internal(format!("corrupt quota {name}: {e}")))?;
            rules.push(rule);
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        name: &str,
        ns: &str,
        mount: &str,
        suffix: &str,
        inheritable: bool,
    ) -> (String, RateLimitRule) {
        (
            String::new(),
            RateLimitRule {
                name: name.into(),
                namespace: ns.into(),
                mount: mount.into(),
                suffix: suffix.into(),
                rate: 1.0,
                interval_secs: 1,
                block_interval_secs: 0,
                inheritable,
            },
        )
    }

    fn chosen(q: &Quotas, ns: &str, mount: &str, rel: &str) -> Option<String> {
        let index = q.index.load();
        let mut names: Vec<String> = index
            .rules_for(&Target {
                namespace: ns,
                mount,
                rel,
            })
            .iter()
            .map(|c| c.rule.name.clone())
            .collect();
        names.sort();
        (!names.is_empty()).then(|| names.join("+"))
    }

    fn owned(owner: &str, mut r: (String, RateLimitRule)) -> (String, RateLimitRule) {
        r.0 = owner.to_string();
        r
    }

    #[test]
    fn a_parents_rule_is_a_ceiling_the_tenant_cannot_lift() {
        let q = Quotas::default();
        q.publish(vec![
            owned("", rule("root-on-a", "team-a/", "", "", false)),
            owned("team-a/", rule("a-kv", "team-a/", "kv/", "", false)),
            owned("team-a/", rule("a-wide", "team-a/", "", "", true)),
            owned("", rule("global", "", "", "", true)),
        ]);
        // The root's most specific rule for team-a and team-a's own most specific rule.
        assert_eq!(
            chosen(&q, "team-a/", "kv/", "x").as_deref(),
            Some("a-kv+root-on-a")
        );
        assert_eq!(
            chosen(&q, "team-a/", "transit/", "x").as_deref(),
            Some("a-wide+root-on-a")
        );
        // Below team-a: team-a's inheritable rule, and the root's nearest inheritable one.
        assert_eq!(
            chosen(&q, "team-a/prod/", "kv/", "x").as_deref(),
            Some("a-wide+global")
        );
        assert_eq!(chosen(&q, "team-b/", "kv/", "x").as_deref(), Some("global"));
    }

    #[test]
    fn the_most_specific_rule_applies() {
        let q = Quotas::default();
        q.publish(vec![
            rule("global", "", "", "", true),
            rule("team-a", "team-a/", "", "", false),
            rule("team-a-kv", "team-a/", "kv/", "", false),
            rule("team-a-app", "team-a/", "kv/", "data/app", false),
            rule("b-kv", "team-b/", "kv/", "", false),
        ]);
        assert_eq!(
            chosen(&q, "team-a/", "kv/", "data/app/x").as_deref(),
            Some("team-a-app")
        );
        assert_eq!(
            chosen(&q, "team-a/", "kv/", "data/other").as_deref(),
            Some("team-a-kv")
        );
        assert_eq!(
            chosen(&q, "team-a/", "transit/", "keys/k").as_deref(),
            Some("team-a")
        );
        // team-a's own rule is not inheritable: its child falls through to the root's.
        assert_eq!(
            chosen(&q, "team-a/prod/", "kv/", "x").as_deref(),
            Some("global")
        );
        // team-b has a mount rule only: other mounts inherit the root's.
        assert_eq!(chosen(&q, "team-b/", "kv/", "x").as_deref(), Some("b-kv"));
        assert_eq!(
            chosen(&q, "team-b/", "transit/", "x").as_deref(),
            Some("global")
        );
        assert_eq!(chosen(&q, "", "secret/", "x").as_deref(), Some("global"));

        let none = Quotas::default();
        none.publish(vec![rule("b-kv", "team-b/", "kv/", "", false)]);
        assert_eq!(chosen(&none, "team-a/", "kv/", "x"), None);
    }

    #[test]
    fn unchanged_rules_keep_their_limiter_state() {
        let q = Quotas::default();
        q.publish(vec![rule("a", "", "", "", true)]);
        let t = Target {
            namespace: "",
            mount: "kv/",
            rel: "x",
        };
        assert!(q.check(&t, "c", 0).is_ok());
        assert!(
            q.check(&t, "c", 0).is_err(),
            "rate 1: the second is refused"
        );
        q.publish(vec![
            rule("a", "", "", "", true),
            rule("b", "x/", "", "", false),
        ]);
        assert!(
            q.check(&t, "c", 0).is_err(),
            "the bucket was not refilled by a publish"
        );
    }
}
