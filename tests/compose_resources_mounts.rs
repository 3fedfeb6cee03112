//! Resources, long mount options, healthchecks, label files, `deploy.restart_policy` and
//! `pull_policy: never` against the real engine: `composectl apply --once` creates the
//! containers from a compose file, and `docker inspect` (the oracle) shows each key took
//! effect; a service whose image may not be pulled fails naming `pull_policy` and leaves
//! the other service running.

mod common;

use serde_json::Value;

use common::{TestProject, demo_image, docker};

/// `docker inspect` of the one container of `service`.
fn inspect(project: &TestProject, service: &str) -> Value {
    let filter = format!("label=com.docker.compose.service={service}");
    let project_filter = format!("label=com.docker.compose.project={}", project.name());
    let id = docker(&[
        "ps",
        "-aq",
        "--filter",
        &filter,
        "--filter",
        &project_filter,
    ]);
    assert!(
        !id.is_empty() && !id.contains('\n'),
        "one container of {service}: {id:?}"
    );
    let json: Value = serde_json::from_str(&docker(&["inspect", &id])).expect("inspect JSON");
    json[0].clone()
}

/// A block device of the host the engine can throttle, if there is one.
fn block_device() -> Option<&'static str> {
    ["/dev/loop0", "/dev/vda", "/dev/sda"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

#[test]
fn resources_mount_options_healthchecks_and_label_files_take_effect() {
    let project = TestProject::new("res-mounts");
    let name = project.name().to_owned();
    let image = demo_image("v1");
    project.write(&format!("{name}/app.labels"), "tier=back\nteam=core\n");
    std::fs::create_dir_all(project.path(&format!("{name}/conf"))).unwrap();
    let blkio = match block_device() {
        Some(dev) => {
            format!("    blkio_config:\n      device_read_bps: [{{path: {dev}, rate: 1mb}}]\n")
        }
        None => String::new(),
    };
    project.write_compose(&format!(
        r#"services:
  res:
    image: {image}
    cpu_shares: 512
    cpuset: "0"
    cpu_quota: 50000
    cpu_period: 100000
    mem_limit: 256m
    mem_reservation: 32m
    memswap_limit: -1
    mem_swappiness: 10
    oom_score_adj: 100
{blkio}    labels: {{tier: front}}
    label_file: app.labels
    healthcheck:
      test: ["CMD", "/demo-app", "--health"]
      interval: 30s
      disable: false
    deploy:
      restart_policy:
        condition: on-failure
        max_attempts: 2
      resources:
        reservations:
          memory: 64m
    volumes:
      - type: bind
        source: ./conf
        target: /conf
        read_only: true
        bind: {{propagation: private}}
      - type: volume
        source: data
        target: /data
        volume: {{nocopy: true}}
      - type: tmpfs
        target: /scratch
        tmpfs: {{size: 1m, mode: "1777"}}
  off:
    image: {image}
    healthcheck:
      test: ["CMD", "/demo-app", "--health"]
      disable: true
volumes:
  data: {{}}
"#
    ));
    let run = project.cli(&["apply", "--once"]);
    assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());

    let res = inspect(&project, "res");
    let host = &res["HostConfig"];
    assert_eq!(host["CpuShares"], 512);
    assert_eq!(host["CpusetCpus"], "0");
    assert_eq!(host["CpuQuota"], 50000);
    assert_eq!(host["CpuPeriod"], 100000);
    assert_eq!(host["Memory"], 256 << 20);
    assert_eq!(
        host["MemoryReservation"],
        64 << 20,
        "the deploy reservation wins"
    );
    assert_eq!(host["MemorySwap"], -1);
    assert_eq!(host["MemorySwappiness"], 10);
    assert_eq!(host["OomScoreAdj"], 100);
    if let Some(dev) = block_device() {
        assert_eq!(host["BlkioDeviceReadBps"][0]["Path"], dev);
        assert_eq!(host["BlkioDeviceReadBps"][0]["Rate"], 1 << 20);
    }
    assert_eq!(host["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(host["RestartPolicy"]["MaximumRetryCount"], 2);

    let labels = &res["Config"]["Labels"];
    assert_eq!(labels["tier"], "front", "labels win over label_file");
    assert_eq!(labels["team"], "core");
    assert_eq!(
        res["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/demo-app", "--health"])
    );
    assert_eq!(res["Config"]["Healthcheck"]["Interval"], 30_000_000_000_i64);

    let mounts = res["Mounts"].as_array().expect("mounts");
    let conf = mounts
        .iter()
        .find(|m| m["Destination"] == "/conf")
        .expect("the bind");
    assert_eq!(conf["Propagation"], "private");
    assert_eq!(conf["RW"], false);
    let spec_mounts = host["Mounts"].as_array().expect("HostConfig.Mounts");
    let data = spec_mounts
        .iter()
        .find(|m| m["Target"] == "/data")
        .expect("the volume");
    assert_eq!(data["VolumeOptions"]["NoCopy"], true);
    let scratch = spec_mounts
        .iter()
        .find(|m| m["Target"] == "/scratch")
        .expect("the tmpfs");
    assert_eq!(scratch["TmpfsOptions"]["SizeBytes"], 1 << 20);
    assert_eq!(scratch["TmpfsOptions"]["Mode"], 0o1777);

    let off = inspect(&project, "off");
    assert_eq!(
        off["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
}

#[test]
fn a_never_pulled_missing_image_fails_its_service_naming_the_key() {
    let project = TestProject::new("pull-never");
    let image = demo_image("v1");
    let absent = format!("composectl-absent/{}:v1", project.name());
    project.write_compose(&format!(
        "services:\n  a-ok:\n    image: {image}\n  z-never:\n    image: {absent}\n    pull_policy: never\n"
    ));
    let run = project.cli(&["apply", "--once"]);
    let out = run.all();
    assert_ne!(
        run.code,
        Some(0),
        "the missing image fails the apply:\n{out}"
    );
    assert!(out.contains("pull_policy: never"), "{out}");
    assert!(out.contains("z-never"), "{out}");
    assert!(!out.contains("pull image"), "nothing is pulled:\n{out}");
    let ok = inspect(&project, "a-ok");
    assert_eq!(ok["State"]["Running"], true, "the other service runs");
    let filter = format!("label=com.docker.compose.project={}", project.name());
    let names = docker(&["ps", "-a", "--format", "{{.Names}}", "--filter", &filter]);
    assert!(
        !names.contains("z-never"),
        "no container of z-never: {names}"
    );
}
