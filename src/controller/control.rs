//! The controller's side of the control socket: answers `composectl rollout ...` from
//! snapshots of the rollout records, the revision histories and the observed store, and
//! queues pause, resume, promote, abort and undo as intents for the rollout driver, which
//! applies them on its next pass of the service (the records have one writer). A command
//! is answered once the driver applied or refused it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::reconcile::Shared;
use super::rollouts::intents::{Answer as Applied, Intent};
use super::rollouts::{has_rollout, is_new_ready, most_run, rollout_elapsed_ms};
use super::view::Wanted;
use crate::control::protocol::{HistoryView, RevisionLine, ServiceStatus};
use crate::control::{Handler, HandlerFuture, Request, Response, Selector};
use crate::model::spec::{ProjectSpec, ServiceSpec};
use crate::model::{ObservedContainer, ServiceRef, hash};
use crate::observed::Outages;
use crate::plan::kept_replicas;
use crate::rollout::command::Command;
use crate::rollout::observe::revision_key;
use crate::rollout::record::{PhaseName, RevisionKey, RolloutRecord};
use crate::rollout::{self, RolloutConfig};
use crate::runtime::ContainerRuntime;

/// How long a command waits for the driver's next pass of its service (the CLI waits
/// [`crate::control::client::TIMEOUT`]).
const APPLY_TIMEOUT: Duration = Duration::from_secs(25);

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No service with a rollout config matches.
    #[error("no service with a rollout config (x-rollout or deploy.update_config) matches {0}")]
    NoMatch(Selector),
    /// No service with `build:` matches.
    #[error("no service with `build:` matches {0}")]
    NoBuildMatch(Selector),
    /// The request needs one service and the selector names several.
    #[error("{selector} selects {} services ({}); name one as project/service", .names.len(), .names.join(", "))]
    Ambiguous {
        /// The selector.
        selector: Selector,
        /// What it selects.
        names: Vec<String>,
    },
    /// The state directory could not be read.
    #[error(transparent)]
    Rollout(#[from] super::rollouts::Error),
    /// The service's rollout settings are invalid.
    #[error(transparent)]
    Config(#[from] crate::rollout::config::Error),
    /// The command was refused or not applied, by service.
    #[error("{}", .0.join("\n"))]
    NotApplied(Vec<String>),
}

/// Answers control requests for one controller.
pub struct ControlHandler<R> {
    shared: Arc<Shared<R>>,
}

impl<R> ControlHandler<R> {
    /// A handler over the controller's shared state.
    pub fn new(shared: Arc<Shared<R>>) -> Self {
        Self { shared }
    }
}

impl<R: ContainerRuntime> Handler for ControlHandler<R> {
    fn handle(&self, request: Request) -> HandlerFuture<'_> {
        Box::pin(async move {
            self.answer(request)
                .await
                .unwrap_or_else(|e| Response::Error {
                    message: e.to_string(),
                })
        })
    }
}

/// A service with a rollout config, with its project's spec.
struct Selected {
    project: ProjectSpec,
    service: ServiceSpec,
}

type Answer = Result<Response, ControlError>;

impl<R: ContainerRuntime> ControlHandler<R> {
    async fn answer(&self, request: Request) -> Answer {
        match request {
            Request::Status { selector } => self.status(&selector),
            Request::History { selector } => self.history(&selector),
            Request::Pause { selector } => self.command(&selector, Command::Pause).await,
            Request::Resume { selector } => self.command(&selector, Command::Resume).await,
            Request::Promote { selector } => self.command(&selector, Command::Promote).await,
            Request::Abort { selector } => self.command(&selector, Command::Abort).await,
            Request::Undo {
                selector,
                to_revision,
            } => {
                let s = self.select_one(&selector)?;
                let sref = ServiceRef::new(&s.project.name, &s.service.name);
                self.apply(vec![(sref, Intent::Undo { to: to_revision })])
                    .await
            }
            Request::Rebuild { selector } => self.rebuild(&selector),
            Request::Reload => {
                self.shared.reload.notify_one();
                Ok(Response::Done {
                    messages: vec!["reloading the desired directory".to_owned()],
                })
            }
        }
    }

