//! One pass of the driver over one service: record the desired revision, start (or
//! supersede) its rollout, apply the control intents queued for it, evaluate its gates,
//! step its lifecycle, persist and report what changed, and tell the planner what to hold.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tracing::{info, warn};

use super::gates::{Watch, undecided};
use super::intents::{Intent, Pending};
use super::pins::{hold, pins, previous_tag};
use super::report::Reporter;
use super::{Drive, Error, Result, Rollouts, most_run, one_service, rollout_elapsed_ms};
use crate::gate::GateConfig;
use crate::metrics::Telemetry;
use crate::model::{ObservedContainer, ProjectSpec, ServiceRef, ServiceSpec, hash};
use crate::observed::Store;
use crate::plan;
use crate::rollout::command::{self, Refusal, UndoRequest};
use crate::rollout::lifecycle::{self, Inputs};
use crate::rollout::observe::{self, revision_key};
use crate::rollout::record::{Begin, History, RevisionKey, RolloutRecord};
use crate::rollout::{self, Order, POLL, RolloutConfig};
use crate::runtime::ContainerRuntime;

/// What one service's pass works with.
pub(super) struct Pass<'a, R> {
    pub runtime: &'a Arc<R>,
    pub store: &'a Store,
    pub telemetry: &'a Telemetry,
    pub spec: &'a ProjectSpec,
    pub service: &'a ServiceSpec,
    pub sref: ServiceRef,
    /// Now, milliseconds since the epoch, by the store's (injected) clock.
    pub now_ms: u64,
}

impl<R> Pass<'_, R> {
    fn config_error(&self, message: impl ToString) -> Error {
        Error::Config {
            service: self.sref.clone(),
            message: message.to_string(),
        }
    }

    fn reporter<'b>(&'b self, rollouts: &'b Rollouts) -> Reporter<'b> {
        Reporter {
            rollouts,
            telemetry: self.telemetry,
            service: &self.sref,
            image: &self.service.image,
            now_ms: self.now_ms,
        }
    }
}

/// The replicas of `kept` (up to `replicas`) that run `target`.
fn on_target(
    kept: &BTreeMap<u32, &ObservedContainer>,
    replicas: u32,
    target: &RevisionKey,
) -> BTreeSet<u32> {
    kept.iter()
        .filter(|(n, c)| **n <= replicas && revision_key(c) == *target)
        .map(|(n, _)| *n)
        .collect()
}

impl Rollouts {
    /// Runs the pass of one service.
    pub(super) async fn pass<R: ContainerRuntime>(&self, ctx: &Pass<'_, R>) -> Result<Drive> {
        let config = RolloutConfig::from_service(ctx.service).map_err(|e| ctx.config_error(e))?;
        let gates = GateConfig::parse_list(&Value::Array(config.gates.clone()))
            .map_err(|e| ctx.config_error(format!("x-rollout.{e}")))?;
        let observed = ctx.store.snapshot();
        let kept = plan::kept_replicas(&observed, &ctx.sref.project, &ctx.sref.service);
        let mut history = self.records.history(&ctx.sref)?;
        let Some(image_id) = observed.image_id(&ctx.service.image).map(str::to_owned) else {
            return self.await_image(ctx, &history, &kept);
        };
        let target = RevisionKey {
            config_hash: hash::config_hash(ctx.spec, ctx.service),
            image_id,
        };
        let existing = self.records.record(&ctx.sref)?;
        let keep: BTreeSet<u64> = existing
            .iter()
            .flat_map(|r| [r.target_revision, r.previous_revision])
            .collect();
        let before = history.clone();
        let one = one_service(ctx.spec, ctx.service);
        let image = &ctx.service.image;
        let number = history.record(target.clone(), image, one, ctx.now_ms / 1000, &keep);
        if let Some(digest) = self.noted_digest(&target.image_id)
            && let Some(entry) = history.entries.iter_mut().find(|e| e.number == number)
            && entry.digest.is_none()
        {
            entry.digest = Some(digest);
        }
        if history != before {
            self.records.save_history(&ctx.sref, &history)?;
        }
        let record = match existing {
            Some(record) if record.governs(&target) => Some(record),
            other => {
                let begin = Beginning {
                    config: &config,
                    kept: &kept,
                    target: (target.clone(), number),
                    existing: other,
                };
                self.begin(ctx, &mut history, begin)?
            }
        };
        let record = self.apply_intents(ctx, &config, &kept, &history, &target, record)?;
        let Some(mut record) = record else {
            ctx.telemetry
                .set_rollout_step(&ctx.sref.project, &ctx.sref.service, 0);
            return Ok(Drive::default());
        };
        let requeue_after = if record.phase.is_final() {
            None
        } else {
            let step = Stepping {
                config: &config,
                gates: &gates,
                kept: &kept,
            };
            self.advance(ctx, &step, &mut history, &mut record).await?
        };
        let step = if record.phase.is_final() {
            0
        } else {
            record.state.step + 1
        };
        ctx.telemetry
            .set_rollout_step(&ctx.sref.project, &ctx.sref.service, step);
        let name = &ctx.service.name;
        Ok(Drive {
            pins: pins(&record, &history, ctx.service, &kept),
            tags: previous_tag(&record, &history)
                .map(|(tag, id)| (tag, (id, name.clone())))
                .into_iter()
                .collect(),
            awaiting_image: BTreeSet::new(),
            start_first: (record.order == Order::StartFirst
                && record.phase != rollout::record::Phase::Complete)
                .then(|| name.clone())
                .into_iter()
                .collect(),
            requeue_after,
        })
    }

