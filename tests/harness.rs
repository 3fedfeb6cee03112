//! Tests of the integration-test harness itself: the images, the registry and the cleanup
//! the other integration tests build on.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{
    Registry, TestProject, demo_image, docker, http_get, published_addr, try_docker, wait_until,
};

/// Runs a demo container in `project` with `env`, publishes 8080 on the loopback and waits
/// until it answers; returns its ID and address.
fn run_demo(project: &TestProject, version: &str, env: &[&str]) -> (String, SocketAddr) {
    let image = demo_image(version);
    let mut args = vec!["-p", "127.0.0.1::8080"];
    for e in env {
        args.extend(["-e", e]);
    }
    args.push(&image);
    let id = project.run_unmanaged(&args);
    let addr = published_addr(&id, 8080);
    let up = wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        http_get(addr, "/version").is_ok()
    });
    assert!(up, "the demo container never answered on {addr}");
    (id, addr)
}

#[test]
fn demo_image_answers_healthz_version_and_metrics_when_run() {
    let project = TestProject::new("harness-demo");
    let (_, addr) = run_demo(&project, "v2", &[]);

    assert_eq!(http_get(addr, "/healthz").unwrap().0, 200);
    assert_eq!(
        http_get(addr, "/version").unwrap(),
        (200, "v2\n".to_owned())
    );
    let (status, body) = http_get(addr, "/").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("v2"), "{body}");
    let (status, metrics) = http_get(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("demo_http_requests_total{status=\"200\",version=\"v2\"} 1\n"));
    assert!(metrics.contains("demo_build_info{version=\"v2\"} 1\n"));
}

#[test]
fn twenty_percent_failure_rate_fails_exactly_ten_of_fifty_requests() {
    let project = TestProject::new("harness-failures");
    let (_, addr) = run_demo(&project, "v1", &["FAILURE_RATE=0.2"]);

    let statuses: Vec<u16> = (0..50).map(|_| http_get(addr, "/").unwrap().0).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 500).count(), 10);
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 40);
    let metrics = http_get(addr, "/metrics").unwrap().1;
    assert!(metrics.contains("demo_http_requests_total{status=\"500\",version=\"v1\"} 10\n"));
}

#[test]
fn image_health_check_follows_the_health_setting() {
    let project = TestProject::new("harness-health");
    let (ok, _) = run_demo(&project, "v1", &[]);
    let (failing, _) = run_demo(&project, "v1", &["HEALTH=fail"]);

    let health_of = |id: &str| docker(&["inspect", "--format", "{{.State.Health.Status}}", id]);
    let settled = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        health_of(&ok) == "healthy" && health_of(&failing) == "unhealthy"
    });
    assert!(
        settled,
        "health: ok container {}, failing container {}",
        health_of(&ok),
        health_of(&failing)
    );
}

#[test]
fn sigterm_stops_the_demo_container_in_well_under_two_seconds() {
    let project = TestProject::new("harness-sigterm");
    let (id, _) = run_demo(&project, "v1", &[]);

    let started = Instant::now();
    docker(&["stop", "--time", "10", &id]);
    let took = started.elapsed();

    assert!(
        took < Duration::from_millis(1500),
        "docker stop took {took:?}"
    );
    let exit = docker(&["inspect", "--format", "{{.State.ExitCode}}", &id]);
    assert_eq!(exit, "0");
}

#[test]
fn exit_after_ends_the_container_with_the_exit_code() {
    let project = TestProject::new("harness-exit");
    let id = project.run_unmanaged(&[
        "-e",
        "EXIT_AFTER=0.5",
        "-e",
        "EXIT_CODE=3",
        &demo_image("v1"),
    ]);

    let exited = wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        project
            .containers()
            .iter()
            .any(|c| c.id == id && c.state == "exited")
    });
    assert!(
        exited,
        "the container did not exit: {:?}",
        project.containers()
    );
    assert_eq!(project.containers()[0].exit_code, 3);
}

#[test]
fn pushed_image_can_be_pulled_back_from_the_registry_after_rmi() {
    let registry = Registry::start();
    let reference = registry.push(&demo_image("v2"), "harness/demo:pushed");

    assert!(
        try_docker(&["image", "inspect", &reference]).is_err(),
        "push leaves no local tag"
    );
    docker(&["pull", &reference]);
    let pulled = docker(&["image", "inspect", "--format", "{{.Id}}", &reference]);
    let original = docker(&["image", "inspect", "--format", "{{.Id}}", &demo_image("v2")]);
    assert_eq!(pulled, original);
    docker(&["rmi", &reference]);
    assert!(try_docker(&["image", "inspect", &reference]).is_err());
}

#[test]
fn dropping_a_test_project_removes_its_containers_networks_and_volumes() {
    let project = TestProject::new("harness-drop");
    let name = project.name().to_owned();
    let label = format!("com.docker.compose.project={name}");
    docker(&[
        "network",
        "create",
        "--label",
        &label,
        &format!("{name}_default"),
    ]);
    docker(&[
        "volume",
        "create",
        "--label",
        &label,
        &format!("{name}_data"),
    ]);
    run_demo(&project, "v1", &[]);
    assert_eq!(project.running().len(), 1);
    let desired = project.dir().to_owned();

    drop(project);

    let filter = format!("label={label}");
    assert_eq!(docker(&["ps", "-aq", "--filter", &filter]), "");
    assert_eq!(docker(&["network", "ls", "-q", "--filter", &filter]), "");
    assert_eq!(docker(&["volume", "ls", "-q", "--filter", &filter]), "");
    assert!(!desired.exists(), "the desired directory is removed");
}

#[test]
fn test_project_writes_files_by_rename_and_lists_its_containers() {
    let a = TestProject::new("Harness Names");
    let b = TestProject::new("Harness Names");
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("harness-names-"), "{}", a.name());

    a.write_compose("services: {}\n");
    a.write_compose("services:\n  web:\n    image: x\n");
    let file = a.path(&format!("{}/compose.yaml", a.name()));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "services:\n  web:\n    image: x\n"
    );
    let leftovers = std::fs::read_dir(file.parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file is left behind");

    let (id, _) = run_demo(&a, "v1", &[]);
    let listed = a.containers();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].image, "composectl-demo:v1");
    assert_eq!(
        listed[0].label("com.docker.compose.project"),
        Some(a.name())
    );
    assert!(b.containers().is_empty());
}

#[test]
fn wait_until_gives_up_after_the_timeout() {
    let started = Instant::now();
    let held = wait_until(
        Duration::from_millis(200),
        Duration::from_millis(50),
        || false,
    );
    assert!(!held);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(wait_until(
        Duration::ZERO,
        Duration::from_millis(50),
        || true
    ));
}
