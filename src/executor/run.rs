//! Runs a plan as its dependency graph ([`crate::plan::graph`]): every action whose
//! dependencies are done starts at once, while one of the executor's permits is free
//! ([`super::permit`]: an action waiting on a container gives its permit back), asking
//! `proceed` before each. A failed action fails its service (a pull, tag or ensure: every
//! service that waits for it) and every action that depends on it, transitively, is
//! skipped; everything else still runs.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

use crate::model::spec::ProjectSpec;
use crate::plan::graph::{self, service_of};
use crate::plan::{Action, Plan};
use crate::runtime::ContainerRuntime;

use super::permit::Permit;
use super::{Error, Executor, Report, Result, ServiceFailure};

impl<R: ContainerRuntime> Executor<R> {
    /// Runs `plan` by its graph; see the module documentation.
    pub(super) async fn run_graph(
        &self,
        project: &ProjectSpec,
        plan: &Plan,
        proceed: impl Fn() -> bool,
    ) -> Result<Report> {
        let graph = graph::graph(plan, project);
        let dependents = graph.dependents();
        let mut waiting: Vec<usize> = graph.deps.iter().map(Vec::len).collect();
        let mut ready: BTreeSet<usize> = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
        let mut finished = vec![false; waiting.len()];
        let mut running = FuturesUnordered::new();
        let mut report = Report::default();
        let mut failures = Vec::new();
        let semaphore = Arc::new(Semaphore::new(self.parallelism));
        // A permit taken while nothing was ready to start, kept for the next action.
        let mut spare: Option<OwnedSemaphorePermit> = None;
        loop {
            while !report.cancelled && !ready.is_empty() {
                let Some(taken) = spare
                    .take()
                    .or_else(|| semaphore.clone().try_acquire_owned().ok())
                else {
                    break;
                };
                if !proceed() {
                    report.cancelled = true;
                    break;
                }
                let Some(i) = ready.pop_first() else {
                    break;
                };
                let action = &plan.actions[i];
                info!(project = %project.name, %action, "executing");
                let permit = Permit::new(semaphore.clone(), taken);
                running.push(async move { (i, self.act(project, plan, action, &permit).await) });
            }
            if running.is_empty() {
                break;
            }
            let startable = !report.cancelled && !ready.is_empty();
            let (i, result) = tokio::select! {
                Some(done) = running.next() => done,
                Ok(taken) = semaphore.clone().acquire_owned(), if startable => {
                    // An action waiting on a container gave its permit back.
                    spare = Some(taken);
                    continue;
                }
                else => break,
            };
            finished[i] = true;
            match result {
                Ok(writes) => {
                    report.writes += writes;
                    report.done.push(plan.actions[i].clone());
                    for &d in &dependents[i] {
                        waiting[d] -= 1;
                        if waiting[d] == 0 {
                            ready.insert(d);
                        }
                    }
                }
                Err(error) => failures.push((i, error)),
            }
        }
        if !report.cancelled {
            report.skipped = (0..finished.len())
                .filter(|&i| !finished[i])
                .map(|i| plan.actions[i].clone())
                .collect();
        }
        if failures.is_empty() {
            return Ok(report);
        }
        let mut failed = Vec::new();
        for (i, error) in failures {
            let services = self.blame(project, plan, &dependents, i);
            let mut error = Some(error);
            for service in services {
                let error = match error.take() {
                    Some(first) => first,
                    None => Error::Shared {
                        why: failed
                            .last()
                            .map(|f: &ServiceFailure| f.error.to_string())
                            .unwrap_or_default(),
                    },
                };
                warn!(
                    project = %project.name,
                    %service,
                    error = %error,
                    "action failed: the service and what depends on it are retried at the next reconcile"
                );
                failed.push(ServiceFailure { service, error });
            }
        }
        if !report.skipped.is_empty() {
            let skipped: Vec<String> = report.skipped.iter().map(ToString::to_string).collect();
            warn!(project = %project.name, ?skipped, "skipped: they depend on a failed action");
        }
        Err(Error::Services { failed, report })
    }

    /// The services the failure of action `i` fails: its own service; for a resource
    /// action, every service whose actions wait for it (else every service that uses it);
    /// for a removal, the removed container's service.
    fn blame(
        &self,
        project: &ProjectSpec,
        plan: &Plan,
        dependents: &[Vec<usize>],
        i: usize,
    ) -> Vec<String> {
        let action = &plan.actions[i];
        if let Some(service) = service_of(action, project) {
            return vec![service];
        }
        let waiting: BTreeSet<String> = dependents[i]
            .iter()
            .filter_map(|&d| service_of(&plan.actions[d], project))
            .collect();
        if !waiting.is_empty() {
            return waiting.into_iter().collect();
        }
        let users = graph::users(plan, project, action);
        if !users.is_empty() {
            return users.into_iter().collect();
        }
        match action {
            Action::Remove { container, .. } => vec![
                self.store
                    .container(&container.id)
                    .map_or_else(|| container.name.clone(), |c| c.service),
            ],
            // Nothing of the project's services: the failure is named by what it was.
            other => vec![other.to_string()],
        }
    }
}
