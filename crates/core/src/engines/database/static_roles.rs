//! Static roles (`database/static-roles/:name`): an existing database user whose password coffre
//! owns and rotates, on a period, by hand (`rotate-role`), and — beyond Vault — in two phases.
//!
//! **Replace** (Vault's behaviour): the user gets a new password. **Two-phase** (the request of
//! openbao/openbao#284): the role has two users the application alternates between; the
//! inactive one gets the new password, is verified by logging in, then becomes current, while
//! the previous one keeps its password for `grace` and is then given a random one nobody
//! knows. At every instant one user the application was handed works.
//!
//! Every rotation is verified by logging in with the new password. One that does not log in is
//! undone (replace: the old password is set back) and reported as `rotation.failed`; the job
//! retries with backoff. The new password is written to storage as *pending* before the
//! database is changed, so a crash in between is resolved at the next run: if the pending
//! password logs in it becomes current, else it is dropped.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::Zeroize as _;

use super::config::{Pools, db_err, statements, statements_or};
use crate::barrier::View;
use crate::error::{Error, Result};
use crate::fields;
use crate::jobs::{self, JobTarget, Next};
use crate::mount::MountEntry;
use crate::request::Response;
use crate::rotation::{Event, announce, time};

const STATIC_PREFIX: &str = "static-role/";
const REPLACE: &str = "replace";
const TWO_PHASE: &str = "two-phase";
/// Vault's shortest `rotation_period`.
const MIN_PERIOD_SECS: u64 = 5;
const DEFAULT_GRACE_SECS: u64 = 3_600;
/// Vault's shortest `rotation_window`.
const MIN_WINDOW_SECS: u64 = 3_600;

/// The first time cron `schedule` (UTC) fires strictly after `after` (Unix seconds).
fn next_fire(schedule: &str, after: i64) -> Result<i64> {
    use std::str::FromStr as _;
    let invalid = |e: &dyn std::fmt::Display| Error::invalid(format!("rotation_schedule: {e}"));
    let cron = croner::Cron::from_str(schedule).map_err(|e| invalid(&e))?;
    let start =
        chrono::DateTime::from_timestamp(after, 0).ok_or_else(|| invalid(&"time out of range"))?;
    cron.find_next_occurrence(&start, false)
        .map(|t| t.timestamp())
        .map_err(|e| invalid(&e))
}

/// A user whose password is on its way in (see the module documentation).
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Pending {
    username: String,
    password: String,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// Two-phase: the user that was current before the last rotation, valid until `until`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Previous {
    username: String,
    until: i64,
}

/// A stored static role and its state. (Members have their own `serde(default)`: a container
/// default would move fields out of a value that zeroizes its password on drop.)
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct StaticRole {
    #[serde(default)]
    db_name: String,
    #[serde(default)]
    username: String,
    /// Two-phase: the second user.
    #[serde(default)]
    secondary_username: String,
    #[serde(default)]
    rotation_period: u64,
    /// A cron schedule (UTC) instead of a period.
    #[serde(default)]
    rotation_schedule: String,
    /// With a schedule: seconds after each time in which the rotation may happen.
    #[serde(default)]
    rotation_window: u64,
    #[serde(default)]
    rotation_statements: Vec<String>,
    #[serde(default)]
    strategy: String,
    #[serde(default)]
    grace: u64,
    /// Two-phase: whether the secondary user is the current one.
    #[serde(default)]
    secondary_active: bool,
    /// The current user's password.
    #[serde(default)]
    password: String,
    /// Unix seconds of the last successful rotation.
    #[serde(default)]
    last_rotation: i64,
    #[serde(default)]
    previous: Option<Previous>,
    #[serde(default)]
    pending: Option<Pending>,
}

impl Drop for StaticRole {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

impl StaticRole {
    fn two_phase(&self) -> bool {
        self.strategy == TWO_PHASE
    }

    /// The user the application is handed now.
    fn current_user(&self) -> &str {
        if self.secondary_active {
            &self.secondary_username
        } else {
            &self.username
        }
    }

    /// The user the next rotation sets a password on.
    fn target_user(&self) -> &str {
        match (self.two_phase(), self.secondary_active) {
            (false, _) => &self.username,
            (true, false) => &self.secondary_username,
            (true, true) => &self.username,
        }
    }

