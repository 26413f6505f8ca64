//! `sys/policies/acl`, the legacy `sys/policy`, and `sys/capabilities*`.

use serde_json::{Map, Value, json};

use super::Scope;
use super::sys::Route;
use crate::clock::rfc3339_nanos;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::fields;
use crate::pipeline::Authorized;
use crate::policy_store::normalize_name;
use crate::request::{Operation, Response};

/// `sys/policies/acl` (LIST) and the legacy `sys/policy` (GET or LIST).
pub(super) async fn list(scope: &Scope<'_>, legacy: bool) -> Result<Response> {
    let names = scope
        .tenant
        .policies
        .list(scope.tenant.ns.is_root())
        .await?;
    let mut d = Map::new();
    d.insert("keys".into(), json!(names));
    if legacy {
        d.insert("policies".into(), json!(names));
        return Ok(Response::with_data(d).injected());
    }
    Ok(Response::with_data(d))
}

/// `sys/policies/acl/:name` and the legacy `sys/policy/:name`: read, write, delete.
pub(super) async fn policy(
    scope: &Scope<'_>,
    req: &EngineRequest,
    auth: &Authorized,
    legacy: bool,
) -> Result<Option<Response>> {
    let (op, data, name) = (req.operation, &req.data, req.param("name"));
    let raw_name = name.trim_end_matches('/');
    let name = normalize_name(raw_name)?;
    let canonical = format!(
        "{}{name}",
        if legacy {
            "sys/policy/"
        } else {
            "sys/policies/acl/"
        }
    );
    if canonical != format!("sys/{}", req.path) {
        auth.also_allows(op, &canonical)?;
    }
    let resp = match op {
        Operation::Read => {
            let (text, info) = if name == "root" {
                (Some(String::new()), None)
            } else {
                (
                    scope.tenant.policies.text(&name).await?,
                    scope.tenant.policies.info(&name).await?,
                )
            };
            text.map(|t| {
                let mut d = Map::new();
                d.insert("name".into(), json!(name));
                d.insert(if legacy { "rules" } else { "policy" }.into(), json!(t));
                // OpenBao's policy metadata; check-and-set and identity templates are not
                // implemented, so they read false.
                d.insert(
                    "version".into(),
                    json!(info.as_ref().map_or(0, |i| i.version)),
                );
                if let Some(i) = info.as_ref().filter(|i| i.modified > 0) {
                    d.insert("modified".into(), json!(rfc3339_nanos(i.modified)));
                }
                d.insert("cas_required".into(), json!(false));
                d.insert("allow_slashes_in_identity_templates".into(), json!(false));
                d.insert("allow_wildcards_in_identity_templates".into(), json!(false));
                let r = Response::with_data(d);
                if legacy { r.injected() } else { r }
            })
        }
        Operation::Create | Operation::Update => {
            let mut r = Response::empty();
            let text = match fields::opt_str(data, "policy")? {
                Some(t) if !t.is_empty() => t.to_string(),
                _ if legacy => {
                    let rules = fields::opt_str(data, "rules")?.unwrap_or("");
                    if !rules.is_empty() {
                        r.warnings
                            .push("'rules' is deprecated, please use 'policy' instead".into());
                    }
                    rules.to_string()
                }
                _ => String::new(),
            };
            let text = decode_maybe_base64(&text);
            // A name is stored lower-cased, silently, as OpenBao does.
            scope.tenant.policies.put(&name, &text).await?;
            Some(r)
        }
        Operation::Delete => {
            scope.tenant.policies.delete(&name).await?;
            Some(Response::empty())
        }
        _ => return Err(Error::UnsupportedOperation),
    };
    Ok(resp)
}

/// OpenBao accepts a policy body that is base64 of the HCL/JSON text.
fn decode_maybe_base64(text: &str) -> String {
    use base64::Engine as _;
    let trimmed = text.trim();
    if trimmed.contains('"') || trimmed.contains('{') || trimmed.is_empty() {
        return text.to_string();
    }
    base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| text.to_string())
}

/// `sys/capabilities-self`, `sys/capabilities` (`token`), `sys/capabilities-accessor`.
pub(super) async fn capabilities(
    scope: &Scope<'_>,
    route: Route,
    data: &Map<String, Value>,
    auth: &Authorized,
) -> Result<Response> {
    let mut paths = fields::opt_string_list(data, "paths")?.unwrap_or_default();
    if let Some(p) = fields::opt_str(data, "path")? {
        paths.push(p.to_string());
    }
    if paths.is_empty() {
        return Err(Error::invalid("missing paths"));
    }
    // The caller's own token may come from an ancestor namespace: its policies live there and
    // name paths from there.
    let own = route == Route::CapabilitiesSelf;
    let policies: Vec<String> = match route {
        Route::CapabilitiesSelf => auth.token.policies.clone(),
        Route::Capabilities => {
            let token = fields::opt_str(data, "token")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::invalid("missing token"))?;
            match scope.tenant.tokens.lookup(token).await? {
                Some(e) => e.policies.clone(),
                None => return Err(Error::invalid("invalid token")),
            }
        }
        _ => {
            let accessor = fields::opt_str(data, "accessor")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::invalid("missing accessor"))?;
            match scope.tenant.tokens.lookup_accessor(accessor).await? {
                Some((_, e)) => e.policies.clone(),
                None => return Err(Error::invalid("invalid accessor")),
            }
        }
    };
    let store = if own {
        &auth.token_tenant.policies
    } else {
        &scope.tenant.policies
    };
    let acl = store.acl_for(&policies).await?;
    let mut d = Map::new();
    for path in &paths {
        let path = path.trim_start_matches('/');
        let caps = if policies.is_empty() {
            vec!["deny"]
        } else {
            let acl_path = if own {
                auth.acl_path(path)
            } else {
                path.into()
            };
            let mut names = acl.capabilities(&acl_path).names();
            names.sort_unstable();
            names
        };
        d.insert(path.to_string(), json!(caps));
    }
    if paths.len() == 1
        && let Some(v) = d.get(paths[0].trim_start_matches('/')).cloned()
    {
        d.insert("capabilities".into(), v);
    }
    Ok(Response::with_data(d).injected())
}
