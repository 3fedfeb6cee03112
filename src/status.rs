//! The `/status` document: every project (desired, failing or only observed) with its
//! services and replicas, whether its desired state is valid, its last error, its last
//! successful reconcile, and its privileges on the host (those held by the host policy
//! apart). Built by a pure function from the controller's state and the
//! telemetry's per-project records, so it is tested without a daemon.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::desired::origins::Origin;
use crate::metrics::{ControllerState, ProjectRecord, Telemetry, unix_seconds};
use crate::model::{Health, ObservedContainer, hash};
use crate::policy::Privilege;
use crate::rollout::StrategyKind;
use crate::rollout::record::PhaseName;

/// Hex digits of a container ID shown in the document (as `docker ps` shows them).
const SHORT_ID: usize = 12;

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// True after the first desired load and the first full list of the engine, while the
    /// engine is reachable.
    pub ready: bool,
    /// The Docker engine as the controller sees it.
    pub engine: EngineStatus,
    /// The error that kept the whole desired directory from loading, if any.
    pub desired_error: Option<String>,
    /// Projects by name.
    pub projects: Vec<ProjectStatus>,
}

/// The Docker engine: reachable or not, and its outages so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineStatus {
    /// False while its event stream is lost (a restart or crash of dockerd): nothing is
    /// decided then, and exits it causes are not counted as failures.
    pub reachable: bool,
    /// Since when it is unreachable (Unix seconds), while it is.
    pub unreachable_since: Option<f64>,
    /// How often it came back after being unreachable.
    pub returns: u64,
    /// When it last came back (Unix seconds).
    pub last_return: Option<f64>,
}

/// One privilege of a project (see [`crate::policy::grant`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrivilegeStatus {
    /// The privilege as written in records and the policy file (`cap:SYS_ADMIN`).
    pub privilege: String,
    /// What it gives, in words.
    pub what: String,
    /// Where the project's files ask for it.
    pub origins: Vec<Origin>,
}

/// One project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectStatus {
    /// Project name.
    pub name: String,
    /// True when the project is in the desired directory and currently loads.
    pub desired: bool,
    /// False while its files fail to load (the last good state keeps running).
    pub valid: bool,
    /// The revision of the spec composectl converges to (absent when it never loaded).
    pub revision: Option<String>,
    /// The current load error, if any.
    pub load_error: Option<String>,
    /// No longer found in the desired directory; removed only if the next load, after
    /// the removal grace, agrees (it keeps running meanwhile).
    pub pending_removal: bool,
    /// Runs under this instance but was not loaded from this desired directory: left
    /// alone, never pruned (restart with `--adopt` to prune it).
    pub foreign: bool,
    /// The error of the last reconcile, while it is the latest outcome.
    pub last_error: Option<String>,
    /// When the last reconcile succeeded (Unix seconds).
    pub last_successful_reconcile: Option<f64>,
    /// What the project's files ask to do to the host, as of the latest load that got that
    /// far (empty when it never did).
    pub privileges: Vec<PrivilegeStatus>,
    /// The privileges the host policy does not allow it: while any is held, the project
    /// keeps running as it is (`valid` is false; `composectl policy approve` lets them
    /// through under the pinned policy).
    pub held_privileges: Vec<PrivilegeStatus>,
    /// Services: desired ones and any observed ones.
    pub services: Vec<ServiceStatus>,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceStatus {
    /// Service name.
    pub name: String,
    /// Desired replicas (absent for a service only observed, about to be removed).
    pub desired_replicas: Option<u32>,
    /// Current longest crash backoff delay of its replicas, in seconds.
    pub crash_backoff_seconds: f64,
    /// Observed containers by replica number.
    pub replicas: Vec<ReplicaStatus>,
    /// Its latest rollout, when it has had one (`composectl rollout status` has the
    /// gates and the window).
    pub rollout: Option<RolloutSummary>,
    /// While its last execution failed: why, and when its changes are tried again (the
    /// project's other services keep converging meanwhile).
    pub failure: Option<ServiceFailure>,
    /// While the build of its current inputs has failed (it keeps running its image; the
    /// build is tried again when the inputs change or on `composectl rollout rebuild`): the
    /// failing step, the error and the last lines of the build's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_failure: Option<crate::controller::builds::FailedBuild>,
    /// Registry watching, when the service opts in: the digest the host has, the last
    /// check (when, what it found or its error, naming the registry) and an update found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::watch::ServiceWatch>,
}

/// A service whose last execution failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceFailure {
    /// The error.
    pub error: String,
    /// Failed executions in a row.
    pub failures: u32,
    /// Seconds until its changes run again (0 once they may).
    pub retry_in_seconds: f64,
}

/// Where a service's latest rollout stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutSummary {
    /// `progressing`, `paused`, `awaiting_promotion`, `rolling_back`, `complete`,
    /// `rolled_back`, `aborted` or `superseded`.
    pub phase: PhaseName,
    /// The strategy.
    pub strategy: StrategyKind,
    /// The current step, from 1.
    pub step: usize,
    /// The revision rolled out (history number).
    pub revision: u64,
    /// The revision rollbacks restore.
    pub previous_revision: u64,
    /// Why it paused, rolled back or was aborted.
    pub reason: Option<String>,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaStatus {
    /// Container name.
    pub name: String,
    /// Replica number.
    pub number: u32,
    /// Short container ID.
    pub id: String,
    /// Docker's state.
    pub state: &'static str,
    /// Health, when the container has a healthcheck.
    pub health: Option<&'static str>,
    /// Exit code of the last run, when it exited.
    pub exit_code: Option<i64>,
}

