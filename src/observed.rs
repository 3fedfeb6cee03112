//! The observed store: composectl's in-memory mirror of the engine (managed containers and
//! local image tags), the [`Reflector`] that keeps it current, and the engine's outages
//! ([`engine`]: when the engine was away, and which exits it caused).
//!
//! The store is written by two parties only: the reflector (one full [`relist`] after every
//! (re)connection, then one update per engine event, and the periodic [`resync`] of the
//! containers and images; it also records when the stream is lost and when the engine is
//! back) and the executor (which upserts what it just created so
//! the next plan sees it before the event arrives). Planners read consistent
//! [`Store::snapshot`]s and [`Store::outages`]; waiters watch [`Store::changed`] instead of
//! polling.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::{EpochMillis, WallClock};
use crate::model::observed::ObservedResource;
use crate::model::{ContainerState, ObservedContainer, ObservedState};
use crate::runtime;
use crate::sync;

pub mod engine;
mod reflector;
mod relist;
#[cfg(test)]
mod tests;

pub use engine::{EngineSummary, Outage, Outages};
pub use reflector::{Reconnects, Reflector, StreamUp};
pub use relist::{relist, resync};

/// Errors of the observed store's engine reads.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The full list after a (re)connection failed; the store keeps its previous content.
    #[error("relisting the engine failed: {0}")]
    Relist(#[source] runtime::Error),
    /// Refreshing one container or the images after an event failed.
    #[error("refreshing after an engine event failed: {0}")]
    Refresh(#[source] runtime::Error),
    /// The event stream failed.
    #[error("the engine event stream failed: {0}")]
    Stream(#[source] runtime::Error),
    /// The event stream ended without an error.
    #[error("the engine event stream ended")]
    StreamEnded,
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the reflector tells the scheduler after updating the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// Something of this project changed: reconcile it.
    Project(String),
    /// Anything may have changed (a relist, an image event): reconcile every project.
    All,
}

/// The store's state, locked for writing: reads go to the shared state, the first write
/// through it copies the state if a snapshot still shares it (copy on write).
struct StateMut<'a>(RwLockWriteGuard<'a, Arc<ObservedState>>);

impl StateMut<'_> {
    /// Puts `state` in place of the current one (nothing copied).
    fn replace(&mut self, state: ObservedState) {
        *self.0 = Arc::new(state);
    }
}

impl std::ops::Deref for StateMut<'_> {
    type Target = ObservedState;

    fn deref(&self) -> &ObservedState {
        &self.0
    }
}

impl std::ops::DerefMut for StateMut<'_> {
    fn deref_mut(&mut self) -> &mut ObservedState {
        Arc::make_mut(&mut self.0)
    }
}

/// How many single-container writes the store remembers for [`Store::replace_listed`]; a
/// relist takes milliseconds, far fewer writes than this happen meanwhile.
const TOUCHED_KEPT: usize = 4096;

#[derive(Debug)]
struct Shared {
    /// Shared with the snapshots handed out; a write copies it only while one is held.
    state: RwLock<Arc<ObservedState>>,
    ready: AtomicBool,
    version: watch::Sender<u64>,
    /// Container ID -> store version of its last upsert or remove.
    touched: Mutex<BTreeMap<String, u64>>,
    /// The engine's outages.
    outages: Mutex<Outages>,
    /// The wall clock outages and exits are compared on.
    clock: WallClock,
    /// When composectl last pulled each image, by normalized reference (in memory: a
    /// restart forgets, and a refreshing `pull_policy` pulls once more).
    pulls: Mutex<BTreeMap<String, EpochMillis>>,
}

