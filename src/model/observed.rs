//! What the engine runs, as the observed store holds it: managed containers and the local
//! image tags, each already reduced to what the planner reads.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The observed state of the host: one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedState {
    /// Managed containers (those with `io.composectl.managed=true`), by container ID.
    pub containers: BTreeMap<String, ObservedContainer>,
    /// Local image tags: normalized reference ([`normalize_image_ref`]) to image ID.
    pub images: BTreeMap<String, String>,
    /// Images built by composectl, by build hash (the `io.composectl.build-hash` label):
    /// hash to image ID, tagged or not.
    #[serde(default)]
    pub built: BTreeMap<String, String>,
    /// Networks composectl created, by Docker name.
    #[serde(default)]
    pub networks: BTreeMap<String, ObservedResource>,
    /// Volumes composectl created, by Docker name.
    #[serde(default)]
    pub volumes: BTreeMap<String, ObservedResource>,
}

/// The local images as one list of the engine reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageList {
    /// Normalized tag to image ID.
    pub tags: BTreeMap<String, String>,
    /// Build hash to image ID, for the images carrying composectl's build-hash label
    /// (whichever instance built them: the same inputs make the same image).
    pub built: BTreeMap<String, String>,
}

/// A network or volume composectl created, as its labels describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedResource {
    /// `com.docker.compose.project`.
    pub project: String,
    /// The compose key (`com.docker.compose.network` / `.volume`).
    pub key: String,
    /// All of its labels (the definition's identity among them, see
    /// [`super::resource_hash`]).
    pub labels: BTreeMap<String, String>,
}

impl ObservedResource {
    /// Reads the project and the compose key (under `kind_key`) from `labels`.
    pub fn from_labels(labels: BTreeMap<String, String>, kind_key: &str) -> Self {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        Self {
            project: get(super::labels::PROJECT),
            key: get(kind_key),
            labels,
        }
    }
}

/// One managed container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedContainer {
    /// Full container ID.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// `com.docker.compose.project`.
    pub project: String,
    /// `com.docker.compose.service`.
    pub service: String,
    /// `com.docker.compose.container-number` (0 when the label is missing or malformed).
    pub number: u32,
    /// `com.docker.compose.config-hash` (empty when missing).
    pub config_hash: String,
    /// ID of the image the container runs (`sha256:...`).
    pub image_id: String,
    /// Lifecycle state.
    pub state: ContainerState,
    /// Health, when the container has a healthcheck.
    pub health: Option<Health>,
    /// Exit code of the last run, when the container has exited.
    pub exit_code: Option<i64>,
    /// The kernel OOM-killed the last run (known after an inspect, false from a list).
    pub oom_killed: bool,
    /// When the last run ended (`State.FinishedAt`), milliseconds since the epoch: known
    /// after an inspect of an exited or dead container, `None` otherwise.
    pub finished_at: Option<i64>,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Docker network names the container is attached to.
    pub networks: Vec<String>,
    /// Its address on the first of those networks (by name) that gives it one.
    pub ip: Option<std::net::IpAddr>,
    /// Names of the named volumes the container mounts.
    pub volumes: Vec<String>,
    /// All labels.
    pub labels: BTreeMap<String, String>,
}

/// Docker's container states.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum ContainerState {
    /// Created, never started.
    #[default]
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Docker's restart policy is restarting it (or waiting to).
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead (removal failed half-way).
    Dead,
}

/// Docker's health states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Within the start period or before the first check.
    Starting,
    /// The last check passed.
    Healthy,
    /// `retries` consecutive checks failed.
    Unhealthy,
}

impl ContainerState {
    /// Parses Docker's state string (`running`, `exited`, ...); unknown strings are `Dead`.
    pub fn parse(state: &str) -> Self {
        match state {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            _ => Self::Dead,
        }
    }

    /// Docker's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
        }
    }
}

impl Health {
    /// Parses Docker's health string; `none` and unknown strings are `None`.
    pub fn parse(health: &str) -> Option<Self> {
        match health {
            "starting" => Some(Self::Starting),
            "healthy" => Some(Self::Healthy),
            "unhealthy" => Some(Self::Unhealthy),
            _ => None,
        }
    }
}

