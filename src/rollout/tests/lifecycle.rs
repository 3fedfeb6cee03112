//! The lifecycle: every phase transition [`step`] makes, table by table, with a scripted
//! strategy (what the strategy answers is the input; what the record and the events become
//! is the output), and [`supersede`].

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use super::fixtures::{key, record};
use super::sim::{old_view, view};
use crate::rollout::lifecycle::{Event, Inputs, Stepped, step, supersede};
use crate::rollout::record::{Cause, Hold, Phase, RolloutRecord, SUPERSEDED};
use crate::rollout::{
    Decision, Decisions, Order, POLL, Readiness, ReplicaView, Revision, RolloutAction,
    RolloutState, Step, Strategy,
};

/// A strategy that answers from a script (then waits a second), and remembers what it saw.
struct Script {
    answers: Mutex<VecDeque<Step>>,
    seen: Mutex<Vec<(RolloutState, ReplicaView)>>,
}

impl Script {
    fn new(answers: &[Step]) -> Self {
        Self {
            answers: Mutex::new(answers.iter().cloned().collect()),
            seen: Mutex::new(Vec::new()),
        }
    }

    fn first_seen(&self) -> (RolloutState, ReplicaView) {
        crate::sync::lock(&self.seen)[0].clone()
    }
}

impl Strategy for Script {
    fn next(&self, state: &RolloutState, observed: &ReplicaView, _: &Decisions) -> Step {
        crate::sync::lock(&self.seen).push((state.clone(), observed.clone()));
        crate::sync::lock(&self.answers)
            .pop_front()
            .unwrap_or(Step::Wait(Duration::from_secs(1)))
    }
}

/// What a step is given besides the script.
struct Given {
    view: ReplicaView,
    stopped: BTreeSet<u32>,
    gated: bool,
    elapsed: Duration,
    deadline: Duration,
}

impl Default for Given {
    fn default() -> Self {
        Self {
            view: old_view(3),
            stopped: BTreeSet::new(),
            gated: false,
            elapsed: Duration::from_secs(5),
            deadline: Duration::from_secs(600),
        }
    }
}

fn run(record: RolloutRecord, script: &Script, given: &Given) -> Stepped {
    let decisions = Decisions::of([("http", Decision::NotYet)]);
    let inputs = Inputs {
        strategy: script,
        observed: &given.view,
        stopped: &given.stopped,
        decisions: &decisions,
        gated: given.gated,
        replicas: 3,
        progress_deadline: given.deadline,
        elapsed: given.elapsed,
        now_ms: 9_000,
    };
    step(record, &inputs)
}

fn stepped(phase: Phase, answers: &[Step]) -> Stepped {
    run(record(phase), &Script::new(answers), &Given::default())
}

