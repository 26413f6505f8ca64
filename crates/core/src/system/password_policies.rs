//! `sys/policies/password/:name` (read, write, delete, LIST) and `…/:name/generate`, as Vault:
//! named password policies of the namespace, and passwords generated from them.
//!
//! Storage below the namespace: `sys/password-policy/<name>` → the policy text.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::Scope;
use crate::error::{Error, Result};
use crate::fields;
use crate::generate::password::PasswordPolicy;
use crate::request::{Operation, Response};

use crate::generate::password::STORAGE_PREFIX as PREFIX;

fn missing() -> Error {
    Error::NotFound("policy does not exist".into())
}

async fn load(scope: &Scope<'_>, name: &str) -> Result<Option<String>> {
    Ok(scope
        .tenant
        .view
        .get(&format!("{PREFIX}{name}"))
        .await?
        .map(|raw| String::from_utf8_lossy(raw.expose()).into_owned()))
}

/// The policy text of a write: HCL as given, or base64 of it (Vault accepts both).
fn policy_text(data: &Map<String, Value>) -> Result<(String, PasswordPolicy)> {
    let given = fields::opt_str(data, "policy")?
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| Error::invalid("missing policy"))?;
    match PasswordPolicy::parse(given) {
        Ok(p) => Ok((given.to_string(), p)),
        Err(first) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(given.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            match decoded {
                Some(text) => PasswordPolicy::parse(&text).map(|p| (text, p)),
                None => Err(first),
            }
        }
    }
}

/// `sys/policies/password` (LIST).
pub(super) async fn list(scope: &Scope<'_>) -> Result<Option<Response>> {
    let mut names = scope.tenant.view.list(PREFIX).await?;
    names.sort();
    Ok(Response::keys(names))
}

/// `sys/policies/password/:name`.
pub(super) async fn policy(
    scope: &Scope<'_>,
    name: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>> {
    let key = format!("{PREFIX}{name}");
    match op {
        Operation::Read => {
            let text = load(scope, name).await?.ok_or_else(missing)?;
            let mut d = Map::new();
            d.insert("policy".into(), json!(text));
            Ok(Some(Response::with_data(d)))
        }
        Operation::Delete => {
            scope.tenant.view.delete(&key).await?;
            Ok(Some(Response::empty()))
        }
        _ => {
            let (text, policy) = policy_text(data)?;
            // A policy no password can meet is refused now, not at its first use.
            policy.generate()?;
            scope.tenant.view.put(&key, text.as_bytes()).await?;
            Ok(Some(Response::empty()))
        }
    }
}

/// `sys/policies/password/:name/generate`.
pub(super) async fn generate(scope: &Scope<'_>, name: &str) -> Result<Option<Response>> {
    let text = load(scope, name).await?.ok_or_else(missing)?;
    let password = PasswordPolicy::parse(&text)?.generate()?;
    let mut d = Map::new();
    d.insert("password".into(), json!(password.as_str()));
    Ok(Some(Response::with_data(d)))
}
