//! The daemon's [`Host`] for the watcher: the controller's loaded projects, revision
//! histories and kick channel.

use std::sync::{Arc, Weak};

use super::Result;
use super::task::{FailedRevision, Host};
use crate::controller::Shared;
use crate::model::ServiceRef;
use crate::model::spec::ServiceSpec;
use crate::rollout::record::PhaseName;
use crate::runtime::ContainerRuntime;
use crate::sync;

/// The controller, seen by the watcher (weakly: the watcher never keeps it alive).
pub struct ControllerHost<R>(pub Weak<Shared<R>>);

impl<R> ControllerHost<R> {
    /// The host of `shared`.
    pub fn new(shared: &Arc<Shared<R>>) -> Self {
        Self(Arc::downgrade(shared))
    }
}

/// Whether `service` has an `x-rollout.watch` key (cheap: the watcher refreshes every
/// second and copies only these services).
fn opts_in(service: &ServiceSpec) -> bool {
    service
        .extensions
        .get(crate::rollout::config::KEY)
        .and_then(|ext| ext.get("watch"))
        .is_some()
}

impl<R: ContainerRuntime> Host for ControllerHost<R> {
    /// The services that opt into watching (the others are not copied).
    fn services(&self) -> Vec<(ServiceRef, ServiceSpec)> {
        let Some(shared) = self.0.upgrade() else {
            return Vec::new();
        };
        let view = sync::lock(&shared.view);
        view.specs()
            .iter()
            .flat_map(|(project, spec)| {
                spec.services
                    .values()
                    .filter(|s| opts_in(s))
                    .map(move |s| (ServiceRef::new(project, &s.name), s.clone()))
            })
            .collect()
    }

    fn failed_revisions(&self, service: &ServiceRef) -> Result<Vec<FailedRevision>> {
        let Some(shared) = self.0.upgrade() else {
            return Ok(Vec::new());
        };
        let history = shared.rollouts.history(service)?;
        let mut failed: Vec<FailedRevision> = history
            .entries
            .iter()
            .filter(|e| e.failed_at.is_some())
            .map(|e| FailedRevision {
                image: e.image.clone(),
                image_id: e.key.image_id.clone(),
                digest: e.digest.clone(),
            })
            .collect();
        if let Some(record) = shared.rollouts.record(service)? {
            let phase = record.phase.name();
            if matches!(phase, PhaseName::RolledBack | PhaseName::Aborted) {
                let entry = history.get(record.target_revision);
                failed.push(FailedRevision {
                    image: entry.map(|e| e.image.clone()).unwrap_or_default(),
                    image_id: record.target.image_id.clone(),
                    digest: entry.and_then(|e| e.digest.clone()),
                });
            }
        }
        Ok(failed)
    }

    fn note_digest(&self, image_id: &str, digest: &str) {
        if let Some(shared) = self.0.upgrade() {
            shared.rollouts.note_digest(image_id, digest);
        }
    }

    fn latest_rollout(&self, service: &ServiceRef) -> Option<super::task::LatestRollout> {
        let shared = self.0.upgrade()?;
        let record = shared.rollouts.record(service).ok()??;
        let history = shared.rollouts.history(service).ok()?;
        let image = history
            .get(record.target_revision)
            .map(|e| e.image.clone())
            .unwrap_or_default();
        Some(super::task::LatestRollout {
            phase: record.phase.name(),
            image,
            image_id: record.target.image_id.clone(),
        })
    }

    fn kick(&self, project: &str) {
        if let Some(shared) = self.0.upgrade() {
            let _ = shared.kick.send(project.to_owned());
        }
    }
}
