//! `sys/remount` (move a secrets engine to another path) and `sys/remount/status/:id`.
//!
//! A mount's data lives under `logical/<uuid>/` and its engine state is keyed by the uuid, so a
//! move is one atomic commit of the mount table with the entry's path changed: nothing is copied,
//! and a crash leaves either the old table or the new one. OpenBao runs the move in the
//! background (it revokes the mount's leases first) and reports its progress under a migration
//! id; coffre has no leases yet, so the move is finished when the request returns, and the id
//! reports `success` at once. Clients such as `bao secrets move` poll it all the same.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use super::Scope;
use super::mounts::commit_table;
use crate::error::{Error, Result};
use crate::fields;
use crate::mount::normalize_mount_path;
use crate::request::Response;

/// How many finished moves `sys/remount/status` remembers (OpenBao keeps them in memory too).
const REMEMBERED: usize = 64;

/// One finished move, as `sys/remount/status` reports it.
#[derive(Debug, Clone)]
struct Migration {
    id: String,
    source_mount: String,
    target_mount: String,
}

/// The recent moves of this unsealed scope, newest last.
#[derive(Debug, Default)]
pub(crate) struct Migrations(Mutex<VecDeque<Migration>>);

impl Migrations {
    fn record(&self, migration: Migration) {
        let mut recent = self.0.lock();
        if recent.len() == REMEMBERED {
            recent.pop_front();
        }
        recent.push_back(migration);
    }

    fn find(&self, id: &str) -> Option<Migration> {
        self.0.lock().iter().find(|m| m.id == id).cloned()
    }
}

/// The path named by `from`/`to`, refused as OpenBao refuses it.
fn mount_path(data: &Map<String, Value>, name: &str) -> Result<String> {
    let raw = fields::opt_str(data, name)?.unwrap_or("");
    if raw.starts_with(' ') || raw.ends_with(' ') {
        return Err(Error::invalid(format!(
            "'{name}' path cannot contain trailing whitespace"
        )));
    }
    normalize_mount_path(raw)
}

/// `POST sys/remount`: moves the mount at `from` to `to`.
pub(super) async fn remount(scope: &Scope<'_>, data: &Map<String, Value>) -> Result<Response> {
    let given = |name| fields::opt_str(data, name).map(|v| v.is_some_and(|s| !s.is_empty()));
    if !given("from")? || !given("to")? {
        return Err(Error::invalid(
            "both 'from' and 'to' path must be specified as a string",
        ));
    }
    let from = mount_path(data, "from")?;
    let to = mount_path(data, "to")?;
    if from.starts_with("auth/") || to.starts_with("auth/") {
        // Only the token method exists, and OpenBao does not move it either.
        return Err(Error::invalid(format!("cannot remount \"{from}\"")));
    }
    let mut table = scope.tenant.mounts.lock().await;
    let entry = table
        .get(&from)
        .cloned()
        .ok_or_else(|| Error::invalid(format!("no matching mount at \"{from}\"")))?;
    if entry.kind == "system" {
        return Err(Error::invalid(format!("cannot remount \"{from}\"")));
    }
    table.check_new_path(&to)?;
    let mut next = table.clone();
    for e in &mut next.entries {
        if e.path == from {
            e.path = to.clone();
        }
    }
    commit_table(scope, &mut table, next).await?;
    tracing::info!(from = %from, to = %to, "mount moved");

    let id = uuid::Uuid::new_v4().to_string();
    scope.tenant.migrations.record(Migration {
        id: id.clone(),
        source_mount: from,
        target_mount: to,
    });
    let mut d = Map::new();
    d.insert("migration_id".into(), json!(id));
    let mut resp = Response::with_data(d).injected();
    resp.warnings.push(
        "Mount move has been queued. Progress will be reported in the server log, tagged with \
         the returned migration_id"
            .into(),
    );
    Ok(resp)
}

/// `GET sys/remount/status/:migration_id`: what became of a move (404 when unknown).
pub(super) fn status(scope: &Scope<'_>, id: &str) -> Option<Response> {
    let m = scope.tenant.migrations.find(id)?;
    let mut d = Map::new();
    d.insert("migration_id".into(), json!(m.id));
    d.insert(
        "migration_info".into(),
        json!({
            "source_mount": m.source_mount,
            "target_mount": m.target_mount,
            "status": "success",
        }),
    );
    Some(Response::with_data(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_the_recent_moves() {
        let migrations = Migrations::default();
        for i in 0..=REMEMBERED {
            migrations.record(Migration {
                id: i.to_string(),
                source_mount: "a/".into(),
                target_mount: "b/".into(),
            });
        }
        assert!(migrations.find("0").is_none(), "the oldest is forgotten");
        assert!(migrations.find("1").is_some());
        assert!(migrations.find(&REMEMBERED.to_string()).is_some());
    }
}
