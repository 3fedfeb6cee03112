//! Service references: `network_mode`, `ipc` and `pid` of `service:NAME`, `volumes_from`,
//! `links`, `external_links`, and the `depends_on` options `required` and `restart`.

use super::*;
use crate::model::refs::{Link, NetworkMode, VolumesFrom, VolumesSource};
use crate::model::spec::DependsOn;

fn project(services: &str) -> String {
    format!("services:\n  a:\n    image: app\n{services}")
}

#[test]
fn network_modes_convert_and_join_no_project_network() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project(concat!(
            "  host:\n    image: app\n    network_mode: host\n",
            "  none:\n    image: app\n    network_mode: none\n",
            "  bridge:\n    image: app\n    network_mode: bridge\n",
            "  shared:\n    image: app\n    network_mode: service:a\n",
            "  foreign:\n    image: app\n    network_mode: container:vpn\n",
        )),
    );
    let report = d.load();
    let spec = &ok(&report, "p").spec;
    let mode = |s: &str| spec.services[s].network_mode.clone();
    assert_eq!(mode("host"), Some(NetworkMode::Host));
    assert_eq!(mode("none"), Some(NetworkMode::None));
    assert_eq!(mode("bridge"), Some(NetworkMode::Bridge));
    assert_eq!(mode("shared"), Some(NetworkMode::Service("a".into())));
    assert_eq!(mode("foreign"), Some(NetworkMode::Container("vpn".into())));
    for s in ["host", "none", "bridge", "shared", "foreign"] {
        assert!(spec.services[s].networks.is_empty(), "{s} joins no network");
    }
    assert!(spec.services["a"].networks.contains_key("default"));
    // `service:a` is a dependency that replaces the service when a's container is.
    let shared = &spec.services["shared"];
    assert_eq!(shared.depends_on["a"], DependsOn::Started);
    assert!(shared.restart_with.contains("a"));
}

#[test]
fn a_project_whose_services_all_use_network_modes_has_no_default_network() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        "services:\n  a:\n    image: app\n    network_mode: host\n",
    );
    let report = d.load();
    assert!(ok(&report, "p").spec.networks.is_empty());
}

#[test]
fn an_unknown_network_mode_is_an_error_saying_what_to_write() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project("  b:\n    image: app\n    network_mode: mynet\n"),
    );
    let text = err_text(&d.load(), "p");
    assert!(
        text.contains(":6:19: services.b.network_mode: \"mynet\" is not a network mode composectl applies; write host, none, bridge, service:NAME or container:NAME"),
        "{text}"
    );
}

#[test]
fn keys_the_engine_refuses_or_ignores_beside_a_network_mode_are_errors() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project(concat!(
            "  b:\n    image: app\n    network_mode: service:a\n",
            "    networks: [default]\n    ports: ['80:80']\n    hostname: b\n",
            "    dns: [1.1.1.1]\n    dns_search: [x]\n    extra_hosts: ['db:10.0.0.5']\n    expose: [80]\n",
            "  c:\n    image: app\n    network_mode: host\n    ports: ['80:80']\n    hostname: c\n",
            "  n:\n    image: app\n    network_mode: none\n    links: [a]\n",
        )),
    );
    let text = err_text(&d.load(), "p");
    for key in [
        "services.b.networks: `networks` cannot be used with `network_mode`",
        "services.b.ports: `ports` cannot be used with `network_mode` \"service:a\": the container runs in another container's network namespace",
        "services.b.hostname: `hostname` cannot be used",
        "services.b.dns: `dns` cannot be used",
        "services.b.dns_search: `dns_search` cannot be used",
        "services.b.extra_hosts: `extra_hosts` cannot be used",
        "services.b.expose: `expose` cannot be used",
        "services.c.ports: `ports` cannot be used with `network_mode` \"host\": the container listens on the host's interfaces directly",
        "services.n.links: `links` cannot be used with `network_mode` \"none\"",
    ] {
        assert!(text.contains(key), "missing {key:?} in:\n{text}");
    }
    // The host's namespace has a hostname of its own (the engine accepts it).
    assert!(!text.contains("services.c.hostname"), "{text}");
}

