//! The pure mapping from a [`ContainerCreate`] to bollard's create body: every
//! [`ServiceSpec`] field lands in `ContainerCreateBody` or its `HostConfig`, in the shape
//! Engine API 1.41 accepts (one network in the create request, the others connected
//! afterwards, see [`extra_networks`]).

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountTmpfsOptions, MountType, MountVolumeOptions, NetworkingConfig, PortBinding, PortMap,
    ResourcesUlimits, RestartPolicy as EngineRestart, RestartPolicyNameEnum,
};

use super::resources;
use crate::model::spec::{
    Healthcheck, MountKind, MountSpec, PortSpec, RestartPolicy, ServiceNetwork, ServiceSpec,
};
use crate::runtime::ContainerCreate;

/// The create body for `request` (its first network included, see [`extra_networks`]).
pub(crate) fn container_body(request: &ContainerCreate) -> ContainerCreateBody {
    let svc = &request.service;
    let env: Vec<String> = svc
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    ContainerCreateBody {
        image: Some(svc.image.clone()),
        env: Some(env),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        labels: Some(request.labels.clone().into_iter().collect()),
        exposed_ports: non_empty(exposed_ports(svc)),
        healthcheck: svc.healthcheck.as_ref().map(health_config),
        user: svc.user.clone(),
        working_dir: svc.working_dir.clone(),
        hostname: svc.hostname.clone(),
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc.stop_grace_period.map(secs),
        host_config: Some(host_config(request)),
        networking_config: first_network(request),

        domainname: svc.domainname.clone(),
        tty: Some(svc.tty),
        open_stdin: Some(svc.stdin_open),

        ..ContainerCreateBody::default()
    }
}

/// The networks after the first, to connect (in order) between create and start.
pub(crate) fn extra_networks(request: &ContainerCreate) -> Vec<(String, EndpointSettings)> {
    by_priority(request)
        .into_iter()
        .skip(1)
        .map(|(name, net)| {
            let settings = with_links(endpoint(&request.service.name, net), request);
            (name.clone(), settings)
        })
        .collect()
}

/// The networks in the order compose joins them: highest `priority` first, ties in name
/// order. The first goes into the create request (and is the network mode).
fn by_priority(request: &ContainerCreate) -> Vec<(&String, &ServiceNetwork)> {
    let mut networks: Vec<_> = request.networks.iter().collect();
    networks.sort_by_key(|(_, net)| std::cmp::Reverse(net.priority));
    networks
}

fn first_network(request: &ContainerCreate) -> Option<NetworkingConfig> {
    let (name, net) = by_priority(request).into_iter().next()?;
    if is_namespace_mode(name) {
        // An external network named `host` or `none` (compose's way to write
        // `network_mode` as a network): the engine reads them as network modes and refuses
        // endpoint settings (aliases) for them.
        return None;
    }
    let settings = with_links(endpoint(&request.service.name, net), request);
    let endpoints = HashMap::from([(name.clone(), settings)]);
    Some(NetworkingConfig {
        endpoints_config: Some(endpoints),
    })
}

/// True for the network names the engine reads as a network mode of its own rather than
/// a user-defined network (`host`, `none`; the loader refuses a network named
/// `container:NAME`).
fn is_namespace_mode(name: &str) -> bool {
    name == "host" || name == "none"
}

/// `HostConfig.NetworkMode`: the service's `network_mode` (a `service:NAME` the executor
/// resolved to a container), else its first network.
fn network_mode(request: &ContainerCreate) -> Option<String> {
    match &request.service.network_mode {
        Some(mode) => Some(mode.engine_mode(None)),
        None => by_priority(request)
            .first()
            .map(|(name, _)| (*name).clone()),
    }
}

/// `links` then `external_links`, as `NAME:ALIAS` (the executor resolved each linked
/// service to its containers' names), for `HostConfig.Links` and, as compose sets them,
/// every endpoint's `Links` (what makes the aliases resolve on a user-defined network).
fn links(svc: &ServiceSpec) -> Vec<String> {
    svc.links
        .iter()
        .chain(&svc.external_links)
        .map(|l| format!("{}:{}", l.target, l.alias))
        .collect()
}

fn with_links(settings: EndpointSettings, request: &ContainerCreate) -> EndpointSettings {
    EndpointSettings {
        links: non_empty(links(&request.service)),
        ..settings
    }
}

/// The endpoint of a service on one network: the service name and the given aliases, the
/// fixed addresses when some are set, and the endpoint's driver options.
fn endpoint(service: &str, net: &ServiceNetwork) -> EndpointSettings {
    let mut aliases = vec![service.to_owned()];
    aliases.extend(net.aliases.iter().filter(|a| *a != service).cloned());
    let fixed =
        net.ipv4_address.is_some() || net.ipv6_address.is_some() || !net.link_local_ips.is_empty();
    EndpointSettings {
        aliases: Some(aliases),
        ipam_config: fixed.then(|| EndpointIpamConfig {
            ipv4_address: net.ipv4_address.clone(),
            ipv6_address: net.ipv6_address.clone(),
            link_local_ips: non_empty(net.link_local_ips.clone()),
        }),
        driver_opts: non_empty_map(net.driver_opts.clone().into_iter().collect()),
        ..EndpointSettings::default()
    }
}

