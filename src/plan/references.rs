//! Stale references: a replica created against a container of another service (the
//! namespace of `network_mode`, `ipc` or `pid: service:NAME`, the source of `volumes_from`, a
//! `depends_on` with `restart: true`), as its [`labels::REFERENCES`] label records, must be
//! replaced once that container is gone or is being replaced in this plan, as compose
//! recreates it: a container in a replaced container's network namespace has no network
//! left (and one in its IPC or PID namespace shares them with no one), and one that mounts
//! its volumes mounts the old ones.

use std::collections::BTreeSet;

use crate::model::ObservedContainer;
use crate::model::labels;
use crate::model::refs::{RefKind, decode_references};
use crate::model::spec::ServiceSpec;

use super::Reason;
use super::slots::Layout;

/// Why `c` (a replica of `service`) must be replaced because of a reference, if it must:
/// a container its label names is no longer a kept container of that service in `layout`,
/// or is in `replaced` (replaced earlier in this plan). References the spec no longer makes
/// are not judged (the config drift of that change replaces the replica anyway).
pub(super) fn stale(
    service: &ServiceSpec,
    c: &ObservedContainer,
    layout: &Layout<'_>,
    replaced: &BTreeSet<String>,
) -> Option<Reason> {
    let label = c.labels.get(labels::REFERENCES)?;
    decode_references(label)
        .into_iter()
        .filter(|((kind, target), _)| still_referenced(service, *kind, target))
        .find(|((_, target), ids)| {
            let kept = layout.kept(target);
            ids.iter()
                .any(|id| replaced.contains(id) || !kept.values().any(|k| &k.id == id))
        })
        .map(|((kind, target), _)| Reason::ReferenceReplaced {
            service: target,
            via: kind.key().to_owned(),
        })
}

fn still_referenced(service: &ServiceSpec, kind: RefKind, target: &str) -> bool {
    use crate::model::refs::{VolumesSource, namespace_service};
    match kind {
        RefKind::Network => service
            .network_mode
            .as_ref()
            .and_then(|m| m.service())
            .is_some_and(|s| s == target),
        RefKind::Ipc => namespace_service(service.ipc.as_deref()) == Some(target),
        RefKind::Pid => namespace_service(service.pid.as_deref()) == Some(target),
        RefKind::Volumes => service
            .volumes_from
            .iter()
            .any(|v| v.source == VolumesSource::Service(target.to_owned())),
        RefKind::Restart => service.restart_with.contains(target),
    }
}
