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
}

const fn applied(name: &'static str) -> Key {
    Key {
        name,
        support: Support::Applied,
    }
}

const fn rejected(name: &'static str, why: &'static str) -> Key {
    Key {
        name,
        support: Support::Rejected(why),
    }
}

const fn no_effect(name: &'static str, why: &'static str) -> Key {
    Key {
        name,
        support: Support::NoEffect(why),
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
    applied("include"),
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
    applied("build"),
    applied("command"),
    applied("entrypoint"),
    applied("environment"),
    applied("env_file"),
    applied("user"),
    applied("working_dir"),
    applied("init"),
    applied("container_name"),
    applied("labels"),
    applied("profiles"),
    applied("scale"),
    applied("deploy"),
    applied("depends_on"),
    applied("restart"),
    applied("healthcheck"),
    applied("stop_signal"),
    applied("stop_grace_period"),
    applied("logging"),
    applied("ports"),
    applied("volumes"),
    applied("tmpfs"),
    applied("networks"),
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
    applied("expose"),
    applied("devices"),
    applied("device_cgroup_rules"),
    applied("sysctls"),
    applied("security_opt"),
    applied("dns"),
    applied("dns_search"),
    applied("dns_opt"),
    applied("shm_size"),
    applied("pid"),
    applied("ipc"),
    applied("uts"),
    applied("userns_mode"),
    applied("cgroup"),
    applied("cgroup_parent"),
    applied("group_add"),
    applied("tty"),
    applied("stdin_open"),
    applied("runtime"),
    applied("domainname"),
    rejected(
        "mac_address",
        "cannot be applied on this host: Docker 20.10 (Engine API 1.41) reads a MAC address only from the container-level `MacAddress`, which composectl's engine client no longer sends (it sets the per-network one, read from Docker 25, Engine API 1.44); remove it, or give the service a fixed `ipv4_address` on its network instead",
    ),
    rejected(
        "annotations",
        "needs Docker 24 (Engine API 1.43); this host's engine (Engine API 1.41) would ignore them; remove them, or use `labels` if only tools read them",
    ),
    applied("storage_opt"),
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
    applied("pull_policy"),
    applied("pull_refresh_after"),
    applied("platform"),
    applied("label_file"),
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
    applied("oom_kill_disable"),
    applied("oom_score_adj"),
    applied("blkio_config"),
    applied("gpus"),
    // (service references)
    applied("network_mode"),
    applied("volumes_from"),
    applied("links"),
    applied("external_links"),
    // (secrets and configs)
    applied("secrets"),
    applied("configs"),
    // (include and extends)
    applied("extends"),
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
    applied("driver"),
    applied("driver_opts"),
    applied("internal"),
    applied("attachable"),
    applied("labels"),
    // (networks)
    applied("ipam"),
    applied("enable_ipv6"),
    applied("enable_ipv4"),
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
    applied("file"),
    applied("environment"),
    // `external: true` is refused by the loader with the reason (a Swarm object).
    applied("external"),
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
    applied("file"),
    applied("environment"),
    applied("content"),
    // `external: true` is refused by the loader with the reason (a Swarm object).
    applied("external"),
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
