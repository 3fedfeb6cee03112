//! What a rollout leaves on disk: the rollout record of a service (where its rollout is)
//! and its revision history (the last [`HISTORY_LIMIT`] specs it ran). Plain serde data;
//! [`crate::state`] reads and writes it atomically.
//!
//! A revision is identified by a [`RevisionKey`]: the service's config hash (the label on
//! every container) and the image ID it runs. The history keeps each revision's full spec,
//! so a rollback restores image and configuration together.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Order, RolloutState, StrategyKind};
use crate::model::spec::ProjectSpec;

/// Revisions kept per service.
pub const HISTORY_LIMIT: usize = 10;

/// The identity of a revision of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RevisionKey {
    /// `com.docker.compose.config-hash` of containers of this revision.
    pub config_hash: String,
    /// The image ID (`sha256:...`) its containers run.
    pub image_id: String,
}

/// One recorded revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Revision number, from 1, increasing per service.
    pub number: u64,
    /// Its identity.
    pub key: RevisionKey,
    /// The image reference the spec names (`shop/web:1.4`).
    pub image: String,
    /// The project spec with only this service in it (networks and volumes included), as
    /// loaded when the revision was first created: environment values included, since a
    /// rollback recreates the revision from it ([`crate::state`] keeps the file 0600 in
    /// 0700 directories; nothing prints it).
    pub spec: ProjectSpec,
    /// When it was recorded, seconds since the epoch.
    pub recorded_at: u64,
    /// When a rollout of it last failed (seconds since the epoch), if one did.
    #[serde(default)]
    pub failed_at: Option<u64>,
    /// The registry manifest digest its image was pulled by, when registry watching pulled
    /// it ([`crate::watch`]): what runs stays traceable to what the registry served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A service's revisions, oldest first, at most [`HISTORY_LIMIT`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The revisions, oldest first.
    pub entries: Vec<HistoryEntry>,
}

impl History {
    /// The entry with identity `key`.
    pub fn find(&self, key: &RevisionKey) -> Option<&HistoryEntry> {
        self.entries.iter().rev().find(|e| e.key == *key)
    }

    /// The entry numbered `number`.
    pub fn get(&self, number: u64) -> Option<&HistoryEntry> {
        self.entries.iter().find(|e| e.number == number)
    }

    /// Records `spec` as revision `key` unless it is already there; returns its number.
    /// Drops the oldest entries beyond [`HISTORY_LIMIT`], never one in `keep` (the
    /// revisions a rollout still needs).
    pub fn record(
        &mut self,
        key: RevisionKey,
        image: &str,
        spec: ProjectSpec,
        now: u64,
        keep: &BTreeSet<u64>,
    ) -> u64 {
        if let Some(entry) = self.find(&key) {
            return entry.number;
        }
        let number = self.entries.last().map_or(1, |e| e.number + 1);
        self.entries.push(HistoryEntry {
            number,
            key,
            image: image.to_owned(),
            spec,
            recorded_at: now,
            failed_at: None,
            digest: None,
        });
        while self.entries.len() > HISTORY_LIMIT {
            let Some(drop) = self.entries.iter().position(|e| !keep.contains(&e.number)) else {
                break;
            };
            self.entries.remove(drop);
        }
        number
    }
}

/// Where a rollout stands, as `rollout status` shows it and the record file spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    /// The desired revision differs from what runs and its rollout has not started yet
    /// (the controller starts it at its next reconcile). Shown by `rollout status`, never
    /// recorded.
    Pending,
    /// Moving replicas to the new revision.
    Progressing,
    /// Held by `rollout pause` or by `failure_action: pause`.
    Paused,
    /// A step passed; waiting for `rollout promote`.
    AwaitingPromotion,
    /// Reverting replicas to the previous revision.
    RollingBack,
    /// Every replica runs the new revision.
    Complete,
    /// Every replica is back on the previous revision; the new one is not retried until
    /// the desired state changes.
    RolledBack,
    /// Stopped by `rollout abort`, replicas back on the previous revision; not retried
    /// until the desired state changes.
    Aborted,
    /// The desired state moved on before the rollout ended; nothing is held.
    Superseded,
}