    /// When the next rotation is due at `now`: a period after the last one, or the schedule's
    /// next time after it; with a `rotation_window`, a time whose window has passed unused is
    /// skipped for the next one (as in Vault).
    fn due(&self, now: i64) -> i64 {
        if self.rotation_schedule.is_empty() {
            return self
                .last_rotation
                .saturating_add(i64::try_from(self.rotation_period).unwrap_or(i64::MAX));
        }
        let Ok(next) = next_fire(&self.rotation_schedule, self.last_rotation) else {
            return i64::MAX;
        };
        let window = i64::try_from(self.rotation_window).unwrap_or(i64::MAX);
        if self.rotation_window > 0 && now > next.saturating_add(window) {
            return next_fire(&self.rotation_schedule, now).unwrap_or(i64::MAX);
        }
        next
    }

    /// When the job looks at the role next: its due time, or the end of a grace if sooner.
    fn wake(&self, now: i64) -> i64 {
        match &self.previous {
            Some(p) => p.until.min(self.due(now)),
            None => self.due(now),
        }
    }

    fn read_view(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("db_name".into(), json!(self.db_name));
        out.insert("username".into(), json!(self.username));
        if self.rotation_schedule.is_empty() {
            out.insert("rotation_period".into(), json!(self.rotation_period));
        } else {
            out.insert("rotation_schedule".into(), json!(self.rotation_schedule));
            if self.rotation_window > 0 {
                out.insert("rotation_window".into(), json!(self.rotation_window));
            }
        }
        out.insert(
            "rotation_statements".into(),
            json!(self.rotation_statements),
        );
        out.insert("credential_type".into(), json!("password"));
        out.insert("last_vault_rotation".into(), time(self.last_rotation));
        if self.two_phase() {
            out.insert("strategy".into(), json!(TWO_PHASE));
            out.insert("secondary_username".into(), json!(self.secondary_username));
            out.insert("grace".into(), json!(self.grace));
            out.insert("current_username".into(), json!(self.current_user()));
        }
        out
    }
}

/// Names the engine accepts for existing users: letters, digits and `_ - . @` (they are put
/// into statements unquoted by anything but the statement's own quotes).
fn check_username(field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field}: \"{name}\" is not a user name coffre takes (letters, digits and _ - . @)"
        )))
    }
}

/// What a static role's operations need from the engine.
pub(super) struct Ctx<'a> {
    pub(super) view: &'a View,
    pub(super) pools: &'a Pools,
    pub(super) mount: &'a MountEntry,
    pub(super) services: &'a crate::rotation::Services,
    /// Serializes the rotations of the mount's static roles.
    pub(super) lock: &'a tokio::sync::Mutex<()>,
    pub(super) now: i64,
}

impl Ctx<'_> {
    fn path(&self, name: &str) -> String {
        format!("{}static-roles/{name}", self.mount.path)
    }
}

async fn load(view: &View, name: &str) -> Result<Option<StaticRole>> {
    view.get_json(&format!("{STATIC_PREFIX}{name}"), "static role")
        .await
}

async fn save(view: &View, name: &str, role: &StaticRole) -> Result<()> {
    view.put_json(&format!("{STATIC_PREFIX}{name}"), role).await
}

/// The job id of static role `name` in the mount with this uuid.
fn job_id(mount_uuid: &str, name: &str) -> String {
    crate::jobs::object_job_id("dbs", mount_uuid, name)
}

async fn schedule(ctx: &Ctx<'_>, name: &str, role: &StaticRole) -> Result<()> {
    let target = JobTarget {
        mount: ctx.mount.uuid.clone(),
        key: name.to_string(),
    };
    ctx.services
        .jobs
        .schedule(
            &job_id(&ctx.mount.uuid, name),
            jobs::DB_STATIC_ROTATION,
            target,
            role.wake(ctx.now),
            role.due(ctx.now),
        )
        .await
}

