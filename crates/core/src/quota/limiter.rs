//! A token bucket per client: `rate` requests per `interval`, bursts up to `rate`, and an
//! optional block of `block_interval` once a client overdraws (OpenBao's rate-limit quota,
//! keyed by client address as there).

use std::collections::HashMap;

use parking_lot::Mutex;

/// Most clients one quota tracks; past it, clients whose bucket has refilled are forgotten
/// (they are indistinguishable from new ones).
const MAX_CLIENTS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_nanos: i64,
    blocked_until_nanos: i64,
}

/// What a quota says about one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    Allowed,
    /// Refused; the client may try again after this many seconds (at least 1).
    Refused {
        retry_after_secs: u64,
    },
}

#[derive(Debug)]
pub(crate) struct Limiter {
    /// Requests allowed per interval.
    rate: f64,
    /// The bucket's size: `rate`, and at least one request (a rate below one per interval
    /// still lets one through now and then).
    burst: f64,
    interval_nanos: f64,
    block_nanos: i64,
    clients: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub(crate) fn new(rate: f64, interval_secs: u64, block_secs: u64) -> Limiter {
        Limiter {
            rate,
            burst: rate.max(1.0),
            interval_nanos: (interval_secs.max(1) as f64) * 1e9,
            block_nanos: i64::try_from(block_secs)
                .unwrap_or(i64::MAX / 1_000_000_000)
                .saturating_mul(1_000_000_000),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client` at `now_nanos`.
    pub(crate) fn take(&self, client: &str, now_nanos: i64) -> Verdict {
        let mut clients = self.clients.lock();
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(client) {
            self.forget_idle(&mut clients, now_nanos);
            if clients.len() >= MAX_CLIENTS / 2 {
                // Still crowded (many clients, all busy): start over rather than scan again on
                // every new client. Amortized, a pass costs O(1) per new client.
                clients.clear();
            }
        }
        let bucket = clients.entry(client.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last_nanos: now_nanos,
            blocked_until_nanos: 0,
        });
        if now_nanos < bucket.blocked_until_nanos {
            return refused(bucket.blocked_until_nanos - now_nanos);
        }
        let elapsed = now_nanos.saturating_sub(bucket.last_nanos).max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed * self.rate / self.interval_nanos).min(self.burst);
        bucket.last_nanos = now_nanos;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Verdict::Allowed;
        }
        if self.block_nanos > 0 {
            bucket.blocked_until_nanos = now_nanos.saturating_add(self.block_nanos);
            return refused(self.block_nanos);
        }
        // Time until one whole token has dripped in.
        let wait = (1.0 - bucket.tokens) * self.interval_nanos / self.rate;
        refused(wait as i64)
    }

    fn forget_idle(&self, clients: &mut HashMap<String, Bucket>, now_nanos: i64) {
        clients.retain(|_, b| {
            let elapsed = now_nanos.saturating_sub(b.last_nanos).max(0) as f64;
            now_nanos < b.blocked_until_nanos
                || b.tokens + elapsed * self.rate / self.interval_nanos < self.burst
        });
    }
}

fn refused(wait_nanos: i64) -> Verdict {
    let secs = u64::try_from(wait_nanos.max(0))
        .unwrap_or(0)
        .div_ceil(1_000_000_000);
    Verdict::Refused {
        retry_after_secs: secs.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn allows_rate_per_interval_then_refuses_until_refilled() {
        let l = Limiter::new(10.0, 1, 0);
        let t0 = 1_000 * SEC;
        for _ in 0..10 {
            assert_eq!(l.take("a", t0), Verdict::Allowed);
        }
        assert_eq!(
            l.take("a", t0),
            Verdict::Refused {
                retry_after_secs: 1
            }
        );
        // Another client has its own bucket.
        assert_eq!(l.take("b", t0), Verdict::Allowed);
        // A tenth of a second refills one token.
        assert_eq!(l.take("a", t0 + SEC / 10), Verdict::Allowed);
        assert!(matches!(
            l.take("a", t0 + SEC / 10),
            Verdict::Refused { .. }
        ));
        // A full interval refills the burst, no more.
        let t1 = t0 + 5 * SEC;
        for _ in 0..10 {
            assert_eq!(l.take("a", t1), Verdict::Allowed);
        }
        assert!(matches!(l.take("a", t1), Verdict::Refused { .. }));
    }

    #[test]
    fn a_rate_below_one_lets_a_request_through_now_and_then() {
        let l = Limiter::new(0.5, 1, 0);
        let t0 = 10 * SEC;
        assert_eq!(l.take("a", t0), Verdict::Allowed);
        assert_eq!(
            l.take("a", t0),
            Verdict::Refused {
                retry_after_secs: 2
            }
        );
        assert_eq!(l.take("a", t0 + 2 * SEC), Verdict::Allowed);
    }

    #[test]
    fn a_block_interval_shuts_the_client_out() {
        let l = Limiter::new(1.0, 60, 30);
        let t0 = 50 * SEC;
        assert_eq!(l.take("a", t0), Verdict::Allowed);
        assert_eq!(
            l.take("a", t0),
            Verdict::Refused {
                retry_after_secs: 30
            }
        );
        assert_eq!(
            l.take("a", t0 + 10 * SEC),
            Verdict::Refused {
                retry_after_secs: 20
            }
        );
        // Blocked for 30 s, then half an interval's worth of refill: still under one token.
        assert!(matches!(
            l.take("a", t0 + 31 * SEC),
            Verdict::Refused { .. }
        ));
        assert_eq!(l.take("a", t0 + 120 * SEC), Verdict::Allowed);
    }
}