#[test]
fn each_strategy_answer_moves_the_phase_as_the_table_says() {
    let wait = Step::Wait(Duration::from_secs(3));
    let fail = Step::RollBack("gate http failed".into());
    let pause = Step::Pause("replica 1 failed".into());
    let user_pause = Step::Pause("paused by `rollout pause`".into());
    let promote = Step::AwaitPromotion { step: 0 };
    #[rustfmt::skip]
    let table: Vec<(Phase, Step, Phase, Vec<Event>)> = vec![
        // from                         strategy says     to                                   events
        (Phase::Progressing,            wait.clone(),     Phase::Progressing,                  vec![]),
        (Phase::AwaitingPromotion,      wait.clone(),     Phase::Progressing,                  vec![]),
        (Phase::Paused(Hold::FailureAction), wait.clone(), Phase::Progressing,                 vec![]),
        (Phase::RollingBack(Cause::Failed), wait.clone(), Phase::RollingBack(Cause::Failed),   vec![]),
        (Phase::RollingBack(Cause::Aborted), wait.clone(), Phase::RollingBack(Cause::Aborted), vec![]),
        (Phase::Progressing,            fail.clone(),     Phase::RollingBack(Cause::Failed),
            vec![Event::Failed { reason: "gate http failed".into() }]),
        (Phase::AwaitingPromotion,      fail.clone(),     Phase::RollingBack(Cause::Failed),
            vec![Event::Failed { reason: "gate http failed".into() }]),
        (Phase::Progressing,            pause.clone(),    Phase::Paused(Hold::FailureAction),
            vec![Event::Paused { reason: "replica 1 failed".into() }]),
        (Phase::Paused(Hold::User),     user_pause.clone(), Phase::Paused(Hold::User),         vec![]),
        (Phase::Progressing,            promote.clone(),  Phase::AwaitingPromotion,
            vec![Event::AwaitingPromotion { step: 0 }]),
        (Phase::AwaitingPromotion,      promote.clone(),  Phase::AwaitingPromotion,            vec![]),
        (Phase::Progressing,            Step::Done,       Phase::Complete,
            vec![Event::Finished { phase: Phase::Complete }]),
        (Phase::RollingBack(Cause::Failed), Step::Done,   Phase::RolledBack,
            vec![Event::Finished { phase: Phase::RolledBack }]),
        (Phase::RollingBack(Cause::Undone), Step::Done,   Phase::RolledBack,
            vec![Event::Finished { phase: Phase::RolledBack }]),
        (Phase::RollingBack(Cause::Aborted), Step::Done,  Phase::Aborted,
            vec![Event::Finished { phase: Phase::Aborted }]),
    ];
    for (from, answer, to, events) in table {
        let mut start = record(from);
        if from == Phase::Paused(Hold::User) {
            start.reason = Some("paused by `rollout pause`".into());
        }
        let out = run(
            start,
            &Script::new(std::slice::from_ref(&answer)),
            &Given::default(),
        );
        assert_eq!(out.record.phase, to, "{from:?} + {answer:?}");
        assert_eq!(out.events, events, "{from:?} + {answer:?}");
        assert_eq!(out.record.state.paused, to == Phase::Paused(Hold::User));
        assert_eq!(out.record.state.rolling_back, to.reverts());
        assert_eq!(
            out.record.finished_at_ms.is_some(),
            to.is_final(),
            "{from:?} + {answer:?}"
        );
    }
}

#[test]
fn a_final_record_does_not_move() {
    for phase in [
        Phase::Complete,
        Phase::RolledBack,
        Phase::Aborted,
        Phase::Superseded,
    ] {
        let script = Script::new(&[Step::Act(vec![RolloutAction::StartWindow])]);
        let out = run(record(phase), &script, &Given::default());
        assert_eq!(out.record, record(phase));
        assert!(out.events.is_empty());
        assert_eq!(out.requeue, None);
        assert!(crate::sync::lock(&script.seen).is_empty(), "not asked");
    }
}

#[test]
fn a_failure_stamps_the_reason_and_starts_reverting() {
    let out = stepped(
        Phase::Progressing,
        &[
            Step::Act(vec![RolloutAction::StartWindow]),
            Step::RollBack("gate http failed".into()),
        ],
    );
    assert_eq!(out.record.reason.as_deref(), Some("gate http failed"));
    assert_eq!(out.record.state.window_started, None, "the window is over");
    assert!(out.record.state.rolling_back);
}

#[test]
fn actions_are_recorded_and_reported_in_order() {
    let out = stepped(
        Phase::Progressing,
        &[
            Step::Act(vec![RolloutAction::Update {
                number: 1,
                order: Order::StartFirst,
            }]),
            Step::Act(vec![RolloutAction::StartWindow]),
            Step::Act(vec![RolloutAction::Advance { failed: 1 }]),
            Step::Act(vec![RolloutAction::Revert {
                number: 1,
                order: Order::StopFirst,
            }]),
        ],
    );
    assert_eq!(
        out.events,
        vec![
            Event::Ordered {
                number: 1,
                to: Revision::New
            },
            Event::WindowStarted { step: 0 },
            Event::Advanced { step: 1 },
            Event::Ordered {
                number: 1,
                to: Revision::Old
            },
        ]
    );
    let r = &out.record;
    assert_eq!(r.state.updated, BTreeSet::new(), "reverted");
    assert_eq!(r.state.step, 1);
    assert_eq!(r.state.failures, 1);
    assert_eq!(r.ordered_at_ms.get(&1), Some(&5_000));
    assert_eq!(r.order, Order::StopFirst, "the latest change's order");
    assert_eq!(r.phase, Phase::Progressing);
}

