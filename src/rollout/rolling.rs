//! Rolling: compose's `deploy.update_config`, made to work without Swarm.
//!
//! Replicas are updated in batches of `parallelism` (0: all at once), lowest numbers
//! first. Each batch is watched for `monitor` (gates included), then the next one starts
//! after `delay`. Failed replicas, or every replica of a batch whose gate failed, count as
//! failures; once they exceed `max_failure_ratio` of the replicas, `failure_action`
//! decides: `rollback` reverts every updated replica (with `rollback_config`'s order),
//! `pause` holds the rollout, `continue` carries on. Under stop-first the replicas of a
//! batch are replaced one after another, so at most one replica is ever down.

use super::config::{Promotion, RolloutConfig, UpdatePolicy};
use super::walk::{Tolerance, Walk};
use super::{Decisions, ReplicaView, RolloutState, Step, Strategy};

/// The rolling strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rolling {
    /// `deploy.update_config`.
    pub update: UpdatePolicy,
    /// How reverts run (`rollback_config`: order and parallelism).
    pub rollback: UpdatePolicy,
}

/// Registers the rolling strategy.
pub fn build(config: &RolloutConfig) -> Box<dyn Strategy> {
    Box::new(Rolling {
        update: config.update,
        rollback: config.rollback,
    })
}

impl Rolling {
    /// Replicas on the new revision after each batch, for `replicas` replicas.
    pub fn targets(&self, replicas: u32) -> Vec<u32> {
        let size = match self.update.parallelism {
            0 => replicas.max(1),
            n => n,
        };
        (1..=replicas.div_ceil(size))
            .map(|batch| (batch * size).min(replicas))
            .collect()
    }
}

impl Strategy for Rolling {
    fn next(&self, state: &RolloutState, observed: &ReplicaView, verdicts: &Decisions) -> Step {
        let walk = Walk {
            targets: self.targets(state.replicas),
            order: self.update.order,
            monitor: self.update.monitor,
            delay: self.update.delay,
            promotion: Promotion::Auto,
            tolerance: Tolerance::Ratio(self.update.failure_action, self.update.max_failure_ratio),
            rollback: self.rollback,
        };
        walk.next(state, observed, verdicts)
    }

    fn steps(&self, replicas: u32) -> usize {
        self.targets(replicas).len()
    }

    fn monitor(&self) -> std::time::Duration {
        self.update.monitor
    }
}
