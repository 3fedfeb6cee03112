//! The fake engine's state and its synchronous operations: what Docker would do to its
//! containers, images, networks and volumes, and the events it would emit.

use std::collections::{BTreeMap, VecDeque};

use tokio::sync::mpsc;

use super::{Call, Op};
use crate::clock::WallClock;
use crate::model::observed::normalize_image_ref;
use crate::model::spec::{MountKind, RestartPolicy};
use crate::model::{ContainerState, Health, ObservedContainer, labels};
use crate::runtime::{
    CallCounts, ContainerCreate, Error, ManagedNetwork, ManagedVolume, Result, RuntimeEvent,
};

/// One container the fake engine holds.
#[derive(Debug, Clone)]
pub(super) struct FakeContainer {
    /// What `inspect` reports.
    pub(super) observed: ObservedContainer,
    /// Carries `io.composectl.managed=true`.
    pub(super) managed: bool,
    /// The service has a healthcheck that is not `NONE`.
    pub(super) has_healthcheck: bool,
    /// Its restart policy (what the engine does when it comes back).
    pub(super) restart: RestartPolicy,
}

/// The whole engine, behind the fake's mutex.
#[derive(Debug)]
pub(super) struct Engine {
    pub(super) containers: BTreeMap<String, FakeContainer>,
    pub(super) images: BTreeMap<String, String>,
    pub(super) registry: BTreeMap<String, String>,
    /// The `RepoDigests` of each image pulled, by image ID.
    pub(super) repo_digests: BTreeMap<String, std::collections::BTreeSet<String>>,
    /// Images built, by ID, with their labels.
    pub(super) built: BTreeMap<String, BTreeMap<String, String>>,
    /// Networks by Docker name, with their labels.
    pub(super) networks: BTreeMap<String, BTreeMap<String, String>>,
    /// Volumes by Docker name, with their labels.
    pub(super) volumes: BTreeMap<String, BTreeMap<String, String>>,
    pub(super) calls: Vec<Call>,
    pub(super) counts: CallCounts,
    pub(super) failures: VecDeque<(Op, Error)>,
    /// Operations whose next call panics.
    pub(super) panics: VecDeque<Op>,
    pub(super) subscribers: Vec<mpsc::UnboundedSender<Result<RuntimeEvent>>>,
    pub(super) default_health: Option<Health>,
    /// Stamps `finished_at` when a container exits.
    pub(super) clock: WallClock,
    /// The engine is away: every call fails as unreachable.
    pub(super) down: bool,
    next_id: u64,
}

impl Default for Engine {
    fn default() -> Self {
        let builtin = ["bridge", "host", "none"]
            .into_iter()
            .map(|n| (n.to_owned(), BTreeMap::new()))
            .collect();
        Self {
            containers: BTreeMap::new(),
            images: BTreeMap::new(),
            registry: BTreeMap::new(),
            repo_digests: BTreeMap::new(),
            built: BTreeMap::new(),
            networks: builtin,
            volumes: BTreeMap::new(),
            calls: Vec::new(),
            counts: CallCounts::default(),
            failures: VecDeque::new(),
            panics: VecDeque::new(),
            subscribers: Vec::new(),
            default_health: Some(Health::Healthy),
            clock: WallClock::system(),
            down: false,
            next_id: 0,
        }
    }
}

impl Engine {
    /// Records a call, counts it, and returns the injected failure for `op`, if any (or
    /// `Unavailable` while the engine is down).
    ///
    /// # Panics
    /// When a panic was injected for `op` ([`super::FakeRuntime::panic_next`]).
    pub(super) fn record(&mut self, op: Op, call: Call) -> Result<()> {
        self.calls.push(call);
        let counts = if op.is_write() {
            &mut self.counts.writes
        } else {
            &mut self.counts.reads
        };
        *counts.entry(op.name()).or_default() += 1;
        if let Some(index) = self.panics.iter().position(|o| *o == op) {
            self.panics.remove(index);
            panic!("fake engine: injected panic in {}", op.name());
        }
        if self.down {
            return Err(Error::Unavailable {
                operation: op.name(),
                message: "connection refused (fake engine down)".to_owned(),
            });
        }
        match self.failures.iter().position(|(o, _)| *o == op) {
            Some(index) => Err(self.failures.remove(index).expect("index is in range").1),
            None => Ok(()),
        }
    }

    /// Sends `event` to every open event stream, dropping closed ones.
    pub(super) fn emit(&mut self, event: RuntimeEvent) {
        self.subscribers
            .retain(|tx| tx.send(Ok(event.clone())).is_ok());
    }

