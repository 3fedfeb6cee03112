//! Every key of the compose specification's top level and of its service, network, volume,
//! secret and config definitions, with what composectl does with it: applies it as
//! `docker compose` applies it, refuses the project with a reason, or warns that the key
//! has no effect on one Docker host. Nothing is dropped silently: the loader checks every
//! key of these definitions against these tables, and a key that is in none of them is an
//! error (compose refuses unknown keys too).
//!
//! The tables are the single truth the loader, the README's key table and the
//! key-coverage test read.

/// What composectl does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Applied exactly as `docker compose` applies it.
    Applied,
    /// The project fails to load; the text says why and what to do instead.
    Rejected(&'static str),
    /// Valid, but without effect on one Docker host; a warning says so with the text.
    NoEffect(&'static str),
}

/// One key of a definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key as written in a compose file.
    pub name: &'static str,
    /// What composectl does with it.
    pub support: Support,
    /// For an applied key, what an operator should know of how (empty when nothing).
    pub note: &'static str,
}

const fn applied(name: &'static str) -> Key {
    applied_as(name, "")
}

const fn applied_as(name: &'static str, note: &'static str) -> Key {
    Key {
        name,
        support: Support::Applied,
        note,
    }
}

const fn rejected(name: &'static str, why: &'static str) -> Key {
    Key {
        name,
        support: Support::Rejected(why),
        note: "",
    }
}

const fn no_effect(name: &'static str, why: &'static str) -> Key {
    Key {
        name,
        support: Support::NoEffect(why),
        note: "",
    }
}

/// The top level of a compose file.
pub const TOP_LEVEL: &[Key] = &[
    applied("name"),
    no_effect(
        "version",
        "is obsolete and has no effect; remove it to silence this warning",
    ),
    applied("services"),
    applied("networks"),
    applied("volumes"),
    // (secrets and configs)
    applied("secrets"),
    applied("configs"),
    // (include and extends)
    applied_as(
        "include",
        "short and long form (`path`, `project_directory`, `env_file`), inside the desired directory",
    ),
    // (the rest)
    rejected(
        "models",
        "runs AI models through Docker Model Runner, a plugin of the compose CLI; run the model as a service instead",
    ),
];

