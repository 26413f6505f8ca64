//! `database/config/:name`: how to reach a database, and the pooled connections to it.
//!
//! A configuration is stored in the mount's view (so encrypted by the barrier), root password
//! included; reads never return the password. Connections are opened once per configuration
//! and kept in the mount's state until the configuration changes, is deleted or reset.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use coffre_dbplugin::{Connection, ConnectionConfig, DbError, Kind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields;
use crate::request::Response;

const CONFIG_PREFIX: &str = "config/";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_OPEN: usize = 4;

/// A stored configuration. (Members have their own `serde(default)`: a container default
/// would move fields out of a value that zeroizes its password on drop.)
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct DbConfig {
    #[serde(default)]
    pub(super) plugin_name: String,
    #[serde(default)]
    pub(super) connection_url: String,
    #[serde(default)]
    pub(super) username: String,
    /// The root password (stored behind the barrier, never returned).
    #[serde(default)]
    pub(super) password: String,
    #[serde(default)]
    pub(super) allowed_roles: Vec<String>,
    #[serde(default)]
    pub(super) verify_connection: bool,
    #[serde(default)]
    pub(super) password_policy: String,
    #[serde(default)]
    pub(super) max_open_connections: usize,
    #[serde(default)]
    pub(super) root_rotation_statements: Vec<String>,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("plugin_name", &self.plugin_name)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Drop for DbConfig {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

impl DbConfig {
    pub(super) fn kind(&self) -> Result<Kind> {
        Kind::from_plugin_name(&self.plugin_name).ok_or_else(|| {
            Error::invalid(format!(
                "plugin_name: unknown plugin \"{}\" (coffre has postgresql-database-plugin \
                 and mysql-database-plugin)",
                self.plugin_name
            ))
        })
    }

    pub(super) fn connection_config(&self) -> Result<ConnectionConfig> {
        Ok(ConnectionConfig {
            kind: self.kind()?,
            url: self.connection_url.clone(),
            username: self.username.clone(),
            password: Zeroizing::new(self.password.clone()),
            max_open_connections: if self.max_open_connections == 0 {
                DEFAULT_MAX_OPEN
            } else {
                self.max_open_connections
            },
            connect_timeout: CONNECT_TIMEOUT,
        })
    }

    /// Whether role `role` may use this configuration (`allowed_roles`, `*` for any).
    pub(super) fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|r| r == "*" || r == role)
    }

    fn read_view(&self) -> Map<String, Value> {
        let mut details = Map::new();
        details.insert("connection_url".into(), json!(self.connection_url));
        details.insert("username".into(), json!(self.username));
        let mut out = Map::new();
        out.insert("plugin_name".into(), json!(self.plugin_name));
        out.insert("plugin_version".into(), json!(""));
        out.insert("connection_details".into(), Value::Object(details));
        out.insert("allowed_roles".into(), json!(self.allowed_roles));
        out.insert("password_policy".into(), json!(self.password_policy));
        out.insert(
            "root_credentials_rotate_statements".into(),
            json!(self.root_rotation_statements),
        );
        out
    }
}

/// A driver error as the core's: the caller's fault → 400, else a 500 that names the cause.
/// The message never holds a password (the plugin scrubs them).
pub(super) fn db_err(what: &str, e: DbError) -> Error {
    if e.is_client_error() {
        Error::invalid(format!("{what}: {e}"))
    } else {
        Error::Upstream(format!("{what}: {e}"))
    }
}

/// Statement lists: Vault takes a JSON array or one string. A string is one entry (not split
/// on commas, which SQL is full of); each entry may hold several statements.
pub(super) fn statements(data: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(Vec::new())),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(_) => fields::opt_string_list(data, name)
            .map(|l| l.map(|v| v.into_iter().filter(|s| !s.trim().is_empty()).collect())),
    }
}

/// The statements to run: those `given` (a role's or a configuration's), or the plugin's
/// `default` when none are.
pub(super) fn statements_or(given: &[String], default: &[&str]) -> Vec<String> {
    if given.is_empty() {
        default.iter().map(|s| (*s).to_string()).collect()
    } else {
        given.to_vec()
    }
}

/// The configuration name a stored key of the mount belongs to, if it is a configuration's.
pub(super) fn config_name(stored: &str) -> Option<&str> {
    stored.strip_prefix(CONFIG_PREFIX)
}

/// The live connections of a mount, by configuration name.
#[derive(Default)]
pub(crate) struct Pools {
    open: tokio::sync::Mutex<HashMap<String, Arc<Connection>>>,
}

impl Pools {
    /// The connection of configuration `name`, opening it on first use.
    pub(super) async fn get(&self, view: &View, name: &str) -> Result<(Arc<Connection>, DbConfig)> {
        let config = load(view, name).await?.ok_or_else(|| {
            Error::invalid(format!("db_name: no database config named \"{name}\""))
        })?;
        let mut open = self.open.lock().await;
        if let Some(conn) = open.get(name) {
            return Ok((conn.clone(), config));
        }
        let conn = Arc::new(
            Connection::open(&config.connection_config()?)
                .map_err(|e| db_err("error opening the connection", e))?,
        );
        open.insert(name.to_string(), conn.clone());
        Ok((conn, config))
    }

