//! Registry reads through the engine, without pulling: the manifest digest a tag names in
//! its registry (`GET /distribution/{name}/json`, with the pull path's credentials) and the
//! local image's `RepoDigests` (`GET /images/{name}/json`). Registry watching compares the
//! two.

use super::stats::CallKind::Read;
use super::{DockerRuntime, auth, map_error, status_of};
use crate::runtime::{Error, ImageInfo, Result};

impl DockerRuntime {
    /// The digest `reference` names in its registry right now.
    pub(super) async fn distribution_digest(&self, reference: &str) -> Result<String> {
        let operation = "inspect_distribution";
        let credentials = auth::credentials_for(reference).map_err(|e| Error::Engine {
            operation,
            message: e.to_string(),
        })?;
        let inspect = self
            .call(
                operation,
                Read,
                self.docker.inspect_registry_image(reference, credentials),
            )
            .await
            .map_err(|e| map_error(operation, format!("image {reference} in its registry"), e))?;
        let digest = inspect.descriptor.digest.unwrap_or_default();
        if digest.is_empty() {
            return Err(Error::Engine {
                operation,
                message: format!("the registry gave no digest for {reference}"),
            });
        }
        Ok(digest)
    }

    /// The local image `reference` names, with its `RepoDigests`.
    pub(super) async fn image_info(&self, reference: &str) -> Result<Option<ImageInfo>> {
        let operation = "inspect_image";
        match self
            .call(operation, Read, self.docker.inspect_image(reference))
            .await
        {
            Ok(image) => Ok(Some(ImageInfo {
                id: image.id.unwrap_or_default(),
                repo_digests: image.repo_digests.unwrap_or_default(),
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(map_error(operation, format!("image {reference}"), e)),
        }
    }
}
