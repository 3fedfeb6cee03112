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

/// Not applied yet: a warning says so. Every use is replaced by [`applied`] or [`rejected`]
/// before this issue closes; the key-coverage test lists what is left.
const fn pending(name: &'static str) -> Key {
    no_effect(name, "is not applied by composectl yet")
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
    pending("secrets"),
    pending("configs"),
    // (include and extends)
    pending("include"),
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
    pending("expose"),
    pending("devices"),
    pending("device_cgroup_rules"),
    pending("sysctls"),
    pending("security_opt"),
    pending("dns"),
    pending("dns_search"),
    pending("dns_opt"),
    pending("shm_size"),
    pending("pid"),
    pending("ipc"),
    pending("uts"),
    pending("userns_mode"),
    pending("cgroup"),
    pending("cgroup_parent"),
    pending("group_add"),
    pending("tty"),
    pending("stdin_open"),
    pending("runtime"),
    pending("domainname"),
    pending("mac_address"),
    pending("annotations"),
    pending("storage_opt"),
    pending("oom_kill_disable"),
    pending("oom_score_adj"),
    pending("cpu_shares"),
    pending("cpuset"),
    pending("cpu_quota"),
    pending("cpu_period"),
    pending("cpu_rt_period"),
    pending("cpu_rt_runtime"),
    pending("mem_reservation"),
    pending("memswap_limit"),
    pending("mem_swappiness"),
    pending("blkio_config"),
    pending("gpus"),
    pending("cpu_count"),
    pending("cpu_percent"),
    pending("isolation"),
    pending("credential_spec"),
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
    rejected(
        "network_mode",
        "is not supported by composectl; write the service out without it",
    ),
    rejected(
        "volumes_from",
        "is not supported by composectl; write the service out without it",
    ),
    pending("links"),
    pending("external_links"),
    // (secrets and configs)
    pending("secrets"),
    pending("configs"),
    // (include and extends)
    rejected(
        "extends",
        "is not supported by composectl; write the service out without it",
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
    applied("driver"),
    applied("driver_opts"),
    applied("internal"),
    applied("attachable"),
    applied("labels"),
    // (networks)
    pending("ipam"),
    pending("enable_ipv6"),
    pending("enable_ipv4"),
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
    pending("file"),
    pending("environment"),
    pending("external"),
    pending("name"),
    pending("labels"),
    pending("driver"),
    pending("driver_opts"),
    pending("template_driver"),
];

/// A top-level config.
pub const CONFIG: &[Key] = &[
    // (secrets and configs)
    pending("file"),
    pending("environment"),
    pending("content"),
    pending("external"),
    pending("name"),
    pending("labels"),
    pending("template_driver"),
];

/// What `table` says of `name`; `None` when the key is not part of the definition.
pub fn support(table: &[Key], name: &str) -> Option<Support> {
    table.iter().find(|k| k.name == name).map(|k| k.support)
}

/// The names of `table`'s keys.
pub fn names(table: &[Key]) -> Vec<&'static str> {
    table.iter().map(|k| k.name).collect()
}
