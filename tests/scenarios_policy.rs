//! End-to-end: what a project may do to the host is decided on the host, never by a
//! commit. Against the real engine, for every privilege the guard knows and the engine
//! here can give (privileged mode, capabilities beyond the defaults, the host's network,
//! binds of `/` and of the Docker socket, a bind through a symlink committed to lead out
//! of the desired directory, an env file outside it):
//!
//! - pinned (the default): a first deployment is pinned and runs; a commit asking for more
//!   is held (the running containers keep their IDs, `/status`, `plan`, `validate` and
//!   `policy show` name the file, line and key of each new privilege and the approve
//!   command), and so is a project a commit adds later asking for a privilege (nothing of
//!   it is created); `composectl policy approve` lets them through and they converge;
//! - strict: only what the policy file allows runs (nothing at all of a project asking for
//!   more, even at its first deployment); an edit of the policy file lets it through; a
//!   policy file inside the desired directory is refused.
//!
//! Privileges are grouped in two sets, so each scenario starts one daemon: a project
//! deployed first with set A escalates to A + B, another the other way round.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    ContainerInfo, Daemon, TestProject, demo_image, free_port, project_status, run_cli, state_base,
    stays_unchanged, test_instance, try_docker, wait_until,
};

/// Set A: a capability beyond the defaults, an env file outside the desired directory, a
/// bind through a committed symlink that leads outside.
const SET_A: [&str; 3] = ["cap:NET_ADMIN", "env_file:{OUT}/app.env", "bind:{OUT}/data"];
/// Set B: privileged mode (in service `priv`), another capability, the host's network,
/// `/` read-only, the Docker socket read-only.
const SET_B: [&str; 5] = [
    "privileged",
    "cap:SYS_ADMIN",
    "network:host",
    "bind:/:ro",
    "bind:/var/run/docker.sock:ro",
];

/// A directory outside every desired directory: the target of the committed symlink and
/// the home of the env file (and of the policy file).
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("composectl-outside-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("app.env"), "FROM_HOST_FILE=yes\n").unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `text` with `{OUT}` replaced by this directory.
    fn fill(&self, text: &str) -> String {
        text.replace("{OUT}", &self.path().display().to_string())
    }
}

/// One project's compose file with the privileges of set A and/or B. `web` publishes
/// nothing and listens on `port` (on the host's network with set B).
fn compose(outside: &Outside, port: u16, a: bool, b: bool) -> String {
    let image = demo_image("v1");
    let mut caps = Vec::new();
    let mut volumes = Vec::new();
    let mut web = format!("  web:\n    image: {image}\n    environment:\n      PORT: \"{port}\"\n");
    if a {
        caps.push("NET_ADMIN");
        web += &format!("    env_file: {}/app.env\n", outside.path().display());
        volumes.push("./data:/data");
    }
    if b {
        caps.push("SYS_ADMIN");
        web += "    networks: [hostnet]\n";
        volumes.push("/:/host:ro");
        volumes.push("/var/run/docker.sock:/var/run/docker.sock:ro");
    }
    if !caps.is_empty() {
        web += &format!("    cap_add: [{}]\n", caps.join(", "));
    }
    if !volumes.is_empty() {
        web += "    volumes:\n";
        for v in volumes {
            web += &format!("      - {v}\n");
        }
    }
    let mut text = format!("services:\n{web}");
    if b {
        text += &format!(
            "  priv:\n    image: {image}\n    privileged: true\n    environment:\n      PORT: \"{}\"\nnetworks:\n  hostnet:\n    external: true\n    name: host\n",
            free_port()
        );
    }
    text
}

/// Writes `project`'s compose file into the desired directory `root`, with the committed
/// symlink `data` leading outside.
fn write_project(root: &TestProject, project: &TestProject, text: &str, outside: &Outside) {
    root.write(&format!("{}/compose.yaml", project.name()), text);
    let link = root.path(&format!("{}/data", project.name()));
    if link.symlink_metadata().is_err() {
        std::os::unix::fs::symlink(outside.path().join("data"), link).unwrap();
    }
}

/// The privilege texts of `list` (`privileges` or `held_privileges` of `/status`).
fn names(list: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["privilege"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn sorted(outside: &Outside, sets: &[&[&str]]) -> Vec<String> {
    let mut all: Vec<String> = sets
        .iter()
        .flat_map(|s| s.iter())
        .map(|g| outside.fill(g))
        .collect();
    all.sort();
    all
}

/// Waits (up to 60 s) until `/status` shows `project` held for exactly `held`; returns
/// its entry.
fn wait_held(
    addr: SocketAddr,
    project: &str,
    held: &[String],
    daemon: &Daemon,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        last = project_status(addr, project).unwrap_or_default();
        names(&last["held_privileges"]) == held
    });
    assert!(
        ok,
        "{project} not held for {held:?}: {last:#}\n{}",
        daemon.log()
    );
    last
}

/// The running containers of `project`, name -> ID.
fn running_ids(project: &TestProject) -> BTreeMap<String, String> {
    project
        .running()
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect()
}

