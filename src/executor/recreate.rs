//! Recreating a network whose definition changed: the containers of the plan attached to
//! it are stopped and removed, the network is removed and created again with its new
//! definition. Nothing is touched when anything else is attached to it.

use tracing::info;

use super::permit::Permit;
use super::resources::network_labels;
use super::{Error, Executor, Result, failed, unknown};
use crate::model::labels;
use crate::model::observed::ObservedResource;
use crate::model::spec::ProjectSpec;
use crate::plan::{Action, ContainerRef};
use crate::runtime::ContainerRuntime;

impl<R: ContainerRuntime> Executor<R> {
    /// Removes the `detach`ed containers, then network `key`, then creates it again.
    pub(super) async fn recreate_network(
        &self,
        project: &ProjectSpec,
        action: &Action,
        key: &str,
        detach: &[ContainerRef],
        permit: &Permit,
    ) -> Result<usize> {
        let spec = project
            .networks
            .get(key)
            .filter(|n| !n.external)
            .ok_or_else(|| unknown(action, "network", key))?;
        let listed = self
            .runtime
            .list_managed_networks(Some(&project.name))
            .await
            .map_err(failed(action))?;
        if let Some(current) = listed.iter().find(|n| n.name == spec.name) {
            let others: Vec<&str> = current
                .containers
                .iter()
                .filter(|id| !detach.iter().any(|c| &c.id == *id))
                .map(|id| &id[..id.len().min(12)])
                .collect();
            if !others.is_empty() {
                return Err(Error::NetworkInUse {
                    action: action.to_string(),
                    network: spec.name.clone(),
                    containers: others.join(", "),
                });
            }
        }
        let mut writes = 0;
        for container in detach {
            let grace = self.grace_of(project, &container.id);
            writes += self
                .stop_remove(project, action, &container.id, grace, permit)
                .await?;
        }
        info!(project = %project.name, network = %spec.name, "recreating network");
        self.runtime
            .remove_network(&spec.name)
            .await
            .map_err(failed(action))?;
        let labels = network_labels(project, key, spec);
        self.runtime
            .ensure_network(spec, &labels)
            .await
            .map_err(failed(action))?;
        self.store.upsert_network(
            &spec.name,
            ObservedResource::from_labels(labels, labels::NETWORK),
        );
        Ok(writes + 2)
    }
}
