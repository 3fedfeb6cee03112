//! What creates and replaces need from the host before they start: images pulled,
//! networks and named volumes created. Each is asked for once per plan.

use std::collections::BTreeSet;

use crate::model::ObservedState;
use crate::model::observed::normalize_image_ref;
use crate::model::spec::{MountKind, ProjectSpec};

use super::Action;

/// One pull per image (by normalized reference) that `busy` services need and the host
/// lacks, in service order.
pub(super) fn pulls(spec: &ProjectSpec, busy: &[&str], observed: &ObservedState) -> Vec<Action> {
    let mut seen = BTreeSet::new();
    busy.iter()
        .filter_map(|name| spec.services.get(*name))
        .map(|s| &s.image)
        .filter(|image| observed.image_id(image).is_none())
        .filter(|image| seen.insert(normalize_image_ref(image)))
        .map(|image| Action::PullImage {
            image: image.clone(),
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