    /// Drops the connection of configuration `name` (its settings changed, or `reset`).
    pub(super) async fn close(&self, name: &str) {
        let conn = self.open.lock().await.remove(name);
        if let Some(conn) = conn.and_then(|c| Arc::try_unwrap(c).ok()) {
            conn.close().await;
        }
    }
}

pub(super) async fn load(view: &View, name: &str) -> Result<Option<DbConfig>> {
    view.get_json(&format!("{CONFIG_PREFIX}{name}"), "database config")
        .await
}

/// `POST database/config/:name`: creates or updates a configuration (a field left out keeps
/// its value), checks it by connecting unless `verify_connection` is false, and stores it.
pub(super) async fn write(
    pools: &Pools,
    view: &View,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let mut config = match load(view, name).await? {
        Some(c) => c,
        None => {
            let mut fresh = DbConfig::default();
            fresh.verify_connection = true;
            fresh
        }
    };
    if let Some(p) = fields::opt_str(data, "plugin_name")? {
        config.plugin_name = p.to_string();
    }
    if config.plugin_name.is_empty() {
        return Err(Error::invalid("plugin_name: required"));
    }
    config.kind()?;
    if let Some(url) = fields::opt_str(data, "connection_url")? {
        config.connection_url = url.to_string();
    }
    if config.connection_url.is_empty() {
        return Err(Error::invalid("connection_url: required"));
    }
    if let Some(u) = fields::opt_str(data, "username")? {
        config.username = u.to_string();
    }
    if let Some(p) = fields::opt_str(data, "password")? {
        config.password = p.to_string();
    }
    if let Some(r) = fields::opt_string_list(data, "allowed_roles")? {
        config.allowed_roles = r;
    }
    if let Some(v) = fields::opt_bool(data, "verify_connection")? {
        config.verify_connection = v;
    }
    if let Some(p) = fields::opt_str(data, "password_policy")? {
        config.password_policy = p.to_string();
    }
    if let Some(n) = fields::opt_i64(data, "max_open_connections")? {
        config.max_open_connections = usize::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::invalid("max_open_connections: must be positive"))?;
    }
    if let Some(s) = statements(data, "root_rotation_statements")? {
        config.root_rotation_statements = s;
    }
    if config.verify_connection {
        let conn = Connection::open(&config.connection_config()?)
            .map_err(|e| db_err("error creating database object", e))?;
        let verified = conn.verify().await;
        conn.close().await;
        verified.map_err(|e| {
            let e = e.scrubbed(&[config.password.as_str()]);
            Error::invalid(format!(
                "error creating database object: error verifying connection: {e}"
            ))
        })?;
    }
    view.put_json(&format!("{CONFIG_PREFIX}{name}"), &config)
        .await?;
    pools.close(name).await;
    Ok(Response::empty())
}

pub(super) async fn read(view: &View, name: &str) -> Result<Option<Response>> {
    Ok(load(view, name)
        .await?
        .map(|c| Response::with_data(c.read_view())))
}

pub(super) async fn delete(pools: &Pools, view: &View, name: &str) -> Result<Response> {
    view.delete(&format!("{CONFIG_PREFIX}{name}")).await?;
    pools.close(name).await;
    Ok(Response::empty())
}

pub(super) async fn list(view: &View) -> Result<Option<Response>> {
    Ok(Response::keys(view.list(CONFIG_PREFIX).await?))
}

/// `POST database/reset/:name`: closes the configuration's connections (they reopen on next
/// use, with the stored settings).
pub(super) async fn reset(pools: &Pools, view: &View, name: &str) -> Result<Response> {
    if load(view, name).await?.is_none() {
        return Err(Error::invalid(format!(
            "no database config named \"{name}\""
        )));
    }
    pools.close(name).await;
    Ok(Response::empty())
}

/// `POST database/rotate-root/:name`: gives the configuration's root user a new password
/// (its `root_rotation_statements`, or the plugin's), checks that it logs in, and stores it;
/// from then on only coffre knows it. A new password that does not log in is undone.
pub(super) async fn rotate_root(
    pools: &Pools,
    view: &View,
    services: &crate::rotation::Services,
    name: &str,
) -> Result<Response> {
    let (conn, mut config) = pools.get(view, name).await?;
    if config.username.is_empty() {
        return Err(Error::invalid(
            "the configuration has no username: its credentials live in connection_url",
        ));
    }
    let kind = config.kind()?;
    let statements = statements_or(&config.root_rotation_statements, kind.default_rotation());
    let password = services
        .password(Some(config.password_policy.as_str()))
        .await?;
    let vars = coffre_dbplugin::Vars {
        name: &config.username,
        password: Some(&password),
        expiration: None,
    };
    conn.execute(&statements, &vars)
        .await
        .map_err(|e| db_err("error rotating the root password", e))?;
    let connection = config.connection_config()?;
    if let Err(e) = coffre_dbplugin::try_login(&connection, &config.username, &password).await {
        let old = coffre_dbplugin::Vars {
            name: &config.username,
            password: Some(&config.password),
            expiration: None,
        };
        if let Err(undo) = conn.execute(&statements, &old).await {
            tracing::error!(error = %undo, "could not set the old root password back");
        }
        return Err(Error::invalid(format!(
            "the new root password does not log in, the old one was set back: {e}"
        )));
    }
    config.password = password.to_string();
    view.put_json(&format!("{CONFIG_PREFIX}{name}"), &config)
        .await?;
    drop(conn);
    pools.close(name).await;
    Ok(Response::empty())
}
