//! The privileges of a loaded project: pure, from its spec and the loader's
//! [`Origins`] (no file system access; the loader already resolved every host path).
//!
//! Every field of [`ServiceSpec`], [`NetworkSpec`] and [`VolumeSpec`] is named below, with
//! why it is or is not a privilege, so that a field added to the model does not compile
//! until someone decided.
//!
//! The container keys (`devices`, the namespaces, `security_opt`, `runtime`,
//! `cgroup_parent`) are judged in [`super::container`]. Keys the model does not carry grant
//! nothing: the loader refuses them or warns that they have no effect (they never reach
//! the engine). Whoever teaches the model one of them adds its grant here.

use std::collections::BTreeMap;

use super::container::{ContainerKeys, container_privileges};
use super::grant::{Grant, NamespaceKind, Privilege, is_always_granted, normalize_capability};
use crate::desired::origins::{HostPathUse, Origin, Origins};
use crate::model::spec::{MountKind, MountSpec, NetworkSpec, ProjectSpec, ServiceSpec, VolumeSpec};

/// Docker's default capabilities: granting them again is no privilege.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Collects grants with their places.
#[derive(Default)]
pub(super) struct Found(BTreeMap<Grant, Vec<Origin>>);

impl Found {
    pub(super) fn add(
        &mut self,
        grant: Grant,
        origin: Option<&Origin>,
        fallback: impl FnOnce() -> Origin,
    ) {
        let origin = origin.cloned().unwrap_or_else(fallback);
        let places = self.0.entry(grant).or_default();
        if !places.contains(&origin) {
            places.push(origin);
        }
    }
}

/// Every privilege `spec` asks for, in grant order, each with the places that ask for it.
pub fn privileges(spec: &ProjectSpec, origins: &Origins) -> Vec<Privilege> {
    let mut found = Found::default();
    let file = spec.config_files.first().cloned().unwrap_or_default();
    for service in spec.services.values() {
        service_privileges(spec, service, origins, &mut found, &|key: &str| Origin {
            file: file.clone(),
            line: None,
            key: key.to_owned(),
        });
    }
    for volume in spec.volumes.values() {
        // `driver_opts.device` is judged from the resolved path in the origins below.
        let VolumeSpec {
            name: _,
            external: _,
            driver: _,
            driver_opts: _,
            labels: _,
        } = volume;
    }
    for host_path in &origins.host_paths {
        let path = host_path.path.clone();
        let outside = !origins.root.contains(&path);
        let grant = match host_path.usage {
            HostPathUse::EnvFile | HostPathUse::DotEnv if outside => Grant::EnvFile(path),
            HostPathUse::EnvFile | HostPathUse::DotEnv => continue,
            HostPathUse::FileSource if outside => Grant::FileSource(path),
            HostPathUse::FileSource => continue,
            HostPathUse::VolumeDevice {
                bind: true,
                read_only,
            } => {
                if !outside && !is_always_granted(&path) {
                    continue;
                }
                Grant::Bind { path, read_only }
            }
            HostPathUse::VolumeDevice { bind: false, .. } => Grant::Device(path),
        };
        found.add(grant, Some(&host_path.origin), || host_path.origin.clone());
    }
    for places in found.0.values_mut() {
        places.sort();
    }
    found
        .0
        .into_iter()
        .map(|(grant, origins)| Privilege { grant, origins })
        .collect()
}

