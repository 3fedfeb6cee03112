//! The reconcile loop: what triggers a reconcile, and what runs it.
//!
//! Triggers: a debounced change of the desired directory ([`crate::desired::watch`]), a
//! change the reflector saw on a managed container ([`crate::observed::Change`]), and a
//! periodic resync that relists the engine and reloads the directory, so nothing missed is
//! lost. Every trigger goes through the [`scheduler::Scheduler`], which runs at most one
//! reconcile per project at a time and merges bursts. A failed reconcile is retried with
//! the project's [`backoff::ErrorBackoff`], and so is one whose task panicked (the loop
//! knows each task's project, so a panic releases it instead of wedging it); replicas that
//! keep dying wait out their [`backoff::CrashBackoff`]. Nothing is reconciled before the first full list of the
//! engine, so a controller restart never creates what already runs.
//!
//! Every load of the desired directory passes the host policy ([`crate::policy::Guard`])
//! before it reaches the view: a project whose files ask for more privileges than the host
//! allows it is held, like a project that fails to load (its last good spec keeps running);
//! `composectl policy approve` asks the loop to reload at once ([`Shared::reload`]).
//!
//! While the engine is away (see [`crate::observed::engine`]) reconciles decide nothing;
//! when it is back, the error backoff built up meanwhile is forgotten and every project is
//! reconciled at once. What the engine stopped is started again in place, without crash
//! backoff, and rollouts neither count the outage toward their windows nor judge replicas
//! by it.

pub mod backoff;
pub mod builds;
mod control;
pub mod failing;
mod loading;
mod oneshot;
mod ownership;
mod reconcile;
pub mod rollouts;
pub mod scheduler;
mod source;
mod tasks;
pub mod view;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::{Instrument, error, info, info_span, warn};

pub use reconcile::{Outcome, Shared};

use crate::clock::WallClock;
use crate::desired;
use crate::desired::bounded::BoundedLoader;
use crate::executor::Executor;
use crate::metrics::Telemetry;
use crate::observed::{self, Change, Reflector, Store};
use crate::policy;
use crate::runtime::ContainerRuntime;
use crate::state::StateDir;
use crate::sync;
use crate::systemd::Notifier;
use crate::systemd::report::{Reporter, Summary};
use crate::webhook::Webhook;
use backoff::{CrashBackoff, CrashPolicy, ErrorBackoff};
use rollouts::Rollouts;
use scheduler::Scheduler;
use tasks::{Failure, Reconciles};
use view::DesiredView;

/// Errors that stop the controller or a one-shot command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The desired directory could not be watched.
    #[error(transparent)]
    Watch(#[from] desired::watch::Error),
    /// The engine could not be listed.
    #[error("cannot read the engine's state: {0}")]
    Observe(#[from] observed::Error),
    /// Some projects failed (one-shot commands report them all).
    #[error("{} project(s) failed:\n{}", .0.len(), .0.join("\n"))]
    Projects(Vec<String>),
}

/// Result alias for the controller.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct Config {
    /// The desired directory.
    pub desired_dir: PathBuf,
    /// Period of the full resync.
    pub resync: Duration,
    /// Quiet time before a burst of file changes becomes one reload.
    pub debounce: Duration,
    /// Crash backoff settings.
    pub crash: CrashPolicy,
    /// Longest wait for a `depends_on` condition.
    pub wait_timeout: Duration,
    /// How many actions of a plan run at once.
    pub parallelism: usize,
    /// How image builds run (how many at once, how long each may take).
    pub builds: crate::executor::BuildSettings,
    /// Time in-flight reconciles get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Where rollout records and revision histories live.
    pub state: StateDir,
    /// Where rollout outcomes are posted, if anywhere.
    pub webhook: Option<Webhook>,
    /// How long a project must stay gone, across two loads, before it is pruned.
    pub removal_grace: Duration,
    /// Prune every project of this instance that the desired directory does not hold,
    /// including projects loaded from another desired directory (`--adopt`).
    pub adopt: bool,
    /// How long one project's load may take.
    pub load_timeout: Duration,
    /// File-size limits of the loader.
    pub limits: desired::Limits,
    /// The host policy: what projects may do to the host ([`crate::policy`]).
    pub policy: policy::Settings,
    /// The shortest interval between two registry checks of one service
    /// (`--watch-min-interval`, [`crate::watch`]).
    pub watch_min_interval: Duration,
}

