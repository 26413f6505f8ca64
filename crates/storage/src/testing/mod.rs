//! Test support (feature `testing`; always compiled for this crate's own tests): the backend
//! conformance suite, and a backend that injects faults for the layers above.

mod conformance;
mod faulty;

pub use conformance::conformance;
pub use faulty::{FaultyBackend, Hold};
