//! Networks and volumes whose definition changed since composectl created them (their
//! [`resource_hash`] labels differ from the desired definition).
//!
//! A network is recreated, as `docker compose up` recreates a diverged network: the
//! containers attached to it are removed, the network is removed and created again, and
//! the replicas are created anew on it ([`Action::RecreateNetwork`]). A volume is never
//! removed, whatever changed: its data would go with it. The plan carries a [`Note`] that
//! it keeps its old settings and how to apply the new ones by hand.
//!
//! An object without the labels (created before composectl labelled definitions) is not
//! judged; an external one is never created by composectl, so never judged either.

use std::collections::BTreeSet;

use crate::model::resource_hash::{changed_fields, network_fields, volume_fields};
use crate::model::spec::{MountKind, ProjectSpec};
use crate::model::{ObservedContainer, ObservedState};

use super::slots::container_ref;
use super::{Action, Note, Reason};

/// A network to recreate, with the containers of the project attached to it.
struct Recreate<'a> {
    /// Compose key.
    key: String,
    /// The keys of its definition that changed.
    fields: Vec<String>,
    /// The project's containers attached to it.
    attached: Vec<&'a ObservedContainer>,
}

/// The networks of one plan to recreate.
pub(super) struct Recreates<'a> {
    networks: Vec<Recreate<'a>>,
}

impl<'a> Recreates<'a> {
    /// The networks of `spec` to recreate, and `containers` without those that go with
    /// them.
    pub(super) fn of(
        spec: &ProjectSpec,
        containers: Vec<&'a ObservedContainer>,
        observed: &ObservedState,
    ) -> (Self, Vec<&'a ObservedContainer>) {
        let networks = networks_to_recreate(spec, &containers, observed);
        let this = Self { networks };
        let kept = containers
            .into_iter()
            .filter(|c| this.network_of(c).is_none())
            .collect();
        (this, kept)
    }

    /// One [`Action::RecreateNetwork`] per network.
    pub(super) fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        self.networks.iter().map(|r| Action::RecreateNetwork {
            key: r.key.clone(),
            fields: r.fields.clone(),
            detach: r.attached.iter().map(|c| container_ref(c)).collect(),
        })
    }

    /// True for the ensure of a network the plan recreates anyway.
    pub(super) fn covers(&self, action: &Action) -> bool {
        matches!(action, Action::EnsureNetwork { key } if self.networks.iter().any(|r| &r.key == key))
    }

    /// `action`, whose reason says so when it creates a replica whose container went with
    /// a recreated network.
    pub(super) fn explain(&self, action: Action) -> Action {
        let Action::Create {
            service,
            number,
            reason: Reason::Missing,
        } = action
        else {
            return action;
        };
        let network = self
            .networks
            .iter()
            .flat_map(|r| r.attached.iter().map(move |c| (r, c)))
            .find(|(_, c)| c.service == service && c.number == number)
            .map(|(r, _)| &r.key);
        let reason = match network {
            Some(key) => Reason::ConfigDrift {
                fields: vec![format!("networks.{key} recreated")],
            },
            None => Reason::Missing,
        };
        Action::Create {
            service,
            number,
            reason,
        }
    }

    /// The key of the recreated network `c` goes with, if any.
    fn network_of(&self, c: &ObservedContainer) -> Option<&str> {
        self.networks
            .iter()
            .find(|r| r.attached.iter().any(|a| a.id == c.id))
            .map(|r| r.key.as_str())
    }
}

/// The networks some service joins whose observed definition (created by composectl for
/// this project) differs from the desired one.
fn networks_to_recreate<'a>(
    spec: &ProjectSpec,
    containers: &[&'a ObservedContainer],
    observed: &ObservedState,
) -> Vec<Recreate<'a>> {
    let joined: BTreeSet<&str> = spec
        .services
        .values()
        .flat_map(|s| s.networks.keys().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for (key, network) in &spec.networks {
        if network.external || !joined.contains(key.as_str()) {
            continue;
        }
        let Some(seen) = observed.networks.get(&network.name) else {
            continue;
        };
        if seen.project != spec.name {
            continue;
        }
        let fields = changed_fields(&network_fields(network), &seen.labels).unwrap_or_default();
        if fields.is_empty() {
            continue;
        }
        let attached = containers
            .iter()
            .copied()
            .filter(|c| c.networks.contains(&network.name))
            .collect();
        out.push(Recreate {
            key: key.clone(),
            fields,
            attached,
        });
    }
    out
}

/// One note per named volume some service mounts whose observed definition (created by
/// composectl for this project) differs from the desired one.
pub(super) fn volumes_kept(spec: &ProjectSpec, observed: &ObservedState) -> Vec<Note> {
    let mounted: BTreeSet<&str> = spec
        .services
        .values()
        .flat_map(|s| &s.mounts)
        .filter_map(|m| match &m.kind {
            MountKind::Volume { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let mut notes = Vec::new();
    for (key, volume) in &spec.volumes {
        if volume.external || !mounted.contains(key.as_str()) {
            continue;
        }
        let Some(seen) = observed.volumes.get(&volume.name) else {
            continue;
        };
        if seen.project != spec.name {
            continue;
        }
        let fields = changed_fields(&volume_fields(volume), &seen.labels).unwrap_or_default();
        if fields.is_empty() {
            continue;
        }
        notes.push(Note {
            subject: format!("volume {key}"),
            text: format!(
                "keeps its old settings ({} changed): composectl never removes a volume; to \
                 apply them, stop the services that mount it, remove it by hand (`docker \
                 volume rm {}`: its data is lost) and composectl creates it again",
                fields.join(", "),
                volume.name
            ),
        });
    }
    notes
}
