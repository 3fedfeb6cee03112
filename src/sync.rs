//! The crate's one lock policy: a poisoned lock is taken as it is, never turned into a
//! panic of its own.
//!
//! A `std::sync` lock is poisoned when a thread panics while it holds the guard. Every lock
//! in composectl guards plain data (maps, counters, the last-known-good view, the observed
//! store) that its writers change in single steps, so what a panicking holder leaves
//! behind is a state some writer would have left too, and the next reconcile, relist or
//! reload corrects it. Propagating the poison instead (`lock().expect(..)`) would turn one
//! panicked reconcile into a panic of every later reader: the loop, `/status`, the control
//! socket. A panicked reconcile must not wedge the daemon: the loop releases its project
//! and retries it (see `controller::tasks`), and the locks it held stay usable.
//!
//! So every `Mutex` and `RwLock` of the crate is taken through [`lock`], [`read`] and
//! [`write()`]; none is unwrapped or expected.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, recovering it when a holder panicked.
#[allow(clippy::disallowed_methods)]
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `lock`, recovering it when a writer panicked.
#[allow(clippy::disallowed_methods)]
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `lock`, recovering it when a holder panicked.
#[allow(clippy::disallowed_methods)]
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_mutex_poisoned_by_a_panicking_holder_is_still_locked_and_keeps_its_data() {
        let shared = Arc::new(Mutex::new(vec![1]));
        let holder = Arc::clone(&shared);
        let panicked = std::thread::spawn(move || {
            let mut data = lock(&holder);
            data.push(2);
            panic!("a reconcile bug");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.is_poisoned());
        assert_eq!(*lock(&shared), [1, 2]);
        lock(&shared).push(3);
        assert_eq!(*lock(&shared), [1, 2, 3]);
    }

    #[test]
    fn an_rwlock_poisoned_by_a_panicking_writer_is_still_read_and_written() {
        let shared = Arc::new(RwLock::new(0));
        let holder = Arc::clone(&shared);
        let panicked = std::thread::spawn(move || {
            *write(&holder) = 1;
            let _guard = write(&holder);
            panic!("a reconcile bug");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.is_poisoned());
        assert_eq!(*read(&shared), 1);
        *write(&shared) += 1;
        assert_eq!(*read(&shared), 2);
    }
}
