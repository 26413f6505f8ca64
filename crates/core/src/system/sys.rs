//! The `sys/` backend's route table and its small handlers (audit devices, key status, tools).
//! Mounts live in [`super::mounts`], policies and capabilities in [`super::policies`].
//! (`sys/init`, `sys/unseal`, `sys/seal-status`, `sys/seal`, `sys/health` and `sys/leader` work
//! while sealed and are served by the server's raw handlers through [`crate::Core`] directly.)

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::mounts::Kind;
use super::{
    Scope, alerts, leases, locked_users, mounts, namespaces, password_policies, policies, quotas,
    remount, rotation,
};
use crate::clock::rfc3339_nanos;
use crate::engines::EngineRequest;
use crate::error::{Error, Result};
use crate::fields;
use crate::pipeline::Authorized;
use crate::request::{Operation, Response};
use crate::route::{FieldKind, PathClass, Table, WRITE, field, path};

/// The fields of `sys/alerts/rules/:name`.
const ALERT_RULE_FIELDS: &[crate::route::Field] = &[
    field("description", FieldKind::Str, "What the rule is for."),
    field(
        "events",
        FieldKind::StrList,
        "Event types: request, anomaly, or a background event (rotation.failed).",
    ),
    field(
        "operations",
        FieldKind::StrList,
        "Request operations (read, create, update, delete, list, patch).",
    ),
    field(
        "outcomes",
        FieldKind::StrList,
        "ok, denied, client_error, server_error.",
    ),
    field(
        "namespace",
        FieldKind::Str,
        "Glob over the event's namespace, relative to this one.",
    ),
    field("mount", FieldKind::Str, "Glob over the mount path."),
    field(
        "paths",
        FieldKind::StrList,
        "Globs over the request path (* and ?).",
    ),
    field(
        "identity",
        FieldKind::Str,
        "Glob over the caller (entity id or token name).",
    ),
    field(
        "critical",
        FieldKind::Bool,
        "Only reads of secrets marked critical.",
    ),
    field(
        "threshold",
        FieldKind::Int,
        "Matching events within the window that fire it (default 1).",
    ),
    field(
        "window",
        FieldKind::Duration,
        "The sliding window (default 5m).",
    ),
    field(
        "group_by",
        FieldKind::Str,
        "none (default) or identity: one window per caller.",
    ),
    field(
        "severity",
        FieldKind::Str,
        "info, warning (default) or critical.",
    ),
    field(
        "cooldown",
        FieldKind::Duration,
        "Quiet time after firing (default 0).",
    ),
    field(
        "channels",
        FieldKind::StrList,
        "Channels of this namespace to notify.",
    ),
    field(
        "enabled",
        FieldKind::Bool,
        "Whether it is evaluated (default true).",
    ),
];

/// The handler a `sys/` path goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Metrics,
    AlertRules,
    AlertRule,
    AlertChannels,
    AlertChannel,
    AlertsFired,
    AlertDeadLetters,
    AclPolicies,
    AclPolicy,
    LegacyPolicies,
    LegacyPolicy,
    Capabilities,
    CapabilitiesSelf,
    CapabilitiesAccessor,
    AuthList,
    AuthTune,
    AuthMount,
    LockedUsers,
    Unlock,
    MfaValidate,
    PasswordPolicies,
    PasswordPolicy,
    PasswordGenerate,
    RotationCalendar,
    RotationPresets,
    LeaseLookup,
    LeaseList,
    LeaseRenew,
    LeaseRevoke,
    LeaseRevokePrefix,
    LeaseRevokeForce,
    LeaseTidy,
    InactiveIdentities,
    AuditList,
    AuditDevice,
    AuditHash,
    AuditChain,
    UiMounts,
    UiMount,
    Mounts,
    MountTune,
    Mount,
    Remount,
    RemountStatus,
    Namespaces,
    Namespace,
    RateLimitQuotas,
    RateLimitQuota,
    Rotate,
    KeyStatus,
    HaStatus,
    Random,
    Hash,
}

