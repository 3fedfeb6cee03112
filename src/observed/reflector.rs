//! The reflector: keeps the [`Store`] equal to the engine, as an explicit state machine in
//! the shape of kube-runtime's watcher.
//!
//! ```text
//! Disconnected --subscribe--> Subscribed --relist ok--> Watching --event--> Watching
//!      ^                          |                        |
//!      +------- Backoff <---------+-- relist failed        +-- stream error/end,
//!                                                              refresh failed
//! ```
//!
//! It subscribes to events *before* listing, so nothing that happens between the list and
//! the watch is lost (the stream buffers it; applying an event twice is harmless because
//! every event re-reads the container). Every reconnection relists and swaps the whole store.
//!
//! Losing the stream of an engine it had listed starts an outage in the store
//! ([`Store::engine_lost`]); the next successful relist ends it ([`Store::engine_back`]).
//! A failed refresh after an event counts as a loss too: dockerd closes its API before it
//! stops the containers, so the `kill` and `die` events of its own shutdown arrive while
//! nothing can be inspected any more.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::relist::refresh_resources;
use super::{Change, Error, Result, Store, relist};
use crate::model::{ContainerState, ObservedContainer, labels};
use crate::runtime::{self, ContainerRuntime, Exit, RuntimeEvent};

/// First delay before reconnecting.
const MIN_DELAY: Duration = Duration::from_millis(100);
/// Longest delay before reconnecting (before jitter).
const MAX_DELAY: Duration = Duration::from_secs(5);
/// A stream that stayed up this long was healthy: the next failure starts the backoff over.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

type Events = BoxStream<'static, runtime::Result<RuntimeEvent>>;

/// Where the reflector is in its loop.
enum State {
    /// No event stream: subscribe next.
    Disconnected,
    /// Subscribed, not listed yet: the stream buffers events while the relist runs.
    Subscribed(Events),
    /// Listed; applying events as they arrive.
    Watching {
        /// The event stream.
        events: Events,
        /// When the relist that started this stream finished.
        since: Instant,
    },
    /// Waiting before the next subscription.
    Backoff(Duration),
}

/// How many times the event stream failed and the reflector reconnected (for metrics).
#[derive(Debug, Clone, Default)]
pub struct Reconnects(Arc<AtomicU64>);

impl Reconnects {
    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether the event stream is connected and the store follows it (for metrics): true
/// from a successful relist until the stream fails or the reflector stops.
#[derive(Debug, Clone, Default)]
pub struct StreamUp(Arc<AtomicBool>);

impl StreamUp {
    /// True while the reflector is watching the event stream.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }
}

/// Mirrors the engine into a [`Store`] and tells the scheduler what changed.
pub struct Reflector<R> {
    runtime: Arc<R>,
    store: Store,
    changes: mpsc::UnboundedSender<Change>,
    reconnects: Reconnects,
    up: StreamUp,
    backoff: ExponentialBackoff,
}

fn backoff() -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(MIN_DELAY)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

impl<R: ContainerRuntime> Reflector<R> {
    /// A reflector writing into `store` and reporting to `changes`.
    pub fn new(runtime: Arc<R>, store: Store, changes: mpsc::UnboundedSender<Change>) -> Self {
        Self {
            runtime,
            store,
            changes,
            reconnects: Reconnects::default(),
            up: StreamUp::default(),
            backoff: backoff(),
        }
    }

    /// Reports reconnections and the stream's state through these handles (shared with
    /// whoever exports them) instead of fresh ones.
    pub fn with_handles(mut self, reconnects: Reconnects, up: StreamUp) -> Self {
        self.reconnects = reconnects;
        self.up = up;
        self
    }

    /// A handle on the stream's state, readable while [`Reflector::run`] runs.
    pub fn up(&self) -> StreamUp {
        self.up.clone()
    }

    /// A handle on the reconnect counter, readable while [`Reflector::run`] runs.
    pub fn reconnects(&self) -> Reconnects {
        self.reconnects.clone()
    }

