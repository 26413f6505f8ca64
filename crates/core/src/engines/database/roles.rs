//! Dynamic roles (`database/roles/:name`) and their credentials (`database/creds/:name`): a
//! new database user per request, with a lease that drops it.
//!
//! A creation that fails halfway is undone with the role's revocation statements (MySQL
//! commits account statements as it runs them; PostgreSQL runs them in one transaction
//! anyway). The lease keeps what revocation needs — the user's name, the configuration and
//! the revocation statements as they were — so deleting the role later does not strand users.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::config::{Pools, db_err, statements, statements_or};
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields;
use crate::leases::{Lease, NewLease};
use crate::mount::MountEntry;
use crate::request::Response;

const ROLE_PREFIX: &str = "role/";

/// A stored dynamic role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Role {
    pub(super) db_name: String,
    pub(super) creation_statements: Vec<String>,
    pub(super) revocation_statements: Vec<String>,
    pub(super) rollback_statements: Vec<String>,
    pub(super) renew_statements: Vec<String>,
    /// Seconds (0: the mount's default).
    pub(super) default_ttl: u64,
    /// Seconds (0: the mount's maximum).
    pub(super) max_ttl: u64,
}

impl Role {
    fn read_view(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("db_name".into(), json!(self.db_name));
        out.insert(
            "creation_statements".into(),
            json!(self.creation_statements),
        );
        out.insert(
            "revocation_statements".into(),
            json!(self.revocation_statements),
        );
        out.insert(
            "rollback_statements".into(),
            json!(self.rollback_statements),
        );
        out.insert("renew_statements".into(), json!(self.renew_statements));
        out.insert("default_ttl".into(), json!(self.default_ttl));
        out.insert("max_ttl".into(), json!(self.max_ttl));
        out.insert("credential_type".into(), json!("password"));
        out
    }
}

pub(super) async fn load(view: &View, name: &str) -> Result<Option<Role>> {
    view.get_json(&format!("{ROLE_PREFIX}{name}"), "database role")
        .await
}

/// `POST database/roles/:name`.
pub(super) async fn write(
    view: &View,
    mount: &MountEntry,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let mut role = load(view, name).await?.unwrap_or_default();
    if let Some(db) = fields::opt_str(data, "db_name")? {
        role.db_name = db.to_string();
    }
    if role.db_name.is_empty() {
        return Err(Error::invalid("db_name: required"));
    }
    if super::config::load(view, &role.db_name).await?.is_none() {
        return Err(Error::invalid(format!(
            "db_name: no database config named \"{}\"",
            role.db_name
        )));
    }
    for (field, slot) in [
        ("creation_statements", &mut role.creation_statements),
        ("revocation_statements", &mut role.revocation_statements),
        ("rollback_statements", &mut role.rollback_statements),
        ("renew_statements", &mut role.renew_statements),
    ] {
        if let Some(s) = statements(data, field)? {
            *slot = s;
        }
    }
    if role.creation_statements.is_empty() {
        return Err(Error::invalid("creation_statements: required"));
    }
    if let Some(t) = fields::opt_duration_secs(data, "default_ttl")? {
        role.default_ttl = t;
    }
    if let Some(t) = fields::opt_duration_secs(data, "max_ttl")? {
        role.max_ttl = t;
    }
    if role.max_ttl > 0 && role.default_ttl > role.max_ttl {
        return Err(Error::invalid(
            "default_ttl: cannot be greater than max_ttl",
        ));
    }
    if role.max_ttl > mount.max_lease_ttl() {
        return Err(Error::invalid(format!(
            "max_ttl: {}s is over the mount's max_lease_ttl ({}s)",
            role.max_ttl,
            mount.max_lease_ttl()
        )));
    }
    view.put_json(&format!("{ROLE_PREFIX}{name}"), &role)
        .await?;
    Ok(Response::empty())
}

pub(super) async fn read(view: &View, name: &str) -> Result<Option<Response>> {
    Ok(load(view, name)
        .await?
        .map(|r| Response::with_data(r.read_view())))
}

pub(super) async fn delete(view: &View, name: &str) -> Result<Response> {
    view.delete(&format!("{ROLE_PREFIX}{name}")).await?;
    Ok(Response::empty())
}

pub(super) async fn list(view: &View) -> Result<Option<Response>> {
    Ok(Response::keys(view.list(ROLE_PREFIX).await?))
}

/// PostgreSQL's `VALID UNTIL` form of a Unix time (`2027-01-01 12:00:00+0000`).
pub(super) fn expiration(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// What creating credentials needs besides the role's name.
pub(super) struct Issue<'a> {
    pub(super) view: &'a View,
    pub(super) pools: &'a Pools,
    pub(super) mount: &'a MountEntry,
    pub(super) services: &'a crate::rotation::Services,
    /// The caller's display name (part of the generated user name).
    pub(super) display_name: &'a str,
    pub(super) now: i64,
}

