//! The machinery canary and rolling share: walk a list of steps, each a cumulative
//! replica count; per step update its replicas, wait for them to serve, watch them for a
//! monitor window, judge failures, then advance. Also the rollback walk.
//!
//! Availability: start-first replacements keep the old container serving until the new
//! one is healthy (the executor's part), so they are issued together. Stop-first
//! replacements take a replica down, so at most one replica is ever in flight: the next
//! one is issued only when every replica is settled (on its intended revision and ready,
//! or failed).

use std::time::Duration;

use super::config::{FailureAction, Promotion, UpdatePolicy};
use super::{Decision, Decisions};
use super::{Order, POLL, Readiness, ReplicaView, Revision, RolloutAction, RolloutState, Step};

/// What to do with failures of a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// Any failure rolls the rollout back (canary).
    None,
    /// Compose's `failure_action` once failures exceed `max_failure_ratio` of replicas.
    Ratio(FailureAction, f64),
}

/// One walk's settings, resolved for the current replica count.
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    /// Replicas on the new revision after each step; strictly increasing, the last one
    /// equal to the replicas. Empty when there are no replicas.
    pub targets: Vec<u32>,
    /// Order of updates.
    pub order: Order,
    /// Window per step.
    pub monitor: Duration,
    /// Pause after a step's window before the next step.
    pub delay: Duration,
    /// Auto or manual promotion between steps.
    pub promotion: Promotion,
    /// Failure handling.
    pub tolerance: Tolerance,
    /// How reverts run (`rollback_config`: order and parallelism).
    pub rollback: UpdatePolicy,
}

enum Judgement {
    /// Failures (if any) are tolerated: `failed` replicas of the step count as failures.
    Carry { failed: u32 },
    /// The step's failures decide the rollout.
    Stop(Step),
}

impl Walk {
    /// The next step of the walk.
    pub fn next(&self, st: &RolloutState, view: &ReplicaView, verdicts: &Decisions) -> Step {
        if st.paused {
            return Step::Pause("paused by `rollout pause`".to_string());
        }
        if st.rolling_back {
            return revert(st, view, &self.rollback);
        }
        let Some(last) = self.targets.len().checked_sub(1) else {
            return Step::Done;
        };
        let step = st.step.min(last);
        let from = if step == 0 { 0 } else { self.targets[step - 1] };
        let to = self.targets[step];
        let batch: Vec<u32> = (from + 1..=to).collect();
        let gate = match st.window_started {
            Some(_) => verdicts.overall(),
            None => Decision::NotYet,
        };
        let failed = match self.judge(st, view, &batch, &gate) {
            Judgement::Carry { failed } => failed,
            Judgement::Stop(step) => return step,
        };
        if let Some(step) = update(st, view, to, self.order) {
            return step;
        }
        if batch.iter().any(|n| !settled(view, *n, Revision::New)) {
            return Step::Wait(POLL);
        }
        let Some(started) = st.window_started else {
            return Step::Act(vec![RolloutAction::StartWindow]);
        };
        let since = st.elapsed.saturating_sub(started);
        if since < self.monitor {
            return Step::Wait(self.monitor - since);
        }
        if gate == Decision::NotYet {
            return Step::Wait(POLL);
        }
        if step == last {
            return Step::Done;
        }
        if since < self.monitor + self.delay {
            return Step::Wait(self.monitor + self.delay - since);
        }
        if self.promotion == Promotion::Manual && !st.promote_requested {
            return Step::AwaitPromotion { step };
        }
        Step::Act(vec![RolloutAction::Advance { failed }])
    }