    /// The desired image is not local: the plan pulls it, every slot stays where it is,
    /// and the pass after the pull starts the rollout.
    fn await_image<R>(
        &self,
        ctx: &Pass<'_, R>,
        history: &History,
        kept: &BTreeMap<u32, &ObservedContainer>,
    ) -> Result<Drive> {
        let image = &ctx.service.image;
        for pending in self.intents.take(&ctx.sref) {
            pending.answer(Err(Refusal::ImageNotLocal {
                image: image.clone(),
            }));
        }
        // A service with `build:` gets its image from the planner's build.
        let built = ctx.service.build.is_some()
            && ctx.service.pull_policy != crate::model::resources::PullPolicy::Never;
        if !ctx.service.pull_policy.pulls() && !built {
            return Err(ctx.config_error(format!(
                "image {image} is not on this host and its pull_policy does not pull it; load \
                 or build it on this host (docker load, docker build -t {image}), or set \
                 pull_policy to missing"
            )));
        }
        if !built {
            info!(project = %ctx.sref.project, service = %ctx.sref.service, %image, "pulling the new revision's image before its rollout starts");
        }
        Ok(Drive {
            pins: hold(history, ctx.service, kept),
            awaiting_image: BTreeSet::from([ctx.service.name.clone()]),
            requeue_after: Some(POLL),
            ..Drive::default()
        })
    }

    /// Starts a rollout of the desired revision when replicas run another one (ending a
    /// rollout the desired state moved away from); `None` when there is nothing to roll
    /// out (a first deploy, or the replicas already run it) or nothing to roll back to.
    fn begin<R>(
        &self,
        ctx: &Pass<'_, R>,
        history: &mut History,
        begin: Beginning<'_>,
    ) -> Result<Option<RolloutRecord>> {
        let (target, number) = begin.target;
        let previous = match begin.existing.filter(|r| !r.phase.is_final()) {
            Some(old) => {
                let ended = lifecycle::supersede(old, ctx.now_ms);
                self.records.save(&ctx.sref, &ended.record)?;
                ctx.reporter(self)
                    .events(&ended.record, &ended.events, history);
                history.get(ended.record.previous_revision)
            }
            None => {
                let Some(running) = most_run(begin.kept, Some(&target)) else {
                    return Ok(None);
                };
                let found = history.find(&running);
                if found.is_none() {
                    self.warn_once(&ctx.sref);
                }
                found
            }
        };
        let Some(previous) = previous.filter(|p| p.number != number) else {
            return Ok(None);
        };
        let record = RolloutRecord::new(Begin {
            strategy: begin.config.strategy,
            target: (target.clone(), number),
            previous: (previous.number, crate::model::previous_tag(&previous.image)),
            replicas: ctx.service.replicas,
            updated: on_target(begin.kept, ctx.service.replicas, &target),
            now_ms: ctx.now_ms,
            reverting: None,
            order: Order::StopFirst,
        });
        self.records.save(&ctx.sref, &record)?;
        ctx.reporter(self).started(&record);
        Ok(Some(record))
    }

    /// Applies the control intents queued for the service, in order, and answers each.
    fn apply_intents<R>(
        &self,
        ctx: &Pass<'_, R>,
        config: &RolloutConfig,
        kept: &BTreeMap<u32, &ObservedContainer>,
        history: &History,
        target: &RevisionKey,
        mut record: Option<RolloutRecord>,
    ) -> Result<Option<RolloutRecord>> {
        for pending in self.intents.take(&ctx.sref) {
            let applied = match pending.intent {
                Intent::Command(cmd) => match &record {
                    None => Err(Refusal::NoRollout),
                    Some(current) => command::command(current, cmd).map(|next| {
                        let done = format!(
                            "rollout of revision {} {}",
                            next.target_revision,
                            cmd.done()
                        );
                        (next, done)
                    }),
                },
                Intent::Undo { to } => {
                    let request = UndoRequest {
                        history,
                        current: record.as_ref(),
                        target: target.clone(),
                        to,
                        strategy: config.strategy,
                        replicas: ctx.service.replicas,
                        updated: on_target(kept, ctx.service.replicas, target),
                        order: config.rollback.order,
                        now_ms: ctx.now_ms,
                    };
                    command::undo(&request).map(|next| {
                        let image = history
                            .get(next.previous_revision)
                            .map_or("", |e| e.image.as_str());
                        let done = format!(
                            "rolling back to revision {} ({image}); revision {} is not retried \
                             until the desired state changes",
                            next.previous_revision, next.target_revision
                        );
                        (next, done)
                    })
                }
            };
            record = self.answer(ctx, pending, applied)?.or(record);
        }
        Ok(record)
    }

