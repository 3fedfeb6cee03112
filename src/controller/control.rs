//! The controller's side of the control socket: answers `composectl rollout ...` from
//! the rollout records, the revision histories and the observed store, and carries out
//! pause, resume, promote, abort and undo by changing a rollout record and asking the
//! loop to reconcile the project.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::reconcile::Shared;
use super::rollouts::{has_rollout, is_new_ready, most_run, now_ms, rollout_elapsed_ms};
use super::view::Target;
use crate::control::protocol::{HistoryView, RevisionLine, ServiceStatus};
use crate::control::{Handler, HandlerFuture, Request, Response, Selector};
use crate::model::spec::{ProjectSpec, ServiceSpec};
use crate::model::{ObservedContainer, hash, previous_tag};
use crate::observed::Outages;
use crate::plan::kept_replicas;
use crate::rollout::observe::revision_key;
use crate::rollout::record::{Phase, RevisionKey, RolloutRecord};
use crate::rollout::{self, RolloutConfig, RolloutState};
use crate::runtime::ContainerRuntime;

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
                .unwrap_or_else(|message| Response::Error { message })
        })
    }
}

/// A service with a rollout config, with its project's spec.
struct Selected {
    project: ProjectSpec,
    service: ServiceSpec,
}

type Answer = Result<Response, String>;

impl<R: ContainerRuntime> ControlHandler<R> {
    async fn answer(&self, request: Request) -> Answer {
        match request {
            Request::Status { selector } => self.status(&selector),
            Request::History { selector } => self.history(&selector),
            Request::Pause { selector } => {
                self.change(&selector, "paused", |r| {
                    r.state.paused = true;
                    r.phase = Phase::Paused;
                    r.reason = Some("paused by `rollout pause`".to_owned());
                })
                .await
            }
            Request::Resume { selector } => {
                self.change(&selector, "resumed", |r| {
                    // Held by `failure_action: pause` rather than by `rollout pause`:
                    // resuming accepts the failures and carries on.
                    if r.phase == Phase::Paused && !r.state.paused {
                        r.state.promote_requested = true;
                    }
                    r.state.paused = false;
                    r.phase = Phase::Progressing;
                    r.reason = None;
                })
                .await
            }
            Request::Promote { selector } => {
                self.change(&selector, "promoted", |r| {
                    r.state.promote_requested = true;
                })
                .await
            }
            Request::Abort { selector } => {
                self.change(&selector, "aborted", |r| {
                    r.state.paused = false;
                    r.state.begin_rollback();
                    r.aborted = true;
                    r.phase = Phase::RollingBack;
                    r.reason = Some("aborted by `rollout abort`".to_owned());
                })
                .await
            }
            Request::Undo {
                selector,
                to_revision,
            } => self.undo(&selector, to_revision).await,
            Request::Reload => {
                self.shared.reload.notify_one();
                Ok(Response::Done {
                    messages: vec!["reloading the desired directory".to_owned()],
                })
            }
        }
    }

