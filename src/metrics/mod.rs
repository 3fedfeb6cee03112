//! composectl's Prometheus metrics and the state behind `/readyz` and `/status`.
//!
//! [`Telemetry`] is one cheap-to-clone handle: the controller records into it (reconcile
//! duration and result, last success, desired-state load errors and validity, drift and
//! heals), and the HTTP server reads it ([`Telemetry::encode`], [`Telemetry::is_ready`],
//! [`Telemetry::snapshot`] for [`crate::status`]). What is cheaper to compute when asked than to keep current
//! (managed containers, crash backoff, Docker API calls, the event stream, the process's
//! own resources) is read at scrape time through [`StateSource`] and the runtime's call
//! recorder (see [`scrape`]). Names and label values follow `/work/brief-issue4.md`; every
//! label value is bounded (see [`labels`]).

pub mod labels;
pub mod process;
pub mod scrape;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::controller::backoff::Slot;
use crate::controller::view::DesiredView;
use crate::model::{ObservedState, ProjectSpec};
use crate::observed::{EngineSummary, Reconnects, StreamUp};
use crate::plan::Plan;
use crate::runtime::docker::stats::ApiStats;
use crate::sync;
use labels::{
    DriftLabels, DriftReason, GateLabels, HealLabels, PlanCounts, ProjectLabels, ReconcileLabels,
    ReconcileResult, RolloutLabels, ServiceLabels,
};
use scrape::{Scrape, Sources};

/// Upper bounds of the reconcile duration buckets, in seconds: a no-op reconcile takes
/// milliseconds, a pull or a `service_healthy` wait minutes.
const RECONCILE_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Reads the Docker runtime's call totals at scrape time.
pub type ApiStatsFn = Box<dyn Fn() -> ApiStats + Send + Sync>;

/// What the controller knows right now, copied out at scrape time.
#[derive(Debug, Clone, Default)]
pub struct ControllerState {
    /// The observed store's content.
    pub observed: std::sync::Arc<ObservedState>,
    /// True once the store holds a full list of the engine.
    pub store_ready: bool,
    /// Last-known-good spec of every project that loaded.
    pub specs: BTreeMap<String, ProjectSpec>,
    /// Current load error of every project that fails to load.
    pub load_errors: BTreeMap<String, String>,
    /// The error that kept the whole desired directory from loading, if any.
    pub root_error: Option<String>,
    /// Current crash backoff delay of every replica slot in backoff.
    pub crash_delays: Vec<(Slot, Duration)>,
    /// Every service in error backoff after a failed execution.
    pub failing: Vec<crate::controller::failing::ServiceFailing>,
    /// Every service whose current build inputs failed to build, by (project, service).
    pub failed_builds: BTreeMap<(String, String), crate::controller::builds::FailedBuild>,
    /// The rollout record of every service that has one.
    pub rollouts: BTreeMap<crate::model::ServiceRef, crate::rollout::record::RolloutRecord>,
    /// Projects no longer found in the desired directory whose removal waits for its
    /// confirmation (they keep running meanwhile).
    pub pending_removals: std::collections::BTreeSet<String>,
    /// Projects of this instance that were not loaded from this desired directory: left
    /// alone, never pruned (unless `--adopt`).
    pub foreign: std::collections::BTreeSet<String>,
    /// Whether the engine is reachable, and its outages so far.
    pub engine: EngineSummary,
    /// Each project's privileges as the host policy judged them at the latest load.
    pub privileges: BTreeMap<String, crate::policy::Assessment>,
    /// What registry watching last found, per watched service.
    pub watches: BTreeMap<crate::model::ServiceRef, crate::watch::ServiceWatch>,
}

/// The controller, as seen from the metrics: implemented by the controller over its
/// shared state, by tests over a fixed value.
pub trait StateSource: Send + Sync + 'static {
    /// A copy of the controller's state; `None` when the controller is gone.
    fn state(&self) -> Option<ControllerState>;
    /// True once the store holds a full list (cheaper than [`StateSource::state`]).
    fn store_ready(&self) -> bool;
    /// False while the engine is away (its event stream lost); true by default.
    fn engine_reachable(&self) -> bool {
        true
    }
}

