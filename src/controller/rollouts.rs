//! The rollout driver: runs each service's rollout strategy against the host before the
//! planner plans, and tells the planner which replica slots stay on which revision.
//!
//! A service takes part when it configures `x-rollout` or `deploy.update_config`. Per
//! reconcile and service, the driver:
//!
//! 1. makes sure the desired image is local (pulling it) and records the desired revision
//!    in the service's history *before* anything is created from it;
//! 2. when the replicas run another revision than the desired one and no rollout of the
//!    desired one exists, starts one: tags the running image `<repository>:previous` and
//!    writes the rollout record;
//! 3. builds the replica view, evaluates the gates of the current monitor window, and asks
//!    the strategy for its next steps until it has to wait, recording each step;
//! 4. pins every slot the rollout has not moved (or has moved back) to the previous
//!    revision: the planner then converges each slot to its revision, which is how updates,
//!    reverts and heals all happen through one mechanism.
//!
//! Everything a rollout needs survives a controller restart: the record and history are
//! files ([`crate::state`]); gates restart their window's evidence from scratch.
//!
//! The engine going away is not the new revision's failure (see
//! [`crate::observed::engine`]): the rollout's clock (its windows and progress deadlines)
//! stops while the engine is away, replicas the engine stopped read as starting (never
//! failed) until they are started again, their progress deadline starts over, no gate
//! judges them, and a drive during which the engine went away decides nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing::{info, warn};

use crate::gate::{self, Gate, GateConfig};
use crate::metrics::Telemetry;
use crate::model::spec::{ProjectSpec, ServiceSpec};
use crate::model::{ObservedContainer, hash, previous_tag};
use crate::observed::{Outages, Store};
use crate::plan::{self, Pin, Pins};
use crate::rollout::observe::{self, revision_key};
use crate::rollout::record::{GateReport, History, Phase, RevisionKey, RolloutRecord};
use crate::rollout::{
    self, Order, POLL, Readiness, RolloutAction, RolloutConfig, RolloutState, Step, Verdicts,
};
use crate::runtime::{self, ContainerRuntime};
use crate::state::{self, StateDir};
use crate::webhook::{EventKind, RolloutEvent, Webhook};

/// Why the driver could not decide; the reconcile fails and changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory could not be read or written.
    #[error(transparent)]
    State(#[from] state::Error),
    /// The service's rollout settings are invalid (the loader normally rejects them).
    #[error("{project}/{service}: {message}")]
    Config {
        /// The project.
        project: String,
        /// The service.
        service: String,
        /// What is wrong.
        message: String,
    },
    /// A pull or tag failed.
    #[error("{project}/{service}: {source}")]
    Runtime {
        /// The project.
        project: String,
        /// The service.
        service: String,
        /// The runtime's error.
        source: runtime::Error,
    },
}

/// Result alias of the driver.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the driver tells the planner for one project.
#[derive(Debug, Default)]
pub struct Drive {
    /// Slots held on an earlier revision.
    pub pins: Pins,
    /// Services whose configuration replacements start first.
    pub start_first: BTreeSet<String>,
    /// When to look again (a strategy waiting on time).
    pub requeue_after: Option<Duration>,
}

/// Gate instances of one service's current monitor window, per watched replica.
struct LiveGates {
    window: (usize, Option<Duration>),
    replicas: BTreeMap<u32, Vec<Box<dyn Gate>>>,
}

type ServiceKey = (String, String);

/// The rollouts of every service, with their records cached in memory.
pub struct Rollouts {
    state: StateDir,
    locks: Mutex<BTreeMap<ServiceKey, Arc<tokio::sync::Mutex<()>>>>,
    records: Mutex<BTreeMap<ServiceKey, Option<RolloutRecord>>>,
    histories: Mutex<BTreeMap<ServiceKey, History>>,
    live: Mutex<BTreeMap<ServiceKey, LiveGates>>,
    warned: Mutex<BTreeSet<ServiceKey>>,
    webhook: Option<Webhook>,
}