impl PhaseName {
    /// True once the rollout is over (nothing moves until the desired state changes).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Complete | Self::RolledBack | Self::Aborted | Self::Superseded
        )
    }

    /// The name `rollout status` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Progressing => "progressing",
            Self::Paused => "paused",
            Self::AwaitingPromotion => "awaiting promotion",
            Self::RollingBack => "rolling back",
            Self::Complete => "complete",
            Self::RolledBack => "rolled back",
            Self::Aborted => "aborted",
            Self::Superseded => "superseded",
        }
    }
}

/// Who holds a paused rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// `rollout pause`: `rollout resume` lets it go on where it stopped.
    User,
    /// The strategy's `failure_action: pause`: `rollout resume` (or `promote`) accepts the
    /// failures and carries on.
    FailureAction,
}

/// Why replicas go back to the previous revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A gate, a replica or the progress deadline failed the new revision.
    Failed,
    /// `rollout abort`.
    Aborted,
    /// `rollout undo`.
    Undone,
}

/// Where a rollout is: the one truth about it. Every other field of the record is
/// bookkeeping of the strategy; whether the rollout is paused, reverting, over or holding
/// its revision is read from here only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Moving replicas to the new revision.
    Progressing,
    /// Held where it is until `rollout resume`.
    Paused(Hold),
    /// A step passed; waiting for `rollout promote`.
    AwaitingPromotion,
    /// Reverting replicas to the previous revision.
    RollingBack(Cause),
    /// Every replica runs the new revision.
    Complete,
    /// Every replica is back on the previous revision after a failure or an undo: the new
    /// revision is held (not retried while the desired state names it).
    RolledBack,
    /// Every replica is back on the previous revision after `rollout abort`: the new
    /// revision is held like a failed one.
    Aborted,
    /// The desired state changed before the rollout ended. Not a failure: nothing is held,
    /// and the revision rolls out again whenever the desired state names it again.
    Superseded,
}

impl Phase {
    /// True once the rollout is over.
    pub fn is_final(self) -> bool {
        self.name().is_final()
    }

    /// True when the rollout's revision must not be rolled out again while the desired
    /// state names it (a failed gate, an abort or an undo).
    pub fn holds_target(self) -> bool {
        matches!(self, Self::RolledBack | Self::Aborted)
    }

    /// True while, or once, replicas go back to the previous revision.
    pub fn reverts(self) -> bool {
        matches!(
            self,
            Self::RollingBack(_) | Self::RolledBack | Self::Aborted
        )
    }

    /// The name `rollout status` prints and the record file spells.
    pub fn name(self) -> PhaseName {
        match self {
            Self::Progressing => PhaseName::Progressing,
            Self::Paused(_) => PhaseName::Paused,
            Self::AwaitingPromotion => PhaseName::AwaitingPromotion,
            Self::RollingBack(_) => PhaseName::RollingBack,
            Self::Complete => PhaseName::Complete,
            Self::RolledBack => PhaseName::RolledBack,
            Self::Aborted => PhaseName::Aborted,
            Self::Superseded => PhaseName::Superseded,
        }
    }

    /// The name `rollout status` prints.
    pub fn as_str(self) -> &'static str {
        self.name().as_str()
    }
}

/// A gate's latest verdict on the current window, as status output shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GateVerdict {
    /// The gate passed.
    #[serde(rename = "pass")]
    Pass,
    /// The gate failed.
    #[serde(rename = "fail")]
    Fail,
    /// The gate has not decided yet.
    #[serde(rename = "not yet")]
    NotYet,
}

impl GateVerdict {
    /// `pass`, `fail` or `not yet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::NotYet => "not yet",
        }
    }
}