    /// Saves what an intent produced and answers it; the new record, if any.
    fn answer<R>(
        &self,
        ctx: &Pass<'_, R>,
        pending: Pending,
        applied: std::result::Result<(RolloutRecord, String), Refusal>,
    ) -> Result<Option<RolloutRecord>> {
        let intent = pending.intent;
        match applied {
            Ok((next, done)) => {
                self.records.save(&ctx.sref, &next)?;
                self.gates.drop_window(&ctx.sref);
                let name = match intent {
                    Intent::Command(cmd) => cmd.done(),
                    Intent::Undo { .. } => "undo",
                };
                info!(
                    event = format!("rollout_{name}"),
                    project = %ctx.sref.project,
                    service = %ctx.sref.service,
                    "rollout {name} by the control socket"
                );
                pending.answer(Ok(done));
                Ok(Some(next))
            }
            Err(refusal) => {
                pending.answer(Err(refusal));
                Ok(None)
            }
        }
    }

    /// Moves a rollout on as far as it can go now; returns when to look again.
    async fn advance<R: ContainerRuntime>(
        &self,
        ctx: &Pass<'_, R>,
        step: &Stepping<'_>,
        history: &mut History,
        record: &mut RolloutRecord,
    ) -> Result<Option<Duration>> {
        let before = record.clone();
        let outages = ctx.store.outages();
        let elapsed_ms = rollout_elapsed_ms(&outages, record.started_at_ms, ctx.now_ms);
        let stopped: BTreeSet<u32> = step
            .kept
            .iter()
            .filter(|(_, c)| outages.stopped(c))
            .map(|(n, _)| *n)
            .collect();
        let window_open = record.state.window_started.is_some() && !record.phase.reverts();
        let decisions = if window_open && !step.gates.is_empty() {
            let watch = Watch {
                service: &ctx.sref,
                spec: ctx.service,
                configs: step.gates,
                kept: step.kept,
                stopped: &stopped,
                record,
            };
            let (decisions, reports) = self
                .gates
                .evaluate(ctx.runtime, ctx.telemetry, &watch)
                .await;
            if ctx.store.is_engine_away() || ctx.store.outages().returns() != outages.returns() {
                // The engine went away while the gates looked: what they saw may be its
                // shutdown. Decide nothing; the pass after its return looks again.
                return Ok(Some(POLL));
            }
            record.gates = reports;
            decisions
        } else {
            // Not evaluated in this window yet: every gate is undecided, so a window
            // that starts below (even one of zero length) waits for a real evaluation.
            self.gates.drop_window(&ctx.sref);
            undecided(step.gates)
        };
        let strategy = rollout::strategy(step.config);
        let observed = observe::replica_view(step.kept, &record.target, &BTreeSet::new());
        let inputs = Inputs {
            strategy: strategy.as_ref(),
            observed: &observed,
            stopped: &stopped,
            decisions: &decisions,
            gated: !step.gates.is_empty(),
            replicas: ctx.service.replicas,
            progress_deadline: step.config.progress_deadline,
            elapsed: Duration::from_millis(elapsed_ms),
            now_ms: ctx.now_ms,
        };
        let stepped = lifecycle::step(record.clone(), &inputs);
        *record = stepped.record;
        if ctx.reporter(self).events(record, &stepped.events, history) {
            self.records.save_history(&ctx.sref, history)?;
        }
        let mut compared = record.clone();
        compared.state.elapsed = Duration::ZERO;
        compared.gates.clone_from(&before.gates);
        let mut was = before;
        was.state.elapsed = Duration::ZERO;
        if compared == was {
            self.records.cache(&ctx.sref, record);
        } else {
            self.records.save(&ctx.sref, record)?;
        }
        Ok(stepped.requeue)
    }

    fn warn_once(&self, service: &ServiceRef) {
        let mut warned = crate::sync::lock(&self.warned);
        if warned.insert(service.clone()) {
            warn!(
                project = %service.project,
                service = %service.service,
                "the running replicas' revision is not in the history (created before composectl \
                 recorded revisions, or the state directory was lost): updating without a rollout, \
                 nothing to roll back to"
            );
        }
    }
}

/// What starting a rollout needs.
struct Beginning<'a> {
    config: &'a RolloutConfig,
    kept: &'a BTreeMap<u32, &'a ObservedContainer>,
    target: (RevisionKey, u64),
    existing: Option<RolloutRecord>,
}

/// What stepping a rollout needs besides the record.
struct Stepping<'a> {
    config: &'a RolloutConfig,
    gates: &'a [GateConfig],
    kept: &'a BTreeMap<u32, &'a ObservedContainer>,
}
