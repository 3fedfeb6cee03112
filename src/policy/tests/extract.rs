//! What each compose file asks of the host, with the file, line and key of each place.

use std::os::unix::fs::symlink;

use super::{Host, web};

/// One row: what the file holds, what to set up beside it, the privileges expected (`{OUT}`
/// is the outside directory) with the key and line of their first place.
struct Case {
    what: &'static str,
    compose: String,
    setup: fn(&Host),
    expect: Vec<(&'static str, &'static str, Option<usize>)>,
}

fn case(
    what: &'static str,
    compose: String,
    setup: fn(&Host),
    expect: &[(&'static str, &'static str, Option<usize>)],
) -> Case {
    Case {
        what,
        compose,
        setup,
        expect: expect.to_vec(),
    }
}

fn nothing(_: &Host) {}

fn cases() -> Vec<Case> {
    vec![
        case(
            "an ordinary service asks for nothing",
            web(
                "    ports: [\"8080:80\"]\n    cap_drop: [ALL]\n    cap_add: [CHOWN, net_bind_service]\n    volumes:\n      - data:/data\n      - ./conf:/etc/app:ro\n    tmpfs: /tmp\nvolumes:\n  data: {}\n",
            ),
            nothing,
            &[],
        ),
        case(
            "GPUs and shelter from the OOM killer; CPU and block IO weights ask for nothing",
            web(
                "    gpus: all\n    oom_kill_disable: true\n    cpu_shares: 512\n    blkio_config:\n      weight: 300\n",
            ),
            nothing,
            &[
                ("device-requests", "services.web.gpus", Some(4)),
                ("oom-protection", "services.web.oom_kill_disable", Some(5)),
            ],
        ),
        case(
            "a negative oom_score_adj shelters from the OOM killer",
            web("    oom_score_adj: -500\n"),
            nothing,
            &[("oom-protection", "services.web.oom_score_adj", Some(4))],
        ),
        case(
            "privileged mode",
            web("    privileged: true\n"),
            nothing,
            &[("privileged", "services.web.privileged", Some(4))],
        ),
        case(
            "capabilities beyond the defaults, with or without CAP_",
            web("    cap_add:\n      - NET_ADMIN\n      - CHOWN\n      - cap_sys_admin\n"),
            nothing,
            &[
                ("cap:NET_ADMIN", "services.web.cap_add[0]", Some(5)),
                ("cap:SYS_ADMIN", "services.web.cap_add[2]", Some(7)),
            ],
        ),
        case(
            "every capability",
            web("    cap_add: [ALL]\n"),
            nothing,
            &[("cap:ALL", "services.web.cap_add[0]", Some(4))],
        ),
        case(
            "an external network named host",
            web(
                "    networks: [hostnet]\nnetworks:\n  hostnet:\n    external: true\n    name: host\n",
            ),
            nothing,
            &[("network:host", "services.web.networks[0]", Some(4))],
        ),
        case(
            "the default network renamed to host",
            web("networks:\n  default:\n    external: true\n    name: host\n"),
            nothing,
            &[("network:host", "networks.default", Some(6))],
        ),
        case(
            "the host's network namespace through network_mode",
            web("    network_mode: host\n"),
            nothing,
            &[("network:host", "services.web.network_mode", Some(4))],
        ),
        case(
            "a build whose RUN steps join the host's network namespace",
            web("    build:\n      context: ./web\n      network: host\n"),
            |h| h.write("shop/web/Dockerfile", "FROM scratch\n"),
            &[("network:host", "services.web.build.network", None)],
        ),
        case(
            "another container's network namespace",
            web("    network_mode: \"container:vpn\"\n"),
            nothing,
            &[(
                "network:container:vpn",
                "services.web.network_mode",
                Some(4),
            )],
        ),
        case(
            "the volumes of a container outside the project",
            web("    volumes_from: [\"container:data:ro\"]\n"),
            nothing,
            &[("volumes-from:data", "services.web.volumes_from", Some(4))],
        ),
        case(
            "a legacy link to a foreign container on the default bridge",
            web("    network_mode: bridge\n    external_links: [legacy:db]\n"),
            nothing,
            &[("link:legacy", "services.web.external_links", Some(5))],
        ),
        case(
            "an external link on a project network",
            web("    external_links: [legacy:db]\n"),
            nothing,
            &[],
        ),
        case(
            "addressing of a bridge network and fixed addresses on it",
            web(
                "    networks:\n      back:\n        ipv4_address: 10.9.0.5\n        priority: 5\nnetworks:\n  back:\n    enable_ipv6: true\n    ipam:\n      config:\n        - subnet: 10.9.0.0/24\n",
            ),
            nothing,
            &[],
        ),
        case(
            "a macvlan network",
            web(
                "    networks: [lan]\nnetworks:\n  lan:\n    driver: macvlan\n    driver_opts:\n      parent: eth0\n",
            ),
            nothing,
            &[(
                "network-driver:macvlan",
                "services.web.networks[0]",
                Some(4),
            )],
        ),
        case(
            "the Docker socket",
            web("    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"),
            nothing,
            &[(
                "bind:/var/run/docker.sock",
                "services.web.volumes[0]",
                Some(5),
            )],
        ),
        case(
            "the host's root, read-only",
            web("    volumes:\n      - /:/host:ro\n"),
            nothing,
            &[("bind:/:ro", "services.web.volumes[0]", Some(5))],
        ),
        case(
            "a host system path in the long syntax",
            web(
                "    volumes:\n      - type: bind\n        source: /etc\n        target: /host-etc\n        read_only: true\n",
            ),
            nothing,
            &[("bind:/etc:ro", "services.web.volumes[0]", Some(5))],
        ),
        case(
            "a relative path climbing out with ../",
            web("    volumes:\n      - ../../outside:/data\n"),
            nothing,
            &[("bind:{OUT}", "services.web.volumes[0]", Some(5))],
        ),
        case(
            "a path in the home directory",
            web("    volumes:\n      - ~/media:/media:ro\n"),
            nothing,
            &[(
                "bind:/home/nas/media:ro",
                "services.web.volumes[0]",
                Some(5),
            )],
        ),
        case(
            "a symlink committed inside the desired directory that leads outside",
            web("    volumes:\n      - ./data:/data\n"),
            |host| symlink(host.outside(), host.desired().join("shop/data")).unwrap(),
            &[("bind:{OUT}", "services.web.volumes[0]", Some(5))],
        ),
        case(
            "a dangling symlink committed to lead outside once created",
            web("    volumes:\n      - ./later/x:/data\n"),
            |host| {
                symlink(
                    host.outside().join("new"),
                    host.desired().join("shop/later"),
                )
                .unwrap()
            },
            &[("bind:{OUT}/new/x", "services.web.volumes[0]", Some(5))],
        ),
        case(
            "an env file outside, by ../",
            web("    env_file: ../../outside/secret.env\n"),
            nothing,
            &[(
                "env_file:{OUT}/secret.env",
                "services.web.env_file",
                Some(4),
            )],
        ),
        case(
            "an env file outside, by an absolute path in a list",
            web("    env_file:\n      - {OUT}/secret.env\n"),
            nothing,
            &[(
                "env_file:{OUT}/secret.env",
                "services.web.env_file[0]",
                Some(5),
            )],
        ),
        case(
            "an env file that is a committed symlink to a host file",
            web("    env_file: app.env\n"),
            |host| {
                symlink(
                    host.outside().join("secret.env"),
                    host.desired().join("shop/app.env"),
                )
                .unwrap()
            },
            &[(
                "env_file:{OUT}/secret.env",
                "services.web.env_file",
                Some(4),
            )],
        ),
        case(
            "a secret file outside the desired directory",
            web("    secrets: [token]\nsecrets:\n  token:\n    file: {OUT}/secret.env\n"),
            nothing,
            &[("file:{OUT}/secret.env", "secrets.token.file", Some(7))],
        ),
        case(
            "secrets and configs inside the desired directory ask for nothing",
            web(
                "    secrets: [token]\n    configs: [conf]\nsecrets:\n  token:\n    file: token.txt\nconfigs:\n  conf:\n    content: x\n",
            ),
            |host| host.write("shop/token.txt", "t"),
            &[],
        ),
        case(
            "a .env that is a committed symlink to a host file",
            web(""),
            |host| {
                symlink(
                    host.outside().join("secret.env"),
                    host.desired().join("shop/.env"),
                )
                .unwrap()
            },
            &[("env_file:{OUT}/secret.env", ".env", None)],
        ),
        case(
            "a local volume binding a host path",
            web(
                "    volumes: [media:/media]\nvolumes:\n  media:\n    driver_opts:\n      type: none\n      o: bind,ro\n      device: {OUT}\n",
            ),
            nothing,
            &[(
                "bind:{OUT}:ro",
                "volumes.media.driver_opts.device",
                Some(10),
            )],
        ),
        case(
            "a local volume mounting a block device",
            web(
                "    volumes: [disk:/disk]\nvolumes:\n  disk:\n    driver_opts:\n      type: ext4\n      device: /dev/sdb1\n",
            ),
            nothing,
            &[(
                "device:/dev/sdb1",
                "volumes.disk.driver_opts.device",
                Some(9),
            )],
        ),
    ]
}

