//! The audit log's line format, shared by the server that writes it and by the offline tools
//! that check it (`coffre audit verify`, `coffre audit search`), so verifying a log needs this
//! small crate and not the core:
//!
//! - [`chain`]: hash-chained JSON lines, signed checkpoints, and the verifier.
//! - [`search`]: filters over log lines for incident response.
//! - [`export`]: a tenant's own entries, verifiable offline without anyone else's.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chain;
pub mod export;
pub mod search;
