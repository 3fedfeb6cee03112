//! The container runtime boundary: the [`ContainerRuntime`] trait, the only way composectl
//! talks to an engine.
//!
//! - [`docker`]: the bollard implementation (unix socket or `DOCKER_HOST`, Engine API 1.41).
//! - `fake`: an in-memory engine for tests that records every call and emits events through
//!   a channel, so everything above this trait is tested without Docker. It is compiled for
//!   the crate's own tests and with the `test-util` feature (the integration tests turn it
//!   on), never into the release binary.
//!
//! Reads return the model's observed types; writes take fully resolved requests
//! ([`ContainerCreate`]), so no compose knowledge lives below this line.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures_util::stream::BoxStream;

use crate::model::ObservedContainer;
pub use crate::model::observed::ImageList;
use crate::model::spec::{BuildSpec, NetworkSpec, ServiceNetwork, ServiceSpec, VolumeSpec};

pub mod docker;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;

/// Errors from the runtime. Every variant names the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine could not be reached (socket missing, connection refused, timeout).
    #[error(
        "{operation}: cannot reach the Docker engine: {message} (is dockerd running and DOCKER_HOST right?)"
    )]
    Unavailable {
        /// The operation, e.g. `list_containers`.
        operation: &'static str,
        /// What the client said.
        message: String,
    },
    /// The object does not exist.
    #[error("{operation}: {what} not found")]
    NotFound {
        /// The operation.
        operation: &'static str,
        /// What was missing (a container, an image, a network).
        what: String,
    },
    /// A name is already taken by another object (for example an unmanaged container).
    #[error(
        "{operation}: {what} already exists; remove or rename it, composectl never touches objects it does not manage"
    )]
    Conflict {
        /// The operation.
        operation: &'static str,
        /// The object whose name is taken.
        what: String,
    },
    /// An image build failed or outlasted its timeout (boxed: the error type stays small).
    #[error("{0}")]
    BuildFailed(Box<BuildFailure>),
    /// The engine answered with an error.
    #[error("{operation}: the engine said: {message}")]
    Engine {
        /// The operation.
        operation: &'static str,
        /// The engine's message.
        message: String,
    },
}

/// Lines of a build's output kept for its error.
pub const BUILD_OUTPUT_LINES: usize = 20;

/// Why a build failed: the step, the engine's message and the last lines of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailure {
    /// The image being built (the service's image name).
    pub image: String,
    /// The builder's last `Step N/M : ...` line before the failure, when it printed one.
    pub step: Option<String>,
    /// The engine's error, or what else went wrong (a timeout).
    pub message: String,
    /// The last lines of the build's output (at most [`BUILD_OUTPUT_LINES`]).
    pub output: Vec<String>,
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "build_image: building {} failed", self.image)?;
        if let Some(step) = &self.step {
            write!(f, " at `{step}`")?;
        }
        write!(f, ": {}", self.message)?;
        if !self.output.is_empty() {
            write!(f, "; last output lines:")?;
            for line in &self.output {
                write!(f, "\n  | {line}")?;
            }
        }
        write!(
            f,
            "\nfix the Dockerfile or the context; the build is tried again when its inputs change"
        )
    }
}

impl From<BuildFailure> for Error {
    fn from(failure: BuildFailure) -> Self {
        Self::BuildFailed(Box::new(failure))
    }
}

/// One image build, resolved: the context's archive and the settings the engine needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageBuild {
    /// The tag the image gets (the service's image name).
    pub tag: String,
    /// The Dockerfile's path in the archive.
    pub dockerfile: String,
    /// The context as a tar ([`crate::build::Context::archive`]).
    pub archive: hyper::body::Bytes,
    /// The build settings (args, target, labels, network, extra hosts, shm size, cache
    /// sources, `no_cache`, `pull`, extra `tags`); its context path is not used.
    pub settings: BuildSpec,
    /// composectl's labels for the image (the build hash, project, service), over the
    /// settings' labels.
    pub labels: BTreeMap<String, String>,
    /// How long the build may take.
    pub timeout: Duration,
}

/// An image this composectl instance built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltImage {
    /// Image ID (`sha256:...`).
    pub id: String,
    /// Its tags, normalized.
    pub tags: Vec<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// When it was built, seconds since the epoch.
    pub created: i64,
}

/// What the engine knows about one local image: its ID and the registry digests it was
/// pulled by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// Image ID (`sha256:...`).
    pub id: String,
    /// `RepoDigests`: `repository@sha256:...`, one per registry manifest it was pulled by
    /// (empty for an image built or loaded here).
    pub repo_digests: Vec<String>,
}

/// Result alias for runtime operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything needed to create one container: the service spec plus what the caller
/// resolved (its name, its labels, Docker network names).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerCreate {
    /// Container name.
    pub name: String,
    /// The service (image, command, environment, mounts, ... already resolved).
    pub service: ServiceSpec,
    /// Networks to join, by Docker network name, with aliases. The service name is added as
    /// an alias on every network by the adapter.
    pub networks: BTreeMap<String, ServiceNetwork>,
    /// Complete labels (user's, compose's and composectl's).
    pub labels: BTreeMap<String, String>,
}

/// A network composectl created (so may remove), with what is attached to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedNetwork {
    /// Docker network name.
    pub name: String,
    /// Its labels (project, compose key, the definition's identity).
    pub labels: BTreeMap<String, String>,
    /// IDs of the containers attached right now (managed or not), sorted.
    pub containers: Vec<String>,
}

impl ManagedNetwork {
    /// How many containers are attached right now.
    pub fn attached(&self) -> usize {
        self.containers.len()
    }
}

