//! `sys/quotas/rate-limit` (OpenBao's API): the rate-limit rules of the request's namespace.

use serde_json::{Map, Value, json};

use super::Scope;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::fields;
use crate::quota::{RATE_LIMIT_PREFIX, RateLimitRule};
use crate::request::{Operation, Response};

/// `LIST sys/quotas/rate-limit`: this namespace's rules.
pub(super) fn list(scope: &Scope<'_>) -> Option<Response> {
    let mut names: Vec<String> = own_rules(scope).into_iter().map(|r| r.name).collect();
    if names.is_empty() {
        return None;
    }
    names.sort();
    let mut d = Map::new();
    d.insert("keys".into(), json!(names));
    Some(Response::with_data(d))
}

fn own_rules(scope: &Scope<'_>) -> Vec<RateLimitRule> {
    scope
        .unsealed
        .quotas
        .all()
        .into_iter()
        .filter(|(owner, _)| *owner == scope.tenant.ns.path)
        .map(|(_, rule)| rule)
        .collect()
}

/// OpenBao's `GenericNameRegex`: word characters, with `-`, `.` and `@` inside.
fn check_name(name: &str) -> Result<()> {
    let inner_ok = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@');
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    if name.is_empty()
        || !name.chars().all(inner_ok)
        || !edge_ok(name.chars().next())
        || !edge_ok(name.chars().last())
    {
        return Err(Error::invalid(format!("invalid quota name {name:?}")));
    }
    Ok(())
}

/// Splits a rule's `path` (relative to the request's namespace) into the namespace it names,
/// the mount in it and the path inside the mount.
fn target(scope: &Scope<'_>, path: &str) -> Result<(String, String, String)> {
    let path = path.trim_start_matches('/');
    let full = format!("{}{path}", scope.tenant.ns.path);
    // The longest namespace (this one or below) that `full` starts with.
    let tenant = scope
        .unsealed
        .namespaces
        .all()
        .into_iter()
        .filter(|t| full.starts_with(&t.ns.path) && scope.tenant.contains(t))
        .max_by_key(|t| t.ns.path.len())
        .unwrap_or_else(|| scope.tenant.clone());
    let rest = &full[tenant.ns.path.len()..];
    if rest.is_empty() {
        return Ok((tenant.ns.path.clone(), String::new(), String::new()));
    }
    let router = tenant.router.load_full();
    let Some((route, inside)) = router.route(rest) else {
        return Err(Error::invalid(format!("invalid mount path {rest:?}")));
    };
    Ok((
        tenant.ns.path.clone(),
        route.entry.path.clone(),
        inside.trim_end_matches('/').to_string(),
    ))
}

fn parse_rule(scope: &Scope<'_>, name: &str, data: &Map<String, Value>) -> Result<RateLimitRule> {
    let rate = match data.get("rate") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.trim().parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    };
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(Error::invalid("'rate' is invalid"));
    }
    let interval_secs = fields::opt_duration_secs(data, "interval")?
        .unwrap_or(0)
        .max(1);
    let block_interval_secs = fields::opt_duration_secs(data, "block_interval")?.unwrap_or(0);
    if fields::opt_str(data, "role")?.is_some_and(|r| !r.is_empty()) {
        return Err(Error::invalid(
            "role-based quotas need an auth method with roles, and none is mounted",
        ));
    }
    let path = fields::opt_str(data, "path")?.unwrap_or("");
    let (namespace, mount, suffix) = target(scope, path)?;
    let inheritable = match fields::opt_bool(data, "inheritable")? {
        Some(true) if !mount.is_empty() => {
            return Err(Error::invalid(
                "only namespace quotas can be inheritable, not mount quotas",
            ));
        }
        Some(b) => b,
        None => namespace.is_empty() && mount.is_empty(),
    };
    Ok(RateLimitRule {
        name: name.to_string(),
        namespace,
        mount,
        suffix,
        rate,
        interval_secs,
        block_interval_secs,
        inheritable,
    })
}

/// `sys/quotas/rate-limit/:name`: read, write, delete.
pub(super) async fn rate_limit(scope: &Scope<'_>, req: &EngineRequest) -> Result<Option<Response>> {
    let name = req.param("name").trim_matches('/');
    check_name(name)?;
    let owner = scope.tenant.ns.path.clone();
    let quotas = &scope.unsealed.quotas;
    match req.operation {
        Operation::Read => Ok(own_rules(scope)
            .into_iter()
            .find(|r| r.name == name)
            .map(|r| Response::with_data(r.to_api(&owner)))),
        Operation::Create | Operation::Update => {
            let rule = parse_rule(scope, name, &req.data)?;
            let _write = quotas.write.lock().await;
            let mut all = quotas.all();
            // The target may have been deleted while the rule was parsed.
            if scope.unsealed.namespaces.by_path(&rule.namespace).is_none() {
                return Err(Error::NamespaceNotFound(format!(
                    "namespace \"{}\" not found",
                    rule.namespace
                )));
            }
            // Conflicts are within this namespace's own rules: a parent's rules are neither
            // shown to it nor in its way.
            if let Some((_, other)) = all
                .iter()
                .find(|(o, r)| *o == owner && r.same_target(&rule) && r.name != name)
            {
                return Err(Error::invalid(format!(
                    "quota rule with similar properties exists under the name {:?}",
                    other.name
                )));
            }
            let bytes = serde_json::to_vec(&rule)
                .map_err(|e| Error::Internal(format!("encode quota: {e}")))?;
            scope
                .tenant
                .view
                .put(&format!("{RATE_LIMIT_PREFIX}{name}"), &bytes)
                .await?;
            all.retain(|(o, r)| !(*o == owner && r.name == name));
            all.push((owner, rule));
            quotas.publish(all);
            Ok(Some(Response::empty()))
        }
        Operation::Delete => {
            let _write = quotas.write.lock().await;
            scope
                .tenant
                .view
                .delete(&format!("{RATE_LIMIT_PREFIX}{name}"))
                .await?;
            let mut all = quotas.all();
            all.retain(|(o, r)| !(*o == owner && r.name == name));
            quotas.publish(all);
            Ok(Some(Response::empty()))
        }
        _ => Err(Error::UnsupportedOperation),
    }
}
