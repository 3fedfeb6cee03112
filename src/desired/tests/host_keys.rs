//! The loader on resources, `deploy`, `healthcheck`, env and label files, long mount
//! options, `pull_policy` and `platform`: each key applied as compose applies it, refused
//! naming the key, or warned as without effect on one host.

use std::time::Duration;

use super::*;
use crate::model::resources::{DeviceRequest, PullPolicy};
use crate::model::spec::{MountKind, RestartPolicy, ServiceSpec};

/// Loads `service` (the lines under `web:`) and returns the service and the warnings'
/// `key: message` lines.
fn load_web(d: &Desired, service: &str) -> (ServiceSpec, Vec<String>) {
    d.write("shop/compose.yaml", &one_service(service));
    let report = d.load();
    let loaded = ok(&report, "shop");
    let warnings = loaded
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.key, w.message))
        .collect();
    (loaded.spec.services["web"].clone(), warnings)
}

fn load_err(d: &Desired, service: &str) -> String {
    d.write("shop/compose.yaml", &one_service(service));
    err_text(&d.load(), "shop")
}

#[test]
fn service_resource_keys_reach_the_spec() {
    let d = Desired::new();
    let (web, _) = load_web(
        &d,
        "    image: nginx
    cpu_shares: 512
    cpuset: 0-1
    cpu_quota: 50000
    cpu_period: 100000
    cpu_rt_period: 1000000
    cpu_rt_runtime: 950000
    mem_reservation: 64m
    memswap_limit: -1
    mem_swappiness: 10
    oom_kill_disable: true
    oom_score_adj: 500
    blkio_config:
      weight: 300
      weight_device: [{path: /dev/sda, weight: 400}]
      device_read_bps: [{path: /dev/sda, rate: 1mb}]
      device_write_iops: [{path: /dev/sda, rate: 120}]
    gpus: all
",
    );
    let r = &web.resources;
    assert_eq!(r.cpu_shares, Some(512));
    assert_eq!(r.cpuset.as_deref(), Some("0-1"));
    assert_eq!((r.cpu_quota, r.cpu_period), (Some(50000), Some(100000)));
    assert_eq!(
        (r.cpu_rt_period, r.cpu_rt_runtime),
        (Some(1000000), Some(950000))
    );
    assert_eq!(r.mem_reservation, Some(64 << 20));
    assert_eq!(r.memswap_limit, Some(-1));
    assert_eq!(r.mem_swappiness, Some(10));
    assert_eq!(r.oom_kill_disable, Some(true));
    assert_eq!(r.oom_score_adj, Some(500));
    assert_eq!(r.blkio.weight, Some(300));
    assert_eq!(r.blkio.weight_device, vec![("/dev/sda".to_string(), 400)]);
    assert_eq!(
        r.blkio.device_read_bps,
        vec![("/dev/sda".to_string(), 1 << 20)]
    );
    assert_eq!(
        r.blkio.device_write_iops,
        vec![("/dev/sda".to_string(), 120)]
    );
    assert_eq!(
        r.device_requests,
        vec![DeviceRequest {
            count: Some(-1),
            capabilities: vec!["gpu".into()],
            ..DeviceRequest::default()
        }]
    );
}

#[test]
fn out_of_range_resources_and_unknown_blkio_keys_are_errors() {
    let d = Desired::new();
    let text = load_err(
        &d,
        "    image: nginx\n    oom_score_adj: 2000\n    cpuset: a-b\n    blkio_config:\n      wieght: 10\n",
    );
    assert!(text.contains("services.web.oom_score_adj"), "{text}");
    assert!(text.contains("-1000 to 1000"), "{text}");
    assert!(text.contains("services.web.cpuset"), "{text}");
    assert!(text.contains("services.web.blkio_config.wieght"), "{text}");
}

#[test]
fn deploy_reservations_give_memory_and_devices_and_cpus_only_warn() {
    let d = Desired::new();
    let (web, warnings) = load_web(
        &d,
        "    image: nginx
    mem_reservation: 32m
    gpus:
      - driver: nvidia
        device_ids: ['0']
    deploy:
      resources:
        reservations:
          cpus: '0.5'
          memory: 128m
          devices:
            - capabilities: [gpu, utility]
              count: 2
              driver: nvidia
              options: {virtualization: 'false'}
",
    );
    assert_eq!(web.resources.mem_reservation, Some(128 << 20));
    let requests = &web.resources.device_requests;
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].device_ids, vec!["0"]);
    assert_eq!(requests[0].capabilities, vec!["gpu"]);
    assert_eq!(requests[1].count, Some(2));
    assert_eq!(requests[1].capabilities, vec!["gpu", "utility"]);
    assert_eq!(requests[1].options["virtualization"], "false");
    assert!(
        warnings.iter().any(
            |w| w.starts_with("services.web.deploy.resources.reservations.cpus:")
                && w.contains("no effect on one Docker host")
        ),
        "{warnings:?}"
    );
}

