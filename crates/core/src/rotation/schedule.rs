//! When a secret's rotation is due, and what its job does at a given time: a pure function of
//! the policy, the rotation state kept beside the secret, and the clock.
//!
//! The period runs from the moment the current value became current (its version's creation
//! time: a rotation, a promotion, a rollback or a write by hand all start a new period). The
//! due-soon notice is announced once per due time, `notify_before` ahead of it.

use serde::{Deserialize, Serialize};

use super::policy::{RotationPolicy, Strategy};

/// What rotation has recorded about one secret, in the same metadata as its versions: every
/// change to it is committed together with the version it concerns, which is what makes a
/// rotation happen at most once per due time (see [`crate::jobs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RotationState {
    /// The due time (Unix seconds) whose `rotation.due_soon` has been announced.
    pub(crate) notified_for: i64,
    /// A two-phase rotation published and not yet promoted.
    pub(crate) pending: Option<Pending>,
    /// The version that was current before the last rotation: what a rollback restores.
    pub(crate) previous_version: u64,
    /// Unix seconds of the last completed rotation (0: never).
    pub(crate) last_rotated: i64,
    /// Rotations completed.
    pub(crate) rotations: u64,
}

/// A published next value waiting for promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The version that carries `next`.
    pub(crate) version: u64,
    /// The version that was current when it was published.
    pub(crate) from_version: u64,
    /// Unix seconds.
    pub(crate) published_at: i64,
}

/// What a secret's job does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing yet: wake at `wake`; the rotation is due at `due`.
    Wait { wake: i64, due: i64 },
    /// Announce `rotation.due_soon` for `due`, then wait for it.
    Notify { due: i64 },
    /// Rotate (replace) or publish the next value (two-phase): due since `due`.
    Rotate { due: i64 },
    /// Promote the published next value (its grace ended at `due`).
    Promote { due: i64 },
}

impl Step {
    /// The time the work is due.
    pub(crate) fn due(self) -> i64 {
        match self {
            Step::Wait { due, .. }
            | Step::Notify { due }
            | Step::Rotate { due }
            | Step::Promote { due } => due,
        }
    }
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The rotation's due time for a value current since `current_since` (Unix seconds).
pub(crate) fn due_at(policy: &RotationPolicy, current_since: i64) -> i64 {
    current_since.saturating_add(secs(policy.period))
}

/// What to do at `now` for a secret whose current value has been current since
/// `current_since`.
pub(crate) fn plan(
    policy: &RotationPolicy,
    state: &RotationState,
    current_since: i64,
    now: i64,
) -> Step {
    if let Some(p) = &state.pending {
        let promote_at = p.published_at.saturating_add(secs(policy.grace));
        return if policy.strategy == Strategy::Replace || now >= promote_at {
            // A policy changed to replace while a rotation was pending: finish it now.
            Step::Promote { due: promote_at }
        } else {
            Step::Wait {
                wake: promote_at,
                due: promote_at,
            }
        };
    }
    let due = due_at(policy, current_since);
    if now >= due {
        return Step::Rotate { due };
    }
    let notice = due.saturating_sub(secs(policy.notify_before));
    if policy.notify_before == 0 || now < notice {
        let wake = if policy.notify_before == 0 {
            due
        } else {
            notice
        };
        return Step::Wait { wake, due };
    }
    if state.notified_for == due {
        Step::Wait { wake: due, due }
    } else {
        Step::Notify { due }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DAY: i64 = 86_400;

    fn policy(v: serde_json::Value) -> RotationPolicy {
        RotationPolicy::from_json(&v).expect("ok").expect("ok")
    }

    #[test]
    fn thirty_days_notify_on_day_27_and_rotate_on_day_30() {
        let p = policy(json!({"period": "30d", "notify_before": "3d", "generator": "hex"}));
        let mut s = RotationState::default();
        let t0 = 1_000_000;
        assert_eq!(
            plan(&p, &s, t0, t0),
            Step::Wait {
                wake: t0 + 27 * DAY,
                due: t0 + 30 * DAY
            }
        );
        assert_eq!(
            plan(&p, &s, t0, t0 + 27 * DAY - 1),
            Step::Wait {
                wake: t0 + 27 * DAY,
                due: t0 + 30 * DAY
            }
        );
        assert_eq!(
            plan(&p, &s, t0, t0 + 27 * DAY),
            Step::Notify { due: t0 + 30 * DAY }
        );
        s.notified_for = t0 + 30 * DAY;
        assert_eq!(
            plan(&p, &s, t0, t0 + 28 * DAY),
            Step::Wait {
                wake: t0 + 30 * DAY,
                due: t0 + 30 * DAY
            },
            "announced once"
        );
        assert_eq!(
            plan(&p, &s, t0, t0 + 30 * DAY),
            Step::Rotate { due: t0 + 30 * DAY }
        );
        // After the rotation the new version is current: the next period starts.
        let t1 = t0 + 30 * DAY;
        assert_eq!(plan(&p, &s, t1, t1).due(), t1 + 30 * DAY);
    }

    #[test]
    fn two_phase_waits_for_the_grace_then_promotes() {
        let p = policy(json!({"preset": "jwt-signing"}));
        let s = RotationState {
            pending: Some(Pending {
                version: 2,
                from_version: 1,
                published_at: 500,
            }),
            ..RotationState::default()
        };
        assert_eq!(
            plan(&p, &s, 0, 600),
            Step::Wait {
                wake: 500 + DAY,
                due: 500 + DAY
            }
        );
        assert_eq!(plan(&p, &s, 0, 500 + DAY), Step::Promote { due: 500 + DAY });
    }

    #[test]
    fn without_notice_it_wakes_at_the_due_time() {
        let p = policy(json!({"period": "1d", "generator": "uuid"}));
        assert_eq!(
            plan(&p, &RotationState::default(), 0, 10),
            Step::Wait {
                wake: DAY,
                due: DAY
            }
        );
    }
}
