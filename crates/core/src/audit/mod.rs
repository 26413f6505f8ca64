//! The tamper-evident, fail-closed audit log.
//!
//! - [`chain`]: the line format (hash chain + signed checkpoints) and the offline verifier,
//!   from the `coffre-audit-format` crate (the offline tools need only that crate).
//! - `device`: file/stdout writers with group commit, rotation and retention.
//! - `broker`: renders entries, HMACs sensitive values, fans out, fails closed.
//! - [`search`]: filtering of log lines for incident response (same crate).

mod broker;
mod device;
mod hmac;

pub use coffre_audit_format::{chain, search};

pub(crate) use broker::{AuditBroker, AuditRecord, Audited, BackgroundAudit, BackgroundChange};
pub use device::{DeviceConfig, Sink};
