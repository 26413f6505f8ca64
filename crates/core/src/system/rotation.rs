//! `sys/rotation/calendar` and `sys/rotation/presets`: what is due to rotate in the namespace,
//! and the named cryptoperiods a policy may start from.
//!
//! The calendar reads the namespace's job due-index up to `now + within` (a rotation job wakes
//! no later than its object's due time: a KV v2 secret's or a transit key's; one retrying
//! after a failure wakes within the longest backoff), so its cost follows what is due in the
//! window, not the number of secrets under policy.

use serde_json::{Map, Value, json};

use super::Scope;
use crate::error::{Error, Result};
use crate::fields;
use crate::request::Response;
use crate::rotation::policy::{PRESETS, human_duration};

/// Entries one calendar read returns at most.
const CALENDAR_LIMIT: usize = 10_000;
const DEFAULT_WITHIN_SECS: u64 = 30 * 86_400;

/// `sys/rotation/calendar?within=30d`: every secret whose rotation is due within the window
/// (overdue ones included), soonest first.
pub(super) async fn calendar(scope: &Scope<'_>, data: &Map<String, Value>) -> Result<Response> {
    let within = fields::opt_duration_secs(data, "within")?.unwrap_or(DEFAULT_WITHIN_SECS);
    let within = i64::try_from(within).map_err(|_| Error::invalid("within: too long"))?;
    let now = scope.tenant.view.clock().now_unix_secs();
    let until = now.saturating_add(within);
    let jobs = &scope.tenant.jobs;
    let mut entries = Vec::new();
    // A job waiting out a retry backoff wakes after its due time, but within the longest
    // backoff from now: reading that far finds failing rotations even in a window of 0s.
    let scan_until = until.max(now.saturating_add(crate::jobs::MAX_BACKOFF_SECS));
    for id in jobs.due(scan_until, CALENDAR_LIMIT).await? {
        let Some(job) = jobs.get(&id).await? else {
            continue;
        };
        let Some(entry) = crate::engines::rotation_calendar_entry(scope, &job, now).await? else {
            continue;
        };
        let due = entry.get("due_unix").and_then(Value::as_i64).unwrap_or(0);
        if due <= until {
            entries.push((due, entry));
        }
    }
    entries.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1["path"].as_str().cmp(&b.1["path"].as_str()))
    });
    let mut out = Map::new();
    out.insert(
        "within".into(),
        json!(human_duration(within.unsigned_abs())),
    );
    out.insert(
        "entries".into(),
        Value::Array(entries.into_iter().map(|(_, e)| Value::Object(e)).collect()),
    );
    Ok(Response::with_data(out))
}

/// `sys/rotation/presets`: the named policies and their periods.
pub(super) fn presets() -> Response {
    let mut out = Map::new();
    for p in PRESETS {
        out.insert(
            p.name.into(),
            json!({
                "period": human_duration(p.period_days * 86_400),
                "notify_before": human_duration(p.notify_days * 86_400),
                "strategy": p.strategy.name(),
                "generator": p.generator,
                "description": p.what,
            }),
        );
    }
    let mut data = Map::new();
    data.insert("presets".into(), Value::Object(out));
    Response::with_data(data)
}
