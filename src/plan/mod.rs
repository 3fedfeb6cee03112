//! The pure planner: `plan(project, desired, observed, context) -> Plan`.
//!
//! The planner owns the decision of *what* must change on the host for one project and
//! *why*; it performs no I/O, is synchronous, and cannot fail. Its output is an ordered
//! [`Plan`] that the executor carries out and `composectl plan` prints ([`render`]).
//!
//! How a plan is built, in the order its actions appear:
//!
//! 1. Removals (`slots.rs`): containers of services no longer desired, replicas above the
//!    desired count (highest number first) and duplicates of a replica number.
//! 2. Pulls, network recreates and ensures (`resources.rs`, `definitions.rs`): images,
//!    networks and volumes the creates and replaces below need and the host does not have;
//!    a network whose definition changed is recreated, taking the containers on it along
//!    (their replicas are created again in step 3). A volume whose definition changed is
//!    never touched: the plan carries a [`Note`] instead; and the pulls the services'
//!    `pull_policy` asks for (`always` before a create or replace, a refreshing policy
//!    when the last pull is too old; `never` and `build` never).
//! 3. Per service in `depends_on` order (`deps.rs`): waits on dependencies, then one create
//!    or replace per replica slot that needs it (`judge.rs`), in number order. A replica
//!    created against another service's container (`network_mode`, `ipc` or `pid` of
//!    `service:NAME`, `volumes_from`, `depends_on` with `restart: true`) is replaced when
//!    that container is gone or replaced earlier in the same plan (`references.rs`).
//!
//! A replica that exited (killed, crashed, OOM-killed) or was never started, whose
//! configuration and image are unchanged, is started again in place, as the engine's own
//! restart policy would; a dead, unhealthy or drifted one is replaced (`judge.rs` has the
//! table). Heals caused by a container's own failure respect the crash backoff in
//! [`PlanContext`] and become [`Deferred`] entries instead; a container whose start in
//! place failed is replaced. A container the engine stopped by going away
//! ([`EngineContext`]) is no failure of its own: it is started again in place (after the
//! engine's restart policy had its chance), never charged to crash backoff. No environment
//! value ever enters a plan: drift reasons name fields only.
//!
//! Planning the host that results from carrying out a plan yields an empty plan; the
//! property test in `proptests` checks it over random specs and hosts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::model::spec::ProjectSpec;
use crate::model::{ObservedContainer, ObservedState};

mod action;
mod build;
mod definitions;
mod deps;
pub mod graph;
pub mod hold;
mod judge;
mod references;
mod render;
mod resources;
mod slots;

#[cfg(test)]
mod build_tests;
#[cfg(test)]
mod definitions_tests;
#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod graph_tests;
#[cfg(test)]
mod heal_tests;
#[cfg(test)]
mod hold_tests;
#[cfg(test)]
mod order_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod pull_tests;
#[cfg(test)]
mod references_tests;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod tests;

pub use action::{
    Action, BuildReason, ContainerRef, Deferred, Note, Pin, Pins, Plan, Reason, TagPurpose,
};
pub use hold::Held;
pub use render::{Summary, render, render_many};
pub use slots::{TEMPORARY_INFIX, is_temporary_name, kept_replicas};

/// What the planner needs besides the desired and observed states.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanContext {
    /// Slots in crash backoff: (service, replica number) -> time left before a heal (a
    /// start in place or a replacement) is allowed. A slot with zero time left is not in
    /// backoff.
    pub crash_backoff: BTreeMap<(String, u32), Duration>,
    /// IDs of containers whose start in place failed (the engine refused it): they are
    /// replaced instead of started again, at once.
    pub failed_starts: BTreeSet<String>,
    /// Slots a rollout holds on an earlier revision: judged against and created from the
    /// pinned revision instead of the desired spec.
    pub pins: Pins,
    /// Services whose configuration replacements start the new container first (a
    /// rollout's `order: start-first`); replacements of failed containers never do.
    pub start_first: BTreeSet<String>,
    /// What the engine's outages mean for this plan.
    pub engine: EngineContext,
    /// How long ago composectl last pulled each image, by normalized reference
    /// ([`crate::model::observed::normalize_image_ref`]), for refreshing pull policies;
    /// an image missing here was not pulled since composectl started.
    pub pull_ages: BTreeMap<String, Duration>,
    /// Image tags rollouts need, by tag: (image ID, service). Each tag that does not point
    /// at its image is tagged before any container is created or replaced.
    pub tags: BTreeMap<String, (String, String)>,
    /// Services whose rollout waits for their desired image: it is pulled (by the
    /// service's `pull_policy`) even though no replica of the service changes yet.
    pub awaiting_image: BTreeSet<String>,
    /// Services in error backoff after a failed execution, with the time left: their
    /// changes, and what waits for them, are held ([`hold`]).
    pub error_backoff: BTreeMap<String, Duration>,
    /// The build hash of each service's last failed build: those inputs are not built
    /// again until they change (or `composectl rollout rebuild`).
    pub failed_builds: BTreeMap<String, String>,
    /// The context entries each service's image was built from when composectl built it
    /// (for the changed files `plan` names).
    pub built_from: BuiltFrom,
}

/// The context entries a service's image was built from, by service.
pub type BuiltFrom = BTreeMap<String, std::sync::Arc<Vec<crate::build::Entry>>>;

