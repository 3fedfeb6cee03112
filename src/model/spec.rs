//! The desired state: what the loader produces from a project's compose files.
//!
//! Everything here is normalized: interpolation is done, relative paths are absolute,
//! durations are [`Duration`](std::time::Duration)s, sizes are bytes, short and long
//! syntaxes are one form, and Docker-level names (networks, volumes) are resolved with the
//! project prefix. The planner, the hash and the Docker adapter read these types and
//! nothing else of the compose files.
//!
//! The project is here; a service in `service`, its mounts and devices in `mounts`, the
//! top-level networks and volumes in `definitions`, all re-exported here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::files::FileDef;

mod definitions;
mod mounts;
mod service;

pub use definitions::{Ipam, IpamPool, NetworkSpec, VolumeSpec};
pub use mounts::{DeviceMapping, MountKind, MountOptions, MountSpec};
pub use service::{
    BuildInputs, BuildSpec, DependsOn, Healthcheck, Logging, PortSpec, ResourceLimits,
    RestartPolicy, ServiceNetwork, ServiceSpec, Ulimit, UpdateConfig,
};

/// Every project found in the desired directory, by project name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {
    /// Projects by their normalized name.
    pub projects: BTreeMap<String, ProjectSpec>,
}

/// One compose project: one subdirectory with a compose file, or one top-level `NAME.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectSpec {
    /// Normalized project name (lowercase, `[a-z0-9_-]`, as compose normalizes it).
    pub name: String,
    /// The project directory (`com.docker.compose.project.working_dir`).
    pub working_dir: PathBuf,
    /// The compose files the project was loaded from, absolute.
    pub config_files: Vec<PathBuf>,
    /// Active services (inactive profiles already removed), by service name.
    pub services: BTreeMap<String, ServiceSpec>,
    /// Networks by their compose key (`default` is always present when any service uses it).
    pub networks: BTreeMap<String, NetworkSpec>,
    /// Named volumes by their compose key.
    pub volumes: BTreeMap<String, VolumeSpec>,
    /// Top-level `x-*` extensions, kept as JSON (for example `x-rollout`).
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// Top-level `secrets:`, by key, their contents read.
    #[serde(default)]
    pub secrets: BTreeMap<String, FileDef>,
    /// Top-level `configs:`, by key, their contents read.
    #[serde(default)]
    pub configs: BTreeMap<String, FileDef>,
}
