//! A service's desired state: [`ServiceSpec`] and the settings it is made of (build,
//! ports, network memberships, restart policy, health check, `depends_on` conditions,
//! limits, update config, ulimits, logging). Its mounts and devices are in `mounts`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{DeviceMapping, MountSpec};
use crate::model::files::FileRef;

/// One service: `replicas` identical containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Service name (the key under `services:`).
    pub name: String,
    /// Image reference as written (`nginx:1.27`, `registry:5000/app:v2`). When only `build`
    /// is given the loader sets compose's default `<project>-<service>` (compose v2 naming).
    pub image: String,
    /// `build:`; parsed and reported by `plan`, not built by composectl (yet).
    pub build: Option<BuildSpec>,
    /// `deploy.replicas` (default 1; 0 is valid and means no containers).
    pub replicas: u32,
    /// `container_name`; only allowed when `replicas` is 1.
    pub container_name: Option<String>,
    /// `command`, split into argv (a string is split as a shell would, without expansion).
    pub command: Option<Vec<String>>,
    /// `entrypoint`, split into argv like `command`.
    pub entrypoint: Option<Vec<String>>,
    /// Environment after merging `env_file`s (first) and `environment` (wins); an entry
    /// written without a value and not set in the loader's environment is omitted.
    /// Values are secrets for output purposes: never log or print them.
    pub environment: BTreeMap<String, String>,
    /// Published ports, one entry per container port (ranges are expanded).
    pub ports: Vec<PortSpec>,
    /// Mounts from `volumes:` and `tmpfs:` (both syntaxes), in file order.
    pub mounts: Vec<MountSpec>,
    /// Networks the service joins, by compose network key, with their per-service options.
    pub networks: BTreeMap<String, ServiceNetwork>,
    /// `labels` written by the user (composectl's own labels are added by the adapter).
    pub labels: BTreeMap<String, String>,
    /// `restart:`.
    pub restart: RestartPolicy,
    /// `healthcheck:`; `None` means "use the image's HEALTHCHECK, if any".
    pub healthcheck: Option<Healthcheck>,
    /// `depends_on`, by service name.
    pub depends_on: BTreeMap<String, DependsOn>,
    /// `deploy.resources.limits`.
    pub limits: ResourceLimits,
    /// `deploy.update_config`, parsed for the rollout strategies.
    pub update_config: Option<UpdateConfig>,
    /// `deploy.rollback_config`, parsed for the rollout strategies.
    pub rollback_config: Option<UpdateConfig>,
    /// `user`.
    pub user: Option<String>,
    /// `working_dir`.
    pub working_dir: Option<String>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `extra_hosts`, normalized to `host:ip` strings.
    pub extra_hosts: Vec<String>,
    /// `cap_add`.
    pub cap_add: Vec<String>,
    /// `cap_drop`.
    pub cap_drop: Vec<String>,
    /// `privileged`.
    pub privileged: bool,
    /// `read_only`.
    pub read_only: bool,
    /// `ulimits`, by name (`nofile`, `nproc`, ...).
    pub ulimits: BTreeMap<String, Ulimit>,
    /// `logging`.
    pub logging: Option<Logging>,
    /// `stop_signal`.
    pub stop_signal: Option<String>,
    /// `stop_grace_period` (Docker's default of 10 s when absent).
    pub stop_grace_period: Option<Duration>,
    /// `init`.
    pub init: Option<bool>,

    /// `expose`: container ports exposed without publishing them, as `PORT/PROTOCOL`
    /// (ranges expanded, duplicates kept once).
    #[serde(default)]
    pub expose: Vec<String>,
    /// `devices`: host devices mapped into the container.
    #[serde(default)]
    pub devices: Vec<DeviceMapping>,
    /// `device_cgroup_rules`, as the kernel writes them (`c 1:3 mr`).
    #[serde(default)]
    pub device_cgroup_rules: Vec<String>,
    /// `sysctls` (both forms), by name.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// `security_opt`, as the engine takes them: a seccomp profile read from a file is
    /// inlined as compact JSON (`seccomp={...}`), as compose sends it.
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// `dns` servers.
    #[serde(default)]
    pub dns: Vec<String>,
    /// `dns_search` domains.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `dns_opt` resolver options.
    #[serde(default)]
    pub dns_opt: Vec<String>,
    /// `shm_size` in bytes.
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// `pid`: `host`, `container:NAME` or `service:NAME` (resolved at create time).
    #[serde(default)]
    pub pid: Option<String>,
    /// `ipc`: `none`, `private`, `shareable`, `host`, `container:NAME` or `service:NAME`
    /// (resolved at create time).
    #[serde(default)]
    pub ipc: Option<String>,
    /// `uts`: `host`.
    #[serde(default)]
    pub uts: Option<String>,
    /// `userns_mode`: `host`.
    #[serde(default)]
    pub userns_mode: Option<String>,
    /// `cgroup`: the cgroup namespace, `host` or `private`.
    #[serde(default)]
    pub cgroup: Option<String>,
    /// `cgroup_parent`.
    #[serde(default)]
    pub cgroup_parent: Option<String>,
    /// `group_add`: extra groups of the container's user, by name or number.
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `tty`.
    #[serde(default)]
    pub tty: bool,
    /// `stdin_open`.
    #[serde(default)]
    pub stdin_open: bool,
    /// `runtime`: the OCI runtime, by the name the engine knows it.
    #[serde(default)]
    pub runtime: Option<String>,
    /// `domainname`.
    #[serde(default)]
    pub domainname: Option<String>,
    /// `storage_opt`: options of the storage driver for the container's root file system.
    #[serde(default)]
    pub storage_opt: BTreeMap<String, String>,

    /// `cpu_shares`, `cpuset`, ... `blkio_config`, `gpus`, and the reservations of
    /// `deploy.resources`.
    #[serde(default)]
    pub resources: crate::model::resources::Resources,
    /// `pull_policy` (and `pull_refresh_after`): when composectl pulls the image; not part
    /// of the config hash.
    #[serde(default)]
    pub pull_policy: crate::model::resources::PullPolicy,
    /// `platform` (`linux/arm64`): the image is pulled for it and the container created
    /// with it.
    #[serde(default)]
    pub platform: Option<String>,

    /// `network_mode`; `None` joins the project networks in `networks`.
    #[serde(default)]
    pub network_mode: Option<crate::model::refs::NetworkMode>,
    /// `volumes_from`, in file order.
    #[serde(default)]
    pub volumes_from: Vec<crate::model::refs::VolumesFrom>,
    /// `links` (`SERVICE[:ALIAS]`), in file order.
    #[serde(default)]
    pub links: Vec<crate::model::refs::Link>,
    /// `external_links` (`CONTAINER[:ALIAS]`), in file order.
    #[serde(default)]
    pub external_links: Vec<crate::model::refs::Link>,
    /// `depends_on` entries with `required: false`: their failure only warns.
    #[serde(default)]
    pub optional_dependencies: std::collections::BTreeSet<String>,
    /// `depends_on` entries with `restart: true` (written, or implied by `links`, and by
    /// `network_mode`, `ipc` and `pid` of `service:NAME`): a replaced container of one of
    /// them replaces this service's containers.
    #[serde(default)]
    pub restart_with: std::collections::BTreeSet<String>,

    /// `secrets:`, in file order (each mounted read-only at its target).
    #[serde(default)]
    pub secrets: Vec<FileRef>,
    /// `configs:`, in file order (each mounted read-only at its target).
    #[serde(default)]
    pub configs: Vec<FileRef>,
    /// Service-level `x-*` extensions, kept as JSON (for example `x-rollout`).
    pub extensions: BTreeMap<String, serde_json::Value>,
}

