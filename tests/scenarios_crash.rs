//! End-to-end scenarios of failing containers under `composectl run`: a crash loop (the
//! same container started again in place) is slowed by the crash backoff, Docker's own
//! restart policy is left alone, and an unhealthy replica is replaced, but not in a tight
//! loop. The engine's event record (`docker events`) is the oracle for how many containers
//! were created or started, and when.

mod common;

use std::time::Duration;

use common::{
    Daemon, EngineEvent, EventRecorder, TestProject, creates, demo_image, now_nanos,
    stays_unchanged, wait_until,
};

/// A service `name` of one replica of the demo app, with extra lines (already indented by
/// four spaces) under it.
fn service(name: &str, restart: &str, extra: &str) -> String {
    format!(
        "services:\n  {name}:\n    image: {}\n    restart: \"{restart}\"\n{extra}",
        demo_image("v1")
    )
}

const CRASH_AT_ONCE: &str = "    environment:\n      EXIT_AFTER: \"0\"\n      EXIT_CODE: \"1\"\n";

/// The `create` events of `name` recorded so far, oldest first.
fn creates_of(recorder: &EventRecorder, name: &str) -> Vec<EngineEvent> {
    let events = recorder.events();
    creates(&events, name).into_iter().cloned().collect()
}

/// The `start` events of `name` recorded so far, oldest first.
fn starts_of(recorder: &EventRecorder, name: &str) -> Vec<EngineEvent> {
    let mut events = recorder.events();
    events.retain(|e| e.verb() == "start" && e.name.starts_with(name));
    events
}

/// Seconds between consecutive events.
fn gaps(events: &[EngineEvent]) -> Vec<f64> {
    events
        .windows(2)
        .map(|w| (w[1].time_nanos - w[0].time_nanos) as f64 / 1e9)
        .collect()
}

#[test]
fn a_container_that_exits_1_again_and_again_is_started_in_place_with_growing_delays() {
    let project = TestProject::new("sc-crashloop");
    let name = format!("{}-crash-1", project.name());
    project.write_compose(&service("crash", "no", CRASH_AT_ONCE));
    let recorder = EventRecorder::start(&project);
    let mut daemon = Daemon::start(
        &project,
        // A restart takes up to ~2 s on a loaded 2-core machine, so delays start at 2 s and
        // reach 16 s: late gaps are the backoff's, not the engine's latency.
        &["--crash-backoff", "2s", "--crash-backoff-max", "16s"],
    );
    daemon.wait_ready();

    // Observe 30 s from the first start; stop early if it loops far too fast.
    let mut first = None;
    let started = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        first = starts_of(&recorder, &name).first().map(|e| e.time_nanos);
        first.is_some()
    });
    assert!(started, "the crashing service was never started");
    let window_end = first.unwrap() + 30_000_000_000;
    wait_until(Duration::from_secs(35), Duration::from_millis(500), || {
        now_nanos() >= window_end || starts_of(&recorder, &name).len() > 8
    });
    let mut starts = starts_of(&recorder, &name);
    starts.retain(|e| e.time_nanos <= window_end);

    let gaps = gaps(&starts);
    eprintln!("seconds between starts: {gaps:?}");
    assert!(
        (3..=8).contains(&starts.len()),
        "{} starts in 30 s (gaps {gaps:?})",
        starts.len()
    );
    let distinct: std::collections::BTreeSet<&str> = starts.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(distinct.len(), 1, "one container, started again in place");
    assert_eq!(creates_of(&recorder, &name).len(), 1, "created once");
    // Early gaps may be the engine's latency, the last is the backoff's 8 s or 16 s: far
    // above the first (an immediate restart).
    let (head, last) = (gaps[0], *gaps.last().unwrap());
    assert!(last >= 6.0 && last > head, "gaps do not grow: {gaps:?}");
}

#[test]
fn docker_restarting_a_container_itself_is_not_fought() {
    let project = TestProject::new("sc-restart-always");
    let name = format!("{}-crash-1", project.name());
    project.write_compose(&service("crash", "always", CRASH_AT_ONCE));
    let recorder = EventRecorder::start(&project);
    let mut daemon = Daemon::start(&project, &[]);
    daemon.wait_ready();

    let mut original = None;
    let created = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        original = project.containers().into_iter().find(|c| c.name == name);
        original.is_some()
    });
    assert!(created, "the service was never created");
    let original = original.unwrap();

    // Several resyncs pass while Docker restarts it again and again.
    let kept = stays_unchanged(Duration::from_secs(8), || {
        let all = project.containers();
        all.len() != 1 || all[0].id != original.id
    });
    let containers = project.containers();
    assert!(kept, "composectl replaced it: {containers:#?}");
    let restarted = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        project
            .containers()
            .iter()
            .any(|c| c.id == original.id && c.restart_count >= original.restart_count + 3)
    });
    let containers = project.containers();
    assert!(
        restarted,
        "Docker did not keep restarting it: {containers:#?}"
    );
    assert_eq!(containers.len(), 1, "{containers:#?}");
    assert_eq!(containers[0].id, original.id, "composectl replaced it");
    assert_eq!(creates_of(&recorder, &name).len(), 1);
}

#[test]
fn an_unhealthy_replica_is_replaced_but_not_in_a_tight_loop() {
    let project = TestProject::new("sc-unhealthy");
    let name = format!("{}-sick-1", project.name());
    let extra = "    environment:\n      HEALTH: fail\n    healthcheck:\n      test: [\"CMD\", \"/demo-app\", \"healthcheck\"]\n      interval: 1s\n      timeout: 1s\n      retries: 2\n";
    project.write_compose(&service("sick", "no", extra));
    let recorder = EventRecorder::start(&project);
    let mut daemon = Daemon::start(
        &project,
        &["--crash-backoff", "20s", "--crash-backoff-max", "60s"],
    );
    daemon.wait_ready();

    let three = wait_until(Duration::from_secs(90), Duration::from_millis(250), || {
        creates_of(&recorder, &name).len() >= 3
    });
    let created = creates_of(&recorder, &name);
    let gaps = gaps(&created);
    eprintln!("seconds between creates: {gaps:?}");
    assert!(three, "not replaced twice: {} creates", created.len());
    // The first replacement is immediate (it waits only for the health check to fail);
    // the second waits out the 20 s backoff (the health check alone takes 3-10 s under
    // load, and a replacement's create lands up to ~3 s after the decision).
    assert!(
        gaps[1] >= 15.0,
        "the second replacement did not back off: {gaps:?}"
    );
    assert!(gaps[1] > gaps[0], "{gaps:?}");
    let distinct: std::collections::BTreeSet<&str> =
        created.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        distinct.len(),
        created.len(),
        "each replacement has a new ID"
    );
}