    /// Emits a container event when the container is managed.
    pub(super) fn emit_container(&mut self, id: &str, action: &str) {
        let Some(c) = self.containers.get(id) else {
            return;
        };
        if !c.managed {
            return;
        }
        // A die reports the exit the engine recorded (none for a forced removal).
        let exit = match (action, c.observed.exit_code, c.observed.finished_at) {
            ("die", Some(code), Some(at_ms)) => Some(crate::runtime::Exit { code, at_ms }),
            _ => None,
        };
        let event = RuntimeEvent::Container {
            id: id.to_owned(),
            action: action.to_owned(),
            project: Some(c.observed.project.clone()),
            exit,
        };
        self.emit(event);
    }

    /// Emits an image event.
    pub(super) fn emit_image(&mut self, action: &str) {
        self.emit(RuntimeEvent::Image {
            action: action.to_owned(),
        });
    }

    /// Emits a network or volume event.
    pub(super) fn emit_resource(&mut self, kind: &'static str, action: &str) {
        self.emit(RuntimeEvent::Resource {
            kind,
            action: action.to_owned(),
        });
    }

    /// A fresh 64-hex-digit container ID.
    pub(super) fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:064x}", self.next_id)
    }

    /// The ID of the container called `id_or_name` (an ID or a name).
    pub(super) fn resolve(&self, id_or_name: &str) -> Option<String> {
        if self.containers.contains_key(id_or_name) {
            return Some(id_or_name.to_owned());
        }
        self.containers
            .iter()
            .find(|(_, c)| c.observed.name == id_or_name)
            .map(|(id, _)| id.clone())
    }

    /// The ID of `id_or_name`, or `NotFound` for `operation`.
    pub(super) fn require(&self, operation: &'static str, id_or_name: &str) -> Result<String> {
        self.resolve(id_or_name).ok_or_else(|| Error::NotFound {
            operation,
            what: format!("container {id_or_name}"),
        })
    }

    /// Creates a container the way `docker create` would.
    pub(super) fn create(&mut self, request: &ContainerCreate) -> Result<String> {
        const OP: &str = "create_container";
        if self.resolve(&request.name).is_some() {
            return Err(Error::Conflict {
                operation: OP,
                what: format!("container name {}", request.name),
            });
        }
        let image_id = self
            .image_id(&request.service.image)
            .ok_or(Error::NotFound {
                operation: OP,
                what: format!("image {}", normalize_image_ref(&request.service.image)),
            })?;
        if let Some(missing) = request
            .networks
            .keys()
            .find(|n| !self.networks.contains_key(*n))
        {
            return Err(Error::NotFound {
                operation: OP,
                what: format!("network {missing}"),
            });
        }
        let volumes = volume_names(request);
        for volume in &volumes {
            self.volumes.entry(volume.clone()).or_default();
        }
        let id = self.new_id();
        let observed = observed_from_request(&id, request, image_id, volumes, self.next_id);
        let managed = request.labels.get(labels::MANAGED).map(String::as_str) == Some("true");
        let has_healthcheck = request
            .service
            .healthcheck
            .as_ref()
            .is_some_and(|h| h.test.first().map(String::as_str) != Some("NONE"));
        let container = FakeContainer {
            observed,
            managed,
            has_healthcheck,
            restart: request.service.restart,
        };
        self.containers.insert(id.clone(), container);
        self.emit_container(&id, "create");
        Ok(id)
    }

    /// The ID of a local image given by ID or reference.
    pub(super) fn image_id(&self, image: &str) -> Option<String> {
        if image.starts_with("sha256:") {
            return self.images.values().find(|id| *id == image).cloned();
        }
        self.images.get(&normalize_image_ref(image)).cloned()
    }

    /// Renames a container; a name in use is a conflict.
    pub(super) fn rename(&mut self, id: &str, name: &str) -> Result<()> {
        let id = self.require("rename_container", id)?;
        if self.resolve(name).is_some_and(|other| other != id) {
            return Err(Error::Conflict {
                operation: "rename_container",
                what: format!("container name {name}"),
            });
        }
        let c = self.containers.get_mut(&id).expect("resolved above");
        c.observed.name = name.to_owned();
        self.emit_container(&id, "rename");
        Ok(())
    }

    /// Starts a container; already running is success.
    pub(super) fn start(&mut self, id: &str) -> Result<()> {
        let id = self.require("start_container", id)?;
        let default_health = self.default_health;
        let c = self.containers.get_mut(&id).expect("resolved above");
        if c.observed.state == ContainerState::Running {
            return Ok(());
        }
        c.observed.state = ContainerState::Running;
        c.observed.exit_code = None;
        c.observed.finished_at = None;
        c.observed.health = default_health.filter(|_| c.has_healthcheck);
        let health = c.observed.health;
        self.emit_container(&id, "start");
        if let Some(health) = health {
            self.emit_container(&id, &health_action(health));
        }
        Ok(())
    }

    /// Makes a running container exit with `code`; anything else is left alone.
    pub(super) fn exit(&mut self, id: &str, code: i64) -> Result<()> {
        let id = self.require("stop_container", id)?;
        let c = self.containers.get_mut(&id).expect("resolved above");
        if c.observed.state != ContainerState::Running {
            return Ok(());
        }
        c.observed.state = ContainerState::Exited;
        c.observed.exit_code = Some(code);
        c.observed.finished_at = Some(self.clock.now_ms());
        c.observed.health = None;
        self.emit_container(&id, "die");
        Ok(())
    }

    /// Removes a container; gone is success.
    pub(super) fn remove(&mut self, id: &str) {
        let Some(id) = self.resolve(id) else {
            return;
        };
        if self.containers[&id].observed.state == ContainerState::Running {
            self.emit_container(&id, "die");
        }
        self.emit_container(&id, "destroy");
        self.containers.remove(&id);
    }

    /// Sets a container's health and emits `health_status: ...`.
    pub(super) fn set_health(&mut self, id: &str, health: Health) -> Result<()> {
        let id = self.require("set_health", id)?;
        let c = self.containers.get_mut(&id).expect("resolved above");
        c.observed.health = Some(health);
        self.emit_container(&id, &health_action(health));
        Ok(())
    }

    /// Managed containers, by ID order.
    pub(super) fn managed(&self) -> impl Iterator<Item = &ObservedContainer> {
        self.containers
            .values()
            .filter(|c| c.managed)
            .map(|c| &c.observed)
    }

    /// The managed networks of `project` (of every project with `None`), with the
    /// containers attached.
    pub(super) fn managed_networks(&self, project: Option<&str>) -> Vec<ManagedNetwork> {
        self.networks
            .iter()
            .filter(|(_, l)| {
                l.get(labels::MANAGED).map(String::as_str) == Some("true")
                    && project.is_none_or(|p| l.get(labels::PROJECT).map(String::as_str) == Some(p))
            })
            .map(|(name, labels)| ManagedNetwork {
                name: name.clone(),
                labels: labels.clone(),
                containers: self.attached_ids(name),
            })
            .collect()
    }

    /// The managed volumes.
    pub(super) fn managed_volumes(&self) -> Vec<ManagedVolume> {
        self.volumes
            .iter()
            .filter(|(_, l)| l.get(labels::MANAGED).map(String::as_str) == Some("true"))
            .map(|(name, labels)| ManagedVolume {
                name: name.clone(),
                labels: labels.clone(),
            })
            .collect()
    }

    /// How many containers (managed or not) are attached to network `name`.
    pub(super) fn attached(&self, name: &str) -> usize {
        self.attached_ids(name).len()
    }

    /// IDs of the containers (managed or not) attached to network `name`, sorted.
    fn attached_ids(&self, name: &str) -> Vec<String> {
        self.containers
            .iter()
            .filter(|(_, c)| c.observed.networks.iter().any(|n| n == name))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Docker's action string for a health change.
fn health_action(health: Health) -> String {
    let status = match health {
        Health::Starting => "starting",
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
    };
    format!("health_status: {status}")
}

/// Names of the named volumes a request mounts.
fn volume_names(request: &ContainerCreate) -> Vec<String> {
    request
        .service
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Volume { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// What `inspect` reports right after `docker create`.
fn observed_from_request(
    id: &str,
    request: &ContainerCreate,
    image_id: String,
    volumes: Vec<String>,
    created: u64,
) -> ObservedContainer {
    let label = |key: &str| request.labels.get(key).cloned().unwrap_or_default();
    ObservedContainer {
        id: id.to_owned(),
        name: request.name.clone(),
        project: label(labels::PROJECT),
        service: label(labels::SERVICE),
        number: label(labels::NUMBER).parse().unwrap_or(0),
        config_hash: label(labels::CONFIG_HASH),
        image_id,
        state: ContainerState::Created,
        health: None,
        exit_code: None,
        oom_killed: false,
        finished_at: None,
        created: i64::try_from(created).unwrap_or(i64::MAX),
        networks: request.networks.keys().cloned().collect(),
        ip: None,
        volumes,
        labels: request.labels.clone(),
    }
}
