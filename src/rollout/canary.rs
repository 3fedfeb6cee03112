//! Canary: move a few replicas first, watch them, then the rest, step by step.
//!
//! Steps come from `x-rollout.steps` (cumulative replica counts or percentages, rounded
//! up; the last step covers every replica). Each step updates only the replicas it adds
//! (replica numbers in order, lowest first), waits until they serve, watches them for
//! `x-rollout.monitor` while the gates decide, and only then moves on (after
//! `rollout promote` under manual promotion). Any failure (a failed new replica, a failed
//! gate) rolls back every updated replica: there is never more than one step in flight
//! and never a second canary before the first one passed.

use super::config::{CanaryConfig, RolloutConfig, UpdatePolicy};
use super::walk::{Tolerance, Walk};
use super::{Decisions, Order, ReplicaView, RolloutState, Step, Strategy};

/// The canary strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    /// Steps, window and promotion.
    pub config: CanaryConfig,
    /// Order of updates inside a step (`update_config.order`).
    pub order: Order,
    /// How reverts run (`rollback_config`: order and parallelism).
    pub rollback: UpdatePolicy,
}

/// Registers the canary strategy.
pub fn build(config: &RolloutConfig) -> Box<dyn Strategy> {
    Box::new(Canary {
        config: config.canary.clone(),
        order: config.update.order,
        rollback: config.rollback,
    })
}

impl Canary {
    /// Replicas on the new revision after each step, for `replicas` replicas: strictly
    /// increasing, ending at `replicas`.
    pub fn targets(&self, replicas: u32) -> Vec<u32> {
        let mut targets: Vec<u32> = Vec::new();
        for size in &self.config.steps {
            let count = size.resolve(replicas);
            if count > targets.last().copied().unwrap_or(0) {
                targets.push(count);
            }
        }
        if replicas > targets.last().copied().unwrap_or(0) {
            targets.push(replicas);
        }
        targets
    }
}

impl Strategy for Canary {
    fn next(&self, state: &RolloutState, observed: &ReplicaView, verdicts: &Decisions) -> Step {
        let walk = Walk {
            targets: self.targets(state.replicas),
            order: self.order,
            monitor: self.config.monitor,
            delay: std::time::Duration::ZERO,
            promotion: self.config.promotion,
            tolerance: Tolerance::None,
            rollback: self.rollback,
        };
        walk.next(state, observed, verdicts)
    }

    fn steps(&self, replicas: u32) -> usize {
        self.targets(replicas).len()
    }

    fn monitor(&self) -> std::time::Duration {
        self.config.monitor
    }
}