pub use crate::rollout::config::has_rollout;

/// The project spec with only `service` in it: what a revision records.
pub fn one_service(spec: &ProjectSpec, service: &ServiceSpec) -> ProjectSpec {
    ProjectSpec {
        services: BTreeMap::from([(service.name.clone(), service.clone())]),
        ..spec.clone()
    }
}

/// Milliseconds since the epoch.
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The gates' names: the type, numbered when a type repeats (`http`, `http-2`).
pub fn gate_names(gates: &[GateConfig]) -> Vec<String> {
    let kinds: Vec<&str> = gates.iter().map(GateConfig::kind).collect();
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let seen = kinds[..i].iter().filter(|k| *k == kind).count();
            let total = kinds.iter().filter(|k| *k == kind).count();
            if total == 1 {
                (*kind).to_owned()
            } else {
                format!("{kind}-{}", seen + 1)
            }
        })
        .collect()
}

/// The revision most replicas run, leaving out `except` when given.
pub fn most_run(
    kept: &BTreeMap<u32, &ObservedContainer>,
    except: Option<&RevisionKey>,
) -> Option<RevisionKey> {
    let mut counts: BTreeMap<RevisionKey, usize> = BTreeMap::new();
    for c in kept.values() {
        let key = revision_key(c);
        if Some(&key) != except {
            *counts.entry(key).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .map(|(key, _)| key)
}

impl Rollouts {
    /// Rollouts recorded in `state`, posting outcomes to `webhook` when given.
    pub fn new(state: StateDir, webhook: Option<Webhook>) -> Self {
        Self {
            state,
            locks: Mutex::new(BTreeMap::new()),
            records: Mutex::new(BTreeMap::new()),
            histories: Mutex::new(BTreeMap::new()),
            live: Mutex::new(BTreeMap::new()),
            warned: Mutex::new(BTreeSet::new()),
            webhook,
        }
    }

    /// The lock a service's record is changed under: held by the driver for a whole drive
    /// of the service and by control commands, so neither overwrites the other's change.
    pub fn lock(&self, project: &str, service: &str) -> Arc<tokio::sync::Mutex<()>> {
        let key = (project.to_owned(), service.to_owned());
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone()
    }

    /// The record of a service (cached; read from disk the first time).
    pub fn record(&self, project: &str, service: &str) -> Result<Option<RolloutRecord>> {
        let key = (project.to_owned(), service.to_owned());
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = records.get(&key) {
            return Ok(cached.clone());
        }
        let loaded = self.state.load_record(project, service)?;
        records.insert(key, loaded.clone());
        Ok(loaded)
    }

    /// The revision history of a service (cached; read from disk the first time).
    pub fn history(&self, project: &str, service: &str) -> Result<History> {
        let key = (project.to_owned(), service.to_owned());
        let mut histories = self
            .histories
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = histories.get(&key) {
            return Ok(cached.clone());
        }
        let loaded = self.state.load_history(project, service)?;
        histories.insert(key, loaded.clone());
        Ok(loaded)
    }

    /// Writes a service's revision history (atomically) and caches it.
    fn save_history(&self, project: &str, service: &str, history: &History) -> Result<()> {
        self.state.save_history(project, service, history)?;
        let key = (project.to_owned(), service.to_owned());
        self.histories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, history.clone());
        Ok(())
    }

    /// Every record read or written so far, by (project, service).
    pub fn cached(&self) -> BTreeMap<ServiceKey, RolloutRecord> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records
            .iter()
            .filter_map(|(key, record)| Some((key.clone(), record.clone()?)))
            .collect()
    }

    /// Caches a record without writing it (what changes every evaluation: gate evidence).
    fn cache(&self, project: &str, service: &str, record: &RolloutRecord) {
        let key = (project.to_owned(), service.to_owned());
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Some(record.clone()));
    }

    /// Writes a service's record (atomically) and caches it.
    pub fn save(&self, project: &str, service: &str, record: &RolloutRecord) -> Result<()> {
        let mut stored = record.clone();
        stored.state.elapsed = Duration::ZERO;
        self.state.save_record(project, service, &stored)?;
        let key = (project.to_owned(), service.to_owned());
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Some(stored));
        Ok(())
    }

    /// Records that the new container of replica `number` never became ready (a failed
    /// start-first replacement): the strategy sees a failed new replica next time.
    pub async fn replica_failed(&self, project: &str, service: &str, number: u32) -> Result<()> {
        let lock = self.lock(project, service);
        let _held = lock.lock().await;
        let Some(mut record) = self.record(project, service)? else {
            return Ok(());
        };
        if record.phase.is_final() || !record.failed_replicas.insert(number) {
            return Ok(());
        }
        warn!(
            project,
            service,
            replica = number,
            "the new revision's container did not become ready"
        );
        self.save(project, service, &record)
    }

    /// Runs the rollouts of every service of `spec` that has one, and returns the pins.
    pub async fn drive<R: ContainerRuntime>(
        &self,
        runtime: &Arc<R>,
        store: &Store,
        telemetry: &Telemetry,
        spec: &ProjectSpec,
    ) -> Result<Drive> {
        let mut drive = Drive::default();
        for service in spec.services.values().filter(|s| has_rollout(s)) {
            let ctx = Ctx {
                runtime,
                store,
                telemetry,
                spec,
                service,
            };
            let one = self.service(&ctx).await?;
            drive.pins.extend(one.pins);
            drive.start_first.extend(one.start_first);
            drive.requeue_after = match (drive.requeue_after, one.requeue_after) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(drive)
    }

    async fn service<R: ContainerRuntime>(&self, ctx: &Ctx<'_, R>) -> Result<Drive> {
        let lock = self.lock(&ctx.spec.name, &ctx.service.name);
        let _held = lock.lock().await;
        let config = RolloutConfig::from_service(ctx.service).map_err(|e| ctx.config(e))?;
        let gates = GateConfig::parse_list(&Value::Array(config.gates.clone()))
            .map_err(|e| ctx.config(format!("x-rollout.{e}")))?;
        let image_id = self.image_id(ctx).await?;
        let target = RevisionKey {
            config_hash: hash::config_hash(ctx.spec, ctx.service),
            image_id,
        };
        let observed = ctx.store.snapshot();
        let kept = plan::kept_replicas(&observed, &ctx.spec.name, &ctx.service.name);
        let (project, name) = (ctx.spec.name.as_str(), ctx.service.name.as_str());
        let existing = self.record(project, name)?;
        let mut history = self.history(project, name)?;
        let keep: BTreeSet<u64> = existing
            .iter()
            .flat_map(|r| [r.target_revision, r.previous_revision])
            .collect();
        let before = history.clone();
        let now = ctx.now_ms();
        let image = &ctx.service.image;
        let one = one_service(ctx.spec, ctx.service);
        let target_revision = history.record(target.clone(), image, one, now / 1000, &keep);
        if history != before {
            self.save_history(project, name, &history)?;
        }
        let record = match existing {
            Some(record) if record.target == target => record,
            other => {
                let start = Start {
                    config: &config,
                    kept: &kept,
                    history: &history,
                    target,
                    target_revision,
                    superseded: other.filter(|r| !r.phase.is_final()),
                };
                match self.start(ctx, start).await? {
                    Some(record) => record,
                    None => {
                        ctx.telemetry.set_rollout_step(project, name, 0);
                        return Ok(Drive::default());
                    }
                }
            }
        };
        let mut record = record;
        let requeue_after = if record.phase.is_final() {
            None
        } else {
            self.advance(ctx, &config, &gates, &kept, &mut history, &mut record)
                .await?
        };
        let step = if record.phase.is_final() {
            0
        } else {
            record.state.step + 1
        };
        ctx.telemetry.set_rollout_step(project, name, step);
        Ok(Drive {
            pins: pins(&record, &history, ctx.service, &kept),
            start_first: (record.order == Order::StartFirst && record.phase != Phase::Complete)
                .then(|| name.to_owned())
                .into_iter()
                .collect(),
            requeue_after,
        })
    }

    /// The desired image's ID, pulling the image when it is not local.
    async fn image_id<R: ContainerRuntime>(&self, ctx: &Ctx<'_, R>) -> Result<String> {
        let image = &ctx.service.image;
        if let Some(id) = ctx.store.snapshot().image_id(image) {
            return Ok(id.to_owned());
        }
        if ctx.service.pull_policy.pulls() {
            info!(project = %ctx.spec.name, service = %ctx.service.name, %image, "pulling the new revision's image");
            ctx.runtime
                .pull_image(image, ctx.service.platform.as_deref())
                .await
                .map_err(|e| ctx.runtime_error(e))?;
            ctx.store.record_pull(image);
        }
        let images = ctx
            .runtime
            .list_images()
            .await
            .map_err(|e| ctx.runtime_error(e))?;
        ctx.store.set_images(images);
        let found = ctx.store.snapshot().image_id(image).map(str::to_owned);
        found.ok_or_else(|| {
            ctx.config(format!(
                "image {image} was pulled but the engine does not list it"
            ))
        })
    }

    /// Starts a rollout of the desired revision when replicas run another one; `None` when
    /// there is nothing to roll out (a first deploy, or the replicas already run it) or
    /// nothing to roll back to.
    async fn start<R: ContainerRuntime>(
        &self,
        ctx: &Ctx<'_, R>,
        start: Start<'_>,
    ) -> Result<Option<RolloutRecord>> {
        let (project, name) = (ctx.spec.name.as_str(), ctx.service.name.as_str());
        let previous = match &start.superseded {
            Some(old) => {
                let mut old = old.clone();
                old.phase = Phase::Aborted;
                old.reason = Some("superseded by a change of the desired state".to_owned());
                old.finished_at_ms = Some(ctx.now_ms());
                self.save(project, name, &old)?;
                info!(
                    project,
                    service = name,
                    revision = old.target_revision,
                    "rollout superseded by a new desired revision"
                );
                start.history.get(old.previous_revision)
            }
            None => {
                let Some(running) = most_run(start.kept, Some(&start.target)) else {
                    return Ok(None);
                };
                let found = start.history.find(&running);
                if found.is_none() {
                    self.warn_once(project, name);
                }
                found
            }
        };
        let Some(previous) = previous.filter(|p| p.number != start.target_revision) else {
            return Ok(None);
        };
        let previous_image = previous_tag(&previous.image);
        let tagged = ctx
            .runtime
            .tag_image(&previous.key.image_id, &previous_image)
            .await;
        match tagged {
            Ok(()) => {}
            Err(runtime::Error::NotFound { .. }) => {
                return Err(ctx.config(format!(
                    "the image the replicas run ({}, revision {} of {}) is no longer on this host, \
                     so a rollout would have nothing to roll back to; pull or rebuild {} so the \
                     rollout can start",
                    previous.key.image_id, previous.number, previous.image, previous.image
                )));
            }
            Err(e) => return Err(ctx.runtime_error(e)),
        }
        let mut state = RolloutState::new(ctx.service.replicas);
        state.updated = start
            .kept
            .iter()
            .filter(|(n, c)| **n <= ctx.service.replicas && revision_key(c) == start.target)
            .map(|(n, _)| *n)
            .collect();
        let record = RolloutRecord {
            strategy: start.config.strategy.to_owned(),
            target: start.target,
            target_revision: start.target_revision,
            previous_revision: previous.number,
            previous_image: previous_image.clone(),
            started_at_ms: ctx.now_ms(),
            finished_at_ms: None,
            state,
            phase: Phase::Progressing,
            reason: None,
            failed_replicas: BTreeSet::new(),
            ordered_at_ms: BTreeMap::new(),
            gates: Vec::new(),
            aborted: false,
            order: Order::StopFirst,
        };
        self.save(project, name, &record)?;
        ctx.telemetry.record_rollout(project, name, "started");
        info!(
            event = "rollout_started",
            project,
            service = name,
            strategy = start.config.strategy,
            revision = record.target_revision,
            previous = record.previous_revision,
            previous_image = %previous_image,
            "rollout started"
        );
        Ok(Some(record))
    }

    fn warn_once(&self, project: &str, service: &str) {
        let key = (project.to_owned(), service.to_owned());
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.insert(key) {
            warn!(
                project,
                service,
                "the running replicas' revision is not in the history (created before composectl \
                 recorded revisions, or the state directory was lost): updating without a rollout, \
                 nothing to roll back to"
            );
        }
    }

    /// Moves a rollout on as far as it can go now; returns when to look again.
    async fn advance<R: ContainerRuntime>(
        &self,
        ctx: &Ctx<'_, R>,
        config: &RolloutConfig,
        gates: &[GateConfig],
        kept: &BTreeMap<u32, &ObservedContainer>,
        history: &mut History,
        record: &mut RolloutRecord,
    ) -> Result<Option<Duration>> {
        let (project, name) = (ctx.spec.name.as_str(), ctx.service.name.as_str());
        let strategy = rollout::strategy(config);
        let original = record.clone();
        let outages = ctx.store.outages();
        record.state.replicas = ctx.service.replicas;
        let elapsed_ms = rollout_elapsed_ms(&outages, record.started_at_ms, ctx.now_ms());
        record.state.elapsed = Duration::from_millis(elapsed_ms);
        let stopped: BTreeSet<u32> = kept
            .iter()
            .filter(|(_, c)| outages.stopped(c))
            .map(|(n, _)| *n)
            .collect();
        for number in &stopped {
            // Its progress deadline starts over once it is started again.
            if let Some(at) = record.ordered_at_ms.get_mut(number) {
                *at = elapsed_ms;
            }
        }
        overdue(record, kept, config.progress_deadline, elapsed_ms);
        let mut view = observe::replica_view(kept, &record.target, &record.failed_replicas);
        for number in stopped
            .iter()
            .filter(|n| !record.failed_replicas.contains(n))
        {
            if let Some(replica) = view.replicas.get_mut(number) {
                replica.readiness = Readiness::Starting;
            }
        }
        let window_open = record.state.window_started.is_some() && !record.state.rolling_back;
        let verdicts = if window_open && !gates.is_empty() {
            let verdicts = self.evaluate(ctx, gates, kept, &stopped, record).await;
            if ctx.store.is_engine_away() || ctx.store.outages().returns() != outages.returns() {
                // The engine went away while the gates looked: what they saw may be its
                // shutdown. Decide nothing; the drive after its return looks again.
                *record = original;
                return Ok(Some(POLL));
            }
            verdicts
        } else {
            // Not evaluated in this window yet: every gate is undecided, so a window
            // that starts below (even one of zero length) waits for a real evaluation.
            self.live_gates(project, name).take();
            let names = gate_names(gates);
            Verdicts::of(names.iter().map(|n| (n.as_str(), rollout::Verdict::NotYet)))
        };
        let mut requeue = None;
        for _ in 0..64 {
            match strategy.next(&record.state, &view, &verdicts) {
                Step::Act(actions) => self.act(ctx, record, &actions, elapsed_ms),
                Step::Wait(after) => {
                    record.phase = if record.state.rolling_back {
                        Phase::RollingBack
                    } else {
                        Phase::Progressing
                    };
                    let gated = record.state.window_started.is_some()
                        && !record.state.rolling_back
                        && !gates.is_empty();
                    requeue = Some(if gated { after.min(POLL) } else { after });
                    break;
                }
                Step::RollBack(reason) => {
                    warn!(event = "rollout_failed", project, service = name, revision = record.target_revision, %reason, "rollout failed; rolling back to the previous revision");
                    record.state.begin_rollback();
                    record.phase = Phase::RollingBack;
                    record.reason = Some(reason);
                    if let Some(entry) = history
                        .entries
                        .iter_mut()
                        .find(|e| e.number == record.target_revision)
                    {
                        entry.failed_at = Some(ctx.now_ms() / 1000);
                    }
                    self.save_history(project, name, history)?;
                }
                Step::Pause(reason) => {
                    if record.phase != Phase::Paused {
                        info!(event = "rollout_paused", project, service = name, %reason, "rollout paused");
                    }
                    record.phase = Phase::Paused;
                    record.reason = Some(reason);
                    break;
                }
                Step::AwaitPromotion { step } => {
                    if record.phase != Phase::AwaitingPromotion {
                        info!(
                            event = "rollout_awaiting_promotion",
                            project,
                            service = name,
                            step = step + 1,
                            "step passed; waiting for `composectl rollout promote`"
                        );
                    }
                    record.phase = Phase::AwaitingPromotion;
                    break;
                }
                Step::Done => {
                    self.finish(ctx, record);
                    break;
                }
            }
        }
        let mut compared = record.clone();
        compared.state.elapsed = Duration::ZERO;
        compared.gates.clone_from(&original.gates);
        let mut was = original;
        was.state.elapsed = Duration::ZERO;
        if compared != was {
            self.save(project, name, record)?;
        } else {
            self.cache(project, name, record);
        }
        Ok(requeue)
    }

    /// Records the actions of a step (the planner carries replica changes out).
    fn act<R>(
        &self,
        ctx: &Ctx<'_, R>,
        record: &mut RolloutRecord,
        actions: &[RolloutAction],
        elapsed_ms: u64,
    ) {
        let (project, name) = (ctx.spec.name.as_str(), ctx.service.name.as_str());
        for action in actions {
            match action {
                RolloutAction::Update { number, order }
                | RolloutAction::Revert { number, order } => {
                    let (event, revision, what) = match action {
                        RolloutAction::Update { .. } => (
                            "rollout_update",
                            record.target_revision,
                            "moving replica to the new revision",
                        ),
                        _ => (
                            "rollout_revert",
                            record.previous_revision,
                            "putting replica back on the previous revision",
                        ),
                    };
                    info!(
                        event,
                        project,
                        service = name,
                        replica = number,
                        revision,
                        "{what}"
                    );
                    record.ordered_at_ms.insert(*number, elapsed_ms);
                    record.failed_replicas.remove(number);
                    record.order = *order;
                }
                RolloutAction::StartWindow => {
                    info!(
                        event = "rollout_window",
                        project,
                        service = name,
                        step = record.state.step + 1,
                        "monitor window started"
                    );
                    self.live_gates(project, name).take();
                }
                RolloutAction::Advance { .. } => {
                    info!(
                        event = "rollout_step",
                        project,
                        service = name,
                        step = record.state.step + 2,
                        "step passed; next step"
                    );
                    record.gates.clear();
                }
            }
        }
        record.state.apply(actions);
    }

    /// Ends a rollout: promoted, rolled back or aborted.
    fn finish<R>(&self, ctx: &Ctx<'_, R>, record: &mut RolloutRecord) {
        let (project, name) = (ctx.spec.name.as_str(), ctx.service.name.as_str());
        let (phase, outcome, kind) = match (record.state.rolling_back, record.aborted) {
            (false, _) => (Phase::Complete, "promoted", EventKind::Promoted),
            (true, false) => (Phase::RolledBack, "rolled_back", EventKind::RolledBack),
            (true, true) => (Phase::Aborted, "aborted", EventKind::Aborted),
        };
        record.phase = phase;
        record.finished_at_ms = Some(ctx.now_ms());
        self.live_gates(project, name).take();
        ctx.telemetry.record_rollout(project, name, outcome);
        info!(
            event = format!("rollout_{outcome}"),
            project,
            service = name,
            revision = record.target_revision,
            previous = record.previous_revision,
            reason = record.reason.as_deref().unwrap_or(""),
            "rollout {}",
            phase.as_str()
        );
        if let Some(webhook) = &self.webhook {
            let event = RolloutEvent {
                event: kind,
                project: project.to_owned(),
                service: name.to_owned(),
                revision: record.target_revision,
                previous_revision: record.previous_revision,
                image: ctx.service.image.clone(),
                reason: record.reason.clone(),
                at: crate::timefmt::rfc3339(crate::timefmt::now_secs()),
            };
            let webhook = webhook.clone();
            tokio::spawn(async move { webhook.post(&event).await });
        }
    }

    fn live_gates(&self, project: &str, service: &str) -> LiveSlot<'_> {
        LiveSlot {
            rollouts: self,
            key: (project.to_owned(), service.to_owned()),
        }
    }

    /// Evaluates every gate once on every replica of the current step that runs the new
    /// revision (but those in `stopped`, down because the engine went away); records the
    /// reports on `record` and counts the evaluations.
    async fn evaluate<R: ContainerRuntime>(
        &self,
        ctx: &Ctx<'_, R>,
        configs: &[GateConfig],
        kept: &BTreeMap<u32, &ObservedContainer>,
        stopped: &BTreeSet<u32>,
        record: &mut RolloutRecord,
    ) -> Verdicts {
        let (project, name) = (ctx.spec.name.as_str(), ctx.service.name.as_str());
        let window = (record.state.step, record.state.window_started);
        let mut live = self
            .live_gates(project, name)
            .take()
            .filter(|l| l.window == window)
            .unwrap_or_else(|| LiveGates {
                window,
                replicas: BTreeMap::new(),
            });
        let names = gate_names(configs);
        let mut per_gate: Vec<Vec<(u32, gate::Verdict)>> = vec![Vec::new(); configs.len()];
        for &number in &record.state.updated {
            let Some(c) = kept.get(&number) else { continue };
            if revision_key(c) != record.target || stopped.contains(&number) {
                continue;
            }
            let gates = live.replicas.entry(number).or_insert_with(|| {
                configs
                    .iter()
                    .map(|g| g.build(ctx.runtime.clone()))
                    .collect()
            });
            let target = gate::Target {
                project: project.to_owned(),
                service: name.to_owned(),
                number,
                container_name: c.name.clone(),
                ip: c.ip,
                port: ctx.service.ports.first().map(|p| p.target),
            };
            for (i, gate) in gates.iter_mut().enumerate() {
                let verdict = gate.evaluate(&target).await;
                let label = verdict.label().replace(' ', "_");
                ctx.telemetry.record_gate(project, name, &names[i], &label);
                per_gate[i].push((number, verdict));
            }
        }
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((project.to_owned(), name.to_owned()), live);
        let mut reports = Vec::new();
        let mut verdicts = Vec::new();
        for (i, config) in configs.iter().enumerate() {
            let (verdict, evidence) = observe::combine(&per_gate[i]);
            let label = match &verdict {
                rollout::Verdict::Pass => "pass",
                rollout::Verdict::Fail(_) => "fail",
                rollout::Verdict::NotYet => "not yet",
            };
            reports.push(GateReport {
                name: names[i].clone(),
                kind: config.kind().to_owned(),
                verdict: label.to_owned(),
                evidence,
            });
            verdicts.push((names[i].as_str(), verdict));
        }
        record.gates = reports;
        Verdicts::of(verdicts)
    }
}