#[test]
fn advancing_clears_the_gates_and_the_promotion() {
    let mut start = record(Phase::AwaitingPromotion);
    start.state.promote_requested = true;
    start.gates = vec![crate::rollout::record::GateReport {
        name: "http".into(),
        kind: "http".into(),
        verdict: crate::rollout::record::GateVerdict::Pass,
        evidence: "200".into(),
    }];
    let script = Script::new(&[Step::Act(vec![RolloutAction::Advance { failed: 0 }])]);
    let out = run(start, &script, &Given::default());
    assert!(out.record.gates.is_empty());
    assert!(!out.record.state.promote_requested);
    assert_eq!(out.record.phase, Phase::Progressing);
}

#[test]
fn the_requeue_is_the_strategys_wait_but_a_gated_window_is_polled() {
    let wait = Step::Wait(Duration::from_secs(30));
    let table = [
        (false, None, Some(Duration::from_secs(30))),
        (true, None, Some(Duration::from_secs(30))),
        (false, Some(Duration::ZERO), Some(Duration::from_secs(30))),
        (true, Some(Duration::ZERO), Some(POLL)),
    ];
    for (gated, window, requeue) in table {
        let mut start = record(Phase::Progressing);
        start.state.window_started = window;
        let given = Given {
            gated,
            ..Given::default()
        };
        let out = run(start, &Script::new(std::slice::from_ref(&wait)), &given);
        assert_eq!(out.requeue, requeue, "gated {gated}, window {window:?}");
    }
    let mut reverting = record(Phase::RollingBack(Cause::Failed));
    reverting.state.window_started = Some(Duration::ZERO);
    let given = Given {
        gated: true,
        ..Given::default()
    };
    let out = run(reverting, &Script::new(&[wait]), &given);
    assert_eq!(
        out.requeue,
        Some(Duration::from_secs(30)),
        "no gate judges a rollback"
    );
}

#[test]
fn a_replica_past_its_progress_deadline_counts_as_failed_once() {
    let mut start = record(Phase::Progressing);
    start.state.updated = BTreeSet::from([1, 2]);
    start.ordered_at_ms.insert(1, 0);
    start.ordered_at_ms.insert(2, 4_000);
    let given = Given {
        view: view(&[
            (1, Revision::New, Readiness::Starting),
            (2, Revision::New, Readiness::Starting),
            (3, Revision::Old, Readiness::Ready),
        ]),
        deadline: Duration::from_secs(2),
        ..Given::default()
    };
    let script = Script::new(&[]);
    let out = run(start, &script, &given);
    assert_eq!(out.events, vec![Event::Overdue { number: 1 }]);
    assert_eq!(out.record.failed_replicas, BTreeSet::from([1]));
    let (_, seen) = script.first_seen();
    assert_eq!(
        seen.get(1).map(|r| (r.revision, r.readiness)),
        Some((Revision::New, Readiness::Failed)),
        "the strategy sees it failed"
    );
    let again = run(out.record, &Script::new(&[]), &given);
    assert!(again.events.is_empty(), "reported once");
}

#[test]
fn a_ready_replica_or_a_rollback_is_never_overdue() {
    let mut start = record(Phase::Progressing);
    start.state.updated = BTreeSet::from([1]);
    start.ordered_at_ms.insert(1, 0);
    let ready = Given {
        view: view(&[(1, Revision::New, Readiness::Ready)]),
        deadline: Duration::from_secs(1),
        ..Given::default()
    };
    assert!(
        run(start.clone(), &Script::new(&[]), &ready)
            .events
            .is_empty()
    );
    let mut reverting = start;
    reverting.set_phase(Phase::RollingBack(Cause::Failed));
    let starting = Given {
        view: view(&[(1, Revision::New, Readiness::Starting)]),
        deadline: Duration::from_secs(1),
        ..Given::default()
    };
    let out = run(reverting, &Script::new(&[]), &starting);
    assert!(out.record.failed_replicas.is_empty());
}

#[test]
fn a_replica_the_engine_stopped_reads_as_starting_and_its_deadline_starts_over() {
    let mut start = record(Phase::Progressing);
    start.state.updated = BTreeSet::from([1]);
    start.ordered_at_ms.insert(1, 0);
    let given = Given {
        view: view(&[
            (1, Revision::New, Readiness::Failed),
            (2, Revision::Old, Readiness::Ready),
        ]),
        stopped: BTreeSet::from([1]),
        deadline: Duration::from_secs(2),
        ..Given::default()
    };
    let script = Script::new(&[]);
    let out = run(start, &script, &given);
    assert!(out.record.failed_replicas.is_empty());
    assert_eq!(out.record.ordered_at_ms.get(&1), Some(&5_000));
    let (state, seen) = script.first_seen();
    assert_eq!(seen.get(1).unwrap().readiness, Readiness::Starting);
    assert_eq!(state.elapsed, Duration::from_secs(5));
}

