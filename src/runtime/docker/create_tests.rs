//! Tests of the spec -> create body mapping, asserting bollard structs (no Docker): the
//! container's own settings (image, environment, ports, restart policy, health check,
//! resources and process options), and the request builders the mount and network tests
//! (`create_mount_tests.rs`, `create_network_tests.rs`) share.

use std::collections::BTreeMap;

use crate::model::spec::{Logging, ResourceLimits, Ulimit};

use super::*;

pub(super) fn request(service: ServiceSpec) -> ContainerCreate {
    ContainerCreate {
        name: "shop-web-1".into(),
        service,
        networks: BTreeMap::new(),
        labels: BTreeMap::from([("io.composectl.managed".into(), "true".into())]),
    }
}

pub(super) fn host(body: &ContainerCreateBody) -> &HostConfig {
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
