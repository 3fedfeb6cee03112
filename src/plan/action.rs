//! What a plan is made of: actions, each with the reason it is needed.

use std::fmt;
use std::time::Duration;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::spec::{DependsOn, ProjectSpec};

/// The changes one project needs, in the order they must happen.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// The project.
    pub project: String,
    /// Actions in execution order.
    pub actions: Vec<Action>,
    /// Changes the plan holds back for now (crash backoff, or a container left to the
    /// engine's restart policy after its return), with when to look again.
    pub deferred: Vec<Deferred>,
    /// Replica slots held on an earlier revision by a rollout: creates of these slots use
    /// the pinned spec and image instead of the desired one.
    #[serde(skip)]
    pub pins: Pins,
    /// What the plan leaves as it is on purpose although it differs from the desired state
    /// (a volume whose definition changed keeps its data and old settings).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// Services whose changes are held back because their last execution failed (or that
    /// of a service they wait for), with when they are tried again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<super::hold::Held>,
}

/// Why a service's image is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BuildReason {
    /// The host has no image under the service's image name.
    Missing,
    /// Files of the context changed since the image the service runs was built: the first
    /// few paths and how many there are.
    ContextChanged {
        /// The first changed paths, sorted.
        paths: Vec<String>,
        /// How many paths changed in all.
        count: usize,
    },
    /// No image carries the inputs' hash: a build setting changed, or what the image was
    /// built from is not known (built before composectl started).
    InputsChanged,
}

impl fmt::Display for BuildReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "image missing"),
            Self::ContextChanged { paths, count } => {
                write!(f, "context changed: {}", paths.join(", "))?;
                if *count > paths.len() {
                    write!(f, " and {} more", count - paths.len())?;
                }
                Ok(())
            }
            Self::InputsChanged => write!(f, "build inputs changed"),
        }
    }
}

/// A difference the plan leaves on purpose, with what the operator can do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// What it is about (`volume pgdata`).
    pub subject: String,
    /// Why it is left and how to apply the change by hand.
    pub text: String,
}

/// Replica slots a rollout holds on a revision other than the desired one, by service
/// and replica number.
pub type Pins = BTreeMap<(String, u32), Pin>;

/// The revision one replica slot is held on.
#[derive(Debug, Clone, PartialEq)]
pub struct Pin {
    /// The revision's number in the service's history.
    pub revision: u64,
    /// The revision's project spec (with this service in it): containers of the slot are
    /// judged against it and created from it.
    pub spec: ProjectSpec,
    /// The image ID the revision runs.
    pub image_id: String,
    /// The reference containers are created from: the `:previous` tag of that image, or
    /// the image ID itself for a revision no tag is kept for.
    pub run_image: String,
}

/// Why the plan points a tag at an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TagPurpose {
    /// The `:previous` tag of a rollout: what it rolls back to.
    Rollback,
    /// The service's image name, at an image built before from the current inputs.
    Built,
}

/// A container the plan refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    /// Container ID.
    pub id: String,
    /// Container name.
    pub name: String,
}

