//! What a rollout leaves on disk: the rollout record of a service (where its rollout is)
//! and its revision history (the last [`HISTORY_LIMIT`] specs it ran). Plain serde data;
//! [`crate::state`] reads and writes it atomically.
//!
//! A revision is identified by a [`RevisionKey`]: the service's config hash (the label on
//! every container) and the image ID it runs. The history keeps each revision's full spec,
//! so a rollback restores image and configuration together.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::RolloutState;
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

/// Where a rollout stands, as `rollout status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
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
}

impl Phase {
    /// True once the rollout is over (nothing moves until the desired state changes).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Complete | Self::RolledBack | Self::Aborted)
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
        }
    }
}

/// One gate's latest verdict, for status output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// The gate's name (`gates[0]` or its `name:`).
    pub name: String,
    /// Its type (`http`, `prometheus`, ...).
    pub kind: String,
    /// `pass`, `fail` or `not yet`.
    pub verdict: String,
    /// The evidence.
    pub evidence: String,
}

/// The rollout record of one service: everything needed to continue or roll back a
/// rollout after the controller is killed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// The strategy (`canary`, `rolling`, `recreate`).
    pub strategy: String,
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
    #[serde(default)]
    pub finished_at_ms: Option<u64>,
    /// The strategy's state (its `elapsed` is recomputed from `started_at_ms`).
    pub state: RolloutState,
    /// Where it stands.
    pub phase: Phase,
    /// Why it paused, rolled back or was aborted.
    #[serde(default)]
    pub reason: Option<String>,
    /// Replicas of the new revision that failed to start (start-first replacements whose
    /// new container never became ready, or a replica past the progress deadline).
    #[serde(default)]
    pub failed_replicas: BTreeSet<u32>,
    /// When each replica was last ordered onto a revision, as milliseconds since the
    /// rollout started (for the progress deadline).
    #[serde(default)]
    pub ordered_at_ms: BTreeMap<u32, u64>,
    /// The gates' latest verdicts.
    #[serde(default)]
    pub gates: Vec<GateReport>,
    /// The rollback was asked for by `rollout abort` (it ends [`Phase::Aborted`]).
    #[serde(default)]
    pub aborted: bool,
    /// The order of the strategy's latest replica change (configuration replacements of
    /// this service start first when it is start-first).
    #[serde(default)]
    pub order: super::Order,
}
