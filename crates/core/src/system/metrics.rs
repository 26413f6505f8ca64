//! `sys/metrics`: the metrics of the event stream's metrics subscriber, in Prometheus's text
//! format (`format=prometheus`), as Vault serves them.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::events::metrics::Gauges;
use crate::fields;
use crate::request::{RawBody, Response};
use crate::system::Scope;

/// Prometheus's text exposition content type (the one Vault answers with).
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn read(scope: &Scope<'_>, data: &Map<String, Value>) -> Result<Response> {
    let format = fields::opt_str(data, "format")?.unwrap_or_default();
    if format != "prometheus" {
        // Vault's default is its in-memory JSON summary, which coffre does not keep.
        return Err(Error::invalid(format!(
            "metric response format \"{format}\" unknown: use format=prometheus"
        )));
    }
    let events = scope.unsealed.audit.events();
    let metrics = events
        .metrics()
        .ok_or_else(|| Error::invalid("prometheus is not enabled"))?;
    let dropped = events.dropped();
    let text = metrics.render(&Gauges {
        unsealed: true,
        active: scope.unsealed.is_active_node(),
        dropped: &dropped,
    });
    Ok(Response {
        raw: Some(RawBody {
            content_type: PROMETHEUS_TEXT,
            body: text,
        }),
        ..Response::default()
    })
}