/// `GET database/creds/:name`: a new user with a random password, leased.
pub(super) async fn creds(issue: &Issue<'_>, name: &str) -> Result<Response> {
    // The user is created before its lease is stored: on a standby, where the lease could not
    // be, the active node issues it instead (the request is forwarded there).
    issue.view.require_active()?;
    let role = load(issue.view, name)
        .await?
        .ok_or_else(|| Error::invalid(format!("unknown role: {name}")))?;
    let (conn, config) = issue.pools.get(issue.view, &role.db_name).await?;
    if !config.allows(name) {
        return Err(Error::invalid(format!(
            "\"{name}\" is not an allowed role for database config \"{}\"",
            role.db_name
        )));
    }
    let kind = config.kind()?;
    let ttl = if role.default_ttl > 0 {
        role.default_ttl
    } else {
        issue.mount.default_lease_ttl()
    };
    let max_ttl = if role.max_ttl > 0 {
        role.max_ttl
    } else {
        issue.mount.max_lease_ttl()
    };
    let ttl = ttl.min(max_ttl);
    let random = crate::generate::secret::alphanumeric(20)?;
    let username = coffre_dbplugin::username(kind, issue.display_name, name, &random, issue.now);
    let password = issue
        .services
        .password(Some(config.password_policy.as_str()))
        .await?;
    let expires = expiration(
        issue
            .now
            .saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
    );
    let vars = coffre_dbplugin::Vars {
        name: &username,
        password: Some(&password),
        expiration: Some(&expires),
    };
    if let Err(e) = conn.execute(&role.creation_statements, &vars).await {
        // Nothing half-created: undo what ran before the failure.
        let undo = if role.rollback_statements.is_empty() {
            revocation(&role.revocation_statements, kind)
        } else {
            role.rollback_statements.clone()
        };
        let plain = coffre_dbplugin::Vars {
            name: &username,
            ..Default::default()
        };
        if let Err(undo_err) = conn.execute(&undo, &plain).await {
            tracing::warn!(error = %undo_err, "could not undo a failed user creation");
        }
        return Err(db_err("error creating the database user", e));
    }
    let mut data = Map::new();
    data.insert("username".into(), json!(username));
    data.insert("password".into(), json!(password.as_str()));
    let mut internal = Map::new();
    internal.insert("username".into(), json!(username));
    internal.insert("role".into(), json!(name));
    internal.insert("db_name".into(), json!(role.db_name));
    internal.insert(
        "revocation_statements".into(),
        json!(role.revocation_statements),
    );
    internal.insert("renew_statements".into(), json!(role.renew_statements));
    let mut resp = Response::with_data(data);
    resp.lease = Some(NewLease {
        ttl,
        max_ttl,
        renewable: true,
        internal,
    });
    Ok(resp)
}

/// The statements that revoke a user: the role's, or the plugin's default.
fn revocation(given: &[String], kind: coffre_dbplugin::Kind) -> Vec<String> {
    statements_or(given, kind.default_revocation())
}

fn internal_str<'a>(lease: &'a Lease, key: &str) -> Result<&'a str> {
    lease
        .internal
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Internal(format!("database lease without {key}")))
}

fn internal_list(lease: &Lease, key: &str) -> Vec<String> {
    lease
        .internal
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Drops the user of a dynamic-credentials lease.
pub(super) async fn revoke(pools: &Pools, view: &View, lease: &Lease) -> Result<()> {
    let username = internal_str(lease, "username")?;
    let db_name = internal_str(lease, "db_name")?;
    let (conn, config) = pools.get(view, db_name).await?;
    let statements = revocation(
        &internal_list(lease, "revocation_statements"),
        config.kind()?,
    );
    let vars = coffre_dbplugin::Vars {
        name: username,
        ..Default::default()
    };
    conn.execute(&statements, &vars)
        .await
        .map_err(|e| db_err("error revoking the database user", e))
}

/// Extends a dynamic user's validity to `expire` (PostgreSQL's `VALID UNTIL`).
pub(super) async fn renew(pools: &Pools, view: &View, lease: &Lease, expire: i64) -> Result<()> {
    let username = internal_str(lease, "username")?;
    let db_name = internal_str(lease, "db_name")?;
    let (conn, config) = pools.get(view, db_name).await?;
    let statements = statements_or(
        &internal_list(lease, "renew_statements"),
        config.kind()?.default_renew(),
    );
    if statements.is_empty() {
        return Ok(());
    }
    let exp = expiration(expire);
    let vars = coffre_dbplugin::Vars {
        name: username,
        password: None,
        expiration: Some(&exp),
    };
    conn.execute(&statements, &vars)
        .await
        .map_err(|e| db_err("error renewing the database user", e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn expiration_is_postgres_valid_until() {
        assert_eq!(super::expiration(1_800_000_000), "2027-01-15 08:00:00+0000");
    }
}
