//! An in-memory [`ContainerRuntime`] for unit tests, in the spirit of linkerd's test
//! resolvers: a shared engine that records every call, counts reads and writes, behaves like
//! Docker where the layers above depend on it, and emits the matching [`RuntimeEvent`] for
//! every state change to all open [`ContainerRuntime::events`] streams.
//!
//! Tests drive it from the outside with [`FakeRuntime::kill`],
//! [`FakeRuntime::remove_by_hand`], [`FakeRuntime::set_health`], [`FakeRuntime::add_image`],
//! [`FakeRuntime::fail_next`], [`FakeRuntime::panic_next`],
//! [`FakeRuntime::disconnect_events`] and the engine's own
//! restarts ([`FakeRuntime::engine_down`], [`FakeRuntime::engine_up`]), and read it back with
//! [`FakeRuntime::calls`], [`FakeRuntime::container`] and friends.
//!
//! The fake's own test controls panic on misuse (an unknown container), as a test
//! fixture should.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::mpsc;

use super::{
    CallCounts, ContainerCreate, ContainerRuntime, Error, ImageInfo, ManagedNetwork, ManagedVolume,
    Result, RuntimeEvent,
};
use crate::clock::WallClock;
use crate::model::labels;
use crate::model::observed::normalize_image_ref;
use crate::model::spec::RestartPolicy;
use crate::model::spec::{NetworkSpec, ProjectSpec, ServiceSpec, VolumeSpec};
use crate::model::{ContainerState, Health, ObservedContainer};
use crate::sync;

mod build;
mod calls;
mod engine;
mod pacing;
#[cfg(test)]
mod tests;

pub use calls::{Call, Op};
use engine::{Engine, FakeContainer};
use pacing::Pacing;

/// The in-memory engine. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct FakeRuntime {
    inner: Arc<Mutex<Engine>>,
    pacing: Arc<Mutex<Pacing>>,
}

impl FakeRuntime {
    /// An empty engine: no containers, no images, the built-in networks.
    pub fn new() -> Self {
        Self::default()
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        sync::lock(&self.inner)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.engine().calls.clone()
    }

    /// Forgets the calls and counts recorded so far (state stays).
    pub fn clear_calls(&self) {
        let mut engine = self.engine();
        engine.calls.clear();
        engine.counts = CallCounts::default();
    }

    /// Makes the next call of `op` fail with `error` (calls queue up per operation).
    pub fn fail_next(&self, op: Op, error: Error) {
        self.engine().failures.push_back((op, error));
    }

    /// Makes the next call of `op` panic, as a bug in the caller's layer would (calls queue
    /// up per operation); the call is recorded first.
    pub fn panic_next(&self, op: Op) {
        self.engine().panics.push_back(op);
    }

    /// Adds a local image tag and emits an image `tag` event.
    pub fn add_image(&self, reference: &str, id: &str) {
        let mut engine = self.engine();
        engine
            .images
            .insert(normalize_image_ref(reference), id.to_owned());
        engine.emit_image("tag");
    }

    /// Makes `reference` pullable: a later `pull_image` adds it locally as `id`.
    pub fn add_registry_image(&self, reference: &str, id: &str) {
        self.engine()
            .registry
            .insert(normalize_image_ref(reference), id.to_owned());
    }

    /// The manifest digest the fake registry gives the image `id`
    /// ([`ContainerRuntime::inspect_distribution`], and `RepoDigests` once pulled).
    pub fn manifest_digest(id: &str) -> String {
        format!("sha256:manifest-{}", id.trim_start_matches("sha256:"))
    }

    /// Takes `reference` out of the registry: a later `inspect_distribution` or
    /// `pull_image` of it fails as not found.
    pub fn remove_registry_image(&self, reference: &str) {
        self.engine()
            .registry
            .remove(&normalize_image_ref(reference));
    }

    /// Health given at start to containers whose service has a healthcheck
    /// (`Some(Healthy)` by default; `None` leaves them without health).
    pub fn set_default_health(&self, health: Option<Health>) {
        self.engine().default_health = health;
    }