/// `docker inspect` of one container (null when it is gone meanwhile: a `priv` the
/// controller replaces).
fn inspect(container: &ContainerInfo) -> serde_json::Value {
    let json = try_docker(&["inspect", &container.id]).unwrap_or_default();
    let all: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    all[0].clone()
}

/// Waits (up to 90 s) until `project` runs everything of sets A and B: `web` running with
/// the host's network, both capabilities, the binds and the env file; `priv` created
/// privileged (this engine may lack a capability a privileged container needs, so it is
/// not asked to run).
fn wait_escalated(project: &TestProject, outside: &Outside, daemon: &Daemon) {
    let data_bind = format!("{}/data:/data", outside.path().display());
    let mut seen = String::new();
    let ok = wait_until(Duration::from_secs(90), Duration::from_millis(500), || {
        let containers = project.containers();
        let web = containers
            .iter()
            .find(|c| c.name.ends_with("-web-1") && c.state == "running");
        let privileged = containers
            .iter()
            .any(|c| c.name.ends_with("-priv-1") && inspect(c)["HostConfig"]["Privileged"] == true);
        let Some(web) = web else {
            seen = format!("{containers:?}");
            return false;
        };
        let web = inspect(web);
        let host = &web["HostConfig"];
        seen = format!("{host:#}");
        let binds = host["Binds"].to_string();
        let caps = host["CapAdd"].to_string();
        privileged
            && host["NetworkMode"] == "host"
            && caps.contains("NET_ADMIN")
            && caps.contains("SYS_ADMIN")
            && binds.contains("\"/:/host:ro\"")
            && binds.contains("/var/run/docker.sock:/var/run/docker.sock:ro")
            && binds.contains(&data_bind)
            && web["Config"]["Env"]
                .to_string()
                .contains("FROM_HOST_FILE=yes")
    });
    assert!(
        ok,
        "{} did not converge to sets A and B: {seen}\n{}",
        project.name(),
        daemon.log()
    );
}

fn start(root: &TestProject, extra: &[&str]) -> (Daemon, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let listen = addr.to_string();
    let mut flags = vec!["--listen", listen.as_str()];
    flags.extend_from_slice(extra);
    let mut daemon = Daemon::start(root, &flags);
    daemon.wait_ready();
    (daemon, addr)
}

fn record_of(project: &TestProject) -> serde_json::Value {
    let path: PathBuf = state_base()
        .join(test_instance())
        .join(project.name())
        .join("privileges.json");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

#[test]
fn pinned_first_deployments_run_and_escalations_are_held_untouched_until_approved() {
    let root = TestProject::new("pol-a");
    let other = TestProject::new("pol-b");
    let late = TestProject::new("pol-new");
    let outside = Outside::new();
    let (port_a, port_b) = (free_port(), free_port());
    write_project(
        &root,
        &root,
        &compose(&outside, port_a, true, false),
        &outside,
    );
    write_project(
        &root,
        &other,
        &compose(&outside, port_b, false, true),
        &outside,
    );
    let (daemon, addr) = start(&root, &[]);
    let dir = root.dir().display().to_string();

    // First deployments are pinned and run.
    let ok = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        root.running().len() == 1 && other.running().iter().any(|c| c.name.ends_with("-web-1"))
    });
    assert!(ok, "the first deployments did not run\n{}", daemon.log());
    let recorded = |p: &TestProject| {
        let mut grants: Vec<String> = record_of(p)["privileges"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        grants.sort();
        grants
    };
    assert_eq!(recorded(&root), sorted(&outside, &[&SET_A]));
    assert_eq!(recorded(&other), sorted(&outside, &[&SET_B]));
    let before_root = running_ids(&root);
    let before_other = running_ids(&other);

    // The escalation commits are held, naming each new privilege's place; so is a project
    // a commit adds now, asking for a capability.
    write_project(
        &root,
        &root,
        &compose(&outside, port_a, true, true),
        &outside,
    );
    write_project(
        &root,
        &other,
        &compose(&outside, port_b, true, true),
        &outside,
    );
    let late_compose = format!(
        "services:\n  web:\n    image: {}\n    cap_add: [SYS_ADMIN]\n",
        demo_image("v1")
    );
    root.write(&format!("{}/compose.yaml", late.name()), &late_compose);
    let held_root = wait_held(addr, root.name(), &sorted(&outside, &[&SET_B]), &daemon);
    let late_status = wait_held(addr, late.name(), &["cap:SYS_ADMIN".to_owned()], &daemon);
    let late_error = late_status["load_error"].as_str().unwrap_or_default();
    assert!(late_error.contains("is new on this host"), "{late_error}");
    // Of set A, the other project already has what gives as much: `privileged` covers every
    // capability, and `/` read-only covers reading the env file; the read-write bind is new.
    let held_other = [outside.fill("bind:{OUT}/data")];
    wait_held(addr, other.name(), &held_other, &daemon);
    let error = held_root["load_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let file = root.path(&format!("{}/compose.yaml", root.name()));
    for place in [
        format!("{}:7: services.web.networks[0]", file.display()),
        format!("{}:8: services.web.cap_add[1]", file.display()),
        format!("{}:11: services.web.volumes[1]", file.display()),
        format!("{}:12: services.web.volumes[2]", file.display()),
        format!("{}:15: services.priv.privileged", file.display()),
    ] {
        assert!(error.contains(&place), "{place} not in {error}");
    }
    assert!(
        error.contains(&format!("policy approve --desired {dir} {}", root.name())),
        "{error}"
    );
    assert_eq!(held_root["valid"], false);
    let unchanged = stays_unchanged(Duration::from_secs(5), || {
        running_ids(&root) != before_root
            || running_ids(&other) != before_other
            || !late.containers().is_empty()
    });
    assert!(unchanged, "a held project changed\n{}", daemon.log());

    // The commands that only look say the same.
    let plan = run_cli(&["plan", "--desired", &dir]);
    assert_eq!(plan.code, Some(1), "{}", plan.all());
    assert!(
        plan.stdout
            .contains(&format!("{}: privileges HELD", root.name())),
        "{}",
        plan.all()
    );
    assert!(plan.stdout.contains("held privileged"), "{}", plan.all());
    let validate = run_cli(&["validate", "--desired", &dir]);
    assert_eq!(validate.code, Some(1), "{}", validate.all());
    assert!(
        validate
            .stdout
            .contains(&format!("held    {}", root.name())),
        "{}",
        validate.all()
    );
    let show = run_cli(&["policy", "show", other.name(), "--desired", &dir]);
    assert_eq!(show.code, Some(1), "{}", show.all());
    assert!(
        show.stdout.contains(&format!("held {}", held_other[0])),
        "{}",
        show.all()
    );
    assert!(show.stdout.contains("ok   cap:NET_ADMIN"), "{}", show.all());

    // Approvals let them through, at once.
    for project in [&root, &other, &late] {
        let approve = run_cli(&["policy", "approve", project.name(), "--desired", &dir]);
        assert_eq!(approve.code, Some(0), "{}", approve.all());
        assert!(approve.stdout.contains("(new)"), "{}", approve.all());
        assert!(approve.stdout.contains("reloads"), "{}", approve.all());
    }
    wait_escalated(&root, &outside, &daemon);
    wait_escalated(&other, &outside, &daemon);
    let late_runs = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        late.running().len() == 1
    });
    assert!(
        late_runs,
        "the approved new project did not run\n{}",
        daemon.log()
    );
    let status = project_status(addr, root.name()).unwrap();
    assert_eq!(status["valid"], true, "{status:#}");
    assert_eq!(names(&status["held_privileges"]), Vec::<String>::new());
    assert_eq!(
        names(&status["privileges"]),
        sorted(&outside, &[&SET_A, &SET_B])
    );
    drop(daemon);
}

