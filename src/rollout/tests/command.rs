//! Control commands: every command in every phase, and `undo`'s choice of revision.

use std::collections::BTreeSet;

use super::fixtures::{key, record};
use crate::model::spec::ProjectSpec;
use crate::rollout::command::{Command, Refusal, UndoRequest, command, undo};
use crate::rollout::record::{Cause, History, Hold, Phase, PhaseName, RolloutRecord};
use crate::rollout::{Order, StrategyKind};

/// What a command leads to: the new phase and whether the current step may advance, or
/// the refusal.
type Outcome = Result<(Phase, bool), Refusal>;

fn ok(phase: Phase, promoted: bool) -> Outcome {
    Ok((phase, promoted))
}

#[test]
fn every_command_in_every_phase_does_what_the_table_says() {
    use Command::{Abort, Pause, Promote, Resume};
    let user = Phase::Paused(Hold::User);
    let held = Phase::Paused(Hold::FailureAction);
    let reverting = Phase::RollingBack(Cause::Failed);
    let aborting = Phase::RollingBack(Cause::Aborted);
    let undoing = Phase::RollingBack(Cause::Undone);
    let abort = Phase::RollingBack(Cause::Aborted);
    let over = |phase: Phase, command: Command| -> Outcome {
        Err(Refusal::Over {
            phase: phase.name(),
            command: command.name(),
        })
    };
    let back = |command: Command| -> Outcome {
        Err(Refusal::Reverting {
            command: command.name(),
        })
    };
    let not_paused = |phase: Phase| -> Outcome {
        Err(Refusal::NotPaused {
            phase: phase.name(),
        })
    };
    #[rustfmt::skip]
    let table: Vec<(Phase, Command, Outcome)> = vec![
        (Phase::Progressing,       Pause,   ok(user, false)),
        (Phase::Progressing,       Resume,  not_paused(Phase::Progressing)),
        (Phase::Progressing,       Promote, ok(Phase::Progressing, true)),
        (Phase::Progressing,       Abort,   ok(abort, false)),
        (user,                     Pause,   Err(Refusal::AlreadyPaused)),
        (user,                     Resume,  ok(Phase::Progressing, false)),
        (user,                     Promote, Err(Refusal::PausedByUser)),
        (user,                     Abort,   ok(abort, false)),
        (held,                     Pause,   ok(user, false)),
        (held,                     Resume,  ok(Phase::Progressing, true)),
        (held,                     Promote, ok(Phase::Progressing, true)),
        (held,                     Abort,   ok(abort, false)),
        (Phase::AwaitingPromotion, Pause,   ok(user, false)),
        (Phase::AwaitingPromotion, Resume,  not_paused(Phase::AwaitingPromotion)),
        (Phase::AwaitingPromotion, Promote, ok(Phase::AwaitingPromotion, true)),
        (Phase::AwaitingPromotion, Abort,   ok(abort, false)),
        (reverting,                Pause,   back(Pause)),
        (reverting,                Resume,  back(Resume)),
        (reverting,                Promote, back(Promote)),
        (reverting,                Abort,   ok(abort, false)),
        (undoing,                  Pause,   back(Pause)),
        (undoing,                  Abort,   ok(abort, false)),
        (aborting,                 Pause,   back(Pause)),
        (aborting,                 Resume,  back(Resume)),
        (aborting,                 Abort,   Err(Refusal::AlreadyAborting)),
        (Phase::Complete,          Pause,   over(Phase::Complete, Pause)),
        (Phase::Complete,          Abort,   over(Phase::Complete, Abort)),
        (Phase::RolledBack,        Resume,  over(Phase::RolledBack, Resume)),
        (Phase::Aborted,           Promote, over(Phase::Aborted, Promote)),
        (Phase::Superseded,        Abort,   over(Phase::Superseded, Abort)),
    ];
    for (phase, cmd, want) in table {
        let got = command(&record(phase), cmd).map(|r| (r.phase, r.state.promote_requested));
        assert_eq!(got, want, "{cmd:?} in {phase:?}");
    }
}