/// `POST database/static-roles/:name`: creates the role (and rotates its password at once,
/// as Vault does: coffre must own the password) or changes its settings.
pub(super) async fn write(
    ctx: &Ctx<'_>,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let _guard = ctx.lock.lock().await;
    let existing = load(ctx.view, name).await?;
    let is_new = existing.is_none();
    let mut role = existing.unwrap_or_default();
    if let Some(db) = fields::opt_str(data, "db_name")? {
        role.db_name = db.to_string();
    }
    if role.db_name.is_empty() {
        return Err(Error::invalid("db_name: required"));
    }
    let config = super::config::load(ctx.view, &role.db_name)
        .await?
        .ok_or_else(|| {
            Error::invalid(format!(
                "db_name: no database config named \"{}\"",
                role.db_name
            ))
        })?;
    if !config.allows(name) {
        return Err(Error::invalid(format!(
            "\"{name}\" is not an allowed role for database config \"{}\"",
            role.db_name
        )));
    }
    if let Some(u) = fields::opt_str(data, "username")? {
        if !is_new && u != role.username {
            return Err(Error::invalid(
                "username: cannot be changed on an existing role",
            ));
        }
        role.username = u.to_string();
    }
    check_username("username", &role.username)?;
    if let Some(s) = fields::opt_str(data, "strategy")? {
        if !matches!(s, REPLACE | TWO_PHASE) {
            return Err(Error::invalid(format!(
                "strategy: unknown strategy \"{s}\" (replace or two-phase)"
            )));
        }
        if !is_new && s != role.strategy && !(role.strategy.is_empty() && s == REPLACE) {
            return Err(Error::invalid(
                "strategy: cannot be changed on an existing role",
            ));
        }
        role.strategy = s.to_string();
    }
    if role.strategy.is_empty() {
        role.strategy = REPLACE.into();
    }
    if let Some(u) = fields::opt_str(data, "secondary_username")? {
        if !is_new && u != role.secondary_username {
            return Err(Error::invalid(
                "secondary_username: cannot be changed on an existing role",
            ));
        }
        role.secondary_username = u.to_string();
    }
    if role.two_phase() {
        check_username("secondary_username", &role.secondary_username)?;
        if role.secondary_username == role.username {
            return Err(Error::invalid(
                "secondary_username: two-phase needs two different users",
            ));
        }
    } else if !role.secondary_username.is_empty() {
        return Err(Error::invalid(
            "secondary_username: only the two-phase strategy uses a second user",
        ));
    }
    if let Some(policy) = data.get("rotation").filter(|v| !v.is_null()) {
        let parsed = crate::rotation::policy::RotationPolicy::from_json(policy)?
            .ok_or_else(|| Error::invalid("rotation: a preset's name or {\"period\": …}"))?;
        role.rotation_period = parsed.period;
    }
    if let Some(p) = fields::opt_duration_secs(data, "rotation_period")? {
        role.rotation_period = p;
    }
    if let Some(schedule) = fields::opt_str(data, "rotation_schedule")? {
        if !schedule.is_empty() {
            next_fire(schedule, ctx.now)?;
            role.rotation_period = 0;
        }
        role.rotation_schedule = schedule.to_string();
    }
    if let Some(w) = fields::opt_duration_secs(data, "rotation_window")? {
        role.rotation_window = w;
    }
    let scheduled = !role.rotation_schedule.is_empty();
    if scheduled && data.contains_key("rotation_period") {
        return Err(Error::invalid(
            "rotation_period: give rotation_period or rotation_schedule, not both",
        ));
    }
    if !scheduled && role.rotation_period < MIN_PERIOD_SECS {
        return Err(Error::invalid(format!(
            "rotation_period: must be at least {MIN_PERIOD_SECS}s (or give rotation_schedule)"
        )));
    }
    if role.rotation_window > 0 && !scheduled {
        return Err(Error::invalid(
            "rotation_window: only applies with rotation_schedule",
        ));
    }
    if role.rotation_window > 0 && role.rotation_window < MIN_WINDOW_SECS {
        return Err(Error::invalid(format!(
            "rotation_window: must be at least {MIN_WINDOW_SECS}s"
        )));
    }
    if let Some(g) = fields::opt_duration_secs(data, "grace")? {
        role.grace = g;
    }
    if role.two_phase() {
        if role.grace == 0 {
            role.grace = if scheduled {
                DEFAULT_GRACE_SECS
            } else {
                DEFAULT_GRACE_SECS.min(role.rotation_period / 2)
            };
        }
        if !scheduled && role.grace >= role.rotation_period {
            return Err(Error::invalid(
                "grace: must be shorter than rotation_period (the previous user must be retired \
                 before the next rotation)",
            ));
        }
    } else if role.grace > 0 {
        return Err(Error::invalid(
            "grace: only the two-phase strategy has a grace",
        ));
    }
    if let Some(s) = statements(data, "rotation_statements")? {
        role.rotation_statements = s;
    }
    if is_new {
        // The first rotation proves coffre can set the password; nothing is stored if not.
        rotate(ctx, name, &mut role, false).await?;
    }
    schedule(ctx, name, &role).await?;
    save(ctx.view, name, &role).await?;
    Ok(Response::empty())
}