    /// Runs until `shutdown` completes.
    pub async fn run(mut self, shutdown: impl Future) {
        tokio::pin!(shutdown);
        let mut state = State::Disconnected;
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    self.up.set(false);
                    return;
                }
                next = self.step(state) => state = next,
            }
        }
    }

    /// One transition of the state machine.
    async fn step(&mut self, state: State) -> State {
        match state {
            State::Disconnected => State::Subscribed(self.runtime.events()),
            State::Subscribed(events) => match relist(&*self.runtime, &self.store).await {
                Ok(()) => {
                    info!(
                        containers = self.store.container_count(),
                        "observed store relisted"
                    );
                    if let Some(outage) = self.store.engine_back(Instant::now()) {
                        let away_ms = outage.back_ms.saturating_sub(outage.lost_ms);
                        info!(
                            away_ms,
                            "the Docker engine is back; exits it caused while away are not failures"
                        );
                    }
                    self.up.set(true);
                    self.send(Change::All);
                    let since = Instant::now();
                    State::Watching { events, since }
                }
                Err(error) => {
                    warn!(%error, "relist failed; retrying");
                    self.back_off()
                }
            },
            State::Watching { mut events, since } => {
                let result = match events.next().await {
                    Some(Ok(event)) => self.apply(event).await,
                    Some(Err(error)) => Err(Error::Stream(error)),
                    None => Err(Error::StreamEnded),
                };
                match result {
                    Ok(()) => State::Watching { events, since },
                    Err(error) => self.reconnect(&error, since),
                }
            }
            State::Backoff(delay) => {
                tokio::time::sleep(delay).await;
                State::Disconnected
            }
        }
    }

    /// Applies one event to the store and tells the scheduler.
    async fn apply(&self, event: RuntimeEvent) -> Result<()> {
        debug!(?event, "engine event");
        let change = match event {
            RuntimeEvent::Container {
                id,
                action,
                project,
                exit,
            } => {
                if let Some(change) = exit.and_then(|exit| self.record_exit(&id, exit)) {
                    self.send(change);
                }
                self.refresh_container(&id, &action, project).await?
            }
            RuntimeEvent::Image { .. } => {
                let images = self.runtime.list_images().await.map_err(Error::Refresh)?;
                self.store.set_images(images);
                Some(Change::All)
            }
            RuntimeEvent::Resource { .. } => {
                let refreshed = refresh_resources(&*self.runtime, &self.store).await;
                let changed = refreshed.map_err(|e| match e {
                    Error::Relist(source) => Error::Refresh(source),
                    other => other,
                })?;
                changed.then_some(Change::All)
            }
        };
        if let Some(change) = change {
            self.send(change);
        }
        Ok(())
    }

    /// Records the exit a `die` event reports on a running container the engine will not
    /// start again (restart policy `no`), before the inspect: the engine tears the
    /// container down before it answers one, and the heal need not wait for that (its
    /// `start` queues behind the teardown in the engine instead). The inspect after it
    /// completes the record (OOM flag, health).
    fn record_exit(&self, id: &str, exit: Exit) -> Option<Change> {
        let exited = exited(&self.store.container(id)?, exit)?;
        let project = exited.project.clone();
        self.store
            .upsert(exited)
            .then_some(Change::Project(project))
    }

    /// Removes (on `destroy`) or re-reads one container; returns what changed (`None`
    /// when the store already knew the container as it is: a `kill` before its `die`, or
    /// the event of a change the executor already recorded, needs no reconcile).
    async fn refresh_container(
        &self,
        id: &str,
        action: &str,
        project: Option<String>,
    ) -> Result<Option<Change>> {
        let current = if action == "destroy" {
            None
        } else {
            let inspected = self.runtime.inspect_container(id).await;
            inspected.map_err(Error::Refresh)?
        };
        let project = match current {
            Some(container) => {
                let project = container.project.clone();
                if !self.store.upsert(container) {
                    return Ok(None);
                }
                Some(project)
            }
            None => {
                let removed = self.store.remove(id);
                project.or(removed.map(|c| c.project))
            }
        };
        Ok(Some(project.map_or(Change::All, Change::Project)))
    }

    /// Counts a reconnection, starts an outage, and picks the delay (starting over after a
    /// healthy stream).
    fn reconnect(&mut self, error: &Error, since: Instant) -> State {
        self.reconnects.increment();
        self.up.set(false);
        self.store.engine_lost();
        if since.elapsed() >= HEALTHY_AFTER {
            self.backoff = backoff();
        }
        warn!(%error, "engine event stream lost; reconnecting and relisting");
        self.back_off()
    }

    fn back_off(&mut self) -> State {
        State::Backoff(self.backoff.next().unwrap_or(MAX_DELAY))
    }

    fn send(&self, change: Change) {
        // A closed channel means the controller is shutting down; nothing to tell.
        let _ = self.changes.send(change);
    }
}

/// `known` after the exit a `die` event reports, when the event alone tells the state:
/// `known` runs and its restart policy is `no` (another policy may be restarting it).
fn exited(known: &ObservedContainer, exit: Exit) -> Option<ObservedContainer> {
    let never_restarted = known.labels.get(labels::RESTART).map(String::as_str) == Some("no");
    if known.state != ContainerState::Running || !never_restarted {
        return None;
    }
    Some(ObservedContainer {
        state: ContainerState::Exited,
        exit_code: Some(exit.code),
        finished_at: Some(exit.at_ms),
        health: None,
        ip: None,
        ..known.clone()
    })
}