fn host_config(request: &ContainerCreate) -> HostConfig {
    let svc = &request.service;
    let (mounts, binds) = mounts_and_binds(&svc.mounts);
    let tmpfs: HashMap<String, String> = svc
        .mounts
        .iter()
        .filter_map(|m| Some((m.target.clone(), m.options.tmpfs_flags.clone()?)))
        .collect();
    HostConfig {
        tmpfs: non_empty_map(tmpfs),
        network_mode: network_mode(request),
        port_bindings: non_empty_map(port_bindings(&svc.ports)),
        mounts: non_empty(mounts),
        binds: non_empty(binds),
        restart_policy: Some(restart_policy(svc.restart)),
        nano_cpus: svc.limits.cpus.map(|c| (c * 1e9).round() as i64),
        memory: svc
            .limits
            .memory
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
        pids_limit: svc.limits.pids,
        extra_hosts: non_empty(svc.extra_hosts.clone()),
        cap_add: non_empty(svc.cap_add.clone()),
        cap_drop: non_empty(svc.cap_drop.clone()),
        privileged: Some(svc.privileged),
        readonly_rootfs: Some(svc.read_only),
        ulimits: non_empty(ulimits(svc)),
        log_config: svc.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: l.driver.clone(),
            config: non_empty_map(l.options.clone().into_iter().collect()),
        }),
        init: svc.init,

        devices: container_keys::devices(svc),
        device_cgroup_rules: container_keys::list(&svc.device_cgroup_rules),
        sysctls: container_keys::map(&svc.sysctls),
        security_opt: container_keys::security_opt(svc),
        masked_paths: container_keys::unmasked_paths(svc),
        readonly_paths: container_keys::unmasked_paths(svc),
        dns: container_keys::list(&svc.dns),
        dns_search: container_keys::list(&svc.dns_search),
        dns_options: container_keys::list(&svc.dns_opt),
        shm_size: container_keys::shm_size(svc),
        pid_mode: svc.pid.clone(),
        ipc_mode: svc.ipc.clone(),
        uts_mode: svc.uts.clone(),
        userns_mode: svc.userns_mode.clone(),
        cgroupns_mode: container_keys::cgroupns_mode(svc),
        cgroup_parent: svc.cgroup_parent.clone(),
        group_add: container_keys::list(&svc.group_add),
        runtime: svc.runtime.clone(),
        storage_opt: container_keys::map(&svc.storage_opt),

        cpu_shares: svc.resources.cpu_shares,
        cpuset_cpus: svc.resources.cpuset.clone(),
        cpu_quota: svc.resources.cpu_quota,
        cpu_period: svc.resources.cpu_period,
        cpu_realtime_period: svc.resources.cpu_rt_period,
        cpu_realtime_runtime: svc.resources.cpu_rt_runtime,
        memory_reservation: resources::bytes(svc.resources.mem_reservation),
        memory_swap: svc.resources.memswap_limit,
        memory_swappiness: svc.resources.mem_swappiness,
        oom_kill_disable: svc.resources.oom_kill_disable,
        oom_score_adj: svc.resources.oom_score_adj,
        blkio_weight: svc.resources.blkio.weight,
        blkio_weight_device: resources::weight_devices(&svc.resources),
        blkio_device_read_bps: resources::throttles(&svc.resources.blkio.device_read_bps),
        blkio_device_write_bps: resources::throttles(&svc.resources.blkio.device_write_bps),
        blkio_device_read_iops: resources::throttles(&svc.resources.blkio.device_read_iops),
        blkio_device_write_iops: resources::throttles(&svc.resources.blkio.device_write_iops),
        device_requests: resources::device_requests(&svc.resources),

        volumes_from: non_empty(
            svc.volumes_from
                .iter()
                .map(|v| v.engine_entry(None))
                .collect(),
        ),
        links: non_empty(links(svc)),

        ..HostConfig::default()
    }
}

fn port_key(port: &PortSpec) -> String {
    format!("{}/{}", port.target, port.protocol)
}

/// The published ports' and `expose`'s container ports.
fn exposed_ports(svc: &ServiceSpec) -> Vec<String> {
    let mut keys: Vec<String> = svc.ports.iter().map(port_key).collect();
    keys.extend(svc.expose.iter().cloned());
    keys.sort();
    keys.dedup();
    keys
}

