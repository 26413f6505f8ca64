//! The database secrets engine, API-compatible with Vault's `database` for PostgreSQL and
//! MySQL/MariaDB: connection configurations ([`config`]), dynamic roles whose credentials
//! are new database users with leases ([`roles`]), and static roles whose existing users'
//! passwords coffre rotates ([`static_roles`]). The drivers live in `coffre-dbplugin`.
//!
//! Paths (relative to the mount): `config/:name`, `config/` (list), `reset/:name`,
//! `rotate-root/:name`, `roles/:name`, `roles/` (list), `creds/:name`, `static-roles/:name`,
//! `static-roles/` (list), `static-creds/:name`, `rotate-role/:name`. See `docs/DATABASE.md`.

mod config;
mod roles;
mod static_roles;

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
    /// Serializes the rotations of the mount's static roles.
    static_lock: Arc<StaticLock>,
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
            static_lock: ctx.states.get(&entry.uuid),
            services: ctx.rotation.clone(),
        }
    }
}

/// The per-mount lock of static-role rotations.
#[derive(Default)]
pub(crate) struct StaticLock(tokio::sync::Mutex<()>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Configs,
    Config,
    Reset,
    RotateRoot,
    Roles,
    Role,
    Creds,
    StaticRoles,
    StaticRole,
    StaticCreds,
    RotateRole,
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

const STATIC_FIELDS: [Field; 9] = [
    field(
        "db_name",
        FieldKind::Str,
        "The database configuration to use.",
    ),
    field("username", FieldKind::Str, "The existing database user."),
    field(
        "rotation_period",
        FieldKind::Duration,
        "How often the password changes (at least 5s).",
    ),
    field(
        "rotation",
        FieldKind::Any,
        "A rotation preset's name or {\"period\"} (coffre), instead of rotation_period.",
    ),
    field(
        "rotation_schedule",
        FieldKind::Str,
        "A cron schedule (not supported yet: refused).",
    ),
    field(
        "rotation_statements",
        STATEMENTS,
        "Statements that set the password (default: the plugin's).",
    ),
    field(
        "strategy",
        FieldKind::Str,
        "replace (default) or two-phase (coffre: two users in turn).",
    ),
    field(
        "secondary_username",
        FieldKind::Str,
        "Two-phase: the second user.",
    ),
    field(
        "grace",
        FieldKind::Duration,
        "Two-phase: how long the previous user keeps working.",
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
            path("rotate-root/{name}", Route::RotateRoot)
                .ops(WRITE)
                .help(
                    "Give a configuration's root user a new password only coffre knows.",
                    "",
                ),
            path("roles/?", Route::Roles)
                .ops(&[List])
                .help("List the dynamic roles.", ""),
            path("roles/{name}", Route::Role)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&ROLE_FIELDS)
                .help("Manage a dynamic role.", ""),
            path("static-roles/?", Route::StaticRoles)
                .ops(&[List])
                .help("List the static roles.", ""),
            path("static-roles/{name}", Route::StaticRole)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&STATIC_FIELDS)
                .help(
                    "Manage a static role: an existing user whose password coffre rotates.",
                    "",
                ),
            path("static-creds/{name}", Route::StaticCreds)
                .ops(&[Read])
                .help("Read a static role's current user and password.", ""),
            path("rotate-role/{name}", Route::RotateRole)
                .ops(WRITE)
                .help("Rotate a static role's password now.", ""),
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

    /// A configuration changed on another node: its connection opens again with the new
    /// settings.
    async fn invalidate(&self, key: &str) {
        if let Some(name) = config::config_name(key) {
            self.pools.close(name).await;
        }
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
            (Route::RotateRoot, _) => {
                done(config::rotate_root(&self.pools, view, &self.services, name).await)
            }
            (Route::StaticRoles, _) => static_roles::list(view).await,
            (Route::StaticRole, Operation::Read) => static_roles::read(view, name).await,
            (Route::StaticRole, Operation::Delete) => done(static_roles::delete(view, name).await),
            (Route::StaticCreds, _) => {
                static_roles::creds(view, name, view.clock().now_unix_secs()).await
            }
            (Route::StaticRole | Route::RotateRole, _) => {
                let sctx = static_roles::Ctx {
                    view,
                    pools: &self.pools,
                    mount: &req.mount,
                    services: &self.services,
                    lock: &self.static_lock.0,
                    now: view.clock().now_unix_secs(),
                };
                if route == Route::RotateRole {
                    done(static_roles::rotate_role(&sctx, name).await)
                } else {
                    done(static_roles::write(&sctx, name, data).await)
                }
            }
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

/// The database mount with this uuid in the namespace, if it is still mounted.
fn find_mount(scope: &crate::system::Scope<'_>, uuid: &str) -> Option<crate::mount::Route> {
    crate::engines::find_route(scope, uuid, |e| e.kind == "database")
}

/// The handler of [`crate::jobs::DB_STATIC_ROTATION`] jobs.
pub(crate) struct StaticRotationJob;

#[async_trait]
impl crate::jobs::Handler for StaticRotationJob {
    async fn run(
        &self,
        scope: &crate::system::Scope<'_>,
        job: &crate::jobs::JobRecord,
        now: i64,
    ) -> Result<crate::jobs::Next> {
        let Some(route) = find_mount(scope, &job.target.mount) else {
            return Ok(crate::jobs::Next::Remove);
        };
        let states = &scope.unsealed.mount_states;
        let pools: Arc<config::Pools> = states.get(&route.entry.uuid);
        let lock: Arc<StaticLock> = states.get(&route.entry.uuid);
        let services = crate::rotation::Services::new(
            &scope.tenant.jobs,
            &scope.tenant.view,
            &scope.tenant.background,
        );
        let sctx = static_roles::Ctx {
            view: &route.view,
            pools: &pools,
            mount: &route.entry,
            services: &services,
            lock: &lock.0,
            now,
        };
        static_roles::advance(&sctx, &job.target.key).await
    }

    /// A failed rotation announced `rotation.failed` itself; the overdue mark is the runner's.
    async fn failed(
        &self,
        scope: &crate::system::Scope<'_>,
        job: &crate::jobs::JobRecord,
        error: &Error,
        newly_overdue: bool,
    ) {
        let Some(route) = find_mount(scope, &job.target.mount) else {
            return;
        };
        if newly_overdue {
            let mut data = serde_json::Map::new();
            data.insert("error".into(), serde_json::json!(error.public_message()));
            data.insert("due".into(), crate::rotation::time(job.due_at));
            let path = format!("{}static-roles/{}", route.entry.path, job.target.key);
            crate::rotation::announce(
                &scope.tenant.background,
                crate::rotation::Event::Overdue,
                &path,
                Some(&route.entry),
                data,
            )
            .await;
        }
    }
}

/// The rotation calendar's entry for a static role's job.
pub(crate) async fn calendar_entry(
    scope: &crate::system::Scope<'_>,
    job: &crate::jobs::JobRecord,
    now: i64,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    let Some(route) = find_mount(scope, &job.target.mount) else {
        return Ok(None);
    };
    static_roles::calendar_entry(&route, job, now).await
}
