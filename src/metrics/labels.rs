//! Label sets of composectl's metrics, and the pure mapping from a [`Plan`] to the drift
//! and heal counts it stands for.
//!
//! Every label value is bounded: a closed enum, or a project or service name (which the
//! desired directory bounds). Error strings and container IDs never become labels.

use std::collections::BTreeMap;
use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::plan::{Action, Plan, Reason};

/// Implements [`EncodeLabelValue`] through the enum's `as_str`.
macro_rules! label_value {
    ($ty:ty) => {
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReconcileResult {
    /// The plan was carried out (or there was nothing to do).
    Success,
    /// The executor failed.
    Error,
}

impl ReconcileResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
        }
    }
}
label_value!(ReconcileResult);

/// Why composectl found a container different from the desired state: one value per
/// [`Reason`] variant, without the variant's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriftReason {
    /// [`Reason::Missing`].
    Missing,
    /// [`Reason::Exited`].
    Exited,
    /// [`Reason::NotRunning`].
    NotRunning,
    /// [`Reason::Unhealthy`].
    Unhealthy,
    /// [`Reason::EngineStopped`].
    EngineStopped,
    /// [`Reason::ConfigDrift`].
    Config,
    /// [`Reason::ImageChanged`].
    Image,
    /// [`Reason::ImageMissing`].
    ImageMissing,
    /// [`Reason::ServiceRemoved`].
    ServiceRemoved,
    /// [`Reason::ProjectRemoved`].
    ProjectRemoved,
    /// [`Reason::ScaleDown`].
    ScaleDown,
    /// [`Reason::Duplicate`].
    Duplicate,
    /// [`Reason::ReferenceReplaced`].
    Reference,
}

impl DriftReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Exited => "exited",
            Self::NotRunning => "not_running",
            Self::Unhealthy => "unhealthy",
            Self::EngineStopped => "engine_stopped",
            Self::Config => "config",
            Self::Image => "image",
            Self::ImageMissing => "image_missing",
            Self::ServiceRemoved => "service_removed",
            Self::ProjectRemoved => "project_removed",
            Self::ScaleDown => "scale_down",
            Self::Duplicate => "duplicate",
            Self::Reference => "reference_replaced",
        }
    }

    /// True for the reasons that mean the container failed (died, hung, turned unhealthy,
    /// vanished), as opposed to a change of the desired state.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::Missing | Self::Exited | Self::NotRunning | Self::Unhealthy
        )
    }
}
label_value!(DriftReason);

impl From<&Reason> for DriftReason {
    fn from(reason: &Reason) -> Self {
        match reason {
            Reason::Missing => Self::Missing,
            Reason::Exited { .. } => Self::Exited,
            Reason::NotRunning { .. } => Self::NotRunning,
            Reason::Unhealthy => Self::Unhealthy,
            Reason::EngineStopped { .. } => Self::EngineStopped,
            Reason::ConfigDrift { .. } => Self::Config,
            Reason::ImageChanged { .. } => Self::Image,
            Reason::ImageMissing => Self::ImageMissing,
            Reason::ServiceRemoved => Self::ServiceRemoved,
            Reason::ProjectRemoved => Self::ProjectRemoved,
            Reason::ScaleDown { .. } => Self::ScaleDown,
            Reason::Duplicate => Self::Duplicate,
            Reason::ReferenceReplaced { .. } => Self::Reference,
        }
    }
}

/// Whether a Docker API call succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiOutcome {
    /// The engine answered with success.
    Ok,
    /// The engine answered with an error or could not be reached.
    Error,
}

impl ApiOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}
label_value!(ApiOutcome);

/// `{project, service, outcome}` of rollouts: `started`, `promoted`, `rolled_back`,
/// `aborted`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RolloutLabels {
    /// Project name.
    pub project: String,
    /// Service name.
    pub service: String,
    /// What happened.
    pub outcome: String,
}

/// `{project, service, gate, verdict}` of gate evaluations; `gate` is the gate's name in
/// the service's `x-rollout.gates` (bounded by the configuration), `verdict` is `pass`,
/// `fail` or `not_yet`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct GateLabels {
    /// Project name.
    pub project: String,
    /// Service name.
    pub service: String,
    /// Gate name.
    pub gate: String,
    /// Its verdict.
    pub verdict: String,
}

/// `{project}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProjectLabels {
    /// Project name.
    pub project: String,
}

/// `{project, result}` of the reconcile histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// Project name.
    pub project: String,
    /// How the reconcile ended.
    pub result: ReconcileResult,
}

/// `{project, reason}` of the drift counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DriftLabels {
    /// Project name.
    pub project: String,
    /// Why the container differed.
    pub reason: DriftReason,
}

/// `{project, service, reason}` of the heal counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct HealLabels {
    /// Project name.
    pub project: String,
    /// Service name.
    pub service: String,
    /// What failed (a failure reason only: see [`DriftReason::is_failure`]).
    pub reason: DriftReason,
}

/// `{project, service}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
pub struct ServiceLabels {
    /// Project name.
    pub project: String,
    /// Service name.
    pub service: String,
}

/// `{project, service, state}` of the managed containers gauge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
pub struct ContainerLabels {
    /// Project name.
    pub project: String,
    /// Service name.
    pub service: String,
    /// Docker's state (`running`, `exited`, ...).
    pub state: &'static str,
}

/// `{operation, outcome}` of the Docker API counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ApiLabels {
    /// The runtime operation (`list_containers`, `create_container`, ...).
    pub operation: &'static str,
    /// Ok or error.
    pub outcome: ApiOutcome,
}

/// What one plan counts toward the drift and heal counters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PlanCounts {
    /// Actions by drift reason.
    pub drift: BTreeMap<DriftReason, u64>,
    /// Heals of failed containers (replacements and starts in place) by (service, reason).
    pub heals: BTreeMap<(String, DriftReason), u64>,
}

/// Counts `plan`'s actions: every action with a reason is drift; a `Replace` or a start in
/// place (`Start`) for a failure reason is a heal, and so is a `Create` of a missing replica when `steady` (the project
/// already converged on the same revision, so the replica existed and vanished, rather
/// than being new with a first deploy or a scale-up).
pub fn count_plan(plan: &Plan, steady: bool) -> PlanCounts {
    let mut counts = PlanCounts::default();
    for action in &plan.actions {
        let (service, reason) = match action {
            Action::Create {
                service, reason, ..
            } => (Some(service), reason),
            Action::Replace {
                service, reason, ..
            }
            | Action::ReplaceStartFirst {
                service, reason, ..
            }
            | Action::Start {
                service, reason, ..
            } => (Some(service), reason),
            Action::Remove { reason, .. } => (None, reason),
            _ => continue,
        };
        let reason = DriftReason::from(reason);
        *counts.drift.entry(reason).or_default() += 1;
        let heal = match action {
            Action::Replace { .. } | Action::Start { .. } => reason.is_failure(),
            Action::Create { .. } => steady && reason == DriftReason::Missing,
            _ => false,
        };
        if let (true, Some(service)) = (heal, service) {
            *counts.heals.entry((service.clone(), reason)).or_default() += 1;
        }
    }
    counts
}