fn service_privileges(
    project: &ProjectSpec,
    service: &ServiceSpec,
    origins: &Origins,
    found: &mut Found,
    fallback: &dyn Fn(&str) -> Origin,
) {
    let ServiceSpec {
        name,
        // What runs and how it is started, named and labelled: no host access.
        image: _,
        // The build's context lies inside the desired directory (the loader refuses
        // others); the network its `RUN` steps join is judged below.
        build,
        replicas: _,
        container_name: _,
        command: _,
        entrypoint: _,
        // Values only; the env files they come from are judged from the origins.
        environment: _,
        // Publishing ports is what a service is for; which host ports is not a privilege
        // of the host's kernel or files.
        ports: _,
        mounts,
        networks,
        labels: _,
        restart: _,
        healthcheck: _,
        depends_on: _,
        limits: _,
        update_config: _,
        rollback_config: _,
        // The user inside the container (root by default anyway).
        user: _,
        working_dir: _,
        hostname: _,
        extra_hosts: _,
        cap_add,
        // Dropping capabilities only takes away.
        cap_drop: _,
        privileged,
        read_only: _,
        // Bounded by the engine's own limits.
        ulimits: _,
        logging: _,
        stop_signal: _,
        stop_grace_period: _,
        init: _,

        // Exposing a port publishes nothing on the host.
        expose: _,
        devices,
        device_cgroup_rules,
        // Only sysctls of the container's own namespaces (`net.*`, `kernel.shm*`,
        // `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`, `kernel.hostname`,
        // `kernel.domainname`): the loader refuses the others, and runc refuses them too,
        // as it refuses `net.*` in the host's network namespace. They cannot change the
        // host's kernel.
        sysctls: _,
        security_opt,
        // Resolver settings of the container itself.
        dns: _,
        dns_search: _,
        dns_opt: _,
        // A size of the container's own /dev/shm, counted in its memory.
        shm_size: _,
        pid,
        ipc,
        uts,
        userns_mode,
        cgroup,
        cgroup_parent,
        // Groups of the user inside the container; what they may reach on the host is
        // what the container's mounts and devices give, judged there.
        group_add: _,
        tty: _,
        stdin_open: _,
        runtime,
        domainname: _,
        // Options of the container's own writable layer (its size).
        storage_opt: _,

        // CPU weights and sets, memory reservation and swap and block IO throttles share
        // out what the engine gives every container (realtime CPU time only runs when
        // the daemon itself is started with `--cpu-rt-runtime`); device requests and
        // shelter from the OOM killer are grants (below).
        resources,
        // How composectl pulls, not what the container may do.
        pull_policy: _,
        // Which image variant runs; the same privileges either way.
        platform: _,

        // `host` and `container:NAME` join a namespace that is not the project's; see
        // `super::references`.
        network_mode,
        // `container:NAME` reads a foreign container's volumes; services are the project's.
        volumes_from,
        // Links name services of the project only.
        links: _,
        // A legacy link on the default bridge copies the foreign container's environment.
        external_links,
        // How composectl orders and replaces, not what a container may do.
        optional_dependencies: _,
        restart_with: _,

        // Files composectl writes under its state directory and mounts read-only; a
        // `file:` source outside the desired directory is judged from the origins.
        secrets: _,
        configs: _,
        extensions: _,
    } = service;
    let key = |field: &str| format!("services.{name}.{field}");
    for (grant, field) in resource_grants(resources) {
        let key = key(field);
        found.add(grant, origins.key(&key), || fallback(&key));
    }
    if *privileged {
        let key = key("privileged");
        found.add(Grant::Privileged, origins.key(&key), || fallback(&key));
    }
    for (i, cap) in cap_add.iter().enumerate() {
        let cap = normalize_capability(cap);
        if DEFAULT_CAPABILITIES.contains(&cap.as_str()) {
            continue;
        }
        let key = format!("{}[{i}]", key("cap_add"));
        found.add(Grant::Capability(cap), origins.key(&key), || fallback(&key));
    }
    container_privileges(
        ContainerKeys {
            devices,
            device_cgroup_rules,
            security_opt,
            namespaces: [
                (NamespaceKind::Pid, "pid", pid),
                (NamespaceKind::Ipc, "ipc", ipc),
                (NamespaceKind::Uts, "uts", uts),
                (NamespaceKind::Userns, "userns_mode", userns_mode),
                (NamespaceKind::Cgroup, "cgroup", cgroup),
            ],
            runtime,
            cgroup_parent,
        },
        &key,
        origins,
        found,
        fallback,
    );
    for mount in mounts {
        if let Some(grant) = mount_grant(mount, origins) {
            let at = origins.mount(name, &mount.target);
            found.add(grant, at, || fallback(&key("volumes")));
        }
    }
    for (grant, field) in super::references::grants(network_mode, volumes_from, external_links) {
        let key = key(field);
        found.add(grant, origins.key(&key), || fallback(&key));
    }
    let build_network = build.as_ref().and_then(|b| b.network.as_deref());
    if let Some(network) = build_network.filter(|n| *n == "host" || n.starts_with("container:")) {
        let key = key("build.network");
        found.add(
            Grant::Network(network.to_owned()),
            origins.key(&key),
            || fallback(&key),
        );
    }
    for network_key in networks.keys() {
        let Some(network) = project.networks.get(network_key) else {
            continue;
        };
        let at = origins
            .network(name, network_key)
            .or_else(|| origins.key(&format!("networks.{network_key}")));
        for grant in network_grants(network) {
            found.add(grant, at, || fallback(&key("networks")));
        }
    }
}

/// The grant of one mount: a bind of a path outside the desired directory, or of the
/// Docker socket or `/` anywhere.
fn mount_grant(mount: &MountSpec, origins: &Origins) -> Option<Grant> {
    match &mount.kind {
        MountKind::Bind {
            source,
            create_host_path: _,
        } => (!origins.root.contains(source) || is_always_granted(source)).then(|| Grant::Bind {
            path: source.clone(),
            read_only: mount.read_only,
        }),
        // Named and anonymous volumes live in the engine's volume store; a local volume
        // that mounts a host path is judged from its `driver_opts.device`.
        MountKind::Volume { .. } | MountKind::Anonymous | MountKind::Tmpfs { .. } => None,
    }
}

/// The grants of joining `network`: the host's namespace (the engine reads a network named
/// `host` as the host network mode, external or not; the loader refuses a network named
/// `container:NAME`, which `network_mode` writes), and a driver other than `bridge` for a
/// network composectl creates.
fn network_grants(network: &NetworkSpec) -> Vec<Grant> {
    let NetworkSpec {
        name,
        external,
        driver,
        // Options of the driver judged below (`parent` of a macvlan network).
        driver_opts: _,
        internal: _,
        attachable: _,
        labels: _,
        // Addressing inside the network (its subnets, the engine's IPv6 on it): what
        // containers reach stays what a bridge reaches; the driver is judged below.
        ipam: _,
        enable_ipv6: _,
    } = network;
    let mut grants = Vec::new();
    if name == "host" {
        grants.push(Grant::Network(name.clone()));
    }
    if let Some(driver) = driver.as_deref().filter(|d| !external && *d != "bridge") {
        grants.push(Grant::NetworkDriver(driver.to_owned()));
    }
    grants
}

/// The grants of a service's resources, with the key that asks for each.
fn resource_grants(r: &crate::model::resources::Resources) -> Vec<(Grant, &'static str)> {
    let mut out = Vec::new();
    if !r.device_requests.is_empty() {
        out.push((Grant::DeviceRequests, "gpus"));
    }
    if r.oom_kill_disable == Some(true) {
        out.push((Grant::OomProtection, "oom_kill_disable"));
    } else if r.oom_score_adj.is_some_and(|n| n < 0) {
        out.push((Grant::OomProtection, "oom_score_adj"));
    }
    out
}