pub(super) async fn read(view: &View, name: &str) -> Result<Option<Response>> {
    Ok(load(view, name)
        .await?
        .map(|r| Response::with_data(r.read_view())))
}

/// Deletes the role (the database user stays, with its last password, as in Vault).
pub(super) async fn delete(view: &View, name: &str) -> Result<Response> {
    view.delete(&format!("{STATIC_PREFIX}{name}")).await?;
    Ok(Response::empty())
}

pub(super) async fn list(view: &View) -> Result<Option<Response>> {
    Ok(Response::keys(view.list(STATIC_PREFIX).await?))
}

/// `GET database/static-creds/:name`: the current user and password.
pub(super) async fn creds(view: &View, name: &str, now: i64) -> Result<Option<Response>> {
    let Some(role) = load(view, name).await? else {
        return Err(Error::invalid(format!("unknown role: {name}")));
    };
    let mut out = Map::new();
    out.insert("username".into(), json!(role.current_user()));
    out.insert("password".into(), json!(role.password));
    out.insert("last_vault_rotation".into(), time(role.last_rotation));
    if role.rotation_schedule.is_empty() {
        out.insert("rotation_period".into(), json!(role.rotation_period));
    } else {
        out.insert("rotation_schedule".into(), json!(role.rotation_schedule));
        if role.rotation_window > 0 {
            out.insert("rotation_window".into(), json!(role.rotation_window));
        }
    }
    out.insert(
        "ttl".into(),
        json!(u64::try_from(role.due(now) - now).unwrap_or(0)),
    );
    if let Some(p) = &role.previous {
        out.insert("previous_username".into(), json!(p.username));
        out.insert("previous_valid_until".into(), time(p.until));
    }
    Ok(Some(Response::with_data(out)))
}

/// `POST database/rotate-role/:name`: rotates now.
pub(super) async fn rotate_role(ctx: &Ctx<'_>, name: &str) -> Result<Response> {
    let _guard = ctx.lock.lock().await;
    let mut role = load(ctx.view, name)
        .await?
        .ok_or_else(|| Error::invalid(format!("no static role named \"{name}\"")))?;
    if let Some(p) = role.previous.as_ref().filter(|p| p.until > ctx.now) {
        return Err(Error::invalid(format!(
            "{} is still in its grace period until {}: rotating now would change the password \
             of a user the application may hold",
            p.username,
            time(p.until)
        )));
    }
    rotate(ctx, name, &mut role, true).await?;
    schedule(ctx, name, &role).await?;
    Ok(Response::empty())
}

/// What the job does: retires a previous user whose grace is over, rotates when due.
pub(super) async fn advance(ctx: &Ctx<'_>, name: &str) -> Result<Next> {
    let _guard = ctx.lock.lock().await;
    let Some(mut role) = load(ctx.view, name).await? else {
        return Ok(Next::Remove);
    };
    if role.previous.as_ref().is_some_and(|p| p.until <= ctx.now) {
        retire_previous(ctx, name, &mut role).await?;
    }
    // A two-phase rotation waits for the previous user's retirement (a schedule can fire
    // within a grace): the target would be the user the application may still hold.
    if role.due(ctx.now) <= ctx.now && role.previous.is_none() {
        rotate(ctx, name, &mut role, true).await?;
    }
    Ok(Next::At {
        wake: role.wake(ctx.now),
        due: role.due(ctx.now),
    })
}

