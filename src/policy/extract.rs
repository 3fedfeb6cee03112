//! The privileges of a loaded project: pure, from its spec and the loader's
//! [`Origins`] (no file system access; the loader already resolved every host path).
//!
//! Every field of [`ServiceSpec`], [`NetworkSpec`] and [`VolumeSpec`] is named below, with
//! why it is or is not a privilege, so that a field added to the model does not compile
//! until someone decided.
//!
//! Keys the model does not carry grant nothing: the loader ignores `devices`, `pid`, `ipc`,
//! `uts`, `userns_mode`, `cgroup_parent`, `security_opt`, `sysctls`, `group_add`, `gpus`
//! and `runtime` with a warning (they never reach the engine), and refuses
//! `network_mode` and `volumes_from` (the project fails to load). Whoever teaches the model
//! one of them adds its grant here.

use std::collections::BTreeMap;

use super::grant::{Grant, Privilege, is_always_granted, normalize_capability};
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
struct Found(BTreeMap<Grant, Vec<Origin>>);

impl Found {
    fn add(&mut self, grant: Grant, origin: Option<&Origin>, fallback: impl FnOnce() -> Origin) {
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
        build: _,
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

        // (container keys)

        // (pulls, platform, mounts, healthcheck)
        // CPU weights and sets, memory reservation and swap and block IO throttles share
        // out what the engine gives every container (realtime CPU time only runs when
        // the daemon itself is started with `--cpu-rt-runtime`); device requests and
        // shelter from the OOM killer are grants (below).
        resources,
        // How composectl pulls, not what the container may do.
        pull_policy: _,
        // Which image variant runs; the same privileges either way.
        platform: _,

        // (service references)

        // (secrets and configs)
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
    for mount in mounts {
        if let Some(grant) = mount_grant(mount, origins) {
            let at = origins.mount(name, &mount.target);
            found.add(grant, at, || fallback(&key("volumes")));
        }
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

/// The grants of joining `network`: the host's or another container's namespace (the
/// engine reads a network named `host` or `container:NAME` as a network mode, external or
/// not), and a driver other than `bridge` for a network composectl creates.
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
    } = network;
    let mut grants = Vec::new();
    if name == "host" || name.starts_with("container:") {
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
