//! The executor's parallelism as permits: at most `parallelism` actions do engine work at
//! once. An action holds its permit while it works and gives it back while it only waits
//! on a container (a stop's grace period, a start-first container becoming ready, a
//! dependency's condition), taking one again before its next call. So replicas that ignore
//! SIGTERM wait out their grace periods together, as `docker compose` stops them, while the
//! creates, starts and removals the engine actually works on stay bounded.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sync;

/// One action's share of the parallelism.
#[derive(Debug)]
pub(super) struct Permit {
    semaphore: Arc<Semaphore>,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Permit {
    /// The share of an action that starts holding `permit` of `semaphore`.
    pub(super) fn new(semaphore: Arc<Semaphore>, permit: OwnedSemaphorePermit) -> Self {
        Self {
            semaphore,
            held: Mutex::new(Some(permit)),
        }
    }

    /// Awaits `wait` without holding the permit, then takes one again.
    pub(super) async fn waiting<F: Future>(&self, wait: F) -> F::Output {
        let released = sync::lock(&self.held).take();
        drop(released);
        let out = wait.await;
        let again = self.semaphore.clone().acquire_owned().await;
        // The executor never closes its semaphore; a closed one bounds nothing.
        *sync::lock(&self.held) = again.ok();
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_waiting_action_gives_its_permit_to_another_and_takes_one_back_after() {
        let semaphore = Arc::new(Semaphore::new(1));
        let first = semaphore.clone().acquire_owned().await.expect("open");
        let permit = Permit::new(semaphore.clone(), first);
        assert_eq!(semaphore.available_permits(), 0);
        let wait = permit.waiting(async {
            // While it waits, another action can take the only permit.
            let other = semaphore.clone().try_acquire_owned();
            assert!(other.is_ok(), "the permit is free while waiting");
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        wait.await;
        assert_eq!(
            semaphore.available_permits(),
            0,
            "held again after the wait"
        );
        drop(permit);
        assert_eq!(semaphore.available_permits(), 1);
    }
}
