//! What creates and replaces need from the host before they start: images pulled,
//! networks and named volumes created, and the pulls the services' `pull_policy` asks for.
//! Each is asked for once per plan.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::model::ObservedState;
use crate::model::observed::normalize_image_ref;
use crate::model::resources::PullPolicy;
use crate::model::spec::{MountKind, ProjectSpec, ServiceSpec};

use super::{Action, TagPurpose};

/// One pull per image (by normalized reference), in service order: first for the `busy`
/// services (those with creates or replaces; a service with `build:` is built, never
/// pulled), by their `pull_policy` — `missing` when the
/// host lacks the image, `always` every time, `never` and `build` never, a refreshing
/// policy when the host lacks it or its last pull is too old — then for every other
/// service whose refreshing policy is due (a daemon keeps such images fresh; a new image
/// then replaces the containers through the planner's image check). `pull_ages` says how
/// long ago composectl pulled each image; an image it never pulled is due.
pub(super) fn pulls(
    spec: &ProjectSpec,
    busy: &[&str],
    observed: &ObservedState,
    pull_ages: &BTreeMap<String, Duration>,
) -> Vec<Action> {
    let due = |image: &str, every: Duration| {
        pull_ages
            .get(&normalize_image_ref(image))
            .is_none_or(|age| *age >= every)
    };
    let wanted = |s: &ServiceSpec, is_busy: bool| {
        if s.build.is_some() {
            // Built, never pulled (see `super::build`).
            return false;
        }
        let present = observed.image_id(&s.image).is_some();
        match s.pull_policy {
            PullPolicy::Missing => is_busy && !present,
            PullPolicy::Always => is_busy,
            PullPolicy::Never | PullPolicy::Build => false,
            PullPolicy::Refresh(every) => {
                (is_busy && !present) || (present && due(&s.image, every))
            }
        }
    };
    let busy_services = busy.iter().filter_map(|name| spec.services.get(*name));
    let others = spec
        .services
        .values()
        .filter(|s| !busy.contains(&s.name.as_str()));
    let mut seen = BTreeSet::new();
    busy_services
        .map(|s| (s, true))
        .chain(others.map(|s| (s, false)))
        .filter(|(s, is_busy)| wanted(s, *is_busy))
        .map(|(s, _)| &s.image)
        .filter(|image| seen.insert(normalize_image_ref(image)))
        .map(|image| Action::PullImage {
            image: image.clone(),
        })
        .collect()
}

/// The tags of `tags` (tag -> image ID and service) that do not point at their image.
pub(super) fn tags(
    tags: &BTreeMap<String, (String, String)>,
    observed: &ObservedState,
) -> Vec<Action> {
    tags.iter()
        .filter(|(reference, (image_id, _))| observed.image_id(reference) != Some(image_id))
        .map(|(reference, (image_id, service))| Action::TagImage {
            reference: reference.clone(),
            image_id: image_id.clone(),
            service: service.clone(),
            purpose: TagPurpose::Rollback,
        })
        .collect()
}

/// Network then volume ensures, by compose key, for what `busy` services use that is not
/// external and not known to exist on the host.
pub(super) fn ensures(spec: &ProjectSpec, busy: &[&str], observed: &ObservedState) -> Vec<Action> {
    let known_networks = observed.known_networks();
    let known_volumes = observed.known_volumes();
    let services: Vec<_> = busy
        .iter()
        .filter_map(|name| spec.services.get(*name))
        .collect();
    let networks: BTreeSet<&str> = services
        .iter()
        .flat_map(|s| s.networks.keys())
        .filter(|key| {
            spec.networks
                .get(*key)
                .is_some_and(|n| !n.external && !known_networks.contains(n.name.as_str()))
        })
        .map(String::as_str)
        .collect();
    let volumes: BTreeSet<&str> = services
        .iter()
        .flat_map(|s| s.mounts.iter())
        .filter_map(|m| match &m.kind {
            MountKind::Volume { name, key } => Some((name.as_str(), key.as_str())),
            _ => None,
        })
        .filter(|(name, key)| {
            let external = spec.volumes.get(*key).is_some_and(|v| v.external);
            !external && !known_volumes.contains(name)
        })
        .map(|(_, key)| key)
        .collect();
    let networks = networks.into_iter().map(|key| Action::EnsureNetwork {
        key: key.to_owned(),
    });
    let volumes = volumes.into_iter().map(|key| Action::EnsureVolume {
        key: key.to_owned(),
    });
    networks.chain(volumes).collect()
}
