//! The canary strategy: the reference flow end to end, rollback, promotion, resume.

use std::time::Duration;

use serde_json::json;

use super::sim::{Sim, config, replica, view};
use crate::rollout::Readiness::{Failed, Ready, Starting};
use crate::rollout::Revision::{New, Old};
use crate::rollout::RolloutAction::{Advance, Revert, StartWindow, Update};
use crate::rollout::{
    Decision, Decisions, Order, POLL, ReplicaView, RolloutState, Step, Strategy, strategy,
};

const S: fn(u64) -> Duration = Duration::from_secs;
const STOP: Order = Order::StopFirst;

/// The reference flow: 3 replicas, steps [1, 100%], a 60 s window.
fn reference() -> Box<dyn Strategy> {
    strategy(&config(
        3,
        None,
        json!({"strategy": "canary", "steps": [1, "100%"], "monitor": "60s"}),
    ))
}

/// A 5xx gate that fails as soon as replica 1 runs the new revision.
fn five_xx_on_replica_one(state: &RolloutState, view: &ReplicaView) -> Decisions {
    let canary_new = view.get(1).is_some_and(|r| r.revision == New);
    let verdict = if state.window_started.is_some() && canary_new {
        Decision::Fail("5xx ratio 20% > 5%".to_string())
    } else {
        Decision::NotYet
    };
    Decisions::of([("5xx", verdict)])
}

#[test]
fn reference_flow_updates_one_replica_watches_it_then_the_rest_one_at_a_time() {
    let mut sim = Sim::new(reference(), 3);
    assert_eq!(sim.run_to_end(), None);
    let expected = vec![
        (
            S(0),
            Update {
                number: 1,
                order: STOP,
            },
        ),
        (S(5), StartWindow),
        (S(65), Advance { failed: 0 }),
        (
            S(65),
            Update {
                number: 2,
                order: STOP,
            },
        ),
        (
            S(70),
            Update {
                number: 3,
                order: STOP,
            },
        ),
        (S(75), StartWindow),
    ];
    assert_eq!(sim.acts, expected);
    assert_eq!(
        sim.now,
        S(135),
        "the last step is watched for its window too"
    );
    assert!((1..=3).all(|n| sim.view.get(n).unwrap().is_new_ready()));
    assert_eq!(sim.min_serving, 2);
}

#[test]
fn steps_one_two_three_watch_every_replica_for_a_window() {
    let config = config(
        3,
        None,
        json!({"strategy": "canary", "steps": [1, 2, 3], "monitor": "60s"}),
    );
    let mut sim = Sim::new(strategy(&config), 3);
    assert_eq!(sim.run_to_end(), None);
    let windows: Vec<Duration> = sim
        .acts
        .iter()
        .filter(|(_, a)| *a == StartWindow)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(windows, vec![S(5), S(70), S(135)]);
}

#[test]
fn failing_gate_in_step_one_reverts_only_replica_one() {
    let mut sim = Sim::new(reference(), 3);
    sim.gates = five_xx_on_replica_one;
    let reason = sim.run_to_end().expect("a rollback");
    assert!(reason.contains("5xx ratio 20% > 5%"), "{reason}");
    assert_eq!(
        sim.replica_acts(),
        vec![
            Update {
                number: 1,
                order: STOP
            },
            Revert {
                number: 1,
                order: STOP
            }
        ]
    );
    assert!(
        sim.view
            .replicas
            .values()
            .all(|r| *r == replica(Old, Ready))
    );
}

#[test]
fn canary_failing_its_health_check_is_rolled_back() {
    let mut sim = Sim::new(reference(), 3);
    sim.bad.insert(1);
    let reason = sim.run_to_end().expect("a rollback");
    assert!(reason.contains("replica 1 failed"), "{reason}");
    assert_eq!(sim.replica_acts().len(), 2);
    assert!(
        sim.view
            .replicas
            .values()
            .all(|r| *r == replica(Old, Ready))
    );
}

#[test]
fn failure_in_the_last_step_reverts_every_updated_replica() {
    let mut sim = Sim::new(reference(), 3);
    sim.bad.insert(3);
    sim.run_to_end().expect("a rollback");
    let reverts: Vec<_> = sim
        .replica_acts()
        .into_iter()
        .filter(|a| matches!(a, Revert { .. }))
        .collect();
    assert_eq!(
        reverts,
        (1..=3)
            .map(|number| Revert {
                number,
                order: STOP
            })
            .collect::<Vec<_>>()
    );
    assert!(
        sim.view
            .replicas
            .values()
            .all(|r| *r == replica(Old, Ready))
    );
}

#[test]
fn manual_promotion_waits_for_promote_after_each_step_but_the_last() {
    let config = config(
        3,
        None,
        json!({"strategy": "canary", "steps": [1, 2], "promotion": "manual"}),
    );
    let mut sim = Sim::new(strategy(&config), 3);
    assert_eq!(sim.run(), Step::AwaitPromotion { step: 0 });
    assert_eq!(
        sim.run(),
        Step::AwaitPromotion { step: 0 },
        "no promote, no progress"
    );
    sim.state.promote_requested = true;
    assert_eq!(sim.run(), Step::AwaitPromotion { step: 1 });
    assert!(
        !sim.state.promote_requested,
        "a promote is spent by one step"
    );
    sim.state.promote_requested = true;
    assert_eq!(sim.run(), Step::Done);
}

