//! End-to-end scenarios of `composectl run` healing what dies between deploys: a killed
//! replica is started again in place (the same container, no create), a removed one is
//! created again, both exactly once, and a restarted controller duplicates nothing. The
//! docker CLI (state and the engine's event record) is the oracle.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    Daemon, EventRecorder, TestProject, creates, demo_image, docker, ids_by_name, now_nanos,
    replica_names, stays_unchanged, wait_for_running, wait_until, writes,
};

/// A window of several resync periods (the daemons resync every 2 s).
const QUIET: Duration = Duration::from_secs(6);

fn web(replicas: u32) -> String {
    format!(
        "services:\n  web:\n    image: {}\n    restart: \"no\"\n    deploy:\n      replicas: {replicas}\n",
        demo_image("v1")
    )
}

/// A project of `replicas` web replicas, converged by a fresh daemon.
fn converged(prefix: &str, replicas: u32) -> (TestProject, Daemon, Vec<String>) {
    let project = TestProject::new(prefix);
    project.write_compose(&web(replicas));
    let mut daemon = Daemon::start(&project, &[]);
    daemon.wait_ready();
    let numbers: Vec<u32> = (1..=replicas).collect();
    let names = replica_names(&project, "web", &numbers);
    wait_for_running(&project, &names);
    (project, daemon, names)
}

/// Waits until `name` runs again under an ID other than `old`; returns the new ID.
fn wait_replaced(project: &TestProject, name: &str, old: &str) -> String {
    let mut new_id = None;
    let replaced = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        new_id = project
            .running()
            .into_iter()
            .find(|c| c.name == name && c.id != old)
            .map(|c| c.id);
        new_id.is_some()
    });
    assert!(
        replaced,
        "{name} was not replaced; the engine shows {:?}",
        ids_by_name(project)
    );
    new_id.unwrap()
}

#[test]
fn a_killed_replica_is_started_again_in_place_once() {
    let (project, _daemon, names) = converged("sc-kill", 2);
    let before = ids_by_name(&project);
    let victim = &names[0];
    let recorder = EventRecorder::start(&project);

    docker(&["kill", "-s", "KILL", victim]);
    let died = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let events = recorder.events();
        events
            .iter()
            .any(|e| e.verb() == "die" && e.id == before[victim])
    });
    assert!(died, "no die event of {victim}");
    let restarted = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        starts_of(&recorder.events(), &before[victim]) >= 1
            && project
                .running()
                .iter()
                .any(|c| c.name == *victim && c.id == before[victim])
    });
    assert!(
        restarted,
        "{victim} was not started again; the engine shows {:?}",
        ids_by_name(&project)
    );

    // A few resyncs later it has still been started exactly once, and nothing was created.
    let settled = stays_unchanged(QUIET, || ids_by_name(&project) != before);
    let after = ids_by_name(&project);
    assert!(settled, "the replicas changed: {after:?}");
    let events = recorder.events_until(now_nanos());
    assert_eq!(starts_of(&events, &before[victim]), 1, "{events:#?}");
    assert!(creates(&events, victim).is_empty(), "{events:#?}");
    assert_eq!(after, before, "the same containers");
    assert_eq!(
        project.containers().len(),
        2,
        "one container per replica number"
    );
}

/// The `start` events of container `id` in `events`.
fn starts_of(events: &[common::EngineEvent], id: &str) -> usize {
    events
        .iter()
        .filter(|e| e.verb() == "start" && e.id == id)
        .count()
}

#[test]
fn a_removed_replica_is_recreated() {
    let (project, _daemon, names) = converged("sc-rm", 2);
    let before = ids_by_name(&project);
    let victim = &names[1];

    docker(&["rm", "-f", victim]);

    wait_replaced(&project, victim, &before[victim]);
    let after = wait_for_running(&project, &names);
    assert_eq!(
        after[&names[0]], before[&names[0]],
        "the other replica was touched"
    );
}

#[test]
fn a_restarted_daemon_creates_and_removes_nothing() {
    let (project, daemon, names) = converged("sc-restart", 3);
    let before = ids_by_name(&project);
    daemon.kill();

    let recorder = EventRecorder::start(&project);
    let mut daemon = Daemon::start(&project, &[]);
    daemon.wait_ready();
    let changed = !stays_unchanged(QUIET, || ids_by_name(&project) != before);
    let events = recorder.events_until(now_nanos());

    assert!(!changed, "containers changed: {:?}", ids_by_name(&project));
    assert!(
        writes(&events).is_empty(),
        "the restarted daemon wrote: {:#?}",
        writes(&events)
    );
    assert_eq!(wait_for_running(&project, &names), before);
}
