//! The grants of a service's references to containers: `network_mode: host` (the host's
//! network namespace, the same grant as joining a network named `host`),
//! `network_mode: container:NAME` (a foreign container's network namespace),
//! `volumes_from: [container:NAME]` (a foreign container's volumes) and `external_links`
//! on the default bridge (a legacy link copies the linked container's environment
//! variables in).
//!
//! Within the project nothing is granted: `network_mode: service:NAME` (and `pid` or `ipc`
//! of `service:NAME`, see [`super::container`]), `volumes_from` of a service and `links`
//! reach containers of the same project, whose own privileges are
//! judged on their own. `external_links` on a user-defined network only give a DNS alias
//! for a container the service can already reach there (the engine copies no environment),
//! so they grant nothing either.

use super::grant::Grant;
use crate::model::refs::{Link, NetworkMode, VolumesFrom, VolumesSource};

/// Each grant with the service field that asks for it.
pub(super) fn grants(
    network_mode: &Option<NetworkMode>,
    volumes_from: &[VolumesFrom],
    external_links: &[Link],
) -> Vec<(Grant, &'static str)> {
    let mut out = Vec::new();
    match network_mode {
        Some(NetworkMode::Host) => out.push((Grant::Network("host".into()), "network_mode")),
        Some(NetworkMode::Container(name)) => {
            out.push((Grant::Network(format!("container:{name}")), "network_mode"))
        }
        Some(NetworkMode::None | NetworkMode::Bridge | NetworkMode::Service(_)) | None => {}
    }
    for from in volumes_from {
        if let VolumesSource::Container(name) = &from.source {
            out.push((Grant::VolumesFrom(name.clone()), "volumes_from"));
        }
    }
    if network_mode == &Some(NetworkMode::Bridge) {
        for link in external_links {
            out.push((Grant::Link(link.target.clone()), "external_links"));
        }
    }
    out
}
