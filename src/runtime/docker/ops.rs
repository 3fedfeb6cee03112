//! The [`ContainerRuntime`] methods of [`DockerRuntime`]: each is one instrumented engine
//! call (create adds one `connect_network` per extra network, `list_managed_networks` one
//! inspect per network), with the error mapping of the parent module.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::{NetworkConnectRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, ListContainersOptions,
    ListImagesOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveImageOptions, RenameContainerOptions, StopContainerOptions, TagImageOptions,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::time::Instant;

use super::stats::{CallKind, Outcome};
use super::{DockerRuntime, auth, convert, create, events, map_error, network, status_of};
use crate::model::ObservedContainer;
use crate::model::labels;
use crate::model::spec::{NetworkSpec, VolumeSpec};
use crate::runtime::{
    CallCounts, ContainerCreate, ContainerRuntime, Error, ManagedNetwork, ManagedVolume, Result,
    RuntimeEvent,
};

use CallKind::{Read, Write};

/// Extra time a stop request gets beyond the grace period before the client gives up.
const STOP_SLACK: Duration = Duration::from_secs(30);

pub(super) fn label_filter(labels: &[String]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), labels.to_vec())])
}

impl DockerRuntime {
    /// The label filters selecting this instance's objects.
    pub(super) fn owned_filter(&self) -> Vec<String> {
        vec![
            format!("{}=true", labels::MANAGED),
            format!("{}={}", labels::INSTANCE, self.instance()),
        ]
    }

    /// `labels` plus this instance's ownership label.
    pub(super) fn owned_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut owned = labels.clone();
        owned.insert(labels::INSTANCE.to_owned(), self.instance().to_owned());
        owned
    }
}

/// User labels overlaid with the caller's complete labels.
pub(super) fn merged(
    user: &BTreeMap<String, String>,
    own: &BTreeMap<String, String>,
) -> HashMap<String, String> {
    user.iter()
        .chain(own)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub(super) fn non_empty(map: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.clone().into_iter().collect())
}

impl DockerRuntime {
    /// Drains a pull's progress stream; the first error it reports is the result.
    async fn drain_pull(&self, reference: &str, platform: Option<&str>) -> Result<()> {
        let (repo, tag) = auth::split_reference(reference);
        let credentials = auth::credentials_for(reference).map_err(|e| Error::Engine {
            operation: "pull_image",
            message: e.to_string(),
        })?;
        let options = CreateImageOptions {
            from_image: Some(repo),
            tag: Some(tag),
            platform: platform.unwrap_or_default().to_owned(),
            ..CreateImageOptions::default()
        };
        let mut stream = self.docker.create_image(Some(options), None, credentials);
        while let Some(item) = stream.next().await {
            let info =
                item.map_err(|e| map_error("pull_image", format!("image {reference}"), e))?;
            if let Some(detail) = info.error_detail {
                return Err(Error::Engine {
                    operation: "pull_image",
                    message: detail.message.unwrap_or_else(|| "pull failed".to_owned()),
                });
            }
        }
        Ok(())
    }

