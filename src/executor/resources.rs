//! Image, network and volume actions: pull, tag, ensure, prune.

use std::collections::BTreeMap;

use tracing::{debug, info};

use super::{Error, Executor, Result, failed, unknown};
use crate::model::observed::{ObservedResource, normalize_image_ref};
use crate::model::spec::{NetworkSpec, ProjectSpec};
use crate::model::{labels, resource_hash};
use crate::plan::Action;
use crate::runtime::{self, ContainerRuntime};

impl<R: ContainerRuntime> Executor<R> {
    /// Pulls `image` (for the `platform` of the first service that runs it and names
    /// one), records when, then refreshes the store's images so the next plan sees it.
    pub(super) async fn pull(
        &self,
        project: &ProjectSpec,
        action: &Action,
        image: &str,
    ) -> Result<usize> {
        let platform = project
            .services
            .values()
            .filter(|s| normalize_image_ref(&s.image) == normalize_image_ref(image))
            .find_map(|s| s.platform.as_deref());
        self.runtime
            .pull_image(image, platform)
            .await
            .map_err(failed(action))?;
        self.store.record_pull(image);
        let images = self.runtime.list_images().await.map_err(failed(action))?;
        self.store.set_images(images);
        Ok(1)
    }

    /// Points `reference` at `image_id` (a rollout's `:previous` tag).
    pub(super) async fn tag(
        &self,
        action: &Action,
        reference: &str,
        image_id: &str,
        service: &str,
    ) -> Result<usize> {
        match self.runtime.tag_image(image_id, reference).await {
            Ok(()) => {}
            Err(runtime::Error::NotFound { .. }) => {
                return Err(Error::PreviousGone {
                    service: service.to_owned(),
                    reference: reference.to_owned(),
                    image_id: image_id.to_owned(),
                });
            }
            Err(source) => return Err(failed(action)(source)),
        }
        let images = self.runtime.list_images().await.map_err(failed(action))?;
        self.store.set_images(images);
        Ok(1)
    }

    /// Creates network `key` unless it is external or exists.
    pub(super) async fn ensure_network(
        &self,
        project: &ProjectSpec,
        action: &Action,
        key: &str,
    ) -> Result<usize> {
        let spec = project
            .networks
            .get(key)
            .ok_or_else(|| unknown(action, "network", key))?;
        if spec.external {
            debug!(network = %spec.name, "external network; composectl does not create it");
            return Ok(0);
        }
        let labels = network_labels(project, key, spec);
        let ensured = self.runtime.ensure_network(spec, &labels).await;
        ensured.map_err(failed(action))?;
        self.store.upsert_network(
            &spec.name,
            ObservedResource::from_labels(labels, labels::NETWORK),
        );
        Ok(1)
    }

    /// Creates volume `key` unless it is external or exists.
    pub(super) async fn ensure_volume(
        &self,
        project: &ProjectSpec,
        action: &Action,
        key: &str,
    ) -> Result<usize> {
        let spec = project
            .volumes
            .get(key)
            .ok_or_else(|| unknown(action, "volume", key))?;
        if spec.external {
            debug!(volume = %spec.name, "external volume; composectl does not create it");
            return Ok(0);
        }
        let mut labels = labels::resource_labels(&project.name, labels::VOLUME, key, &spec.labels);
        labels.extend(resource_hash::identity_labels(
            &resource_hash::volume_fields(spec),
        ));
        let ensured = self.runtime.ensure_volume(spec, &labels).await;
        ensured.map_err(failed(action))?;
        self.store.upsert_volume(
            &spec.name,
            ObservedResource::from_labels(labels, labels::VOLUME),
        );
        Ok(1)
    }

    /// Removes the project's managed networks that nothing uses and the spec no longer names.
    pub(super) async fn prune_networks(
        &self,
        project: &ProjectSpec,
        action: &Action,
    ) -> Result<usize> {
        let listed = self
            .runtime
            .list_managed_networks(Some(&project.name))
            .await;
        let mut writes = 0;
        for network in listed.map_err(failed(action))? {
            let desired = project.networks.values().any(|n| n.name == network.name);
            if desired || network.attached() > 0 {
                continue;
            }
            info!(project = %project.name, network = %network.name, "removing unused network");
            let removed = self.runtime.remove_network(&network.name).await;
            removed.map_err(failed(action))?;
            self.store.forget_network(&network.name);
            writes += 1;
        }
        Ok(writes)
    }
}

/// The labels of network `key` of `project`: compose's and composectl's, and the identity
/// of its definition ([`resource_hash`]).
pub(super) fn network_labels(
    project: &ProjectSpec,
    key: &str,
    spec: &NetworkSpec,
) -> BTreeMap<String, String> {
    let mut labels = labels::resource_labels(&project.name, labels::NETWORK, key, &spec.labels);
    labels.extend(resource_hash::identity_labels(
        &resource_hash::network_fields(spec),
    ));
    labels
}
