//! The recreate strategy.

use serde_json::{Value, json};

use super::sim::{Sim, config, replica};
use crate::rollout::Readiness::Ready;
use crate::rollout::Revision::{New, Old};
use crate::rollout::RolloutAction::Update;
use crate::rollout::{Decisions, Order, RolloutState, Step, strategy};

#[test]
fn no_rollout_settings_selects_recreate() {
    assert_eq!(
        config(2, None, Value::Null).strategy,
        crate::rollout::StrategyKind::Recreate
    );
}

#[test]
fn recreate_replaces_every_replica_at_once() {
    let recreate = strategy(&config(3, None, json!({"strategy": "recreate"})));
    let step = recreate.next(
        &RolloutState::new(3),
        &super::sim::old_view(3),
        &Decisions::default(),
    );
    let order = Order::StopFirst;
    let all = (1..=3).map(|number| Update { number, order }).collect();
    assert_eq!(step, Step::Act(all));
}

#[test]
fn recreate_is_done_when_every_replica_serves_the_new_revision() {
    let mut sim = Sim::new(strategy(&config(3, None, Value::Null)), 3);
    assert_eq!(sim.run_to_end(), None);
    assert!(
        sim.view
            .replicas
            .values()
            .all(|r| *r == replica(New, Ready))
    );
    assert_eq!(sim.min_serving, 0, "recreate takes the service down");
}

#[test]
fn recreate_rolls_back_a_failed_replica() {
    let mut sim = Sim::new(strategy(&config(2, None, Value::Null)), 2);
    sim.bad.insert(2);
    let reason = sim.run_to_end().expect("a rollback");
    assert!(reason.contains("replica 2"), "{reason}");
    assert!(
        sim.view
            .replicas
            .values()
            .all(|r| *r == replica(Old, Ready))
    );
}
