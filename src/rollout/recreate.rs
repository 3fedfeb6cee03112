//! Recreate: stop every replica, start them all on the new revision (compose's own
//! behaviour). A replica that fails on the new revision rolls the service back.

use super::config::{RolloutConfig, UpdatePolicy};
use super::walk::revert;
use super::{Decisions, Strategy};
use super::{Order, POLL, Readiness, ReplicaView, Revision, RolloutAction, RolloutState, Step};

/// The recreate strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Recreate {
    /// How reverts run (`rollback_config`: order and parallelism).
    pub rollback: UpdatePolicy,
}

/// Registers the recreate strategy.
pub fn build(config: &RolloutConfig) -> Box<dyn Strategy> {
    Box::new(Recreate {
        rollback: config.rollback,
    })
}

impl Strategy for Recreate {
    fn next(&self, state: &RolloutState, observed: &ReplicaView, _verdicts: &Decisions) -> Step {
        if state.paused {
            return Step::Pause("paused by `rollout pause`".to_string());
        }
        if state.rolling_back {
            return revert(state, observed, &self.rollback);
        }
        let pending: Vec<RolloutAction> = (1..=state.replicas)
            .filter(|n| !state.updated.contains(n))
            .map(|number| RolloutAction::Update {
                number,
                order: Order::StopFirst,
            })
            .collect();
        if !pending.is_empty() {
            return Step::Act(pending);
        }
        let replicas = (1..=state.replicas).map(|n| observed.get(n));
        let mut ready = true;
        for (number, replica) in (1..).zip(replicas) {
            match replica {
                Some(r) if r.revision == Revision::New && r.readiness == Readiness::Failed => {
                    return Step::RollBack(format!("replica {number} failed on the new revision"));
                }
                Some(r) if r.is_new_ready() => {}
                _ => ready = false,
            }
        }
        if ready { Step::Done } else { Step::Wait(POLL) }
    }
}
