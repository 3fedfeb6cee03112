//! The reconciles in flight: one task per project, each remembered by its tokio task ID,
//! so the loop learns which project a task reconciled even when the task panicked.
//!
//! A reconcile that panics must not wedge its project: the scheduler hands a project out
//! again only once its reconcile has finished, and a panicked task returns nothing. The
//! ID the [`JoinSet`] gives back with the panic names the project, and the loop treats the
//! panic as a failed reconcile (released, logged, retried after the error backoff, counted
//! as a failure).

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;

use super::reconcile::{self, Outcome};

/// How a reconcile task ended, other than with its outcome.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// The reconcile returned an error.
    #[error(transparent)]
    Reconcile(reconcile::Error),
    /// The reconcile task panicked (or was cancelled) before it returned.
    #[error("the reconcile panicked: {0}")]
    Panicked(String),
}

/// One reconcile task that ended.
#[derive(Debug)]
pub(super) struct Finished {
    /// The project it reconciled.
    pub(super) project: String,
    /// How long it ran.
    pub(super) elapsed: Duration,
    /// Its outcome.
    pub(super) result: Result<Outcome, Failure>,
}

/// The reconcile tasks in flight, by project.
#[derive(Default)]
pub(super) struct Reconciles {
    set: JoinSet<Result<Outcome, reconcile::Error>>,
    projects: HashMap<Id, (String, Instant)>,
}

impl Reconciles {
    /// Runs `reconcile` of `project` as a task of its own.
    pub(super) fn spawn<F>(&mut self, project: String, reconcile: F)
    where
        F: Future<Output = Result<Outcome, reconcile::Error>> + Send + 'static,
    {
        let handle = self.set.spawn(reconcile);
        self.projects.insert(handle.id(), (project, Instant::now()));
    }

    /// True when no reconcile runs.
    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// How many reconciles run.
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }

    /// The next reconcile that ends, panicked or not; `None` when none runs. Cancel safe
    /// (nothing is awaited after a task is taken out of the set).
    pub(super) async fn join_next(&mut self) -> Option<Finished> {
        loop {
            let joined = self.set.join_next_with_id().await?;
            let id = match &joined {
                Ok((id, _)) => *id,
                Err(err) => err.id(),
            };
            // Every task was spawned by `spawn`, which remembered it.
            let Some((project, started)) = self.projects.remove(&id) else {
                continue;
            };
            let result = match joined {
                Ok((_, result)) => result.map_err(Failure::Reconcile),
                Err(err) => Err(Failure::Panicked(panic_message(err))),
            };
            return Some(Finished {
                project,
                elapsed: started.elapsed(),
                result,
            });
        }
    }
}

/// What a task that did not return says about why.
fn panic_message(err: JoinError) -> String {
    if err.is_cancelled() {
        return "the task was cancelled".to_owned();
    }
    payload_text(err.into_panic())
}

/// The text of a panic's payload (`panic!` gives a `&str` or a `String`).
fn payload_text(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(
            || "a panic without a message".to_owned(),
            |s| (*s).to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    fn done() -> Result<Outcome, reconcile::Error> {
        Ok(Outcome {
            plan: Plan::default(),
            requeue_after: None,
        })
    }

    #[tokio::test]
    async fn a_panicked_task_still_names_its_project_and_its_panic() {
        let mut running = Reconciles::default();
        running.spawn("shop".to_owned(), async { panic!("boom in {}", "shop") });
        running.spawn("blog".to_owned(), async { done() });
        let mut ended = Vec::new();
        while let Some(finished) = running.join_next().await {
            let result = finished.result.map(|_| ()).map_err(|e| e.to_string());
            ended.push((finished.project, result));
        }
        ended.sort();
        assert_eq!(
            ended,
            vec![
                ("blog".to_owned(), Ok(())),
                (
                    "shop".to_owned(),
                    Err("the reconcile panicked: boom in shop".to_owned())
                ),
            ]
        );
        assert!(running.is_empty());
        assert!(running.projects.is_empty(), "nothing left remembered");
    }

    #[test]
    fn panic_payloads_read_as_text() {
        assert_eq!(payload_text(Box::new("static")), "static");
        assert_eq!(payload_text(Box::new(String::from("owned"))), "owned");
        assert_eq!(payload_text(Box::new(42)), "a panic without a message");
    }
}