/// One binding per port entry; an unset published port is `""`, which lets Docker choose.
fn port_bindings(ports: &[PortSpec]) -> PortMap {
    let mut map = PortMap::new();
    for port in ports {
        let binding = PortBinding {
            host_ip: port.host_ip.clone(),
            host_port: Some(port.published.map(|p| p.to_string()).unwrap_or_default()),
        };
        map.entry(port_key(port))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    map
}

/// Mounts for the `Mounts` field, and `Binds` strings for bind mounts whose host path may
/// be created (the `Mounts` API refuses a missing source; `Binds` creates it), with their
/// options as the bind form writes them (`ro`, SELinux `z`/`Z`, a propagation), as
/// compose's `toBindString`.
fn mounts_and_binds(specs: &[MountSpec]) -> (Vec<Mount>, Vec<String>) {
    let mut mounts = Vec::new();
    let mut binds = Vec::new();
    for spec in specs {
        match &spec.kind {
            MountKind::Tmpfs { .. } if spec.options.tmpfs_flags.is_some() => {}
            MountKind::Bind {
                source,
                create_host_path: true,
            } => {
                let options: Vec<&str> = spec
                    .read_only
                    .then_some("ro")
                    .into_iter()
                    .chain(spec.options.selinux.as_deref())
                    .chain(spec.options.propagation.as_deref())
                    .collect();
                let mut bind = format!("{}:{}", source.display(), spec.target);
                if !options.is_empty() {
                    bind = format!("{bind}:{}", options.join(","));
                }
                binds.push(bind);
            }
            _ => mounts.push(mount(spec)),
        }
    }
    (mounts, binds)
}

fn mount(spec: &MountSpec) -> Mount {
    let base = Mount {
        target: Some(spec.target.clone()),
        read_only: Some(spec.read_only),
        ..Mount::default()
    };
    let o = &spec.options;
    let volume_options = (o.nocopy || !o.volume_labels.is_empty()).then(|| MountVolumeOptions {
        no_copy: o.nocopy.then_some(true),
        labels: (!o.volume_labels.is_empty())
            .then(|| o.volume_labels.clone().into_iter().collect()),
        ..MountVolumeOptions::default()
    });
    match &spec.kind {
        MountKind::Volume { name, .. } => Mount {
            typ: Some(MountType::VOLUME),
            source: Some(name.clone()),
            volume_options,
            ..base
        },
        MountKind::Anonymous => Mount {
            typ: Some(MountType::VOLUME),
            volume_options,
            ..base
        },
        MountKind::Bind { source, .. } => Mount {
            typ: Some(MountType::BIND),
            source: Some(source.display().to_string()),
            bind_options: o.propagation.as_deref().and_then(propagation).map(|p| {
                MountBindOptions {
                    propagation: Some(p),
                    ..MountBindOptions::default()
                }
            }),
            ..base
        },
        MountKind::Tmpfs { size } => Mount {
            typ: Some(MountType::TMPFS),
            tmpfs_options: (size.is_some() || o.tmpfs_mode.is_some()).then(|| MountTmpfsOptions {
                size_bytes: size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                mode: o.tmpfs_mode.map(i64::from),
                ..MountTmpfsOptions::default()
            }),
            ..base
        },
    }
}

fn propagation(mode: &str) -> Option<MountBindOptionsPropagationEnum> {
    use MountBindOptionsPropagationEnum as P;
    Some(match mode {
        "private" => P::PRIVATE,
        "rprivate" => P::RPRIVATE,
        "shared" => P::SHARED,
        "rshared" => P::RSHARED,
        "slave" => P::SLAVE,
        "rslave" => P::RSLAVE,
        _ => return None,
    })
}

fn restart_policy(policy: RestartPolicy) -> EngineRestart {
    let (name, max) = match policy {
        RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
        RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
        RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        RestartPolicy::OnFailure { max_retries } => (
            RestartPolicyNameEnum::ON_FAILURE,
            Some(i64::from(max_retries.unwrap_or(0))),
        ),
    };
    EngineRestart {
        name: Some(name),
        maximum_retry_count: max,
    }
}

/// Durations in nanoseconds, as the engine wants them; `["NONE"]` passes through and
/// disables the image's HEALTHCHECK.
fn health_config(check: &Healthcheck) -> HealthConfig {
    HealthConfig {
        test: Some(check.test.clone()),
        interval: check.interval.map(nanos),
        timeout: check.timeout.map(nanos),
        retries: check.retries.map(i64::from),
        start_period: check.start_period.map(nanos),
        ..HealthConfig::default()
    }
}

fn ulimits(svc: &ServiceSpec) -> Vec<ResourcesUlimits> {
    svc.ulimits
        .iter()
        .map(|(name, limit)| ResourcesUlimits {
            name: Some(name.clone()),
            soft: Some(limit.soft),
            hard: Some(limit.hard),
        })
        .collect()
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn non_empty_map<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then_some(map)
}

#[path = "create_container_keys.rs"]
mod container_keys;

#[cfg(test)]
#[path = "create_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "create_mount_tests.rs"]
mod mount_tests;

#[cfg(test)]
#[path = "create_network_tests.rs"]
mod network_tests;
