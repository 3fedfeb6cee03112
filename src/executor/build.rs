//! The build action: read the service's context off the async runtime, send it to the
//! engine's build endpoint with composectl's labels (the build hash, the project and
//! service), then refresh the store's images so the next plan sees the new image. Builds
//! run at most [`BuildSettings::parallelism`] at once, each for at most
//! [`BuildSettings::timeout`]; waiting for a build slot and the build itself do not hold
//! one of the plan's parallelism permits (a long build never stalls a heal).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::info;

use super::permit::Permit;
use super::{Error, Executor, Result, failed};
use crate::build::{Context, Limits};
use crate::model::labels;
use crate::model::spec::ProjectSpec;
use crate::plan::Action;
use crate::runtime::{ContainerRuntime, ImageBuild};

/// How builds run: at most `parallelism` at once, each for at most `timeout`.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// Builds at once (at least one).
    pub parallelism: usize,
    /// Longest build.
    pub timeout: Duration,
}

/// One build at a time, 30 minutes at most each.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Default for BuildSettings {
    fn default() -> Self {
        Self {
            parallelism: 1,
            timeout: DEFAULT_BUILD_TIMEOUT,
        }
    }
}

/// The build slots shared by every execution of one executor.
#[derive(Debug, Clone)]
pub(super) struct BuildSlots {
    pub settings: BuildSettings,
    pub semaphore: Arc<Semaphore>,
}

impl BuildSlots {
    pub fn new(settings: BuildSettings) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(settings.parallelism.max(1))),
            settings,
        }
    }
}

impl<R: ContainerRuntime> Executor<R> {
    /// Builds the image of `service` from its context; the inputs read now must still be
    /// those hashed `hash` at load, else the build is left to the next plan (the files
    /// changed meanwhile, and their load follows).
    pub(super) async fn build(
        &self,
        project: &ProjectSpec,
        action: &Action,
        service: &str,
        hash: &str,
        permit: &Permit,
    ) -> Result<usize> {
        let spec = project
            .services
            .get(service)
            .and_then(|s| s.build.as_ref().map(|b| (s.image.clone(), b.clone())))
            .ok_or_else(|| super::unknown(action, "service with build", service))?;
        let (image, settings) = spec;
        let slots = self.builds.clone();
        let run = async {
            let _slot = slots
                .semaphore
                .acquire()
                .await
                .expect("the build semaphore is never closed");
            let read_settings = settings.clone();
            let read = tokio::task::spawn_blocking(move || {
                Context::archive(&read_settings, &Limits::default())
            })
            .await
            .expect("reading a build context does not panic");
            let (context, archive) = read.map_err(|source| Error::BuildContext {
                action: action.to_string(),
                source,
            })?;
            if context.hash != hash {
                return Err(Error::BuildContextMoved {
                    action: action.to_string(),
                });
            }
            let request = ImageBuild {
                tag: image.clone(),
                dockerfile: context.dockerfile.clone(),
                archive: archive.into(),
                settings,
                labels: BTreeMap::from([
                    (labels::MANAGED.to_owned(), "true".to_owned()),
                    (labels::BUILD_HASH.to_owned(), context.hash.clone()),
                    (labels::PROJECT.to_owned(), project.name.clone()),
                    (labels::SERVICE.to_owned(), service.to_owned()),
                ]),
                timeout: slots.settings.timeout,
            };
            info!(%action, "building image");
            self.runtime
                .build_image(&request)
                .await
                .map_err(|source| Error::BuildFailed {
                    action: action.to_string(),
                    service: service.to_owned(),
                    hash: hash.to_owned(),
                    source,
                })
        };
        permit.waiting(run).await?;
        let images = self.runtime.list_images().await.map_err(failed(action))?;
        self.store.set_images(images);
        Ok(1)
    }
}

impl<R: ContainerRuntime> Executor<R> {
    /// Removes the images composectl built for `project` that nothing needs any more
    /// ([`crate::build::decide::unused`]: not among the newest few of their service, not
    /// tagged, run by no container); an image the engine still finds in use is kept.
    /// Returns the IDs removed.
    pub async fn remove_unused_images(
        &self,
        project: &str,
    ) -> Result<Vec<String>, crate::runtime::Error> {
        let built = self.runtime.list_built_images().await?;
        let observed = self.store.snapshot();
        let in_use = observed
            .containers
            .values()
            .map(|c| c.image_id.as_str())
            .collect();
        let mut removed = Vec::new();
        for id in crate::build::decide::unused(&built, project, &in_use) {
            if self.runtime.remove_image(&id).await? {
                info!(project, image = %id, "removed an image composectl built and no longer uses");
                removed.push(id);
            }
        }
        if !removed.is_empty() {
            self.store.set_images(self.runtime.list_images().await?);
        }
        Ok(removed)
    }
}