    /// Counts the step's failures (failed new replicas, or the whole step when a gate
    /// failed) and decides whether they stop the rollout.
    fn judge(
        &self,
        st: &RolloutState,
        view: &ReplicaView,
        batch: &[u32],
        gate: &Decision,
    ) -> Judgement {
        let failed: Vec<u32> = batch
            .iter()
            .copied()
            .filter(|n| st.updated.contains(n))
            .filter(|n| {
                view.get(*n).is_some_and(|r| {
                    r.revision == Revision::New && r.readiness == Readiness::Failed
                })
            })
            .collect();
        let (count, reason) = match (gate, failed.first()) {
            (Decision::Fail(reason), _) => (batch.len() as u32, reason.clone()),
            (_, Some(first)) => (
                failed.len() as u32,
                format!("replica {first} failed on the new revision"),
            ),
            (_, None) => return Judgement::Carry { failed: 0 },
        };
        let action = match self.tolerance {
            Tolerance::None => FailureAction::RollBack,
            Tolerance::Ratio(FailureAction::Continue, _) => {
                return Judgement::Carry { failed: count };
            }
            Tolerance::Ratio(action, ratio) => {
                let share = f64::from(st.failures + count) / f64::from(st.replicas.max(1));
                if share <= ratio {
                    return Judgement::Carry { failed: count };
                }
                action
            }
        };
        Judgement::Stop(match action {
            // `rollout resume` (or `promote`) after such a pause carries on past the
            // failures, as re-running `docker service update` does in Swarm.
            FailureAction::Pause if st.promote_requested => {
                return Judgement::Carry { failed: count };
            }
            FailureAction::Pause => Step::Pause(reason),
            _ => Step::RollBack(reason),
        })
    }
}

/// Issues the updates that bring replicas `1..=to` onto the new revision, if any are due.
fn update(st: &RolloutState, view: &ReplicaView, to: u32, order: Order) -> Option<Step> {
    let pending: Vec<u32> = (1..=to).filter(|n| !st.updated.contains(n)).collect();
    let first = *pending.first()?;
    let step = match order {
        Order::StartFirst => Step::Act(
            pending
                .into_iter()
                .map(|number| RolloutAction::Update { number, order })
                .collect(),
        ),
        Order::StopFirst if in_flight(st, view) => Step::Wait(POLL),
        Order::StopFirst => Step::Act(vec![RolloutAction::Update {
            number: first,
            order,
        }]),
    };
    Some(step)
}

/// The rollback walk: revert every updated replica, then wait for all to settle.
/// Stop-first reverts one replica at a time; start-first reverts up to the policy's
/// `parallelism` replicas at once (0: all).
pub fn revert(st: &RolloutState, view: &ReplicaView, policy: &UpdatePolicy) -> Step {
    let order = policy.order;
    let Some(first) = st.updated.first().copied() else {
        return if in_flight(st, view) {
            Step::Wait(POLL)
        } else {
            Step::Done
        };
    };
    match order {
        Order::StartFirst => {
            let allowed = match policy.parallelism {
                0 => st.updated.len(),
                n => (n as usize).saturating_sub(busy(st, view)),
            };
            if allowed == 0 {
                return Step::Wait(POLL);
            }
            Step::Act(
                st.updated
                    .iter()
                    .take(allowed)
                    .map(|&number| RolloutAction::Revert { number, order })
                    .collect(),
            )
        }
        Order::StopFirst if in_flight(st, view) => Step::Wait(POLL),
        Order::StopFirst => Step::Act(vec![RolloutAction::Revert {
            number: first,
            order,
        }]),
    }
}

/// How many replicas are between revisions or not yet decided.
fn busy(st: &RolloutState, view: &ReplicaView) -> usize {
    (1..=st.replicas)
        .filter(|n| !settled(view, *n, intended(st, *n)))
        .count()
}

/// The revision the state intends replica `n` to run.
fn intended(st: &RolloutState, n: u32) -> Revision {
    if st.updated.contains(&n) {
        Revision::New
    } else {
        Revision::Old
    }
}

/// Whether any replica is between revisions or not yet decided (absent, starting, or not
/// yet on the revision the state intends for it).
pub fn in_flight(st: &RolloutState, view: &ReplicaView) -> bool {
    busy(st, view) > 0
}

/// Whether replica `n` runs `revision` and is ready or failed.
fn settled(view: &ReplicaView, n: u32, revision: Revision) -> bool {
    view.get(n)
        .is_some_and(|r| r.revision == revision && r.readiness != Readiness::Starting)
}
