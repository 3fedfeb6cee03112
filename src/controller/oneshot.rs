//! The one-shot side of the controller, behind `composectl plan` and `apply --once`:
//! plan every project without changing anything, converge every project once, and report
//! load errors. The daemon's loop lives in the parent module.

use tokio::sync::mpsc;
use tracing::{Instrument, info_span};

use super::{Controller, Error, Result, reconcile, rollouts, view};
use crate::plan::{Plan, PlanContext};
use crate::runtime::ContainerRuntime;
use crate::sync;

impl<R: ContainerRuntime> Controller<R> {
    /// Plans every project (desired or observed) without changing anything. Needs a
    /// [`Self::reload`] and a [`Self::relist`] first.
    pub fn plan_all(&self) -> Vec<Plan> {
        self.projects()
            .iter()
            .filter_map(|p| {
                let (failed_builds, built_from) = reconcile::refresh_builds(&self.shared, p);
                let ctx = PlanContext {
                    failed_builds,
                    built_from,
                    ..PlanContext::default()
                };
                reconcile::plan_project(&self.shared, p, &ctx)
            })
            .map(|(plan, _)| plan)
            .collect()
    }

    /// Projects of this instance that run but were not loaded from this desired directory
    /// (never pruned unless `--adopt`). Needs a [`Self::reload`] and a [`Self::relist`].
    pub fn foreign_projects(&self) -> Vec<String> {
        let view = sync::lock(&self.shared.view);
        let observed = self.shared.store.snapshot();
        view.foreign(observed.projects())
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// One registry check of every watched service, without pulling or choosing
    /// anything: `(project/service, what the registry has that this host does not run)`,
    /// or the check's error. For `composectl plan`.
    pub async fn pending_updates(&self) -> Vec<(String, Result<String, String>)> {
        let mut watcher = crate::watch::Watcher::new(
            self.runtime.clone(),
            crate::watch::host::ControllerHost::new(&self.shared),
            self.shared.watches.clone(),
            self.clock.clone(),
            self.config.watch_min_interval,
        )
        .dry_run();
        let now = tokio::time::Instant::now();
        watcher.refresh(now);
        watcher.check_due(now).await;
        self.shared
            .watches
            .snapshot()
            .into_iter()
            .filter_map(|(sref, w)| {
                let found = match (w.error, w.update_available) {
                    (Some(error), _) => Err(error),
                    (None, Some(update)) => Ok(update),
                    (None, None) => return None,
                };
                Some((sref.to_string(), found))
            })
            .collect()
    }

    /// `project/service` and strategy of every desired service with a rollout config.
    pub fn rollout_strategies(&self) -> Vec<(String, String)> {
        let view = sync::lock(&self.shared.view);
        let mut found = Vec::new();
        for project in view.projects() {
            let view::Wanted::Spec(spec) = view.wanted(&project) else {
                continue;
            };
            for service in spec.services.values().filter(|s| rollouts::has_rollout(s)) {
                let strategy = crate::rollout::RolloutConfig::from_service(service)
                    .map_or("rollout", |c| c.strategy.name());
                found.push((format!("{project}/{}", service.name), strategy.to_owned()));
            }
        }
        found
    }

    /// Converges every project once, in project order, ignoring crash backoff. Returns the
    /// plans carried out; fails listing every project that failed. Needs a [`Self::reload`]
    /// first; the store is fed by a reflector for the duration, so waits for
    /// `service_healthy` see health changes as they happen.
    pub async fn apply_once(&self) -> Result<Vec<Plan>> {
        let (changes, _ignored) = mpsc::unbounded_channel();
        let reflector = self.start_reflector(changes);
        let ready = tokio::time::timeout(self.config.wait_timeout, self.wait_ready()).await;
        let result = match ready {
            Ok(()) => {
                self.keep_ownership();
                let applied = self.apply_all().await;
                self.keep_ownership();
                applied
            }
            Err(_) => Err(Error::Projects(vec![format!(
                "the engine could not be listed within {:?}",
                self.config.wait_timeout
            )])),
        };
        reflector.stop().await;
        result
    }

    /// Resolves once the store holds a full list of the engine.
    async fn wait_ready(&self) {
        let mut changed = self.shared.store.changed();
        while !self.shared.store.is_ready() {
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    async fn apply_all(&self) -> Result<Vec<Plan>> {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for project in self.projects() {
            let span =
                info_span!("reconcile", project = %project, revision = tracing::field::Empty);
            match reconcile::reconcile(self.shared.clone(), project.clone(), false)
                .instrument(span)
                .await
            {
                Ok(outcome) => done.push(outcome.plan),
                Err(err) => failed.push(format!("{project}: {err}")),
            }
        }
        if let Err(Error::Projects(errors)) = self.load_errors() {
            failed.extend(errors);
        }
        if failed.is_empty() {
            Ok(done)
        } else {
            Err(Error::Projects(failed))
        }
    }

    /// Fails listing every load error of the desired directory, if any.
    pub fn load_errors(&self) -> Result<()> {
        let view = sync::lock(&self.shared.view);
        let mut failed: Vec<String> = view.root_error().map(str::to_owned).into_iter().collect();
        failed.extend(view.errors().iter().map(|(p, e)| format!("{p}: {e}")));
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Projects(failed))
        }
    }
}