/// A service.
pub const SERVICE: &[Key] = &[
    // (what runs)
    applied("image"),
    applied_as(
        "build",
        "built by composectl through the engine's build endpoint when no image carries the inputs' hash (short and long form; see Images built from the desired directory)",
    ),
    applied("command"),
    applied("entrypoint"),
    applied("environment"),
    applied_as(
        "env_file",
        "list and long form (`path`, `required: false`, `format: raw`)",
    ),
    applied("user"),
    applied("working_dir"),
    applied("init"),
    applied_as("container_name", "refused with more than one replica"),
    applied("labels"),
    applied_as("profiles", "`COMPOSE_PROFILES`"),
    applied("scale"),
    applied_as(
        "deploy",
        "`replicas`, `resources.limits` and `reservations` (memory, devices), `restart_policy`, `update_config`, `rollback_config`; `placement`, `endpoint_mode`, `labels`, `mode: global` warn that they have no effect on one host",
    ),
    applied_as(
        "depends_on",
        "list and map: `condition`, `required: false`, `restart: true` (the dependent is replaced when its dependency is)",
    ),
    applied("restart"),
    applied_as(
        "healthcheck",
        "every form: `test` string or list, `disable: true|false`, durations, `retries`; `start_interval` is refused (needs Engine API 1.44)",
    ),
    applied("stop_signal"),
    applied("stop_grace_period"),
    applied("logging"),
    applied_as("ports", "short and long syntax, host IP, ranges, protocols"),
    applied_as(
        "volumes",
        "short and long syntax: `bind.propagation`, `bind.create_host_path`, `bind.selinux`, `volume.nocopy`, `tmpfs.size`, `tmpfs.mode`; `volume.subpath`, `bind.recursive` and `type: image` are refused (newer Engine API)",
    ),
    applied_as(
        "tmpfs",
        "`size=` and `mode=`, other options given to the engine as written",
    ),
    applied_as(
        "networks",
        "`aliases`, `ipv4_address`, `ipv6_address`, `link_local_ips`, `priority`, `driver_opts`; `mac_address`, `gw_priority`, `interface_name` are refused (newer Engine API)",
    ),
    applied("hostname"),
    applied("extra_hosts"),
    applied("cap_add"),
    applied("cap_drop"),
    applied("privileged"),
    applied("read_only"),
    applied("ulimits"),
    applied("mem_limit"),
    applied("cpus"),
    applied("pids_limit"),
    // (container keys)
    applied_as("expose", "ports and ranges"),
    applied_as(
        "devices",
        "`HOST[:CONTAINER[:PERMISSIONS]]` and the long form; a host privilege; CDI names are refused (Engine API 1.44)",
    ),
    applied_as("device_cgroup_rules", "a host privilege"),
    applied_as(
        "sysctls",
        "map and list; namespaced sysctls only (the runtime refuses others)",
    ),
    applied_as(
        "security_opt",
        "`seccomp=FILE` is sent inline; anything that loosens confinement is a host privilege",
    ),
    applied("dns"),
    applied("dns_search"),
    applied("dns_opt"),
    applied("shm_size"),
    applied_as(
        "pid",
        "`host` and `container:NAME` (privileges), `service:NAME` (recreated with NAME's container)",
    ),
    applied_as(
        "ipc",
        "`none`, `private`, `shareable`, `host` and `container:NAME` (privileges), `service:NAME` (recreated with NAME's container; NAME needs `ipc: shareable`)",
    ),
    applied_as("uts", "`host` (a privilege)"),
    applied_as("userns_mode", "`host` (a privilege)"),
    applied_as("cgroup", "`host` (a privilege), `private`"),
    applied_as("cgroup_parent", "a host privilege"),
    applied("group_add"),
    applied("tty"),
    applied("stdin_open"),
    applied_as("runtime", "a runtime other than `runc` is a host privilege"),
    applied("domainname"),
    rejected(
        "mac_address",
        "cannot be applied on this host: Docker 20.10 (Engine API 1.41) reads a MAC address only from the container-level `MacAddress`, which composectl's engine client no longer sends (it sets the per-network one, read from Docker 25, Engine API 1.44); remove it, or give the service a fixed `ipv4_address` on its network instead",
    ),
    rejected(
        "annotations",
        "needs Docker 24 (Engine API 1.43); this host's engine (Engine API 1.41) would ignore them; remove them, or use `labels` if only tools read them",
    ),
    applied_as(
        "storage_opt",
        "where the storage driver supports it (the engine refuses it otherwise)",
    ),
    no_effect(
        "cpu_count",
        "has no effect on a Linux host: it applies to Windows containers only (the engine discards it)",
    ),
    no_effect(
        "cpu_percent",
        "has no effect on a Linux host: it applies to Windows containers only (the engine discards it); use `cpus` to limit CPU",
    ),
    no_effect(
        "isolation",
        "has no effect on a Linux host: it chooses the isolation of Windows containers; only `default` is accepted",
    ),
    no_effect(
        "credential_spec",
        "has no effect on a Linux host: it configures a managed service account of Windows containers",
    ),
    // (pulls, platform and label files)
    applied_as(
        "pull_policy",
        "`missing`/`if_not_present`, `always` (before each create), `never`, `build`, `daily`, `weekly`, `every_<duration>`, `refresh`; with `build:` only `build` (the default: rebuild when the inputs change), `missing` (build only when absent) and `never`",
    ),
    applied_as("pull_refresh_after", "with `pull_policy: refresh`"),
    applied_as("platform", "the pull's and the create's platform"),
    applied_as("label_file", "`labels` wins over it"),
    // (resources)
    applied("cpu_shares"),
    applied("cpuset"),
    applied("cpu_quota"),
    applied("cpu_period"),
    applied("cpu_rt_period"),
    applied("cpu_rt_runtime"),
    applied("mem_reservation"),
    applied("memswap_limit"),
    applied("mem_swappiness"),
    applied_as("oom_kill_disable", "`true` is a host privilege"),
    applied_as("oom_score_adj", "a negative value is a host privilege"),
    applied_as(
        "blkio_config",
        "every field; a setting the kernel cannot apply is logged from the engine's warning",
    ),
    applied_as("gpus", "as device requests; a host privilege"),
    // (service references)
    applied_as(
        "network_mode",
        "`host` and `container:NAME` (privileges), `none`, `bridge`, `service:NAME` (recreated with NAME's container); keys the mode conflicts with are refused",
    ),
    applied_as(
        "volumes_from",
        "`SERVICE`, `service:`, `container:` (a privilege), `:ro`/`:rw`",
    ),
    applied_as(
        "links",
        "on every network endpoint and `HostConfig.Links`, as compose v2",
    ),
    applied_as("external_links", "a privilege on the default bridge"),
    // (secrets and configs)
    applied_as(
        "secrets",
        "short and long syntax (`target`, `uid`, `gid`, `mode`), a read-only copy composectl writes under its state directory; a changed content is drift naming the secret",
    ),
    applied_as("configs", "as `secrets`, mounted at `/NAME` by default"),
    // (include and extends)
    applied_as(
        "extends",
        "`NAME`, `{service}`, `{file, service}` (inside the desired directory), merged as compose merges",
    ),
    // (the rest)
    no_effect(
        "attach",
        "has no effect: composectl never attaches to a container's output (read it with `docker logs`)",
    ),
    no_effect(
        "develop",
        "has no effect: `develop.watch` is a feature of `docker compose watch`, not of a deployment",
    ),
    rejected(
        "post_start",
        "is a lifecycle hook, which composectl does not run; run the command from the entrypoint instead",
    ),
    rejected(
        "pre_stop",
        "is a lifecycle hook, which composectl does not run; run the command on the container's stop signal instead",
    ),
    rejected(
        "use_api_socket",
        "would hand the container the Docker API; bind `/var/run/docker.sock` explicitly if you mean it (a privilege `composectl policy approve` must grant)",
    ),
    rejected(
        "provider",
        "hands the service to a provider plugin of the compose CLI, which composectl does not run; run the service's container instead",
    ),
    rejected(
        "models",
        "runs AI models through Docker Model Runner, a plugin of the compose CLI; run the model as a service instead",
    ),
];