/// What the telemetry remembers of each project's reconciles, for `/status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectRecord {
    /// When the last reconcile succeeded.
    pub last_success: Option<SystemTime>,
    /// The error of the last reconcile, while it is the latest outcome.
    pub last_error: Option<String>,
    /// The revision the last successful reconcile converged to.
    pub converged_revision: Option<String>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    reconcile_duration: Family<ReconcileLabels, Histogram>,
    last_success: Family<ProjectLabels, Gauge<f64, AtomicU64>>,
    load_errors: Family<ProjectLabels, Counter>,
    desired_valid: Family<ProjectLabels, Gauge>,
    drift: Family<DriftLabels, Counter>,
    heals: Family<HealLabels, Counter>,
    rollouts: Family<RolloutLabels, Counter>,
    rollout_step: Family<ServiceLabels, Gauge>,
    gate_evaluations: Family<GateLabels, Counter>,
    service_failures: Family<ServiceLabels, Counter>,
    watch_last_check: Family<ServiceLabels, Gauge<f64, AtomicU64>>,
    update_available: Family<ServiceLabels, Gauge>,
    projects: Mutex<BTreeMap<String, ProjectRecord>>,
    loaded_projects: Mutex<BTreeSet<String>>,
    desired_loaded: AtomicBool,
    sources: Arc<Sources>,
}

/// The metrics registry and the controller's record of itself; cheap to clone, every clone
/// shares the same figures.
#[derive(Debug, Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

fn histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS)
}