/// One change to the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Action {
    /// Pull an image that is not present locally.
    PullImage {
        /// The reference as the service writes it.
        image: String,
    },
    /// Point the tag `reference` at the local image `image_id`: a rollout's
    /// `<repository>:previous` (which the replicas it holds back are created from), or a
    /// service's image name at an image built before from its current inputs.
    TagImage {
        /// The tag (`shop/web:previous`).
        reference: String,
        /// The image it must point at (`sha256:...`).
        image_id: String,
        /// The service that needs it.
        service: String,
        /// Why.
        purpose: TagPurpose,
    },
    /// Build the image of `service` from its `build:` context and tag it with the
    /// service's image name: the next plan rolls the new image out through the service's
    /// strategy like any other new image.
    Build {
        /// Service name.
        service: String,
        /// The image name the build tags.
        image: String,
        /// The build hash of the inputs (the image's `io.composectl.build-hash` label).
        hash: String,
        /// Why.
        reason: BuildReason,
    },
    /// Create a project network that is not known to exist.
    EnsureNetwork {
        /// Compose key of the network.
        key: String,
    },
    /// The network's definition changed: stop and remove the containers attached to it
    /// (the creates of their replicas follow), remove the network and create it again.
    RecreateNetwork {
        /// Compose key of the network.
        key: String,
        /// The keys of its definition that changed (`ipam`, `driver_opts`, ...).
        fields: Vec<String>,
        /// The project's containers attached to it, removed first.
        detach: Vec<ContainerRef>,
    },
    /// Create a named volume that is not known to exist.
    EnsureVolume {
        /// Compose key of the volume.
        key: String,
    },
    /// Wait until `dependency` meets `condition` before acting on `service`.
    WaitFor {
        /// The service that depends.
        service: String,
        /// The service depended on.
        dependency: String,
        /// The condition.
        condition: DependsOn,
    },
    /// Create and start replica `number` of `service`.
    Create {
        /// Service name.
        service: String,
        /// Replica number.
        number: u32,
        /// Why.
        reason: Reason,
    },
    /// Stop and remove `container`, then create and start replica `number` in its place.
    Replace {
        /// The container replaced.
        container: ContainerRef,
        /// Service name.
        service: String,
        /// Replica number.
        number: u32,
        /// Why.
        reason: Reason,
    },
    /// Create and start replica `number` under a temporary name, wait until it is ready,
    /// then stop and remove `container` and give the new one its name: the replica keeps
    /// serving throughout (`order: start-first`).
    ReplaceStartFirst {
        /// The container replaced.
        container: ContainerRef,
        /// Service name.
        service: String,
        /// Replica number.
        number: u32,
        /// Why.
        reason: Reason,
    },
    /// Start `container` again, in place: it exited (or the engine stopped it by going
    /// away) and it matches its slot's revision, so it keeps its ID, logs and anonymous
    /// volumes.
    Start {
        /// The container started.
        container: ContainerRef,
        /// Service name.
        service: String,
        /// Replica number.
        number: u32,
        /// Why.
        reason: Reason,
    },
    /// Give `container` its replica's name back (a start-first replacement interrupted
    /// between removing the old container and renaming the new one).
    Rename {
        /// The container.
        container: ContainerRef,
        /// The replica's name.
        name: String,
    },
    /// Stop and remove `container`.
    Remove {
        /// The container removed.
        container: ContainerRef,
        /// Why.
        reason: Reason,
    },
    /// Remove the project's networks composectl created, where nothing is attached.
    PruneNetworks,
}

/// Why an action is needed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Reason {
    /// The replica does not exist (never created, or removed by hand).
    Missing,
    /// The container exited (or was killed) and Docker will not restart it.
    Exited {
        /// Exit code, when known.
        code: Option<i64>,
        /// The kernel OOM-killed it.
        oom_killed: bool,
    },
    /// The container is dead or stuck in `created`.
    NotRunning {
        /// Docker's state.
        state: String,
    },
    /// The container's healthcheck reports unhealthy.
    Unhealthy,
    /// The engine stopped the container by going away (a daemon restart or crash): not a
    /// failure of the container.
    EngineStopped {
        /// Docker's state (`exited`, `dead`, `created`).
        state: String,
    },
    /// The service's configuration changed; the fields that differ.
    ConfigDrift {
        /// Field names (`environment`, `ports`, ...).
        fields: Vec<String>,
    },
    /// The tag now resolves to another image ID (re-pushed or rebuilt).
    ImageChanged {
        /// Image ID the container runs.
        from: String,
        /// Image ID the tag resolves to now.
        to: String,
    },
    /// The image is not present locally.
    ImageMissing,
    /// The service is no longer in the project.
    ServiceRemoved,
    /// The project is no longer in the desired directory.
    ProjectRemoved,
    /// More replicas run than desired.
    ScaleDown {
        /// Desired replicas.
        replicas: u32,
    },
    /// Another container already holds the same replica number.
    Duplicate,
    /// A container of another service this one was created against was replaced or
    /// removed: the namespace of its `network_mode`, `ipc` or `pid` of `service:NAME`, the
    /// source of its `volumes_from`, or a dependency with `restart: true`.
    ReferenceReplaced {
        /// The referenced service.
        service: String,
        /// The compose key of the reference: `network_mode`, `ipc`, `pid`, `volumes_from`
        /// or `depends_on`.
        via: String,
    },
}