impl Config {
    /// Defaults for `dir`: 30 s resync, 500 ms debounce, 120 s dependency wait.
    pub fn new(desired_dir: impl Into<PathBuf>) -> Self {
        Self {
            desired_dir: desired_dir.into(),
            resync: Duration::from_secs(30),
            debounce: Duration::from_millis(500),
            crash: CrashPolicy::default(),
            wait_timeout: Duration::from_secs(120),
            parallelism: crate::executor::DEFAULT_PARALLELISM,
            builds: crate::executor::BuildSettings::default(),
            shutdown_grace: Duration::from_secs(30),
            state: StateDir::new(
                std::path::Path::new(crate::control::DEFAULT_STATE_DIR),
                crate::model::labels::DEFAULT_INSTANCE,
            ),
            webhook: None,
            removal_grace: view::DEFAULT_REMOVAL_GRACE,
            adopt: false,
            load_timeout: desired::bounded::DEFAULT_LOAD_TIMEOUT,
            limits: desired::Limits::default(),
            policy: policy::Settings::default(),
            watch_min_interval: crate::watch::DEFAULT_MIN_INTERVAL,
        }
    }
}

/// The controller of one host.
pub struct Controller<R> {
    runtime: Arc<R>,
    shared: Arc<Shared<R>>,
    config: Config,
    notifier: Notifier,
    kicks: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    loader: BoundedLoader,
    ownership: ownership::Keeper,
    guard: policy::Guard,
    clock: WallClock,
    /// The latest policy file error logged, so it is logged once.
    policy_error: Mutex<Option<String>>,
}

impl<R: ContainerRuntime> Controller<R> {
    /// A controller acting through `runtime`.
    pub fn new(runtime: Arc<R>, config: Config) -> Self {
        Self::with_clock(runtime, config, WallClock::system())
    }

    /// A controller acting through `runtime` that times the engine's outages and its
    /// rollouts by `clock` (tests pass one that follows tokio's paused clock).
    pub fn with_clock(runtime: Arc<R>, config: Config, clock: WallClock) -> Self {
        let store = Store::with_clock(clock.clone());
        let executor = Executor::new(runtime.clone(), store.clone())
            .with_wait_timeout(config.wait_timeout)
            .with_parallelism(config.parallelism)
            .with_builds(config.builds.clone())
            .with_state_dir(config.state.clone());
        let (kick, kicks) = mpsc::unbounded_channel();
        let ownership = ownership::Keeper::open(&config.state, &config.desired_dir);
        let view = DesiredView::new(ownership.owned(), config.adopt, config.removal_grace);
        let shared = Arc::new(Shared {
            runtime: runtime.clone(),
            store,
            executor,
            view: Mutex::new(view),
            crash: Mutex::new(CrashBackoff::new(config.crash)),
            failing: Mutex::new(failing::FailingServices::default()),
            builds: Mutex::new(builds::Builds::new(config.state.clone())),
            telemetry: Telemetry::new(),
            rollouts: Rollouts::new(config.state.clone(), config.webhook.clone()),
            kick,
            privileges: Mutex::default(),
            reload: tokio::sync::Notify::new(),
            notes_warned: Mutex::default(),
            watches: crate::watch::Watches::with_state(config.state.clone()),
        });
        let guard = policy::Guard::new(
            config.policy.clone(),
            &config.desired_dir,
            config.state.clone(),
        );
        let source = source::SharedSource(Arc::downgrade(&shared));
        shared.telemetry.attach_state(source);
        Self {
            runtime,
            shared,
            loader: BoundedLoader::new(config.load_timeout, config.limits),
            config,
            notifier: Notifier::disabled(),
            kicks: Mutex::new(Some(kicks)),
            ownership,
            guard,
            clock,
            policy_error: Mutex::default(),
        }
    }

    /// The same controller, telling systemd how [`Self::run`] goes through `notifier`
    /// (see [`crate::systemd::report`]).
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// The handler of the control socket's requests (`composectl rollout ...`).
    pub fn control_handler(&self) -> Arc<dyn crate::control::Handler> {
        Arc::new(control::ControlHandler::new(self.shared.clone()))
    }

    /// The observed store (read-only use: status, tests).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The controller's metrics and status record (for the HTTP server).
    pub fn telemetry(&self) -> &Telemetry {
        &self.shared.telemetry
    }