#[test]
fn limits_devices_and_device_reservations_without_capabilities_are_errors() {
    let d = Desired::new();
    let text = load_err(
        &d,
        "    image: nginx
    deploy:
      resources:
        limits:
          devices: [{capabilities: [gpu]}]
        reservations:
          devices: [{count: 1}]
",
    );
    assert!(text.contains("deploy.resources.limits.devices"), "{text}");
    assert!(text.contains("reservations.devices"), "{text}");
    assert!(text.contains("needs `capabilities:`"), "{text}");
}

#[test]
fn deploy_restart_policy_sets_the_restart_policy_over_restart() {
    let d = Desired::new();
    let (web, warnings) = load_web(
        &d,
        "    image: nginx
    restart: always
    deploy:
      restart_policy:
        condition: on-failure
        max_attempts: 3
        delay: 5s
",
    );
    assert_eq!(
        web.restart,
        RestartPolicy::OnFailure {
            max_retries: Some(3)
        }
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("services.web.restart:")
                && w.contains("overridden by `deploy.restart_policy`"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("restart_policy.delay") && w.contains("no effect"))
    );
    let (web, _) = load_web(
        &d,
        "    image: nginx\n    deploy:\n      restart_policy:\n        condition: any\n",
    );
    assert_eq!(web.restart, RestartPolicy::Always);
    let text = load_err(
        &d,
        "    image: nginx\n    deploy:\n      restart_policy:\n        condition: sometimes\n",
    );
    assert!(text.contains("deploy.restart_policy.condition"), "{text}");
}

#[test]
fn swarm_only_deploy_keys_warn_that_they_have_no_effect_on_one_host() {
    let d = Desired::new();
    let (web, warnings) = load_web(
        &d,
        "    image: nginx
    deploy:
      mode: global
      labels: {tier: web}
      placement: {constraints: [node.role==manager]}
      endpoint_mode: dnsrr
",
    );
    assert_eq!(web.replicas, 1);
    assert!(
        web.labels.is_empty(),
        "deploy.labels label the Swarm service"
    );
    for key in ["mode", "labels", "placement", "endpoint_mode"] {
        let path = format!("services.web.deploy.{key}:");
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&path) && w.contains("no effect on one Docker host")),
            "{key}: {warnings:?}"
        );
    }
    let text = load_err(&d, "    image: nginx\n    deploy:\n      mode: sideways\n");
    assert!(text.contains("services.web.deploy.mode"), "{text}");
}

#[test]
fn healthcheck_forms_follow_compose() {
    let d = Desired::new();
    let check = |d: &Desired, body: &str| {
        let (web, _) = load_web(d, &format!("    image: nginx\n    healthcheck:\n{body}"));
        web.healthcheck.expect("a healthcheck")
    };
    let on = check(
        &d,
        "      test: curl -f http://localhost/\n      disable: false\n",
    );
    assert_eq!(on.test, vec!["CMD-SHELL", "curl -f http://localhost/"]);
    let off = check(&d, "      test: [\"CMD\", \"true\"]\n      disable: true\n");
    assert_eq!(off.test, vec!["NONE"]);
    let none = check(&d, "      test: [\"NONE\"]\n");
    assert_eq!(none.test, vec!["NONE"]);
    let timings = check(&d, "      interval: 5s\n      retries: 2\n");
    assert!(timings.test.is_empty(), "keeps the image's test");
    assert_eq!(timings.interval, Some(Duration::from_secs(5)));
    let text = load_err(
        &d,
        "    image: nginx\n    healthcheck:\n      test: [\"curl\", \"x\"]\n      start_period: 5s\n      start_interval: 1s\n",
    );
    assert!(text.contains("services.web.healthcheck.test"), "{text}");
    assert!(
        text.contains("services.web.healthcheck.start_interval"),
        "{text}"
    );
    assert!(text.contains("Engine API 1.44"), "{text}");
}

#[test]
fn env_files_may_be_optional_and_raw() {
    let d = Desired::new();
    d.write("shop/raw.env", "A=\"kept\" $HOME\n");
    let (web, _) = load_web(
        &d,
        "    image: nginx
    env_file:
      - path: missing.env
        required: false
      - path: raw.env
        format: raw
",
    );
    assert_eq!(web.environment["A"], "\"kept\" $HOME");
    let text = load_err(
        &d,
        "    image: nginx\n    env_file:\n      - path: raw.env\n        format: yaml\n",
    );
    assert!(text.contains("services.web.env_file[0].format"), "{text}");
}

