//! Replica slots: which observed container holds each replica number of each service, and
//! which containers must go (orphans, replicas above the desired count, duplicates).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::model::spec::ProjectSpec;
use crate::model::{ContainerState, Health, ObservedContainer};

use super::{Action, ContainerRef, Reason};

/// The containers of one project sorted into slots and removals.
#[derive(Debug, Default)]
pub(super) struct Layout<'a> {
    /// Containers of services that are no longer desired.
    orphans: Vec<&'a ObservedContainer>,
    /// Containers above the desired count, highest number first, with that count.
    scale_downs: Vec<(&'a ObservedContainer, u32)>,
    /// Containers that lost to another for the same number, or that have no number.
    duplicates: Vec<&'a ObservedContainer>,
    /// The container that holds each slot `1..=replicas`, by service name.
    kept: BTreeMap<&'a str, BTreeMap<u32, &'a ObservedContainer>>,
}

impl<'a> Layout<'a> {
    /// Sorts `containers` (all of one project) against `spec`.
    pub(super) fn of(spec: &ProjectSpec, containers: Vec<&'a ObservedContainer>) -> Self {
        let mut by_service: BTreeMap<&'a str, BTreeMap<u32, Vec<&'a ObservedContainer>>> =
            BTreeMap::new();
        let mut layout = Layout::default();
        for c in containers {
            if spec.services.contains_key(&c.service) {
                by_service
                    .entry(c.service.as_str())
                    .or_default()
                    .entry(c.number)
                    .or_default()
                    .push(c);
            } else {
                layout.orphans.push(c);
            }
        }
        layout.orphans.sort_by(|a, b| removal_order(a, b));
        for (service, numbers) in by_service {
            let replicas = spec.services[service].replicas;
            layout.sort_service(service, replicas, numbers);
        }
        layout
    }

    fn sort_service(
        &mut self,
        service: &'a str,
        replicas: u32,
        numbers: BTreeMap<u32, Vec<&'a ObservedContainer>>,
    ) {
        for (&number, group) in numbers.iter().rev() {
            if number > replicas {
                let mut group = group.clone();
                group.sort_by(|a, b| removal_order(a, b));
                self.scale_downs
                    .extend(group.into_iter().map(|c| (c, replicas)));
            } else if number == 0 {
                self.duplicates.extend(group.iter().copied());
            } else {
                let keep = best(group);
                self.kept.entry(service).or_default().insert(number, keep);
                self.duplicates
                    .extend(group.iter().copied().filter(|c| c.id != keep.id));
            }
        }
    }

    /// The container holding each slot of `service` (slots without one are absent).
    pub(super) fn kept(&self, service: &str) -> BTreeMap<u32, &'a ObservedContainer> {
        self.kept.get(service).cloned().unwrap_or_default()
    }

    /// Remove actions: orphans, then scale-downs, then duplicates.
    pub(super) fn removals(&self) -> Vec<Action> {
        let mut duplicates = self.duplicates.clone();
        duplicates.sort_by(|a, b| removal_order(a, b));
        let orphans = self
            .orphans
            .iter()
            .map(|c| remove(c, Reason::ServiceRemoved));
        let scale_downs = self.scale_downs.iter().map(|(c, replicas)| {
            remove(
                c,
                Reason::ScaleDown {
                    replicas: *replicas,
                },
            )
        });
        let duplicates = duplicates.into_iter().map(|c| remove(c, Reason::Duplicate));
        orphans.chain(scale_downs).chain(duplicates).collect()
    }
}

/// The container holding each replica slot of `service` in `project` (the one the planner
/// keeps when several share a number), by number. Containers without a number are left
/// out.
pub fn kept_replicas<'a>(
    observed: &'a crate::model::ObservedState,
    project: &str,
    service: &str,
) -> BTreeMap<u32, &'a ObservedContainer> {
    let mut groups: BTreeMap<u32, Vec<&ObservedContainer>> = BTreeMap::new();
    for c in observed.project(project).filter(|c| c.service == service) {
        if c.number > 0 {
            groups.entry(c.number).or_default().push(c);
        }
    }
    groups
        .into_iter()
        .map(|(number, group)| (number, best(&group)))
        .collect()
}

/// The container to keep among several with one number: one that serves (running and
/// healthy, or running without a health check) first, then one that may still serve
/// (running, health not decided yet), then running, then the one under the replica's own
/// name (not a start-first replacement's temporary `-next-` name), then the newest, then
/// the highest ID (so the choice is deterministic).
///
/// Two containers share a number after a controller was killed in the middle of a
/// start-first replacement: the old one still serves, the new one runs under its temporary
/// name and may not be healthy yet. Keeping a new container that is still starting would
/// remove the only one that serves; keeping the temporary name would leave the replica
/// under a name nothing resolves. So the old one is kept, and the rollout replaces it again.
fn best<'a>(group: &[&'a ObservedContainer]) -> &'a ObservedContainer {
    group
        .iter()
        .copied()
        .max_by(|a, b| {
            let key = |c: &ObservedContainer| {
                let running = c.state == ContainerState::Running;
                let serves = running && matches!(c.health, None | Some(Health::Healthy));
                let may_serve = running && c.health != Some(Health::Unhealthy);
                let own_name = !is_temporary_name(&c.name);
                (serves, may_serve, running, own_name, c.created)
            };
            key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
        })
        .expect("a slot group is never empty")
}

/// Whether `name` is the temporary name of a start-first replacement's new container
/// (`<project>-<service>-<n>-next-<old id>`, see the executor).
pub fn is_temporary_name(name: &str) -> bool {
    name.contains(TEMPORARY_INFIX)
}

/// What the executor puts between a replica's name and the old container's short ID while
/// a start-first replacement runs.
pub const TEMPORARY_INFIX: &str = "-next-";

/// A stable order for removals: by service, number, then ID.
pub(super) fn removal_order(a: &ObservedContainer, b: &ObservedContainer) -> Ordering {
    (&a.service, a.number, &a.id).cmp(&(&b.service, b.number, &b.id))
}

/// A reference to `c` as actions carry it.
pub(super) fn container_ref(c: &ObservedContainer) -> ContainerRef {
    ContainerRef {
        id: c.id.clone(),
        name: c.name.clone(),
    }
}

/// The action that removes `c` for `reason`.
pub(super) fn remove(c: &ObservedContainer, reason: Reason) -> Action {
    Action::Remove {
        container: container_ref(c),
        reason,
    }
}