/// Gives the previous user of a two-phase role a random password nobody is told.
async fn retire_previous(ctx: &Ctx<'_>, name: &str, role: &mut StaticRole) -> Result<()> {
    let Some(previous) = role.previous.clone() else {
        return Ok(());
    };
    let (conn, config) = ctx.pools.get(ctx.view, &role.db_name).await?;
    let stmts = rotation_statements(role, config.kind()?);
    let scrambled = ctx.services.password(None).await?;
    let vars = coffre_dbplugin::Vars {
        name: &previous.username,
        password: Some(&scrambled),
        expiration: None,
    };
    conn.execute(&stmts, &vars)
        .await
        .map_err(|e| db_err("error retiring the previous user", e))?;
    role.previous = None;
    save(ctx.view, name, role).await
}

fn rotation_statements(role: &StaticRole, kind: coffre_dbplugin::Kind) -> Vec<String> {
    statements_or(&role.rotation_statements, kind.default_rotation())
}

/// One rotation (see the module documentation). `stored`: the role exists in storage (the
/// pending password is written there first); a new role is only stored once this succeeds.
async fn rotate(ctx: &Ctx<'_>, name: &str, role: &mut StaticRole, stored: bool) -> Result<()> {
    let (conn, config) = ctx.pools.get(ctx.view, &role.db_name).await?;
    let kind = config.kind()?;
    let connection = config.connection_config()?;
    if let Some(pending) = role.pending.take() {
        // A rotation was cut off: the database has the pending password if it logs in.
        if coffre_dbplugin::try_login(&connection, &pending.username, &pending.password)
            .await
            .is_ok()
        {
            commit(ctx, role, &pending);
            save(ctx.view, name, role).await?;
            return Ok(());
        }
    }
    let target = role.target_user().to_string();
    let password = ctx
        .services
        .password(Some(config.password_policy.as_str()))
        .await?;
    let pending = Pending {
        username: target.clone(),
        password: password.to_string(),
    };
    if stored {
        role.pending = Some(pending.clone());
        save(ctx.view, name, role).await?;
        role.pending = None;
    }
    let stmts = rotation_statements(role, kind);
    let vars = coffre_dbplugin::Vars {
        name: &target,
        password: Some(&password),
        expiration: None,
    };
    let outcome = match conn.execute(&stmts, &vars).await {
        Err(e) => Err(db_err("error setting the new password", e)),
        Ok(()) => coffre_dbplugin::try_login(&connection, &target, &password)
            .await
            .map_err(|e| Error::invalid(format!("the new password does not log in: {e}"))),
    };
    match outcome {
        Ok(()) => {
            commit(ctx, role, &pending);
            if stored {
                save(ctx.view, name, role).await?;
            }
            let mut event = Map::new();
            event.insert("username".into(), json!(target));
            event.insert("strategy".into(), json!(role.strategy));
            announce(
                &ctx.services.audit,
                Event::Rotated,
                &ctx.path(name),
                Some(ctx.mount),
                event,
            )
            .await;
            Ok(())
        }
        Err(e) => {
            // Replace: the current user's password may have changed: set the old one back.
            // Two-phase: the target was not the current user, so nothing is to restore.
            if !role.two_phase() && !role.password.is_empty() {
                restore_password(&conn, &connection, kind, &stmts, &target, &role.password).await;
            }
            if stored {
                save(ctx.view, name, role).await?;
            }
            let mut event = Map::new();
            event.insert("username".into(), json!(target));
            event.insert("error".into(), json!(e.public_message()));
            announce(
                &ctx.services.audit,
                Event::Failed,
                &ctx.path(name),
                Some(ctx.mount),
                event,
            )
            .await;
            Err(Error::invalid(format!(
                "rotation of {} failed, the current password is unchanged: {}",
                ctx.path(name),
                e.public_message()
            )))
        }
    }
}

