//! Tests of the spec -> create body mapping, asserting bollard structs (no Docker).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::spec::{Logging, ResourceLimits, Ulimit};

use super::*;

fn request(service: ServiceSpec) -> ContainerCreate {
    ContainerCreate {
        name: "shop-web-1".into(),
        service,
        networks: BTreeMap::new(),
        labels: BTreeMap::from([("io.composectl.managed".into(), "true".into())]),
    }
}

fn host(body: &ContainerCreateBody) -> &HostConfig {
    body.host_config.as_ref().expect("a host config")
}

#[test]
fn image_env_command_entrypoint_and_labels_are_copied() {
    let mut svc = ServiceSpec::new("web", "app:v1");
    svc.environment = BTreeMap::from([("A".into(), "1".into()), ("B".into(), "x=y".into())]);
    svc.command = Some(vec!["serve".into(), "--port".into(), "80".into()]);
    svc.entrypoint = Some(vec!["/bin/app".into()]);
    let body = container_body(&request(svc));
    assert_eq!(body.image.as_deref(), Some("app:v1"));
    assert_eq!(body.env, Some(vec!["A=1".to_owned(), "B=x=y".to_owned()]));
    assert_eq!(
        body.cmd,
        Some(vec!["serve".into(), "--port".into(), "80".into()])
    );
    assert_eq!(body.entrypoint, Some(vec!["/bin/app".to_owned()]));
    assert_eq!(
        body.labels.as_ref().unwrap()["io.composectl.managed"],
        "true"
    );
}

