//! One reconcile of one project: plan from the current view and store, record crash
//! heals, execute, and record what failed (a start-first replica for its rollout, a start
//! in place the engine refused for the next plan). Shared by the daemon loop and by
//! `apply --once`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{Span, info, warn};

use super::backoff::CrashBackoff;
use super::builds::{Builds, FailedBuild};
use super::failing::FailingServices;
use super::rollouts::{self, Rollouts};
use super::view::{DesiredView, Wanted};
use crate::executor::{self, Executor};
use crate::metrics::Telemetry;
use crate::model::{ProjectSpec, hash};
use crate::observed::Store;
use crate::plan::{self, Action, EngineContext, Plan, PlanContext, Reason};
use crate::runtime::ContainerRuntime;
use crate::sync;

/// Everything a reconcile reads and writes, shared between reconcile tasks.
pub struct Shared<R> {
    /// The engine (reads and gates; everything that changes it goes through the
    /// executor).
    pub runtime: Arc<R>,
    /// Rollout records, revision histories and live gates.
    pub rollouts: Rollouts,
    /// Asks the loop to reconcile a project soon (control commands).
    pub kick: tokio::sync::mpsc::UnboundedSender<String>,
    /// The observed store.
    pub store: Store,
    /// The only writer.
    pub executor: Executor<R>,
    /// Last-known-good desired state.
    pub view: Mutex<DesiredView>,
    /// Crash backoff per replica slot.
    pub crash: Mutex<CrashBackoff>,
    /// Error backoff per service.
    pub failing: Mutex<FailingServices>,
    /// Failed image builds and what each image was built from.
    pub builds: Mutex<Builds>,
    /// Metrics and the record behind `/status`.
    pub telemetry: Telemetry,
    /// Each project's privileges as the host policy judged them at the latest load.
    pub privileges: Mutex<BTreeMap<String, crate::policy::Assessment>>,
    /// Asks the loop to load the desired directory again now (`composectl policy
    /// approve`).
    pub reload: tokio::sync::Notify,
    /// What registry watching last found per watched service ([`crate::watch`]).
    pub watches: crate::watch::Watches,
    /// The plan notes already logged (project, subject, text): each is warned once.
    pub notes_warned: Mutex<std::collections::BTreeSet<(String, String, String)>>,
}

/// How a reconcile ended.
#[derive(Debug)]
pub struct Outcome {
    /// The plan that was carried out (empty when there was nothing to do).
    pub plan: Plan,
    /// When to look again for deferred work, if any.
    pub requeue_after: Option<Duration>,
}