#[test]
fn each_privilege_is_found_with_the_file_line_and_key_that_ask_for_it() {
    for case in cases() {
        let host = Host::new();
        host.write("shop/compose.yaml", &case.compose);
        (case.setup)(&host);
        let found = host.privileges();
        let got: Vec<(String, String, Option<usize>)> = found
            .iter()
            .map(|p| {
                let at = &p.origins[0];
                (p.grant.to_string(), at.key.clone(), at.line)
            })
            .collect();
        let want: Vec<(String, String, Option<usize>)> = case
            .expect
            .iter()
            .map(|(g, k, l)| (host.fill(g), (*k).to_owned(), *l))
            .collect();
        assert_eq!(got, want, "{}", case.what);
        for privilege in &found {
            let file = &privilege.origins[0].file;
            assert!(file.starts_with(host.desired()), "{}: {file:?}", case.what);
        }
    }
}

#[test]
fn a_bind_through_a_committed_symlink_is_what_the_spec_mounts() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        &web("    volumes:\n      - ./data:/data\n"),
    );
    symlink(host.outside(), host.desired().join("shop/data")).unwrap();
    let report = host.load();
    let Ok(loaded) = &report.projects["shop"] else {
        panic!("shop does not load")
    };
    let mount = &loaded.spec.services["web"].mounts[0];
    assert_eq!(
        mount.kind,
        crate::model::spec::MountKind::Bind {
            source: host.outside(),
            create_host_path: true
        }
    );
}