#[test]
fn ports_are_exposed_and_bound_with_random_host_port_when_unpublished() {
    let mut svc = ServiceSpec::new("web", "app");
    let port = |target, published, ip: Option<&str>, proto: &str| PortSpec {
        target,
        published,
        host_ip: ip.map(str::to_owned),
        protocol: proto.into(),
    };
    svc.ports = vec![
        port(80, Some(8080), Some("127.0.0.1"), "tcp"),
        port(80, Some(8081), None, "tcp"),
        port(53, None, None, "udp"),
    ];
    let body = container_body(&request(svc));
    assert_eq!(
        body.exposed_ports,
        Some(vec!["53/udp".to_owned(), "80/tcp".to_owned()])
    );
    let bindings = host(&body).port_bindings.as_ref().unwrap();
    let tcp = bindings["80/tcp"].as_ref().unwrap();
    assert_eq!(tcp.len(), 2);
    assert_eq!(tcp[0].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(tcp[0].host_port.as_deref(), Some("8080"));
    assert_eq!(tcp[1].host_ip, None);
    let udp = bindings["53/udp"].as_ref().unwrap();
    assert_eq!(udp[0].host_port.as_deref(), Some(""));
}

#[test]
fn mounts_map_by_kind_and_creatable_binds_become_bind_strings() {
    let mut svc = ServiceSpec::new("db", "postgres");
    let m = |kind, target: &str, read_only| MountSpec {
        kind,
        target: target.into(),
        read_only,
        options: Default::default(),
    };
    svc.mounts = vec![
        m(
            MountKind::Volume {
                name: "shop_data".into(),
                key: "data".into(),
            },
            "/var/lib/pg",
            false,
        ),
        m(MountKind::Anonymous, "/cache", false),
        m(
            MountKind::Bind {
                source: PathBuf::from("/srv/conf"),
                create_host_path: true,
            },
            "/etc/conf",
            true,
        ),
        m(
            MountKind::Bind {
                source: PathBuf::from("/srv/must-exist"),
                create_host_path: false,
            },
            "/data",
            false,
        ),
        m(
            MountKind::Tmpfs {
                size: Some(1 << 20),
            },
            "/tmp",
            false,
        ),
    ];
    let body = container_body(&request(svc));
    let hc = host(&body);
    assert_eq!(hc.binds, Some(vec!["/srv/conf:/etc/conf:ro".to_owned()]));
    let mounts = hc.mounts.as_ref().unwrap();
    assert_eq!(mounts.len(), 4);
    assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
    assert_eq!(mounts[0].source.as_deref(), Some("shop_data"));
    assert_eq!(mounts[0].target.as_deref(), Some("/var/lib/pg"));
    assert_eq!(mounts[1].typ, Some(MountType::VOLUME));
    assert_eq!(mounts[1].source, None);
    assert_eq!(mounts[2].typ, Some(MountType::BIND));
    assert_eq!(mounts[2].source.as_deref(), Some("/srv/must-exist"));
    assert_eq!(mounts[3].typ, Some(MountType::TMPFS));
    assert_eq!(
        mounts[3].tmpfs_options.as_ref().unwrap().size_bytes,
        Some(1 << 20)
    );
}

#[test]
fn restart_policies_map_to_engine_names() {
    let cases = [
        (RestartPolicy::No, RestartPolicyNameEnum::NO, None),
        (RestartPolicy::Always, RestartPolicyNameEnum::ALWAYS, None),
        (
            RestartPolicy::UnlessStopped,
            RestartPolicyNameEnum::UNLESS_STOPPED,
            None,
        ),
        (
            RestartPolicy::OnFailure {
                max_retries: Some(3),
            },
            RestartPolicyNameEnum::ON_FAILURE,
            Some(3),
        ),
        (
            RestartPolicy::OnFailure { max_retries: None },
            RestartPolicyNameEnum::ON_FAILURE,
            Some(0),
        ),
    ];
    for (policy, name, max) in cases {
        let got = restart_policy(policy);
        assert_eq!(got.name, Some(name), "{policy:?}");
        assert_eq!(got.maximum_retry_count, max, "{policy:?}");
    }
}

#[test]
fn healthcheck_durations_are_nanoseconds_and_none_disables() {
    let mut svc = ServiceSpec::new("web", "app");
    svc.healthcheck = Some(Healthcheck {
        test: vec!["CMD".into(), "/app".into(), "healthcheck".into()],
        interval: Some(Duration::from_secs(2)),
        timeout: Some(Duration::from_millis(500)),
        retries: Some(3),
        start_period: Some(Duration::from_secs(1)),
    });
    let hc = container_body(&request(svc)).healthcheck.unwrap();
    assert_eq!(hc.interval, Some(2_000_000_000));
    assert_eq!(hc.timeout, Some(500_000_000));
    assert_eq!(hc.retries, Some(3));
    assert_eq!(hc.start_period, Some(1_000_000_000));
    assert_eq!(hc.start_interval, None, "1.44+ field must stay unset");

    let mut off = ServiceSpec::new("web", "app");
    off.healthcheck = Some(Healthcheck {
        test: vec!["NONE".into()],
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
    });
    let hc = container_body(&request(off)).healthcheck.unwrap();
    assert_eq!(hc.test, Some(vec!["NONE".to_owned()]));
}

#[test]
fn no_healthcheck_leaves_the_images_own() {
    let body = container_body(&request(ServiceSpec::new("web", "app")));
    assert_eq!(body.healthcheck, None);
}

#[test]
fn resources_and_process_options_land_in_host_config() {
    let mut svc = ServiceSpec::new("web", "app");
    svc.limits = ResourceLimits {
        cpus: Some(1.5),
        memory: Some(768 << 20),
        pids: Some(200),
    };
    svc.user = Some("1000:1000".into());
    svc.working_dir = Some("/srv".into());
    svc.hostname = Some("web".into());
    svc.extra_hosts = vec!["db:10.0.0.2".into()];
    svc.cap_add = vec!["NET_ADMIN".into()];
    svc.cap_drop = vec!["ALL".into()];
    svc.privileged = true;
    svc.read_only = true;
    svc.ulimits = BTreeMap::from([(
        "nofile".into(),
        Ulimit {
            soft: 1024,
            hard: 4096,
        },
    )]);
    svc.logging = Some(Logging {
        driver: Some("json-file".into()),
        options: BTreeMap::from([("max-size".into(), "10m".into())]),
    });
    svc.stop_signal = Some("SIGINT".into());
    svc.stop_grace_period = Some(Duration::from_secs(30));
    svc.init = Some(true);
    let body = container_body(&request(svc));
    assert_eq!(body.user.as_deref(), Some("1000:1000"));
    assert_eq!(body.working_dir.as_deref(), Some("/srv"));
    assert_eq!(body.hostname.as_deref(), Some("web"));
    assert_eq!(body.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(body.stop_timeout, Some(30));
    let hc = host(&body);
    assert_eq!(hc.nano_cpus, Some(1_500_000_000));
    assert_eq!(hc.memory, Some(768 << 20));
    assert_eq!(hc.pids_limit, Some(200));
    assert_eq!(hc.extra_hosts, Some(vec!["db:10.0.0.2".to_owned()]));
    assert_eq!(hc.cap_add, Some(vec!["NET_ADMIN".to_owned()]));
    assert_eq!(hc.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(hc.privileged, Some(true));
    assert_eq!(hc.readonly_rootfs, Some(true));
    assert_eq!(hc.init, Some(true));
    let ul = &hc.ulimits.as_ref().unwrap()[0];
    assert_eq!(
        (ul.name.as_deref(), ul.soft, ul.hard),
        (Some("nofile"), Some(1024), Some(4096))
    );
    let log = hc.log_config.as_ref().unwrap();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    assert_eq!(log.config.as_ref().unwrap()["max-size"], "10m");
}

#[test]
fn first_network_is_in_the_request_and_the_others_are_connected_after() {
    let mut req = request(ServiceSpec::new("web", "app"));
    req.networks = BTreeMap::from([
        (
            "shop_back".into(),
            ServiceNetwork {
                aliases: vec!["api".into()],
                ipv4_address: Some("172.30.0.10".into()),
                ..ServiceNetwork::default()
            },
        ),
        ("shop_front".into(), ServiceNetwork::default()),
    ]);
    let body = container_body(&req);
    assert_eq!(host(&body).network_mode.as_deref(), Some("shop_back"));
    let endpoints = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .unwrap();
    assert_eq!(endpoints.len(), 1, "API 1.41 takes one network per create");
    let back = &endpoints["shop_back"];
    assert_eq!(back.aliases, Some(vec!["web".to_owned(), "api".to_owned()]));
    assert_eq!(
        back.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
        Some("172.30.0.10")
    );
    let extra = extra_networks(&req);
    assert_eq!(extra.len(), 1);
    assert_eq!(extra[0].0, "shop_front");
    assert_eq!(extra[0].1.aliases, Some(vec!["web".to_owned()]));
}

#[test]
fn the_highest_priority_network_is_created_with_and_ties_go_in_name_order() {
    let mut req = request(ServiceSpec::new("web", "app"));
    let prio = |priority| ServiceNetwork {
        priority,
        ..ServiceNetwork::default()
    };
    req.networks = BTreeMap::from([
        ("shop_a".into(), prio(0)),
        ("shop_b".into(), prio(10)),
        ("shop_c".into(), prio(0)),
        ("shop_d".into(), prio(-5)),
        ("shop_e".into(), prio(10)),
    ]);
    let body = container_body(&req);
    assert_eq!(host(&body).network_mode.as_deref(), Some("shop_b"));
    let endpoints = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .unwrap();
    assert!(endpoints.contains_key("shop_b"));
    let connected: Vec<String> = extra_networks(&req).into_iter().map(|(n, _)| n).collect();
    assert_eq!(connected, ["shop_e", "shop_a", "shop_c", "shop_d"]);
}

#[test]
fn an_endpoint_carries_fixed_addresses_link_local_ips_and_driver_options() {
    let mut req = request(ServiceSpec::new("web", "app"));
    req.networks = BTreeMap::from([(
        "shop_back".into(),
        ServiceNetwork {
            ipv6_address: Some("fd00:1::10".into()),
            link_local_ips: vec!["169.254.8.8".into()],
            driver_opts: BTreeMap::from([("com.example.opt".into(), "1".into())]),
            ..ServiceNetwork::default()
        },
    )]);
    let body = container_body(&req);
    let endpoint = &body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .unwrap()["shop_back"];
    let ipam = endpoint.ipam_config.as_ref().unwrap();
    assert_eq!(ipam.ipv4_address, None);
    assert_eq!(ipam.ipv6_address.as_deref(), Some("fd00:1::10"));
    assert_eq!(ipam.link_local_ips, Some(vec!["169.254.8.8".to_owned()]));
    assert_eq!(
        endpoint.driver_opts.as_ref().unwrap()["com.example.opt"],
        "1"
    );
    assert_eq!(
        endpoint.mac_address, None,
        "API 1.44: refused by the loader"
    );
    assert_eq!(
        endpoint.gw_priority, None,
        "API 1.48: refused by the loader"
    );
}

#[test]
fn an_endpoint_without_fixed_addresses_has_no_ipam_config() {
    let mut req = request(ServiceSpec::new("web", "app"));
    req.networks = BTreeMap::from([("shop_back".into(), ServiceNetwork::default())]);
    let body = container_body(&req);
    let endpoint = &body.networking_config.unwrap().endpoints_config.unwrap()["shop_back"];
    assert_eq!(endpoint.ipam_config, None);
    assert_eq!(endpoint.driver_opts, None);
}

#[test]
fn the_host_network_is_a_network_mode_without_endpoint_settings() {
    for mode in ["host", "none"] {
        let mut req = request(ServiceSpec::new("web", "app"));
        req.networks = BTreeMap::from([(mode.to_owned(), ServiceNetwork::default())]);
        let body = container_body(&req);
        assert_eq!(host(&body).network_mode.as_deref(), Some(mode));
        assert_eq!(
            body.networking_config, None,
            "{mode}: the engine refuses aliases"
        );
    }
}

#[test]
fn a_service_without_networks_gets_the_engine_default() {
    let body = container_body(&request(ServiceSpec::new("web", "app")));
    assert_eq!(body.networking_config, None);
    assert_eq!(host(&body).network_mode, None);
}

#[test]
fn network_mode_is_the_network_mode_and_joins_no_network() {
    use crate::model::refs::NetworkMode;
    let cases = [
        (NetworkMode::Host, "host"),
        (NetworkMode::None, "none"),
        (NetworkMode::Bridge, "bridge"),
        (NetworkMode::Container("vpn".into()), "container:vpn"),
        // What the executor resolved `service:vpn` to.
        (
            NetworkMode::Container("0123abcd".into()),
            "container:0123abcd",
        ),
    ];
    for (mode, expected) in cases {
        let mut svc = ServiceSpec::new("web", "app");
        svc.network_mode = Some(mode);
        let req = request(svc);
        let body = container_body(&req);
        assert_eq!(host(&body).network_mode.as_deref(), Some(expected));
        assert_eq!(body.networking_config, None, "{expected}");
        assert!(extra_networks(&req).is_empty());
    }
}

#[test]
fn volumes_from_keep_their_mode() {
    use crate::model::refs::{VolumesFrom, VolumesSource};
    let mut svc = ServiceSpec::new("web", "app");
    svc.volumes_from = vec![
        VolumesFrom {
            source: VolumesSource::Container("abc".into()),
            read_only: true,
        },
        VolumesFrom {
            source: VolumesSource::Container("legacy".into()),
            read_only: false,
        },
    ];
    let body = container_body(&request(svc));
    assert_eq!(
        host(&body).volumes_from,
        Some(vec!["abc:ro".to_owned(), "legacy".to_owned()])
    );
}

#[test]
fn links_go_to_the_host_config_and_every_endpoint_as_compose_sets_them() {
    use crate::model::refs::Link;
    let mut svc = ServiceSpec::new("web", "app");
    svc.links = vec![Link {
        target: "shop-db-1".into(),
        alias: "database".into(),
    }];
    svc.external_links = vec![Link {
        target: "legacy".into(),
        alias: "old".into(),
    }];
    let mut req = request(svc);
    req.networks = BTreeMap::from([
        ("shop_back".to_owned(), ServiceNetwork::default()),
        ("shop_front".to_owned(), ServiceNetwork::default()),
    ]);
    let expected = vec!["shop-db-1:database".to_owned(), "legacy:old".to_owned()];
    let body = container_body(&req);
    assert_eq!(host(&body).links, Some(expected.clone()));
    let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
    assert_eq!(endpoints["shop_back"].links, Some(expected.clone()));
    assert_eq!(extra_networks(&req)[0].1.links, Some(expected));
}

#[test]
fn secrets_and_configs_are_read_only_bind_mounts_of_the_materialized_files() {
    use crate::model::files::{FileDef, FileKind, FileRef};
    let def = FileDef::new("db", b"pw-value-123".to_vec());
    let mut svc = ServiceSpec::new("web", "app:v1");
    svc.secrets.push(FileRef {
        kind: FileKind::Secret,
        source: "db".into(),
        target: "/run/secrets/db".into(),
        mode: 0o400,
        digest: def.digest.clone(),
        ..FileRef::default()
    });
    let project = crate::model::ProjectSpec {
        name: "shop".into(),
        secrets: BTreeMap::from([("db".into(), def)]),
        ..Default::default()
    };
    let base = tempfile::tempdir().unwrap();
    let state = crate::state::StateDir::new(base.path(), "default");
    let mut req = request(svc);
    crate::executor::files::attach(Some(&state), &project, &mut req).unwrap();
    let body = container_body(&req);
    let host = host(&body);
    assert_eq!(
        host.binds, None,
        "never a bind that creates a missing source"
    );
    let mounts = host.mounts.as_ref().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].typ, Some(MountType::BIND));
    assert_eq!(mounts[0].target.as_deref(), Some("/run/secrets/db"));
    assert_eq!(mounts[0].read_only, Some(true));
    let source = PathBuf::from(mounts[0].source.clone().unwrap());
    assert!(source.starts_with(base.path().join("default/shop/files")));
    assert_eq!(std::fs::read(&source).unwrap(), b"pw-value-123");
    assert!(!format!("{body:?}").contains("pw-value-123"));
}

#[test]
fn resources_land_in_the_host_config() {
    use crate::model::resources::DeviceRequest;
    let mut svc = ServiceSpec::new("web", "app:v1");
    let r = &mut svc.resources;
    r.cpu_shares = Some(512);
    r.cpuset = Some("0-1".into());
    r.cpu_quota = Some(50_000);
    r.cpu_period = Some(100_000);
    r.cpu_rt_period = Some(1_000_000);
    r.cpu_rt_runtime = Some(950_000);
    r.mem_reservation = Some(64 << 20);
    r.memswap_limit = Some(-1);
    r.mem_swappiness = Some(10);
    r.oom_kill_disable = Some(true);
    r.oom_score_adj = Some(500);
    r.blkio.weight = Some(300);
    r.blkio.weight_device = vec![("/dev/sda".into(), 400)];
    r.blkio.device_read_bps = vec![("/dev/sda".into(), 1 << 20)];
    r.blkio.device_write_iops = vec![("/dev/sda".into(), 120)];
    r.device_requests = vec![DeviceRequest {
        driver: Some("nvidia".into()),
        count: Some(-1),
        capabilities: vec!["gpu".into()],
        ..DeviceRequest::default()
    }];
    let body = container_body(&request(svc));
    let h = host(&body);
    assert_eq!(h.cpu_shares, Some(512));
    assert_eq!(h.cpuset_cpus.as_deref(), Some("0-1"));
    assert_eq!((h.cpu_quota, h.cpu_period), (Some(50_000), Some(100_000)));
    assert_eq!(
        (h.cpu_realtime_period, h.cpu_realtime_runtime),
        (Some(1_000_000), Some(950_000))
    );
    assert_eq!(h.memory_reservation, Some(64 << 20));
    assert_eq!(h.memory_swap, Some(-1));
    assert_eq!(h.memory_swappiness, Some(10));
    assert_eq!(h.oom_kill_disable, Some(true));
    assert_eq!(h.oom_score_adj, Some(500));
    assert_eq!(h.blkio_weight, Some(300));
    let wd = h.blkio_weight_device.as_ref().unwrap();
    assert_eq!(
        (wd[0].path.as_deref(), wd[0].weight),
        (Some("/dev/sda"), Some(400))
    );
    let rb = h.blkio_device_read_bps.as_ref().unwrap();
    assert_eq!(
        (rb[0].path.as_deref(), rb[0].rate),
        (Some("/dev/sda"), Some(1 << 20))
    );
    assert_eq!(
        h.blkio_device_write_iops.as_ref().unwrap()[0].rate,
        Some(120)
    );
    assert!(h.blkio_device_write_bps.is_none());
    let dr = &h.device_requests.as_ref().unwrap()[0];
    assert_eq!(dr.driver.as_deref(), Some("nvidia"));
    assert_eq!(dr.count, Some(-1));
    assert_eq!(dr.capabilities, Some(vec![vec!["gpu".to_owned()]]));
}

#[test]
fn unset_resources_leave_the_engine_defaults() {
    let body = container_body(&request(ServiceSpec::new("web", "app:v1")));
    let h = host(&body);
    assert_eq!(h.cpu_shares, None);
    assert_eq!(h.oom_kill_disable, None);
    assert_eq!(h.memory_swappiness, None);
    assert!(h.device_requests.is_none() && h.blkio_weight_device.is_none());
}

#[test]
fn mount_options_go_to_the_bind_form_or_the_mount_options() {
    let mut svc = ServiceSpec::new("web", "app:v1");
    let mut bind = MountSpec::new(
        MountKind::Bind {
            source: PathBuf::from("/srv/conf"),
            create_host_path: true,
        },
        "/conf",
        true,
    );
    bind.options.selinux = Some("z".into());
    bind.options.propagation = Some("rshared".into());
    let mut strict = MountSpec::new(
        MountKind::Bind {
            source: PathBuf::from("/srv/strict"),
            create_host_path: false,
        },
        "/strict",
        false,
    );
    strict.options.propagation = Some("rslave".into());
    let mut volume = MountSpec::new(
        MountKind::Volume {
            name: "shop_data".into(),
            key: "data".into(),
        },
        "/data",
        false,
    );
    volume.options.nocopy = true;
    let mut tmpfs = MountSpec::new(
        MountKind::Tmpfs {
            size: Some(1 << 20),
        },
        "/scratch",
        false,
    );
    tmpfs.options.tmpfs_mode = Some(0o1777);
    svc.mounts = vec![bind, strict, volume, tmpfs];
    let body = container_body(&request(svc));
    let h = host(&body);
    assert_eq!(
        h.binds,
        Some(vec!["/srv/conf:/conf:ro,z,rshared".to_owned()])
    );
    let mounts = h.mounts.as_ref().unwrap();
    let strict = &mounts[0];
    assert_eq!(
        strict.bind_options.as_ref().unwrap().propagation,
        Some(MountBindOptionsPropagationEnum::RSLAVE)
    );
    assert_eq!(
        mounts[1].volume_options.as_ref().unwrap().no_copy,
        Some(true)
    );
    let t = mounts[2].tmpfs_options.as_ref().unwrap();
    assert_eq!((t.size_bytes, t.mode), (Some(1 << 20), Some(0o1777)));
}

#[test]
fn short_tmpfs_options_beyond_size_and_mode_go_to_the_tmpfs_map_as_written() {
    use crate::model::spec::{MountKind, MountSpec};
    let mut svc = ServiceSpec::new("web", "app:v1");
    let mut flagged = MountSpec::new(MountKind::Tmpfs { size: Some(65536) }, "/run/opts", false);
    flagged.options.tmpfs_flags = Some("rw,noexec,size=65536".into());
    svc.mounts = vec![
        MountSpec::new(MountKind::Tmpfs { size: None }, "/run/tmp", false),
        flagged,
    ];
    let body = container_body(&request(svc));
    let h = host(&body);
    assert_eq!(
        h.tmpfs,
        Some(HashMap::from([(
            "/run/opts".to_owned(),
            "rw,noexec,size=65536".to_owned()
        )]))
    );
    let mounts = h.mounts.as_ref().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].target.as_deref(), Some("/run/tmp"));
}
