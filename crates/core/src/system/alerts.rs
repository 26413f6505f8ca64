//! `sys/alerts/…`: the alert rules and channels of the request's namespace, the alerts fired
//! and the notifications that could not be delivered ([`crate::alerts`]).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Scope;
use crate::alerts::{CHANNELS_PREFIX, Channel, RULES_PREFIX, Rule};
use crate::error::{Error, Result};
use crate::request::{Operation, Response};

/// Which kind of object a `sys/alerts/` path manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Object {
    Rule,
    Channel,
}

impl Object {
    fn prefix(self) -> &'static str {
        match self {
            Object::Rule => RULES_PREFIX,
            Object::Channel => CHANNELS_PREFIX,
        }
    }

    fn shown(self, raw: &[u8]) -> Result<Map<String, Value>> {
        let corrupt = |e: serde_json::Error| Error::Internal(format!("corrupt alert object: {e}"));
        Ok(match self {
            Object::Rule => serde_json::from_slice::<Rule>(raw)
                .map_err(corrupt)?
                .to_api(),
            Object::Channel => serde_json::from_slice::<Channel>(raw)
                .map_err(corrupt)?
                .to_api(),
        })
    }
}

/// `LIST sys/alerts/rules` or `sys/alerts/channels`.
pub(super) async fn list(scope: &Scope<'_>, object: Object) -> Result<Option<Response>> {
    let mut names = scope.tenant.view.list(object.prefix()).await?;
    names.sort();
    Ok(Response::keys(names))
}

/// `sys/alerts/rules/:name` or `sys/alerts/channels/:name`: read, write, delete.
pub(super) async fn one(
    scope: &Scope<'_>,
    object: Object,
    name: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>> {
    crate::alerts::rule::check_name(name)?;
    let view = &scope.tenant.view;
    let key = format!("{}{name}", object.prefix());
    match op {
        Operation::Read => match view.get(&key).await? {
            Some(raw) => Ok(Some(Response::with_data(object.shown(raw.expose())?))),
            None => Ok(None),
        },
        Operation::Create | Operation::Update => {
            match object {
                Object::Rule => view.put_json(&key, &Rule::from_api(name, data)?).await?,
                Object::Channel => {
                    view.put_json(&key, &Channel::from_api(name, data)?).await?;
                }
            }
            reload(scope).await?;
            Ok(Some(Response::empty()))
        }
        Operation::Delete => {
            view.delete(&key).await?;
            reload(scope).await?;
            Ok(Some(Response::empty()))
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

/// Loads every namespace's rules and channels again, after a change.
async fn reload(scope: &Scope<'_>) -> Result<()> {
    let views: Vec<_> = scope
        .unsealed
        .namespaces
        .all()
        .iter()
        .map(|t| (t.ns.path.clone(), t.view.clone()))
        .collect();
    crate::alerts::open(scope.unsealed.audit.events().alerting(), &views, false).await
}

fn listed<T: Serialize>(key: &str, items: &[T]) -> Result<Response> {
    let mut d = Map::new();
    d.insert(
        key.into(),
        serde_json::to_value(items).map_err(|e| Error::Internal(e.to_string()))?,
    );
    d.insert("count".into(), json!(items.len()));
    Ok(Response::with_data(d))
}

/// `sys/alerts/fired`: the recent alerts of this namespace's rules and those below it.
pub(super) fn fired(scope: &Scope<'_>) -> Result<Response> {
    let alerts = scope
        .unsealed
        .audit
        .events()
        .alerting()
        .fired(&scope.tenant.ns.path);
    let alerts: Vec<&crate::alerts::Alert> = alerts.iter().map(AsRef::as_ref).collect();
    listed("alerts", &alerts)
}

/// `sys/alerts/dead-letters`: notifications of this namespace's channels never delivered.
pub(super) fn dead_letters(scope: &Scope<'_>) -> Result<Response> {
    let dead = scope
        .unsealed
        .audit
        .events()
        .alerting()
        .dead_letters(&scope.tenant.ns.path);
    listed("dead_letters", &dead)
}