#[test]
fn label_files_are_read_and_labels_win() {
    let d = Desired::new();
    d.write("shop/app.labels", "tier=back\nteam=core\n");
    d.write("shop/more.labels", "team=edge\n");
    let (web, _) = load_web(
        &d,
        "    image: nginx
    labels: {tier: front}
    label_file: [app.labels, more.labels]
",
    );
    assert_eq!(web.labels["tier"], "front");
    assert_eq!(web.labels["team"], "edge");
    let text = load_err(&d, "    image: nginx\n    label_file: nope.labels\n");
    assert!(text.contains("services.web.label_file"), "{text}");
    assert!(text.contains("nope.labels"), "{text}");
}

#[test]
fn long_mount_options_are_applied_or_refused_naming_the_key() {
    let d = Desired::new();
    let (web, warnings) = load_web(
        &d,
        "    image: nginx
    volumes:
      - type: bind
        source: ./conf
        target: /conf
        consistency: cached
        bind: {propagation: rshared, selinux: z}
      - type: volume
        source: data
        target: /data
        volume: {nocopy: true}
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1m, mode: \"1777\"}
      - ./short:/short:ro,Z,rslave
volumes:
  data: {}
",
    );
    let m = |target: &str| web.mounts.iter().find(|m| m.target == target).unwrap();
    assert_eq!(m("/conf").options.propagation.as_deref(), Some("rshared"));
    assert_eq!(m("/conf").options.selinux.as_deref(), Some("z"));
    assert!(m("/data").options.nocopy);
    assert_eq!(
        m("/scratch").kind,
        MountKind::Tmpfs {
            size: Some(1 << 20)
        }
    );
    assert_eq!(m("/scratch").options.tmpfs_mode, Some(0o1777));
    assert!(m("/short").read_only);
    assert_eq!(m("/short").options.selinux.as_deref(), Some("Z"));
    assert_eq!(m("/short").options.propagation.as_deref(), Some("rslave"));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("consistency") && w.contains("no effect")),
        "{warnings:?}"
    );
    let text = load_err(
        &d,
        "    image: nginx
    volumes:
      - type: volume
        source: data
        target: /data
        volume: {subpath: x}
      - type: bind
        source: ./a
        target: /a
        bind: {recursive: disabled, propagate: x}
      - type: tmpfs
        target: /t
        volume: {nocopy: true}
volumes:
  data: {}
",
    );
    assert!(
        text.contains("services.web.volumes[0].volume.subpath"),
        "{text}"
    );
    assert!(text.contains("Engine API 1.45"), "{text}");
    assert!(
        text.contains("services.web.volumes[1].bind.recursive"),
        "{text}"
    );
    assert!(
        text.contains("services.web.volumes[1].bind.propagate"),
        "{text}"
    );
    assert!(text.contains("services.web.volumes[2].volume"), "{text}");
}

#[test]
fn pull_policies_parse_as_compose_names_them() {
    let d = Desired::new();
    let policy = |d: &Desired, text: &str| {
        load_web(d, &format!("    image: nginx\n{text}"))
            .0
            .pull_policy
    };
    assert_eq!(policy(&d, ""), PullPolicy::Missing);
    assert_eq!(
        policy(&d, "    pull_policy: if_not_present\n"),
        PullPolicy::Missing
    );
    assert_eq!(policy(&d, "    pull_policy: never\n"), PullPolicy::Never);
    assert_eq!(
        policy(&d, "    pull_policy: every_1d12h\n"),
        PullPolicy::Refresh(Duration::from_secs(36 * 3600))
    );
    assert_eq!(
        policy(&d, "    pull_policy: refresh\n    pull_refresh_after: 2h\n"),
        PullPolicy::Refresh(Duration::from_secs(7200))
    );
    let text = load_err(
        &d,
        "    image: nginx\n    pull_policy: sometimes\n    platform: linux//arm\n",
    );
    assert!(text.contains("services.web.pull_policy"), "{text}");
    assert!(text.contains("services.web.platform"), "{text}");
    let text = load_err(&d, "    image: nginx\n    pull_policy: refresh\n");
    assert!(text.contains("pull_refresh_after"), "{text}");
    let (web, _) = load_web(&d, "    image: nginx\n    platform: linux/arm64/v8\n");
    assert_eq!(web.platform.as_deref(), Some("linux/arm64/v8"));
}
