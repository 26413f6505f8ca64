//! `sys/leases/…` (and the older `sys/renew`, `sys/revoke`, `sys/revoke-prefix`): looking up,
//! listing, renewing and revoking the namespace's leases, as Vault serves them.

use serde_json::{Map, Value, json};

use super::Scope;
use crate::error::{Error, Result};
use crate::fields;
use crate::leases::{self, Lease};
use crate::request::Response;
use crate::rotation::time;

fn now(scope: &Scope<'_>) -> i64 {
    scope.tenant.view.clock().now_unix_secs()
}

/// The lease id of a request: the path's rest (`sys/leases/revoke/<id>`), else `lease_id` in
/// the body (or `url_lease_id`, as some clients send it).
pub(super) fn lease_id<'a>(param: &'a str, data: &'a Map<String, Value>) -> Result<&'a str> {
    let from_path = param.trim_matches('/');
    if !from_path.is_empty() {
        return Ok(from_path);
    }
    fields::opt_str(data, "lease_id")?
        .or(fields::opt_str(data, "url_lease_id")?)
        .map(|s| s.trim_matches('/'))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("missing lease ID"))
}

/// `PUT sys/leases/lookup`: a lease's times.
pub(super) async fn lookup(scope: &Scope<'_>, data: &Map<String, Value>) -> Result<Response> {
    let id = lease_id("", data)?;
    let lease = scope
        .tenant
        .leases
        .get(id)
        .await?
        .ok_or_else(|| Error::invalid("invalid lease"))?;
    Ok(Response::with_data(describe(&lease, now(scope))))
}

fn describe(lease: &Lease, now: i64) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("id".into(), json!(lease.id));
    let path = lease.id.rsplit_once('/').map_or("", |(p, _)| p);
    d.insert("path".into(), json!(path));
    d.insert("issue_time".into(), time(lease.issue_time));
    d.insert("expire_time".into(), time(lease.expire_time));
    d.insert("last_renewal".into(), time(lease.last_renewal));
    d.insert(
        "renewable".into(),
        json!(lease.renewable && !lease.irrevocable),
    );
    d.insert(
        "ttl".into(),
        json!(u64::try_from(lease.expire_time - now).unwrap_or(0)),
    );
    if lease.irrevocable {
        d.insert("irrevocable".into(), json!(true));
        d.insert("last_error".into(), json!(lease.last_error));
    }
    d
}

/// `LIST sys/leases/lookup/<prefix>`: one level of lease ids.
pub(super) async fn list(scope: &Scope<'_>, prefix: &str) -> Result<Option<Response>> {
    let prefix = match prefix.trim_matches('/') {
        "" => String::new(),
        p => format!("{p}/"),
    };
    Ok(Response::keys(scope.tenant.leases.list(&prefix).await?))
}

/// `PUT sys/leases/renew` (and `sys/renew/<id>`).
pub(super) async fn renew(
    scope: &Scope<'_>,
    param: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let id = lease_id(param, data)?;
    let increment = fields::opt_duration_secs(data, "increment")?;
    let renewed = leases::renew(scope, id, increment, now(scope)).await?;
    let mut resp = Response::empty();
    resp.lease_id = renewed.lease.id;
    resp.lease_duration = renewed.duration;
    resp.renewable = true;
    resp.warnings = renewed.warnings;
    Ok(resp)
}

/// `PUT sys/leases/revoke` (and `sys/revoke/<id>`): revokes one lease. A lease that does not
/// exist is no error, as in Vault.
pub(super) async fn revoke(
    scope: &Scope<'_>,
    param: &str,
    data: &Map<String, Value>,
) -> Result<Response> {
    let id = lease_id(param, data)?;
    leases::revoke(scope, id, false, now(scope)).await?;
    Ok(Response::empty())
}

/// `PUT sys/leases/revoke-prefix/<prefix>` and `revoke-force/<prefix>` (both sudo).
pub(super) async fn revoke_prefix(
    scope: &Scope<'_>,
    prefix: &str,
    force: bool,
) -> Result<Response> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Err(Error::invalid("missing prefix"));
    }
    leases::revoke_prefix(scope, &format!("{prefix}/"), force, now(scope)).await?;
    Ok(Response::empty())
}

/// `PUT sys/leases/tidy`: removes index entries that point at no lease (a lease and its
/// entries commit together, so only damaged storage leaves them), and says how many.
pub(super) async fn tidy(scope: &Scope<'_>) -> Result<Response> {
    let removed = scope.tenant.leases.tidy().await?;
    let mut resp = Response::empty();
    resp.status = Some(202);
    resp.warnings.push(format!(
        "Tidy operation successfully started; it removed {removed} stale index entries."
    ));
    Ok(resp)
}
