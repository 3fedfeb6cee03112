//! End-to-end scenarios of the one-shot commands against the real engine and the real
//! binary: `apply --once` converges from empty and then changes nothing, `plan` shows the
//! creations (and no secret), an unmanaged container is never touched, `validate` points
//! at the broken line. The docker CLI is the oracle throughout.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    CliRun, EventRecorder, TestProject, creates, demo_image, docker, free_port, http_get,
    now_nanos, run_cli, wait_until, writes,
};

/// A value that looks like a secret; it must never reach composectl's output.
const SECRET: &str = "hunter2-s3cr3t-TOKEN-9f8e7d";

/// `web` (2 replicas with a health check) and `api` (1 replica, waits for web to be
/// healthy, a named volume, a port published on 127.0.0.1:`port`, an env var).
fn web_and_api(port: u16) -> String {
    let image = demo_image("v1");
    format!(
        r#"services:
  web:
    image: {image}
    restart: "no"
    deploy:
      replicas: 2
    healthcheck:
      test: ["CMD", "/demo-app", "healthcheck"]
      interval: 1s
      timeout: 2s
      retries: 3
  api:
    image: {image}
    restart: "no"
    environment:
      VERSION: api-v1
      API_TOKEN: "{SECRET}"
    ports:
      - "127.0.0.1:{port}:8080"
    volumes:
      - data:/data
    depends_on:
      web:
        condition: service_healthy
volumes:
  data: {{}}
"#
    )
}

fn desired(project: &TestProject) -> String {
    project.dir().display().to_string()
}

fn apply_once(project: &TestProject) -> CliRun {
    run_cli(&["apply", "--once", "--desired", &desired(project)])
}

fn plan(project: &TestProject) -> CliRun {
    run_cli(&["plan", "--desired", &desired(project)])
}

/// Converges `web_and_api` with `apply --once` and asserts it succeeded.
fn converge(project: &TestProject, port: u16) {
    project.write_compose(&web_and_api(port));
    let run = apply_once(project);
    assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());
}

#[test]
fn apply_once_converges_an_empty_host_to_the_desired_project() {
    let project = TestProject::new("sc-converge");
    let port = free_port();
    let recorder = EventRecorder::start(&project);
    converge(&project, port);
    let t1 = now_nanos();

    let p = project.name();
    let running: Vec<String> = project.running().into_iter().map(|c| c.name).collect();
    assert_eq!(
        running,
        [
            format!("{p}-api-1"),
            format!("{p}-web-1"),
            format!("{p}-web-2")
        ]
    );
    for c in project.containers() {
        let service = if c.name.contains("-api-") {
            "api"
        } else {
            "web"
        };
        let number = c.name.rsplit('-').next().unwrap();
        assert_eq!(c.label("com.docker.compose.project"), Some(p), "{}", c.name);
        assert_eq!(c.label("com.docker.compose.service"), Some(service));
        assert_eq!(c.label("com.docker.compose.container-number"), Some(number));
        assert_eq!(c.label("com.docker.compose.oneoff"), Some("False"));
        assert!(
            c.label("com.docker.compose.config-hash")
                .is_some_and(|h| !h.is_empty())
        );
        assert_eq!(c.label("io.composectl.managed"), Some("true"));
    }
    let events = recorder.events_until(t1);
    assert_eq!(creates(&events, p).len(), 3, "{events:#?}");

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let answered = wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        http_get(addr, "/version").is_ok_and(|(s, body)| s == 200 && body.trim() == "api-v1")
    });
    assert!(answered, "api never answered on {addr}");
    let volume = format!("{p}_data");
    let mounts = docker(&[
        "inspect",
        "--format",
        "{{json .Mounts}}",
        &format!("{p}-api-1"),
    ]);
    assert!(mounts.contains(&volume), "{mounts}");

    let compose_file = project.path(&format!("{p}/compose.yaml"));
    let ps = std::process::Command::new("docker-compose")
        .args(["-p", p, "-f"])
        .arg(&compose_file)
        .arg("ps")
        .output()
        .expect("cannot run docker-compose");
    let listed = String::from_utf8_lossy(&ps.stdout);
    assert!(
        ps.status.success(),
        "docker-compose ps failed: {}",
        String::from_utf8_lossy(&ps.stderr)
    );
    for name in [
        format!("{p}-web-1"),
        format!("{p}-web-2"),
        format!("{p}-api-1"),
    ] {
        assert!(
            listed.contains(&name),
            "docker-compose ps lacks {name}:\n{listed}"
        );
    }
}

#[test]
fn a_second_pass_over_a_converged_host_changes_nothing() {
    let project = TestProject::new("sc-idempotent");
    converge(&project, free_port());
    let before = project.containers();

    let run = plan(&project);
    assert_eq!(run.code, Some(0), "plan after converging:\n{}", run.all());
    assert!(run.stdout.contains("No changes"), "{}", run.stdout);

    let recorder = EventRecorder::start(&project);
    let run = apply_once(&project);
    let t1 = now_nanos();
    assert_eq!(run.code, Some(0), "second apply:\n{}", run.all());

    let events = recorder.events_until(t1);
    assert!(
        writes(&events).is_empty(),
        "the second apply wrote to the engine: {:#?}",
        writes(&events)
    );
    let after = project.containers();
    let ids = |cs: &[common::ContainerInfo]| cs.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&before), ids(&after));
}

