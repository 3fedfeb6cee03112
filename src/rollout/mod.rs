//! Rollout strategies: pure state machines that move one service from its previous
//! revision to a new one, replica by replica.
//!
//! A strategy answers one question, again and again: given where the rollout is
//! ([`RolloutState`], what must survive a controller crash), what the host runs
//! ([`ReplicaView`]) and what the health gates said about the current monitor window
//! ([`Decisions`]), what happens next ([`Step`])? No I/O, no async, no clock: time comes in as
//! [`RolloutState::elapsed`], the time since the rollout started.
//!
//! The caller (the controller, later) carries out a [`Step::Act`] (replica updates and
//! reverts through the executor, bookkeeping through [`RolloutState::apply`]), persists the
//! state, and calls [`Strategy::next`] again when the view or a verdict changes, or when a
//! [`Step::Wait`] runs out. On [`Step::RollBack`] it calls [`RolloutState::begin_rollback`]
//! and keeps calling `next`, which then reverts every updated replica.
//!
//! Around the strategies, [`lifecycle`] moves a rollout's [`record::RolloutRecord`] (its
//! phase is the one truth: progressing, paused by whom, awaiting promotion, rolling back
//! and why, over and how) and [`command`] applies what users ask (pause, resume, promote,
//! abort, undo). Both are pure; the driver ([`crate::controller::rollouts`]) does the I/O.
//!
//! Start reading at [`Strategy`] and [`strategy`]; `walk.rs` holds the machinery that
//! [`canary`] and [`rolling`] share (steps, monitor windows, failures, rollback).
//! Adding a strategy is one new file implementing [`Strategy`] and one line in
//! [`STRATEGIES`].

pub mod canary;
pub mod command;
pub mod config;
pub mod lifecycle;
pub mod observe;
pub mod record;
pub mod recreate;
pub mod rolling;
mod walk;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use config::{FailureAction, Promotion, RolloutConfig, StepSize, UpdatePolicy};

/// How often a strategy asks to be called again while it waits for something it cannot
/// time itself (a replica becoming healthy, a gate deciding).
pub const POLL: Duration = Duration::from_secs(1);

/// A rollout strategy: a pure state machine over a rollout's recorded state.
pub trait Strategy: Send + Sync {
    /// What happens next. Pure: the same inputs always give the same step.
    fn next(&self, state: &RolloutState, observed: &ReplicaView, verdicts: &Decisions) -> Step;

    /// How many steps a rollout of `replicas` replicas takes (for status output).
    fn steps(&self, _replicas: u32) -> usize {
        1
    }

    /// How long each step is watched (for status output).
    fn monitor(&self) -> Duration {
        Duration::ZERO
    }
}

/// A strategy's constructor, as registered in [`STRATEGIES`].
pub type Build = fn(&RolloutConfig) -> Box<dyn Strategy>;

/// Which strategy a service rolls out by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// Every replica at once ([`recreate`]).
    Recreate,
    /// Batches, compose's `update_config` ([`rolling`]).
    Rolling,
    /// Steps watched by gates ([`canary`]).
    Canary,
}

/// Every strategy by its `x-rollout.strategy` name. Adding a strategy adds a variant to
/// [`StrategyKind`] and one line here.
pub const STRATEGIES: &[(StrategyKind, &str, Build)] = &[
    (StrategyKind::Recreate, "recreate", recreate::build),
    (StrategyKind::Rolling, "rolling", rolling::build),
    (StrategyKind::Canary, "canary", canary::build),
];

impl StrategyKind {
    /// The strategy named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        STRATEGIES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(kind, _, _)| *kind)
    }

    /// Its `x-rollout.strategy` name.
    pub fn name(self) -> &'static str {
        STRATEGIES
            .iter()
            .find(|(kind, _, _)| *kind == self)
            .map_or("recreate", |(_, name, _)| *name)
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// The strategy `config` names.
pub fn strategy(config: &RolloutConfig) -> Box<dyn Strategy> {
    let build = STRATEGIES
        .iter()
        .find(|(kind, _, _)| *kind == config.strategy)
        .map_or(recreate::build as Build, |(_, _, build)| *build);
    build(config)
}

/// What a strategy decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Carry these actions out (in order), record them, then call `next` again.
    Act(Vec<RolloutAction>),
    /// Nothing to do; call `next` again after this long at the latest (earlier when the
    /// view or a verdict changes).
    Wait(Duration),
    /// The rollout is over: every replica is on the new revision and watched, or (after
    /// [`RolloutState::begin_rollback`]) every replica is back on the previous one.
    Done,
    /// The new revision failed (the reason says how); call
    /// [`RolloutState::begin_rollback`] and keep calling `next`.
    RollBack(String),
    /// Hold the rollout as it is until a user resumes it (the reason says why).
    Pause(String),
    /// Step `step` (from 0) passed its window; manual promotion waits for `rollout promote`
    /// ([`RolloutState::promote_requested`]).
    AwaitPromotion {
        /// The step that passed.
        step: usize,
    },
}

/// Whether a replacement starts the new container before stopping the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Order {
    /// Stop the old container, then start the new one (compose's default): the replica
    /// is down in between. Strategies replace at most one replica this way at a time.
    #[default]
    StopFirst,
    /// Start the new container, wait for it to be healthy, then stop the old one: the
    /// replica keeps serving throughout.
    StartFirst,
}