const PATHS: [crate::route::Field; 2] = [
    field(
        "paths",
        FieldKind::StrList,
        "The paths to report capabilities on.",
    ),
    field("path", FieldKind::Str, "One path (older clients)."),
];
const LEASE_ID: crate::route::Field = field("lease_id", FieldKind::Str, "The lease's id.");
const INCREMENT: crate::route::Field = field(
    "increment",
    FieldKind::Duration,
    "The TTL asked for (default: the lease's own).",
);
const SYNC: crate::route::Field = field(
    "sync",
    FieldKind::Bool,
    "Wait for the revocation (it always does).",
);
const POLICY: crate::route::Field = field(
    "policy",
    FieldKind::Str,
    "The policy document, HCL or JSON (or base64 of it).",
);
const MOUNT_FIELDS: [crate::route::Field; 6] = [
    field(
        "type",
        FieldKind::Str,
        "The engine type: kv, kv-v2, transit.",
    ),
    field("description", FieldKind::Str, "Free text."),
    field(
        "config",
        FieldKind::Map,
        "default_lease_ttl, max_lease_ttl, force_no_cache.",
    ),
    field(
        "options",
        FieldKind::Map,
        "Engine options, e.g. version for kv.",
    ),
    field(
        "local",
        FieldKind::Bool,
        "Not replicated (kept for the wire shape).",
    ),
    field(
        "seal_wrap",
        FieldKind::Bool,
        "Accepted; everything is behind the barrier anyway.",
    ),
];

