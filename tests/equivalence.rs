//! Equivalence with docker-compose 1.29 on the real engine (issue #10): for each fixture
//! under `tests/fixtures/equivalence/<name>/`, the containers composectl creates have the
//! same effective configuration (the `docker inspect` fields each compose key sets) as
//! those docker-compose 1.29 creates from the same file. Both tools read the same copy of
//! the fixture, one after the other, with the same variables (`EQ_IMAGE`, `EQ_NET`,
//! `EQ_PORT1`, `EQ_PORT2`, `EQ_RANGE_LO`, `EQ_RANGE_HI`); the views are normalized as
//! `equivalence/normalize.rs` explains and any other difference fails with the fixture,
//! service and field. Needs docker and docker-compose 1.29 (Debian: `docker-compose`) and
//! Debian's `busybox-static` for the image. `EQ_DUMP=1` prints every normalized view.

mod common;

mod equivalence {
    pub mod image;
    pub mod normalize;
    pub mod run;
}

use std::collections::BTreeMap;

use equivalence::normalize::{self, Inside, Names, Secret};
use serde_json::json;

/// command, entrypoint, environment, env_file, ports (ranges, udp, host_ip), volumes
/// (short and long), tmpfs, labels, restart, healthcheck, user, working_dir, hostname,
/// extra_hosts, cap_add/cap_drop, read_only, ulimits, logging, stop_signal,
/// stop_grace_period, init, mem_limit, cpus, pids_limit, depends_on.
#[test]
fn basics() {
    equivalence::run::run("basics").assert_equivalent();
}

/// devices, device_cgroup_rules, sysctls, security_opt, dns, dns_search, dns_opt,
/// shm_size, pid, ipc, tty, stdin_open, domainname, group_add, expose, oom_score_adj,
/// oom_kill_disable, cpu_shares, cpuset, cpu_quota, cpu_period, mem_reservation,
/// memswap_limit, mem_swappiness, blkio_config weight.
#[test]
fn container_keys() {
    equivalence::run::run("container").assert_equivalent();
}

/// networks with ipam subnet/gateway, a fixed ipv4_address, aliases, labels, internal;
/// links.
#[test]
fn networks() {
    equivalence::run::run("networks").assert_equivalent();
}

/// network_mode none and service:, volumes_from (with :ro), volume labels.
#[test]
fn sharing() {
    equivalence::run::run("sharing").assert_equivalent();
}

/// secrets from a file: the target path and the content read inside the container.
#[test]
fn secrets() {
    equivalence::run::run("secrets").assert_equivalent();
}

/// extends with file + service, and within the same file.
#[test]
fn extends() {
    equivalence::run::run("extends").assert_equivalent();
}

/// The normalizer is not vacuous: two inspects that differ in one field of each part of
/// the view produce one difference each, naming the field; the legitimate differences
/// (project name, container ID and name, env order, tool labels) produce none.
#[test]
fn normalizer_reports_real_differences_only() {
    let base = |project: &str, id: &str, sep: &str| {
        json!({
            "Id": id,
            "Name": format!("/{project}{sep}web{sep}1"),
            "Config": {
                "Env": ["B=2", "A=1"],
                "Cmd": ["run"],
                "Hostname": &id[..12],
                "Labels": {"team": "a", "keep": "", "com.docker.compose.project": project, "io.composectl.managed": "true"},
            },
            "HostConfig": {"CapAdd": ["NET_ADMIN"], "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "NetworkMode": format!("{project}_default"), "Dns": []},
            "Mounts": [{"Type": "volume", "Name": format!("{project}_data"), "Source": "/x", "Destination": "/data", "RW": true}],
            "NetworkSettings": {"Networks": {format!("{project}_default"): {"Aliases": ["web", &id[..12]]}}},
        })
    };
    let id_a = "a".repeat(64);
    let id_b = "b".repeat(64);
    let a = base("eqc-one", &id_a, "_");
    let mut b = base("eqx-two", &id_b, "-");
    b["Config"]["Env"] = json!(["A=1", "B=2"]);
    b["HostConfig"]["Dns"] = json!(null);
    b["HostConfig"]["RestartPolicy"] = json!({"Name": "no", "MaximumRetryCount": 0});
    let mut names = Names::default();
    names.add("eqc-one", "PROJECT");
    names.add("eqx-two", "PROJECT");
    names.add_container(&a, "web", "1");
    names.add_container(&b, "web", "1");
    let none = Inside::default();
    let view_a = normalize::view(&a, &names, &none);
    assert_eq!(
        normalize::diff(&view_a, &normalize::view(&b, &names, &none)),
        Vec::<String>::new(),
        "legitimate differences only"
    );

    b["Config"]["Cmd"] = json!(["other"]);
    b["Config"]["Labels"]["team"] = json!("b");
    b["Config"]["Labels"]
        .as_object_mut()
        .unwrap()
        .remove("keep");
    b["HostConfig"]["CapAdd"] = json!(["SYS_ADMIN"]);
    b["Mounts"][0]["RW"] = json!(false);
    b["NetworkSettings"]["Networks"]["eqx-two_default"]["Aliases"] = json!(["api"]);
    let inside_b = Inside {
        secrets: BTreeMap::from([(
            "/run/secrets/s".to_owned(),
            Secret {
                content: "x".into(),
                mode: "400 0:0".into(),
            },
        )]),
        mount_options: BTreeMap::from([("/data".to_owned(), "ext4 ro".to_owned())]),
    };
    let diff = normalize::diff(&view_a, &normalize::view(&b, &names, &inside_b));
    let fields: Vec<&str> = diff
        .iter()
        .map(|line| line.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        fields,
        [
            "Config.Cmd",
            "Config.Labels.keep",
            "Config.Labels.team",
            "HostConfig.CapAdd",
            "MountOptions./data",
            "Mounts./data.RW",
            "Networks.PROJECT_default.Aliases",
            "Secrets./run/secrets/s",
        ],
        "{diff:#?}"
    );
}

/// The network and volume view: an engine-allocated subnet and `Attachable` of a local
/// network are no difference; a fixture's subnet, the driver and a user label are.
#[test]
fn object_normalizer_reports_real_differences_only() {
    let network = |subnet: &str, attachable: bool, label: &str| {
        json!({
            "Driver": "bridge", "Scope": "local", "Attachable": attachable, "Internal": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": [{"Subnet": subnet, "Gateway": ""}]},
            "Labels": {"com.docker.compose.network": "front", "team": label},
        })
    };
    let names = Names::default();
    let view = |v: &serde_json::Value| normalize::object_view("network", v, &names);
    let a = network("172.18.0.0/16", true, "a");
    let b = network("192.168.16.0/20", false, "a");
    assert_eq!(normalize::diff(&view(&a), &view(&b)), Vec::<String>::new());
    let mut c = network("10.214.7.0/24", false, "b");
    c["Internal"] = json!(true);
    let diff = normalize::diff(&view(&a), &view(&c));
    let fields: Vec<&str> = diff
        .iter()
        .map(|line| line.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        fields,
        [
            "network.IPAM.Config",
            "network.Internal",
            "network.Labels.team"
        ],
        "{diff:#?}"
    );
}
