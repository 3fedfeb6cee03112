//! Listing the engine into the store: the full [`relist`] after every (re)connection of
//! the event stream (containers, images, networks, volumes), the periodic [`resync`] of the
//! containers and images only (the anti-entropy pass: two reads), and the networks and
//! volumes again after an event on one of them ([`list_resources`]).

use std::collections::BTreeMap;

use super::{Error, Result, Store};
use crate::model::observed::ObservedResource;
use crate::model::{ContainerState, ObservedContainer, ObservedState, labels};
use crate::runtime::ContainerRuntime;

/// Lists managed containers, local images, managed networks and volumes, inspects the
/// containers that do not run (a list has no finish time, which tells an exit the engine
/// caused; see [`super::engine`]), then swaps them into `store`.
pub async fn relist<R: ContainerRuntime>(runtime: &R, store: &Store) -> Result<()> {
    let listed_at = store.version();
    let mut state = list_containers(runtime).await?;
    (state.networks, state.volumes) = list_resources(runtime).await?;
    store.replace_listed(state, listed_at);
    Ok(())
}

/// The periodic pass: lists managed containers and local images (inspecting those that do
/// not run, as [`relist`] does) and swaps them in; networks and volumes stay as events and
/// the last [`relist`] left them.
pub async fn resync<R: ContainerRuntime>(runtime: &R, store: &Store) -> Result<()> {
    let listed_at = store.version();
    let state = list_containers(runtime).await?;
    store.replace_containers(state, listed_at);
    Ok(())
}

/// Lists the managed networks and volumes and puts them in `store`; false when the store
/// already held them as they are.
pub async fn refresh_resources<R: ContainerRuntime>(runtime: &R, store: &Store) -> Result<bool> {
    let (networks, volumes) = list_resources(runtime).await?;
    Ok(store.set_resources(networks, volumes))
}

/// Containers (inspected where the list lacks their finish time) and images, both lists
/// asked for at once.
async fn list_containers<R: ContainerRuntime>(runtime: &R) -> Result<ObservedState> {
    let (listed, images) = tokio::join!(runtime.list_containers(), runtime.list_images());
    let (listed, images) = (
        listed.map_err(Error::Relist)?,
        images.map_err(Error::Relist)?,
    );
    let mut containers = BTreeMap::new();
    for container in listed {
        let container = if needs_inspect(&container) {
            let inspected = runtime.inspect_container(&container.id).await;
            match inspected.map_err(Error::Relist)? {
                Some(inspected) => inspected,
                // Removed since the list.
                None => continue,
            }
        } else {
            container
        };
        containers.insert(container.id.clone(), container);
    }
    Ok(ObservedState {
        containers,
        images: images.tags,
        built: images.built,
        ..ObservedState::default()
    })
}

/// The managed networks and volumes, by name.
type Resources = (
    BTreeMap<String, ObservedResource>,
    BTreeMap<String, ObservedResource>,
);

async fn list_resources<R: ContainerRuntime>(runtime: &R) -> Result<Resources> {
    let networks = runtime
        .list_managed_networks(None)
        .await
        .map_err(Error::Relist)?;
    let volumes = runtime
        .list_managed_volumes()
        .await
        .map_err(Error::Relist)?;
    let networks = networks
        .into_iter()
        .map(|n| {
            let resource = ObservedResource::from_labels(n.labels, labels::NETWORK);
            (n.name, resource)
        })
        .collect();
    let volumes = volumes
        .into_iter()
        .map(|v| {
            let resource = ObservedResource::from_labels(v.labels, labels::VOLUME);
            (v.name, resource)
        })
        .collect();
    Ok((networks, volumes))
}

/// Whether a listed container lacks what only an inspect gives: the finish time of an
/// exited or dead container.
fn needs_inspect(container: &ObservedContainer) -> bool {
    matches!(
        container.state,
        ContainerState::Exited | ContainerState::Dead
    ) && container.finished_at.is_none()
}
