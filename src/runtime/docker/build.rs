//! Image builds through the engine's `/build` endpoint with the classic builder: the
//! request's query parameters, the output stream drained (each line logged at debug, the
//! last ones and the current step kept for the error), the timeout, then the extra tags.

use std::collections::{BTreeMap, VecDeque};

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{BuildImageOptions, ListImagesOptions};
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use super::ops::{label_filter, merged, non_empty};
use super::stats::{CallKind, Outcome};
use super::{DockerRuntime, map_error};
use crate::model::observed::normalize_image_ref;
use crate::runtime::{
    BUILD_OUTPUT_LINES, BuildFailure, BuiltImage, ContainerRuntime, Error, ImageBuild, Result,
};

/// The query parameters of `request`; refuses what the endpoint cannot carry.
fn options(request: &ImageBuild, labels: BTreeMap<String, String>) -> Result<BuildImageOptions> {
    let s = &request.settings;
    let refuse = |message: String| -> Error {
        BuildFailure {
            image: request.tag.clone(),
            step: None,
            message,
            output: Vec::new(),
        }
        .into()
    };
    if s.extra_hosts.len() > 1 {
        return Err(refuse(
            "the classic builder takes one build extra host; keep one in build.extra_hosts".into(),
        ));
    }
    let shmsize = s
        .shm_size
        .map(i32::try_from)
        .transpose()
        .map_err(|_| refuse("build.shm_size is over 2 GiB; make it smaller".into()))?;
    Ok(BuildImageOptions {
        dockerfile: request.dockerfile.clone(),
        t: Some(request.tag.clone()),
        extrahosts: s.extra_hosts.first().cloned(),
        nocache: s.no_cache,
        cachefrom: (!s.cache_from.is_empty()).then(|| s.cache_from.clone()),
        pull: s.pull.then(|| "1".to_owned()),
        rm: true,
        forcerm: true,
        buildargs: non_empty(&s.args),
        shmsize,
        labels: Some(labels.into_iter().collect()),
        networkmode: s.network.clone(),
        target: s.target.clone().unwrap_or_default(),
        ..BuildImageOptions::default()
    })
}

/// What the output stream told so far.
#[derive(Default)]
struct Progress {
    step: Option<String>,
    tail: VecDeque<String>,
}

impl Progress {
    fn line(&mut self, image: &str, line: &str) {
        let line = line.trim_end();
        if line.trim().is_empty() {
            return;
        }
        tracing::debug!(image, "build: {line}");
        if line.starts_with("Step ") {
            self.step = Some(line.to_owned());
        }
        if self.tail.len() == BUILD_OUTPUT_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    fn failed(self, image: &str, message: String) -> Error {
        BuildFailure {
            image: image.to_owned(),
            step: self.step,
            message,
            output: self.tail.into(),
        }
        .into()
    }
}

/// Drains the build's output; its first error is the result.
async fn drain(
    image: &str,
    mut stream: impl Stream<Item = std::result::Result<bollard::models::BuildInfo, BollardError>>
    + Unpin,
) -> Result<(), (Progress, std::result::Result<String, BollardError>)> {
    let mut progress = Progress::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                for line in info.stream.as_deref().unwrap_or_default().lines() {
                    progress.line(image, line);
                }
                if let Some(detail) = info.error_detail {
                    let message = detail.message.unwrap_or_else(|| "the build failed".into());
                    return Err((progress, Ok(message)));
                }
            }
            Err(BollardError::DockerStreamError { error }) => return Err((progress, Ok(error))),
            Err(other) => return Err((progress, Err(other))),
        }
    }
    Ok(())
}

impl DockerRuntime {
    /// [`ContainerRuntime::build_image`].
    pub(super) async fn build(&self, request: &ImageBuild) -> Result<String> {
        let start = Instant::now();
        let result = self.build_and_tag(request).await;
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Error
        };
        self.recorder
            .record("build_image", CallKind::Write, outcome, start.elapsed());
        match &result {
            Ok(id) => tracing::info!(
                image = request.tag,
                id,
                seconds = start.elapsed().as_secs(),
                "built image"
            ),
            Err(e) => tracing::info!(image = request.tag, "image build failed: {e}"),
        }
        result
    }

    async fn build_and_tag(&self, request: &ImageBuild) -> Result<String> {
        let labels = merged(
            &request.settings.labels,
            &self.owned_labels(&request.labels),
        );
        let options = options(request, labels.into_iter().collect())?;
        let body = bollard::body_full(request.archive.clone());
        let stream = self.docker.build_image(options, None, Some(body));
        let image = request.tag.as_str();
        match tokio::time::timeout(request.timeout, drain(image, stream)).await {
            Err(_) => {
                return Err(BuildFailure {
                    image: image.to_owned(),
                    step: None,
                    message: format!(
                        "it did not finish within {}s; make it faster or raise the build timeout",
                        request.timeout.as_secs()
                    ),
                    output: Vec::new(),
                }
                .into());
            }
            Ok(Err((progress, Ok(message)))) => return Err(progress.failed(image, message)),
            Ok(Err((_, Err(e)))) => return Err(map_error("build_image", image, e)),
            Ok(Ok(())) => {}
        }
        let inspected = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| map_error("build_image", format!("image {image}"), e))?;
        let id = inspected.id.unwrap_or_default();
        for tag in &request.settings.tags {
            self.tag_image(&id, tag).await?;
        }
        Ok(id)
    }

    /// [`ContainerRuntime::list_built_images`].
    pub(super) async fn built_images(&self) -> Result<Vec<BuiltImage>> {
        let mut filter = self.owned_filter();
        filter.push(crate::model::labels::BUILD_HASH.to_owned());
        let options = ListImagesOptions {
            filters: Some(label_filter(&filter)),
            ..ListImagesOptions::default()
        };
        let images = self
            .call(
                "list_built_images",
                CallKind::Read,
                self.docker.list_images(Some(options)),
            )
            .await
            .map_err(|e| map_error("list_built_images", "images", e))?;
        Ok(images
            .into_iter()
            .map(|image| BuiltImage {
                id: image.id,
                tags: image
                    .repo_tags
                    .iter()
                    .filter(|t| *t != "<none>:<none>")
                    .map(|t| normalize_image_ref(t))
                    .collect(),
                labels: image.labels.into_iter().collect(),
                created: image.created,
            })
            .collect())
    }
}