/// A volume composectl created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedVolume {
    /// Docker volume name.
    pub name: String,
    /// Its labels (project, compose key, the definition's identity).
    pub labels: BTreeMap<String, String>,
}

/// What a `die` event says of the run that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The process's exit code (`exitCode`).
    pub code: i64,
    /// When the engine logged the exit, milliseconds since the epoch.
    pub at_ms: i64,
}

/// One engine event that may change the observed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// Something happened to a managed container (`start`, `die`, `destroy`,
    /// `health_status: unhealthy`, ...).
    Container {
        /// Container ID.
        id: String,
        /// Docker's action string.
        action: String,
        /// The container's project label.
        project: Option<String>,
        /// On a `die` event: the exit code and when the engine saw it.
        exit: Option<Exit>,
    },
    /// An image was pulled, tagged, untagged or deleted.
    Image {
        /// Docker's action string.
        action: String,
    },
    /// A network or volume was created or removed, by anyone (the engine's event carries
    /// no labels): the managed ones are listed again.
    Resource {
        /// `network` or `volume`.
        kind: &'static str,
        /// Docker's action string (`create`, `destroy`).
        action: String,
    },
}

/// Counts of API calls made so far, for metrics and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Read calls by operation.
    pub reads: BTreeMap<&'static str, u64>,
    /// Write calls by operation.
    pub writes: BTreeMap<&'static str, u64>,
}

impl CallCounts {
    /// Total read calls.
    pub fn total_reads(&self) -> u64 {
        self.reads.values().sum()
    }

    /// Total write calls.
    pub fn total_writes(&self) -> u64 {
        self.writes.values().sum()
    }
}

/// A container engine. Implementations must be cheap to share (`Arc`) across tasks.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Every container labelled `io.composectl.managed=true`, running or not. One call.
    fn list_containers(&self) -> impl Future<Output = Result<Vec<ObservedContainer>>> + Send;

    /// One container by ID or name; `None` when it does not exist or is not managed.
    fn inspect_container(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ObservedContainer>>> + Send;

    /// Local image tags (normalized reference to image ID) and the images composectl
    /// built (build hash to image ID). One call.
    fn list_images(&self) -> impl Future<Output = Result<ImageList>> + Send;

    /// Pulls `reference` (for `platform`, such as `linux/arm64`, when given; else the
    /// engine's own), with credentials from the Docker config file when it has some.
    fn pull_image(
        &self,
        reference: &str,
        platform: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The digest of the manifest `reference` names in its registry right now
    /// (`sha256:...`), asked of the registry through the engine without pulling, with
    /// credentials from the Docker config file when it has some.
    fn inspect_distribution(&self, reference: &str) -> impl Future<Output = Result<String>> + Send;

    /// The local image `reference` (a tag or an image ID) names; `None` when there is none.
    fn inspect_image(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<ImageInfo>>> + Send;

    /// Points the tag `reference` (`repository:tag`) at `image` (an image ID or
    /// reference), moving it if it pointed elsewhere.
    fn tag_image(&self, image: &str, reference: &str) -> impl Future<Output = Result<()>> + Send;

    /// Builds an image from `request.archive` with the engine's classic builder (no
    /// BuildKit), labelled with `request.labels` and this instance's ownership labels,
    /// tagged `request.tag` and each extra tag; returns the image ID. The output is logged
    /// at debug, line by line. Fails with [`Error::BuildFailed`] (the failing step, the last
    /// lines) when the build fails or outlasts `request.timeout`.
    fn build_image(&self, request: &ImageBuild) -> impl Future<Output = Result<String>> + Send;

    /// Images this instance built (labelled managed and with its instance). One call.
    fn list_built_images(&self) -> impl Future<Output = Result<Vec<BuiltImage>>> + Send;

    /// Removes the image `id` unless something still uses it (a container, another tag):
    /// `false` then, and nothing is removed. Never forced.
    fn remove_image(&self, id: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Creates the network unless a network of that name exists (then does nothing).
    fn ensure_network(
        &self,
        spec: &NetworkSpec,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Creates the volume unless a volume of that name exists (then does nothing).
    fn ensure_volume(
        &self,
        spec: &VolumeSpec,
        labels: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Creates a container (not started); returns its ID.
    fn create_container(
        &self,
        request: &ContainerCreate,
    ) -> impl Future<Output = Result<String>> + Send;

    /// Starts a created or stopped container.
    fn start_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Stops a container, giving it `grace` before SIGKILL. Already stopped is success.
    fn stop_container(&self, id: &str, grace: Duration) -> impl Future<Output = Result<()>> + Send;

    /// Renames a container.
    fn rename_container(&self, id: &str, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// Removes a container (forcefully; its anonymous volumes are kept). Gone is success.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Networks labelled managed for `project` (for every project with `None`), with the
    /// containers attached, by name.
    fn list_managed_networks(
        &self,
        project: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ManagedNetwork>>> + Send;

    /// Volumes labelled managed, of every project, by name. One call.
    fn list_managed_volumes(&self) -> impl Future<Output = Result<Vec<ManagedVolume>>> + Send;

    /// Removes a network. Gone is success.
    fn remove_network(&self, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// The engine's event stream from the moment of this call on (even when the connection
    /// opens later, at the first poll): managed-container and image events. Subscribe,
    /// then list, and nothing is missed. The stream ends or yields an error when the
    /// connection drops; the caller subscribes and relists again.
    fn events(&self) -> BoxStream<'static, Result<RuntimeEvent>>;

    /// API calls made so far.
    fn call_counts(&self) -> CallCounts;
}
