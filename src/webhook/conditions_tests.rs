//! The once-per-transition rule: a condition is told once when it starts and once when it
//! recovers, however many loops see it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::conditions::{Conditions, Key, Snapshot, watch};
use super::*;
use crate::metrics::{ControllerState, ProjectRecord};

fn snapshot(active: &[(Key, &str)]) -> Snapshot {
    Snapshot {
        active: active
            .iter()
            .map(|(k, r)| (k.clone(), (*r).to_owned()))
            .collect(),
        projects: ["shop".to_owned(), "blog".to_owned()].into(),
        engine_reachable: true,
    }
}

fn kinds(events: &[Event]) -> Vec<(EventKind, String)> {
    events.iter().map(|e| (e.event, e.subject())).collect()
}

#[test]
fn a_condition_is_told_once_when_it_starts_and_once_when_it_recovers() {
    let mut conditions = Conditions::default();
    let failing = snapshot(&[(Key::Reconcile("shop".into()), "pull failed")]);
    let events = conditions.observe(&failing, "t1");
    assert_eq!(
        kinds(&events),
        [(EventKind::ReconcileFailed, "shop".into())]
    );
    assert_eq!(events[0].reason.as_deref(), Some("pull failed"));
    assert_eq!(events[0].at, "t1");
    for _ in 0..100 {
        assert!(
            conditions.observe(&failing, "t2").is_empty(),
            "never once per loop"
        );
    }
    // Another error of the same failure is not a new failure.
    let other = snapshot(&[(Key::Reconcile("shop".into()), "create failed")]);
    assert!(conditions.observe(&other, "t3").is_empty());
    let events = conditions.observe(&snapshot(&[]), "t4");
    assert_eq!(
        kinds(&events),
        [(EventKind::ReconcileRecovered, "shop".into())]
    );
    assert_eq!(events[0].reason, None);
    assert!(conditions.observe(&snapshot(&[]), "t5").is_empty());
    // Failing again later is told again.
    assert_eq!(conditions.observe(&failing, "t6").len(), 1);
}

#[test]
fn each_kind_of_condition_has_its_own_start_and_recovery() {
    let mut conditions = Conditions::default();
    let all = snapshot(&[
        (
            Key::Crash("shop".into(), "web".into()),
            "replica 2 keeps crashing",
        ),
        (Key::Load("blog".into()), "compose.yaml: bad"),
        (Key::Reconcile("shop".into()), "pull failed"),
    ]);
    assert_eq!(
        kinds(&conditions.observe(&all, "t")),
        [
            (EventKind::CrashLooping, "shop/web".into()),
            (EventKind::LoadFailed, "blog".into()),
            (EventKind::ReconcileFailed, "shop".into()),
        ]
    );
    let only_load = snapshot(&[(Key::Load("blog".into()), "compose.yaml: bad")]);
    assert_eq!(
        kinds(&conditions.observe(&only_load, "t")),
        [
            (EventKind::CrashRecovered, "shop/web".into()),
            (EventKind::ReconcileRecovered, "shop".into()),
        ]
    );
    assert_eq!(
        kinds(&conditions.observe(&snapshot(&[]), "t")),
        [(EventKind::LoadRecovered, "blog".into())]
    );
}

#[test]
fn a_removed_project_is_forgotten_without_a_recovery() {
    let mut conditions = Conditions::default();
    let failing = snapshot(&[(Key::Load("blog".into()), "bad")]);
    assert_eq!(conditions.observe(&failing, "t").len(), 1);
    let mut gone = snapshot(&[]);
    gone.projects.remove("blog");
    assert!(conditions.observe(&gone, "t").is_empty());
}

#[test]
fn reconcile_failures_neither_start_nor_recover_while_the_engine_is_away() {
    let mut conditions = Conditions::default();
    let mut away = snapshot(&[(Key::Reconcile("shop".into()), "engine unreachable")]);
    away.engine_reachable = false;
    assert!(conditions.observe(&away, "t").is_empty());
    let failing = snapshot(&[(Key::Reconcile("blog".into()), "pull failed")]);
    assert_eq!(conditions.observe(&failing, "t").len(), 1);
    let mut away = snapshot(&[]);
    away.engine_reachable = false;
    assert!(
        conditions.observe(&away, "t").is_empty(),
        "held until the engine is back"
    );
    assert_eq!(
        kinds(&conditions.observe(&snapshot(&[]), "t")),
        [(EventKind::ReconcileRecovered, "blog".into())]
    );
}