    /// Lists the engine once into the store: containers, images, networks and volumes.
    pub async fn relist(&self) -> Result<()> {
        observed::relist(self.runtime.as_ref(), &self.shared.store).await?;
        Ok(())
    }

    /// The periodic resync: lists the managed containers and the images into the store
    /// (networks and volumes follow their events; every reconnection lists them too).
    pub async fn resync(&self) -> Result<()> {
        observed::resync(self.runtime.as_ref(), &self.shared.store).await?;
        Ok(())
    }

    /// Starts the reflector feeding the store and sending what changed to `changes`.
    fn start_reflector(&self, changes: mpsc::UnboundedSender<Change>) -> RunningReflector {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let telemetry = &self.shared.telemetry;
        let reflector = Reflector::new(self.runtime.clone(), self.shared.store.clone(), changes)
            .with_handles(telemetry.reconnects(), telemetry.stream_up());
        let task = tokio::spawn(reflector.run(async {
            let _ = stopped.await;
        }));
        RunningReflector { stop, task }
    }

    /// Starts registry watching ([`crate::watch`]): it pulls what the registry has that
    /// the host does not and kicks the project's reconcile.
    fn start_watcher(&self) -> RunningReflector {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let watcher = crate::watch::Watcher::new(
            self.runtime.clone(),
            crate::watch::host::ControllerHost::new(&self.shared),
            self.shared.watches.clone(),
            self.clock.clone(),
            self.config.watch_min_interval,
        )
        .with_telemetry(self.shared.telemetry.clone())
        .with_webhook(self.config.webhook.clone());
        let task = tokio::spawn(watcher.run(async {
            let _ = stopped.await;
        }));
        RunningReflector { stop, task }
    }

    /// Desired and observed projects together.
    fn projects(&self) -> BTreeSet<String> {
        self.projects_with(&sync::lock(&self.shared.view))
    }

    fn projects_with(&self, view: &DesiredView) -> BTreeSet<String> {
        let mut projects = view.projects();
        let observed = self.shared.store.snapshot();
        projects.extend(observed.projects().into_iter().map(str::to_owned));
        projects
    }