#[test]
fn the_same_privilege_in_two_services_is_one_with_both_places() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        "services:\n  a:\n    image: x\n    privileged: true\n  b:\n    image: x\n    privileged: true\n",
    );
    let found = host.privileges();
    assert_eq!(found.len(), 1);
    let keys: Vec<&str> = found[0].origins.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["services.a.privileged", "services.b.privileged"]);
}

#[test]
fn an_override_file_is_named_where_it_adds_the_privilege() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web(""));
    host.write(
        "shop/compose.override.yaml",
        "services:\n  web:\n    cap_add: [SYS_PTRACE]\n",
    );
    let found = host.privileges();
    assert_eq!(found[0].grant.to_string(), "cap:SYS_PTRACE");
    assert!(
        found[0].origins[0]
            .file
            .ends_with("shop/compose.override.yaml"),
        "{:?}",
        found[0].origins
    );
}

#[test]
fn references_within_the_project_grant_nothing() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        concat!(
            "services:\n  a:\n    image: x\n",
            "  b:\n    image: x\n    network_mode: service:a\n    volumes_from: ['a:ro']\n",
            "  c:\n    image: x\n    links: ['a:alias']\n",
        ),
    );
    let found = host.privileges();
    assert!(found.is_empty(), "{found:?}");
}