/// Sets `password` back on `user` after a failed rotation: with the role's statements, and
/// when the old password still does not log in after them (the statements are what went
/// wrong, e.g. they set a fixed password), with the plugin's default statement.
async fn restore_password(
    conn: &coffre_dbplugin::Connection,
    connection: &coffre_dbplugin::ConnectionConfig,
    kind: coffre_dbplugin::Kind,
    stmts: &[String],
    user: &str,
    password: &str,
) {
    let vars = coffre_dbplugin::Vars {
        name: user,
        password: Some(password),
        expiration: None,
    };
    let logs_in = || coffre_dbplugin::try_login(connection, user, password);
    if conn.execute(stmts, &vars).await.is_ok() && logs_in().await.is_ok() {
        return;
    }
    let defaults: Vec<String> = kind
        .default_rotation()
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    match conn.execute(&defaults, &vars).await {
        Ok(()) if logs_in().await.is_ok() => {}
        Ok(()) => tracing::warn!(
            user,
            "a static role's old password does not log in after it was set back"
        ),
        Err(undo) => {
            tracing::warn!(error = %undo, user, "could not set a static role's old password back")
        }
    }
}

/// Makes `pending` the current credentials.
fn commit(ctx: &Ctx<'_>, role: &mut StaticRole, pending: &Pending) {
    if role.two_phase() {
        // The first rotation of a role has no previous user: nobody was handed one yet.
        if !role.password.is_empty() {
            role.previous = Some(Previous {
                username: role.current_user().to_string(),
                until: ctx
                    .now
                    .saturating_add(i64::try_from(role.grace).unwrap_or(i64::MAX)),
            });
        }
        role.secondary_active = pending.username == role.secondary_username;
    }
    role.password.clone_from(&pending.password);
    role.last_rotation = ctx.now;
    role.pending = None;
}

/// The rotation calendar's entry for static role `job.target.key` of `route`.
pub(super) async fn calendar_entry(
    route: &crate::mount::Route,
    job: &crate::jobs::JobRecord,
    now: i64,
) -> Result<Option<Map<String, Value>>> {
    let Some(role) = load(&route.view, &job.target.key).await? else {
        return Ok(None);
    };
    let entry = crate::rotation::CalendarEntry {
        path: format!("{}static-roles/{}", route.entry.path, job.target.key),
        mount: &route.entry,
        job,
        due: role.due(now),
        since: role.last_rotation,
        last_rotated: role.last_rotation,
        rotations: None,
        strategy: &role.strategy,
    };
    Ok(Some(entry.into_map(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2027-01-15 08:00:00 UTC.
    const T: i64 = 1_800_000_000;
    const NEXT_MIDNIGHT: i64 = 1_800_057_600;

    #[test]
    fn a_schedule_fires_at_its_next_time_and_a_missed_window_waits_for_the_next() {
        assert_eq!(next_fire("0 0 * * *", T).expect("cron"), NEXT_MIDNIGHT);
        let mut role = StaticRole::default();
        role.rotation_schedule = "0 0 * * *".into();
        role.rotation_window = 3_600;
        role.last_rotation = T;
        assert_eq!(role.due(T), NEXT_MIDNIGHT);
        assert_eq!(
            role.due(NEXT_MIDNIGHT + 100),
            NEXT_MIDNIGHT,
            "inside the window"
        );
        assert_eq!(
            role.due(NEXT_MIDNIGHT + 7_200),
            NEXT_MIDNIGHT + 86_400,
            "the window passed unused: the next day's time"
        );
        role.rotation_window = 0;
        assert_eq!(
            role.due(NEXT_MIDNIGHT + 7_200),
            NEXT_MIDNIGHT,
            "no window: catch up"
        );
        let mut periodic = StaticRole::default();
        periodic.rotation_period = 60;
        periodic.last_rotation = T;
        assert_eq!(periodic.due(T), T + 60);
    }

    #[test]
    fn bad_schedules_are_refused_with_the_field() {
        for bad in ["", "61 * * * *", "nonsense"] {
            let err = next_fire(bad, T).expect_err(bad);
            assert!(err.to_string().starts_with("rotation_schedule:"), "{err}");
        }
    }

    #[test]
    fn user_names_are_checked() {
        assert!(check_username("username", "app_user-1.x@host").is_ok());
        for bad in ["", "a b", "x'; DROP", "q\"uote"] {
            assert!(check_username("username", bad).is_err(), "{bad}");
        }
    }
}