    /// Forgets the failed builds of the selected services with `build:` and reconciles
    /// their projects, so their current inputs are built again.
    fn rebuild(&self, selector: &Selector) -> Answer {
        let built: Vec<(String, String)> = {
            let view = crate::sync::lock(&self.shared.view);
            view.specs()
                .values()
                .flat_map(|spec| {
                    spec.services
                        .values()
                        .filter(|s| s.build.is_some() && selector.matches(&spec.name, &s.name))
                        .map(|s| (spec.name.clone(), s.name.clone()))
                })
                .collect()
        };
        if built.is_empty() {
            return Err(ControlError::NoBuildMatch(selector.clone()));
        }
        let mut messages = Vec::new();
        let mut builds = crate::sync::lock(&self.shared.builds);
        for (project, service) in &built {
            let message = if builds.retry(project, service) {
                "its failed build is forgotten; building again"
            } else {
                "no failed build; its image is built whenever its inputs change"
            };
            messages.push(format!("{project}/{service}: {message}"));
            let _ = self.shared.kick.send(project.clone());
        }
        Ok(Response::Done { messages })
    }

    /// Every service with a rollout config that `selector` selects.
    fn select(&self, selector: &Selector) -> Vec<Selected> {
        let view = crate::sync::lock(&self.shared.view);
        let mut selected = Vec::new();
        for project in view.projects() {
            let Wanted::Spec(spec) = view.wanted(&project) else {
                continue;
            };
            // The image semver watching chose, as the reconcile plans it.
            let mut spec = spec.clone();
            self.shared.watches.apply_overrides(&mut spec);
            for service in spec.services.values() {
                if has_rollout(service) && selector.matches(&spec.name, &service.name) {
                    selected.push(Selected {
                        project: spec.clone(),
                        service: service.clone(),
                    });
                }
            }
        }
        selected
    }

    /// Exactly one selected service, or an error that says how to name one.
    fn select_one(&self, selector: &Selector) -> Result<Selected, ControlError> {
        let mut selected = self.select(selector);
        match selected.len() {
            0 => Err(ControlError::NoMatch(selector.clone())),
            1 => Ok(selected.remove(0)),
            _ => {
                let names: Vec<String> = selected
                    .iter()
                    .map(|s| format!("{}/{}", s.project.name, s.service.name))
                    .collect();
                Err(ControlError::Ambiguous {
                    selector: selector.clone(),
                    names,
                })
            }
        }
    }

    fn status(&self, selector: &Selector) -> Answer {
        let selected = self.select(selector);
        if selected.is_empty() && (selector.project.is_some() || selector.service.is_some()) {
            return Err(ControlError::NoMatch(selector.clone()));
        }
        let observed = self.shared.store.snapshot();
        let mut services = Vec::new();
        for s in &selected {
            let (project, name) = (s.project.name.as_str(), s.service.name.as_str());
            let record = self
                .shared
                .rollouts
                .record(&ServiceRef::new(project, name))?;
            let config = RolloutConfig::from_service(&s.service)?;
            let kept = kept_replicas(&observed, project, name);
            let outages = self.shared.store.outages();
            let now_ms = u64::try_from(self.shared.store.clock().now_ms()).unwrap_or(0);
            let shown = Shown {
                selected: s,
                config: &config,
                outages: &outages,
                now_ms,
            };
            let mut status = shown.status(record.as_ref(), &kept);
            let desired = observed.image_id(&s.service.image).map(|id| RevisionKey {
                config_hash: hash::config_hash(&s.project, &s.service),
                image_id: id.to_owned(),
            });
            let started = record
                .as_ref()
                .is_some_and(|r| desired.as_ref().is_some_and(|d| r.governs(d)));
            let behind = kept.values().any(|c| Some(revision_key(c)) != desired);
            if !started && behind {
                // What the status shows is about the next rollout, not the one before it.
                status = ServiceStatus {
                    phase: Some(PhaseName::Pending),
                    updated: 0,
                    reason: Some(
                        "the desired state changed; the rollout starts at the next reconcile"
                            .to_owned(),
                    ),
                    ..shown.status(None, &BTreeMap::new())
                };
            }
            status.watch = self.shared.watches.get(&ServiceRef::new(project, name));
            services.push(status);
        }
        Ok(Response::Status { services })
    }

    fn history(&self, selector: &Selector) -> Answer {
        let s = self.select_one(selector)?;
        let (project, name) = (s.project.name.as_str(), s.service.name.as_str());
        let history = self
            .shared
            .rollouts
            .history(&ServiceRef::new(project, name))?;
        let observed = self.shared.store.snapshot();
        let current = most_run(&kept_replicas(&observed, project, name), None);
        let revisions = history
            .entries
            .iter()
            .map(|e| RevisionLine {
                number: e.number,
                image: e.image.clone(),
                image_id: e.key.image_id.clone(),
                config_hash: e.key.config_hash.clone(),
                recorded_at: e.recorded_at,
                failed_at: e.failed_at,
                digest: e.digest.clone(),
                current: current.as_ref() == Some(&e.key),
            })
            .collect();
        Ok(Response::History {
            history: HistoryView {
                project: project.to_owned(),
                service: name.to_owned(),
                revisions,
            },
        })
    }