    /// Every service with a rollout config that `selector` selects.
    fn select(&self, selector: &Selector) -> Vec<Selected> {
        let view = self.shared.view.lock().expect("view lock");
        let mut selected = Vec::new();
        for project in view.projects() {
            let Target::Spec(spec) = view.target(&project) else {
                continue;
            };
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
    fn select_one(&self, selector: &Selector) -> Result<Selected, String> {
        let mut selected = self.select(selector);
        match selected.len() {
            0 => Err(no_match(selector)),
            1 => Ok(selected.remove(0)),
            _ => {
                let names: Vec<String> = selected
                    .iter()
                    .map(|s| format!("{}/{}", s.project.name, s.service.name))
                    .collect();
                Err(format!(
                    "{selector} selects {} services ({}); name one as project/service",
                    names.len(),
                    names.join(", ")
                ))
            }
        }
    }

    fn status(&self, selector: &Selector) -> Answer {
        let selected = self.select(selector);
        if selected.is_empty() && (selector.project.is_some() || selector.service.is_some()) {
            return Err(no_match(selector));
        }
        let observed = self.shared.store.snapshot();
        let mut services = Vec::new();
        for s in &selected {
            let (project, name) = (s.project.name.as_str(), s.service.name.as_str());
            let record = self
                .shared
                .rollouts
                .record(project, name)
                .map_err(|e| e.to_string())?;
            let config = RolloutConfig::from_service(&s.service).map_err(|e| e.to_string())?;
            let kept = kept_replicas(&observed, project, name);
            let outages = self.shared.store.outages();
            let mut status = service_status(s, &config, record.as_ref(), &kept, &outages);
            let desired = observed.image_id(&s.service.image).map(|id| RevisionKey {
                config_hash: hash::config_hash(&s.project, &s.service),
                image_id: id.to_owned(),
            });
            let started = record
                .as_ref()
                .is_some_and(|r| Some(&r.target) == desired.as_ref());
            let behind = kept.values().any(|c| Some(revision_key(c)) != desired);
            if !started && behind {
                // What the status shows is about the next rollout, not the one before it.
                status = ServiceStatus {
                    phase: Some(Phase::Pending),
                    updated: 0,
                    reason: Some(
                        "the desired state changed; the rollout starts at the next reconcile"
                            .to_owned(),
                    ),
                    ..service_status(s, &config, None, &BTreeMap::new(), &outages)
                };
            }
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
            .history(project, name)
            .map_err(|e| e.to_string())?;
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

    /// Applies `change` to every selected rollout in progress, saves it and reconciles.
    async fn change(
        &self,
        selector: &Selector,
        done: &str,
        change: impl Fn(&mut RolloutRecord),
    ) -> Answer {
        let mut messages = Vec::new();
        for s in self.select(selector) {
            let (project, name) = (s.project.name.as_str(), s.service.name.as_str());
            let rollouts = &self.shared.rollouts;
            let lock = rollouts.lock(project, name);
            let _held = lock.lock().await;
            let Some(mut record) = rollouts.record(project, name).map_err(|e| e.to_string())?
            else {
                continue;
            };
            if record.phase.is_final() {
                continue;
            }
            change(&mut record);
            rollouts
                .save(project, name, &record)
                .map_err(|e| e.to_string())?;
            tracing::info!(
                event = format!("rollout_{done}"),
                project,
                service = name,
                "rollout {done} by the control socket"
            );
            let _ = self.shared.kick.send(project.to_owned());
            messages.push(format!(
                "{project}/{name}: rollout of revision {} {done}",
                record.target_revision
            ));
        }
        if messages.is_empty() {
            return Err(format!(
                "no rollout in progress for {selector}; `composectl rollout status` shows where each service stands"
            ));
        }
        Ok(Response::Done { messages })
    }

    /// Rolls one service back to `to` (default: the revision before the one it runs).
    async fn undo(&self, selector: &Selector, to: Option<u64>) -> Answer {
        let s = self.select_one(selector)?;
        let (project, name) = (s.project.name.as_str(), s.service.name.as_str());
        let rollouts = &self.shared.rollouts;
        let lock = rollouts.lock(project, name);
        let _held = lock.lock().await;
        let history = rollouts.history(project, name).map_err(|e| e.to_string())?;
        let observed = self.shared.store.snapshot();
        let image_id = observed.image_id(&s.service.image).ok_or_else(|| {
            format!(
                "{project}/{name}: its image {} is not local yet; wait for the controller to pull it",
                s.service.image
            )
        })?;
        let target = RevisionKey {
            config_hash: hash::config_hash(&s.project, &s.service),
            image_id: image_id.to_owned(),
        };
        let target_entry = history.find(&target).ok_or_else(|| {
            format!("{project}/{name}: the desired revision is not recorded yet; wait for the controller to reconcile")
        })?;
        let record = rollouts.record(project, name).map_err(|e| e.to_string())?;
        let to = match to {
            Some(number) => number,
            None => match &record {
                Some(r) if r.target == target => r.previous_revision,
                _ => history
                    .entries
                    .iter()
                    .rev()
                    .map(|e| e.number)
                    .find(|n| *n < target_entry.number)
                    .ok_or_else(|| format!("{project}/{name}: no earlier revision to go back to; `composectl rollout history {project}/{name}` lists them"))?,
            },
        };
        let entry = history.get(to).ok_or_else(|| {
            format!("{project}/{name}: no revision {to}; `composectl rollout history {project}/{name}` lists them")
        })?;
        if entry.number == target_entry.number {
            return Err(format!(
                "{project}/{name}: revision {to} is the desired revision; change the desired state instead"
            ));
        }
        let previous_image = previous_tag(&entry.image);
        self.shared
            .runtime
            .tag_image(&entry.key.image_id, &previous_image)
            .await
            .map_err(|e| format!("{project}/{name}: {e}"))?;
        let config = RolloutConfig::from_service(&s.service).map_err(|e| e.to_string())?;
        let kept = kept_replicas(&observed, project, name);
        let mut state = RolloutState::new(s.service.replicas);
        state.updated = (1..=s.service.replicas)
            .filter(|n| kept.get(n).is_some_and(|c| revision_key(c) == target))
            .collect();
        state.begin_rollback();
        let undone = RolloutRecord {
            strategy: config.strategy.to_owned(),
            target,
            target_revision: target_entry.number,
            previous_revision: entry.number,
            previous_image,
            started_at_ms: now_ms(),
            finished_at_ms: None,
            state,
            phase: Phase::RollingBack,
            reason: Some(format!("undone by `rollout undo` to revision {to}")),
            failed_replicas: Default::default(),
            ordered_at_ms: BTreeMap::new(),
            gates: Vec::new(),
            aborted: false,
            order: config.rollback.order,
        };
        rollouts
            .save(project, name, &undone)
            .map_err(|e| e.to_string())?;
        tracing::info!(
            event = "rollout_undo",
            project,
            service = name,
            to,
            "rollout undo by the control socket"
        );
        let _ = self.shared.kick.send(project.to_owned());
        Ok(Response::Done {
            messages: vec![format!(
                "{project}/{name}: rolling back to revision {to} ({}); revision {} is not retried until the desired state changes",
                entry.image, target_entry.number
            )],
        })
    }
}

fn no_match(selector: &Selector) -> String {
    format!(
        "no service with a rollout config (x-rollout or deploy.update_config) matches {selector}"
    )
}

/// One service's status line (the window left leaves out the time the engine was away, as
/// the driver does).
fn service_status(
    s: &Selected,
    config: &RolloutConfig,
    record: Option<&RolloutRecord>,
    kept: &BTreeMap<u32, &ObservedContainer>,
    outages: &Outages,
) -> ServiceStatus {
    let strategy = rollout::strategy(config);
    let replicas = s.service.replicas;
    let steps = strategy.steps(replicas).max(1);
    let mut status = ServiceStatus {
        project: s.project.name.clone(),
        service: s.service.name.clone(),
        strategy: config.strategy.to_owned(),
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
    };
    let Some(r) = record else {
        status.updated = count(kept, replicas, |c| {
            rollout::observe::readiness(c) == rollout::Readiness::Ready
        });
        return status;
    };
    let now = now_ms();
    let elapsed = r
        .finished_at_ms
        .unwrap_or(now)
        .saturating_sub(r.started_at_ms);
    status.phase = Some(r.phase);
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
        let active = rollout_elapsed_ms(outages, r.started_at_ms, now);
        let since = Duration::from_millis(active).saturating_sub(started);
        let left = strategy.monitor().saturating_sub(since);
        status.window_left_ms = Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
    }
    status
}

fn count(
    kept: &BTreeMap<u32, &ObservedContainer>,
    replicas: u32,
    f: impl Fn(&ObservedContainer) -> bool,
) -> u32 {
    (1..=replicas)
        .filter(|n| kept.get(n).is_some_and(|c| f(c)))
        .count() as u32
}