/// Plans `project` against the store right now; `None` when the project is frozen.
pub fn plan_project<R>(
    shared: &Shared<R>,
    project: &str,
    ctx: &PlanContext,
) -> Option<(Plan, ProjectSpec)> {
    let view = sync::lock(&shared.view);
    let observed = shared.store.snapshot();
    let spec = match view.wanted(project) {
        Wanted::Frozen | Wanted::Foreign => return None,
        Wanted::Spec(spec) => {
            let mut spec = spec.clone();
            shared.watches.apply_overrides(&mut spec);
            spec
        }
        Wanted::Absent => ProjectSpec {
            name: project.to_owned(),
            ..ProjectSpec::default()
        },
    };
    let desired = matches!(view.wanted(project), Wanted::Spec(_)).then_some(&spec);
    let plan = plan::plan(project, desired, &observed, ctx);
    Some((plan, spec))
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Carrying the plan out failed.
    #[error(transparent)]
    Execute(#[from] executor::Error),
    /// Some services failed (each is in error backoff; the rest of the plan ran): the
    /// project is looked at again when the first of them may be tried again.
    #[error("{error}")]
    Services {
        /// The executor's [`executor::Error::Services`].
        error: Box<executor::Error>,
        /// The shortest backoff of the failed services.
        retry_in: Duration,
    },
    /// A rollout could not decide (nothing was changed).
    #[error(transparent)]
    Rollout(#[from] rollouts::Error),
    /// The Docker engine is away (its event stream lost): nothing is decided until it is
    /// back, and then every project is reconciled at once.
    #[error("the Docker engine is unreachable; waiting for it to come back")]
    EngineAway,
}

impl Error {
    /// When to reconcile the project again for a failure of some of its services: their
    /// own backoff, not the project's (`None` for a failure of the whole project).
    pub fn services_retry_in(&self) -> Option<Duration> {
        match self {
            Self::Services { retry_in, .. } => Some(*retry_in),
            _ => None,
        }
    }
}

/// Reconciles one project once, recording its duration, result, drift and heals. The
/// current span's `revision` field (if it has one) is set to the spec's revision.
pub async fn reconcile<R: ContainerRuntime>(
    shared: Arc<Shared<R>>,
    project: String,
    use_crash_backoff: bool,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let telemetry = shared.telemetry.clone();
    let result = reconcile_untimed(shared.clone(), &project, use_crash_backoff).await;
    let failing = sync::lock(&shared.failing).describe(&project);
    let outcome = match (&result, failing) {
        // A reconcile that held failed services did not converge the project: its last
        // error stays until they recover (a notification is sent once, not per retry).
        (Ok(_), Some(failing)) => Err(failing),
        (Ok((_, revision)), None) => Ok(revision.as_str()),
        (Err(err), _) => Err(err.to_string()),
    };
    telemetry.record_reconcile(&project, started.elapsed(), outcome);
    result.map(|(outcome, _)| outcome)
}

/// [`reconcile`] without the duration and result: the outcome and the revision planned.
async fn reconcile_untimed<R: ContainerRuntime>(
    shared: Arc<Shared<R>>,
    project: &str,
    use_crash_backoff: bool,
) -> Result<(Outcome, String), Error> {
    let project = project.to_owned();
    let now = Instant::now();
    if shared.store.is_engine_away() {
        return Err(Error::EngineAway);
    }
    let drive = drive_rollouts(&shared, &project).await?;
    let failed_starts = sync::lock(&shared.crash).failed_starts(&project, now);
    let error_backoff = sync::lock(&shared.failing).held(&project, now);
    let (failed_builds, built_from) = refresh_builds(&shared, &project);
    let ctx = PlanContext {
        error_backoff,
        failed_builds,
        built_from,
        failed_starts,
        pins: drive.pins,
        tags: drive.tags,
        awaiting_image: drive.awaiting_image,
        start_first: drive.start_first,
        engine: engine_context(&shared.store, &project, now),
        pull_ages: shared.store.pull_ages(),
        crash_backoff: if use_crash_backoff {
            sync::lock(&shared.crash).remaining(&project, now)
        } else {
            Default::default()
        },
    };
    let Some((plan, spec)) = plan_project(&shared, &project, &ctx) else {
        let plan = Plan {
            project,
            ..Plan::default()
        };
        let outcome = Outcome {
            plan,
            requeue_after: None,
        };
        return Ok((outcome, String::new()));
    };
    let revision = hash::revision(&spec);
    Span::current().record("revision", revision.as_str());
    let requeue_after = plan
        .deferred
        .iter()
        .map(|d| d.retry_in)
        .chain(plan.held.iter().map(|h| h.retry_in))
        .chain(drive.requeue_after)
        .min();
    for held in plan.held.iter().filter(|h| h.service == h.waits_for) {
        info!(service = %held.service, retry_in = ?held.retry_in, actions = held.actions, "changes held: the service's last execution failed");
    }
    for deferred in plan.deferred.iter().filter(|d| d.is_left_to_engine()) {
        info!(
            service = %deferred.service,
            number = deferred.number,
            retry_in = ?deferred.retry_in,
            "stopped while the Docker engine was away; left to its restart policy for now"
        );
    }
    for deferred in plan.deferred.iter().filter(|d| !d.is_left_to_engine()) {
        warn!(
            service = %deferred.service,
            number = deferred.number,
            reason = %deferred.reason,
            retry_in = ?deferred.retry_in,
            "heal held back by crash backoff"
        );
    }
    warn_notes_once(&shared, &plan);
    if plan.is_empty() {
        settle_failing(&shared, &plan, None, now);
        collect_files(&shared, &spec);
        remove_unused_images(&shared, &project).await;
        let outcome = Outcome {
            plan,
            requeue_after,
        };
        return Ok((outcome, revision));
    }
    info!(actions = plan.actions.len(), "converging");
    record_crash_heals(&shared, &plan, &ctx, now);
    let steady = shared.telemetry.converged_revision(&project).as_ref() == Some(&revision);
    let pruning = is_absent(&shared, &project);
    let still_wanted = || !pruning || is_absent(&shared, &project);
    let executed = shared
        .executor
        .execute_while(&spec, &plan, still_wanted)
        .await;
    if let Ok(report) = &executed
        && report.cancelled
    {
        info!(
            done = report.done.len(),
            "the project is back in the desired directory; its removal is cancelled"
        );
    }
    shared
        .telemetry
        .record_plan(&plan, steady, executed.is_ok());
    if plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Build { .. }))
    {
        sync::lock(&shared.builds).prune_later(&project);
    }
    let retry_in = settle_failing(&shared, &plan, executed.as_ref().err(), now);
    if let Err(err) = &executed {
        record_failures(&shared, &project, err, steady, now)?;
    }
    match (executed, retry_in) {
        (Err(error @ executor::Error::Services { .. }), Some(retry_in)) => {
            return Err(Error::Services {
                error: Box::new(error),
                retry_in,
            });
        }
        (result, _) => result?,
    };
    collect_files(&shared, &spec);
    let outcome = Outcome {
        plan,
        requeue_after,
    };
    Ok((outcome, revision))
}