impl ServiceSpec {
    /// A minimal service for tests and examples: one replica of `image`.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            replicas: 1,
            ..Self::default()
        }
    }
}

/// `build:` (short string form becomes `context`): what composectl sends to the engine's
/// build endpoint. Every field but `context` and `tags` is a build input: changing one
/// changes the build hash ([`crate::build`]) and so builds a new image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSpec {
    /// Build context, absolute, inside the project's directory.
    pub context: PathBuf,
    /// Dockerfile path relative to the context (`Dockerfile` when unset and no
    /// `dockerfile_inline`).
    pub dockerfile: Option<String>,
    /// `dockerfile_inline`: the Dockerfile's text, instead of a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    /// Build args (list or map form, values interpolated; a bare name takes the loader's
    /// variable of that name, and is left out when there is none, as compose does).
    pub args: BTreeMap<String, String>,
    /// Target stage.
    pub target: Option<String>,
    /// Labels of the built image.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Network mode of the build's `RUN` steps (`default`, `host`, `none`, a network name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `extra_hosts` of the build's `RUN` steps, `host:ip`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// `/dev/shm` size of the build's `RUN` steps, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    /// Images the builder may take cached layers from (local images).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    /// `no_cache`: build every step anew.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cache: bool,
    /// `pull`: pull newer base images (needs a registry).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pull: bool,
    /// More tags given to the built image (besides the service's image name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `platforms`: only the host's own platform is accepted by the loader.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// What the loader read of the context (its build hash and entries); `None` until it
    /// is read. Not a build input itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<BuildInputs>,
}