    /// Adds a running container without composectl's labels, holding `name`; returns its ID.
    pub fn add_unmanaged(&self, name: &str) -> String {
        let mut engine = self.engine();
        let id = engine.new_id();
        let observed = ObservedContainer {
            id: id.clone(),
            name: name.to_owned(),
            state: ContainerState::Running,
            ..ObservedContainer::default()
        };
        let container = FakeContainer {
            observed,
            managed: false,
            has_healthcheck: false,
            restart: RestartPolicy::No,
        };
        engine.containers.insert(id.clone(), container);
        id
    }

    /// Test fixture: runs replica `number` of `service` as composectl would have created it
    /// (its labels, its networks, its image added when missing), without recording calls.
    /// Emits `create` and `start`; returns the container ID.
    ///
    /// # Panics
    /// When the name is taken.
    pub fn add_managed(&self, project: &ProjectSpec, service: &ServiceSpec, number: u32) -> String {
        let mut engine = self.engine();
        let reference = normalize_image_ref(&service.image);
        let image_id = format!("sha256:{reference}");
        engine.images.entry(reference).or_insert(image_id);
        let mut networks = BTreeMap::new();
        for (key, attachment) in &service.networks {
            let name = project.networks.get(key).map_or(key, |n| &n.name).clone();
            engine.networks.entry(name.clone()).or_default();
            networks.insert(name, attachment.clone());
        }
        let request = ContainerCreate {
            name: labels::container_name(&project.name, service, number),
            service: service.clone(),
            networks,
            labels: labels::container_labels(project, service, number),
        };
        let id = engine
            .create(&request)
            .unwrap_or_else(|e| panic!("add_managed: {e}"));
        engine.start(&id).expect("just created");
        id
    }

    /// Makes a running container exit with `exit_code` (emits `die`).
    ///
    /// # Panics
    /// When no container has that ID or name.
    pub fn kill(&self, id: &str, exit_code: i64) {
        self.engine()
            .exit(id, exit_code)
            .unwrap_or_else(|e| panic!("kill: {e}"));
    }

    /// Removes a container behind composectl's back (emits `destroy`).
    pub fn remove_by_hand(&self, id: &str) {
        self.engine().remove(id);
    }

    /// Sets a container's health (emits `health_status: ...`).
    ///
    /// # Panics
    /// When no container has that ID or name.
    pub fn set_health(&self, id: &str, health: Health) {
        self.engine()
            .set_health(id, health)
            .unwrap_or_else(|e| panic!("set_health: {e}"));
    }

    /// Stamps exits with `clock` from now on (the system clock by default), so a test can
    /// share one clock between the fake and the store.
    pub fn set_clock(&self, clock: WallClock) {
        self.engine().clock = clock;
    }

    /// The engine goes away, as dockerd 20.10 shuts down: its API refuses every call from
    /// now on, every running container exits with `exit_code` (emitting `die`, which
    /// nobody can inspect any more), and every event stream ends with an error.
    pub fn engine_down(&self, exit_code: i64) {
        let mut engine = self.engine();
        engine.down = true;
        let running: Vec<String> = engine
            .containers
            .iter()
            .filter(|(_, c)| c.observed.state == ContainerState::Running)
            .map(|(id, _)| id.clone())
            .collect();
        for id in running {
            let _ = engine.exit(&id, exit_code);
        }
        drop(engine);
        self.disconnect_events();
    }

    /// The engine comes back and answers again, after starting the exited containers whose
    /// restart policy is in `restarts` (after a graceful restart dockerd 20.10 starts
    /// `always` and `unless-stopped` ones, after a SIGKILL only `always` ones).
    pub fn engine_up(&self, restarts: &[RestartPolicy]) {
        let mut engine = self.engine();
        let restarted: Vec<String> = engine
            .containers
            .iter()
            .filter(|(_, c)| c.observed.state == ContainerState::Exited)
            .filter(|(_, c)| restarts.contains(&c.restart))
            .map(|(id, _)| id.clone())
            .collect();
        for id in restarted {
            let _ = engine.start(&id);
        }
        engine.down = false;
    }

