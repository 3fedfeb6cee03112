//! The rollout lifecycle: how a rollout record moves, as one pure function.
//!
//! [`step`] takes a record and what the driver observed (the replicas, the engine's
//! outages, the gates' decisions, the rollout's own clock) and returns the record moved as
//! far as it can go now, the [`Event`]s that happened on the way, and when to look again.
//! It asks the service's [`Strategy`] what comes next until the strategy waits, and turns
//! each answer into a phase and bookkeeping. [`supersede`] ends a rollout whose revision
//! the desired state no longer names. Control commands are in [`super::command`].
//!
//! Nothing here reads a clock or does I/O: the driver
//! ([`crate::controller::rollouts`]) evaluates gates, persists records and turns events
//! into logs, metrics, history stamps and webhooks.

use std::collections::BTreeSet;
use std::time::Duration;

use super::record::{Cause, Hold, Phase, RolloutRecord, SUPERSEDED};
use super::{
    Decisions, POLL, Readiness, Replica, ReplicaView, Revision, RolloutAction, Step, Strategy,
};

/// How many strategy answers one step takes at most (each `Act` is recorded and the
/// strategy asked again; a strategy that never waits cannot spin the loop).
const MAX_ANSWERS: usize = 64;

/// What the driver observed, for one step of one record.
pub struct Inputs<'a> {
    /// The service's strategy.
    pub strategy: &'a dyn Strategy,
    /// The replicas as observed (new or old revision, readiness), before this record's
    /// failed replicas and the engine's outages are taken into account.
    pub observed: &'a ReplicaView,
    /// Replica numbers that are down because the engine went away (not their fault).
    pub stopped: &'a BTreeSet<u32>,
    /// The gates' decisions on the current window (every gate undecided when the window
    /// has not started or was not evaluated).
    pub decisions: &'a Decisions,
    /// The service has gates (a gated window is looked at every [`POLL`]).
    pub gated: bool,
    /// Replicas the service wants.
    pub replicas: u32,
    /// How long a replica ordered onto the new revision may take to serve.
    pub progress_deadline: Duration,
    /// The rollout's own clock: time since it started, the engine's outages left out.
    pub elapsed: Duration,
    /// Now, milliseconds since the epoch (for the stamps the record keeps).
    pub now_ms: u64,
}

/// Something that happened during a step, for the driver to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Replica `number` was ordered onto the new revision, or back onto the previous one.
    Ordered {
        /// The replica.
        number: u32,
        /// [`Revision::New`] for an update, [`Revision::Old`] for a revert.
        to: Revision,
    },
    /// Replica `number` did not serve within the progress deadline: it counts as failed.
    Overdue {
        /// The replica.
        number: u32,
    },
    /// The monitor window of `step` (from 0) started: the gates judge it from now.
    WindowStarted {
        /// The step.
        step: usize,
    },
    /// A step passed; `step` (from 0) is the one that begins.
    Advanced {
        /// The step that begins.
        step: usize,
    },
    /// The new revision failed; replicas go back to the previous one.
    Failed {
        /// Why.
        reason: String,
    },
    /// The rollout was paused (by `failure_action: pause`, or a user's pause took effect).
    Paused {
        /// Why.
        reason: String,
    },
    /// Step `step` (from 0) passed and waits for `rollout promote`.
    AwaitingPromotion {
        /// The step.
        step: usize,
    },
    /// The rollout is over: [`Phase::Complete`], [`Phase::RolledBack`] or
    /// [`Phase::Aborted`].
    Finished {
        /// The final phase.
        phase: Phase,
    },
    /// The desired state moved on before the rollout ended.
    Superseded,
}

/// A step's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Stepped {
    /// The record, moved.
    pub record: RolloutRecord,
    /// What happened, in order.
    pub events: Vec<Event>,
    /// When to look again at the latest (`None`: nothing moves by itself).
    pub requeue: Option<Duration>,
}

