//! Tables over real temporary desired directories: what each compose file asks of the
//! host, where, and what the guard makes of it.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::guard::{Approved, Guard, Settings};
use super::{Grant, Mode, Privilege, extract, file, judge};
use crate::desired::hostpath::real_path;
use crate::desired::{self, LoadReport};
use crate::state::StateDir;

/// A desired directory `desired/` beside a directory `outside/` (both real paths), with
/// one project `shop`.
struct Host {
    _tmp: tempfile::TempDir,
    base: PathBuf,
}

impl Host {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let base = real_path(tmp.path()).unwrap();
        std::fs::create_dir_all(base.join("desired/shop")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/secret.env"), "TOKEN=x\n").unwrap();
        Self { _tmp: tmp, base }
    }

    fn desired(&self) -> PathBuf {
        self.base.join("desired")
    }

    fn outside(&self) -> PathBuf {
        self.base.join("outside")
    }

    /// `text` with `{OUT}` replaced by the outside directory.
    fn fill(&self, text: &str) -> String {
        text.replace("{OUT}", &self.outside().display().to_string())
    }

    fn write(&self, file: &str, text: &str) {
        let path = self.desired().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, self.fill(text)).unwrap();
    }

    fn load(&self) -> LoadReport {
        let env: BTreeMap<String, String> = [("HOME".to_owned(), "/home/nas".to_owned())].into();
        desired::load_dir(&self.desired(), &env).unwrap()
    }

    fn privileges(&self) -> Vec<Privilege> {
        let report = self.load();
        let loaded = match &report.projects["shop"] {
            Ok(loaded) => loaded,
            Err(e) => panic!("shop does not load:\n{e}"),
        };
        extract::privileges(&loaded.spec, &loaded.origins)
    }

    fn state(&self) -> StateDir {
        StateDir::new(&self.base.join("state"), "default")
    }

    fn guard(&self, mode: Mode, policy_file: Option<PathBuf>, pin: bool) -> Guard {
        let settings = Settings {
            mode,
            file: policy_file,
            pin,
            ..Settings::default()
        };
        Guard::new(settings, self.desired(), self.state())
    }
}