impl ObservedState {
    /// The managed containers of `project`.
    pub fn project(&self, project: &str) -> impl Iterator<Item = &ObservedContainer> {
        self.containers
            .values()
            .filter(move |c| c.project == project)
    }

    /// The names of every project that has at least one managed container.
    pub fn projects(&self) -> BTreeSet<&str> {
        self.containers
            .values()
            .map(|c| c.project.as_str())
            .collect()
    }

    /// The local image ID `reference` resolves to, if the image is present.
    pub fn image_id(&self, reference: &str) -> Option<&str> {
        self.images
            .get(&normalize_image_ref(reference))
            .map(String::as_str)
    }

    /// Docker network names some managed container is attached to (so they exist).
    pub fn known_networks(&self) -> BTreeSet<&str> {
        self.containers
            .values()
            .flat_map(|c| c.networks.iter().map(String::as_str))
            .collect()
    }

    /// Volume names some managed container mounts (so they exist).
    pub fn known_volumes(&self) -> BTreeSet<&str> {
        self.containers
            .values()
            .flat_map(|c| c.volumes.iter().map(String::as_str))
            .collect()
    }
}

/// Normalizes an image reference the way the engine lists tags: `docker.io/library/` and
/// `docker.io/` dropped, `:latest` added when there is neither tag nor digest.
pub fn normalize_image_ref(reference: &str) -> String {
    let short = reference
        .strip_prefix("docker.io/library/")
        .or_else(|| reference.strip_prefix("docker.io/"))
        .or_else(|| reference.strip_prefix("index.docker.io/library/"))
        .unwrap_or(reference);
    if short.contains('@') {
        return short.to_owned();
    }
    let last = short.rsplit('/').next().unwrap_or(short);
    if last.contains(':') {
        short.to_owned()
    } else {
        format!("{short}:latest")
    }
}

/// The repository of an image reference, without tag or digest (`127.0.0.1:5000/app:v2`
/// gives `127.0.0.1:5000/app`).
pub fn repository_of(reference: &str) -> &str {
    let reference = reference.split('@').next().unwrap_or(reference);
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].find(':') {
        Some(colon) => &reference[..slash + colon],
        None => reference,
    }
}

/// The `:previous` tag of the repository of `reference`.
pub fn previous_tag(reference: &str) -> String {
    format!("{}:previous", repository_of(reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_tag_keeps_registry_ports_and_drops_tags_and_digests() {
        assert_eq!(previous_tag("nginx"), "nginx:previous");
        assert_eq!(previous_tag("shop/web:1.4"), "shop/web:previous");
        assert_eq!(
            previous_tag("127.0.0.1:5000/app:v2"),
            "127.0.0.1:5000/app:previous"
        );
        assert_eq!(
            previous_tag("127.0.0.1:5000/app"),
            "127.0.0.1:5000/app:previous"
        );
        assert_eq!(previous_tag("app@sha256:abcd"), "app:previous");
    }

    #[test]
    fn references_normalize_like_the_engine_lists_them() {
        assert_eq!(normalize_image_ref("nginx"), "nginx:latest");
        assert_eq!(
            normalize_image_ref("docker.io/library/nginx:1.27"),
            "nginx:1.27"
        );
        assert_eq!(
            normalize_image_ref("127.0.0.1:5000/app"),
            "127.0.0.1:5000/app:latest"
        );
        assert_eq!(
            normalize_image_ref("127.0.0.1:5000/app:v2"),
            "127.0.0.1:5000/app:v2"
        );
        assert_eq!(normalize_image_ref("app@sha256:abc"), "app@sha256:abc");
    }

    #[test]
    fn unknown_states_are_dead_and_unknown_health_is_none() {
        assert_eq!(ContainerState::parse("running"), ContainerState::Running);
        assert_eq!(ContainerState::parse("weird"), ContainerState::Dead);
        assert_eq!(Health::parse("none"), None);
        assert_eq!(Health::parse("unhealthy"), Some(Health::Unhealthy));
    }
}