pub(crate) static ROUTES: LazyLock<Table<Route>> = LazyLock::new(|| {
    use Operation::{Delete, List, Read};
    Table::new(
            "The system backend is built in and mounted at sys/: mounts, policies, audit devices, \
         the barrier key and tools.",
            vec![
            path("policies/acl/?", Route::AclPolicies)
                .ops(&[List])
                .help("List the configured access control policies.", ""),
            path("policies/acl/{name+}", Route::AclPolicy)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&[POLICY])
                .help("Read, write and delete access control policies.", ""),
            path("policy/?", Route::LegacyPolicies)
                .ops(&[Read, List])
                .help("List the configured access control policies.", ""),
            path("policy/{name+}", Route::LegacyPolicy)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&[
                    POLICY,
                    field(
                        "rules",
                        FieldKind::Str,
                        "The policy document (legacy name).",
                    ),
                ])
                .help("Read, write and delete access control policies.", ""),
            path("capabilities", Route::Capabilities)
                .changes_nothing()
                .ops(WRITE)
                .fields(&PATHS)
                .fields(&[field("token", FieldKind::Str, "The token to check.")])
                .help(
                    "Fetches the capabilities of the given token on the given path.",
                    "",
                ),
            path("capabilities-self", Route::CapabilitiesSelf)
                .changes_nothing()
                .ops(WRITE)
                .fields(&PATHS)
                .help(
                    "Fetches the capabilities of the caller's token on the given path.",
                    "",
                ),
            path("capabilities-accessor", Route::CapabilitiesAccessor)
                .changes_nothing()
                .ops(WRITE)
                .fields(&PATHS)
                .fields(&[field(
                    "accessor",
                    FieldKind::Str,
                    "The accessor of the token to check.",
                )])
                .help(
                    "Fetches the capabilities of the token of an accessor on the given path.",
                    "",
                ),
            path("auth", Route::AuthList)
                .ops(&[Read])
                .help("List the enabled auth methods.", ""),
            path("auth/{path+}/tune", Route::AuthTune)
                .ops(&[Read])
                .ops(WRITE)
                .arbitrary_fields()
                .sudo()
                .help("Tune the configuration of an auth method.", ""),
            path("auth/{path+}", Route::AuthMount)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .arbitrary_fields()
                .sudo()
                .help("Enable, read or disable an auth method.", ""),
            path("audit/?", Route::AuditList)
                .root_namespace_only()
                .ops(&[Read])
                .sudo()
                .help("List the enabled audit devices.", ""),
            path("audit/{path+}", Route::AuditDevice)
                .root_namespace_only()
                .ops(&[Delete])
                .ops(WRITE)
                .fields(&[
                    field("type", FieldKind::Str, "The device type: file, socket."),
                    field("description", FieldKind::Str, "Free text."),
                    field("options", FieldKind::Map, "Device options, e.g. file_path."),
                    field(
                        "local",
                        FieldKind::Bool,
                        "Not replicated (kept for the wire shape).",
                    ),
                ])
                .sudo()
                .help("Enable or disable an audit device.", ""),
            path("audit-hash/{path+}", Route::AuditHash)
                .root_namespace_only()
                .ops(WRITE)
                .fields(&[field("input", FieldKind::Str, "The value to hash.")])
                .help("The hash of a value as the audit device writes it.", ""),
            path("audit-chain/{path+}", Route::AuditChain)
                .root_namespace_only()
                .ops(&[Read])
                .help("The head of an audit device's hash chain.", ""),
            path("internal/ui/mounts/?", Route::UiMounts)
                .ops(&[Read])
                .class(PathClass::Unauthenticated)
                .help("The mounts the caller can use.", ""),
            path("internal/ui/mounts/{path+}", Route::UiMount)
                .ops(&[Read])
                .class(PathClass::Unauthenticated)
                .help(
                    "The mount that serves a path, if the caller can use it.",
                    "",
                ),
            path("mounts", Route::Mounts)
                .ops(&[Read])
                .help("List the mounted secrets engines.", ""),
            path("mounts/{path+}/tune", Route::MountTune)
                .ops(&[Read])
                .ops(WRITE)
                .fields(&[
                    field(
                        "default_lease_ttl",
                        FieldKind::Str,
                        "Default lease TTL (\"system\": the default).",
                    ),
                    field(
                        "max_lease_ttl",
                        FieldKind::Str,
                        "Maximum lease TTL (\"system\": the default).",
                    ),
                    field("description", FieldKind::Str, "Free text."),
                    field(
                        "options",
                        FieldKind::Map,
                        "Only the current kv version may be restated.",
                    ),
                ])
                .arbitrary_fields()
                .help(
                    "Tune the configuration of a secrets engine.",
                    "Options that are not applied are refused.",
                ),
            path("mounts/{path+}", Route::Mount)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&MOUNT_FIELDS)
                .help("Mount, read or unmount a secrets engine.", ""),
            path("locked-users", Route::LockedUsers)
                .ops(&[Read])
                .fields(&[field(
                    "mount_accessor",
                    FieldKind::Str,
                    "Only the names locked on this auth mount.",
                )])
                .help("List the names locked out of the auth mounts of this namespace.", ""),
            path(
                "locked-users/{mount_accessor}/unlock/{alias_identifier}",
                Route::Unlock,
            )
            .ops(WRITE)
            .help("Unlock a name locked out of an auth mount.", ""),
            path("identity/inactive", Route::InactiveIdentities)
                .ops(&[Read])
                .fields(&[field(
                    "days",
                    FieldKind::Int,
                    "Entities without a login in this many days (default 30).",
                )])
                .help("List the entities that have not logged in for a number of days.", ""),
            path("policies/password/?", Route::PasswordPolicies)
                .ops(&[List])
                .help("List the password policies.", ""),
            path("policies/password/{name}/generate", Route::PasswordGenerate)
                .ops(&[Read])
                .help("Generate a password from a password policy.", ""),
            path("policies/password/{name}", Route::PasswordPolicy)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&[field(
                    "policy",
                    FieldKind::Str,
                    "The policy (HCL: length and charset rules), or its base64.",
                )])
                .help("Read, write or delete a password policy.", ""),
            path("rotation/calendar", Route::RotationCalendar)
                .ops(&[Read])
                .fields(&[field(
                    "within",
                    FieldKind::Duration,
                    "The window: rotations due within it (default 30d), overdue ones too.",
                )])
                .help("List the secrets due to rotate, soonest first.", ""),
            path("metrics", Route::Metrics)
                .ops(&[Read])
                .fields(&[field(
                    "format",
                    FieldKind::Str,
                    "The exposition format: prometheus.",
                )])
                .root_namespace_only()
                .help("Read the server's metrics.", ""),
            path("rotation/presets", Route::RotationPresets)
                .ops(&[Read])
                .help("List the rotation presets and their cryptoperiods.", ""),
            path("leases/lookup", Route::LeaseLookup)
                .ops(WRITE)
                .fields(&[LEASE_ID])
                .help("Look up a lease's times.", ""),
            path("leases/lookup/?", Route::LeaseList)
                .ops(&[List])
                .sudo()
                .help("List lease ids below a prefix.", ""),
            path("leases/lookup/{path+}", Route::LeaseList)
                .ops(&[List])
                .sudo()
                .help("List lease ids below a prefix.", ""),
            path("leases/renew", Route::LeaseRenew)
                .ops(WRITE)
                .fields(&[LEASE_ID, INCREMENT])
                .help("Renew a lease.", ""),
            path("leases/renew/{path+}", Route::LeaseRenew)
                .ops(WRITE)
                .fields(&[LEASE_ID, INCREMENT])
                .help("Renew a lease.", ""),
            path("renew", Route::LeaseRenew)
                .ops(WRITE)
                .fields(&[LEASE_ID, INCREMENT])
                .help("Renew a lease (older path).", ""),
            path("renew/{path+}", Route::LeaseRenew)
                .ops(WRITE)
                .fields(&[LEASE_ID, INCREMENT])
                .help("Renew a lease (older path).", ""),
            path("leases/revoke", Route::LeaseRevoke)
                .ops(WRITE)
                .fields(&[LEASE_ID, SYNC])
                .help("Revoke a lease.", ""),
            path("leases/revoke/{path+}", Route::LeaseRevoke)
                .ops(WRITE)
                .fields(&[LEASE_ID, SYNC])
                .help("Revoke a lease.", ""),
            path("revoke/{path+}", Route::LeaseRevoke)
                .ops(WRITE)
                .fields(&[LEASE_ID, SYNC])
                .help("Revoke a lease (older path).", ""),
            path("leases/revoke-prefix/{path+}", Route::LeaseRevokePrefix)
                .ops(WRITE)
                .fields(&[SYNC])
                .sudo()
                .help("Revoke every lease below a prefix.", ""),
            path("revoke-prefix/{path+}", Route::LeaseRevokePrefix)
                .ops(WRITE)
                .fields(&[SYNC])
                .sudo()
                .help("Revoke every lease below a prefix (older path).", ""),
            path("leases/revoke-force/{path+}", Route::LeaseRevokeForce)
                .ops(WRITE)
                .sudo()
                .help("Remove every lease below a prefix, revoked or not.", ""),
            path("revoke-force/{path+}", Route::LeaseRevokeForce)
                .ops(WRITE)
                .sudo()
                .help("Remove every lease below a prefix (older path).", ""),
            path("leases/tidy", Route::LeaseTidy)
                .ops(WRITE)
                .help("Remove lease index entries that point at nothing.", ""),
            path("mfa/validate", Route::MfaValidate)
                .ops(WRITE)
                .fields(&[
                    field("mfa_request_id", FieldKind::Str, "The id a login answered with."),
                    field("mfa_payload", FieldKind::Map, "Passcodes by MFA method id."),
                ])
                .class(PathClass::Unauthenticated)
                .help("Complete a login that needs MFA.", ""),
            path("namespaces/?", Route::Namespaces)
                .ops(&[List])
                .help("List the namespaces below this one.", ""),
            path("namespaces/{path+}", Route::Namespace)
                .ops(&[Read, Delete, Operation::Patch])
                .ops(WRITE)
                .fields(&[
                    field("custom_metadata", FieldKind::Map, "Free key/value strings."),
                    field(
                        "max_secrets",
                        FieldKind::Int,
                        "Most KV secrets the namespace may store (0: no cap).",
                    ),
                ])
                .help(
                    "Create, read, update and delete namespaces.",
                    "Deleting a namespace destroys its key first: its data cannot be read again.",
                ),
            path("quotas/rate-limit/?", Route::RateLimitQuotas)
                .ops(&[List])
                .help("List the rate-limit quotas of this namespace.", ""),
            path("quotas/rate-limit/{name}", Route::RateLimitQuota)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&[
                    field(
                        "path",
                        FieldKind::Str,
                        "Namespace, mount or path inside a mount (\"\": this namespace).",
                    ),
                    field(
                        "rate",
                        FieldKind::Any,
                        "Requests allowed per interval (a positive number).",
                    ),
                    field(
                        "interval",
                        FieldKind::Duration,
                        "The interval (default 1s).",
                    ),
                    field(
                        "block_interval",
                        FieldKind::Duration,
                        "How long a client that overdraws is refused.",
                    ),
                    field(
                        "inheritable",
                        FieldKind::Bool,
                        "Namespace quotas only: applies to the namespaces below too.",
                    ),
                    field(
                        "role",
                        FieldKind::Str,
                        "Role-based quotas (not available: no auth method with roles).",
                    ),
                    field("type", FieldKind::Str, "Ignored (always rate-limit)."),
                ])
                .help(
                    "Create, read, update and delete a rate-limit quota.",
                    "A refused request gets 429 with Retry-After.",
                ),
            path("alerts/rules/?", Route::AlertRules)
                .ops(&[List])
                .help("List the alert rules of this namespace.", ""),
            path("alerts/rules/{name}", Route::AlertRule)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(ALERT_RULE_FIELDS)
                .help(
                    "Create, read, update and delete an alert rule.",
                    "A rule counts the events matching its condition in a sliding window and fires at its threshold.",
                ),
            path("alerts/channels/?", Route::AlertChannels)
                .ops(&[List])
                .help("List the alert channels of this namespace.", ""),
            path("alerts/channels/{name}", Route::AlertChannel)
                .ops(&[Read, Delete])
                .ops(WRITE)
                .fields(&[
                    field("type", FieldKind::Str, "webhook, slack or syslog."),
                    field("url", FieldKind::Str, "The webhook's URL (webhook, slack)."),
                    field("secret", FieldKind::Str, "The webhook's HMAC-SHA256 signing secret."),
                    field("address", FieldKind::Str, "host:port of the syslog collector."),
                    field("protocol", FieldKind::Str, "udp (default) or tcp (syslog)."),
                    field("facility", FieldKind::Int, "Syslog facility (default 13)."),
                    field("retries", FieldKind::Int, "Attempts after the first (default 5)."),
                    field("backoff", FieldKind::Any, "First wait between attempts (default 1s), doubled each time."),
                    field("timeout", FieldKind::Any, "Longest an attempt may take (default 10s)."),
                ])
                .help("Create, read, update and delete an alert channel.", ""),
            path("alerts/fired", Route::AlertsFired)
                .ops(&[Read])
                .help("The recent alerts of this namespace's rules and those below it.", ""),
            path("alerts/dead-letters", Route::AlertDeadLetters)
                .ops(&[Read])
                .help("Alerts a channel could not deliver after its retries.", ""),
            path("remount", Route::Remount)
                .ops(WRITE)
                .fields(&[
                    field("from", FieldKind::Str, "The path of the mount to move."),
                    field("to", FieldKind::Str, "Its new path."),
                ])
                .sudo()
                .help(
                    "Move the mount point of an already-mounted backend.",
                    "The data moves with the mount; policies naming the old path are not changed.",
                ),
            path("remount/status/{migration_id}", Route::RemountStatus)
                .ops(&[Read])
                .help("The outcome of a mount move.", ""),
            path("rotate", Route::Rotate)
                .root_namespace_only()
                .ops(WRITE)
                .sudo()
                .help("Rotates the barrier's encryption key.", ""),
            path("rotate/keyring", Route::Rotate)
                .root_namespace_only()
                .ops(WRITE)
                .sudo()
                .help("Rotates the barrier's encryption key.", ""),
            path("ha-status", Route::HaStatus)
                .root_namespace_only()
                .ops(&[Read])
                .help(
                    "The nodes sharing the storage: which is active, their addresses and last \
                     heartbeats.",
                    "",
                ),
            path("key-status", Route::KeyStatus)
                .root_namespace_only()
                .ops(&[Read])
                .help("The barrier key's term, install time and use count.", ""),
            path("tools/random", Route::Random)
                .changes_nothing()
                .ops(WRITE)
                .arbitrary_fields()
                .help("Generate random bytes.", ""),
            path("tools/random/{a}", Route::Random)
                .changes_nothing()
                .ops(WRITE)
                .arbitrary_fields()
                .help("Generate random bytes.", ""),
            path("tools/random/{a}/{b}", Route::Random)
                .changes_nothing()
                .ops(WRITE)
                .arbitrary_fields()
                .help("Generate random bytes.", ""),
            path("tools/hash", Route::Hash)
                .changes_nothing()
                .ops(WRITE)
                .arbitrary_fields()
                .help("Generate a hash sum for input data.", ""),
            path("tools/hash/{algorithm}", Route::Hash)
                .changes_nothing()
                .ops(WRITE)
                .arbitrary_fields()
                .help("Generate a hash sum for input data.", ""),
        ],
        )
        .reserve_sudo(&[
            "rotate/root",
            "config/cors",
            "config/auditing/*",
            "plugins/catalog/*",
            "raw",
            "raw/*",
            "leases",
            "leases/lookup/*",
            "leases/revoke-prefix/*",
            "leases/revoke-force/*",
            "revoke-prefix/*",
            "revoke-force/*",
            "seal",
            "step-down",
        ])
});

