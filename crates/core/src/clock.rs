//! Time, injected. Everything in the core that needs the time (TTLs, expiry, rotation due
//! dates, audit timestamps, KV version times) asks a [`Clock`]; nothing reads the system clock
//! directly (clippy's `disallowed-methods` enforces it, with this file the one exception). A
//! core runs on [`SystemClock`]; tests hand it a [`ManualClock`] and move time forward
//! instead of sleeping.
//!
//! The clock travels with the unsealed core's storage: [`Barrier::clock`](crate::Barrier) and
//! every [`View`](crate::View) give it out, so a store or an engine has the time exactly when
//! it has storage, and no other way.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Nanoseconds since the Unix epoch.
    fn now_unix_nanos(&self) -> i64;

    /// Seconds since the Unix epoch.
    fn now_unix_secs(&self) -> i64 {
        self.now_unix_nanos().div_euclid(1_000_000_000)
    }
}

/// A shared clock, as the core holds it.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    fn now_unix_nanos(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to (tests of TTLs, lockouts, rotation, expiry).
#[derive(Debug)]
pub struct ManualClock {
    nanos: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `unix_secs`.
    pub fn at(unix_secs: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            nanos: AtomicI64::new(unix_secs.saturating_mul(1_000_000_000)),
        })
    }

    /// A clock standing at the system's current time.
    pub fn starting_now() -> Arc<ManualClock> {
        ManualClock::at(SystemClock.now_unix_secs())
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance_secs(&self, secs: i64) {
        self.nanos
            .fetch_add(secs.saturating_mul(1_000_000_000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_nanos(&self) -> i64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

/// Unix nanoseconds of a file time (0 before 1970).
pub fn system_time_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// RFC 3339 with nanoseconds in UTC, the format Vault uses for timestamps.
pub fn rfc3339_nanos(unix_nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_nanos))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::at(1_000);
        assert_eq!(c.now_unix_secs(), 1_000);
        c.advance_secs(3_600);
        assert_eq!(c.now_unix_secs(), 4_600);
        assert_eq!(c.now_unix_nanos(), 4_600 * 1_000_000_000);
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(SystemClock.now_unix_secs() > 1_577_836_800);
    }
}
