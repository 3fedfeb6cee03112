//! Resolving a create request's references to other services into containers, as compose
//! does at create time: `network_mode`, `ipc` and `pid` of `service:NAME` and
//! `volumes_from: [NAME]` become the ID of one container of the service (replica 1 when it runs, else the lowest running
//! number, else the lowest number), `links` become `CONTAINER:ALIAS` entries for every
//! container of the linked service (with compose's `SERVICE-N` and `PROJECT-SERVICE-N`
//! aliases too). The containers a replica was created against are recorded in its
//! [`labels::REFERENCES`] label, which the planner reads to replace it when one of them is
//! replaced.

use crate::model::labels;
use crate::model::refs::{
    Link, NetworkMode, RefKind, References, VolumesSource, encode_references, namespace_service,
};
use crate::model::{ContainerState, ObservedContainer, ObservedState};
use crate::runtime::ContainerCreate;

/// Why a reference cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The referenced service has no container.
    #[error("`{key}` refers to service {service}, which has no container yet")]
    NoContainer {
        /// The compose key.
        key: &'static str,
        /// The service referenced.
        service: String,
    },
}

/// Resolves the references of `request` (replica `number` of a service of `project`) in
/// place against `state`, and labels it with what it was resolved to.
pub(super) fn resolve(
    state: &ObservedState,
    project: &str,
    request: &mut ContainerCreate,
    number: u32,
) -> Result<(), Error> {
    let containers = |service: &str| -> Vec<&ObservedContainer> {
        let mut found: Vec<&ObservedContainer> = state
            .project(project)
            .filter(|c| c.service == service && !crate::plan::is_temporary_name(&c.name))
            .collect();
        found.sort_by_key(|c| (c.state != ContainerState::Running, c.number, c.name.clone()));
        found
    };
    let primary = |service: &str, key: &'static str| -> Result<String, Error> {
        containers(service)
            .first()
            .map(|c| c.id.clone())
            .ok_or_else(|| Error::NoContainer {
                key,
                service: service.to_owned(),
            })
    };
    let svc = &mut request.service;
    let mut references = References::new();
    if let Some(NetworkMode::Service(name)) = &svc.network_mode {
        let id = primary(name, "network_mode")?;
        references.insert((RefKind::Network, name.clone()), vec![id.clone()]);
        svc.network_mode = Some(NetworkMode::Container(id));
    }
    for (kind, key, mode) in [
        (RefKind::Ipc, "ipc", &mut svc.ipc),
        (RefKind::Pid, "pid", &mut svc.pid),
    ] {
        if let Some(name) = namespace_service(mode.as_deref()).map(str::to_owned) {
            let id = primary(&name, key)?;
            *mode = Some(format!("container:{id}"));
            references.insert((kind, name), vec![id]);
        }
    }
    for from in &mut svc.volumes_from {
        if let VolumesSource::Service(name) = &from.source {
            let id = primary(name, "volumes_from")?;
            references.insert((RefKind::Volumes, name.clone()), vec![id.clone()]);
            from.source = VolumesSource::Container(id);
        }
    }
    let mut links = Vec::new();
    for link in &svc.links {
        let mut named: Vec<&ObservedContainer> = containers(&link.target);
        named.sort_by_key(|c| c.number);
        for c in named {
            for alias in [
                link.alias.clone(),
                format!("{}-{number}", link.target),
                format!("{project}-{}-{number}", link.target),
            ] {
                let link = Link {
                    target: c.name.clone(),
                    alias,
                };
                // Two entries naming one service give its containers' names twice.
                if !links.contains(&link) {
                    links.push(link);
                }
            }
        }
    }
    svc.links = links;
    for dependency in &svc.restart_with {
        let mut ids: Vec<String> = containers(dependency)
            .iter()
            .map(|c| c.id.clone())
            .collect();
        ids.sort();
        if !ids.is_empty() {
            references.insert((RefKind::Restart, dependency.clone()), ids);
        }
    }
    if !references.is_empty() {
        request.labels.insert(
            labels::REFERENCES.to_owned(),
            encode_references(&references),
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "references_tests.rs"]
mod fake_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::refs::{VolumesFrom, decode_references};
    use crate::model::spec::ServiceSpec;

    fn container(id: &str, service: &str, number: u32, state: ContainerState) -> ObservedContainer {
        ObservedContainer {
            id: id.into(),
            name: format!("p-{service}-{number}"),
            project: "p".into(),
            service: service.into(),
            number,
            state,
            ..ObservedContainer::default()
        }
    }

    fn state(containers: Vec<ObservedContainer>) -> ObservedState {
        ObservedState {
            containers: containers.into_iter().map(|c| (c.id.clone(), c)).collect(),
            ..ObservedState::default()
        }
    }

    fn request(service: ServiceSpec) -> ContainerCreate {
        ContainerCreate {
            name: "p-b-1".into(),
            service,
            networks: Default::default(),
            labels: Default::default(),
        }
    }

    #[test]
    fn service_references_resolve_to_the_running_lowest_replica_and_are_labelled() {
        let host = state(vec![
            container("a1", "a", 1, ContainerState::Exited),
            container("a2", "a", 2, ContainerState::Running),
            container("d1", "data", 1, ContainerState::Running),
        ]);
        let mut b = ServiceSpec::new("b", "img");
        b.network_mode = Some(NetworkMode::Service("a".into()));
        b.volumes_from = vec![VolumesFrom {
            source: VolumesSource::Service("data".into()),
            read_only: true,
        }];
        b.restart_with.insert("a".into());
        let mut req = request(b);
        resolve(&host, "p", &mut req, 1).unwrap();
        assert_eq!(
            req.service.network_mode,
            Some(NetworkMode::Container("a2".into()))
        );
        assert_eq!(req.service.volumes_from[0].engine_entry(None), "d1:ro");
        let refs = decode_references(&req.labels[labels::REFERENCES]);
        assert_eq!(refs[&(RefKind::Network, "a".into())], ["a2"]);
        assert_eq!(refs[&(RefKind::Volumes, "data".into())], ["d1"]);
        assert_eq!(refs[&(RefKind::Restart, "a".into())], ["a1", "a2"]);
    }

    #[test]
    fn ipc_and_pid_of_a_service_resolve_to_its_container_and_are_labelled() {
        let host = state(vec![
            container("a1", "a", 1, ContainerState::Running),
            container("a2", "a", 2, ContainerState::Running),
        ]);
        let mut b = ServiceSpec::new("b", "img");
        b.ipc = Some("service:a".into());
        b.pid = Some("service:a".into());
        b.restart_with.insert("a".into());
        let mut req = request(b);
        resolve(&host, "p", &mut req, 1).unwrap();
        assert_eq!(req.service.ipc.as_deref(), Some("container:a1"));
        assert_eq!(req.service.pid.as_deref(), Some("container:a1"));
        assert_eq!(
            req.labels[labels::REFERENCES],
            "ipc:a=a1,pid:a=a1,restart:a=a1+a2"
        );
        // Modes that name no service pass as written, and record nothing.
        let mut c = ServiceSpec::new("c", "img");
        c.ipc = Some("shareable".into());
        c.pid = Some("container:other".into());
        let mut req = request(c);
        resolve(&host, "p", &mut req, 1).unwrap();
        assert_eq!(req.service.ipc.as_deref(), Some("shareable"));
        assert_eq!(req.service.pid.as_deref(), Some("container:other"));
        assert!(!req.labels.contains_key(labels::REFERENCES));
        // No container of the service: an error naming the key.
        let mut d = ServiceSpec::new("d", "img");
        d.pid = Some("service:gone".into());
        let err = resolve(&host, "p", &mut request(d), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`pid` refers to service gone, which has no container yet"
        );
    }

    #[test]
    fn links_name_every_container_of_the_service_with_compose_aliases() {
        let host = state(vec![container("d1", "db", 1, ContainerState::Running)]);
        let mut b = ServiceSpec::new("b", "img");
        b.links = vec![Link {
            target: "db".into(),
            alias: "database".into(),
        }];
        let mut req = request(b);
        resolve(&host, "p", &mut req, 2).unwrap();
        let links: Vec<String> = req
            .service
            .links
            .iter()
            .map(|l| format!("{}:{}", l.target, l.alias))
            .collect();
        assert_eq!(links, ["p-db-1:database", "p-db-1:db-2", "p-db-1:p-db-2"]);
    }

    #[test]
    fn a_missing_service_container_is_an_error_naming_the_key() {
        let mut b = ServiceSpec::new("b", "img");
        b.network_mode = Some(NetworkMode::Service("vpn".into()));
        let err = resolve(&ObservedState::default(), "p", &mut request(b), 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`network_mode` refers to service vpn, which has no container yet"
        );
    }
}