#[test]
fn a_strategy_that_never_waits_cannot_spin_the_step() {
    struct Restless;
    impl Strategy for Restless {
        fn next(&self, _: &RolloutState, _: &ReplicaView, _: &Decisions) -> Step {
            Step::Act(vec![RolloutAction::StartWindow])
        }
    }
    let decisions = Decisions::default();
    let given = Given::default();
    let inputs = Inputs {
        strategy: &Restless,
        observed: &given.view,
        stopped: &given.stopped,
        decisions: &decisions,
        gated: false,
        replicas: 3,
        progress_deadline: given.deadline,
        elapsed: given.elapsed,
        now_ms: 0,
    };
    let out = step(record(Phase::Progressing), &inputs);
    assert_eq!(out.events.len(), 64);
    assert_eq!(out.requeue, None);
}

#[test]
fn supersession_ends_a_rollout_without_holding_its_revision() {
    for phase in [
        Phase::Progressing,
        Phase::Paused(Hold::User),
        Phase::Paused(Hold::FailureAction),
        Phase::AwaitingPromotion,
        Phase::RollingBack(Cause::Failed),
        Phase::RollingBack(Cause::Aborted),
    ] {
        let out = supersede(record(phase), 7_000);
        assert_eq!(out.record.phase, Phase::Superseded, "{phase:?}");
        assert_eq!(out.events, vec![Event::Superseded]);
        assert_eq!(out.record.reason.as_deref(), Some(SUPERSEDED));
        assert_eq!(out.record.finished_at_ms, Some(7_000));
        assert!(!out.record.phase.holds_target());
        assert!(
            !out.record.governs(&key(2)),
            "a new rollout of the same revision may start"
        );
    }
    for phase in [Phase::Complete, Phase::RolledBack, Phase::Aborted] {
        let out = supersede(record(phase), 7_000);
        assert_eq!(out.record, record(phase), "{phase:?} is over already");
        assert!(out.events.is_empty());
    }
}

#[test]
fn only_a_failure_an_abort_or_an_undo_holds_a_revision() {
    #[rustfmt::skip]
    let table = [
        (Phase::Progressing, false, true),
        (Phase::Paused(Hold::User), false, true),
        (Phase::AwaitingPromotion, false, true),
        (Phase::RollingBack(Cause::Failed), false, true),
        (Phase::Complete, false, true),
        (Phase::RolledBack, true, true),
        (Phase::Aborted, true, true),
        (Phase::Superseded, false, false),
    ];
    for (phase, holds, governs) in table {
        assert_eq!(phase.holds_target(), holds, "{phase:?}");
        assert_eq!(record(phase).governs(&key(2)), governs, "{phase:?}");
        assert!(!record(phase).governs(&key(3)), "another revision");
    }
}

/// The flip-back sequence of issue 11 on the lifecycle: v1 runs, v3's canary moves, the
/// desired state goes back to v1 (v3 superseded), then to v3 again: v3's record no longer
/// governs, so a new rollout of v3 starts; a rollback of v3 after that holds it.
#[test]
fn a_revision_superseded_mid_canary_rolls_out_again_when_desired_again() {
    let v3 = key(2);
    let moving = stepped(
        Phase::Progressing,
        &[Step::Act(vec![RolloutAction::Update {
            number: 1,
            order: Order::StopFirst,
        }])],
    )
    .record;
    assert!(moving.governs(&v3));
    let back_to_v1 = supersede(moving, 8_000).record;
    assert!(!back_to_v1.governs(&v3), "v3 desired again: a new rollout");
    let failed = stepped(
        Phase::Progressing,
        &[Step::RollBack("gate http failed".into()), Step::Done],
    )
    .record;
    assert_eq!(failed.phase, Phase::RolledBack);
    assert!(failed.governs(&v3), "a failed v3 stays held");
}
