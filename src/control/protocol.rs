//! The control protocol: what `composectl rollout ...` asks the running controller over its
//! unix socket, and what it answers. One JSON [`Request`] per line, one JSON [`Response`]
//! line back, then the connection closes.

use serde::{Deserialize, Serialize};

use crate::rollout::record::{GateReport, PhaseName};

/// Which services a request is about: `project/service`, a bare `service` (when one
/// project has it), a bare `project/` (all of its services), or everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// The project, if named.
    pub project: Option<String>,
    /// The service, if named.
    pub service: Option<String>,
}

impl Selector {
    /// Parses `project/service`, `project/` or `service`; empty selects everything.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if text.is_empty() {
            return Self::default();
        }
        match text.split_once('/') {
            Some((project, service)) => Self {
                project: Some(project.to_owned()).filter(|p| !p.is_empty()),
                service: Some(service.to_owned()).filter(|s| !s.is_empty()),
            },
            None => Self {
                project: None,
                service: Some(text.to_owned()),
            },
        }
    }

    /// Whether `project`/`service` is selected.
    pub fn matches(&self, project: &str, service: &str) -> bool {
        self.project.as_deref().is_none_or(|p| p == project)
            && self.service.as_deref().is_none_or(|s| s == service)
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.project, &self.service) {
            (None, None) => write!(f, "every service"),
            (Some(p), None) => write!(f, "{p}/"),
            (None, Some(s)) => write!(f, "{s}"),
            (Some(p), Some(s)) => write!(f, "{p}/{s}"),
        }
    }
}

/// A request to the controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// The rollouts of the selected services (every service with a rollout config).
    Status {
        /// Which services.
        selector: Selector,
    },
    /// The revision history of one service.
    History {
        /// Which service (must select exactly one).
        selector: Selector,
    },
    /// Hold the selected services' rollouts where they are.
    Pause {
        /// Which services.
        selector: Selector,
    },
    /// Continue paused rollouts.
    Resume {
        /// Which services.
        selector: Selector,
    },
    /// Let the current step advance without waiting for manual promotion.
    Promote {
        /// Which services.
        selector: Selector,
    },
    /// Stop the rollout and put every replica back on the previous revision; the new
    /// revision is not retried until the desired state changes.
    Abort {
        /// Which services.
        selector: Selector,
    },
    /// Roll one service back to its previous revision, or to revision `to_revision`.
    Undo {
        /// Which service (must select exactly one).
        selector: Selector,
        /// The history number to go back to (default: the one before the current).
        to_revision: Option<u64>,
    },
    /// Build the selected services' images again from their current inputs after a failed
    /// build (inputs that failed are otherwise not built again until they change).
    Rebuild {
        /// Which services.
        selector: Selector,
    },
    /// Load the desired directory again now (`composectl policy approve` asks for it, so
    /// an approval takes effect at once).
    Reload,
}

/// The controller's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Response {
    /// For [`Request::Status`].
    Status {
        /// One entry per selected service with a rollout config.
        services: Vec<ServiceStatus>,
    },
    /// For [`Request::History`].
    History {
        /// The service's history.
        history: HistoryView,
    },
    /// A command was carried out; what it did, one line per service.
    Done {
        /// What happened.
        messages: Vec<String>,
    },
    /// The request could not be carried out; what to do instead.
    Error {
        /// The message.
        message: String,
    },
}

/// One service's rollout as `rollout status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The project.
    pub project: String,
    /// The service.
    pub service: String,
    /// The strategy.
    pub strategy: crate::rollout::StrategyKind,
    /// Where the rollout stands; `None` when the service never had one (it runs its
    /// first revision).
    pub phase: Option<PhaseName>,
    /// The current step, from 1.
    pub step: usize,
    /// The number of steps.
    pub steps: usize,
    /// Desired replicas.
    pub replicas: u32,
    /// Replicas running the new revision and ready.
    pub updated: u32,
    /// The revision rolled out (history number) and its image reference.
    pub revision: Option<u64>,
    /// Its image reference.
    pub image: String,
    /// The revision rollbacks restore, and its `:previous` tag.
    pub previous_revision: Option<u64>,
    /// The `:previous` tag.
    pub previous_image: Option<String>,
    /// Why the rollout paused, rolled back or was aborted.
    pub reason: Option<String>,
    /// Every gate's latest verdict and evidence.
    pub gates: Vec<GateReport>,
    /// Time left in the current monitor window, in milliseconds.
    pub window_left_ms: Option<u64>,
    /// Time since the rollout started, in milliseconds.
    pub elapsed_ms: Option<u64>,
    /// Registry watching, when the service opts in ([`crate::watch`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::watch::ServiceWatch>,
}

/// One service's revision history, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryView {
    /// The project.
    pub project: String,
    /// The service.
    pub service: String,
    /// The revisions.
    pub revisions: Vec<RevisionLine>,
}

/// One revision in [`HistoryView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionLine {
    /// Its number.
    pub number: u64,
    /// The image reference.
    pub image: String,
    /// The image ID.
    pub image_id: String,
    /// The config hash.
    pub config_hash: String,
    /// When recorded, seconds since the epoch.
    pub recorded_at: u64,
    /// When a rollout of it failed, if one did.
    pub failed_at: Option<u64>,
    /// The registry digest its image was pulled by, when registry watching pulled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The replicas run it now.
    pub current: bool,
}

#[cfg(test)]
impl ServiceStatus {
    /// A canary in step 1 of 2 with one replica updated, an HTTP gate that passed and a
    /// Prometheus gate not decided yet: the fixture of the control module's tests.
    pub fn example() -> Self {
        Self {
            project: "shop".into(),
            service: "web".into(),
            strategy: crate::rollout::StrategyKind::Canary,
            phase: Some(PhaseName::Progressing),
            step: 1,
            steps: 2,
            replicas: 3,
            updated: 1,
            revision: Some(4),
            image: "shop/web:1.5".into(),
            previous_revision: Some(3),
            previous_image: Some("shop/web:previous".into()),
            reason: None,
            gates: vec![
                GateReport {
                    name: "http".into(),
                    kind: "http".into(),
                    verdict: crate::rollout::record::GateVerdict::Pass,
                    evidence: "3 consecutive 200s from http://172.18.0.3:8080/healthz".into(),
                },
                GateReport {
                    name: "prometheus".into(),
                    kind: "prometheus".into(),
                    verdict: crate::rollout::record::GateVerdict::NotYet,
                    evidence: "5xx ratio 0.00 <= 0.05 (evaluation 4 of 6)".into(),
                },
            ],
            window_left_ms: Some(42_000),
            elapsed_ms: Some(78_000),
            watch: None,
        }
    }
}