/// A compose file of one service `web` with `lines` (6 spaces in) under it, after line 3.
fn web(lines: &str) -> String {
    format!("services:\n  web:\n    image: demo:v1\n{lines}")
}

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
            &[("network:host", "services.web.networks.hostnet", Some(4))],
        ),
        case(
            "the default network renamed to host",
            web("networks:\n  default:\n    external: true\n    name: host\n"),
            nothing,
            &[("network:host", "networks.default", Some(6))],
        ),
        case(
            "another container's network namespace",
            web(
                "    networks:\n      sidecar: {}\nnetworks:\n  sidecar:\n    external: true\n    name: \"container:vpn\"\n",
            ),
            nothing,
            &[(
                "network:container:vpn",
                "services.web.networks.sidecar",
                Some(5),
            )],
        ),
        case(
            "a macvlan network",
            web(
                "    networks: [lan]\nnetworks:\n  lan:\n    driver: macvlan\n    driver_opts:\n      parent: eth0\n",
            ),
            nothing,
            &[(
                "network-driver:macvlan",
                "services.web.networks.lan",
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

fn grant(text: &str) -> Grant {
    text.parse().unwrap()
}

#[test]
fn grants_read_back_as_written_and_odd_texts_are_refused() {
    for text in [
        "privileged",
        "network:host",
        "network:container:vpn",
        "cap:NET_ADMIN",
        "cap:ALL",
        "bind:/srv/media",
        "bind:/srv/media:ro",
        "env_file:/etc/app.env",
        "device:/dev/sdb1",
        "network-driver:macvlan",
    ] {
        assert_eq!(grant(text).to_string(), text);
    }
    assert_eq!(grant("cap:cap_sys_admin").to_string(), "cap:SYS_ADMIN");
    for bad in [
        "root",
        "bind:relative",
        "network:bridge",
        "cap:",
        "env_file:x",
        "mount:/x",
    ] {
        assert!(bad.parse::<Grant>().is_err(), "{bad}");
    }
}

#[test]
fn a_grant_covers_those_that_give_no_more() {
    let table = [
        ("privileged", "cap:SYS_ADMIN", true),
        ("cap:ALL", "cap:NET_ADMIN", true),
        ("cap:NET_ADMIN", "cap:SYS_ADMIN", false),
        ("cap:SYS_ADMIN", "privileged", false),
        ("bind:/srv", "bind:/srv/media:ro", true),
        ("bind:/srv", "bind:/srv/media", true),
        ("bind:/srv:ro", "bind:/srv/media", false),
        ("bind:/srv:ro", "bind:/srv/media:ro", true),
        ("bind:/srv/media", "bind:/srv", false),
        ("bind:/srv/m", "bind:/srv/media", false),
        ("bind:/srv", "env_file:/srv/app.env", true),
        ("env_file:/etc/app", "env_file:/etc/app/x.env", true),
        ("env_file:/etc/app.env", "bind:/etc/app.env", false),
        ("network:host", "network:host", true),
        ("network:host", "network:container:x", false),
        ("device:/dev/sdb1", "device:/dev/sdb1", true),
    ];
    for (allowed, asked, covers) in table {
        assert_eq!(
            grant(allowed).covers(&grant(asked)),
            covers,
            "{allowed} covers {asked}"
        );
    }
}

fn asked(grants: &[&str]) -> Vec<Privilege> {
    grants
        .iter()
        .map(|g| Privilege {
            grant: grant(g),
            origins: Vec::new(),
        })
        .collect()
}

fn grants(texts: &[&str]) -> Vec<Grant> {
    texts.iter().map(|t| grant(t)).collect()
}

#[test]
fn judging_pins_first_sight_holds_more_than_recorded_and_strict_allows_only_the_file() {
    let held =
        |v: super::Verdict| -> Vec<String> { v.held.iter().map(|p| p.grant.to_string()).collect() };
    let ask = asked(&["privileged", "bind:/srv/media:ro"]);
    let first = judge(Mode::Pinned, &ask, None, &[]);
    assert!(first.pin && first.held.is_empty());
    let same = judge(
        Mode::Pinned,
        &ask,
        Some(&grants(&["privileged", "bind:/srv"])),
        &[],
    );
    assert!(!same.pin && same.held.is_empty());
    let more = judge(Mode::Pinned, &ask, Some(&grants(&["privileged"])), &[]);
    assert_eq!(held(more), ["bind:/srv/media:ro"]);
    let file_adds = judge(
        Mode::Pinned,
        &ask,
        Some(&grants(&["privileged"])),
        &grants(&["bind:/srv/media"]),
    );
    assert!(file_adds.held.is_empty());
    let strict = judge(
        Mode::Strict,
        &ask,
        Some(&grants(&["privileged", "bind:/srv"])),
        &grants(&["bind:/srv"]),
    );
    assert_eq!(held(strict), ["privileged"]);
    assert!(judge(Mode::Strict, &[], None, &[]).held.is_empty());
}

#[test]
fn the_policy_file_lists_grants_per_project_and_names_the_line_of_a_bad_one() {
    let path = Path::new("/etc/composectl/policy.yaml");
    let parsed = file::parse(
        "# host policy\nshop:\n  - cap:NET_ADMIN\n  - bind:/volume1/media:ro\nblog:\n",
        path,
    )
    .unwrap();
    assert_eq!(
        parsed.allowed("shop"),
        grants(&["cap:NET_ADMIN", "bind:/volume1/media:ro"])
    );
    assert!(parsed.allowed("blog").is_empty() && parsed.allowed("other").is_empty());
    assert_eq!(file::parse("", path).unwrap().projects.len(), 0);
    for (text, line, needle) in [
        ("shop:\n  - cap:NET_ADMIN\n  - root\n", 3, "not a privilege"),
        ("shop: privileged\n", 1, "takes a list"),
        ("Shop:\n  - privileged\n", 1, "write `shop`"),
        ("- shop\n", 1, "expected a mapping"),
    ] {
        let err = file::parse(text, path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("policy.yaml:{line}:")) && err.contains(needle),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn a_policy_file_inside_the_desired_directory_is_refused_even_through_a_symlink() {
    let host = Host::new();
    host.write("policy.yaml", "shop: [privileged]\n");
    let err = file::load(&host.desired().join("policy.yaml"), &host.desired()).unwrap_err();
    assert!(
        err.to_string().contains("inside the desired directory"),
        "{err}"
    );
    symlink(
        host.desired().join("policy.yaml"),
        host.base.join("policy.yaml"),
    )
    .unwrap();
    let err = file::load(&host.base.join("policy.yaml"), &host.desired()).unwrap_err();
    assert!(
        err.to_string().contains("a commit could change it"),
        "{err}"
    );
    std::fs::write(host.base.join("host-policy.yaml"), "shop: [privileged]\n").unwrap();
    let ok = file::load(&host.base.join("host-policy.yaml"), &host.desired()).unwrap();
    assert_eq!(ok.allowed("shop"), grants(&["privileged"]));
}

/// The rendered error of `shop` in `report`.
fn error_of(report: &LoadReport) -> String {
    match &report.projects["shop"] {
        Ok(_) => panic!("shop was let through"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_first_deployment_is_pinned_and_a_later_escalation_is_held_naming_the_place_and_the_approval() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web("    cap_add: [NET_ADMIN]\n"));
    let guard = host.guard(Mode::Pinned, None, true);
    let mut report = host.load();
    let judged = guard.apply(&mut report, 1_700_000_000_000);
    assert!(report.projects["shop"].is_ok());
    assert!(!judged["shop"].is_held());
    let record = host.state().load_privileges("shop").unwrap().unwrap();
    assert_eq!(record.privileges, grants(&["cap:NET_ADMIN"]));
    assert_eq!(record.recorded_at, 1_700_000_000);
    let mode = std::fs::metadata(host.state().privileges_path("shop"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    host.write(
        "shop/compose.yaml",
        &web("    cap_add: [NET_ADMIN]\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"),
    );
    let mut report = host.load();
    let judged = guard.apply(&mut report, 1_700_000_100_000);
    let error = error_of(&report);
    let file = host.desired().join("shop/compose.yaml");
    assert!(
        error.contains(&format!("{}:6: services.web.volumes[0]", file.display())),
        "{error}"
    );
    assert!(error.contains("`bind:/var/run/docker.sock`"), "{error}");
    assert!(
        error.contains("`composectl policy approve shop`"),
        "{error}"
    );
    assert!(
        !error.contains("NET_ADMIN"),
        "only the new privilege: {error}"
    );
    let held: Vec<String> = judged["shop"]
        .held
        .iter()
        .map(|p| p.grant.to_string())
        .collect();
    assert_eq!(held, ["bind:/var/run/docker.sock"]);
    assert_eq!(judged["shop"].privileges.len(), 2);
    assert_eq!(
        host.state().load_privileges("shop").unwrap().unwrap(),
        record,
        "a held project's record is left alone"
    );
}

#[test]
fn a_project_asking_for_nothing_is_pinned_to_nothing() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web(""));
    let guard = host.guard(Mode::Pinned, None, true);
    guard.apply(&mut host.load(), 0);
    host.write("shop/compose.yaml", &web("    privileged: true\n"));
    let mut report = host.load();
    guard.apply(&mut report, 0);
    assert!(error_of(&report).contains("services.web.privileged"));
}

#[test]
fn commands_that_only_look_pin_nothing() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web("    privileged: true\n"));
    let guard = host.guard(Mode::Pinned, None, false);
    let mut report = host.load();
    let judged = guard.apply(&mut report, 0);
    assert!(report.projects["shop"].is_ok());
    assert_eq!(judged["shop"].approved, Approved::Unrecorded);
    assert_eq!(host.state().load_privileges("shop").unwrap(), None);
}

#[test]
fn strict_allows_only_the_policy_file_and_says_where_to_allow_more() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        &web("    privileged: true\n    cap_add: [NET_ADMIN]\n"),
    );
    let policy = host.base.join("policy.yaml");
    std::fs::write(&policy, "shop:\n  - cap:NET_ADMIN\n").unwrap();
    let guard = host.guard(Mode::Strict, Some(policy.clone()), true);
    let mut report = host.load();
    let judged = guard.apply(&mut report, 0);
    let error = error_of(&report);
    assert!(error.contains("services.web.privileged"), "{error}");
    assert!(error.contains(&policy.display().to_string()), "{error}");
    assert!(!error.contains("NET_ADMIN"), "{error}");
    assert_eq!(judged["shop"].held.len(), 1);
    assert_eq!(
        host.state().load_privileges("shop").unwrap(),
        None,
        "strict records nothing"
    );

    std::fs::write(&policy, "shop: [privileged, cap:NET_ADMIN]\n").unwrap();
    let mut report = host.load();
    guard.apply(&mut report, 0);
    assert!(
        report.projects["shop"].is_ok(),
        "an edited policy file counts at the next load"
    );

    std::fs::write(&policy, "shop: [nonsense]\n").unwrap();
    let mut report = host.load();
    guard.apply(&mut report, 0);
    assert!(
        report.projects["shop"].is_ok(),
        "the last good policy file still counts"
    );
    assert!(guard.file_error().unwrap().contains("not a privilege"));
}

#[test]
fn a_corrupt_record_holds_the_project_and_says_how_to_write_it_afresh() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web("    privileged: true\n"));
    let path = host.state().privileges_path("shop");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{ torn").unwrap();
    let guard = host.guard(Mode::Pinned, None, true);
    let mut report = host.load();
    guard.apply(&mut report, 0);
    let error = error_of(&report);
    assert!(error.contains("not a valid privilege record"), "{error}");
    assert!(error.contains("policy approve shop"), "{error}");
}
