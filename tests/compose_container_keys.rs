//! The container keys on the real engine: a compose file with every container key this
//! engine accepts is applied with `composectl apply --once`, and `docker inspect` (the
//! oracle) shows each one on the container; changing one later is drift that `plan` names
//! by its compose key; and a commit that adds a host namespace is held by the host policy.

mod common;

use common::{TestProject, demo_image, docker};
use serde_json::Value;

/// A service with the container keys; `shm` and `extra` vary between runs.
fn compose(shm: &str, extra: &str) -> String {
    let image = demo_image("v1");
    format!(
        r#"services:
  box:
    image: {image}
    restart: "no"
    networks: [inner]
    devices:
      - "/dev/null:/dev/keys-null:rw"
      - /dev/zero
    device_cgroup_rules: ["c 1:3 mr"]
    sysctls:
      net.ipv4.ip_forward: 1
    security_opt: ["no-new-privileges:true"]
    dns: 9.9.9.9
    dns_search: example.internal
    dns_opt: [use-vc]
    shm_size: {shm}
    ipc: shareable
    cgroup: private
    group_add: ["4242"]
    tty: true
    stdin_open: true
    runtime: runc
    domainname: example.internal
    expose: ["7000", "7100-7101/udp"]
{extra}networks:
  inner: {{}}
"#
    )
}

/// `docker inspect` of the project's only container.
fn inspect(project: &TestProject) -> Value {
    let containers = project.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    let text = docker(&["inspect", &containers[0].id]);
    let all: Value = serde_json::from_str(&text).expect("docker inspect prints JSON");
    all[0].clone()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn container_keys_reach_the_engine_and_a_change_is_named_drift() {
    let project = TestProject::new("ck-keys");
    project.write_compose(&compose("96m", ""));
    let run = project.cli(&["apply", "--once"]);
    assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());

    let c = inspect(&project);
    let host = &c["HostConfig"];
    let config = &c["Config"];
    let devices = host["Devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2, "{devices:?}");
    assert_eq!(devices[0]["PathOnHost"], "/dev/null");
    assert_eq!(devices[0]["PathInContainer"], "/dev/keys-null");
    assert_eq!(devices[0]["CgroupPermissions"], "rw");
    assert_eq!(devices[1]["PathInContainer"], "/dev/zero");
    assert_eq!(devices[1]["CgroupPermissions"], "rwm");
    assert_eq!(strings(&host["DeviceCgroupRules"]), ["c 1:3 mr"]);
    assert_eq!(host["Sysctls"]["net.ipv4.ip_forward"], "1");
    assert_eq!(strings(&host["SecurityOpt"]), ["no-new-privileges:true"]);
    assert_eq!(strings(&host["Dns"]), ["9.9.9.9"]);
    assert_eq!(strings(&host["DnsSearch"]), ["example.internal"]);
    assert_eq!(strings(&host["DnsOptions"]), ["use-vc"]);
    assert_eq!(host["ShmSize"], 96 << 20);
    assert_eq!(host["IpcMode"], "shareable");
    assert_eq!(host["CgroupnsMode"], "private");
    assert_eq!(strings(&host["GroupAdd"]), ["4242"]);
    assert_eq!(host["Runtime"], "runc");
    assert_eq!(config["Tty"], true);
    assert_eq!(config["OpenStdin"], true);
    assert_eq!(config["Domainname"], "example.internal");
    let exposed = config["ExposedPorts"].as_object().expect("exposed ports");
    for port in ["7000/tcp", "7100/udp", "7101/udp"] {
        assert!(exposed.contains_key(port), "{port} not in {exposed:?}");
    }
    assert_eq!(c["State"]["Running"], true, "the container runs");

    project.write_compose(&compose("128m", ""));
    let run = project.cli(&["plan"]);
    assert_eq!(
        run.code,
        Some(2),
        "plan with a change pending:\n{}",
        run.all()
    );
    assert!(
        run.stdout.contains("config changed: shm_size"),
        "plan does not name shm_size:\n{}",
        run.all()
    );
}

#[test]
fn a_commit_that_adds_the_hosts_pid_namespace_is_held() {
    let project = TestProject::new("ck-held");
    project.write_compose(&compose("64m", ""));
    let run = project.cli(&["apply", "--once"]);
    assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());
    let before = inspect(&project);

    project.write_compose(&compose("64m", "    pid: host\n"));
    let run = project.cli(&["apply", "--once"]);
    assert_ne!(run.code, Some(0), "a new host namespace was applied");
    assert!(run.all().contains("pid:host"), "{}", run.all());
    let after = inspect(&project);
    assert_eq!(before["Id"], after["Id"], "the held project changed");
    assert_eq!(after["HostConfig"]["PidMode"], "");
}