    /// Queues `command` for every selected service.
    async fn command(&self, selector: &Selector, command: Command) -> Answer {
        let selected = self.select(selector);
        if selected.is_empty() {
            return Err(ControlError::NoMatch(selector.clone()));
        }
        let intents = selected
            .iter()
            .map(|s| {
                let sref = ServiceRef::new(&s.project.name, &s.service.name);
                (sref, Intent::Command(command))
            })
            .collect();
        self.apply(intents).await
    }

    /// Queues each intent, asks the loop to reconcile its project, and waits for the
    /// driver's answers: done when at least one was applied, an error listing every
    /// refusal otherwise.
    async fn apply(&self, intents: Vec<(ServiceRef, Intent)>) -> Answer {
        let mut waiting = Vec::new();
        for (sref, intent) in intents {
            let answer = self.shared.rollouts.submit(sref.clone(), intent);
            let _ = self.shared.kick.send(sref.project.clone());
            waiting.push((sref, answer));
        }
        let mut applied = Vec::new();
        let mut refused = Vec::new();
        for (sref, answer) in waiting {
            let outcome: Option<Applied> = tokio::time::timeout(APPLY_TIMEOUT, answer)
                .await
                .ok()
                .and_then(Result::ok);
            match outcome {
                Some(Ok(done)) => applied.push(format!("{sref}: {done}")),
                Some(Err(refusal)) => refused.push(format!("{sref}: {refusal}")),
                None => refused.push(format!(
                    "{sref}: not applied: the controller did not get to the service within \
                     {APPLY_TIMEOUT:?} (a long reconcile of {}, or the engine is away); \
                     nothing changed, try again",
                    sref.project
                )),
            }
        }
        if applied.is_empty() {
            return Err(ControlError::NotApplied(refused));
        }
        applied.extend(refused);
        Ok(Response::Done { messages: applied })
    }
}

/// What one service's status line is made from (the window left leaves out the time the
/// engine was away, as the driver does).
struct Shown<'a> {
    selected: &'a Selected,
    config: &'a RolloutConfig,
    outages: &'a Outages,
    now_ms: u64,
}

impl Shown<'_> {
    /// The status line, from `record` (if any) and the replicas in `kept`.
    fn status(
        &self,
        record: Option<&RolloutRecord>,
        kept: &BTreeMap<u32, &ObservedContainer>,
    ) -> ServiceStatus {
        let s = self.selected;
        let strategy = rollout::strategy(self.config);
        let replicas = s.service.replicas;
        let steps = strategy.steps(replicas).max(1);
        let mut status = ServiceStatus {
            project: s.project.name.clone(),
            service: s.service.name.clone(),
            strategy: self.config.strategy,
            phase: None,
            step: 0,
            steps,
            replicas,
            updated: 0,
            revision: None,
            image: s.service.image.clone(),
            previous_revision: None,
            previous_image: None,
            reason: None,
            gates: Vec::new(),
            window_left_ms: None,
            elapsed_ms: None,
            watch: None,
        };
        let Some(r) = record else {
            status.updated = (1..=replicas)
                .filter(|n| {
                    kept.get(n).is_some_and(|c| {
                        rollout::observe::readiness(c) == rollout::Readiness::Ready
                    })
                })
                .count() as u32;
            return status;
        };
        let now = self.now_ms;
        let elapsed = r
            .finished_at_ms
            .unwrap_or(now)
            .saturating_sub(r.started_at_ms);
        status.phase = Some(r.phase.name());
        status.step = (r.state.step + 1).min(steps);
        status.updated = (1..=replicas)
            .filter(|n| is_new_ready(kept, &r.target, *n))
            .count() as u32;
        status.revision = Some(r.target_revision);
        status.previous_revision = Some(r.previous_revision);
        status.previous_image = Some(r.previous_image.clone());
        status.reason.clone_from(&r.reason);
        status.gates.clone_from(&r.gates);
        status.elapsed_ms = Some(elapsed);
        if let (Some(started), false) = (r.state.window_started, r.phase.is_final()) {
            let active = rollout_elapsed_ms(self.outages, r.started_at_ms, now);
            let since = Duration::from_millis(active).saturating_sub(started);
            let left = strategy.monitor().saturating_sub(since);
            status.window_left_ms = Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        }
        status
    }
}