#[test]
fn plan_before_converging_lists_the_creations_with_reasons_and_no_secret() {
    let project = TestProject::new("sc-plan");
    project.write_compose(&web_and_api(free_port()));

    let run = plan(&project);

    assert_eq!(
        run.code,
        Some(2),
        "plan with pending changes:\n{}",
        run.all()
    );
    let p = project.name();
    for name in [
        format!("{p}-web-1"),
        format!("{p}-web-2"),
        format!("{p}-api-1"),
    ] {
        let line = run.stdout.lines().find(|l| l.contains(&name));
        assert!(
            line.is_some_and(|l| l.contains("create (replica missing)")),
            "plan lacks the creation of {name} with its reason:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("3 to create"), "{}", run.stdout);
    assert!(!run.all().contains(SECRET), "plan printed the secret");
    assert!(project.containers().is_empty(), "plan created containers");
}

#[test]
fn a_name_held_by_an_unmanaged_container_is_never_touched() {
    let project = TestProject::new("sc-unmanaged");
    let p = project.name().to_owned();
    let name = format!("{p}-web-1");
    let image = demo_image("v1");
    let unmanaged = project.run_unmanaged(&["--name", &name, &image]);
    project.write_compose(&format!(
        "services:\n  web:\n    image: {image}\n    restart: \"no\"\n"
    ));

    let run = apply_once(&project);

    assert_eq!(
        run.code,
        Some(1),
        "apply over a foreign container:\n{}",
        run.all()
    );
    assert!(
        run.stderr.contains(&name),
        "the error names no conflict:\n{}",
        run.all()
    );
    let containers = project.containers();
    assert_eq!(containers.len(), 1, "{containers:#?}");
    assert_eq!(containers[0].id, unmanaged);
    assert_eq!(containers[0].state, "running");
    assert_eq!(containers[0].label("io.composectl.managed"), None);
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the text"))
}

#[test]
fn validate_points_at_the_file_line_and_key_of_a_broken_project() {
    let project = TestProject::new("sc-validate");
    let image = demo_image("v1");
    let broken =
        format!("services:\n  web:\n    image: {image}\n    deploy:\n      replicas: many\n");
    project.write_compose(&broken);

    let run = run_cli(&["validate", "--desired", &desired(&project)]);

    assert_eq!(
        run.code,
        Some(1),
        "validate of a broken project:\n{}",
        run.all()
    );
    let location = format!("compose.yaml:{}", line_of(&broken, "replicas: many"));
    assert!(
        run.all().contains(&location),
        "no {location} in:\n{}",
        run.all()
    );
    assert!(run.all().contains("replicas"), "no key in:\n{}", run.all());

    project.write_compose(&web_and_api(free_port()));
    let run = run_cli(&["validate", "--desired", &desired(&project)]);
    assert_eq!(
        run.code,
        Some(0),
        "validate of a good project:\n{}",
        run.all()
    );
    assert!(
        project.containers().is_empty(),
        "validate created containers"
    );
}

/// Three replicas of the demo image stopped with a signal it ignores (SIGUSR1: PID 1 has
/// no handler for it), so each stop waits out its 3 s grace period before the SIGKILL.
fn stubborn(replicas: u32, version: &str) -> String {
    let image = demo_image("v1");
    format!(
        r#"services:
  web:
    image: {image}
    restart: "no"
    stop_signal: SIGUSR1
    stop_grace_period: 3s
    environment:
      VERSION: "{version}"
    deploy:
      replicas: {replicas}
"#
    )
}

/// For each container of `events` that died, the time from its first `kill` (the stop
/// signal) to its `die`.
fn stop_windows(events: &[common::EngineEvent]) -> Vec<(u128, u128)> {
    let mut windows = std::collections::BTreeMap::<&str, (Option<u128>, Option<u128>)>::new();
    for event in events {
        let entry = windows.entry(&event.id).or_default();
        match event.verb() {
            "kill" if entry.0.is_none() => entry.0 = Some(event.time_nanos),
            "die" => entry.1 = Some(event.time_nanos),
            _ => {}
        }
    }
    windows
        .into_values()
        .filter_map(|(kill, die)| Some((kill?, die?)))
        .collect()
}

/// True when some moment lies in every window (the latest start is before the earliest
/// end).
fn all_overlap(windows: &[(u128, u128)]) -> bool {
    let latest_start = windows.iter().map(|w| w.0).max();
    let earliest_end = windows.iter().map(|w| w.1).min();
    latest_start < earliest_end
}

#[test]
fn replicas_that_ignore_sigterm_wait_out_their_grace_periods_together() {
    let project = TestProject::new("sc-stubborn");
    project.write_compose(&stubborn(3, "a"));
    let apply = |project: &TestProject| {
        let desired = desired(project);
        let run = run_cli(&[
            "apply",
            "--once",
            "--parallelism",
            "1",
            "--desired",
            &desired,
        ]);
        assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());
    };
    apply(&project);
    assert_eq!(project.running().len(), 3);

    // Each change: the stop window of every container it stopped.
    let change = |replicas: u32, version: &str| {
        let recorder = EventRecorder::start(&project);
        project.write_compose(&stubborn(replicas, version));
        apply(&project);
        stop_windows(&recorder.events_until(now_nanos()))
    };

    // Recreate all three (an environment change), one action at a time on the engine:
    // their stops still overlap, each waiting out the grace period it was given.
    let windows = change(3, "b");
    assert_eq!(windows.len(), 3, "{windows:?}");
    let grace = Duration::from_secs(3).as_nanos();
    for (kill, die) in &windows {
        assert!(
            die - kill >= grace * 9 / 10,
            "waited out its grace: {windows:?}"
        );
    }
    assert!(
        all_overlap(&windows),
        "the three stops overlap: {windows:?}"
    );
    assert_eq!(project.running().len(), 3);

    // Scale down to one: the two surplus replicas are stopped together too.
    let windows = change(1, "b");
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert!(all_overlap(&windows), "{windows:?}");
    assert_eq!(project.running().len(), 1);
}