/// Time the rollout started at `started_ms` has been running at `now_ms` (wall clock),
/// leaving out the time the engine was away: the rollout's clock stops meanwhile.
pub(super) fn rollout_elapsed_ms(outages: &Outages, started_ms: u64, now_ms: u64) -> u64 {
    let wall = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
    let away = outages.downtime(wall(started_ms), wall(now_ms));
    now_ms
        .saturating_sub(started_ms)
        .saturating_sub(u64::try_from(away.as_millis()).unwrap_or(u64::MAX))
}

/// Marks replicas ordered onto the new revision that are not ready past the deadline as
/// failed.
fn overdue(
    record: &mut RolloutRecord,
    kept: &BTreeMap<u32, &ObservedContainer>,
    deadline: Duration,
    elapsed_ms: u64,
) {
    if record.state.rolling_back {
        return;
    }
    let deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX);
    let late: Vec<u32> = record
        .state
        .updated
        .iter()
        .copied()
        .filter(|n| {
            record
                .ordered_at_ms
                .get(n)
                .is_some_and(|at| elapsed_ms.saturating_sub(*at) > deadline_ms)
        })
        .filter(|n| !is_new_ready(kept, &record.target, *n))
        .collect();
    for number in late {
        if record.failed_replicas.insert(number) {
            warn!(replica = number, deadline = ?deadline, "replica not ready within the progress deadline");
        }
    }
}