impl std::fmt::Display for GateVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One gate's latest verdict, for status output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// The gate's name (`gates[0]` or its `name:`).
    pub name: String,
    /// Its type (`http`, `prometheus`, ...).
    pub kind: String,
    /// Its verdict.
    pub verdict: GateVerdict,
    /// The evidence.
    pub evidence: String,
}

/// The reason a superseded rollout records (and the one today's files carry on a
/// superseded rollout they recorded as aborted).
pub const SUPERSEDED: &str = "superseded by a change of the desired state";

/// The rollout record of one service: everything needed to continue or roll back a
/// rollout after the controller is killed. Built by [`RolloutRecord::new`] only; changed by
/// [`super::lifecycle`] only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RecordFile", into = "RecordFile")]
pub struct RolloutRecord {
    /// The strategy.
    pub strategy: StrategyKind,
    /// The revision rolled out.
    pub target: RevisionKey,
    /// Its number in the history.
    pub target_revision: u64,
    /// The revision replicas not (or no longer) updated run, and rollbacks restore.
    pub previous_revision: u64,
    /// The image tag pointing at the previous revision's image (`shop/web:previous`).
    pub previous_image: String,
    /// When the rollout started, milliseconds since the epoch.
    pub started_at_ms: u64,
    /// When it ended (final phase), milliseconds since the epoch.
    pub finished_at_ms: Option<u64>,
    /// The strategy's state (its `elapsed` is recomputed from `started_at_ms`; its
    /// `paused` and `rolling_back` are read from [`Self::phase`]).
    pub state: RolloutState,
    /// Where it stands: the one truth.
    pub phase: Phase,
    /// Why it paused, rolled back, was aborted or superseded.
    pub reason: Option<String>,
    /// Replicas of the new revision that failed to start (start-first replacements whose
    /// new container never became ready, or a replica past the progress deadline).
    pub failed_replicas: BTreeSet<u32>,
    /// When each replica was last ordered onto a revision, as milliseconds since the
    /// rollout started (for the progress deadline).
    pub ordered_at_ms: BTreeMap<u32, u64>,
    /// The gates' latest verdicts.
    pub gates: Vec<GateReport>,
    /// The order of the strategy's latest replica change (configuration replacements of
    /// this service start first when it is start-first).
    pub order: Order,
}

/// What starting a rollout takes ([`RolloutRecord::new`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Begin {
    /// The strategy.
    pub strategy: StrategyKind,
    /// The revision rolled out, and its number.
    pub target: (RevisionKey, u64),
    /// The revision rolled back to, and the tag its image gets.
    pub previous: (u64, String),
    /// Replicas of the service.
    pub replicas: u32,
    /// Replicas already on the target.
    pub updated: BTreeSet<u32>,
    /// Now, milliseconds since the epoch.
    pub now_ms: u64,
    /// `None` for a rollout; the cause for a record that starts reverting (`rollout undo`).
    pub reverting: Option<(Cause, String)>,
    /// The order of its first replica changes.
    pub order: Order,
}

impl RolloutRecord {
    /// The one constructor: a rollout that starts now, progressing (or reverting, for an
    /// undo).
    pub fn new(begin: Begin) -> Self {
        let mut state = RolloutState::new(begin.replicas);
        state.updated = begin.updated;
        let (phase, reason) = match begin.reverting {
            None => (Phase::Progressing, None),
            Some((cause, reason)) => {
                state.begin_rollback();
                (Phase::RollingBack(cause), Some(reason))
            }
        };
        let mut record = Self {
            strategy: begin.strategy,
            target: begin.target.0,
            target_revision: begin.target.1,
            previous_revision: begin.previous.0,
            previous_image: begin.previous.1,
            started_at_ms: begin.now_ms,
            finished_at_ms: None,
            state,
            phase,
            reason,
            failed_replicas: BTreeSet::new(),
            ordered_at_ms: BTreeMap::new(),
            gates: Vec::new(),
            order: begin.order,
        };
        record.sync();
        record
    }

