//! The container keys: each is read into the spec as compose reads it, or refused with
//! the file, line and key; the Windows-only keys warn that they have no effect.

use super::*;
use crate::model::spec::DeviceMapping;

#[test]
fn container_keys_load_in_every_form_compose_accepts() {
    let d = Desired::new();
    d.write(
        "shop/seccomp.json",
        "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n",
    );
    d.write(
        "shop/compose.yaml",
        &one_service(concat!(
            "    image: app\n",
            "    expose: [80, \"53/udp\", \"8000-8001\", \"80/tcp\"]\n",
            "    devices:\n",
            "      - /dev/null\n",
            "      - /dev/sda:rw\n",
            "      - /dev/zero:/dev/z:r\n",
            "      - {source: /dev/fuse, target: /dev/f}\n",
            "    device_cgroup_rules: ['c 1:3 mr']\n",
            "    sysctls: [net.core.somaxconn=1024]\n",
            "    security_opt: [no-new-privileges:true, seccomp=./seccomp.json, label:disable]\n",
            "    dns: 9.9.9.9\n",
            "    dns_search: [a.example, b.example]\n",
            "    dns_opt: [use-vc]\n",
            "    shm_size: 64m\n",
            "    pid: host\n",
            "    ipc: container:other\n",
            "    uts: host\n",
            "    userns_mode: host\n",
            "    cgroup: private\n",
            "    cgroup_parent: custom.slice\n",
            "    group_add: [video, 4242]\n",
            "    tty: true\n",
            "    stdin_open: true\n",
            "    runtime: runc\n",
            "    domainname: example.internal\n",
            "    storage_opt: {size: 20G}\n",
        )),
    );
    let report = d.load();
    let loaded = ok(&report, "shop");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let web = &loaded.spec.services["web"];
    assert_eq!(web.expose, ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]);
    let device = |s: &str, t: &str, p: &str| DeviceMapping {
        source: s.into(),
        target: t.into(),
        permissions: p.into(),
    };
    assert_eq!(
        web.devices,
        [
            device("/dev/null", "/dev/null", "rwm"),
            device("/dev/sda", "/dev/sda", "rw"),
            device("/dev/zero", "/dev/z", "r"),
            device("/dev/fuse", "/dev/f", "rwm"),
        ]
    );
    assert_eq!(web.device_cgroup_rules, ["c 1:3 mr"]);
    assert_eq!(web.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(
        web.security_opt,
        [
            "no-new-privileges:true",
            "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
            "label:disable"
        ]
    );
    assert_eq!(web.dns, ["9.9.9.9"]);
    assert_eq!(web.dns_search, ["a.example", "b.example"]);
    assert_eq!(web.dns_opt, ["use-vc"]);
    assert_eq!(web.shm_size, Some(64 << 20));
    assert_eq!(web.pid.as_deref(), Some("host"));
    assert_eq!(web.ipc.as_deref(), Some("container:other"));
    assert_eq!(web.uts.as_deref(), Some("host"));
    assert_eq!(web.userns_mode.as_deref(), Some("host"));
    assert_eq!(web.cgroup.as_deref(), Some("private"));
    assert_eq!(web.cgroup_parent.as_deref(), Some("custom.slice"));
    assert_eq!(web.group_add, ["video", "4242"]);
    assert!(web.tty && web.stdin_open);
    assert_eq!(web.runtime.as_deref(), Some("runc"));
    assert_eq!(web.domainname.as_deref(), Some("example.internal"));
    assert_eq!(web.storage_opt["size"], "20G");
}

