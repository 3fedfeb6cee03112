//! The compose specification's keys, written from its schema
//! (`schema/compose-spec.json`): the top level and the service, network, volume, secret and
//! config definitions, each paired with composectl's table of the same keys.

use crate::desired::keys::{self, Key};

/// `properties` of the schema's top level.
pub(super) const SPEC_TOP_LEVEL: &[&str] = &[
    "configs", "include", "models", "name", "networks", "secrets", "services", "version", "volumes",
];

/// `definitions.service.properties`.
pub(super) const SPEC_SERVICE: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// `definitions.network.properties`.
pub(super) const SPEC_NETWORK: &[&str] = &[
    "attachable",
    "driver",
    "driver_opts",
    "enable_ipv4",
    "enable_ipv6",
    "external",
    "internal",
    "ipam",
    "labels",
    "name",
];

/// `definitions.volume.properties`.
pub(super) const SPEC_VOLUME: &[&str] = &["driver", "driver_opts", "external", "labels", "name"];

/// `definitions.secret.properties`.
pub(super) const SPEC_SECRET: &[&str] = &[
    "driver",
    "driver_opts",
    "environment",
    "external",
    "file",
    "labels",
    "name",
    "template_driver",
];

/// `definitions.config.properties`.
pub(super) const SPEC_CONFIG: &[&str] = &[
    "content",
    "environment",
    "external",
    "file",
    "labels",
    "name",
    "template_driver",
];

/// Every definition: its name, the specification's keys, composectl's table.
pub(super) const DEFINITIONS: &[(&str, &[&str], &[Key])] = &[
    ("top level", SPEC_TOP_LEVEL, keys::TOP_LEVEL),
    ("service", SPEC_SERVICE, keys::SERVICE),
    ("network", SPEC_NETWORK, keys::NETWORK),
    ("volume", SPEC_VOLUME, keys::VOLUME),
    ("secret", SPEC_SECRET, keys::SECRET),
    ("config", SPEC_CONFIG, keys::CONFIG),
];
