//! What a rollout's events mean outside the record: log lines, metrics, the failed
//! revision's stamp in the history, webhook events (started, promoted, rolled back,
//! aborted, held), and the live gates dropped when their
//! window ends.

use tracing::{info, warn};

use super::Rollouts;
use crate::metrics::Telemetry;
use crate::model::ServiceRef;
use crate::rollout::Revision;
use crate::rollout::lifecycle::Event;
use crate::rollout::record::{History, Hold, Phase, RolloutRecord};
use crate::webhook::{Event as Notice, EventKind, RolloutFacts};

/// Where one service's events are reported.
pub struct Reporter<'a> {
    /// The rollouts (webhook, live gates).
    pub rollouts: &'a Rollouts,
    /// The metrics.
    pub telemetry: &'a Telemetry,
    /// The service.
    pub service: &'a ServiceRef,
    /// The image reference the service names.
    pub image: &'a str,
    /// Now, milliseconds since the epoch.
    pub now_ms: u64,
}

impl Reporter<'_> {
    /// Reports a rollout that started.
    pub fn started(&self, record: &RolloutRecord) {
        let (project, service) = (&self.service.project, &self.service.service);
        self.telemetry.record_rollout(project, service, "started");
        info!(
            event = "rollout_started",
            project = %project,
            service = %service,
            strategy = %record.strategy,
            revision = record.target_revision,
            previous = record.previous_revision,
            previous_image = %record.previous_image,
            "rollout started"
        );
        self.notify(record, EventKind::Started, None);
    }

    /// Queues a webhook event of kind `kind` about `record` (when a webhook is set).
    fn notify(&self, record: &RolloutRecord, kind: EventKind, reason: Option<String>) {
        if let Some(webhook) = &self.rollouts.webhook {
            webhook.notify(Notice {
                event: kind,
                project: self.service.project.clone(),
                service: Some(self.service.service.clone()),
                rollout: Some(RolloutFacts {
                    revision: record.target_revision,
                    previous_revision: record.previous_revision,
                    image: self.image.to_owned(),
                }),
                reason,
                at: crate::timefmt::rfc3339(self.now_ms / 1000),
            });
        }
    }

    /// Reports `events` of `record`; stamps a failed revision in `history` (true when the
    /// history changed and must be saved).
    pub fn events(&self, record: &RolloutRecord, events: &[Event], history: &mut History) -> bool {
        let (project, service) = (&self.service.project, &self.service.service);
        let mut history_changed = false;
        for event in events {
            match event {
                Event::Ordered { number, to } => {
                    let (event, revision, what) = match to {
                        Revision::New => (
                            "rollout_update",
                            record.target_revision,
                            "moving replica to the new revision",
                        ),
                        Revision::Old => (
                            "rollout_revert",
                            record.previous_revision,
                            "putting replica back on the previous revision",
                        ),
                    };
                    info!(event, project = %project, service = %service, replica = number, revision, "{what}");
                }
                Event::Overdue { number } => {
                    warn!(project = %project, service = %service, replica = number, "replica not ready within the progress deadline");
                }
                Event::WindowStarted { step } => {
                    info!(event = "rollout_window", project = %project, service = %service, step = step + 1, "monitor window started");
                    self.rollouts.gates.drop_window(self.service);
                }
                Event::Advanced { step } => {
                    info!(event = "rollout_step", project = %project, service = %service, step = step + 1, "step passed; next step");
                }
                Event::Failed { reason } => {
                    warn!(event = "rollout_failed", project = %project, service = %service, revision = record.target_revision, %reason, "rollout failed; rolling back to the previous revision");
                    if let Some(entry) = history
                        .entries
                        .iter_mut()
                        .find(|e| e.number == record.target_revision)
                    {
                        entry.failed_at = Some(self.now_ms / 1000);
                        history_changed = true;
                    }
                }
                Event::Paused { reason } => {
                    info!(event = "rollout_paused", project = %project, service = %service, %reason, "rollout paused");
                    if record.phase == Phase::Paused(Hold::FailureAction) {
                        self.notify(record, EventKind::Held, Some(reason.clone()));
                    }
                }
                Event::AwaitingPromotion { step } => {
                    info!(event = "rollout_awaiting_promotion", project = %project, service = %service, step = step + 1, "step passed; waiting for `composectl rollout promote`");
                }
                Event::Finished { phase } => self.finished(record, *phase),
                Event::Superseded => {
                    self.rollouts.gates.drop_window(self.service);
                    info!(project = %project, service = %service, revision = record.target_revision, "rollout superseded by a new desired revision");
                }
            }
        }
        history_changed
    }

    /// Reports a rollout that ended: promoted, rolled back or aborted.
    fn finished(&self, record: &RolloutRecord, phase: Phase) {
        let (project, service) = (&self.service.project, &self.service.service);
        let (outcome, kind) = match phase {
            Phase::Aborted => ("aborted", EventKind::Aborted),
            Phase::RolledBack => ("rolled_back", EventKind::RolledBack),
            _ => ("promoted", EventKind::Promoted),
        };
        self.rollouts.gates.drop_window(self.service);
        self.telemetry.record_rollout(project, service, outcome);
        info!(
            event = format!("rollout_{outcome}"),
            project = %project,
            service = %service,
            revision = record.target_revision,
            previous = record.previous_revision,
            reason = record.reason.as_deref().unwrap_or(""),
            "rollout {}",
            phase.as_str()
        );
        self.notify(record, kind, record.reason.clone());
    }
}
