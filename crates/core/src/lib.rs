//! coffre's core: the seal, the barrier, the mount table and the one request pipeline that
//! every logical request goes through. Nothing here knows about HTTP.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alerts;
pub mod audit;
mod auth;
mod barrier;
pub mod clock;
mod cluster;
mod core;
mod engines;
mod error;
pub mod events;
pub mod fields;
mod generate;
mod identity;
mod jobs;
mod leases;
mod mfa;
mod mount;
mod namespace;
mod pipeline;
pub mod policy;
mod policy_store;
mod quota;
mod request;
mod rotation;
mod route;
mod seal;
mod system;
mod token;

pub use crate::audit::{DeviceConfig as AuditDeviceConfig, Sink as AuditSink};
pub use crate::auth::{AUTH_TYPES, LockoutConfig};
pub use crate::barrier::{Barrier, DEFAULT_MAX_ENCRYPTIONS_PER_TERM, View};
pub use crate::clock::{Clock, ManualClock, SharedClock, SystemClock, rfc3339_nanos};
pub use crate::cluster::{NodeDirectory, NodeStatus};
pub use crate::core::{ClusterInfo, Core, CoreConfig, InitResult, SealStatus, VERSION};
pub use crate::engines::MOUNTABLE_TYPES;
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::jobs::{Pace, PassReport};
pub use crate::leases::NewLease;
pub use crate::mount::{DEFAULT_LEASE_TTL, MountConfig, MountEntry};
pub use crate::request::{ClientToken, Operation, RawBody, Request, Response, normalize_path};
pub use crate::seal::SealConfig;
pub use crate::token::{SYSTEM_MAX_TTL, TokenEntry, TokenRole};
