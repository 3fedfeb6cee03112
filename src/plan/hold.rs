//! Services held after a failure: the per-service error backoff's part in a plan. Pure, no
//! I/O.
//!
//! A service whose last execution failed is not changed again until its backoff ends:
//! every action of it is taken out of the plan, and with it every action that waits for
//! one of those ([`crate::plan::graph`]), transitively (the services that depend on it,
//! and a network prune that waits for everything). The rest of the project's plan runs.
//!
//! One kind of action is never held: a start in place ([`Action::Start`]) of a replica that
//! exited with its configuration unchanged. Heals are governed by crash backoff, which the
//! planner has already applied, so a service whose new image cannot be pulled still gets
//! its crashed replicas started again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use super::graph::{self, service_of};
use super::{Action, Plan};
use crate::model::spec::ProjectSpec;

/// A service whose changes a plan holds back, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    /// The service.
    pub service: String,
    /// The failed service it waits for: itself when its own last execution failed, else
    /// the dependency whose failure holds it.
    pub waits_for: String,
    /// How long until its error backoff (or that of `waits_for`) allows it.
    pub retry_in: Duration,
    /// How many actions are held.
    pub actions: usize,
}

/// Takes the actions of each service in `backoff` (service -> time left) out of `plan`,
/// with everything that waits for them; records each service held in [`Plan::held`].
pub fn hold(mut plan: Plan, spec: &ProjectSpec, backoff: &BTreeMap<String, Duration>) -> Plan {
    if backoff.is_empty() || plan.actions.is_empty() {
        return plan;
    }
    let cause = causes(&plan, spec, backoff);
    let mut held: BTreeMap<String, Held> = BTreeMap::new();
    let mut kept = Vec::new();
    for (action, cause) in plan.actions.into_iter().zip(cause) {
        let Some(waits_for) = cause else {
            kept.push(action);
            continue;
        };
        let service = service_of(&action, spec).unwrap_or_else(|| waits_for.clone());
        let retry_in = backoff.get(&waits_for).copied().unwrap_or_default();
        held.entry(service.clone())
            .or_insert_with(|| Held {
                service,
                waits_for,
                retry_in,
                actions: 0,
            })
            .actions += 1;
    }
    plan.actions = kept;
    plan.held = held.into_values().collect();
    plan
}

/// For each action of `plan`, the failed service that holds it, if one.
///
/// Forward, in plan order (every edge points to an earlier action): an action of a
/// service in backoff is held, and so is an action that waits for a held one. Backward: a
/// pull or ensure (of no service of its own) is held when everything that waits for it
/// is held, or, when nothing in the plan waits for it, when every service that uses it is
/// in backoff (a failed pull is not tried again before its services are).
fn causes(
    plan: &Plan,
    spec: &ProjectSpec,
    backoff: &BTreeMap<String, Duration>,
) -> Vec<Option<String>> {
    let graph = graph::graph(plan, spec);
    let mut cause: Vec<Option<String>> = vec![None; plan.actions.len()];
    for (i, action) in plan.actions.iter().enumerate() {
        if matches!(action, Action::Start { .. }) {
            continue;
        }
        let own = service_of(action, spec).filter(|s| backoff.contains_key(s));
        cause[i] = own.or_else(|| graph.deps[i].iter().find_map(|&d| cause[d].clone()));
    }
    let dependents = graph.dependents();
    for (i, action) in plan.actions.iter().enumerate().rev() {
        let resource = matches!(
            action,
            Action::PullImage { .. } | Action::EnsureNetwork { .. } | Action::EnsureVolume { .. }
        );
        if cause[i].is_some() || !resource {
            continue;
        }
        cause[i] = if dependents[i].is_empty() {
            let users = graph::users(plan, spec, action);
            let all = !users.is_empty() && users.iter().all(|u| backoff.contains_key(u));
            all.then(|| users.into_iter().next()).flatten()
        } else {
            let all = dependents[i].iter().all(|&d| cause[d].is_some());
            all.then(|| cause[dependents[i][0]].clone()).flatten()
        };
    }
    cause
}

/// The services `plan` holds because of their own failure.
pub fn held_services(plan: &Plan) -> BTreeSet<&str> {
    plan.held
        .iter()
        .filter(|h| h.service == h.waits_for)
        .map(|h| h.service.as_str())
        .collect()
}