#[test]
fn malformed_container_keys_fail_naming_the_line_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "    devices: [nvidia.com/gpu=all]\n",
            ":4:15: services.web.devices[0]: \"nvidia.com/gpu=all\" names a CDI device, which needs Docker 25",
        ),
        (
            "    devices: [\"/dev/zero:/dev/z:rx\"]\n",
            "services.web.devices[0]: \"/dev/zero:/dev/z:rx\" has permissions other than",
        ),
        (
            "    devices: [dev/zero]\n",
            "services.web.devices[0]: \"dev/zero\" is not a device mapping",
        ),
        (
            "    device_cgroup_rules: ['c 1-3 r']\n",
            "services.web.device_cgroup_rules[0]: \"c 1-3 r\" is not a device cgroup rule",
        ),
        (
            "    security_opt: [bogus]\n",
            "services.web.security_opt[0]: \"bogus\" is not a security option",
        ),
        (
            "    security_opt: [seccomp=./missing.json]\n",
            "fix the path of the seccomp profile",
        ),
        (
            "    dns: [9.9.9.9, dns.example]\n",
            "services.web.dns[1]: \"dns.example\" is not an IP address",
        ),
        (
            "    pid: 'service:'\n",
            ":4:10: services.web.pid: \"service:\" is not a mode the engine knows here; write `host` or `container:NAME` or `service:NAME`",
        ),
        (
            "    ipc: sideways\n",
            "services.web.ipc: \"sideways\" is not a mode the engine knows here; write `none` or `private` or `shareable` or `host` or `container:NAME` or `service:NAME`",
        ),
        (
            "    cgroup: container:x\n",
            "services.web.cgroup: \"container:x\" is not a mode the engine knows here; write `host` or `private`",
        ),
        (
            "    isolation: hyperv\n",
            "services.web.isolation: \"hyperv\" is a Windows isolation technology",
        ),
        (
            "    expose: [\"80-70\"]\n",
            "services.web.expose[0]: \"80-70\" is not a port to expose",
        ),
        (
            "    sysctls: [net.core.somaxconn]\n",
            "services.web.sysctls.net.core.somaxconn: a sysctl needs a value",
        ),
        (
            "    sysctls:\n      kernel.panic: 1\n",
            ":5:21: services.web.sysctls.kernel.panic: `kernel.panic` is not a sysctl of the container's own namespaces",
        ),
        (
            "    mac_address: 02:42:ac:11:00:02\n",
            ":4:5: services.web.mac_address: `mac_address` cannot be applied on this host",
        ),
        (
            "    annotations: {a: b}\n",
            "services.web.annotations: `annotations` needs Docker 24 (Engine API 1.43)",
        ),
    ];
    for (service, want) in cases {
        let d = Desired::new();
        d.write(
            "a/compose.yaml",
            &one_service(&format!("    image: app\n{service}")),
        );
        let text = err_text(&d.load(), "a");
        assert!(text.contains(want), "{service}: {text}");
    }
}

#[test]
fn a_seccomp_profile_that_is_not_json_is_refused_without_quoting_it() {
    let d = Desired::new();
    d.write("a/profile.json", "hunter2 is not json\n");
    d.write(
        "a/compose.yaml",
        &one_service("    image: app\n    security_opt: [seccomp=profile.json]\n"),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("is not JSON (line 1); fix the file"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn windows_only_keys_warn_that_they_have_no_effect_on_linux() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service(concat!(
            "    image: app\n",
            "    cpu_count: 2\n",
            "    cpu_percent: 50\n",
            "    isolation: default\n",
            "    credential_spec: {file: spec.json}\n",
        )),
    );
    let report = d.load();
    let loaded = ok(&report, "a");
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    for (warning, key) in
        warnings
            .iter()
            .zip(["cpu_count", "cpu_percent", "isolation", "credential_spec"])
    {
        assert!(
            warning.contains(&format!("`{key}` has no effect on a Linux host")),
            "{warning}"
        );
    }
}

#[test]
fn a_changed_container_key_is_named_by_its_compose_key() {
    use crate::model::hash::{decode_fields, differing_fields, encode_fields, field_hashes};
    use crate::model::spec::{ProjectSpec, ServiceSpec};
    let project = ProjectSpec::default();
    let a = ServiceSpec::new("web", "app");
    let observed = decode_fields(&encode_fields(&field_hashes(&project, &a)));
    type Change = (&'static str, fn(&mut ServiceSpec));
    let changes: [Change; 6] = [
        ("shm_size", |s| s.shm_size = Some(1 << 30)),
        ("security_opt", |s| {
            s.security_opt = vec!["no-new-privileges:true".into()]
        }),
        ("devices", |s| {
            s.devices = vec![DeviceMapping {
                source: "/dev/zero".into(),
                target: "/dev/zero".into(),
                permissions: "rwm".into(),
            }]
        }),
        ("dns_opt", |s| s.dns_opt = vec!["use-vc".into()]),
        ("stdin_open", |s| s.stdin_open = true),
        ("expose", |s| s.expose = vec!["80/tcp".into()]),
    ];
    for (key, change) in changes {
        let mut b = a.clone();
        change(&mut b);
        assert_eq!(
            differing_fields(&field_hashes(&project, &b), &observed),
            [key]
        );
    }
}

#[test]
fn a_service_stored_before_the_container_keys_reads_back_without_them() {
    use crate::model::spec::ServiceSpec;
    let mut json = serde_json::to_value(ServiceSpec::new("web", "app")).unwrap();
    let object = json.as_object_mut().unwrap();
    for key in [
        "expose",
        "devices",
        "device_cgroup_rules",
        "sysctls",
        "security_opt",
        "dns",
        "dns_search",
        "dns_opt",
        "shm_size",
        "pid",
        "ipc",
        "uts",
        "userns_mode",
        "cgroup",
        "cgroup_parent",
        "group_add",
        "tty",
        "stdin_open",
        "runtime",
        "domainname",
        "storage_opt",
    ] {
        assert!(object.remove(key).is_some(), "{key}");
    }
    let back: ServiceSpec = serde_json::from_value(json).unwrap();
    assert_eq!(back, ServiceSpec::new("web", "app"));
}