/// A build context as the loader read it: the hash that names the image built from it,
/// and what was read (for `plan`'s list of changed files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInputs {
    /// The build hash ([`crate::build::hash`]): the `io.composectl.build-hash` label of
    /// the image built from these inputs.
    pub hash: String,
    /// The entries the build sends (path, kind, content digest, mode); kept in memory only.
    #[serde(skip)]
    pub entries: std::sync::Arc<Vec<crate::build::Entry>>,
}

/// One published or exposed container port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortSpec {
    /// Port inside the container.
    pub target: u16,
    /// Host port; `None` lets Docker choose one.
    pub published: Option<u16>,
    /// Host address to bind (`127.0.0.1`); `None` binds all addresses.
    pub host_ip: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// A service's membership of one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceNetwork {
    /// Extra DNS aliases on that network (the service name is always one).
    pub aliases: Vec<String>,
    /// `ipv4_address`.
    pub ipv4_address: Option<String>,
    /// `ipv6_address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// `link_local_ips`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    /// `priority`: the container joins its networks highest priority first (ties in name
    /// order), and the first one is given in the create request.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i64,
    /// `driver_opts` of the endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `restart:`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// `"no"` (compose's default): Docker never restarts the container.
    #[default]
    No,
    /// `always`.
    Always,
    /// `unless-stopped`.
    UnlessStopped,
    /// `on-failure[:max]`.
    OnFailure {
        /// Maximum restart attempts; `None` is unlimited.
        max_retries: Option<u32>,
    },
}

/// `healthcheck:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]` (`disable: true` becomes `NONE`);
    /// empty keeps the image's test (the engine merges the other settings into it).
    pub test: Vec<String>,
    /// `interval`.
    pub interval: Option<Duration>,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `retries`.
    pub retries: Option<u32>,
    /// `start_period`.
    pub start_period: Option<Duration>,
}

/// `depends_on` condition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DependsOn {
    /// `service_started` (and the list form).
    #[default]
    Started,
    /// `service_healthy`.
    Healthy,
    /// `service_completed_successfully`.
    CompletedSuccessfully,
}

/// `deploy.resources.limits`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceLimits {
    /// `cpus` (fractional CPUs).
    pub cpus: Option<f64>,
    /// `memory` in bytes.
    pub memory: Option<u64>,
    /// `pids`.
    pub pids: Option<i64>,
}

/// `deploy.update_config` / `deploy.rollback_config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    /// `parallelism` (0 means all at once).
    pub parallelism: Option<u32>,
    /// `delay` between batches.
    pub delay: Option<Duration>,
    /// `failure_action`: `rollback`, `pause` or `continue`.
    pub failure_action: Option<String>,
    /// `monitor` window after each batch.
    pub monitor: Option<Duration>,
    /// `max_failure_ratio`.
    pub max_failure_ratio: Option<f64>,
    /// `order`: `stop-first` or `start-first`.
    pub order: Option<String>,
}

/// One `ulimits` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// `logging`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logging {
    /// Log driver.
    pub driver: Option<String>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
}
