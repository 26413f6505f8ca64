//! Secrets engines. Every engine implements [`Engine`]; the pipeline has already authenticated,
//! authorized and (later) audited the request before an engine sees it, and an engine can only
//! reach its own storage [`View`].

mod kv_v1;
mod kv_v2;
pub(crate) mod mount_state;
pub(crate) mod transit;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::barrier::View;
use crate::error::{Error, Result};
use crate::mount::MountEntry;
use crate::request::{Operation, Response};

/// What an engine receives: the request relative to its mount, and nothing about HTTP or the
/// caller's token. `Debug` shows no data: it carries plaintexts and secret values.
pub struct EngineRequest {
    /// The settled operation (`Create`/`Update` already decided).
    pub operation: Operation,
    /// Path relative to the mount (no leading slash).
    pub path: String,
    /// Request fields.
    pub data: Map<String, Value>,
    /// The mount's storage, and only that.
    pub view: View,
    /// The mount's configuration.
    pub mount: Arc<MountEntry>,
}

impl std::fmt::Debug for EngineRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineRequest")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data_keys", &self.data.len())
            .field("mount", &self.mount.path)
            .finish_non_exhaustive()
    }
}

/// A secrets engine mounted at one or more paths.
#[async_trait]
pub trait Engine: Send + Sync {
    /// For writes: whether the object at the path exists, so the pipeline can tell `create`
    /// from `update` before the ACL check. `None` means the route has no existence check and
    /// writes count as `update`.
    async fn exists(&self, req: &EngineRequest) -> Result<Option<bool>> {
        let _ = req;
        Ok(None)
    }

    /// Handles the request. `Ok(None)` on a read or list means "nothing there" (404).
    async fn handle(&self, req: EngineRequest) -> Result<Option<Response>>;
}

/// Engine types that `sys/mounts` accepts.
pub const MOUNTABLE_TYPES: &[&str] = &["kv", "kv-v1", "kv-v2", "transit"];

/// Checks and normalizes the type and options of a new mount (aliases like `kv-v1` resolve here).
pub fn normalize_type(
    kind: &str,
    options: &mut std::collections::BTreeMap<String, String>,
) -> Result<String> {
    match kind {
        "kv" | "kv-v1" => {
            let version = options.get("version").map(String::as_str).unwrap_or("1");
            match version {
                "" | "1" => {
                    options.insert("version".into(), "1".into());
                    Ok("kv".into())
                }
                "2" => {
                    options.insert("version".into(), "2".into());
                    Ok("kv".into())
                }
                other => Err(Error::invalid(format!("invalid kv version \"{other}\""))),
            }
        }
        "transit" => Ok("transit".into()),
        // Vault's alias: a kv mount of version 2 (listed as type "kv").
        "kv-v2" => match options.get("version").map(String::as_str) {
            None | Some("" | "2") => {
                options.insert("version".into(), "2".into());
                Ok("kv".into())
            }
            Some(other) => Err(Error::invalid(format!(
                "kv-v2 mounts are version 2, not \"{other}\""
            ))),
        },
        "system" | "token" | "cubbyhole" | "identity" => Err(Error::invalid(format!(
            "cannot mount \"{kind}\" of type \"{kind}\""
        ))),
        other => Err(Error::invalid(format!(
            "plugin not found in the catalog: {other}"
        ))),
    }
}

/// `sys/tools/random[/:bytes]`, served by the same code as transit's `random`.
pub(crate) fn transit_random(rest: &str, data: &Map<String, Value>) -> Result<Response> {
    transit::random_response(rest, data)
}

/// `sys/tools/hash[/:algorithm]`, served by the same code as transit's `hash`.
pub(crate) fn transit_hash(rest: &str, data: &Map<String, Value>) -> Result<Response> {
    transit::hash_response(Some(rest), data)
}

/// What an engine instance is built with, besides its mount entry.
pub(crate) struct EngineContext<'a> {
    /// The mount's storage (and through it the clock).
    pub(crate) view: &'a View,
    /// Where background changes (auto-rotation) are audited.
    pub(crate) background: &'a crate::audit::BackgroundAudit,
    /// The per-mount state shared by the mount's instances.
    pub(crate) states: &'a mount_state::MountStates,
}

/// Creates the engine for a mount entry.
pub(crate) fn instantiate(entry: &MountEntry, ctx: &EngineContext<'_>) -> Result<Arc<dyn Engine>> {
    match entry.kind.as_str() {
        "kv" if entry.options.get("version").map(String::as_str) == Some("2") => {
            Ok(Arc::new(kv_v2::KvV2::new(&entry.uuid, ctx.states)))
        }
        "kv" => Ok(Arc::new(kv_v1::KvV1)),
        "transit" => Ok(Arc::new(transit::Transit::new(entry, ctx))),
        other => Err(Error::Internal(format!(
            "mount {} has unknown engine type {other}",
            entry.path
        ))),
    }
}