#[test]
fn the_snapshot_reads_crash_loops_load_and_reconcile_errors_from_the_controller() {
    let mut state = ControllerState::default();
    state
        .specs
        .insert("shop".into(), crate::model::ProjectSpec::default());
    state
        .load_errors
        .insert("blog".into(), "blog/compose.yaml: bad".into());
    state.crash_delays = vec![
        (("shop".into(), "web".into(), 1), Duration::from_secs(10)),
        (("shop".into(), "api".into(), 2), Duration::from_secs(40)),
    ];
    let records = BTreeMap::from([(
        "shop".to_owned(),
        ProjectRecord {
            last_error: Some("pull failed".into()),
            ..ProjectRecord::default()
        },
    )]);
    let snap = Snapshot::of(&state, &records, Duration::from_secs(10));
    let keys: Vec<&Key> = snap.active.keys().collect();
    // web crashed once (its backoff is still the first delay): not a loop yet.
    assert_eq!(
        keys,
        [
            &Key::Crash("shop".into(), "api".into()),
            &Key::Load("blog".into()),
            &Key::Reconcile("shop".into()),
        ]
    );
    assert_eq!(
        snap.active[&Key::Crash("shop".into(), "api".into())],
        "replica 2 keeps crashing; next restart after a 40s backoff"
    );
    assert!(snap.projects.contains("shop") && snap.projects.contains("blog"));
    // With a backoff that cannot grow, the first crash counts.
    let snap = Snapshot::of(&state, &records, Duration::ZERO);
    assert!(
        snap.active
            .contains_key(&Key::Crash("shop".into(), "web".into()))
    );
    // A directory that fails as a whole fails every project.
    state.root_error = Some("desired: permission denied".into());
    let snap = Snapshot::of(&state, &records, Duration::from_secs(10));
    assert_eq!(
        snap.active[&Key::Load("shop".into())],
        "desired: permission denied"
    );
}

/// A state source that says what the test sets.
struct Fixed(std::sync::Arc<std::sync::Mutex<ControllerState>>);

impl crate::metrics::StateSource for Fixed {
    fn state(&self) -> Option<ControllerState> {
        Some(crate::sync::lock(&self.0).clone())
    }
    fn store_ready(&self) -> bool {
        true
    }
}

#[tokio::test(start_paused = true)]
async fn the_watch_sends_one_event_per_transition_over_many_periods() {
    let telemetry = crate::metrics::Telemetry::new();
    let state = std::sync::Arc::new(std::sync::Mutex::new(ControllerState::default()));
    crate::sync::lock(&state)
        .specs
        .insert("shop".into(), crate::model::ProjectSpec::default());
    crate::sync::lock(&state)
        .load_errors
        .insert("shop".into(), "shop/compose.yaml: bad".into());
    telemetry.attach_state(Fixed(state.clone()));
    let clock = crate::clock::WallClock::following_tokio(1_714_566_605_000);
    let period = Duration::from_secs(5);
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = sent.clone();
    let task = tokio::spawn(watch(
        move |event| crate::sync::lock(&sink).push(event),
        telemetry,
        Duration::from_secs(10),
        period,
        clock,
    ));
    // Twenty periods of the same failure, then twenty of health.
    tokio::time::sleep(period * 20).await;
    crate::sync::lock(&state).load_errors.clear();
    tokio::time::sleep(period * 20).await;
    task.abort();
    let sent = crate::sync::lock(&sent).clone();
    assert_eq!(
        kinds(&sent),
        [
            (EventKind::LoadFailed, "shop".into()),
            (EventKind::LoadRecovered, "shop".into())
        ]
    );
    assert_eq!(sent[0].at, "2024-05-01T12:30:05Z");
    assert_eq!(sent[0].reason.as_deref(), Some("shop/compose.yaml: bad"));
}