/// The slots a record holds on an earlier revision. A slot the rollout has not reached yet
/// keeps the revision it runs (when the history knows it: a rollout never touches a
/// replica before its turn, even one left on a superseded revision); a slot moved back, or
/// every slot once the rollout rolled back or was aborted, is held on the previous
/// revision.
fn pins(
    record: &RolloutRecord,
    history: &History,
    service: &ServiceSpec,
    kept: &BTreeMap<u32, &ObservedContainer>,
) -> Pins {
    let Some(previous) = history.get(record.previous_revision) else {
        return Pins::new();
    };
    let to_previous = || Pin {
        revision: previous.number,
        spec: previous.spec.clone(),
        image_id: previous.key.image_id.clone(),
        run_image: record.previous_image.clone(),
    };
    let pin = |n: u32| -> Option<Pin> {
        match record.phase {
            Phase::Complete => None,
            Phase::RolledBack | Phase::Aborted => Some(to_previous()),
            _ if record.state.updated.contains(&n) => None,
            _ if record.state.rolling_back => Some(to_previous()),
            _ => {
                let running = kept
                    .get(&n)
                    .map(|c| revision_key(c))
                    .filter(|key| *key != record.target)
                    .and_then(|key| history.find(&key));
                Some(match running {
                    Some(entry) if entry.number != previous.number => Pin {
                        revision: entry.number,
                        spec: entry.spec.clone(),
                        image_id: entry.key.image_id.clone(),
                        run_image: entry.key.image_id.clone(),
                    },
                    _ => to_previous(),
                })
            }
        }
    };
    (1..=service.replicas)
        .filter_map(|n| pin(n).map(|p| ((service.name.clone(), n), p)))
        .collect()
}

