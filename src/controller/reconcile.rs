//! One reconcile of one project: plan from the current view and store, record crash
//! replacements, execute. Shared by the daemon loop and by `apply --once`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::backoff::CrashBackoff;
use super::view::{DesiredView, Target};
use crate::executor::{self, Executor};
use crate::model::ProjectSpec;
use crate::observed::Store;
use crate::plan::{self, Action, Plan, PlanContext, Reason};
use crate::runtime::ContainerRuntime;

/// Everything a reconcile reads and writes, shared between reconcile tasks.
pub struct Shared<R> {
    /// The observed store.
    pub store: Store,
    /// The only writer.
    pub executor: Executor<R>,
    /// Last-known-good desired state.
    pub view: Mutex<DesiredView>,
    /// Crash backoff per replica slot.
    pub crash: Mutex<CrashBackoff>,
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
    let view = shared.view.lock().expect("view lock");
    let observed = shared.store.snapshot();
    let spec = match view.target(project) {
        Target::Frozen => return None,
        Target::Spec(spec) => spec.clone(),
        Target::Absent => ProjectSpec {
            name: project.to_owned(),
            ..ProjectSpec::default()
        },
    };
    let desired = matches!(view.target(project), Target::Spec(_)).then_some(&spec);
    let plan = plan::plan(project, desired, &observed, ctx);
    Some((plan, spec))
}

/// Reconciles one project once.
pub async fn reconcile<R: ContainerRuntime>(
    shared: Arc<Shared<R>>,
    project: String,
    use_crash_backoff: bool,
) -> Result<Outcome, executor::Error> {
    let now = Instant::now();
    let ctx = PlanContext {
        crash_backoff: if use_crash_backoff {
            shared
                .crash
                .lock()
                .expect("crash lock")
                .remaining(&project, now)
        } else {
            Default::default()
        },
    };
    let Some((plan, spec)) = plan_project(&shared, &project, &ctx) else {
        return Ok(Outcome {
            plan: Plan {
                project,
                ..Plan::default()
            },
            requeue_after: None,
        });
    };
    let requeue_after = plan.deferred.iter().map(|d| d.retry_in).min();
    for deferred in &plan.deferred {
        warn!(
            service = %deferred.service,
            number = deferred.number,
            reason = %deferred.reason,
            retry_in = ?deferred.retry_in,
            "replacement held back by crash backoff"
        );
    }
    if plan.is_empty() {
        return Ok(Outcome {
            plan,
            requeue_after,
        });
    }
    info!(actions = plan.actions.len(), "converging");
    record_crash_replacements(&shared, &plan, now);
    shared.executor.execute(&spec, &plan).await?;
    Ok(Outcome {
        plan,
        requeue_after,
    })
}

/// Every replacement caused by the container's own failure counts toward its slot's
/// crash backoff.
fn record_crash_replacements<R>(shared: &Shared<R>, plan: &Plan, now: Instant) {
    let mut crash = shared.crash.lock().expect("crash lock");
    for action in &plan.actions {
        if let Action::Replace {
            service,
            number,
            reason: Reason::Exited { .. } | Reason::NotRunning { .. } | Reason::Unhealthy,
            ..
        } = action
        {
            crash.replaced((plan.project.clone(), service.clone(), *number), now);
        }
    }
}