/// A top-level network.
pub const NETWORK: &[Key] = &[
    applied("name"),
    applied("external"),
    applied_as("driver", "a driver other than `bridge` is a host privilege"),
    applied("driver_opts"),
    applied("internal"),
    applied("attachable"),
    applied("labels"),
    // (networks)
    applied_as(
        "ipam",
        "`driver`, `config` (`subnet`, `ip_range`, `gateway`, `aux_addresses`), `options`; a changed definition recreates the network and the containers on it",
    ),
    applied("enable_ipv6"),
    applied_as(
        "enable_ipv4",
        "`true`; `false` is refused (needs Engine API 1.47)",
    ),
];

/// A top-level volume.
pub const VOLUME: &[Key] = &[
    applied("name"),
    applied("external"),
    applied("driver"),
    applied("driver_opts"),
    applied("labels"),
];

/// A top-level secret.
pub const SECRET: &[Key] = &[
    // (secrets and configs)
    applied_as(
        "file",
        "at most 1 MiB; outside the desired directory a host privilege",
    ),
    applied_as(
        "environment",
        "a variable of composectl's environment or `.env`",
    ),
    // `external: true` is refused by the loader with the reason (a Swarm object).
    applied_as("external", "`false`; `true` (a Swarm object) is refused"),
    no_effect("name", SWARM_NAME),
    no_effect("labels", SWARM_LABELS),
    rejected(
        "driver",
        "names a Swarm secret-store driver, which a single Docker host does not have; define the secret with `file:` or `environment:`",
    ),
    rejected(
        "driver_opts",
        "configures a Swarm secret-store driver, which a single Docker host does not have; define the secret with `file:` or `environment:`",
    ),
    rejected("template_driver", TEMPLATE_DRIVER),
];

/// A top-level config.
pub const CONFIG: &[Key] = &[
    // (secrets and configs)
    applied_as(
        "file",
        "at most 1 MiB; outside the desired directory a host privilege",
    ),
    applied_as(
        "environment",
        "a variable of composectl's environment or `.env`",
    ),
    applied_as("content", "interpolated"),
    // `external: true` is refused by the loader with the reason (a Swarm object).
    applied_as("external", "`false`; `true` (a Swarm object) is refused"),
    no_effect("name", SWARM_NAME),
    no_effect("labels", SWARM_LABELS),
    rejected("template_driver", TEMPLATE_DRIVER),
];

// Reasons the secret and config tables share.
const SWARM_NAME: &str = "has no effect: it names the object in a Docker Swarm's store; on one host composectl writes the file under its state directory (the mount's target is set by the service's `target`)";
const SWARM_LABELS: &str = "has no effect: they label the object in a Docker Swarm's store; composectl keeps the file under its state directory, where there is nothing to label";
const TEMPLATE_DRIVER: &str = "renders the file through a Swarm template driver, which a single Docker host does not have; write the rendered content (`content:` with `${VAR}` interpolation, or a file)";

/// What `table` says of `name`; `None` when the key is not part of the definition.
pub fn support(table: &[Key], name: &str) -> Option<Support> {
    table.iter().find(|k| k.name == name).map(|k| k.support)
}

/// The names of `table`'s keys.
pub fn names(table: &[Key]) -> Vec<&'static str> {
    table.iter().map(|k| k.name).collect()
}
