//! What the webhook tells: [`Event`], one thing that happened, and its generic JSON shape
//! (the body of the `json` format, unchanged for the rollout outcomes it always carried).

use serde::{Deserialize, Serialize};

/// What happened. A rollout kind is one event; a condition (crash loop, load or reconcile
/// failure) has one kind when it starts and one when it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A rollout to a new revision began.
    Started,
    /// Every replica runs the new revision.
    Promoted,
    /// A gate failed; every replica is back on the previous revision.
    RolledBack,
    /// `rollout abort`; every replica is back on the previous revision.
    Aborted,
    /// A failed rollout is held where it is (`failure_action: pause`) until someone
    /// resumes, promotes or aborts it.
    Held,
    /// A replica of the service keeps crashing and waits out its crash backoff.
    CrashLooping,
    /// No replica of the service is in crash backoff any more.
    CrashRecovered,
    /// The project's files fail to load (its last good state keeps running).
    LoadFailed,
    /// The project's files load again.
    LoadRecovered,
    /// The project's reconciles fail.
    ReconcileFailed,
    /// The project reconciles again.
    ReconcileRecovered,
    /// Registry watching found a new image for the service (a digest or a newer tag);
    /// its rollout follows the service's strategy.
    UpdateAvailable,
    /// The image registry watching found runs on every replica.
    UpdateApplied,
}

/// How bad an event is: the formats map it to a colour, a priority, an emoji.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something began that is expected to end well.
    Info,
    /// Something ended well or recovered.
    Good,
    /// Something needs a look.
    Bad,
}

impl EventKind {
    /// The name in the JSON body and the logs (`rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Promoted => "promoted",
            Self::RolledBack => "rolled_back",
            Self::Aborted => "aborted",
            Self::Held => "held",
            Self::CrashLooping => "crash_looping",
            Self::CrashRecovered => "crash_recovered",
            Self::LoadFailed => "load_failed",
            Self::LoadRecovered => "load_recovered",
            Self::ReconcileFailed => "reconcile_failed",
            Self::ReconcileRecovered => "reconcile_recovered",
            Self::UpdateAvailable => "update_available",
            Self::UpdateApplied => "update_applied",
        }
    }

    /// How bad it is.
    pub fn severity(self) -> Severity {
        match self {
            Self::Started | Self::UpdateAvailable => Severity::Info,
            Self::Promoted
            | Self::UpdateApplied
            | Self::CrashRecovered
            | Self::LoadRecovered
            | Self::ReconcileRecovered => Severity::Good,
            Self::RolledBack
            | Self::Aborted
            | Self::Held
            | Self::CrashLooping
            | Self::LoadFailed
            | Self::ReconcileFailed => Severity::Bad,
        }
    }

    /// True for the events of a rollout (they carry [`RolloutFacts`]).
    pub fn is_rollout(self) -> bool {
        matches!(
            self,
            Self::Started | Self::Promoted | Self::RolledBack | Self::Aborted | Self::Held
        )
    }

    /// A short human phrase: "rollout rolled back", "crash-looping".
    pub fn phrase(self) -> &'static str {
        match self {
            Self::Started => "rollout started",
            Self::Promoted => "rollout promoted",
            Self::RolledBack => "rollout rolled back",
            Self::Aborted => "rollout aborted",
            Self::Held => "rollout held",
            Self::CrashLooping => "crash-looping",
            Self::CrashRecovered => "no longer crash-looping",
            Self::LoadFailed => "fails to load",
            Self::LoadRecovered => "loads again",
            Self::ReconcileFailed => "fails to reconcile",
            Self::ReconcileRecovered => "reconciles again",
            Self::UpdateAvailable => "new image in the registry",
            Self::UpdateApplied => "new image from the registry runs",
        }
    }
}

/// The revisions of a rollout event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutFacts {
    /// The revision rolled out (history number).
    pub revision: u64,
    /// The revision rollbacks restore.
    pub previous_revision: u64,
    /// The image reference of `revision`.
    pub image: String,
}

/// One thing that happened; serialized, the body of the `json` format:
/// `{"event", "project", "service", "revision", "previous_revision", "image", "reason", "at"}`
/// (`service` absent for a project's condition, the three revision fields absent outside
/// rollouts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub event: EventKind,
    /// The project.
    pub project: String,
    /// The service, for a service's event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The revisions, for a rollout's event.
    #[serde(flatten)]
    pub rollout: Option<RolloutFacts>,
    /// Why (the failure, the error), when there is a reason.
    pub reason: Option<String>,
    /// When, RFC 3339 UTC ([`crate::timefmt::rfc3339`]).
    pub at: String,
}

impl Event {
    /// `project/service`, or `project` for a project's event.
    pub fn subject(&self) -> String {
        match &self.service {
            Some(service) => format!("{}/{service}", self.project),
            None => self.project.clone(),
        }
    }

    /// One line: "shop/web: rollout rolled back".
    pub fn title(&self) -> String {
        format!("{}: {}", self.subject(), self.event.phrase())
    }

    /// The details, plain text: the revisions and the reason.
    pub fn details(&self) -> String {
        let mut lines = Vec::new();
        if let Some(r) = &self.rollout {
            lines.push(match self.event {
                EventKind::Started => format!(
                    "revision {} ({}) replaces revision {}",
                    r.revision, r.image, r.previous_revision
                ),
                EventKind::Promoted => {
                    format!("revision {} ({}) runs everywhere", r.revision, r.image)
                }
                _ => format!(
                    "revision {} ({}); revision {} is the one to go back to",
                    r.revision, r.image, r.previous_revision
                ),
            });
        }
        if let Some(reason) = &self.reason {
            lines.push(reason.clone());
        }
        if lines.is_empty() {
            lines.push(self.event.phrase().to_owned());
        }
        lines.join("\n")
    }
}