    /// Ends every open event stream with an `Unavailable` error, as a dropped connection.
    pub fn disconnect_events(&self) {
        let mut engine = self.engine();
        for tx in engine.subscribers.drain(..) {
            let _ = tx.send(Err(Error::Unavailable {
                operation: "events",
                message: "connection reset (fake)".to_owned(),
            }));
        }
    }

    /// The container with that ID or name, managed or not.
    pub fn container(&self, id_or_name: &str) -> Option<ObservedContainer> {
        let engine = self.engine();
        let id = engine.resolve(id_or_name)?;
        Some(engine.containers[&id].observed.clone())
    }

    /// Every container, managed or not, by ID.
    pub fn containers(&self) -> Vec<ObservedContainer> {
        let engine = self.engine();
        engine
            .containers
            .values()
            .map(|c| c.observed.clone())
            .collect()
    }

    /// Networks by Docker name, with their labels.
    pub fn networks(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.engine().networks.clone()
    }

    /// Volumes by Docker name, with their labels.
    pub fn volumes(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.engine().volumes.clone()
    }

    /// Open event streams (closed ones are noticed on the next event).
    pub fn subscribers(&self) -> usize {
        self.engine().subscribers.len()
    }
}

impl ContainerRuntime for FakeRuntime {
    async fn list_containers(&self) -> Result<Vec<ObservedContainer>> {
        let mut engine = self.engine();
        engine.record(Op::ListContainers, Call::ListContainers)?;
        // Like Docker's list: no finish time and no OOM flag (an inspect has them).
        let listed = engine.managed().cloned().map(|mut c| {
            c.finished_at = None;
            c.oom_killed = false;
            c
        });
        Ok(listed.collect())
    }

    async fn inspect_container(&self, id: &str) -> Result<Option<ObservedContainer>> {
        let mut engine = self.engine();
        let call = Call::Inspect { id: id.to_owned() };
        engine.record(Op::InspectContainer, call)?;
        let found = engine.resolve(id).map(|id| &engine.containers[&id]);
        Ok(found.filter(|c| c.managed).map(|c| c.observed.clone()))
    }

    async fn list_images(&self) -> Result<crate::runtime::ImageList> {
        let mut engine = self.engine();
        engine.record(Op::ListImages, Call::ListImages)?;
        let built = engine
            .built
            .iter()
            .filter_map(|(id, labels)| Some((labels.get(labels::BUILD_HASH)?.clone(), id.clone())))
            .collect();
        Ok(crate::runtime::ImageList {
            tags: engine.images.clone(),
            built,
        })
    }