    /// Runs until `shutdown` resolves, then lets in-flight reconciles finish (bounded by
    /// the shutdown grace).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (_watcher, mut reloads) =
            desired::watch::watch(&self.config.desired_dir, self.config.debounce)?;
        let mut confirm = self.reload().await.confirm_in.map(|d| Instant::now() + d);
        let (changes_tx, mut changes) = mpsc::unbounded_channel();
        let reflector = self.start_reflector(changes_tx);
        let watcher = self.start_watcher();
        let mut resync =
            tokio::time::interval_at(Instant::now() + self.config.resync, self.config.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut scheduler = Scheduler::new();
        let mut errors = ErrorBackoff::default();
        let mut engine_returns = EngineReturns::of(&self.shared.store);
        let mut running = Reconciles::default();
        let mut systemd = Reporter::new(self.notifier.clone());
        let mut heartbeat = tokio::time::interval(systemd.heartbeat_period());
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut kicks = sync::lock(&self.kicks).take().expect("run is called once");
        tokio::pin!(shutdown);
        let mut listed = false;
        loop {
            if systemd.is_listing() && self.shared.store.is_ready() {
                systemd.listed(Instant::now(), || self.summary());
            }
            if !listed && self.shared.store.is_ready() {
                listed = true;
                self.keep_ownership();
            }
            let next = scheduler
                .next_deadline()
                .filter(|_| self.shared.store.is_ready());
            tokio::select! {
                () = &mut shutdown => break,
                Some(()) = reloads.recv() => {
                    confirm = self.reload().await.confirm_in.map(|d| Instant::now() + d);
                    self.keep_ownership();
                    self.schedule_all(&mut scheduler);
                }
                () = self.shared.reload.notified() => {
                    info!("reload requested over the control socket");
                    confirm = self.reload().await.confirm_in.map(|d| Instant::now() + d);
                    self.keep_ownership();
                    self.schedule_all(&mut scheduler);
                }
                () = sleep_until(confirm.unwrap_or_else(far_future)), if confirm.is_some() => {
                    confirm = self.reload().await.confirm_in.map(|d| Instant::now() + d);
                    self.keep_ownership();
                    self.schedule_all(&mut scheduler);
                }
                Some(project) = kicks.recv() => scheduler.schedule(&project, Instant::now()),
                Some(change) = changes.recv() => match change {
                    Change::Project(project) => scheduler.schedule(&project, Instant::now()),
                    Change::All => {
                        if engine_returns.update(&self.shared.store) {
                            // What failed while the engine was away says nothing about the
                            // projects: retry them all now, not after the grown backoff.
                            errors = ErrorBackoff::default();
                            info!("the Docker engine is back; reconciling every project now");
                        }
                        self.schedule_all(&mut scheduler);
                    }
                },
                _ = resync.tick() => {
                    if let Err(err) = self.resync().await {
                        warn!(error = %err, "periodic relist failed; the reflector retries");
                    }
                    confirm = self.reload().await.confirm_in.map(|d| Instant::now() + d);
                    self.keep_ownership();
                    self.schedule_all(&mut scheduler);
                }
                _ = heartbeat.tick(), if systemd.is_enabled() => {
                    systemd.heartbeat(Instant::now(), || self.summary());
                }
                () = sleep_until(next.unwrap_or_else(far_future)), if next.is_some() => {
                    for project in scheduler.take_due(Instant::now()) {
                        let span = info_span!("reconcile", project = %project, revision = tracing::field::Empty);
                        let shared = self.shared.clone();
                        let reconcile = reconcile::reconcile(shared, project.clone(), true);
                        running.spawn(project, reconcile.instrument(span));
                    }
                }
                Some(finished) = running.join_next(), if !running.is_empty() => {
                    let project = finished.project;
                    scheduler.finish(&project);
                    if let Err(Failure::Panicked(panic)) = &finished.result {
                        // The task never got to record its end: record it as a failure.
                        let error = format!("the reconcile panicked: {panic}");
                        self.shared.telemetry.record_reconcile(&project, finished.elapsed, Err(error));
                    }
                    let now = Instant::now();
                    systemd.reconciled(&project, finished.result.is_ok(), now, || self.summary());
                    match finished.result {
                        Ok(outcome) => {
                            errors.succeeded(&project);
                            if let Some(after) = outcome.requeue_after {
                                scheduler.schedule(&project, now + after);
                            }
                        }
                        Err(Failure::Reconcile(err)) => match err.services_retry_in() {
                            Some(retry) => {
                                // Some services failed; each waits out its own backoff
                                // while the rest of the project keeps converging.
                                errors.succeeded(&project);
                                warn!(project = %project, retry_in = ?retry, "reconcile finished with failed services (each is retried after its own backoff)");
                                scheduler.schedule(&project, now + retry);
                            }
                            None => {
                                let retry = errors.failed(&project);
                                error!(project = %project, error = %err, retry_in = ?retry, "reconcile failed");
                                scheduler.schedule(&project, now + retry);
                            }
                        },
                        Err(Failure::Panicked(panic)) => {
                            let retry = errors.failed(&project);
                            error!(project = %project, panic = %panic, retry_in = ?retry, "reconcile panicked; the project is released and retried after the backoff");
                            scheduler.schedule(&project, now + retry);
                        }
                    }
                }
            }
        }
        info!(in_flight = running.len(), "shutting down");
        systemd.stopping();
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!("reconciles still running after the shutdown grace; abandoning them");
        }
        reflector.stop().await;
        watcher.stop().await;
        Ok(())
    }

    /// The loop's state for systemd's status line.
    fn summary(&self) -> Summary {
        let view = sync::lock(&self.shared.view);
        Summary {
            containers: self.shared.store.container_count(),
            projects: view.projects().len(),
            known: self.projects_with(&view),
            invalid: view.errors().keys().cloned().collect(),
            directory_error: view.root_error().is_some(),
        }
    }

    fn schedule_all(&self, scheduler: &mut Scheduler) {
        let now = Instant::now();
        for project in self.projects() {
            scheduler.schedule(&project, now);
        }
    }
}

/// How many times the engine came back, as the loop last saw it.
struct EngineReturns(u64);

impl EngineReturns {
    fn of(store: &Store) -> Self {
        Self(store.outages().returns())
    }

    /// True when the engine came back since the last call.
    fn update(&mut self, store: &Store) -> bool {
        let now = store.outages().returns();
        std::mem::replace(&mut self.0, now) != now
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// A reflector task and the means to stop it.
struct RunningReflector {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningReflector {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod build_tests;
#[cfg(test)]
mod convergence_tests;
#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod failing_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod rollout_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod view_tests;
