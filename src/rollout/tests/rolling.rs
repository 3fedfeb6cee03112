//! The rolling strategy: batches, failure actions, availability under both orders.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::sim::{Sim, config, view};
use crate::model::spec::UpdateConfig;
use crate::rollout::Readiness::{Failed, Ready};
use crate::rollout::Revision::{New, Old};
use crate::rollout::RolloutAction::{Advance, StartWindow, Update};
use crate::rollout::rolling::Rolling;
use crate::rollout::{Decisions, Order, POLL, RolloutState, Step, Strategy, strategy};

const S: fn(u64) -> Duration = Duration::from_secs;

fn update(parallelism: u32, order: &str, failure_action: &str, ratio: f64) -> UpdateConfig {
    UpdateConfig {
        parallelism: Some(parallelism),
        delay: Some(S(10)),
        failure_action: Some(failure_action.to_string()),
        monitor: Some(S(30)),
        max_failure_ratio: Some(ratio),
        order: Some(order.to_string()),
    }
}

fn rolling(replicas: u32, update: UpdateConfig) -> Box<dyn Strategy> {
    strategy(&config(replicas, Some(update), Value::Null))
}

#[test]
fn update_config_alone_selects_rolling() {
    let config = config(2, Some(update(1, "stop-first", "pause", 0.0)), Value::Null);
    assert_eq!(config.strategy, crate::rollout::StrategyKind::Rolling);
}

#[test]
fn batches_follow_parallelism() {
    let cases = [
        (5, 2, vec![2, 4, 5]),
        (5, 0, vec![5]),
        (3, 1, vec![1, 2, 3]),
        (2, 7, vec![2]),
        (0, 1, vec![]),
    ];
    for (replicas, parallelism, expected) in cases {
        let config = config(
            replicas,
            Some(update(parallelism, "stop-first", "pause", 0.0)),
            Value::Null,
        );
        let rolling = Rolling {
            update: config.update,
            rollback: crate::rollout::UpdatePolicy::default(),
        };
        assert_eq!(
            rolling.targets(replicas),
            expected,
            "{replicas} replicas by {parallelism}"
        );
    }
}

#[test]
fn start_first_batch_is_updated_together_and_waits_for_delay_between_batches() {
    let mut sim = Sim::new(rolling(4, update(2, "start-first", "pause", 0.0)), 4);
    assert_eq!(sim.run_to_end(), None);
    let order = Order::StartFirst;
    let expected = vec![
        (S(0), Update { number: 1, order }),
        (S(0), Update { number: 2, order }),
        (S(5), StartWindow),
        (S(45), Advance { failed: 0 }),
        (S(45), Update { number: 3, order }),
        (S(45), Update { number: 4, order }),
        (S(50), StartWindow),
    ];
    assert_eq!(sim.acts, expected, "monitor 30 s, then delay 10 s");
    assert_eq!(sim.min_serving, 4);
}

/// Replica 1 failed on the new revision, its batch's window is over.
/// 4 replicas, the first batch (replica 1) updated and failed, its window over.
fn failed_first_batch() -> (RolloutState, crate::rollout::ReplicaView) {
    let state = RolloutState {
        replicas: 4,
        updated: [1].into(),
        window_started: Some(S(5)),
        elapsed: S(60),
        ..RolloutState::default()
    };
    let view = view(&[
        (1, New, Failed),
        (2, Old, Ready),
        (3, Old, Ready),
        (4, Old, Ready),
    ]);
    (state, view)
}

fn after_failed_batch(action: &str, ratio: f64) -> Step {
    let rolling = rolling(4, update(1, "stop-first", action, ratio));
    let (state, view) = failed_first_batch();
    rolling.next(&state, &view, &Decisions::default())
}

#[test]
fn resuming_a_failure_pause_carries_on_past_the_failures() {
    let rolling = rolling(4, update(1, "stop-first", "pause", 0.0));
    let (mut state, view) = failed_first_batch();
    assert!(matches!(
        rolling.next(&state, &view, &Decisions::default()),
        Step::Pause(_)
    ));
    state.promote_requested = true;
    assert_eq!(
        rolling.next(&state, &view, &Decisions::default()),
        Step::Act(vec![Advance { failed: 1 }])
    );
}

#[test]
fn failure_actions_table() {
    let reason = "replica 1 failed on the new revision".to_string();
    let cases = [
        ("rollback", 0.0, Step::RollBack(reason.clone())),
        ("pause", 0.0, Step::Pause(reason)),
        ("continue", 0.0, Step::Act(vec![Advance { failed: 1 }])),
        ("rollback", 0.25, Step::Act(vec![Advance { failed: 1 }])),
        ("pause", 0.5, Step::Act(vec![Advance { failed: 1 }])),
    ];
    for (action, ratio, expected) in cases {
        assert_eq!(
            after_failed_batch(action, ratio),
            expected,
            "{action} at ratio {ratio}"
        );
    }
}