    async fn pull_image(&self, reference: &str, _platform: Option<&str>) -> Result<()> {
        let call = Call::Pull {
            reference: reference.to_owned(),
        };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::PullImage, call)?;
        let normalized = normalize_image_ref(reference);
        let id = engine
            .registry
            .get(&normalized)
            .cloned()
            .ok_or(Error::NotFound {
                operation: "pull_image",
                what: format!("image {normalized} in the registry"),
            })?;
        let digest = format!(
            "{}@{}",
            crate::model::observed::repository_of(&normalized),
            Self::manifest_digest(&id)
        );
        engine
            .repo_digests
            .entry(id.clone())
            .or_default()
            .insert(digest);
        engine.images.insert(normalized, id);
        engine.emit_image("pull");
        Ok(())
    }

    async fn inspect_distribution(&self, reference: &str) -> Result<String> {
        let mut engine = self.engine();
        let call = Call::InspectDistribution {
            reference: reference.to_owned(),
        };
        engine.record(Op::InspectDistribution, call)?;
        let normalized = normalize_image_ref(reference);
        engine
            .registry
            .get(&normalized)
            .map(|id| Self::manifest_digest(id))
            .ok_or(Error::NotFound {
                operation: "inspect_distribution",
                what: format!("image {normalized} in the registry"),
            })
    }

    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>> {
        let mut engine = self.engine();
        let call = Call::InspectImage {
            reference: reference.to_owned(),
        };
        engine.record(Op::InspectImage, call)?;
        let id = if reference.starts_with("sha256:") {
            engine
                .images
                .values()
                .chain(engine.built.keys())
                .find(|id| *id == reference)
                .cloned()
        } else {
            engine.images.get(&normalize_image_ref(reference)).cloned()
        };
        Ok(id.map(|id| ImageInfo {
            repo_digests: engine
                .repo_digests
                .get(&id)
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default(),
            id,
        }))
    }

    async fn build_image(&self, request: &crate::runtime::ImageBuild) -> Result<String> {
        self.build(request).await
    }

    async fn list_built_images(&self) -> Result<Vec<crate::runtime::BuiltImage>> {
        self.built_images()
    }

    async fn remove_image(&self, id: &str) -> Result<bool> {
        self.remove_built(id)
    }

    async fn tag_image(&self, image: &str, reference: &str) -> Result<()> {
        let call = Call::Tag {
            image: image.to_owned(),
            reference: reference.to_owned(),
        };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::TagImage, call)?;
        let id = engine.image_id(image).ok_or(Error::NotFound {
            operation: "tag_image",
            what: format!("image {image}"),
        })?;
        engine.images.insert(normalize_image_ref(reference), id);
        engine.emit_image("tag");
        Ok(())
    }

    async fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        let call = Call::Rename {
            id: id.to_owned(),
            name: name.to_owned(),
        };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::RenameContainer, call)?;
        engine.rename(id, name)
    }

    async fn ensure_network(
        &self,
        spec: &NetworkSpec,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        let call = Call::EnsureNetwork {
            name: spec.name.clone(),
        };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::EnsureNetwork, call)?;
        if !engine.networks.contains_key(&spec.name) {
            engine.networks.insert(spec.name.clone(), labels.clone());
            engine.emit_resource("network", "create");
        }
        Ok(())
    }

    async fn ensure_volume(
        &self,
        spec: &VolumeSpec,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        let call = Call::EnsureVolume {
            name: spec.name.clone(),
        };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::EnsureVolume, call)?;
        if !engine.volumes.contains_key(&spec.name) {
            engine.volumes.insert(spec.name.clone(), labels.clone());
            engine.emit_resource("volume", "create");
        }
        Ok(())
    }

    async fn create_container(&self, request: &ContainerCreate) -> Result<String> {
        let call = Call::Create {
            name: request.name.clone(),
        };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::CreateContainer, call)?;
        engine.create(request)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let call = Call::Start { id: id.to_owned() };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::StartContainer, call)?;
        engine.start(id)
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<()> {
        let call = Call::Stop { id: id.to_owned() };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::StopContainer, call)?;
        engine.exit(id, 0)
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let call = Call::Remove { id: id.to_owned() };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::RemoveContainer, call)?;
        engine.remove(id);
        Ok(())
    }

    async fn list_managed_networks(&self, project: Option<&str>) -> Result<Vec<ManagedNetwork>> {
        let mut engine = self.engine();
        let call = Call::ListManagedNetworks {
            project: project.map(str::to_owned),
        };
        engine.record(Op::ListManagedNetworks, call)?;
        Ok(engine.managed_networks(project))
    }

    async fn list_managed_volumes(&self) -> Result<Vec<ManagedVolume>> {
        let mut engine = self.engine();
        engine.record(Op::ListManagedVolumes, Call::ListManagedVolumes)?;
        Ok(engine.managed_volumes())
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        let call = Call::RemoveNetwork {
            name: name.to_owned(),
        };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::RemoveNetwork, call)?;
        if engine.attached(name) > 0 {
            return Err(Error::Engine {
                operation: "remove_network",
                message: format!(
                    "error while removing network: network {name} has active endpoints"
                ),
            });
        }
        if engine.networks.remove(name).is_some() {
            engine.emit_resource("network", "destroy");
        }
        Ok(())
    }

    fn events(&self) -> BoxStream<'static, Result<RuntimeEvent>> {
        let mut engine = self.engine();
        let (tx, rx) = mpsc::unbounded_channel();
        if let Err(error) = engine.record(Op::Events, Call::Events) {
            let _ = tx.send(Err(error));
        } else {
            engine.subscribers.push(tx);
        }
        stream::unfold(rx, |mut rx| async move {
            let item = rx.recv().await?;
            Some((item, rx))
        })
        .fuse()
        .boxed()
    }

    fn call_counts(&self) -> CallCounts {
        self.engine().counts.clone()
    }
}