    /// The managed network `name` with its attachment count; `None` when it vanished.
    async fn attached(&self, name: String) -> Result<Option<ManagedNetwork>> {
        let inspect = self
            .call(
                "inspect_network",
                Read,
                self.docker.inspect_network(&name, None),
            )
            .await;
        match inspect {
            Ok(net) => {
                let mut containers: Vec<String> =
                    net.containers.unwrap_or_default().into_keys().collect();
                containers.sort();
                Ok(Some(ManagedNetwork {
                    name,
                    labels: net.labels.unwrap_or_default().into_iter().collect(),
                    containers,
                }))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(map_error("inspect_network", format!("network {name}"), e)),
        }
    }

    /// Connects a just-created container to its other networks; on failure removes it
    /// (it is managed and was never started) and returns the connect error.
    async fn connect_extra_networks(&self, id: &str, request: &ContainerCreate) -> Result<()> {
        for (network, endpoint) in create::extra_networks(request) {
            let connect = NetworkConnectRequest {
                container: id.to_owned(),
                endpoint_config: Some(endpoint),
            };
            let result = self
                .call(
                    "connect_network",
                    Write,
                    self.docker.connect_network(&network, connect),
                )
                .await;
            if let Err(e) = result {
                let err = map_error("connect_network", format!("network {network}"), e);
                if let Err(cleanup) = self.remove_container(id).await {
                    tracing::warn!(container = %request.name, error = %cleanup,
                        "could not remove a half-created container");
                }
                return Err(err);
            }
        }
        Ok(())
    }
}

impl ContainerRuntime for DockerRuntime {
    async fn list_containers(&self) -> Result<Vec<ObservedContainer>> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(label_filter(&self.owned_filter())),
            ..ListContainersOptions::default()
        };
        let list = self
            .call(
                "list_containers",
                Read,
                self.docker.list_containers(Some(options)),
            )
            .await
            .map_err(|e| map_error("list_containers", "containers", e))?;
        Ok(list
            .into_iter()
            .map(convert::from_summary)
            .filter(|c| convert::is_managed(c.labels.iter(), self.instance()))
            .collect())
    }

    async fn inspect_container(&self, id: &str) -> Result<Option<ObservedContainer>> {
        let inspect = self
            .call(
                "inspect_container",
                Read,
                self.docker.inspect_container(id, None),
            )
            .await;
        match inspect {
            Ok(found) => {
                let container = convert::from_inspect(found);
                Ok(
                    convert::is_managed(container.labels.iter(), self.instance())
                        .then_some(container),
                )
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(map_error("inspect_container", format!("container {id}"), e)),
        }
    }

    async fn list_images(&self) -> Result<crate::runtime::ImageList> {
        let options = ListImagesOptions::default();
        let images = self
            .call("list_images", Read, self.docker.list_images(Some(options)))
            .await
            .map_err(|e| map_error("list_images", "images", e))?;
        Ok(convert::image_list(images))
    }

    async fn pull_image(&self, reference: &str, platform: Option<&str>) -> Result<()> {
        let start = Instant::now();
        let result = self.drain_pull(reference, platform).await;
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Error
        };
        self.recorder
            .record("pull_image", Write, outcome, start.elapsed());
        result
    }

    async fn inspect_distribution(&self, reference: &str) -> Result<String> {
        self.distribution_digest(reference).await
    }

    async fn inspect_image(&self, reference: &str) -> Result<Option<crate::runtime::ImageInfo>> {
        self.image_info(reference).await
    }

    async fn build_image(&self, request: &crate::runtime::ImageBuild) -> Result<String> {
        self.build(request).await
    }

    async fn list_built_images(&self) -> Result<Vec<crate::runtime::BuiltImage>> {
        self.built_images().await
    }

    async fn remove_image(&self, id: &str) -> Result<bool> {
        let options = RemoveImageOptions {
            force: false,
            noprune: false,
            ..RemoveImageOptions::default()
        };
        match self
            .call(
                "remove_image",
                Write,
                self.docker.remove_image(id, Some(options), None),
            )
            .await
        {
            Ok(_) => Ok(true),
            // In use by a container, or tagged in several repositories.
            Err(e) if status_of(&e) == Some(409) => Ok(false),
            Err(e) if status_of(&e) == Some(404) => Ok(true),
            Err(e) => Err(map_error("remove_image", format!("image {id}"), e)),
        }
    }

    async fn ensure_network(
        &self,
        spec: &NetworkSpec,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        let name = &spec.name;
        let what = || format!("network {name}");
        match self
            .call(
                "inspect_network",
                Read,
                self.docker.inspect_network(name, None),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) && !spec.external => {}
            Err(e) => return Err(map_error("ensure_network", what(), e)),
        }
        let labels = merged(&spec.labels, &self.owned_labels(labels));
        let request = network::create_request(spec, labels);
        self.call("create_network", Write, self.docker.create_network(request))
            .await
            .map(drop)
            .map_err(|e| map_error("create_network", what(), e))
    }

    async fn ensure_volume(
        &self,
        spec: &VolumeSpec,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        let name = &spec.name;
        let what = || format!("volume {name}");
        match self
            .call("inspect_volume", Read, self.docker.inspect_volume(name))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) && !spec.external => {}
            Err(e) => return Err(map_error("ensure_volume", what(), e)),
        }
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            driver: spec.driver.clone(),
            driver_opts: non_empty(&spec.driver_opts),
            labels: Some(merged(&spec.labels, &self.owned_labels(labels))),
            ..VolumeCreateRequest::default()
        };
        self.call("create_volume", Write, self.docker.create_volume(request))
            .await
            .map(drop)
            .map_err(|e| map_error("create_volume", what(), e))
    }

    async fn create_container(&self, request: &ContainerCreate) -> Result<String> {
        let options = CreateContainerOptions {
            name: Some(request.name.clone()),
            platform: request.service.platform.clone().unwrap_or_default(),
        };
        let owned = ContainerCreate {
            labels: self.owned_labels(&request.labels),
            ..request.clone()
        };
        let body = create::container_body(&owned);
        let created = self
            .call(
                "create_container",
                Write,
                self.docker.create_container(Some(options), body),
            )
            .await
            .map_err(|e| {
                let what = match status_of(&e) {
                    Some(409) => format!("container name {}", request.name),
                    _ => format!(
                        "image {} or a network of {}",
                        request.service.image, request.name
                    ),
                };
                map_error("create_container", what, e)
            })?;
        // The engine discards what the host's kernel cannot do (a block IO weight without
        // a weight-capable scheduler, swap limits without swap accounting) and says so
        // only here: never let that pass silently.
        for warning in &created.warnings {
            tracing::warn!(container = %request.name, %warning, "the Docker engine changed the container's configuration");
        }
        self.connect_extra_networks(&created.id, request).await?;
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.call(
            "start_container",
            Write,
            self.docker.start_container(id, None),
        )
        .await
        .map_err(|e| map_error("start_container", format!("container {id}"), e))
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            ..StopContainerOptions::default()
        };
        // The engine answers only once the container stopped: allow the whole grace.
        let docker = self.docker.clone().with_timeout(grace + STOP_SLACK);
        self.call(
            "stop_container",
            Write,
            docker.stop_container(id, Some(options)),
        )
        .await
        .map_err(|e| map_error("stop_container", format!("container {id}"), e))
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptions {
            force: true,
            v: false,
            ..RemoveContainerOptions::default()
        };
        match self
            .call(
                "remove_container",
                Write,
                self.docker.remove_container(id, Some(options)),
            )
            .await
        {
            Err(e) if status_of(&e) != Some(404) => {
                Err(map_error("remove_container", format!("container {id}"), e))
            }
            _ => Ok(()),
        }
    }

    async fn tag_image(&self, image: &str, reference: &str) -> Result<()> {
        let repo = crate::model::repository_of(reference);
        let tag = reference[repo.len()..].trim_start_matches(':');
        let options = TagImageOptions {
            repo: Some(repo.to_owned()),
            tag: Some(if tag.is_empty() { "latest" } else { tag }.to_owned()),
        };
        self.call(
            "tag_image",
            Write,
            self.docker.tag_image(image, Some(options)),
        )
        .await
        .map_err(|e| map_error("tag_image", format!("image {image}"), e))
    }

    async fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        let options = RenameContainerOptions {
            name: name.to_owned(),
        };
        self.call(
            "rename_container",
            Write,
            self.docker.rename_container(id, options),
        )
        .await
        .map_err(|e| {
            let what = match status_of(&e) {
                Some(409) => format!("container name {name}"),
                _ => format!("container {id}"),
            };
            map_error("rename_container", what, e)
        })
    }

    async fn list_managed_networks(&self, project: Option<&str>) -> Result<Vec<ManagedNetwork>> {
        let mut filter = self.owned_filter();
        filter.extend(project.map(|p| format!("{}={p}", labels::PROJECT)));
        let options = ListNetworksOptions {
            filters: Some(label_filter(&filter)),
        };
        let networks = self
            .call(
                "list_networks",
                Read,
                self.docker.list_networks(Some(options)),
            )
            .await
            .map_err(|e| map_error("list_networks", "networks", e))?;
        let mut managed = Vec::with_capacity(networks.len());
        for name in networks.into_iter().filter_map(|n| n.name) {
            managed.extend(self.attached(name).await?);
        }
        managed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(managed)
    }

    async fn list_managed_volumes(&self) -> Result<Vec<ManagedVolume>> {
        let options = ListVolumesOptions {
            filters: Some(label_filter(&self.owned_filter())),
        };
        let listed = self
            .call(
                "list_volumes",
                Read,
                self.docker.list_volumes(Some(options)),
            )
            .await
            .map_err(|e| map_error("list_volumes", "volumes", e))?;
        let mut volumes: Vec<ManagedVolume> = listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| ManagedVolume {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .collect();
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(volumes)
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        match self
            .call("remove_network", Write, self.docker.remove_network(name))
            .await
        {
            Err(e) if status_of(&e) != Some(404) => {
                Err(map_error("remove_network", format!("network {name}"), e))
            }
            _ => Ok(()),
        }
    }

    fn events(&self) -> BoxStream<'static, Result<RuntimeEvent>> {
        self.recorder
            .record("events", Read, Outcome::Ok, Duration::ZERO);
        // bollard sends the request only when the stream is first polled, which is after
        // the caller's relist. `since` = now (less a second of margin for clock granularity)
        // makes the engine replay what happens in between, so nothing is lost; a replayed
        // event only causes an idempotent re-inspect.
        let options = EventsOptions {
            since: Some(events::since_now(Duration::from_secs(1))),
            filters: Some(events::filters()),
            ..EventsOptions::default()
        };
        let instance = self.instance().to_owned();
        self.docker
            .events(Some(options))
            .filter_map(move |item| {
                let mapped = match item {
                    Ok(message) => events::map_event(message, &instance).map(Ok),
                    Err(e) => Some(Err(map_error("events", "event stream", e))),
                };
                std::future::ready(mapped)
            })
            .boxed()
    }

    fn call_counts(&self) -> CallCounts {
        self.stats().call_counts()
    }
}
