//! `max_secrets`: a namespace's cap on the number of secrets stored in it and in the namespaces
//! below it (KV v1 entries and KV v2 secrets, across their mounts). Counted only while a cap
//! is set: setting one counts what is stored (a scan of the KV mounts), and from then on the KV
//! engines admit each new secret through [`SecretCount::admit`], which checks the namespace's
//! cap and every capped ancestor's, and report each removed one.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// One namespace's cap and count.
#[derive(Debug, Default)]
pub(crate) struct SecretCount {
    /// `(cap, count)`; cap 0 = no cap, and then nothing is counted.
    state: Mutex<(u64, u64)>,
    /// The parent namespace's count (`None` in the root).
    parent: Option<Arc<SecretCount>>,
}

/// A secret admitted but not yet stored: dropped without [`Admission::keep`] (the write
/// failed), it gives its place back.
#[must_use]
pub(crate) struct Admission<'a>(Option<&'a SecretCount>);

impl Admission<'_> {
    /// The secret was stored: it keeps its place.
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if let Some(count) = self.0 {
            count.removed();
        }
    }
}

impl SecretCount {
    /// The count of a namespace below the one `parent` counts.
    pub(crate) fn below(parent: &Arc<SecretCount>) -> SecretCount {
        SecretCount {
            state: Mutex::default(),
            parent: Some(parent.clone()),
        }
    }

    fn chain(&self) -> impl Iterator<Item = &SecretCount> {
        std::iter::successors(Some(self), |c| c.parent.as_deref())
    }

    /// Whether a cap is set here or above (engines check before doing extra work to count).
    pub(crate) fn active(&self) -> bool {
        self.chain().any(|c| c.state.lock().0 > 0)
    }

    /// Sets the cap and the number of secrets stored now.
    pub(crate) fn set(&self, cap: u64, stored: u64) {
        *self.state.lock() = (cap, if cap > 0 { stored } else { 0 });
    }

    /// Makes room for one new secret, or refuses it when this namespace or a capped one above
    /// it is full. The locks are taken from this namespace upwards, always in that order.
    pub(crate) fn admit(&self) -> Result<Admission<'_>> {
        let mut guards: Vec<_> = self.chain().map(|c| c.state.lock()).collect();
        if let Some(full) = guards.iter().find(|g| g.0 > 0 && g.1 >= g.0) {
            return Err(Error::QuotaExceeded(format!(
                "the namespace (or one above it) stores {} secrets, its max_secrets quota: \
                 delete one, or ask for a higher quota, to store another",
                full.1
            )));
        }
        let mut counted = false;
        for g in guards.iter_mut().filter(|g| g.0 > 0) {
            g.1 += 1;
            counted = true;
        }
        Ok(Admission(counted.then_some(self)))
    }

    /// One secret less, here and in every capped namespace above.
    pub(crate) fn removed(&self) {
        for c in self.chain() {
            let mut state = c.state.lock();
            if state.0 > 0 {
                state.1 = state.1.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_cap_and_gives_back_failed_writes() {
        let c = SecretCount::default();
        for _ in 0..100 {
            c.admit().expect("no cap").keep();
        }
        c.set(2, 1);
        c.admit().expect("second").keep();
        assert!(matches!(c.admit(), Err(Error::QuotaExceeded(_))));
        drop(c.admit().err());
        c.removed();
        let failed = c.admit().expect("room again");
        drop(failed); // the write failed: its place is free
        c.admit().expect("still room").keep();
        assert!(c.admit().is_err());
        c.set(0, 0);
        c.admit().expect("no cap").keep();
    }

    #[test]
    fn a_parents_cap_counts_its_children() {
        let parent = Arc::new(SecretCount::default());
        let child = SecretCount::below(&parent);
        parent.set(2, 0);
        assert!(child.active());
        child.admit().expect("one").keep();
        parent.admit().expect("two").keep();
        assert!(child.admit().is_err(), "the parent is full");
        child.removed();
        child.admit().expect("room again").keep();
        // A child's own cap binds too.
        parent.set(10, 2);
        child.set(1, 1);
        assert!(child.admit().is_err());
        parent.admit().expect("the parent has room").keep();
    }
}
