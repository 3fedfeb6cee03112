//! What a user can ask of a rollout (`composectl rollout pause|resume|promote|abort|undo`),
//! as pure functions from a record to a record, or a [`Refusal`] that says why not.
//!
//! | command | from                                         | to                          |
//! |---------|----------------------------------------------|-----------------------------|
//! | pause   | progressing, awaiting promotion, held by `failure_action` | paused (user)  |
//! | resume  | paused (user)                                | progressing                 |
//! | resume  | held by `failure_action: pause`              | progressing, failures accepted |
//! | promote | progressing, awaiting promotion              | the current step may advance |
//! | promote | held by `failure_action: pause`              | as resume                   |
//! | abort   | any phase that is not over and not aborting  | rolling back (aborted)      |
//! | undo    | anything (a new record)                      | rolling back (undone) to an earlier revision |
//!
//! A rollback is never paused or promoted: it runs until every replica is back.
//! The driver applies commands on its next pass ([`crate::controller::rollouts`]), so the
//! record has one writer.

use std::collections::BTreeSet;

use super::record::{Begin, Cause, History, Hold, Phase, PhaseName, RevisionKey, RolloutRecord};
use super::{Order, StrategyKind};
use crate::model::previous_tag;

/// A command on a rollout in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Hold the rollout where it is.
    Pause,
    /// Let a paused rollout go on (accepting the failures that held it, if any).
    Resume,
    /// Let the current step advance (manual promotion), or accept the failures that held it.
    Promote,
    /// Put every replica back on the previous revision and hold the new one.
    Abort,
}

impl Command {
    /// The command's name (`pause`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Promote => "promote",
            Self::Abort => "abort",
        }
    }

    /// What the command did, for its answer (`paused`, ...).
    pub fn done(self) -> &'static str {
        match self {
            Self::Pause => "paused",
            Self::Resume => "resumed",
            Self::Promote => "promoted",
            Self::Abort => "aborted",
        }
    }
}

/// Why a command was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The rollout is over.
    #[error("its rollout is over ({}); nothing to {command}", phase.as_str())]
    Over {
        /// Its final phase.
        phase: PhaseName,
        /// The command.
        command: &'static str,
    },
    /// The service has no rollout to command.
    #[error("no rollout in progress")]
    NoRollout,
    /// A rollback runs to the end.
    #[error(
        "it is rolling back to the previous revision, which runs to the end; nothing to {command}"
    )]
    Reverting {
        /// The command.
        command: &'static str,
    },
    /// `pause` of a paused rollout.
    #[error("its rollout is already paused")]
    AlreadyPaused,
    /// `resume` of a rollout that is not paused.
    #[error("its rollout is not paused ({})", phase.as_str())]
    NotPaused {
        /// Its phase.
        phase: PhaseName,
    },
    /// `promote` of a rollout a user paused.
    #[error("its rollout is paused by `rollout pause`; `rollout resume` it first")]
    PausedByUser,
    /// `abort` of a rollout already aborting.
    #[error("its rollout is already being aborted")]
    AlreadyAborting,
    /// `undo` before the desired revision's image is local.
    #[error("its image {image} is not local yet; wait for the controller to pull it")]
    ImageNotLocal {
        /// The image reference.
        image: String,
    },
    /// `undo` before the desired revision was recorded.
    #[error("the desired revision is not recorded yet; wait for the controller to reconcile")]
    NotRecorded,
    /// `undo` with no earlier revision.
    #[error("no earlier revision to go back to; `composectl rollout history` lists them")]
    NoEarlier,
    /// `undo --to-revision` of a revision not in the history.
    #[error("no revision {0}; `composectl rollout history` lists them")]
    NoSuchRevision(u64),
    /// `undo --to-revision` of the desired revision.
    #[error("revision {0} is the desired revision; change the desired state instead")]
    IsDesired(u64),
}