/// What one service's drive works with.
struct Ctx<'a, R> {
    runtime: &'a Arc<R>,
    store: &'a Store,
    telemetry: &'a Telemetry,
    spec: &'a ProjectSpec,
    service: &'a ServiceSpec,
}

impl<R> Ctx<'_, R> {
    /// Now, in milliseconds since the epoch, by the store's (injected) clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.store.clock().now_ms()).unwrap_or(0)
    }

    fn config(&self, message: impl ToString) -> Error {
        Error::Config {
            project: self.spec.name.clone(),
            service: self.service.name.clone(),
            message: message.to_string(),
        }
    }

    fn runtime_error(&self, source: runtime::Error) -> Error {
        Error::Runtime {
            project: self.spec.name.clone(),
            service: self.service.name.clone(),
            source,
        }
    }
}

/// What starting a rollout needs.
struct Start<'a> {
    config: &'a RolloutConfig,
    kept: &'a BTreeMap<u32, &'a ObservedContainer>,
    history: &'a History,
    target: RevisionKey,
    target_revision: u64,
    superseded: Option<RolloutRecord>,
}

/// A service's live gates, taken out of the map while a reconcile uses them.
struct LiveSlot<'a> {
    rollouts: &'a Rollouts,
    key: ServiceKey,
}

impl LiveSlot<'_> {
    fn take(self) -> Option<LiveGates> {
        self.rollouts
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key)
    }
}

/// Whether replica `n` of `view` runs the new revision and serves.
pub fn is_new_ready(
    kept: &BTreeMap<u32, &ObservedContainer>,
    target: &RevisionKey,
    n: u32,
) -> bool {
    kept.get(&n)
        .is_some_and(|c| revision_key(c) == *target && observe::readiness(c) == Readiness::Ready)
}