    /// Sets the phase (and the strategy's view of it).
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        self.sync();
    }

    /// Writes what the strategy reads of the phase into its state.
    fn sync(&mut self) {
        self.state.paused = self.phase == Phase::Paused(Hold::User);
        self.state.rolling_back = self.phase.reverts();
    }

    /// True when the rollout of `target` this record describes still decides what runs:
    /// a superseded rollout does not (a new one starts when its revision is desired again).
    pub fn governs(&self, target: &RevisionKey) -> bool {
        self.target == *target && self.phase != Phase::Superseded
    }
}

/// The record as its file spells it (the format of every version so far: the phase by
/// name, with `state.paused` telling a user's pause from `failure_action`'s and `aborted`
/// an abort from a failure). Files written before the superseded phase existed recorded a
/// superseded rollout as aborted with [`SUPERSEDED`] as its reason; they load superseded.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordFile {
    strategy: StrategyKind,
    target: RevisionKey,
    target_revision: u64,
    previous_revision: u64,
    previous_image: String,
    started_at_ms: u64,
    #[serde(default)]
    finished_at_ms: Option<u64>,
    state: RolloutState,
    phase: PhaseName,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    failed_replicas: BTreeSet<u32>,
    #[serde(default)]
    ordered_at_ms: BTreeMap<u32, u64>,
    #[serde(default)]
    gates: Vec<GateReport>,
    #[serde(default)]
    aborted: bool,
    #[serde(default)]
    order: Order,
}

impl From<RecordFile> for RolloutRecord {
    fn from(file: RecordFile) -> Self {
        let undone = file
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("undone by"));
        let phase = match file.phase {
            PhaseName::Pending | PhaseName::Progressing => Phase::Progressing,
            PhaseName::Paused if file.state.paused => Phase::Paused(Hold::User),
            PhaseName::Paused => Phase::Paused(Hold::FailureAction),
            PhaseName::AwaitingPromotion => Phase::AwaitingPromotion,
            PhaseName::RollingBack if file.aborted => Phase::RollingBack(Cause::Aborted),
            PhaseName::RollingBack if undone => Phase::RollingBack(Cause::Undone),
            PhaseName::RollingBack => Phase::RollingBack(Cause::Failed),
            PhaseName::Complete => Phase::Complete,
            PhaseName::RolledBack => Phase::RolledBack,
            PhaseName::Aborted if file.reason.as_deref() == Some(SUPERSEDED) => Phase::Superseded,
            PhaseName::Aborted => Phase::Aborted,
            PhaseName::Superseded => Phase::Superseded,
        };
        let mut record = Self {
            strategy: file.strategy,
            target: file.target,
            target_revision: file.target_revision,
            previous_revision: file.previous_revision,
            previous_image: file.previous_image,
            started_at_ms: file.started_at_ms,
            finished_at_ms: file.finished_at_ms,
            state: file.state,
            phase,
            reason: file.reason,
            failed_replicas: file.failed_replicas,
            ordered_at_ms: file.ordered_at_ms,
            gates: file.gates,
            order: file.order,
        };
        record.sync();
        record
    }
}

impl From<RolloutRecord> for RecordFile {
    fn from(record: RolloutRecord) -> Self {
        let mut state = record.state;
        state.paused = record.phase == Phase::Paused(Hold::User);
        state.rolling_back = record.phase.reverts();
        state.elapsed = std::time::Duration::ZERO;
        Self {
            strategy: record.strategy,
            target: record.target,
            target_revision: record.target_revision,
            previous_revision: record.previous_revision,
            previous_image: record.previous_image,
            started_at_ms: record.started_at_ms,
            finished_at_ms: record.finished_at_ms,
            state,
            phase: record.phase.name(),
            reason: record.reason,
            failed_replicas: record.failed_replicas,
            ordered_at_ms: record.ordered_at_ms,
            gates: record.gates,
            aborted: matches!(
                record.phase,
                Phase::RollingBack(Cause::Aborted) | Phase::Aborted
            ),
            order: record.order,
        }
    }
}