/// Applies `command` to `record`.
pub fn command(record: &RolloutRecord, command: Command) -> Result<RolloutRecord, Refusal> {
    let mut next = record.clone();
    let name = command.name();
    match (command, record.phase) {
        (_, phase) if phase.is_final() => {
            return Err(Refusal::Over {
                phase: phase.name(),
                command: name,
            });
        }
        (Command::Abort, Phase::RollingBack(Cause::Aborted)) => {
            return Err(Refusal::AlreadyAborting);
        }
        (Command::Abort, _) => {
            next.set_phase(Phase::RollingBack(Cause::Aborted));
            next.state.begin_rollback();
            next.reason = Some("aborted by `rollout abort`".to_owned());
        }
        (_, Phase::RollingBack(_)) => return Err(Refusal::Reverting { command: name }),
        (Command::Pause, Phase::Paused(Hold::User)) => return Err(Refusal::AlreadyPaused),
        (Command::Pause, _) => {
            next.set_phase(Phase::Paused(Hold::User));
            next.reason = Some("paused by `rollout pause`".to_owned());
        }
        (Command::Resume | Command::Promote, Phase::Paused(Hold::FailureAction)) => {
            // Resuming what `failure_action: pause` held accepts the failures and carries
            // on, as re-running `docker service update` does in Swarm.
            next.state.promote_requested = true;
            next.set_phase(Phase::Progressing);
            next.reason = None;
        }
        (Command::Resume, Phase::Paused(Hold::User)) => {
            next.set_phase(Phase::Progressing);
            next.reason = None;
        }
        (Command::Resume, phase) => {
            return Err(Refusal::NotPaused {
                phase: phase.name(),
            });
        }
        (Command::Promote, Phase::Paused(Hold::User)) => return Err(Refusal::PausedByUser),
        (Command::Promote, _) => next.state.promote_requested = true,
    }
    Ok(next)
}

/// What `rollout undo` needs to know.
#[derive(Debug, Clone)]
pub struct UndoRequest<'a> {
    /// The service's revisions.
    pub history: &'a History,
    /// The service's record, if it has one.
    pub current: Option<&'a RolloutRecord>,
    /// The desired revision.
    pub target: RevisionKey,
    /// The revision to go back to (default: the one before the desired revision).
    pub to: Option<u64>,
    /// The service's strategy.
    pub strategy: StrategyKind,
    /// Replicas of the service.
    pub replicas: u32,
    /// Replicas that run the desired revision now.
    pub updated: BTreeSet<u32>,
    /// How reverts replace replicas (`rollback_config.order`).
    pub order: Order,
    /// Now, milliseconds since the epoch.
    pub now_ms: u64,
}

/// A record that puts every replica back on an earlier revision and holds the desired one
/// (until the desired state changes).
pub fn undo(request: &UndoRequest<'_>) -> Result<RolloutRecord, Refusal> {
    let history = request.history;
    let target = history.find(&request.target).ok_or(Refusal::NotRecorded)?;
    let to = match request.to {
        Some(number) => number,
        None => match request.current {
            Some(r) if r.target == request.target => r.previous_revision,
            _ => history
                .entries
                .iter()
                .rev()
                .map(|e| e.number)
                .find(|n| *n < target.number)
                .ok_or(Refusal::NoEarlier)?,
        },
    };
    let entry = history.get(to).ok_or(Refusal::NoSuchRevision(to))?;
    if entry.number == target.number {
        return Err(Refusal::IsDesired(to));
    }
    Ok(RolloutRecord::new(Begin {
        strategy: request.strategy,
        target: (request.target.clone(), target.number),
        previous: (entry.number, previous_tag(&entry.image)),
        replicas: request.replicas,
        updated: request.updated.clone(),
        now_ms: request.now_ms,
        reverting: Some((
            Cause::Undone,
            format!("undone by `rollout undo` to revision {to}"),
        )),
        order: request.order,
    }))
}