/// Brings the record of the project's builds up to date with what is loaded and observed
/// ([`Builds::refresh`]); returns what the planner needs of it: the failed builds' hashes
/// and what each image was built from.
pub(super) fn refresh_builds<R>(
    shared: &Shared<R>,
    project: &str,
) -> (BTreeMap<String, String>, plan::BuiltFrom) {
    let mut builds = sync::lock(&shared.builds);
    {
        let view = sync::lock(&shared.view);
        // Only a project that builds needs the observed images (a snapshot is a copy).
        if let Wanted::Spec(spec) = view.wanted(project)
            && spec.services.values().any(|s| s.build.is_some())
        {
            builds.refresh(spec, &shared.store.snapshot());
        }
    }
    (builds.failed_hashes(project), builds.built_from(project))
}

/// Brings the services' error backoff up to date after `plan` ran (`failed`: how the
/// execution failed, if it did): each service that failed is (again) in backoff, each held
/// by the plan stays, every other is forgotten. Returns the shortest backoff of the failed
/// services, if any failed.
fn settle_failing<R>(
    shared: &Shared<R>,
    plan: &Plan,
    failed: Option<&executor::Error>,
    now: Instant,
) -> Option<Duration> {
    let failures = match failed {
        Some(executor::Error::Services { failed, .. }) => failed.as_slice(),
        _ => &[],
    };
    let mut failing = sync::lock(&shared.failing);
    let mut keep = plan::hold::held_services(plan);
    keep.extend(failures.iter().map(|f| f.service.as_str()));
    failing.recovered_except(&plan.project, &keep);
    failures
        .iter()
        .map(|f| failing.failed(&plan.project, &f.service, &f.error.to_string(), now))
        .min()
}

