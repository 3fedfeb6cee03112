//! The privileges of the container keys: devices, host and foreign namespaces, looser
//! confinement, other runtimes and cgroups are grants, with the line and key that ask;
//! what only takes away or stays inside the container is none.

use super::{Host, web};
use crate::policy::Grant;

fn found(host: &Host) -> Vec<(String, String, Option<usize>)> {
    host.privileges()
        .iter()
        .map(|p| {
            let at = &p.origins[0];
            (p.grant.to_string(), at.key.clone(), at.line)
        })
        .collect()
}

fn row(grant: &str, key: &str, line: usize) -> (String, String, Option<usize>) {
    (grant.to_owned(), key.to_owned(), Some(line))
}

#[test]
fn container_keys_that_reach_the_host_are_grants_with_their_place() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        &web(concat!(
            "    devices: [/dev/ttyUSB0]\n",
            "    device_cgroup_rules: ['c 189:* rwm']\n",
            "    security_opt:\n",
            "      - seccomp=unconfined\n",
            "      - apparmor:unconfined\n",
            "      - label:disable\n",
            "      - systempaths=unconfined\n",
            "    pid: host\n",
            "    ipc: container:vpn\n",
            "    uts: host\n",
            "    userns_mode: host\n",
            "    cgroup: host\n",
            "    runtime: nvidia\n",
            "    cgroup_parent: system.slice\n",
        )),
    );
    let mut got = found(&host);
    got.sort();
    let mut want = vec![
        row("device:/dev/ttyUSB0", "services.web.devices[0]", 4),
        row(
            "device-cgroup-rule:c 189:* rwm",
            "services.web.device_cgroup_rules[0]",
            5,
        ),
        row(
            "security-opt:seccomp=unconfined",
            "services.web.security_opt[0]",
            7,
        ),
        row(
            "security-opt:apparmor=unconfined",
            "services.web.security_opt[1]",
            8,
        ),
        row(
            "security-opt:label=disable",
            "services.web.security_opt[2]",
            9,
        ),
        row(
            "security-opt:systempaths=unconfined",
            "services.web.security_opt[3]",
            10,
        ),
        row("pid:host", "services.web.pid", 11),
        row("ipc:container:vpn", "services.web.ipc", 12),
        row("uts:host", "services.web.uts", 13),
        row("userns:host", "services.web.userns_mode", 14),
        row("cgroup:host", "services.web.cgroup", 15),
        row("runtime:nvidia", "services.web.runtime", 16),
        row(
            "cgroup-parent:system.slice",
            "services.web.cgroup_parent",
            17,
        ),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn container_keys_that_stay_inside_the_container_ask_for_nothing() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        &web(concat!(
            "    security_opt: [no-new-privileges:true, seccomp=builtin]\n",
            "    sysctls: {net.core.somaxconn: 1024}\n",
            "    ipc: shareable\n",
            "    cgroup: private\n",
            "    runtime: runc\n",
            "    group_add: [video]\n",
            "    shm_size: 1g\n",
            "    dns: 9.9.9.9\n",
            "    tty: true\n",
            "    expose: [80]\n",
            "    storage_opt: {size: 10G}\n",
        )),
    );
    assert_eq!(found(&host), []);
}

#[test]
fn a_namespace_of_a_service_of_the_project_is_no_privilege_and_of_a_container_is() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        &web(concat!(
            "    ipc: shareable\n",
            "  side:\n    image: demo:v1\n",
            "    ipc: service:web\n",
            "    pid: service:web\n",
            "  spy:\n    image: demo:v1\n",
            "    pid: container:web\n",
        )),
    );
    assert_eq!(
        found(&host),
        [row("pid:container:web", "services.spy.pid", 11)]
    );
}

#[test]
fn a_seccomp_profile_of_the_projects_own_is_a_grant_of_its_content() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        &web("    security_opt: [seccomp=./profile.json]\n"),
    );
    host.write(
        "shop/profile.json",
        "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}",
    );
    let first = found(&host);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0].0.starts_with("security-opt:seccomp=sha256:"),
        "{first:?}"
    );
    assert_eq!(first[0].1, "services.web.security_opt[0]");
    host.write(
        "shop/profile.json",
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}",
    );
    let second = found(&host);
    assert_ne!(first[0].0, second[0].0, "a changed profile needs approval");
}

#[test]
fn container_grants_read_back_as_written_and_odd_texts_are_refused() {
    for text in [
        "pid:host",
        "ipc:host",
        "uts:host",
        "userns:host",
        "cgroup:host",
        "pid:container:vpn",
        "ipc:container:db",
        "device-cgroup-rule:c 189:* rwm",
        "security-opt:seccomp=unconfined",
        "security-opt:label=disable",
        "runtime:nvidia",
        "cgroup-parent:system.slice",
    ] {
        let grant: Grant = text.parse().unwrap();
        assert_eq!(grant.to_string(), text);
        assert!(grant.covers(&grant));
    }
    for bad in [
        "pid:private",
        "uts:container:x",
        "cgroup:private",
        "security-opt:bogus",
        "runtime:",
        "device-cgroup-rule: ",
    ] {
        assert!(bad.parse::<Grant>().is_err(), "{bad}");
    }
    let host_pid: Grant = "pid:host".parse().unwrap();
    assert!(!host_pid.covers(&"ipc:host".parse().unwrap()));
    assert_eq!(host_pid.describe(), "the host's process namespace");
}
