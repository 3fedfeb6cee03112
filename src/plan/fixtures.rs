//! Test builders: desired projects and observed hosts in a line each, e.g.
//! `project("shop").service(svc("web").replicas(3))` and
//! `observed().running(&project, "web", 1)`. Observed containers carry exactly the labels,
//! hashes, image IDs, networks and volumes composectl would have given them.

use std::collections::BTreeMap;

use crate::model::observed::normalize_image_ref;
use crate::model::spec::{
    DependsOn, MountKind, MountSpec, NetworkSpec, ProjectSpec, ServiceNetwork, ServiceSpec,
    VolumeSpec,
};
use crate::model::{ContainerState, Health, ObservedContainer, ObservedState, hash, labels};

/// A plan of project `shop` with `actions`.
pub fn plan_of(actions: Vec<super::Action>) -> super::Plan {
    super::Plan {
        project: "shop".to_owned(),
        actions,
        ..super::Plan::default()
    }
}

/// A project with a `default` network (`<name>_default`) and no services.
pub fn project(name: &str) -> ProjectSpec {
    let default = NetworkSpec {
        name: format!("{name}_default"),
        ..NetworkSpec::default()
    };
    ProjectSpec {
        name: name.to_owned(),
        working_dir: format!("/srv/{name}").into(),
        networks: BTreeMap::from([("default".to_owned(), default)]),
        ..ProjectSpec::default()
    }
}

/// One replica of image `<name>:1` on the `default` network.
pub fn svc(name: &str) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, format!("{name}:1"));
    s.networks
        .insert("default".to_owned(), ServiceNetwork::default());
    s
}

/// Builder methods on [`ProjectSpec`].
pub trait ProjectExt {
    /// Adds (or replaces) a service.
    fn service(self, service: ServiceSpec) -> Self;
    /// Adds a network `key` named `<project>_<key>`.
    fn network(self, key: &str, external: bool) -> Self;
    /// Adds a named volume `key` named `<project>_<key>`.
    fn volume(self, key: &str, external: bool) -> Self;
}

impl ProjectExt for ProjectSpec {
    fn service(mut self, service: ServiceSpec) -> Self {
        self.services.insert(service.name.clone(), service);
        self
    }

    fn network(mut self, key: &str, external: bool) -> Self {
        let name = format!("{}_{key}", self.name);
        let spec = NetworkSpec {
            name,
            external,
            ..NetworkSpec::default()
        };
        self.networks.insert(key.to_owned(), spec);
        self
    }

    fn volume(mut self, key: &str, external: bool) -> Self {
        let name = format!("{}_{key}", self.name);
        let spec = VolumeSpec {
            name,
            external,
            ..VolumeSpec::default()
        };
        self.volumes.insert(key.to_owned(), spec);
        self
    }
}

/// Builder methods on [`ServiceSpec`].
pub trait ServiceExt {
    /// Sets `deploy.replicas`.
    fn replicas(self, n: u32) -> Self;
    /// Sets the image reference.
    fn image(self, image: &str) -> Self;
    /// Sets one environment variable.
    fn env(self, key: &str, value: &str) -> Self;
    /// Adds a `depends_on` entry.
    fn depends(self, dependency: &str, condition: DependsOn) -> Self;
    /// Joins network `key` as well.
    fn on_network(self, key: &str) -> Self;
    /// Mounts named volume `key` of project `project` at `target`.
    fn mount(self, project: &str, key: &str, target: &str) -> Self;
}

impl ServiceExt for ServiceSpec {
    fn replicas(mut self, n: u32) -> Self {
        self.replicas = n;
        self
    }

    fn image(mut self, image: &str) -> Self {
        image.clone_into(&mut self.image);
        self
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.environment.insert(key.to_owned(), value.to_owned());
        self
    }

    fn depends(mut self, dependency: &str, condition: DependsOn) -> Self {
        self.depends_on.insert(dependency.to_owned(), condition);
        self
    }

    fn on_network(mut self, key: &str) -> Self {
        self.networks
            .insert(key.to_owned(), ServiceNetwork::default());
        self
    }

