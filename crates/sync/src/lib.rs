//! Concurrency helpers used by storage, the token and policy stores and the audit writers.
//! Generic: nothing here knows about coffre's data.
//!
//! - [`handoff`]: a queue that hands batches of work to one writer thread (group commit).
//! - [`CoherentCache`]: a bounded cache that lock-free readers fill and writers keep current,
//!   so no reader serves a value older than an acknowledged write.

mod coherent_cache;
pub mod handoff;

pub use coherent_cache::{CoherentCache, Ticket};