/// A heal (start in place or replacement) held back by crash backoff, or (reason [`Reason::EngineStopped`]) a
/// start left to the engine's restart policy for a while after its return.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deferred {
    /// Service name.
    pub service: String,
    /// Replica number.
    pub number: u32,
    /// Why it would be replaced (or started).
    pub reason: Reason,
    /// How long until the backoff (or the engine's grace) allows it.
    pub retry_in: Duration,
}

impl Deferred {
    /// True when the engine's restart policy, not crash backoff, holds it back.
    pub fn is_left_to_engine(&self) -> bool {
        matches!(self.reason, Reason::EngineStopped { .. })
    }
}

impl Plan {
    /// True when the plan changes nothing (deferred changes do not count).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// True when the plan has Docker writes to make (waits alone are not writes).
    pub fn has_writes(&self) -> bool {
        self.actions
            .iter()
            .any(|a| !matches!(a, Action::WaitFor { .. }))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "replica missing"),
            Self::Exited { code, oom_killed } => {
                write!(f, "exited")?;
                if let Some(code) = code {
                    write!(f, " with code {code}")?;
                }
                if *oom_killed {
                    write!(f, " (OOM-killed)")?;
                }
                Ok(())
            }
            Self::NotRunning { state } => write!(f, "container is {state}"),
            Self::Unhealthy => write!(f, "unhealthy"),
            Self::EngineStopped { state } => {
                write!(f, "{state} while the Docker engine was away")
            }
            Self::ConfigDrift { fields } => write!(f, "config changed: {}", fields.join(", ")),
            Self::ImageChanged { from, to } => {
                write!(f, "image changed: {} -> {}", short_id(from), short_id(to))
            }
            Self::ImageMissing => write!(f, "image not present locally"),
            Self::ServiceRemoved => write!(f, "service removed from the project"),
            Self::ProjectRemoved => write!(f, "project removed from the desired directory"),
            Self::ScaleDown { replicas } => write!(f, "scale down to {replicas}"),
            Self::Duplicate => write!(f, "duplicate replica number"),
            Self::ReferenceReplaced { service, via } => match via.as_str() {
                "network_mode" => {
                    write!(f, "the network namespace of service {service} was replaced")
                }
                "ipc" => write!(f, "the IPC namespace of service {service} was replaced"),
                "pid" => write!(f, "the PID namespace of service {service} was replaced"),
                "volumes_from" => write!(
                    f,
                    "the container of service {service} whose volumes it mounts was replaced"
                ),
                _ => write!(
                    f,
                    "dependency {service} was replaced (depends_on restart: true)"
                ),
            },
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PullImage { image } => write!(f, "pull image {image}"),
            Self::TagImage {
                reference,
                image_id,
                ..
            } => write!(f, "tag image {} as {reference}", short_id(image_id)),
            Self::Build {
                service,
                image,
                reason,
                ..
            } => write!(f, "build image {image} for {service} ({reason})"),
            Self::EnsureNetwork { key } => write!(f, "create network {key}"),
            Self::RecreateNetwork { key, fields, .. } => {
                write!(f, "recreate network {key} ({} changed)", fields.join(", "))
            }
            Self::EnsureVolume { key } => write!(f, "create volume {key}"),
            Self::WaitFor {
                service,
                dependency,
                condition,
            } => {
                let what = match condition {
                    DependsOn::Started => "started",
                    DependsOn::Healthy => "healthy",
                    DependsOn::CompletedSuccessfully => "completed successfully",
                };
                write!(f, "wait for {dependency} {what} (before {service})")
            }
            Self::Create {
                service,
                number,
                reason,
            } => write!(f, "create {service} #{number} ({reason})"),
            Self::Replace {
                container, reason, ..
            } => write!(f, "replace {} ({reason})", container.name),
            Self::ReplaceStartFirst {
                container, reason, ..
            } => write!(f, "replace {} start-first ({reason})", container.name),
            Self::Start {
                container, reason, ..
            } => write!(f, "start {} again ({reason})", container.name),
            Self::Rename { container, name } => write!(f, "rename {} to {name}", container.name),
            Self::Remove { container, reason } => write!(f, "remove {} ({reason})", container.name),
            Self::PruneNetworks => write!(f, "remove unused project networks"),
        }
    }
}

pub(super) fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
