//! A tiny simulator: replicas that take `startup` to come up (healthy, or failed when
//! listed in `bad`), a clock that jumps to the next event, and a strategy driven by it
//! the way the controller will: carry out `Act`, record it, wait, ask again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::rollout::{
    Decisions, Order, Readiness, Replica, ReplicaView, Revision, RolloutAction, RolloutState, Step,
    Strategy,
};

/// Gates as a function of the rollout and the view.
pub type Gates = fn(&RolloutState, &ReplicaView) -> Decisions;

/// One replica change under way.
struct Change {
    number: u32,
    done_at: Duration,
    revision: Revision,
}

/// The simulated host and clock.
pub struct Sim {
    pub strategy: Box<dyn Strategy>,
    pub state: RolloutState,
    pub view: ReplicaView,
    pub now: Duration,
    /// How long a replacement takes to be decided.
    pub startup: Duration,
    /// Replica numbers that fail on the new revision.
    pub bad: BTreeSet<u32>,
    pub gates: Gates,
    /// Every action carried out, with the time.
    pub acts: Vec<(Duration, RolloutAction)>,
    /// The fewest replicas serving at any moment.
    pub min_serving: usize,
    changes: Vec<Change>,
}

/// Gates that always pass.
pub fn passing(_: &RolloutState, _: &ReplicaView) -> Decisions {
    Decisions::default()
}

/// `replicas` replicas serving the old revision.
pub fn old_view(replicas: u32) -> ReplicaView {
    ReplicaView {
        replicas: (1..=replicas)
            .map(|n| (n, replica(Revision::Old, Readiness::Ready)))
            .collect(),
    }
}

/// A view from `(number, revision, readiness)` rows.
pub fn view(rows: &[(u32, Revision, Readiness)]) -> ReplicaView {
    ReplicaView {
        replicas: rows
            .iter()
            .map(|&(n, rev, ready)| (n, replica(rev, ready)))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// One replica.
pub fn replica(revision: Revision, readiness: Readiness) -> Replica {
    Replica {
        revision,
        readiness,
    }
}

impl Sim {
    /// A host running `replicas` old replicas, about to roll out with `strategy`.
    pub fn new(strategy: Box<dyn Strategy>, replicas: u32) -> Self {
        Self {
            strategy,
            state: RolloutState::new(replicas),
            view: old_view(replicas),
            now: Duration::ZERO,
            startup: Duration::from_secs(5),
            bad: BTreeSet::new(),
            gates: passing,
            acts: Vec::new(),
            min_serving: replicas as usize,
            changes: Vec::new(),
        }
    }

    /// Drives the strategy until it returns something other than `Act` or `Wait`.
    pub fn run(&mut self) -> Step {
        for _ in 0..10_000 {
            self.state.elapsed = self.now;
            let verdicts = (self.gates)(&self.state, &self.view);
            match self.strategy.next(&self.state, &self.view, &verdicts) {
                Step::Act(actions) => self.act(&actions),
                Step::Wait(d) => self.wait(d),
                other => return other,
            }
        }
        panic!("the rollout did not settle in 10000 steps");
    }

    /// Drives to the end, rolling back when asked; returns the rollback reason if any.
    pub fn run_to_end(&mut self) -> Option<String> {
        let mut reason = None;
        loop {
            match self.run() {
                Step::Done => return reason,
                Step::RollBack(why) => {
                    assert!(reason.is_none(), "rolled back twice");
                    reason = Some(why);
                    self.state.begin_rollback();
                }
                Step::AwaitPromotion { .. } => self.state.promote_requested = true,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The replica updates and reverts carried out, in order.
    pub fn replica_acts(&self) -> Vec<RolloutAction> {
        self.acts
            .iter()
            .map(|(_, a)| a.clone())
            .filter(|a| {
                matches!(
                    a,
                    RolloutAction::Update { .. } | RolloutAction::Revert { .. }
                )
            })
            .collect()
    }

    fn act(&mut self, actions: &[RolloutAction]) {
        assert!(!actions.is_empty(), "an empty Act");
        for action in actions {
            self.acts.push((self.now, action.clone()));
            match *action {
                RolloutAction::Update { number, order } => {
                    self.replace(number, Revision::New, order)
                }
                RolloutAction::Revert { number, order } => {
                    self.replace(number, Revision::Old, order)
                }
                _ => {}
            }
        }
        self.state.apply(actions);
        self.observe_serving();
    }

    fn replace(&mut self, number: u32, revision: Revision, order: Order) {
        if order == Order::StopFirst {
            self.view.replicas.remove(&number);
        }
        let done_at = self.now + self.startup;
        self.changes.push(Change {
            number,
            done_at,
            revision,
        });
    }

    fn wait(&mut self, d: Duration) {
        let next_change = self.changes.iter().map(|c| c.done_at).min();
        let until = next_change.map_or(self.now + d, |t| t.min(self.now + d));
        self.now = until.max(self.now);
        let (done, rest): (Vec<Change>, Vec<Change>) =
            self.changes.drain(..).partition(|c| c.done_at <= self.now);
        self.changes = rest;
        for change in done {
            let failed = change.revision == Revision::New && self.bad.contains(&change.number);
            let readiness = if failed {
                Readiness::Failed
            } else {
                Readiness::Ready
            };
            self.view
                .replicas
                .insert(change.number, replica(change.revision, readiness));
        }
        self.observe_serving();
    }

    fn observe_serving(&mut self) {
        self.min_serving = self.min_serving.min(self.view.serving());
    }
}

/// The rollout config of a service with `replicas`, `update_config` and `x-rollout`.
pub fn config(
    replicas: u32,
    update: Option<crate::model::spec::UpdateConfig>,
    ext: serde_json::Value,
) -> crate::rollout::RolloutConfig {
    let mut service = crate::model::spec::ServiceSpec::new("app", "app:2");
    service.replicas = replicas;
    service.update_config = update;
    if !ext.is_null() {
        service.extensions.insert("x-rollout".to_string(), ext);
    }
    crate::rollout::RolloutConfig::from_service(&service).expect("a valid config")
}
