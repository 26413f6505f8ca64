//! The tamper-evident, fail-closed audit log.
//!
//! - [`chain`]: the line format (hash chain + signed checkpoints) and the offline verifier.
//! - `device`: file/stdout writers with group commit, rotation and retention.
//! - `broker`: renders entries, HMACs sensitive values, fans out, fails closed.
//! - [`search`]: filtering of log lines for incident response.

mod broker;
pub mod chain;
mod device;
mod hmac;
pub mod search;

pub(crate) use broker::{AuditBroker, AuditRecord, Audited, BackgroundAudit, BackgroundChange};
pub use device::{DeviceConfig, Sink};