/// The engine's part in a plan (see [`crate::observed::engine`]): the containers it
/// stopped by going away, and whether its restart policies still have time to act.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineContext {
    /// IDs of the containers that are down because the engine went away.
    pub stopped: BTreeSet<String>,
    /// Time left of the grace after the engine's return during which a container it
    /// stopped whose restart policy would start it again is left to the engine.
    pub restart_grace: Option<Duration>,
}

/// Plans the changes that make `project` on the host equal to `desired`.
///
/// `desired == None` means the project is gone from the desired directory: every container
/// of it is removed, then its unused networks are pruned (nothing at all when it has no
/// container left, so planning again after that is empty). Containers of other projects are
/// never referred to.
pub fn plan(
    project: &str,
    desired: Option<&ProjectSpec>,
    observed: &ObservedState,
    ctx: &PlanContext,
) -> Plan {
    let containers: Vec<&ObservedContainer> = observed.project(project).collect();
    let (actions, deferred) = match desired {
        None => (remove_project(containers), Vec::new()),
        Some(spec) => plan_project(spec, containers, observed, ctx),
    };
    let notes = desired
        .map(|spec| {
            let mut notes = definitions::volumes_kept(spec, observed);
            notes.extend(build::failed_notes(spec, ctx));
            notes
        })
        .unwrap_or_default();
    let pins = match desired {
        Some(spec) => ctx
            .pins
            .iter()
            .filter(|((service, _), _)| spec.services.contains_key(service))
            .map(|(slot, pin)| (slot.clone(), pin.clone()))
            .collect(),
        None => Pins::new(),
    };
    let plan = Plan {
        project: project.to_owned(),
        actions,
        deferred,
        pins,
        notes,
        held: Vec::new(),
    };
    match desired {
        Some(spec) => hold::hold(plan, spec, &ctx.error_backoff),
        None => plan,
    }
}

/// Every container of a project that is gone, then a network prune.
fn remove_project(mut containers: Vec<&ObservedContainer>) -> Vec<Action> {
    if containers.is_empty() {
        return Vec::new();
    }
    containers.sort_by(|a, b| slots::removal_order(a, b));
    let mut actions: Vec<Action> = containers
        .into_iter()
        .map(|c| slots::remove(c, Reason::ProjectRemoved))
        .collect();
    actions.push(Action::PruneNetworks);
    actions
}

/// The plan of a project that is desired: removals, pulls and ensures, then services.
fn plan_project(
    spec: &ProjectSpec,
    containers: Vec<&ObservedContainer>,
    observed: &ObservedState,
    ctx: &PlanContext,
) -> (Vec<Action>, Vec<Deferred>) {
    // The containers on a network to recreate go with it: their slots are planned as
    // empty, so their replicas are created anew once the network is back.
    let (recreates, containers) = definitions::Recreates::of(spec, containers, observed);
    let layout = slots::Layout::of(spec, containers);
    let jobs = deps::jobs(spec);
    let mut work: BTreeMap<&str, Vec<Action>> = BTreeMap::new();
    let mut deferred = Vec::new();
    let order = deps::topological(spec);
    // Containers replaced (or restarted after their own failure: their namespaces are
    // new) so far: dependencies come first, so a service created against one of them is
    // judged after it (see `references`).
    let mut replaced = BTreeSet::new();
    for name in &order {
        let service = &spec.services[*name];
        let kept = layout.kept(name);
        let config_hash = crate::model::hash::config_hash(spec, service);
        let input = judge::Input {
            spec,
            service,
            config_hash: &config_hash,
            observed,
            ctx,
            is_job: jobs.contains(name),
            layout: &layout,
            replaced: &replaced,
        };
        let (changes, held) = judge::service(&input, &kept);
        deferred.extend(held);
        replaced.extend(changes.iter().filter_map(|a| match a {
            Action::Replace { container, .. } | Action::ReplaceStartFirst { container, .. } => {
                Some(container.id.clone())
            }
            Action::Start {
                container,
                reason: Reason::Exited { .. } | Reason::NotRunning { .. },
                ..
            } => Some(container.id.clone()),
            _ => None,
        }));
        if !changes.is_empty() {
            work.insert(name, changes);
        }
    }
    // Deferred entries by service name, as before references ordered the judging.
    deferred.sort_by(|a: &Deferred, b: &Deferred| a.service.cmp(&b.service));
    let busy: Vec<&str> = order
        .iter()
        .copied()
        .filter(|s| work.contains_key(s))
        .collect();
    let busy_set: BTreeSet<&str> = busy.iter().copied().collect();
    let mut actions = layout.removals();
    let pulling: Vec<&str> = busy
        .iter()
        .copied()
        .chain(
            ctx.awaiting_image
                .iter()
                .map(String::as_str)
                .filter(|s| !busy_set.contains(s) && spec.services.contains_key(*s)),
        )
        .collect();
    actions.extend(resources::pulls(spec, &pulling, observed, &ctx.pull_ages));
    actions.extend(build::builds(spec, observed, ctx));
    actions.extend(resources::tags(&ctx.tags, observed));
    actions.extend(recreates.actions());
    actions.extend(
        resources::ensures(spec, &busy, observed)
            .into_iter()
            .filter(|a| !recreates.covers(a)),
    );
    for name in busy {
        actions.extend(deps::waits(spec, name, &busy_set, &layout));
        let work = work.remove(name).unwrap_or_default();
        actions.extend(work.into_iter().map(|a| recreates.explain(a)));
    }
    (actions, deferred)
}