fn state(step: usize, updated: &[u32], window: Option<u64>, elapsed: u64) -> RolloutState {
    RolloutState {
        replicas: 3,
        updated: updated.iter().copied().collect(),
        step,
        window_started: window.map(S),
        elapsed: S(elapsed),
        ..RolloutState::default()
    }
}

#[test]
fn canary_table() {
    let all_old = view(&[(1, Old, Ready), (2, Old, Ready), (3, Old, Ready)]);
    let canary_ready = view(&[(1, New, Ready), (2, Old, Ready), (3, Old, Ready)]);
    let canary_starting = view(&[(1, New, Starting), (2, Old, Ready), (3, Old, Ready)]);
    let canary_gone = view(&[(2, Old, Ready), (3, Old, Ready)]);
    let pass = Decisions::of([("5xx", Decision::Pass)]);
    let not_yet = Decisions::of([("5xx", Decision::NotYet)]);
    let fail = Decisions::of([("5xx", Decision::Fail("20%".into()))]);
    let paused = RolloutState {
        paused: true,
        ..state(0, &[1], Some(0), 10)
    };
    let back = RolloutState {
        rolling_back: true,
        ..state(0, &[1], None, 10)
    };
    let cases: Vec<(&str, RolloutState, &ReplicaView, &Decisions, Step)> = vec![
        (
            "fresh rollout updates the canary",
            state(0, &[], None, 0),
            &all_old,
            &pass,
            Step::Act(vec![Update {
                number: 1,
                order: STOP,
            }]),
        ),
        (
            "canary stopped, not yet started",
            state(0, &[1], None, 1),
            &canary_gone,
            &pass,
            Step::Wait(POLL),
        ),
        (
            "canary starting",
            state(0, &[1], None, 2),
            &canary_starting,
            &pass,
            Step::Wait(POLL),
        ),
        (
            "canary healthy starts the window",
            state(0, &[1], None, 5),
            &canary_ready,
            &pass,
            Step::Act(vec![StartWindow]),
        ),
        (
            "a stale failure before the window is ignored",
            state(0, &[1], None, 5),
            &canary_ready,
            &fail,
            Step::Act(vec![StartWindow]),
        ),
        (
            "window running: no second canary",
            state(0, &[1], Some(5), 35),
            &canary_ready,
            &pass,
            Step::Wait(S(30)),
        ),
        (
            "window over, gate undecided",
            state(0, &[1], Some(5), 65),
            &canary_ready,
            &not_yet,
            Step::Wait(POLL),
        ),
        (
            "window over, gates pass",
            state(0, &[1], Some(5), 65),
            &canary_ready,
            &pass,
            Step::Act(vec![Advance { failed: 0 }]),
        ),
        (
            "gate fails inside the window",
            state(0, &[1], Some(5), 20),
            &canary_ready,
            &fail,
            Step::RollBack("gate 5xx failed: 20%".into()),
        ),
        (
            "paused",
            paused,
            &canary_ready,
            &pass,
            Step::Pause("paused by `rollout pause`".into()),
        ),
        (
            "rolling back reverts the canary",
            back,
            &canary_ready,
            &pass,
            Step::Act(vec![Revert {
                number: 1,
                order: STOP,
            }]),
        ),
        (
            "next step updates the next replica only",
            state(1, &[1], None, 65),
            &canary_ready,
            &pass,
            Step::Act(vec![Update {
                number: 2,
                order: STOP,
            }]),
        ),
    ];
    let canary = reference();
    for (name, state, view, verdicts, expected) in cases {
        assert_eq!(canary.next(&state, view, verdicts), expected, "{name}");
    }
}

#[test]
fn resumed_rollout_continues_from_its_step() {
    let config = config(
        3,
        None,
        json!({"strategy": "canary", "steps": [1, 2, 3], "monitor": "60s"}),
    );
    let mut sim = Sim::new(strategy(&config), 3);
    // As if the controller restarted during step 1: replicas 1 and 2 are new, the
    // window's start was lost.
    sim.state = state(1, &[1, 2], None, 0);
    sim.view = view(&[(1, New, Ready), (2, New, Ready), (3, Old, Ready)]);
    assert_eq!(sim.run_to_end(), None);
    assert_eq!(
        sim.replica_acts(),
        vec![Update {
            number: 3,
            order: STOP
        }]
    );
    assert_eq!(
        sim.acts.first().unwrap().1,
        StartWindow,
        "the lost window is watched again"
    );
}

#[test]
fn resumed_rollback_reverts_what_is_left() {
    let mut sim = Sim::new(reference(), 3);
    sim.state = RolloutState {
        rolling_back: true,
        ..state(1, &[2], None, 0)
    };
    sim.view = view(&[(1, Old, Ready), (2, New, Failed), (3, Old, Ready)]);
    assert_eq!(sim.run_to_end(), None);
    assert_eq!(
        sim.replica_acts(),
        vec![Revert {
            number: 2,
            order: STOP
        }]
    );
    assert!(
        sim.view
            .replicas
            .values()
            .all(|r| *r == replica(Old, Ready))
    );
}