/// The current document of the controller behind `telemetry`; `None` before the
/// controller attached itself.
pub fn current(telemetry: &Telemetry) -> Option<Status> {
    let (state, records) = telemetry.snapshot()?;
    Some(build(&state, &records, telemetry.is_ready()))
}

/// Builds the document from the controller's state and the per-project records.
pub fn build(
    state: &ControllerState,
    records: &BTreeMap<String, ProjectRecord>,
    ready: bool,
) -> Status {
    let mut names: BTreeSet<&str> = state.specs.keys().map(String::as_str).collect();
    names.extend(state.load_errors.keys().map(String::as_str));
    names.extend(state.observed.projects());
    let projects = names
        .into_iter()
        .map(|name| project(state, records.get(name), name))
        .collect();
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let engine = EngineStatus {
        reachable: state.engine.reachable(),
        unreachable_since: state.engine.unreachable_since_ms.map(seconds),
        returns: state.engine.returns,
        last_return: state.engine.last_return_ms.map(seconds),
    };
    Status {
        ready,
        engine,
        desired_error: state.root_error.clone(),
        projects,
    }
}

fn project(state: &ControllerState, record: Option<&ProjectRecord>, name: &str) -> ProjectStatus {
    let spec = state.specs.get(name);
    let load_error = state.load_errors.get(name).cloned();
    let assessment = state.privileges.get(name);
    let mut services: BTreeMap<&str, ServiceStatus> = BTreeMap::new();
    for (service, spec) in spec.iter().flat_map(|s| &s.services) {
        services.insert(service, service_status(service, Some(spec.replicas)));
    }
    for container in state.observed.project(name) {
        services
            .entry(&container.service)
            .or_insert_with(|| service_status(&container.service, None))
            .replicas
            .push(replica(container));
    }
    for (sref, record) in &state.rollouts {
        let found = services.get_mut(sref.service.as_str());
        if let (true, Some(status)) = (sref.project == name, found) {
            status.rollout = Some(RolloutSummary {
                phase: record.phase.name(),
                strategy: record.strategy,
                step: record.state.step + 1,
                revision: record.target_revision,
                previous_revision: record.previous_revision,
                reason: record.reason.clone(),
            });
        }
    }
    for (sref, watch) in &state.watches {
        let found = services.get_mut(sref.service.as_str());
        if let (true, Some(status)) = (sref.project == name, found) {
            status.watch = Some(watch.clone());
        }
    }
    for ((project, service, _), delay) in &state.crash_delays {
        if let (true, Some(status)) = (project == name, services.get_mut(service.as_str())) {
            status.crash_backoff_seconds = status.crash_backoff_seconds.max(delay.as_secs_f64());
        }
    }
    for failing in state.failing.iter().filter(|f| f.project == name) {
        if let Some(status) = services.get_mut(failing.service.as_str()) {
            status.failure = Some(ServiceFailure {
                error: failing.error.clone(),
                failures: failing.failures,
                retry_in_seconds: failing.retry_in.as_secs_f64(),
            });
        }
    }
    for ((project, service), failed) in &state.failed_builds {
        if let (true, Some(status)) = (project == name, services.get_mut(service.as_str())) {
            status.build_failure = Some(failed.clone());
        }
    }
    let mut services: Vec<ServiceStatus> = services.into_values().collect();
    for service in &mut services {
        service
            .replicas
            .sort_by(|a, b| (a.number, &a.name).cmp(&(b.number, &b.name)));
    }
    ProjectStatus {
        name: name.to_owned(),
        desired: spec.is_some(),
        valid: load_error.is_none() && state.root_error.is_none(),
        revision: spec.map(hash::revision),
        load_error,
        pending_removal: state.pending_removals.contains(name),
        foreign: state.foreign.contains(name),
        last_error: record.and_then(|r| r.last_error.clone()),
        last_successful_reconcile: record.and_then(|r| r.last_success).map(unix_seconds),
        privileges: assessment.map_or_else(Vec::new, |a| privileges(&a.privileges)),
        held_privileges: assessment.map_or_else(Vec::new, |a| privileges(&a.held)),
        services,
    }
}

fn privileges(list: &[Privilege]) -> Vec<PrivilegeStatus> {
    list.iter()
        .map(|p| PrivilegeStatus {
            privilege: p.grant.to_string(),
            what: p.grant.describe(),
            origins: p.origins.clone(),
        })
        .collect()
}

fn service_status(name: &str, desired_replicas: Option<u32>) -> ServiceStatus {
    ServiceStatus {
        name: name.to_owned(),
        desired_replicas,
        crash_backoff_seconds: 0.0,
        replicas: Vec::new(),
        rollout: None,
        failure: None,
        build_failure: None,
        watch: None,
    }
}

fn replica(container: &ObservedContainer) -> ReplicaStatus {
    ReplicaStatus {
        name: container.name.clone(),
        number: container.number,
        id: container.id.chars().take(SHORT_ID).collect(),
        state: container.state.as_str(),
        health: container.health.map(health_str),
        exit_code: container.exit_code,
    }
}

fn health_str(health: Health) -> &'static str {
    match health {
        Health::Starting => "starting",
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
    }
}

#[cfg(test)]
mod tests;