#[test]
fn a_reference_to_a_missing_inactive_or_own_service_is_an_error_naming_the_key() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project(concat!(
            "  b:\n    image: app\n    network_mode: service:vpn\n",
            "  c:\n    image: app\n    volumes_from: [tools]\n",
            "  d:\n    image: app\n    links: [d]\n",
            "  tools:\n    image: app\n    profiles: [debug]\n",
        )),
    );
    let text = err_text(&d.load(), "p");
    for expected in [
        ":6:19: services.b.network_mode: service `vpn` is not a service of this project",
        "services.c.volumes_from: service `tools` is not active under the selected profiles",
        "services.d.links: service `d` refers to itself",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn an_interpolated_reference_is_shown_as_written() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project("  b:\n    image: app\n    network_mode: service:${VPN}\n"),
    );
    let text = err_text(&d.load_with(&[("VPN", "s3cr3t")]), "p");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("service:${VPN}"), "{text}");
}

#[test]
fn ipc_and_pid_of_a_service_are_accepted_and_imply_a_restart_dependency() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        concat!(
            "services:\n",
            "  a:\n    image: app\n    ipc: shareable\n",
            "  b:\n    image: app\n    ipc: service:a\n    pid: service:a\n",
            "  c:\n    image: app\n    pid: service:a\n    ipc: container:legacy\n",
        ),
    );
    let report = d.load();
    let loaded = ok(&report, "p");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let services = &loaded.spec.services;
    assert_eq!(services["b"].ipc.as_deref(), Some("service:a"));
    assert_eq!(services["b"].pid.as_deref(), Some("service:a"));
    assert_eq!(services["c"].ipc.as_deref(), Some("container:legacy"));
    for s in ["b", "c"] {
        assert_eq!(services[s].depends_on["a"], DependsOn::Started, "{s}");
        assert!(services[s].restart_with.contains("a"), "{s}");
        assert_eq!(services[s].depends_on.len(), 1, "{s}");
    }
    // The dependency orders creation: a before b and c.
    assert!(services["a"].depends_on.is_empty());
}

#[test]
fn a_written_dependency_wins_over_the_one_ipc_and_pid_imply() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project(concat!(
            "    ipc: shareable\n",
            "  b:\n    image: app\n    pid: service:a\n",
            "    depends_on:\n      a: {condition: service_healthy}\n",
        )),
    );
    let report = d.load();
    let b = &ok(&report, "p").spec.services["b"];
    assert_eq!(b.depends_on["a"], DependsOn::Healthy);
    assert!(!b.restart_with.contains("a"));
}

#[test]
fn ipc_of_a_service_whose_namespace_is_private_warns() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project("  b:\n    image: app\n    ipc: service:a\n"),
    );
    let report = d.load();
    let warnings: Vec<String> = ok(&report, "p")
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(":6:10: services.b.ipc: service `a` keeps a private IPC namespace, which the engine refuses to share"),
        "{warnings:?}"
    );
}

#[test]
fn ipc_and_pid_of_a_missing_inactive_or_own_service_are_errors_naming_the_key() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project(concat!(
            "  b:\n    image: app\n    pid: service:vpn\n",
            "  c:\n    image: app\n    ipc: service:tools\n",
            "  d:\n    image: app\n    pid: service:d\n",
            "  e:\n    image: app\n    ipc: service:e\n",
            "  tools:\n    image: app\n    profiles: [debug]\n",
        )),
    );
    let text = err_text(&d.load(), "p");
    for expected in [
        ":6:10: services.b.pid: service `vpn` is not a service of this project",
        "services.c.ipc: service `tools` is not active under the selected profiles",
        "services.d.pid: service `d` refers to itself",
        "services.e.ipc: service `e` refers to itself",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn ipc_and_pid_references_that_form_a_cycle_are_rejected() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        "services:\n  a:\n    image: app\n    pid: service:b\n  b:\n    image: app\n    ipc: service:a\n",
    );
    let text = err_text(&d.load(), "p");
    assert!(
        text.contains("depends_on forms a cycle: a -> b -> a"),
        "{text}"
    );
}

#[test]
fn volumes_from_and_links_convert_and_imply_dependencies_as_compose_does() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project(concat!(
            "  db:\n    image: app\n",
            "  b:\n    image: app\n",
            "    volumes_from: [a, 'service:db:ro', 'container:legacy:rw']\n",
            "    links: ['db:database', a]\n",
            "    external_links: ['legacy_db:old']\n",
            "    depends_on:\n      a: {condition: service_healthy}\n",
        )),
    );
    let report = d.load();
    let b = &ok(&report, "p").spec.services["b"];
    assert_eq!(
        b.volumes_from,
        vec![
            VolumesFrom {
                source: VolumesSource::Service("a".into()),
                read_only: false
            },
            VolumesFrom {
                source: VolumesSource::Service("db".into()),
                read_only: true
            },
            VolumesFrom {
                source: VolumesSource::Container("legacy".into()),
                read_only: false
            },
        ]
    );
    let link = |target: &str, alias: &str| Link {
        target: target.into(),
        alias: alias.into(),
    };
    assert_eq!(b.links, vec![link("db", "database"), link("a", "a")]);
    assert_eq!(b.external_links, vec![link("legacy_db", "old")]);
    // The written depends_on wins; links add `db` with restart: true.
    assert_eq!(b.depends_on["a"], DependsOn::Healthy);
    assert_eq!(b.depends_on["db"], DependsOn::Started);
    assert!(b.restart_with.contains("db"));
    assert!(!b.restart_with.contains("a"));
}