/// Records what a failed execution means beyond its error: the heals it still made, each
/// failed service (metrics), a start-first replica that never became ready (its rollout),
/// and a start in place the engine refused (the next plan replaces that container).
fn record_failures<R>(
    shared: &Shared<R>,
    project: &str,
    err: &executor::Error,
    steady: bool,
    now: Instant,
) -> Result<(), Error> {
    if let executor::Error::Services { failed, report } = err {
        shared.telemetry.record_heals(project, &report.done, steady);
        for failure in failed {
            shared
                .telemetry
                .record_service_failure(project, &failure.service);
        }
    }
    for failure in err.failures() {
        match failure {
            executor::Error::BuildFailed {
                service,
                hash,
                source: crate::runtime::Error::BuildFailed(build),
                ..
            } => {
                let failed = FailedBuild::new(hash, build);
                warn!(service, step = ?failed.step, "the image build failed; the service keeps its image until the build inputs change");
                sync::lock(&shared.builds).failed(project, service, failed);
            }
            executor::Error::StartFirstFailed {
                service, number, ..
            } => {
                let service = crate::model::ServiceRef::new(project, service);
                shared.rollouts.replica_failed(&service, *number)?;
            }
            executor::Error::StartFailed {
                service,
                number,
                id,
                ..
            } => {
                let slot = (project.to_owned(), service.clone(), *number);
                sync::lock(&shared.crash).start_failed(slot, id, now);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Removes the images composectl built for `project` that nothing needs any more, when a
/// look is due (after a build, once after start); a failure is logged and looked at again
/// after the next build.
async fn remove_unused_images<R: ContainerRuntime>(shared: &Shared<R>, project: &str) {
    if !sync::lock(&shared.builds).take_prune_due(project) {
        return;
    }
    if let Err(e) = shared.executor.remove_unused_images(project).await {
        warn!(error = %e, "cannot remove the images composectl built and no longer uses");
    }
}

/// Removes the secret and config files nothing uses any more; a failure is logged and
/// retried at the next reconcile.
fn collect_files<R: ContainerRuntime>(shared: &Shared<R>, spec: &ProjectSpec) {
    match shared.executor.collect_files(spec) {
        Ok(removed) if !removed.is_empty() => {
            info!(files = ?removed, "removed secret and config files no container uses");
        }
        Ok(_) => {}
        Err(err) => warn!("cannot remove unused secret and config files: {err}"),
    }
}

/// True while `project` is to be pruned.
fn is_absent<R>(shared: &Shared<R>, project: &str) -> bool {
    let view = sync::lock(&shared.view);
    view.wanted(project) == Wanted::Absent
}

/// Runs the rollouts of the project's desired spec (none for a frozen or removed
/// project).
async fn drive_rollouts<R: ContainerRuntime>(
    shared: &Shared<R>,
    project: &str,
) -> Result<rollouts::Drive, Error> {
    let spec = {
        let view = sync::lock(&shared.view);
        match view.wanted(project) {
            Wanted::Spec(spec) => {
                let mut spec = spec.clone();
                shared.watches.apply_overrides(&mut spec);
                spec
            }
            Wanted::Frozen | Wanted::Absent | Wanted::Foreign => {
                return Ok(rollouts::Drive::default());
            }
        }
    };
    let drive = shared
        .rollouts
        .drive(&shared.runtime, &shared.store, &shared.telemetry, &spec)
        .await?;
    Ok(drive)
}

/// Logs each note of `plan` (a changed volume kept as it is) the first time it appears.
fn warn_notes_once<R>(shared: &Shared<R>, plan: &Plan) {
    let mut warned = sync::lock(&shared.notes_warned);
    for note in &plan.notes {
        let seen = (
            plan.project.clone(),
            note.subject.clone(),
            note.text.clone(),
        );
        if warned.insert(seen) {
            warn!(subject = %note.subject, "{}", note.text);
        }
    }
}

/// What the engine's outages mean for planning `project` at `now`: the containers it
/// stopped by going away, and the grace its restart policies still have.
fn engine_context(store: &Store, project: &str, now: Instant) -> EngineContext {
    EngineContext {
        stopped: store.stopped_by_engine(project),
        restart_grace: store.outages().restart_grace(now),
    }
}

/// Every heal caused by the container's own failure (a start in place or a replacement)
/// counts toward its slot's crash backoff, except the replacement of a container whose
/// start in place failed (that start was counted). A container the engine stopped by
/// going away is planned with [`Reason::EngineStopped`], so it never counts.
fn record_crash_heals<R>(shared: &Shared<R>, plan: &Plan, ctx: &PlanContext, now: Instant) {
    let mut crash = sync::lock(&shared.crash);
    for action in &plan.actions {
        let (Action::Replace {
            container,
            service,
            number,
            reason,
        }
        | Action::Start {
            container,
            service,
            number,
            reason,
        }) = action
        else {
            continue;
        };
        let own_failure = matches!(
            reason,
            Reason::Exited { .. } | Reason::NotRunning { .. } | Reason::Unhealthy
        );
        if own_failure && !ctx.failed_starts.contains(&container.id) {
            crash.replaced((plan.project.clone(), service.clone(), *number), now);
        }
    }
}