#[test]
fn tolerated_failures_add_up_until_the_ratio_is_exceeded() {
    let mut sim = Sim::new(rolling(4, update(1, "stop-first", "rollback", 0.25)), 4);
    sim.bad.extend([2, 3]);
    let reason = sim.run_to_end().expect("the second failure exceeds 25%");
    assert!(reason.contains("replica 3"), "{reason}");
    assert_eq!(sim.state.failures, 1);
    assert!((1..=4).all(|n| sim.view.get(n).unwrap().revision == Old));
}

#[test]
fn continue_rolls_out_past_failures() {
    let mut sim = Sim::new(rolling(3, update(1, "stop-first", "continue", 0.0)), 3);
    sim.bad.insert(2);
    assert_eq!(sim.run_to_end(), None);
    assert_eq!(sim.state.failures, 1);
    assert_eq!(sim.state.updated.len(), 3);
}

#[test]
fn stop_first_batch_is_replaced_one_replica_at_a_time() {
    let rolling = rolling(3, update(0, "stop-first", "pause", 0.0));
    let state = RolloutState {
        replicas: 3,
        updated: [1].into(),
        ..RolloutState::default()
    };
    let one_down = view(&[(2, Old, Ready), (3, Old, Ready)]);
    assert_eq!(
        rolling.next(&state, &one_down, &Decisions::default()),
        Step::Wait(POLL)
    );
    let one_up = view(&[(1, New, Ready), (2, Old, Ready), (3, Old, Ready)]);
    assert_eq!(
        rolling.next(&state, &one_up, &Decisions::default()),
        Step::Act(vec![Update {
            number: 2,
            order: Order::StopFirst
        }])
    );
}

/// The times of the reverts of a rolling update whose third batch fails, under
/// `rollback_config` with `order` and `parallelism`.
fn revert_times(order: &str, parallelism: Option<u32>) -> Vec<Duration> {
    let mut update_config = update(1, "stop-first", "rollback", 0.0);
    update_config.monitor = Some(S(1));
    let mut service = crate::model::spec::ServiceSpec::new("app", "app:2");
    service.replicas = 3;
    service.update_config = Some(update_config);
    service.rollback_config = Some(UpdateConfig {
        order: Some(order.into()),
        parallelism,
        ..UpdateConfig::default()
    });
    let config = crate::rollout::RolloutConfig::from_service(&service).unwrap();
    let mut sim = Sim::new(strategy(&config), 3);
    sim.bad.insert(3);
    sim.run_to_end().expect("a rollback");
    sim.acts
        .iter()
        .filter(|(_, a)| matches!(a, crate::rollout::RolloutAction::Revert { .. }))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn rollback_config_order_and_parallelism_drive_the_reverts() {
    let together = revert_times("start-first", Some(0));
    assert_eq!(together.len(), 3);
    assert!(
        together.iter().all(|t| *t == together[0]),
        "start-first with parallelism 0 reverts all together: {together:?}"
    );
    let one_by_one = revert_times("start-first", None);
    assert_eq!(one_by_one.len(), 3);
    assert!(
        one_by_one.windows(2).all(|w| w[0] < w[1]),
        "start-first with Swarm's default parallelism 1 reverts one at a time: {one_by_one:?}"
    );
    let two = revert_times("start-first", Some(2));
    assert_eq!(two.len(), 3);
    assert_eq!(two[0], two[1], "two at once: {two:?}");
    assert!(two[1] < two[2], "then the third: {two:?}");
    let stop_first = revert_times("stop-first", Some(0));
    assert!(
        stop_first.windows(2).all(|w| w[0] < w[1]),
        "stop-first always reverts one at a time: {stop_first:?}"
    );
}

proptest! {
    #[test]
    fn availability_holds_for_any_shape(
        replicas in 1u32..8,
        parallelism in 0u32..5,
        start_first in any::<bool>(),
        startup in 1u64..20,
        monitor in 0u64..10,
        canary in any::<bool>(),
    ) {
        let order = if start_first { "start-first" } else { "stop-first" };
        let mut update_config = update(parallelism, order, "rollback", 0.0);
        update_config.monitor = Some(S(monitor));
        let ext = if canary { json!({"strategy": "canary", "steps": [1, "50%"]}) } else { Value::Null };
        let mut sim = Sim::new(strategy(&config(replicas, Some(update_config), ext)), replicas);
        sim.startup = S(startup);
        prop_assert_eq!(sim.run_to_end(), None);
        let floor = if start_first { replicas } else { replicas - 1 };
        prop_assert!(sim.min_serving >= floor as usize, "{} serving", sim.min_serving);
        prop_assert!((1..=replicas).all(|n| sim.view.get(n).unwrap().is_new_ready()));
    }
}
