//! State shared by every engine instance of one mount (caches, write locks, the transit
//! rotator), owned by the unsealed core.
//!
//! The router builds new engine instances whenever the mount table changes, while an old
//! instance may still be serving a request; both must use the same locks and caches. Each
//! instance asks the core's [`MountStates`] for its mount's state by uuid and type, and gets
//! the one that exists while any instance holds it. Entries are weak: an unmounted mount's
//! state is dropped (its cached keys zeroized) with its last instance, and sealing drops the
//! registry with the rest of the unsealed core, so two cores in one process share nothing.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

type AnyState = dyn Any + Send + Sync;

/// See the module documentation.
#[derive(Default)]
pub(crate) struct MountStates {
    table: Mutex<HashMap<(String, TypeId), Weak<AnyState>>>,
}

impl MountStates {
    /// The state of type `T` of the mount with this uuid, created on first use.
    pub(crate) fn get<T: Default + Send + Sync + 'static>(&self, uuid: &str) -> Arc<T> {
        let key = (uuid.to_string(), TypeId::of::<T>());
        let mut table = self.table.lock();
        if let Some(live) = table.get(&key).and_then(Weak::upgrade)
            && let Ok(state) = live.downcast::<T>()
        {
            return state;
        }
        table.retain(|_, w| w.strong_count() > 0);
        let state = Arc::new(T::default());
        let erased: Arc<AnyState> = state.clone();
        table.insert(key, Arc::downgrade(&erased));
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicU32);

    #[test]
    fn one_state_per_mount_while_held_and_none_after() {
        let states = MountStates::default();
        let a = states.get::<Counter>("m-1");
        let b = states.get::<Counter>("m-1");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &states.get::<Counter>("m-2")));
        a.0.store(7, std::sync::atomic::Ordering::SeqCst);
        drop((a, b));
        let fresh = states.get::<Counter>("m-1");
        assert_eq!(
            fresh.0.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "dropped with its last holder"
        );
        assert_eq!(
            MountStates::default()
                .get::<Counter>("m-1")
                .0
                .load(std::sync::atomic::Ordering::SeqCst),
            0
        );
    }
}