#[test]
fn strict_runs_only_what_the_policy_file_allows_even_at_the_first_deployment() {
    let project = TestProject::new("pol-strict");
    let outside = Outside::new();
    let policy = outside.path().join("policy.yaml");
    std::fs::write(&policy, format!("{}:\n", project.name())).unwrap();
    let dir = project.dir().display().to_string();
    let policy_flag = policy.display().to_string();

    // A policy file inside the desired directory is refused.
    project.write(".policy.yaml", "{}\n");
    let inside = project.path(".policy.yaml").display().to_string();
    let refused = run_cli(&[
        "validate",
        "--desired",
        &dir,
        "--policy",
        "strict",
        "--policy-file",
        &inside,
    ]);
    assert_eq!(refused.code, Some(1), "{}", refused.all());
    assert!(
        refused.stderr.contains("inside the desired directory"),
        "{}",
        refused.all()
    );

    write_project(
        &project,
        &project,
        &compose(&outside, free_port(), true, true),
        &outside,
    );
    let (daemon, addr) = start(
        &project,
        &["--policy", "strict", "--policy-file", &policy_flag],
    );
    let held = sorted(&outside, &[&SET_A, &SET_B]);
    let status = wait_held(addr, project.name(), &held, &daemon);
    let error = status["load_error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("the policy file {policy_flag} does not allow")),
        "{error}"
    );
    let nothing = stays_unchanged(Duration::from_secs(4), || !project.containers().is_empty());
    assert!(
        nothing,
        "a refused project got containers\n{}",
        daemon.log()
    );

    // Approvals do not count under strict; the answer is what to add to the file.
    let approve = run_cli(&[
        "policy",
        "approve",
        project.name(),
        "--desired",
        &dir,
        "--policy",
        "strict",
        "--policy-file",
        &policy_flag,
    ]);
    assert_eq!(approve.code, Some(1), "{}", approve.all());
    assert!(
        approve.stderr.contains("the policy is strict"),
        "{}",
        approve.all()
    );
    let lines = approve
        .stderr
        .split_once(":\n")
        .map(|(_, lines)| lines.to_owned())
        .unwrap_or_default();
    assert!(lines.contains("  - privileged"), "{}", approve.all());

    // The lines it printed, written to the policy file, let the project through.
    std::fs::write(&policy, lines).unwrap();
    wait_escalated(&project, &outside, &daemon);
    let status = project_status(addr, project.name()).unwrap();
    assert_eq!(status["valid"], true, "{status:#}");
    drop(daemon);
}
