//! The plan as a dependency graph: for each action, the earlier actions it must wait for.
//! Pure, no I/O. The executor runs every action whose dependencies are done, concurrently.
//!
//! Edges (always from an action to actions *before* it in the plan, so the graph is acyclic
//! by construction and a plan run in order still satisfies it):
//!
//! - a replica action (create, replace, start, rename) of service S waits for the pull or
//!   the build of S's image and the tags of S (but a start in place, which runs the
//!   container's own image), the ensures and recreates of the networks and volumes S
//!   uses, the waits of S, and every action of each service S depends on (`depends_on`,
//!   `network_mode`/`ipc`/`pid` of `service:`, `volumes_from`, `links`);
//! - a `WaitFor { service, dependency }` waits for every action of `dependency`;
//! - two actions naming one container (by ID), one replica slot or one container name are
//!   ordered as in the plan (so no two concurrent actions ever touch one container);
//! - `PruneNetworks` waits for everything before it;
//! - pulls, tags, ensures and removals of orphans or surplus replicas wait for nothing else.
//!
//! Replicas of one service wait for none of each other: compose replaces them all at once;
//! a rollout's plan holds only the replica changes its strategy allows.

use std::collections::BTreeSet;

use crate::model::labels;
use crate::model::observed::normalize_image_ref;
use crate::model::spec::{MountKind, ProjectSpec, ServiceSpec};

use super::{Action, Plan};

/// For each action of `plan.actions` (by index), the indices of the actions it waits for,
/// each lower than its own, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// `deps[i]`: what action `i` waits for.
    pub deps: Vec<Vec<usize>>,
}

impl Graph {
    /// For each action, the actions that wait for it directly (the reverse edges).
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.deps.len()];
        for (i, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                out[d].push(i);
            }
        }
        out
    }
}

/// What an action is, as far as ordering goes.
#[derive(Debug)]
enum Kind {
    /// A change to a replica of a service.
    Replica(String),
    /// A wait before `service`'s changes for `dependency`.
    Wait { service: String, dependency: String },
    /// A tag a service's rollout needs.
    Tag(String),
    /// A build of a service's image: the service, the normalized image.
    Build(String, String),
    /// A pull, by normalized reference.
    Pull(String),
    /// A network ensure or recreate, by compose key.
    Network(String),
    /// A volume ensure, by compose key.
    Volume(String),
    /// A removal of a container no slot keeps.
    Removal,
    /// The network prune.
    Prune,
}

impl Kind {
    /// The service the action belongs to, if one.
    fn service(&self) -> Option<&str> {
        match self {
            Self::Replica(s) | Self::Tag(s) | Self::Build(s, _) | Self::Wait { service: s, .. } => {
                Some(s)
            }
            _ => None,
        }
    }
}

/// The service `action` belongs to: the service of a replica action, a wait (the service
/// that waits) or a tag; for a rename, the service whose replica name it restores. `None`
/// for pulls, ensures, removals and the prune.
pub fn service_of(action: &Action, spec: &ProjectSpec) -> Option<String> {
    kind(action, spec).service().map(str::to_owned)
}

fn kind(action: &Action, spec: &ProjectSpec) -> Kind {
    match action {
        Action::Create { service, .. }
        | Action::Replace { service, .. }
        | Action::ReplaceStartFirst { service, .. }
        | Action::Start { service, .. } => Kind::Replica(service.clone()),
        Action::Rename { name, .. } => {
            renamed_service(spec, name).map_or(Kind::Removal, Kind::Replica)
        }
        Action::WaitFor {
            service,
            dependency,
            ..
        } => Kind::Wait {
            service: service.clone(),
            dependency: dependency.clone(),
        },
        Action::TagImage { service, .. } => Kind::Tag(service.clone()),
        Action::Build { service, image, .. } => {
            Kind::Build(service.clone(), normalize_image_ref(image))
        }
        Action::PullImage { image } => Kind::Pull(normalize_image_ref(image)),
        Action::EnsureNetwork { key } | Action::RecreateNetwork { key, .. } => {
            Kind::Network(key.clone())
        }
        Action::EnsureVolume { key } => Kind::Volume(key.clone()),
        Action::Remove { .. } => Kind::Removal,
        Action::PruneNetworks => Kind::Prune,
    }
}

/// The service one of whose replicas is named `name`.
fn renamed_service(spec: &ProjectSpec, name: &str) -> Option<String> {
    spec.services
        .values()
        .find(|s| (1..=s.replicas).any(|n| labels::container_name(&spec.name, s, n) == name))
        .map(|s| s.name.clone())
}

/// The container IDs an action touches.
fn containers(action: &Action) -> Vec<&str> {
    match action {
        Action::Replace { container, .. }
        | Action::ReplaceStartFirst { container, .. }
        | Action::Start { container, .. }
        | Action::Rename { container, .. }
        | Action::Remove { container, .. } => vec![container.id.as_str()],
        Action::RecreateNetwork { detach, .. } => detach.iter().map(|c| c.id.as_str()).collect(),
        _ => Vec::new(),
    }
}

/// The container names an action takes or gives up (a create takes its replica's name).
fn names(action: &Action, spec: &ProjectSpec) -> Vec<String> {
    let mut out = match action {
        Action::Replace { container, .. }
        | Action::ReplaceStartFirst { container, .. }
        | Action::Start { container, .. }
        | Action::Remove { container, .. } => vec![container.name.clone()],
        Action::Rename { container, name } => vec![container.name.clone(), name.clone()],
        _ => Vec::new(),
    };
    if let Some((service, number)) = slot(action)
        && let Some(s) = spec.services.get(service)
    {
        out.push(labels::container_name(&spec.name, s, number));
    }
    out
}