    fn mount(mut self, project: &str, key: &str, target: &str) -> Self {
        let kind = MountKind::Volume {
            name: format!("{project}_{key}"),
            key: key.to_owned(),
        };
        self.mounts.push(MountSpec {
            kind,
            target: target.to_owned(),
            read_only: false,
            options: Default::default(),
        });
        self
    }
}

/// An empty host: no containers, no images.
pub fn observed() -> ObservedState {
    ObservedState::default()
}

/// The image ID the fixtures give a tag that has not been given one.
pub fn image_id_of(reference: &str) -> String {
    format!("sha256:{}", normalize_image_ref(reference))
}

/// A container exactly as composectl creates replica `number` of `service` of `project`,
/// running, with `image_id`.
pub fn container(
    project: &ProjectSpec,
    service: &ServiceSpec,
    number: u32,
    id: String,
    image_id: String,
) -> ObservedContainer {
    let networks = service
        .networks
        .keys()
        .map(|key| project.networks.get(key).map_or(key, |n| &n.name).clone())
        .collect();
    let volumes = service
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Volume { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    ObservedContainer {
        id,
        name: labels::container_name(&project.name, service, number),
        project: project.name.clone(),
        service: service.name.clone(),
        number,
        config_hash: hash::config_hash(project, service),
        image_id,
        state: ContainerState::Running,
        created: 0,
        networks,
        volumes,
        labels: labels::container_labels(project, service, number),
        ..ObservedContainer::default()
    }
}

/// Builder methods on [`ObservedState`].
pub trait ObservedExt: Sized {
    /// Adds a container built by [`container`] from `project`'s `service`, changed by
    /// `edit`, newer than every container before it; its image is made present (with
    /// [`image_id_of`]) unless the host already has that tag.
    fn with(
        self,
        project: &ProjectSpec,
        service: &str,
        number: u32,
        edit: impl FnOnce(&mut ObservedContainer),
    ) -> Self;
    /// Adds a running replica.
    fn running(self, project: &ProjectSpec, service: &str, number: u32) -> Self {
        self.with(project, service, number, |_| {})
    }
    /// Adds a running replica with `health`.
    fn health(self, project: &ProjectSpec, service: &str, number: u32, health: Health) -> Self {
        self.with(project, service, number, |c| c.health = Some(health))
    }
    /// Adds a replica in `state`.
    fn state(
        self,
        project: &ProjectSpec,
        service: &str,
        number: u32,
        state: ContainerState,
    ) -> Self {
        self.with(project, service, number, |c| c.state = state)
    }
    /// Adds a replica that exited with `code`.
    fn exited(self, project: &ProjectSpec, service: &str, number: u32, code: i64) -> Self {
        self.with(project, service, number, |c| {
            c.state = ContainerState::Exited;
            c.exit_code = Some(code);
        })
    }
    /// Points tag `reference` at image `id`.
    fn tag(self, reference: &str, id: &str) -> Self;
    /// Removes tag `reference`.
    fn untag(self, reference: &str) -> Self;
}

impl ObservedExt for ObservedState {
    fn with(
        mut self,
        project: &ProjectSpec,
        service: &str,
        number: u32,
        edit: impl FnOnce(&mut ObservedContainer),
    ) -> Self {
        let spec = &project.services[service];
        let image_id = match self.image_id(&spec.image) {
            Some(id) => id.to_owned(),
            None => {
                let id = image_id_of(&spec.image);
                self.images
                    .insert(normalize_image_ref(&spec.image), id.clone());
                id
            }
        };
        let seq = self.containers.len();
        let id = format!("{}-{service}-{number}-{seq}", project.name);
        let mut c = container(project, spec, number, id, image_id);
        c.created = i64::try_from(seq).unwrap_or(i64::MAX);
        edit(&mut c);
        self.containers.insert(c.id.clone(), c);
        self
    }

    fn tag(mut self, reference: &str, id: &str) -> Self {
        self.images
            .insert(normalize_image_ref(reference), id.to_owned());
        self
    }

    fn untag(mut self, reference: &str) -> Self {
        self.images.remove(&normalize_image_ref(reference));
        self
    }
}