/// One thing a strategy asks for: a replica change (for the executor) or a record (for
/// [`RolloutState::apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutAction {
    /// Replace replica `number` with the new revision.
    Update {
        /// The replica number, from 1.
        number: u32,
        /// Stop-first or start-first.
        order: Order,
    },
    /// Put replica `number` back on the previous revision (the `:previous` image and the
    /// previous spec).
    Revert {
        /// The replica number, from 1.
        number: u32,
        /// Stop-first or start-first (from `rollback_config`).
        order: Order,
    },
    /// Record that the current step's monitor window starts now.
    StartWindow,
    /// Record that the current step is over and the next one begins.
    Advance {
        /// Replica failures of the finished step that were tolerated (rolling only).
        failed: u32,
    },
}

/// Where a rollout is: everything a strategy needs besides the view and the verdicts,
/// all of it recoverable after the controller is killed.
///
/// Where each field lives on the host is noted on it. "The rollout record" is a small
/// per-service file written atomically (write, fsync, rename) next to the revision
/// history; container labels cannot change after creation, so anything that moves while
/// a container runs belongs there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    /// Replicas of the new revision (`deploy.replicas`): from the desired spec.
    pub replicas: u32,
    /// Replica numbers ordered onto the new revision and not reverted since: from the
    /// containers whose config-hash label equals the new revision's hash (the executor
    /// labels a container when it creates it).
    pub updated: BTreeSet<u32>,
    /// The current step (canary) or batch (rolling), from 0: the rollout record. When
    /// the record is lost, 0 is safe: steps already done are watched again, none skipped.
    pub step: usize,
    /// When the current step's monitor window started, as time since the rollout
    /// started: the rollout record (a lost value restarts the window, which is safe).
    pub window_started: Option<Duration>,
    /// Time since the rollout started (now): computed by the caller from the start time
    /// in the rollout record.
    pub elapsed: Duration,
    /// The user paused the rollout (`rollout pause`): the rollout record.
    pub paused: bool,
    /// The user promoted the current step (`rollout promote`, or `rollout resume` of a
    /// rollout that `failure_action: pause` held): the rollout record; cleared when the
    /// step advances. It also carries the step past its tolerated failures.
    pub promote_requested: bool,
    /// Replica failures tolerated so far (rolling's `max_failure_ratio`): the rollout
    /// record.
    pub failures: u32,
    /// The rollout failed and is reverting to the previous revision: the rollout record
    /// (with the failed revision's hash, so it is not retried).
    pub rolling_back: bool,
}

impl RolloutState {
    /// A fresh rollout of `replicas` replicas at time zero.
    pub fn new(replicas: u32) -> Self {
        Self {
            replicas,
            ..Self::default()
        }
    }

    /// Records actions the caller carried out. Replica actions change [`Self::updated`];
    /// the others move the step and its window.
    pub fn apply(&mut self, actions: &[RolloutAction]) {
        for action in actions {
            match action {
                RolloutAction::Update { number, .. } => {
                    self.updated.insert(*number);
                }
                RolloutAction::Revert { number, .. } => {
                    self.updated.remove(number);
                }
                RolloutAction::StartWindow => self.window_started = Some(self.elapsed),
                RolloutAction::Advance { failed } => {
                    self.step += 1;
                    self.window_started = None;
                    self.promote_requested = false;
                    self.failures += failed;
                }
            }
        }
    }

    /// Records that the rollout failed: from now on `next` reverts.
    pub fn begin_rollback(&mut self) {
        self.rolling_back = true;
        self.window_started = None;
    }
}

/// Which revision a replica runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// The revision being rolled out.
    New,
    /// The revision before it (`:previous`).
    Old,
}

/// Whether a replica serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Running and healthy (or running, without a health check): it serves.
    Ready,
    /// Created or running, health not decided yet.
    Starting,
    /// Exited, or its health check failed.
    Failed,
}

/// One replica as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replica {
    /// Its revision.
    pub revision: Revision,
    /// Whether it serves.
    pub readiness: Readiness,
}

impl Replica {
    /// Whether it runs the new revision and serves.
    pub fn is_new_ready(&self) -> bool {
        self.revision == Revision::New && self.readiness == Readiness::Ready
    }
}

/// What the host runs for one service, by replica number. A number with no container
/// (for example between stop and start of a stop-first replacement) is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaView {
    /// Replicas by number.
    pub replicas: BTreeMap<u32, Replica>,
}

impl ReplicaView {
    /// Replica `number`, if it has a container.
    pub fn get(&self, number: u32) -> Option<Replica> {
        self.replicas.get(&number).copied()
    }

    /// How many replicas serve.
    pub fn serving(&self) -> usize {
        self.replicas
            .values()
            .filter(|r| r.readiness == Readiness::Ready)
            .count()
    }
}

/// One gate's verdict on the current monitor window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The gate passed.
    Pass,
    /// The gate failed, with its evidence.
    Fail(String),
    /// The gate has not decided yet.
    NotYet,
}

/// Every gate's verdict on the current monitor window, by gate name. Decisions are only
/// read once the window has started; no gates means every window passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// Decisions by gate name.
    pub gates: BTreeMap<String, Decision>,
}

impl Decisions {
    /// The verdicts of `gates`.
    pub fn of<'a>(gates: impl IntoIterator<Item = (&'a str, Decision)>) -> Self {
        Self {
            gates: gates
                .into_iter()
                .map(|(name, verdict)| (name.to_string(), verdict))
                .collect(),
        }
    }

    /// All gates together: the first failure (named), else not yet if any gate has not
    /// decided, else pass.
    pub fn overall(&self) -> Decision {
        let failed = self.gates.iter().find_map(|(name, v)| match v {
            Decision::Fail(evidence) => Some(format!("gate {name} failed: {evidence}")),
            _ => None,
        });
        if let Some(reason) = failed {
            return Decision::Fail(reason);
        }
        if self.gates.values().any(|v| *v == Decision::NotYet) {
            return Decision::NotYet;
        }
        Decision::Pass
    }
}