/// The observed state, shared: cheap to clone, every clone sees the same content.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store, not ready until the first [`Store::replace`], on the system clock.
    pub fn new() -> Self {
        Self::with_clock(WallClock::system())
    }

    /// An empty store whose outages are timed by `clock`.
    pub fn with_clock(clock: WallClock) -> Self {
        let (version, _) = watch::channel(0);
        Self {
            shared: Arc::new(Shared {
                state: RwLock::new(Arc::new(ObservedState::default())),
                ready: AtomicBool::new(false),
                version,
                touched: Mutex::new(BTreeMap::new()),
                outages: Mutex::new(Outages::new()),
                clock,
                pulls: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The wall clock the store times outages by.
    pub fn clock(&self) -> &WallClock {
        &self.shared.clock
    }

    fn outages_mut(&self) -> std::sync::MutexGuard<'_, Outages> {
        sync::lock(&self.shared.outages)
    }

    /// Records that `reference` was pulled now (by the store's clock).
    pub fn record_pull(&self, reference: &str) {
        let now = self.shared.clock.now_ms();
        let key = crate::model::observed::normalize_image_ref(reference);
        let mut pulls = sync::lock(&self.shared.pulls);
        pulls.insert(key, now);
    }

    /// How long ago each image composectl pulled was pulled, by normalized reference.
    pub fn pull_ages(&self) -> BTreeMap<String, std::time::Duration> {
        let now = self.shared.clock.now_ms();
        let pulls = sync::lock(&self.shared.pulls);
        pulls
            .iter()
            .map(|(k, at)| {
                let ms = u64::try_from(now.saturating_sub(*at)).unwrap_or(0);
                (k.clone(), std::time::Duration::from_millis(ms))
            })
            .collect()
    }

    /// A copy of the engine's outages.
    pub fn outages(&self) -> Outages {
        self.outages_mut().clone()
    }

    /// True while the engine is away (its event stream lost, no relist since).
    pub fn is_engine_away(&self) -> bool {
        self.outages_mut().is_away()
    }

    /// IDs of `project`'s containers that are down because the engine went away (see
    /// [`Outages::stopped`]).
    pub fn stopped_by_engine(&self, project: &str) -> std::collections::BTreeSet<String> {
        let outages = self.outages();
        self.read()
            .project(project)
            .filter(|c| outages.stopped(c))
            .map(|c| c.id.clone())
            .collect()
    }

    /// Records that the engine's event stream was lost (now, by the store's clock); true
    /// when this starts an outage. Waiters on [`Store::changed`] wake up.
    pub fn engine_lost(&self) -> bool {
        let now_ms = self.shared.clock.now_ms();
        let started = self.outages_mut().lost(now_ms);
        if started {
            self.bump();
        }
        started
    }

    /// Records that a relist succeeded at `now`; the outage this ends, if one was going on.
    pub fn engine_back(&self, now: Instant) -> Option<Outage> {
        let now_ms = self.shared.clock.now_ms();
        let ended = self.outages_mut().back(now, now_ms);
        if ended.is_some() {
            self.bump();
        }
        ended
    }

    fn read(&self) -> RwLockReadGuard<'_, Arc<ObservedState>> {
        sync::read(&self.shared.state)
    }

    fn write(&self) -> StateMut<'_> {
        StateMut(sync::write(&self.shared.state))
    }

    fn bump(&self) {
        self.shared.version.send_modify(|v| *v += 1);
    }

    /// The store's version: it grows with every change.
    pub fn version(&self) -> u64 {
        *self.shared.version.borrow()
    }

    /// Records a single-container write, so a list read before it cannot undo it.
    fn touch(&self, id: &str) {
        let mut touched = sync::lock(&self.shared.touched);
        touched.insert(id.to_owned(), self.version() + 1);
        if touched.len() > TOUCHED_KEPT {
            let mut versions: Vec<u64> = touched.values().copied().collect();
            versions.sort_unstable();
            let cutoff = versions[versions.len() - TOUCHED_KEPT];
            touched.retain(|_, v| *v >= cutoff);
        }
    }

    /// A consistent view of the whole state, as of now: later changes do not show in it.
    /// Cheap: it shares the store's state until the next write, which then copies it.
    pub fn snapshot(&self) -> Arc<ObservedState> {
        Arc::clone(&self.read())
    }

    /// One container by ID, if the store holds it.
    pub fn container(&self, id: &str) -> Option<ObservedContainer> {
        self.read().containers.get(id).cloned()
    }

    /// How many containers the store holds.
    pub fn container_count(&self) -> usize {
        self.read().containers.len()
    }

    /// True once the first full list has been swapped in.
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire)
    }

    /// Inserts or updates a container (by ID). A stale `created` read of a container the
    /// store already knows as started is ignored (see `is_stale`). Returns false when
    /// nothing changed (the same container as known, or a stale read).
    pub fn upsert(&self, container: ObservedContainer) -> bool {
        {
            let mut state = self.write();
            let known = state.containers.get(&container.id);
            if known == Some(&container) || is_stale(known, &container) {
                return false;
            }
            self.touch(&container.id);
            state.containers.insert(container.id.clone(), container);
        }
        self.bump();
        true
    }

    /// Forgets a container; returns what the store held.
    pub fn remove(&self, id: &str) -> Option<ObservedContainer> {
        let removed = {
            let mut state = self.write();
            self.touch(id);
            state.containers.remove(id)
        };
        if removed.is_some() {
            self.bump();
        }
        removed
    }

    /// Records the labels of a network composectl just created (or found), so the next
    /// plan judges its definition before the next relist.
    pub fn upsert_network(&self, name: &str, network: ObservedResource) {
        self.upsert_resource(|s| &mut s.networks, name, network);
    }

    /// Records the labels of a volume composectl just created (or found).
    pub fn upsert_volume(&self, name: &str, volume: ObservedResource) {
        self.upsert_resource(|s| &mut s.volumes, name, volume);
    }

    /// Forgets a network composectl just removed.
    pub fn forget_network(&self, name: &str) {
        let removed = self.write().networks.remove(name).is_some();
        if removed {
            self.bump();
        }
    }

    fn upsert_resource(
        &self,
        map: impl FnOnce(&mut ObservedState) -> &mut BTreeMap<String, ObservedResource>,
        name: &str,
        resource: ObservedResource,
    ) {
        {
            let mut state = self.write();
            let map = map(&mut state);
            if map.get(name) == Some(&resource) {
                return;
            }
            map.insert(name.to_owned(), resource);
        }
        self.bump();
    }

    /// Replaces the local image tags and built images.
    pub fn set_images(&self, images: crate::model::observed::ImageList) {
        {
            let mut state = self.write();
            if state.images == images.tags && state.built == images.built {
                return;
            }
            state.images = images.tags;
            state.built = images.built;
        }
        self.bump();
    }

    /// Swaps in a complete state (after a relist) and marks the store ready. A container
    /// the list shows as `created` but the store already knows as started keeps the
    /// store's view (see `is_stale`).
    pub fn replace(&self, state: ObservedState) {
        self.replace_listed(state, u64::MAX);
    }

    /// Like [`Store::replace`] for a list read when the store was at version `listed_at`:
    /// a container upserted or removed since then (the executor's create racing a relist)
    /// keeps the store's newer view instead of the list's older one.
    pub fn replace_listed(&self, state: ObservedState, listed_at: u64) {
        self.swap(state, listed_at, false);
    }

    /// Like [`Store::replace_listed`] for a list of the containers and images only: the
    /// networks and volumes the store holds stay (events keep them current).
    pub fn replace_containers(&self, state: ObservedState, listed_at: u64) {
        self.swap(state, listed_at, true);
    }

    /// Replaces the managed networks and volumes (after an event on one of them); false
    /// when they are as the store knew them (the executor records its own creations).
    pub fn set_resources(
        &self,
        networks: BTreeMap<String, ObservedResource>,
        volumes: BTreeMap<String, ObservedResource>,
    ) -> bool {
        {
            let mut state = self.write();
            if state.networks == networks && state.volumes == volumes {
                return false;
            }
            state.networks = networks;
            state.volumes = volumes;
        }
        self.bump();
        true
    }

    fn swap(&self, mut state: ObservedState, listed_at: u64, keep_resources: bool) {
        let mut current = self.write();
        let touched = sync::lock(&self.shared.touched);
        for (id, _) in touched.iter().filter(|(_, v)| **v > listed_at) {
            match current.containers.get(id) {
                Some(newer) => state.containers.insert(id.clone(), newer.clone()),
                None => state.containers.remove(id),
            };
        }
        drop(touched);
        for (id, container) in &mut state.containers {
            if let Some(known) = current.containers.get(id)
                && is_stale(Some(known), container)
            {
                *container = known.clone();
            }
        }
        if keep_resources {
            state.networks = current.networks.clone();
            state.volumes = current.volumes.clone();
        }
        current.replace(state);
        drop(current);
        self.shared.ready.store(true, Ordering::Release);
        self.bump();
    }

    /// Like [`Store::wait_for`], but gives up (`None`) as soon as the engine is away: what
    /// is waited for may not come while it is, and what the store showed meanwhile may be
    /// the engine's own shutdown.
    pub async fn wait_while_engine_up<T>(
        &self,
        mut check: impl FnMut(&ObservedState) -> Option<T>,
    ) -> Option<T> {
        self.wait_for(|state| {
            if self.is_engine_away() {
                return Some(None);
            }
            check(state).map(Some)
        })
        .await
    }

    /// A receiver whose value (a version number) changes on every change to the store.
    pub fn changed(&self) -> watch::Receiver<u64> {
        self.shared.version.subscribe()
    }

    /// Waits until `check` returns `Some` for the current state, re-checking on every
    /// change (no polling). Bound it with a timeout where waiting forever is wrong.
    pub async fn wait_for<T>(&self, mut check: impl FnMut(&ObservedState) -> Option<T>) -> T {
        let mut changes = self.changed();
        loop {
            changes.borrow_and_update();
            if let Some(found) = check(&self.read()) {
                return found;
            }
            if changes.changed().await.is_err() {
                // Unreachable while `self` holds the sender; never spin if it were.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// True when `incoming` is an outdated read of `known`: Docker never returns a started
/// container to `created`, so a `created` view of a container known in a later state was
/// read before the start and delivered after it (an event's inspect or a relist racing
/// the executor's create-and-start). Keeping it would make the planner replace a container
/// that runs.
fn is_stale(known: Option<&ObservedContainer>, incoming: &ObservedContainer) -> bool {
    incoming.state == ContainerState::Created
        && known.is_some_and(|k| k.state != ContainerState::Created)
}