/// Moves `record` as far as it can go now. A final record comes back as it is.
pub fn step(mut record: RolloutRecord, inputs: &Inputs<'_>) -> Stepped {
    let mut events = Vec::new();
    if record.phase.is_final() {
        return Stepped {
            record,
            events,
            requeue: None,
        };
    }
    let elapsed_ms = millis(inputs.elapsed);
    record.state.replicas = inputs.replicas;
    record.state.elapsed = inputs.elapsed;
    for number in inputs.stopped {
        // Its progress deadline starts over once the engine starts it again.
        if let Some(at) = record.ordered_at_ms.get_mut(number) {
            *at = elapsed_ms;
        }
    }
    overdue(&mut record, inputs, elapsed_ms, &mut events);
    let view = strategy_view(&record, inputs);
    let mut requeue = None;
    for _ in 0..MAX_ANSWERS {
        match inputs.strategy.next(&record.state, &view, inputs.decisions) {
            Step::Act(actions) => act(&mut record, &actions, elapsed_ms, &mut events),
            Step::Wait(after) => {
                if !record.phase.reverts() {
                    record.set_phase(Phase::Progressing);
                }
                let gated = inputs.gated
                    && record.state.window_started.is_some()
                    && !record.phase.reverts();
                requeue = Some(if gated { after.min(POLL) } else { after });
                break;
            }
            Step::RollBack(reason) => {
                record.set_phase(Phase::RollingBack(Cause::Failed));
                record.state.begin_rollback();
                record.reason = Some(reason.clone());
                events.push(Event::Failed { reason });
            }
            Step::Pause(reason) => {
                let hold = if record.phase == Phase::Paused(Hold::User) {
                    Hold::User
                } else {
                    Hold::FailureAction
                };
                if record.phase != Phase::Paused(hold) || record.reason.as_ref() != Some(&reason) {
                    events.push(Event::Paused {
                        reason: reason.clone(),
                    });
                }
                record.set_phase(Phase::Paused(hold));
                record.reason = Some(reason);
                break;
            }
            Step::AwaitPromotion { step } => {
                if record.phase != Phase::AwaitingPromotion {
                    events.push(Event::AwaitingPromotion { step });
                }
                record.set_phase(Phase::AwaitingPromotion);
                break;
            }
            Step::Done => {
                let phase = match record.phase {
                    Phase::RollingBack(Cause::Aborted) => Phase::Aborted,
                    Phase::RollingBack(_) => Phase::RolledBack,
                    _ => Phase::Complete,
                };
                record.set_phase(phase);
                record.finished_at_ms = Some(inputs.now_ms);
                events.push(Event::Finished { phase });
                break;
            }
        }
    }
    Stepped {
        record,
        events,
        requeue,
    }
}

/// Ends `record` because the desired state no longer names its revision. Not a failure:
/// nothing is held, and the revision rolls out again when it is desired again.
pub fn supersede(mut record: RolloutRecord, now_ms: u64) -> Stepped {
    let mut events = Vec::new();
    if !record.phase.is_final() {
        record.set_phase(Phase::Superseded);
        record.reason = Some(SUPERSEDED.to_owned());
        record.finished_at_ms = Some(now_ms);
        events.push(Event::Superseded);
    }
    Stepped {
        record,
        events,
        requeue: None,
    }
}

/// Records the actions of one strategy answer (the planner carries replica changes out).
fn act(
    record: &mut RolloutRecord,
    actions: &[RolloutAction],
    elapsed_ms: u64,
    events: &mut Vec<Event>,
) {
    for action in actions {
        match action {
            RolloutAction::Update { number, order } | RolloutAction::Revert { number, order } => {
                let to = match action {
                    RolloutAction::Update { .. } => Revision::New,
                    _ => Revision::Old,
                };
                events.push(Event::Ordered {
                    number: *number,
                    to,
                });
                record.ordered_at_ms.insert(*number, elapsed_ms);
                record.failed_replicas.remove(number);
                record.order = *order;
            }
            RolloutAction::StartWindow => events.push(Event::WindowStarted {
                step: record.state.step,
            }),
            RolloutAction::Advance { .. } => {
                events.push(Event::Advanced {
                    step: record.state.step + 1,
                });
                record.gates.clear();
            }
        }
    }
    record.state.apply(actions);
}

/// Marks replicas ordered onto the new revision that do not serve past the progress
/// deadline as failed (not while reverting).
fn overdue(
    record: &mut RolloutRecord,
    inputs: &Inputs<'_>,
    elapsed_ms: u64,
    events: &mut Vec<Event>,
) {
    if record.phase.reverts() {
        return;
    }
    let deadline_ms = millis(inputs.progress_deadline);
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
        .filter(|n| !inputs.observed.get(*n).is_some_and(|r| r.is_new_ready()))
        .collect();
    for number in late {
        if record.failed_replicas.insert(number) {
            events.push(Event::Overdue { number });
        }
    }
}

/// What the strategy sees: the observed replicas, the record's failed replicas as failed
/// new ones, and replicas the engine stopped as starting (never failed).
fn strategy_view(record: &RolloutRecord, inputs: &Inputs<'_>) -> ReplicaView {
    let mut view = inputs.observed.clone();
    for &number in &record.failed_replicas {
        view.replicas.insert(
            number,
            Replica {
                revision: Revision::New,
                readiness: Readiness::Failed,
            },
        );
    }
    for number in inputs
        .stopped
        .iter()
        .filter(|n| !record.failed_replicas.contains(n))
    {
        if let Some(replica) = view.replicas.get_mut(number) {
            replica.readiness = Readiness::Starting;
        }
    }
    view
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