/// Serves a request the table matched; `req.path` is relative to `sys/`.
pub(super) async fn handle(
    scope: &Scope<'_>,
    req: &EngineRequest,
    caller: Option<&Authorized>,
) -> Result<Option<Response>> {
    let route = ROUTES.route(&req.matched).ok_or(Error::UnsupportedPath)?;
    // The unauthenticated paths take the caller as it is; every other one has a caller.
    match route {
        Route::UiMounts => return Ok(Some(mounts::ui_mounts_all(scope, caller).await)),
        Route::MfaValidate => return super::mfa::validate(scope, &req.data).await.map(Some),
        Route::UiMount => {
            return mounts::ui_mount(scope, req.param("path"), caller)
                .await
                .map(Some);
        }
        _ => {}
    }
    let auth = caller.ok_or(Error::PermissionDenied)?;
    let (op, data) = (req.operation, &req.data);
    let param = || req.param("path");
    match route {
        Route::AclPolicies => policies::list(scope, false).await.map(Some),
        Route::LegacyPolicies => policies::list(scope, true).await.map(Some),
        Route::AclPolicy => policies::policy(scope, req, auth, false).await,
        Route::LegacyPolicy => policies::policy(scope, req, auth, true).await,
        Route::Capabilities | Route::CapabilitiesSelf | Route::CapabilitiesAccessor => {
            policies::capabilities(scope, route, data, auth)
                .await
                .map(Some)
        }
        Route::AuthList => Ok(Some(mounts::list_mounts(scope, Kind::Auth).await)),
        Route::AuthTune => mounts::tune(scope, req, auth, Kind::Auth).await.map(Some),
        Route::AuthMount => mounts::mount_op(scope, req, auth, Kind::Auth)
            .await
            .map(Some),
        Route::AuditList => {
            let mut resp = Response::with_data(scope.unsealed.audit.list()).injected();
            if scope.unsealed.audit.is_empty() {
                resp.warnings.push(NO_AUDIT_WARNING.into());
            }
            Ok(Some(resp))
        }
        Route::AuditDevice => {
            let name = param();
            let canonical = format!("sys/audit/{}", name.trim_matches('/'));
            if canonical != format!("sys/{}", req.path) {
                auth.also_allows(op, &canonical)?;
            }
            audit_device_op(scope, name, op, data).await
        }
        Route::AuditHash => {
            let input = fields::opt_str(data, "input")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::invalid("the \"input\" parameter is required"))?;
            let mut d = Map::new();
            d.insert(
                "hash".into(),
                json!(scope.unsealed.audit.hash(param(), input)?),
            );
            Ok(Some(Response::with_data(d).injected()))
        }
        Route::AuditChain => Ok(scope.unsealed.audit.chain(param()).map(Response::with_data)),
        Route::UiMounts | Route::UiMount | Route::MfaValidate => Err(Error::UnsupportedPath),
        Route::Mounts => Ok(Some(mounts::list_mounts(scope, Kind::Secrets).await)),
        Route::MountTune => mounts::tune(scope, req, auth, Kind::Secrets)
            .await
            .map(Some),
        Route::Mount => mounts::mount_op(scope, req, auth, Kind::Secrets)
            .await
            .map(Some),
        Route::LockedUsers => locked_users::list(scope, data).await.map(Some),
        Route::PasswordPolicies => password_policies::list(scope).await,
        Route::PasswordPolicy => {
            password_policies::policy(scope, req.param("name"), op, data).await
        }
        Route::PasswordGenerate => password_policies::generate(scope, req.param("name")).await,
        Route::RotationCalendar => rotation::calendar(scope, data).await.map(Some),
        Route::RotationPresets => Ok(Some(rotation::presets())),
        Route::Metrics => super::metrics::read(scope, data).map(Some),
        Route::AlertRules => alerts::list(scope, alerts::Object::Rule).await,
        Route::AlertChannels => alerts::list(scope, alerts::Object::Channel).await,
        Route::AlertRule => {
            alerts::one(scope, alerts::Object::Rule, req.param("name"), op, data).await
        }
        Route::AlertChannel => {
            alerts::one(scope, alerts::Object::Channel, req.param("name"), op, data).await
        }
        Route::AlertsFired => alerts::fired(scope).map(Some),
        Route::AlertDeadLetters => alerts::dead_letters(scope).map(Some),
        Route::LeaseLookup => leases::lookup(scope, data).await.map(Some),
        Route::LeaseList => leases::list(scope, param()).await,
        Route::LeaseRenew => leases::renew(scope, param(), data).await.map(Some),
        Route::LeaseRevoke => leases::revoke(scope, param(), data).await.map(Some),
        Route::LeaseRevokePrefix => leases::revoke_prefix(scope, param(), false).await.map(Some),
        Route::LeaseRevokeForce => leases::revoke_prefix(scope, param(), true).await.map(Some),
        Route::LeaseTidy => leases::tidy(scope).await.map(Some),
        Route::InactiveIdentities => super::identity::inactive(scope, data).map(Some),
        Route::Unlock => locked_users::unlock(scope, req).await.map(Some),
        Route::Namespaces => Ok(namespaces::list(scope)),
        Route::Namespace => namespaces::namespace_op(scope, req).await,
        Route::RateLimitQuotas => Ok(quotas::list(scope)),
        Route::RateLimitQuota => quotas::rate_limit(scope, req).await,
        Route::Remount => remount::remount(scope, data).await.map(Some),
        Route::RemountStatus => Ok(remount::status(scope, req.param("migration_id"))),
        Route::Rotate => {
            scope.unsealed.barrier.rotate().await?;
            Ok(Some(Response::empty()))
        }
        Route::KeyStatus => Ok(Some(key_status(scope))),
        Route::HaStatus => ha_status(scope).await.map(Some),
        Route::Random => {
            let rest = req.path.strip_prefix("tools/random").unwrap_or("");
            crate::engines::transit_random(rest.trim_start_matches('/'), data).map(Some)
        }
        Route::Hash => crate::engines::transit_hash(req.param("algorithm"), data).map(Some),
    }
}

