//! `depends_on`: the order services are acted on, which services are run-to-completion
//! jobs, and the waits a service's changes need before they start.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::spec::{DependsOn, ProjectSpec};
use crate::model::{ContainerState, Health, ObservedContainer};

use super::Action;
use super::slots::Layout;

/// Services some other service depends on with `service_completed_successfully`.
pub(super) fn jobs(spec: &ProjectSpec) -> BTreeSet<&str> {
    spec.services
        .values()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, condition)| **condition == DependsOn::CompletedSuccessfully)
        .map(|(dependency, _)| dependency.as_str())
        .collect()
}

/// Service names with every dependency before its dependents, ties by name. Dependencies
/// on services that do not exist are ignored; services on a cycle (which the loader
/// rejects) come last, by name, so the planner never fails.
pub(super) fn topological(spec: &ProjectSpec) -> Vec<&str> {
    let mut pending: BTreeMap<&str, BTreeSet<&str>> = spec
        .services
        .iter()
        .map(|(name, s)| {
            let deps = s
                .depends_on
                .keys()
                .map(String::as_str)
                .filter(|d| spec.services.contains_key(*d) && *d != name)
                .collect();
            (name.as_str(), deps)
        })
        .collect();
    let mut order = Vec::with_capacity(pending.len());
    while let Some(next) = pending
        .iter()
        .find(|(_, deps)| deps.is_empty())
        .map(|(name, _)| *name)
    {
        pending.remove(next);
        for deps in pending.values_mut() {
            deps.remove(next);
        }
        order.push(next);
    }
    order.extend(pending.into_keys());
    order
}

/// The waits `service` needs before its first create or replace: one per dependency with
/// replicas that changes in this plan (`busy`) or does not meet its condition right now.
pub(super) fn waits(
    spec: &ProjectSpec,
    service: &str,
    busy: &BTreeSet<&str>,
    layout: &Layout<'_>,
) -> Vec<Action> {
    let Some(s) = spec.services.get(service) else {
        return Vec::new();
    };
    s.depends_on
        .iter()
        // A dependency scaled to zero has nothing to wait for (compose starts the service
        // anyway); waiting would only time out.
        .filter(|(dependency, _)| {
            spec.services
                .get(*dependency)
                .is_some_and(|d| d.replicas > 0)
        })
        .filter(|(dependency, condition)| {
            busy.contains(dependency.as_str()) || !satisfied(&layout.kept(dependency), **condition)
        })
        .map(|(dependency, condition)| Action::WaitFor {
            service: service.to_owned(),
            dependency: dependency.clone(),
            condition: *condition,
        })
        .collect()
}

/// Whether the replicas of a dependency meet `condition` now.
///
/// Started: some replica runs. Healthy: there is a replica and every one runs and is
/// healthy (no healthcheck counts as healthy once running). CompletedSuccessfully: some
/// replica exited with code 0.
pub(super) fn satisfied(
    replicas: &BTreeMap<u32, &ObservedContainer>,
    condition: DependsOn,
) -> bool {
    let running = |c: &&ObservedContainer| c.state == ContainerState::Running;
    let mut all = replicas.values();
    match condition {
        DependsOn::Started => all.any(running),
        DependsOn::Healthy => {
            !replicas.is_empty()
                && all.all(|c| running(c) && matches!(c.health, None | Some(Health::Healthy)))
        }
        DependsOn::CompletedSuccessfully => {
            all.any(|c| c.state == ContainerState::Exited && c.exit_code == Some(0))
        }
    }
}