impl Telemetry {
    /// Every metric registered, nothing recorded, no source attached.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconcile_duration = Family::new_with_constructor(histogram as fn() -> Histogram);
        let last_success = Family::default();
        let load_errors = Family::default();
        let desired_valid = Family::default();
        let drift = Family::default();
        let heals = Family::default();
        let rollouts = Family::default();
        let rollout_step = Family::default();
        let gate_evaluations = Family::default();
        registry.register(
            "composectl_rollouts",
            "Rollout transitions by service and outcome (started, promoted, rolled_back, aborted).",
            rollouts.clone(),
        );
        registry.register(
            "composectl_rollout_step",
            "The current step (from 1) of the service's rollout; 0 when none is in progress.",
            rollout_step.clone(),
        );
        registry.register(
            "composectl_gate_evaluations",
            "Health gate evaluations by service, gate and verdict (pass, fail, not_yet).",
            gate_evaluations.clone(),
        );
        registry.register(
            "composectl_reconcile_duration_seconds",
            "Duration of reconciles by project and result (its _count is the reconcile count).",
            reconcile_duration.clone(),
        );
        registry.register(
            "composectl_last_successful_reconcile_timestamp_seconds",
            "When the project's last successful reconcile finished (Unix time).",
            last_success.clone(),
        );
        registry.register(
            "composectl_desired_load_errors",
            "Loads of the desired directory in which the project failed to load.",
            load_errors.clone(),
        );
        registry.register(
            "composectl_desired_valid",
            "1 while the project's desired state loads, 0 while it fails (the last good one runs).",
            desired_valid.clone(),
        );
        registry.register(
            "composectl_drift_detected",
            "Differences from the desired state found by reconciles, by reason.",
            drift.clone(),
        );
        registry.register(
            "composectl_heals",
            "Replacements of failed replicas, by service and failure.",
            heals.clone(),
        );
        let service_failures = Family::default();
        registry.register(
            "composectl_service_failures",
            "Actions that failed during reconciles, by service (the reason is in the logs and /status).",
            service_failures.clone(),
        );
        let watch_last_check = Family::default();
        registry.register(
            "composectl_watch_last_check_timestamp_seconds",
            "When registry watching last asked the registry about the service's image (Unix time).",
            watch_last_check.clone(),
        );
        let update_available = Family::default();
        registry.register(
            "composectl_update_available",
            "1 while the registry has an image for the watched service that does not run yet.",
            update_available.clone(),
        );
        let sources = Arc::new(Sources::default());
        registry.register_collector(Box::new(Scrape(sources.clone())));
        Self {
            inner: Arc::new(Inner {
                registry,
                reconcile_duration,
                last_success,
                load_errors,
                desired_valid,
                drift,
                heals,
                rollouts,
                rollout_step,
                gate_evaluations,
                service_failures,
                watch_last_check,
                update_available,
                projects: Mutex::new(BTreeMap::new()),
                loaded_projects: Mutex::new(BTreeSet::new()),
                desired_loaded: AtomicBool::new(false),
                sources,
            }),
        }
    }

    /// Counts a rollout transition (`started`, `promoted`, `rolled_back`, `aborted`).
    pub fn record_rollout(&self, project: &str, service: &str, outcome: &str) {
        let labels = RolloutLabels {
            project: project.to_owned(),
            service: service.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.inner.rollouts.get_or_create(&labels).inc();
    }

    /// Sets the current step (from 1; 0 when no rollout is in progress) of a service.
    pub fn set_rollout_step(&self, project: &str, service: &str, step: usize) {
        let labels = ServiceLabels {
            project: project.to_owned(),
            service: service.to_owned(),
        };
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        self.inner.rollout_step.get_or_create(&labels).set(step);
    }

    /// Records a registry check of a watched service: when (ms since the epoch) and
    /// whether an update is available.
    pub fn record_watch(&self, project: &str, service: &str, checked_ms: i64, available: bool) {
        let labels = ServiceLabels {
            project: project.to_owned(),
            service: service.to_owned(),
        };
        self.inner
            .watch_last_check
            .get_or_create(&labels)
            .set(checked_ms as f64 / 1000.0);
        self.inner
            .update_available
            .get_or_create(&labels)
            .set(i64::from(available));
    }

    /// Forgets the watch gauges of a service no longer watched (its project gone, its
    /// `x-rollout.watch` removed), so no stale series stays behind.
    pub fn forget_watch(&self, project: &str, service: &str) {
        let labels = ServiceLabels {
            project: project.to_owned(),
            service: service.to_owned(),
        };
        self.inner.watch_last_check.remove(&labels);
        self.inner.update_available.remove(&labels);
    }

    /// Counts one evaluation of a gate (`verdict`: `pass`, `fail`, `not_yet`).
    pub fn record_gate(&self, project: &str, service: &str, gate: &str, verdict: &str) {
        let labels = GateLabels {
            project: project.to_owned(),
            service: service.to_owned(),
            gate: gate.to_owned(),
            verdict: verdict.to_owned(),
        };
        self.inner.gate_evaluations.get_or_create(&labels).inc();
    }

    /// Attaches the controller's state (once; later calls are ignored).
    pub fn attach_state(&self, source: impl StateSource) {
        let _ = self.inner.sources.state.set(Box::new(source));
    }

    /// Attaches the Docker runtime's call totals (once; later calls are ignored).
    pub fn attach_api_stats(&self, stats: impl Fn() -> ApiStats + Send + Sync + 'static) {
        let _ = self.inner.sources.api.set(Box::new(stats));
    }

    /// Attaches the webhook's delivery figures (once; later calls are ignored).
    pub fn attach_webhook_stats(
        &self,
        stats: impl Fn() -> crate::webhook::Stats + Send + Sync + 'static,
    ) {
        let _ = self.inner.sources.webhook.set(Box::new(stats));
    }

    /// The reconnect counter the reflector should count into.
    pub fn reconnects(&self) -> Reconnects {
        self.inner.sources.reconnects.clone()
    }

    /// The stream state the reflector should report into.
    pub fn stream_up(&self) -> StreamUp {
        self.inner.sources.up.clone()
    }

    fn projects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ProjectRecord>> {
        sync::lock(&self.inner.projects)
    }

    /// Records one load of the desired directory: validity of every project the view
    /// knows, a load error for each failing one (all of them when the directory itself
    /// failed), and forgets projects no longer in it.
    pub fn record_load(&self, view: &DesiredView) {
        let root_failed = view.root_error().is_some();
        let projects = view.projects();
        for project in &projects {
            let labels = ProjectLabels {
                project: project.clone(),
            };
            let valid = !root_failed && !view.errors().contains_key(project);
            self.inner
                .desired_valid
                .get_or_create(&labels)
                .set(i64::from(valid));
            if !valid {
                self.inner.load_errors.get_or_create(&labels).inc();
            }
        }
        let mut known = sync::lock(&self.inner.loaded_projects);
        for gone in known.difference(&projects) {
            let labels = ProjectLabels {
                project: gone.clone(),
            };
            self.inner.desired_valid.remove(&labels);
        }
        *known = projects;
        self.inner.desired_loaded.store(true, Ordering::Release);
    }

    /// The revision `project` last converged to, if any (see [`labels::count_plan`]).
    pub fn converged_revision(&self, project: &str) -> Option<String> {
        self.projects()
            .get(project)
            .and_then(|r| r.converged_revision.clone())
    }

    /// Counts the drift `plan` found and, once it was carried out, the heals (see
    /// [`labels::count_plan`]; `steady` when the project had already converged on this
    /// revision).
    pub fn record_plan(&self, plan: &Plan, steady: bool, executed: bool) {
        let PlanCounts { drift, heals } = labels::count_plan(plan, steady);
        for (reason, n) in drift {
            let labels = DriftLabels {
                project: plan.project.clone(),
                reason,
            };
            self.inner.drift.get_or_create(&labels).inc_by(n);
        }
        if executed {
            self.count_heals(&plan.project, heals);
        }
    }

    /// Counts the heals among `done`, the actions of a plan of `project` that were carried
    /// out although others of it failed (their drift is counted by [`Self::record_plan`]).
    pub fn record_heals(&self, project: &str, done: &[crate::plan::Action], steady: bool) {
        let plan = Plan {
            project: project.to_owned(),
            actions: done.to_vec(),
            ..Plan::default()
        };
        self.count_heals(project, labels::count_plan(&plan, steady).heals);
    }

    fn count_heals(&self, project: &str, heals: BTreeMap<(String, DriftReason), u64>) {
        for ((service, reason), n) in heals {
            let labels = HealLabels {
                project: project.to_owned(),
                service,
                reason,
            };
            self.inner.heals.get_or_create(&labels).inc_by(n);
        }
    }

    /// Counts one failed action of `service` of `project` (its error goes to the logs and
    /// the reconcile's error, never into a label).
    pub fn record_service_failure(&self, project: &str, service: &str) {
        let labels = ServiceLabels {
            project: project.to_owned(),
            service: service.to_owned(),
        };
        self.inner.service_failures.get_or_create(&labels).inc();
    }

    /// Records one reconcile of `project` that took `duration`: on success the time and
    /// the revision it converged to, on failure the error (for `/status` only; it never
    /// becomes a label).
    pub fn record_reconcile(
        &self,
        project: &str,
        duration: Duration,
        outcome: Result<&str, String>,
    ) {
        let result = match outcome {
            Ok(_) => ReconcileResult::Success,
            Err(_) => ReconcileResult::Error,
        };
        let labels = ReconcileLabels {
            project: project.to_owned(),
            result,
        };
        self.inner
            .reconcile_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        let now = crate::clock::system_time();
        let mut projects = self.projects();
        let record = projects.entry(project.to_owned()).or_default();
        match outcome {
            Ok(revision) => {
                record.last_success = Some(now);
                record.last_error = None;
                record.converged_revision = Some(revision.to_owned());
                let labels = ProjectLabels {
                    project: project.to_owned(),
                };
                self.inner
                    .last_success
                    .get_or_create(&labels)
                    .set(unix_seconds(now));
            }
            Err(error) => record.last_error = Some(error),
        }
    }

    /// The text exposition of every metric (OpenMetrics, ending in `# EOF`).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// True after the first load of the desired directory and the store's first full list,
    /// while the engine is reachable.
    pub fn is_ready(&self) -> bool {
        self.inner.desired_loaded.load(Ordering::Acquire)
            && self
                .inner
                .sources
                .state
                .get()
                .is_some_and(|s| s.store_ready() && s.engine_reachable())
    }

    /// False while the controller's engine is away (true before a controller attached).
    pub fn engine_reachable(&self) -> bool {
        self.inner
            .sources
            .state
            .get()
            .is_none_or(|s| s.engine_reachable())
    }

    /// The controller's state and the per-project records, for `/status`; `None` before
    /// the controller attached itself.
    pub fn snapshot(&self) -> Option<(ControllerState, BTreeMap<String, ProjectRecord>)> {
        let state = self.inner.sources.state.get()?.state()?;
        Some((state, self.projects().clone()))
    }
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
