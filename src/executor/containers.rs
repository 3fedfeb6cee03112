//! Container actions: create (and start), stop and remove, with the safety checks that keep
//! the executor's hands off containers it does not manage.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::debug;

use super::{Error, Executor, Result, failed, unknown};
use crate::model::spec::ProjectSpec;
use crate::model::{ContainerState, labels};
use crate::plan::Action;
use crate::runtime::{self, ContainerCreate, ContainerRuntime};

/// Docker's stop grace period when the service sets none.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The stop grace period of `service` in `project` (Docker's 10 s when unknown).
pub(super) fn grace(project: &ProjectSpec, service: &str) -> Duration {
    project
        .services
        .get(service)
        .and_then(|s| s.stop_grace_period)
        .unwrap_or(DEFAULT_GRACE)
}

impl<R: ContainerRuntime> Executor<R> {
    /// Creates and starts replica `number` of `service`, then records it in the store.
    pub(super) async fn create(
        &self,
        project: &ProjectSpec,
        action: &Action,
        service: &str,
        number: u32,
    ) -> Result<usize> {
        let request = create_request(project, action, service, number)?;
        let id = self
            .runtime
            .create_container(&request)
            .await
            .map_err(failed(action))?;
        self.runtime
            .start_container(&id)
            .await
            .map_err(failed(action))?;
        let inspected = self.runtime.inspect_container(&id).await;
        if let Some(container) = inspected.map_err(failed(action))? {
            self.store.upsert(container);
        }
        Ok(2)
    }

    /// Stops and removes container `id` when the store knows it as a managed container of
    /// `project`; a container already gone is success.
    pub(super) async fn stop_remove(
        &self,
        project: &ProjectSpec,
        action: &Action,
        id: &str,
        grace: Duration,
    ) -> Result<usize> {
        let Some(known) = self.store.container(id) else {
            debug!(
                container = id,
                "not in the observed store (gone or unmanaged); skipping"
            );
            return Ok(0);
        };
        if known.project != project.name {
            return Err(Error::ForeignContainer {
                action: action.to_string(),
                id: id.to_owned(),
                owner: known.project,
            });
        }
        // A container that runs gets its grace period; one that already exited (the usual
        // heal) goes straight to removal, a call less on the heal's critical path.
        let mut writes = 1;
        if matches!(
            known.state,
            ContainerState::Running | ContainerState::Paused | ContainerState::Restarting
        ) {
            writes += 1;
            match self.runtime.stop_container(id, grace).await {
                Ok(()) | Err(runtime::Error::NotFound { .. }) => {}
                Err(source) => return Err(failed(action)(source)),
            }
        }
        let removed = self.runtime.remove_container(id).await;
        removed.map_err(failed(action))?;
        self.store.remove(id);
        Ok(writes)
    }

    /// The stop grace period of the container `id`, from its service's spec.
    pub(super) fn grace_of(&self, project: &ProjectSpec, id: &str) -> Duration {
        self.store
            .container(id)
            .map_or(DEFAULT_GRACE, |c| grace(project, &c.service))
    }
}

/// The complete create request for replica `number` of `service`.
fn create_request(
    project: &ProjectSpec,
    action: &Action,
    service: &str,
    number: u32,
) -> Result<ContainerCreate> {
    let spec = project
        .services
        .get(service)
        .ok_or_else(|| unknown(action, "service", service))?;
    let mut networks = BTreeMap::new();
    for (key, attachment) in &spec.networks {
        let network = project
            .networks
            .get(key)
            .ok_or_else(|| unknown(action, "network", key))?;
        networks.insert(network.name.clone(), attachment.clone());
    }
    Ok(ContainerCreate {
        name: labels::container_name(&project.name, spec, number),
        service: spec.clone(),
        networks,
        labels: labels::container_labels(project, spec, number),
    })
}