#[test]
fn malformed_volumes_from_and_links_are_errors() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project("  b:\n    image: app\n    volumes_from: ['x:y:z']\n    links: ['a:b:c']\n"),
    );
    let text = err_text(&d.load(), "p");
    assert!(
        text.contains("services.b.volumes_from[0]: \"x:y:z\" is not a volumes_from entry"),
        "{text}"
    );
    assert!(
        text.contains("services.b.links[0]: \"a:b:c\" is not a link"),
        "{text}"
    );
}

#[test]
fn references_that_form_a_cycle_are_rejected() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        "services:\n  a:\n    image: app\n    network_mode: service:b\n  b:\n    image: app\n    volumes_from: [a]\n",
    );
    let text = err_text(&d.load(), "p");
    assert!(
        text.contains("depends_on forms a cycle: a -> b -> a"),
        "{text}"
    );
}

#[test]
fn a_network_named_like_a_container_mode_is_refused() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        "services:\n  a:\n    image: app\n    networks: [side]\nnetworks:\n  side:\n    external: true\n    name: 'container:vpn'\n",
    );
    let text = err_text(&d.load(), "p");
    assert!(
        text.contains("services.a.networks: network `side` is named container:NAME"),
        "{text}"
    );
}

#[test]
fn depends_on_required_and_restart_are_read() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project(concat!(
            "    depends_on:\n",
            "      db: {condition: service_started, restart: true}\n",
            "      cache: {condition: service_started, required: false}\n",
            "  db:\n    image: app\n",
            "  cache:\n    image: app\n    profiles: [cache]\n",
        )),
    );
    let report = d.load();
    let loaded = ok(&report, "p");
    let a = &loaded.spec.services["a"];
    assert!(a.restart_with.contains("db"));
    assert!(a.optional_dependencies.contains("cache"));
    assert!(!a.depends_on.contains_key("cache"), "inactive: dropped");
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.contains(
            "`cache` is not active under the selected profiles; the optional dependency (`required: false`) is ignored"
        )),
        "{warnings:?}"
    );
}

#[test]
fn a_required_dependency_on_an_inactive_service_is_an_error_as_in_compose() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project("    depends_on: [cache]\n  cache:\n    image: app\n    profiles: [cache]\n"),
    );
    let text = err_text(&d.load(), "p");
    assert!(
        text.contains(
            "`cache` is not active under the selected profiles, and the service requires it"
        ),
        "{text}"
    );
    assert!(text.contains("write `required: false`"), "{text}");
}

#[test]
fn depends_on_options_must_be_booleans() {
    let d = Desired::new();
    d.write(
        "p/compose.yaml",
        &project("    depends_on:\n      db: {required: maybe}\n  db:\n    image: app\n"),
    );
    let text = err_text(&d.load(), "p");
    assert!(text.contains("services.a.depends_on.db.required"), "{text}");
}

#[test]
fn specs_written_before_references_still_read() {
    let old = serde_json::json!({
        "name": "web", "image": "nginx", "build": null, "replicas": 1,
        "container_name": null, "command": null, "entrypoint": null,
        "environment": {}, "ports": [], "mounts": [], "networks": {}, "labels": {},
        "restart": "No", "healthcheck": null, "depends_on": {},
        "limits": {"cpus": null, "memory": null, "pids": null},
        "update_config": null, "rollback_config": null, "user": null,
        "working_dir": null, "hostname": null, "extra_hosts": [], "cap_add": [],
        "cap_drop": [], "privileged": false, "read_only": false, "ulimits": {},
        "logging": null, "stop_signal": null, "stop_grace_period": null, "init": null,
        "extensions": {}
    });
    let spec: crate::model::spec::ServiceSpec = serde_json::from_value(old).unwrap();
    assert_eq!(spec.network_mode, None);
    assert!(spec.volumes_from.is_empty() && spec.restart_with.is_empty());
}