/// The replica slot an action acts on.
fn slot(action: &Action) -> Option<(&str, u32)> {
    match action {
        Action::Create {
            service, number, ..
        }
        | Action::Replace {
            service, number, ..
        }
        | Action::ReplaceStartFirst {
            service, number, ..
        }
        | Action::Start {
            service, number, ..
        } => Some((service.as_str(), *number)),
        _ => None,
    }
}

/// The services of the project `service` needs before its replicas are created: its
/// `depends_on`, which the loader completes with every service its `network_mode`, `ipc`
/// and `pid` of `service:NAME`, `volumes_from` and `links` name (as compose does), so the
/// planner's order and the graph's edges come from one list.
pub fn needs(spec: &ProjectSpec, service: &ServiceSpec) -> BTreeSet<String> {
    service
        .depends_on
        .keys()
        .filter(|s| **s != service.name && spec.services.contains_key(*s))
        .cloned()
        .collect()
}

/// What a replica of `service` uses: its images (desired and pinned), networks and volumes.
struct Uses {
    images: BTreeSet<String>,
    networks: BTreeSet<String>,
    volumes: BTreeSet<String>,
    needs: BTreeSet<String>,
}

fn uses(plan: &Plan, spec: &ProjectSpec, service: &str) -> Uses {
    let mut specs: Vec<&ServiceSpec> = spec.services.get(service).into_iter().collect();
    specs.extend(
        plan.pins
            .iter()
            .filter(|((s, _), _)| s == service)
            .filter_map(|(_, pin)| pin.spec.services.get(service)),
    );
    let mut out = Uses {
        images: BTreeSet::new(),
        networks: BTreeSet::new(),
        volumes: BTreeSet::new(),
        needs: BTreeSet::new(),
    };
    for s in specs {
        out.images.insert(normalize_image_ref(&s.image));
        out.networks.extend(s.networks.keys().cloned());
        out.volumes
            .extend(s.mounts.iter().filter_map(|m| match &m.kind {
                MountKind::Volume { key, .. } => Some(key.clone()),
                _ => None,
            }));
        out.needs.extend(needs(spec, s));
    }
    out
}

/// The services whose replicas use what resource action `action` provides (the image it
/// pulls, the network or volume it creates), pinned revisions included; empty for any
/// other action.
pub fn users(plan: &Plan, spec: &ProjectSpec, action: &Action) -> BTreeSet<String> {
    let provided = kind(action, spec);
    spec.services
        .keys()
        .filter(|name| {
            let uses = uses(plan, spec, name);
            match &provided {
                Kind::Pull(image) => uses.images.contains(image),
                Kind::Network(key) => uses.networks.contains(key),
                Kind::Volume(key) => uses.volumes.contains(key),
                _ => false,
            }
        })
        .cloned()
        .collect()
}

/// Builds the dependency graph of `plan` for `spec` (the project's desired spec; for a
/// removed project, a spec with only its name).
pub fn graph(plan: &Plan, spec: &ProjectSpec) -> Graph {
    let kinds: Vec<Kind> = plan.actions.iter().map(|a| kind(a, spec)).collect();
    let named: Vec<Vec<String>> = plan.actions.iter().map(|a| names(a, spec)).collect();
    let touched: Vec<Vec<&str>> = plan.actions.iter().map(containers).collect();
    let mut deps = Vec::with_capacity(kinds.len());
    for (i, action) in plan.actions.iter().enumerate() {
        let before = &plan.actions[..i];
        let mine = &kinds[i];
        let uses = match mine {
            Kind::Replica(s) => Some(uses(plan, spec, s)),
            _ => None,
        };
        let ids = &touched[i];
        let taken = &named[i];
        let my_slot = slot(action);
        // A start in place runs the container's own image: no pull or tag to wait for.
        let in_place = matches!(action, Action::Start { .. });
        let waits_for = |j: usize| -> bool {
            let other = &kinds[j];
            let earlier = &before[j];
            if matches!(mine, Kind::Prune) {
                return true;
            }
            if touched[j].iter().any(|id| ids.contains(id))
                || named[j].iter().any(|n| taken.contains(n))
                || (my_slot.is_some() && slot(earlier) == my_slot)
            {
                return true;
            }
            match (mine, other) {
                (Kind::Wait { dependency, .. }, _) => other.service() == Some(dependency),
                (Kind::Replica(s), Kind::Wait { service, .. }) if s == service => true,
                (Kind::Replica(s), Kind::Tag(t)) if s == t => !in_place,
                (Kind::Replica(_), _) => {
                    let uses = uses.as_ref().expect("a replica action has its uses");
                    match other {
                        Kind::Pull(image) | Kind::Build(_, image) => {
                            !in_place && uses.images.contains(image)
                        }
                        Kind::Network(key) => uses.networks.contains(key),
                        Kind::Volume(key) => uses.volumes.contains(key),
                        _ => other.service().is_some_and(|d| uses.needs.contains(d)),
                    }
                }
                _ => false,
            }
        };
        deps.push((0..i).filter(|&j| waits_for(j)).collect());
    }
    Graph { deps }
}
