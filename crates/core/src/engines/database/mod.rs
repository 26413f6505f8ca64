//! The database secrets engine, API-compatible with Vault's `database` for PostgreSQL and
//! MySQL/MariaDB: connection configurations ([`config`]) and dynamic roles whose credentials
//! are new database users with leases ([`roles`]). The drivers live in `coffre-dbplugin`.
//!
//! Paths (relative to the mount): `config/:name`, `config/` (list), `reset/:name`,
//! `roles/:name`, `roles/` (list), `creds/:name`. See `docs/DATABASE.md`.

mod config;
mod roles;

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;

use super::{Engine, EngineRequest};
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::leases::Lease;
use crate::request::{Operation, Response};
use crate::route::{Field, FieldKind, Routes, Table, WRITE, field, path};
use crate::system::Ctx;

/// The database engine of one mount.
pub(crate) struct Database {
    /// Open connections, shared by the mount's engine instances.
    pools: Arc<config::Pools>,
    /// Password policies of the namespace (generated passwords).
    services: crate::rotation::Services,
}

impl Database {
    pub(crate) fn new(
        entry: &crate::mount::MountEntry,
        ctx: &super::EngineContext<'_>,
    ) -> Database {
        Database {
            pools: ctx.states.get(&entry.uuid),
            services: ctx.rotation.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Configs,
    Config,
    Reset,
    Roles,
    Role,
    Creds,
}

const STATEMENTS: FieldKind = FieldKind::Any;

const CONFIG_FIELDS: [Field; 9] = [
    field(
        "plugin_name",
        FieldKind::Str,
        "postgresql-database-plugin or mysql-database-plugin.",
    ),
    field(
        "connection_url",
        FieldKind::Str,
        "The connection URL, with {{username}} and {{password}}.",
    ),
    field("username", FieldKind::Str, "The root user."),
    field(
        "password",
        FieldKind::Str,
        "The root password (never read back).",
    ),
    field(
        "allowed_roles",
        FieldKind::StrList,
        "Roles that may use this connection (* for any).",
    ),
    field(
        "verify_connection",
        FieldKind::Bool,
        "Connect before storing the configuration (default true).",
    ),
    field(
        "password_policy",
        FieldKind::Str,
        "The password policy generated passwords follow.",
    ),
    field(
        "max_open_connections",
        FieldKind::Int,
        "Most connections open at once (default 4).",
    ),
    field(
        "root_rotation_statements",
        STATEMENTS,
        "Statements that change the root password.",
    ),
];

const ROLE_FIELDS: [Field; 7] = [
    field(
        "db_name",
        FieldKind::Str,
        "The database configuration to use.",
    ),
    field(
        "creation_statements",
        STATEMENTS,
        "Statements that create the user ({{name}}, {{password}}, {{expiration}}).",
    ),
    field(
        "revocation_statements",
        STATEMENTS,
        "Statements that drop the user (default: the plugin's).",
    ),
    field(
        "rollback_statements",
        STATEMENTS,
        "Statements that undo a failed creation (default: the revocation statements).",
    ),
    field(
        "renew_statements",
        STATEMENTS,
        "Statements run when a lease is renewed (default: the plugin's).",
    ),
    field("default_ttl", FieldKind::Duration, "The credentials' TTL."),
    field(
        "max_ttl",
        FieldKind::Duration,
        "The longest TTL renewals reach.",
    ),
];

static ROUTES: LazyLock<Table<Route>> = LazyLock::new(|| {
    use Operation::{Delete, List, Read};
    Table::new(
        "The database backend creates database users on demand, with leases that drop them.",
        vec![
            path("config/?", Route::Configs)
                .ops(&[List])
                .help("List the database configurations.", ""),
            path("config/{name}", Route::Config)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&CONFIG_FIELDS)
                .help(
                    "Configure a connection to a database.",
                    "The password is stored encrypted and never returned.",
                ),
            path("reset/{name}", Route::Reset)
                .ops(WRITE)
                .help("Close a configuration's connections.", ""),
            path("roles/?", Route::Roles)
                .ops(&[List])
                .help("List the dynamic roles.", ""),
            path("roles/{name}", Route::Role)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&ROLE_FIELDS)
                .help("Manage a dynamic role.", ""),
            path("creds/{name}", Route::Creds).ops(&[Read]).help(
                "Create a database user for a role.",
                "The user is dropped when its lease ends.",
            ),
        ],
    )
});

#[async_trait]
impl Engine for Database {
    fn routes(&self) -> &'static dyn Routes {
        &*ROUTES
    }

    async fn handle(&self, req: EngineRequest, ctx: &Ctx<'_>) -> Result<Option<Response>> {
        let route = ROUTES.route(&req.matched).ok_or(Error::UnsupportedPath)?;
        let (view, data, op) = (&req.view, &req.data, req.operation);
        let name = req.param("name");
        let done = |r: Result<Response>| r.map(Some);
        match (route, op) {
            (Route::Configs, _) => config::list(view).await,
            (Route::Config, Operation::Read) => config::read(view, name).await,
            (Route::Config, Operation::Delete) => {
                done(config::delete(&self.pools, view, name).await)
            }
            (Route::Config, _) => done(config::write(&self.pools, view, name, data).await),
            (Route::Reset, _) => done(config::reset(&self.pools, view, name).await),
            (Route::Roles, _) => roles::list(view).await,
            (Route::Role, Operation::Read) => roles::read(view, name).await,
            (Route::Role, Operation::Delete) => done(roles::delete(view, name).await),
            (Route::Role, _) => done(roles::write(view, &req.mount, name, data).await),
            (Route::Creds, _) => {
                let issue = roles::Issue {
                    view,
                    pools: &self.pools,
                    mount: &req.mount,
                    services: &self.services,
                    display_name: ctx.display_name(),
                    now: view.clock().now_unix_secs(),
                };
                done(roles::creds(&issue, name).await)
            }
        }
    }

    async fn revoke_lease(&self, lease: &Lease, view: &View) -> Result<()> {
        roles::revoke(&self.pools, view, lease).await
    }

    async fn renew_lease(&self, lease: &Lease, expire: i64, view: &View) -> Result<()> {
        roles::renew(&self.pools, view, lease, expire).await
    }
}