#[test]
fn pause_abort_and_resume_set_the_reason_and_the_strategys_view() {
    let paused = command(&record(Phase::Progressing), Command::Pause).unwrap();
    assert_eq!(paused.reason.as_deref(), Some("paused by `rollout pause`"));
    assert!(paused.state.paused);
    let resumed = command(&paused, Command::Resume).unwrap();
    assert_eq!(resumed.reason, None);
    assert!(!resumed.state.paused);
    let mut windowed = record(Phase::Progressing);
    windowed.state.window_started = Some(std::time::Duration::from_secs(3));
    let aborted = command(&windowed, Command::Abort).unwrap();
    assert_eq!(
        aborted.reason.as_deref(),
        Some("aborted by `rollout abort`")
    );
    assert!(aborted.state.rolling_back);
    assert_eq!(aborted.state.window_started, None);
}

#[test]
fn refusals_say_what_to_do() {
    let over = command(&record(Phase::Complete), Command::Pause).unwrap_err();
    assert_eq!(
        over.to_string(),
        "its rollout is over (complete); nothing to pause"
    );
    assert_eq!(
        command(&record(Phase::Paused(Hold::User)), Command::Promote)
            .unwrap_err()
            .to_string(),
        "its rollout is paused by `rollout pause`; `rollout resume` it first"
    );
    assert_eq!(PhaseName::Superseded.as_str(), "superseded");
}

fn history(numbers: &[u64]) -> History {
    let mut history = History::default();
    for &n in numbers {
        history.record(
            key(n),
            &format!("shop/web:v{n}"),
            ProjectSpec::default(),
            n,
            &BTreeSet::new(),
        );
    }
    history
}

fn request<'a>(
    history: &'a History,
    current: Option<&'a RolloutRecord>,
    target: u64,
    to: Option<u64>,
) -> UndoRequest<'a> {
    UndoRequest {
        history,
        current,
        target: key(target),
        to,
        strategy: StrategyKind::Canary,
        replicas: 3,
        updated: BTreeSet::from([1, 2, 3]),
        order: Order::StartFirst,
        now_ms: 42,
    }
}

#[test]
fn undo_goes_back_to_the_revision_before_the_desired_one_by_default() {
    let history = history(&[1, 2, 3]);
    let undone = undo(&request(&history, None, 3, None)).unwrap();
    assert_eq!(undone.phase, Phase::RollingBack(Cause::Undone));
    assert_eq!((undone.target_revision, undone.previous_revision), (3, 2));
    assert_eq!(undone.previous_image, "shop/web:previous");
    assert_eq!(undone.started_at_ms, 42);
    assert_eq!(undone.order, Order::StartFirst);
    assert_eq!(undone.state.updated, BTreeSet::from([1, 2, 3]));
    assert!(undone.state.rolling_back);
    assert!(undone.phase.reverts() && !undone.phase.is_final());
}

#[test]
fn undo_of_a_rollout_goes_back_to_its_previous_revision() {
    let history = history(&[1, 2]);
    let current = record(Phase::Complete);
    let undone = undo(&request(&history, Some(&current), 2, None)).unwrap();
    assert_eq!(undone.previous_revision, 1);
}

#[test]
fn undo_refuses_what_it_cannot_do() {
    let history = history(&[1, 2, 3]);
    #[rustfmt::skip]
    let table = [
        (4, None, Refusal::NotRecorded),
        (1, None, Refusal::NoEarlier),
        (3, Some(9), Refusal::NoSuchRevision(9)),
        (3, Some(3), Refusal::IsDesired(3)),
    ];
    for (target, to, want) in table {
        let got = undo(&request(&history, None, target, to)).unwrap_err();
        assert_eq!(got, want, "target {target}, to {to:?}");
    }
    let explicit = undo(&request(&history, None, 3, Some(1))).unwrap();
    assert_eq!(explicit.previous_revision, 1);
}