/// `sys/ha-status`: the nodes as Vault lists them (none without several nodes).
async fn ha_status(scope: &Scope<'_>) -> Result<Response> {
    let nodes = match &scope.unsealed.nodes {
        Some(directory) => directory.nodes().await?,
        None => Vec::new(),
    };
    let listed: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let echo = rfc3339_nanos(n.last_echo_unix.saturating_mul(1_000_000_000));
            json!({
                "hostname": n.node_id,
                "api_address": n.api_address,
                "cluster_address": "",
                "active_node": n.active,
                "last_echo": (!n.active).then_some(echo),
                "version": n.version,
            })
        })
        .collect();
    let mut data = Map::new();
    data.insert("nodes".into(), Value::Array(listed));
    Ok(Response::with_data(data).injected())
}

fn key_status(scope: &Scope<'_>) -> Response {
    let info = scope.unsealed.barrier.key_status();
    let mut data = Map::new();
    data.insert("term".into(), json!(info.term));
    data.insert(
        "install_time".into(),
        json!(rfc3339_nanos(info.install_time_unix_nanos)),
    );
    data.insert("encryptions".into(), json!(info.encryptions));
    Response::with_data(data).injected()
}

/// Said on `sys/audit` while no device is enabled.
const NO_AUDIT_WARNING: &str = "no audit device is enabled: requests are not audited (declare one with [[audit]] in the \
     server configuration)";

/// `sys/audit/:name`: enable (only when the config allows it) or disable a device.
async fn audit_device_op(
    scope: &Scope<'_>,
    name: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Option<Response>> {
    match op {
        Operation::Create | Operation::Update => {
            let kind = fields::opt_str(data, "type")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::invalid("missing audit device type"))?;
            let options = match data.get("options") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            let description = fields::opt_str(data, "description")?.unwrap_or("");
            scope
                .unsealed
                .audit
                .enable(name, kind, &options, description)
                .await?;
            Ok(Some(Response::empty()))
        }
        Operation::Delete => {
            scope.unsealed.audit.disable(name).await?;
            Ok(Some(Response::empty()))
        }
        _ => Err(Error::UnsupportedOperation),
    }
}
