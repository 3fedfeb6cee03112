//! End-to-end scenarios of `composectl run` following edits of the desired directory
//! (written the way `git pull` writes: a temporary file renamed over the old one): an env
//! change recreates only its service, scaling removes and recreates numbers, a removed
//! service is pruned but its volume kept, and a half-written file changes nothing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    Daemon, TestProject, demo_image, docker, ids_by_name, replica_names, stays_unchanged,
    try_docker, wait_for_running,
};

/// A service of the demo app with `replicas` replicas reporting `version`, and optional
/// extra lines (indented by four spaces).
fn service(name: &str, replicas: u32, version: &str, extra: &str) -> String {
    format!(
        "  {name}:\n    image: {}\n    restart: \"no\"\n    environment:\n      VERSION: \"{version}\"\n    deploy:\n      replicas: {replicas}\n{extra}",
        demo_image("v1")
    )
}

fn compose(services: &[String], top_level: &str) -> String {
    format!("services:\n{}{top_level}", services.concat())
}

/// Starts a daemon on `project` (already written) and waits until `names` run.
fn start(project: &TestProject, names: &[String]) -> (Daemon, BTreeMap<String, String>) {
    let mut daemon = Daemon::start(project, &[]);
    daemon.wait_ready();
    let ids = wait_for_running(project, names);
    (daemon, ids)
}

#[test]
fn an_env_change_recreates_only_that_services_containers() {
    let project = TestProject::new("sc-env");
    let web = replica_names(&project, "web", &[1, 2]);
    let api = replica_names(&project, "api", &[1]);
    let all = [web.clone(), api.clone()].concat();
    project.write_compose(&compose(
        &[service("web", 2, "v1", ""), service("api", 1, "v1", "")],
        "",
    ));
    let (_daemon, before) = start(&project, &all);

    project.write_compose(&compose(
        &[service("web", 2, "v1", ""), service("api", 1, "v2", "")],
        "",
    ));

    let recreated = common::wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        project
            .running()
            .iter()
            .any(|c| c.name == api[0] && c.id != before[&api[0]])
    });
    assert!(
        recreated,
        "api was not recreated: {:?}",
        ids_by_name(&project)
    );
    let after = wait_for_running(&project, &all);
    for name in &web {
        assert_eq!(after[name], before[name], "{name} was recreated");
    }
    let env = docker(&["inspect", "--format", "{{json .Config.Env}}", &api[0]]);
    assert!(env.contains("VERSION=v2"), "{env}");
}

#[test]
fn scaling_down_and_up_removes_and_recreates_the_high_numbers() {
    let project = TestProject::new("sc-scale");
    let three = replica_names(&project, "web", &[1, 2, 3]);
    let one = replica_names(&project, "web", &[1]);
    project.write_compose(&compose(&[service("web", 3, "v1", "")], ""));
    let (_daemon, first) = start(&project, &three);

    project.write_compose(&compose(&[service("web", 1, "v1", "")], ""));
    let scaled_down = wait_for_running(&project, &one);
    assert_eq!(
        scaled_down[&one[0]], first[&one[0]],
        "replica 1 was recreated"
    );

    project.write_compose(&compose(&[service("web", 3, "v1", "")], ""));
    let scaled_up = wait_for_running(&project, &three);
    assert_eq!(
        scaled_up[&three[0]], first[&three[0]],
        "replica 1 was recreated"
    );
    for name in &three[1..] {
        assert_ne!(scaled_up[name], first[name], "{name} is the old container");
    }
}

#[test]
fn a_removed_service_is_pruned_and_its_named_volume_kept() {
    let project = TestProject::new("sc-prune");
    let web = replica_names(&project, "web", &[1]);
    let db = replica_names(&project, "db", &[1]);
    let volume = format!("{}_data", project.name());
    project.write_compose(&compose(
        &[
            service("web", 1, "v1", ""),
            service("db", 1, "v1", "    volumes:\n      - data:/data\n"),
        ],
        "volumes:\n  data: {}\n",
    ));
    let (_daemon, before) = start(&project, &[web.clone(), db].concat());
    docker(&["volume", "inspect", &volume]);

    project.write_compose(&compose(&[service("web", 1, "v1", "")], ""));

    let after = wait_for_running(&project, &web);
    assert_eq!(after[&web[0]], before[&web[0]], "web was recreated");
    assert!(
        try_docker(&["volume", "inspect", &volume]).is_ok(),
        "the volume of the removed service was deleted"
    );
}

#[test]
fn a_half_written_file_changes_nothing_and_the_next_good_write_converges() {
    let project = TestProject::new("sc-badyaml");
    let web = replica_names(&project, "web", &[1, 2]);
    let file = format!("{}/compose.yaml", project.name());
    project.write_compose(&compose(&[service("web", 2, "v1", "")], ""));
    let (daemon, before) = start(&project, &web);

    // The next version, cut inside a quoted string as an interrupted write would.
    let next = compose(&[service("web", 2, "v2", "")], "");
    let cut = next.find("\"v2").expect("a quoted version") + 3;
    let log_before = daemon.log().len();
    project.write_compose(&next[..cut]);

    let reported = common::wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        daemon
            .log()
            .get(log_before..)
            .is_some_and(|new| new.contains(&file) && new.contains("invalid YAML"))
    });
    assert!(
        reported,
        "the log does not report {file} as invalid YAML:\n{}",
        daemon.log()
    );
    let untouched = stays_unchanged(Duration::from_secs(6), || ids_by_name(&project) != before);
    assert!(
        untouched,
        "a broken file changed containers: {:?}",
        ids_by_name(&project)
    );

    project.write_compose(&next);
    let converged = common::wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        let now = ids_by_name(&project);
        web.iter()
            .all(|n| now.get(n).is_some_and(|id| *id != before[n]))
    });
    assert!(
        converged,
        "the good write was not applied: {:?}",
        ids_by_name(&project)
    );
    wait_for_running(&project, &web);
}

#[test]
fn a_removed_project_is_pruned_and_another_instances_project_left_alone() {
    let keep = TestProject::new("sc-keep");
    // `gone` lives in `keep`'s desired directory; `other` is converged from its own by
    // another composectl instance on the same engine.
    let gone = TestProject::new("sc-gone");
    let other = TestProject::new("sc-other");
    let web = compose(&[service("web", 1, "v1", "")], "");
    keep.write_compose(&web);
    keep.write(&format!("{}/compose.yaml", gone.name()), &web);
    other.write_compose(&web);
    let desired = other.dir().display().to_string();
    let instance = format!("{}-other", common::test_instance());
    let run = common::run_cli(&[
        "--instance",
        &instance,
        "apply",
        "--once",
        "--desired",
        &desired,
    ]);
    assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());
    let other_ids = wait_for_running(&other, &replica_names(&other, "web", &[1]));
    let (_daemon, keep_ids) = start(&keep, &replica_names(&keep, "web", &[1]));
    wait_for_running(&gone, &replica_names(&gone, "web", &[1]));

    std::fs::remove_dir_all(keep.path(gone.name())).expect("cannot remove the project");

    wait_for_running(&gone, &[]);
    let untouched = stays_unchanged(Duration::from_secs(6), || {
        ids_by_name(&other) != other_ids || ids_by_name(&keep) != keep_ids
    });
    assert!(
        untouched,
        "other projects changed: {:?} {:?}",
        ids_by_name(&other),
        ids_by_name(&keep)
    );
}
