//! The sliding windows of the rules: per (rule, group), the times of the matching events still
//! inside the window, and when the group last fired.
//!
//! A window fires when it holds `threshold` events; firing empties it, so the next alert needs
//! `threshold` new events (one alert per window's worth, not one per event past the
//! threshold), and the cooldown keeps it quiet for a while after. Times are the events' own
//! (the core's clock), so a test moves time instead of sleeping.

use std::collections::{HashMap, VecDeque};

const NANOS: i64 = 1_000_000_000;

/// Most groups one rule tracks at once: past it, the stalest group is forgotten (a flood of
/// distinct callers cannot grow memory without bound).
const MAX_GROUPS_PER_RULE: usize = 10_000;

#[derive(Default)]
struct Group {
    times: VecDeque<i64>,
    /// When it last fired (Unix nanoseconds).
    fired_at: Option<i64>,
    last_seen: i64,
}

/// What a rule needs of the window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) threshold: u32,
    pub(crate) window_secs: u64,
    pub(crate) cooldown_secs: u64,
}

/// The windows of one rule.
#[derive(Default)]
pub(crate) struct Windows {
    groups: HashMap<String, Group>,
}

fn secs_to_nanos(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / NANOS)
        .saturating_mul(NANOS)
}

impl Windows {
    /// Counts an event of `group` at `now`; the number of events the window held when this
    /// one fired it, or `None`.
    pub(crate) fn count(&mut self, group: &str, now: i64, limits: Limits) -> Option<u32> {
        if !self.groups.contains_key(group) && self.groups.len() >= MAX_GROUPS_PER_RULE {
            self.forget_stalest();
        }
        let g = self.groups.entry(group.to_string()).or_default();
        g.last_seen = now;
        let start = now.saturating_sub(secs_to_nanos(limits.window_secs));
        while g.times.front().is_some_and(|t| *t <= start) {
            g.times.pop_front();
        }
        let cooling = g
            .fired_at
            .is_some_and(|at| now < at.saturating_add(secs_to_nanos(limits.cooldown_secs)));
        if cooling {
            // Events during the cooldown do not pile up towards the next alert.
            g.times.clear();
            return None;
        }
        g.times.push_back(now);
        let held = u32::try_from(g.times.len()).unwrap_or(u32::MAX);
        if held < limits.threshold {
            return None;
        }
        g.times.clear();
        g.fired_at = Some(now);
        Some(held)
    }

    fn forget_stalest(&mut self) {
        if let Some(stalest) = self
            .groups
            .iter()
            .min_by_key(|(_, g)| g.last_seen)
            .map(|(k, _)| k.clone())
        {
            self.groups.remove(&stalest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS;

    #[test]
    fn a_threshold_fires_once_per_window_and_not_during_the_cooldown() {
        let limits = Limits {
            threshold: 3,
            window_secs: 60,
            cooldown_secs: 120,
        };
        let mut w = Windows::default();
        assert_eq!(w.count("a", 0, limits), None);
        assert_eq!(w.count("a", 10 * S, limits), None);
        assert_eq!(w.count("a", 20 * S, limits), Some(3));
        // Within the cooldown: nothing, however many.
        for t in 21..100 {
            assert_eq!(w.count("a", t * S, limits), None);
        }
        // After it, three new events are needed again.
        assert_eq!(w.count("a", 141 * S, limits), None);
        assert_eq!(w.count("a", 142 * S, limits), None);
        assert_eq!(w.count("a", 143 * S, limits), Some(3));
    }

    #[test]
    fn events_older_than_the_window_do_not_count_and_groups_are_apart() {
        let limits = Limits {
            threshold: 2,
            window_secs: 60,
            cooldown_secs: 0,
        };
        let mut w = Windows::default();
        assert_eq!(w.count("a", 0, limits), None);
        assert_eq!(w.count("b", 30 * S, limits), None);
        assert_eq!(w.count("a", 61 * S, limits), None, "the first slid out");
        assert_eq!(w.count("a", 62 * S, limits), Some(2));
        assert_eq!(w.count("b", 91 * S, limits), None, "b's one slid out too");
        assert_eq!(w.count("b", 92 * S, limits), Some(2));
    }

    #[test]
    fn groups_are_bounded() {
        let limits = Limits {
            threshold: 5,
            window_secs: 60,
            cooldown_secs: 0,
        };
        let mut w = Windows::default();
        for i in 0..(MAX_GROUPS_PER_RULE as i64 + 10) {
            w.count(&i.to_string(), i, limits);
        }
        assert_eq!(w.groups.len(), MAX_GROUPS_PER_RULE);
    }
}
