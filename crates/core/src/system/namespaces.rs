//! `sys/namespaces`: create, read, patch, delete and list the namespaces below the request's.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Scope;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::namespace::{self, NamespaceEntry};
use crate::request::{Operation, Response};

fn entry_response(entry: &NamespaceEntry) -> Response {
    Response::with_data(entry.to_api())
}

/// `LIST sys/namespaces`: the namespaces directly below the request's, with their details.
pub(super) fn list(scope: &Scope<'_>) -> Option<Response> {
    let mut children: Vec<NamespaceEntry> = scope
        .unsealed
        .namespaces
        .children(&scope.tenant.ns.path)
        .iter()
        .map(|t| t.entry())
        .collect();
    if children.is_empty() {
        return None;
    }
    children.sort_by(|a, b| a.path.cmp(&b.path));
    let parent = &scope.tenant.ns.path;
    let mut keys = Vec::with_capacity(children.len());
    let mut info = Map::new();
    for child in &children {
        let rel = child
            .path
            .strip_prefix(parent.as_str())
            .unwrap_or(&child.path);
        keys.push(Value::from(rel));
        info.insert(rel.to_string(), Value::Object(child.to_api()));
    }
    let mut d = Map::new();
    d.insert("keys".into(), Value::Array(keys));
    d.insert("key_info".into(), Value::Object(info));
    Some(Response::with_data(d))
}

/// `custom_metadata`: string values only.
fn metadata(data: &Map<String, Value>) -> Result<BTreeMap<String, String>> {
    match data.get("custom_metadata") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(Error::invalid("custom_metadata values must be strings")),
            })
            .collect(),
        Some(_) => Err(Error::invalid("custom_metadata must be an object")),
    }
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// `max_secrets`: a non-negative integer (0: no cap).
fn max_secrets(data: &Map<String, Value>) -> Result<Option<u64>> {
    match crate::fields::opt_i64(data, "max_secrets")? {
        None => Ok(None),
        Some(n) => u64::try_from(n)
            .map(Some)
            .map_err(|_| Error::invalid("max_secrets must be 0 (no cap) or more")),
    }
}

/// `sys/namespaces/:name`.
pub(super) async fn namespace_op(
    scope: &Scope<'_>,
    req: &EngineRequest,
) -> Result<Option<Response>> {
    let name = namespace::parse_name(req.param("path"))?;
    let path = format!("{}{name}/", scope.tenant.ns.path);
    let core = scope.unsealed;
    match req.operation {
        Operation::Read => Ok(core
            .namespaces
            .by_path(&path)
            .map(|t| entry_response(&t.entry()))),
        Operation::Create | Operation::Update => {
            let entry = namespace::create_or_update(
                core,
                scope.tenant,
                &name,
                metadata(&req.data)?,
                max_secrets(&req.data)?,
            )
            .await?;
            Ok(Some(entry_response(&entry)))
        }
        Operation::Patch => {
            let cap = max_secrets(&req.data)?;
            let patch = match req.data.get("custom_metadata") {
                Some(Value::Object(m)) => Some(m),
                Some(Value::Null) => None,
                None if cap.is_some() => Some(&*EMPTY),
                _ => return Err(Error::invalid("missing required field \"custom_metadata\"")),
            };
            match namespace::patch_metadata(core, &path, patch, cap).await? {
                Some(entry) => Ok(Some(entry_response(&entry))),
                None => Err(Error::NamespaceNotFound("namespace not found".into())),
            }
        }
        Operation::Delete => {
            if namespace::delete(core, &path).await? {
                let mut d = Map::new();
                d.insert("status".into(), Value::from("in-progress"));
                Ok(Some(Response::with_data(d)))
            } else {
                let mut resp = Response::empty();
                resp.warnings
                    .push("requested namespace does not exist".into());
                Ok(Some(resp))
            }
        }
        _ => Err(Error::UnsupportedOperation),
    }
}
