//! `max_secrets`: a namespace's cap on the number of secrets it stores (KV v1 entries and KV v2
//! secrets, across its mounts). Counted only while a cap is set: setting one counts what is
//! stored (a scan of the namespace's KV mounts), and from then on the KV engines admit each new
//! secret through [`SecretCount::admit`] and report each removed one.

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// One namespace's cap and count.
#[derive(Debug, Default)]
pub(crate) struct SecretCount {
    /// `(cap, count)`; cap 0 = no cap, and then nothing is counted.
    state: Mutex<(u64, u64)>,
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
    /// Whether a cap is set (engines check before doing extra work to count).
    pub(crate) fn active(&self) -> bool {
        self.state.lock().0 > 0
    }

    /// Sets the cap and the number of secrets stored now.
    pub(crate) fn set(&self, cap: u64, stored: u64) {
        *self.state.lock() = (cap, if cap > 0 { stored } else { 0 });
    }

    /// Makes room for one new secret, or refuses it when the namespace is at its cap.
    pub(crate) fn admit(&self) -> Result<Admission<'_>> {
        let mut state = self.state.lock();
        let (cap, count) = *state;
        if cap == 0 {
            return Ok(Admission(None));
        }
        if count >= cap {
            return Err(Error::QuotaExceeded(format!(
                "this namespace stores {count} secrets, its max_secrets quota: delete one, or \
                 ask for a higher quota, to store another"
            )));
        }
        state.1 = count + 1;
        Ok(Admission(Some(self)))
    }

    /// One secret less.
    pub(crate) fn removed(&self) {
        let mut state = self.state.lock();
        state.1 = state.1.saturating_sub(1);
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
}
