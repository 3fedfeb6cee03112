//! Plain data shared by every stage of the pipeline, with no I/O and no async.
//!
//! - [`spec`]: the desired state of a project, as the loader produces it from compose files
//!   (already interpolated, validated and normalized; nothing here can be malformed).
//! - [`observed`]: what the Docker engine runs, as the observed store sees it.
//! - [`labels`]: the label keys and container names composectl writes and reads back, the
//!   only place where state that must survive a controller restart is named.
//! - [`resources`]: CPU, memory, block IO and device settings of a service; its pull policy.
//! - [`hash`]: the config identity of a service (the `com.docker.compose.config-hash` label).
//! - [`resource_hash`]: the same identity for the networks and volumes composectl creates.
//! - [`files`]: secrets and configs, their contents and the services' references to them.
//! - [`service_ref`]: the name of one service of one project.

pub mod files;
pub mod hash;
pub mod labels;
pub mod observed;
pub mod refs;
pub mod resource_hash;
pub mod resources;
pub mod service_ref;
pub mod spec;

pub use observed::{
    ContainerState, Health, ObservedContainer, ObservedState, previous_tag, repository_of,
};
pub use service_ref::ServiceRef;
pub use spec::{DesiredState, ProjectSpec, ServiceSpec};
