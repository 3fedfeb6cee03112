//! The controller as a [`StateSource`] for metrics and `/status`: copies of the store, the
//! desired view, the crash and error backoffs and the engine's outages, read at scrape time. It holds the shared state
//! weakly, so the telemetry (which the shared state owns) keeps nothing alive.

use std::sync::Weak;

use super::reconcile::Shared;
use crate::metrics::{ControllerState, StateSource};
use crate::runtime::ContainerRuntime;
use crate::sync;

/// Reads the controller's shared state.
pub(super) struct SharedSource<R>(pub(super) Weak<Shared<R>>);

impl<R: ContainerRuntime> StateSource for SharedSource<R> {
    fn state(&self) -> Option<ControllerState> {
        let shared = self.0.upgrade()?;
        let observed = shared.store.snapshot();
        let (specs, load_errors, root_error, pending_removals, foreign) = {
            let view = sync::lock(&shared.view);
            let root_error = view.root_error().map(str::to_owned);
            let pending = view.pending_removals().map(str::to_owned).collect();
            let foreign = view
                .foreign(observed.projects())
                .into_iter()
                .map(str::to_owned)
                .collect();
            let (specs, errors) = (view.specs().clone(), view.errors().clone());
            (specs, errors, root_error, pending, foreign)
        };
        let crash_delays = {
            let crash = sync::lock(&shared.crash);
            crash
                .current_delays()
                .map(|(slot, d)| (slot.clone(), d))
                .collect()
        };
        let failing = sync::lock(&shared.failing).snapshot(tokio::time::Instant::now());
        let failed_builds = sync::lock(&shared.builds).all_failures();
        Some(ControllerState {
            failing,
            failed_builds,
            observed,
            store_ready: shared.store.is_ready(),
            specs,
            load_errors,
            root_error,
            crash_delays,
            rollouts: shared.rollouts.snapshot(),
            pending_removals,
            foreign,
            engine: shared.store.outages().summary(),
            privileges: sync::lock(&shared.privileges).clone(),
            watches: shared.watches.snapshot(),
        })
    }

    fn store_ready(&self) -> bool {
        self.0
            .upgrade()
            .is_some_and(|shared| shared.store.is_ready())
    }

    fn engine_reachable(&self) -> bool {
        self.0
            .upgrade()
            .is_none_or(|shared| !shared.store.is_engine_away())
    }
}
