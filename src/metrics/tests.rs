//! Tests of the metrics: plan -> counters, load and reconcile recording, scrape-time
//! figures, readiness, and that no unbounded value ever becomes a label.

use std::collections::BTreeMap;
use std::time::Duration;

use super::labels::{ContainerLabels, DriftReason, ServiceLabels, count_plan};
use super::scrape::{crash_backoff, managed_containers};
use super::*;
use crate::controller::view::DesiredView;
use crate::desired::{self, LoadReport};
use crate::model::{ContainerState, ObservedContainer, ServiceSpec};
use crate::plan::{Action, ContainerRef, Plan, Reason};
use crate::runtime::docker::stats::{CallKind, OpKey, OpStats, Outcome};

const ID: &str = "3f1c0ffee0123456789abcdef0123456789abcdef0123456789abcdef012345";

fn container(
    project: &str,
    service: &str,
    number: u32,
    state: ContainerState,
) -> ObservedContainer {
    ObservedContainer {
        id: format!("{project}{service}{number}{ID}"),
        name: format!("{project}-{service}-{number}"),
        project: project.into(),
        service: service.into(),
        number,
        state,
        ..ObservedContainer::default()
    }
}

fn replace(service: &str, reason: Reason) -> Action {
    Action::Replace {
        container: ContainerRef {
            id: ID.into(),
            name: format!("shop-{service}-1"),
        },
        service: service.into(),
        number: 1,
        reason,
    }
}

/// A start in place of replica 1 of `service`.
fn start(service: &str, reason: Reason) -> Action {
    match replace(service, reason) {
        Action::Replace {
            container,
            service,
            number,
            reason,
        } => Action::Start {
            container,
            service,
            number,
            reason,
        },
        _ => unreachable!("replace builds a Replace"),
    }
}

fn create(service: &str, reason: Reason) -> Action {
    Action::Create {
        service: service.into(),
        number: 2,
        reason,
    }
}

fn remove(reason: Reason) -> Action {
    Action::Remove {
        container: ContainerRef {
            id: ID.into(),
            name: "shop-old-1".into(),
        },
        reason,
    }
}

fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        project: "shop".into(),
        actions,
        deferred: Vec::new(),
        ..Plan::default()
    }
}

fn exited() -> Reason {
    Reason::Exited {
        code: Some(137),
        oom_killed: true,
    }
}

#[test]
fn every_reasoned_action_is_drift_and_only_failures_are_heals() {
    use DriftReason as D;
    // (action, steady, drift reason, heal)
    let cases = [
        (replace("web", exited()), false, D::Exited, true),
        (start("web", exited()), false, D::Exited, true),
        (
            start(
                "web",
                Reason::NotRunning {
                    state: "created".into(),
                },
            ),
            false,
            D::NotRunning,
            true,
        ),
        (
            start(
                "web",
                Reason::EngineStopped {
                    state: "exited".into(),
                },
            ),
            true,
            D::EngineStopped,
            false,
        ),
        (replace("web", Reason::Unhealthy), false, D::Unhealthy, true),
        (
            replace(
                "web",
                Reason::NotRunning {
                    state: "dead".into(),
                },
            ),
            false,
            D::NotRunning,
            true,
        ),
        (
            replace(
                "web",
                Reason::ConfigDrift {
                    fields: vec!["ports".into()],
                },
            ),
            true,
            D::Config,
            false,
        ),
        (
            replace("web", Reason::ImageMissing),
            true,
            D::ImageMissing,
            false,
        ),
        (create("web", Reason::Missing), true, D::Missing, true),
        (create("web", Reason::Missing), false, D::Missing, false),
        (
            remove(Reason::ScaleDown { replicas: 1 }),
            true,
            D::ScaleDown,
            false,
        ),
        (
            remove(Reason::ProjectRemoved),
            true,
            D::ProjectRemoved,
            false,
        ),
        (remove(Reason::Duplicate), true, D::Duplicate, false),
    ];
    for (action, steady, reason, heal) in cases {
        let what = format!("{action} (steady: {steady})");
        let counts = count_plan(&plan(vec![action]), steady);
        assert_eq!(counts.drift, BTreeMap::from([(reason, 1)]), "{what}");
        let expected = if heal {
            BTreeMap::from([(("web".to_owned(), reason), 1)])
        } else {
            BTreeMap::new()
        };
        assert_eq!(counts.heals, expected, "{what}");
    }
}

#[test]
fn pulls_networks_and_waits_are_not_drift() {
    let counts = count_plan(
        &plan(vec![
            Action::PullImage {
                image: "nginx".into(),
            },
            Action::EnsureNetwork {
                key: "default".into(),
            },
            Action::PruneNetworks,
        ]),
        true,
    );
    assert!(counts.drift.is_empty() && counts.heals.is_empty());
}

#[test]
fn drift_reasons_are_exactly_the_documented_label_values() {
    use DriftReason as D;
    let all = [
        D::Missing,
        D::Exited,
        D::NotRunning,
        D::Unhealthy,
        D::Config,
        D::Image,
        D::ImageMissing,
        D::ServiceRemoved,
        D::ProjectRemoved,
        D::ScaleDown,
        D::Duplicate,
        D::Reference,
    ];
    let values: Vec<&str> = all.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        values.join("|"),
        "missing|exited|not_running|unhealthy|config|image|image_missing|service_removed|\
         project_removed|scale_down|duplicate|reference_replaced"
    );
}

#[test]
fn heals_are_counted_once_executed_and_no_id_or_exit_code_becomes_a_label() {
    let t = Telemetry::new();
    let image = Reason::ImageChanged {
        from: format!("sha256:{ID}"),
        to: "sha256:feedbeef".into(),
    };
    let p = plan(vec![replace("web", exited()), replace("api", image)]);
    t.record_plan(&p, true, false);
    let text = t.encode();
    assert!(text.contains(r#"composectl_drift_detected_total{project="shop",reason="exited"} 1"#));
    assert!(text.contains(r#"composectl_drift_detected_total{project="shop",reason="image"} 1"#));
    assert!(
        !text.contains("composectl_heals_total{"),
        "not executed: {text}"
    );
    t.record_plan(&p, true, true);
    let text = t.encode();
    assert!(
        text.contains(r#"composectl_heals_total{project="shop",service="web",reason="exited"} 1"#)
    );
    // Only the label sets: the process metrics' values may hold "137" by chance.
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|l| Some(&l[l.find('{')?..=l.find('}')?]))
        .collect();
    for secret in [&ID[..12], "137", "feedbeef", "OOM"] {
        assert!(
            labels.iter().all(|l| !l.contains(secret)),
            "{secret} leaked into a label of {text}"
        );
    }
}

#[test]
fn the_heals_a_partly_failed_plan_made_and_its_failed_services_are_counted_by_service() {
    let t = Telemetry::new();
    t.record_heals("shop", &[replace("web", exited())], true);
    t.record_service_failure("shop", "db");
    let text = t.encode();
    assert!(
        text.contains(r#"composectl_heals_total{project="shop",service="web",reason="exited"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"composectl_service_failures_total{project="shop",service="db"} 1"#),
        "{text}"
    );
}

fn view_with(projects: &[(&str, bool)]) -> DesiredView {
    let mut report = LoadReport::default();
    for (name, valid) in projects {
        let load = if *valid {
            let mut spec = ProjectSpec {
                name: (*name).into(),
                ..ProjectSpec::default()
            };
            spec.services
                .insert("web".into(), ServiceSpec::new("web", "nginx"));
            Ok(desired::Loaded {
                spec,
                warnings: Vec::new(),
                origins: Default::default(),
            })
        } else {
            Err(desired::Error::Invalid(Vec::new()))
        };
        report.projects.insert((*name).into(), load);
    }
    let mut view = DesiredView::default();
    view.apply(Ok(report), tokio::time::Instant::now());
    view
}

#[test]
fn a_load_sets_validity_counts_errors_and_forgets_removed_projects() {
    let t = Telemetry::new();
    t.record_load(&view_with(&[("shop", true), ("blog", false)]));
    t.record_load(&view_with(&[("shop", true), ("blog", false)]));
    let text = t.encode();
    assert!(
        text.contains(r#"composectl_desired_valid{project="shop"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"composectl_desired_valid{project="blog"} 0"#));
    assert!(text.contains(r#"composectl_desired_load_errors_total{project="blog"} 2"#));
    assert!(!text.contains(r#"composectl_desired_load_errors_total{project="shop"}"#));

    t.record_load(&view_with(&[("shop", true)]));
    assert!(
        !t.encode()
            .contains(r#"composectl_desired_valid{project="blog"}"#)
    );
}

#[test]
fn reconciles_are_timed_by_result_and_success_sets_the_timestamp() {
    let t = Telemetry::new();
    t.record_reconcile("shop", Duration::from_millis(20), Ok("abc"));
    t.record_reconcile(
        "shop",
        Duration::from_secs(2),
        Err("engine down: ID".into()),
    );
    let text = t.encode();
    let count = |result: &str| {
        format!(
            r#"composectl_reconcile_duration_seconds_count{{project="shop",result="{result}"}} 1"#
        )
    };
    assert!(text.contains(&count("success")), "{text}");
    assert!(text.contains(&count("error")));
    assert!(
        text.contains(
            r#"composectl_last_successful_reconcile_timestamp_seconds{project="shop"} 1"#
        )
    );
    assert!(!text.contains("engine down"));
    let (_, records) = {
        t.attach_state(Fixed(ControllerState::default()));
        t.snapshot().unwrap()
    };
    assert_eq!(
        records["shop"].last_error.as_deref(),
        Some("engine down: ID")
    );
    assert_eq!(t.converged_revision("shop").as_deref(), Some("abc"));
}

/// A fixed controller state.
pub(crate) struct Fixed(pub(crate) ControllerState);

impl StateSource for Fixed {
    fn state(&self) -> Option<ControllerState> {
        Some(self.0.clone())
    }

    fn store_ready(&self) -> bool {
        self.0.store_ready
    }

    fn engine_reachable(&self) -> bool {
        self.0.engine.reachable()
    }
}

/// One desired project `shop` (service `web`), two exited web replicas in crash backoff
/// and a running `db`.
pub(crate) fn sample_state() -> ControllerState {
    let mut state = ControllerState {
        store_ready: true,
        specs: view_with(&[("shop", true)]).specs().clone(),
        ..ControllerState::default()
    };
    for c in [
        container("shop", "web", 1, ContainerState::Exited),
        container("shop", "web", 2, ContainerState::Exited),
        container("shop", "db", 1, ContainerState::Running),
    ] {
        std::sync::Arc::make_mut(&mut state.observed)
            .containers
            .insert(c.id.clone(), c);
    }
    state.crash_delays = vec![
        (("shop".into(), "web".into(), 1), Duration::from_secs(10)),
        (("shop".into(), "web".into(), 2), Duration::from_secs(40)),
    ];
    state
}

#[test]
fn managed_containers_count_by_state_with_a_running_row_for_every_desired_service() {
    let counts = managed_containers(&sample_state());
    let row = |service: &str, state: &'static str| ContainerLabels {
        project: "shop".into(),
        service: service.into(),
        state,
    };
    let expected = BTreeMap::from([
        (row("web", "running"), 0),
        (row("web", "exited"), 2),
        (row("db", "running"), 1),
    ]);
    assert_eq!(counts, expected);
}

#[test]
fn crash_backoff_is_the_longest_delay_of_the_service_and_zero_otherwise() {
    let mut state = sample_state();
    state
        .specs
        .get_mut("shop")
        .unwrap()
        .services
        .insert("api".into(), ServiceSpec::new("api", "nginx"));
    let delays = crash_backoff(&state);
    let service = |s: &str| ServiceLabels {
        project: "shop".into(),
        service: s.into(),
    };
    assert_eq!(delays[&service("web")], 40.0);
    assert_eq!(delays[&service("api")], 0.0);
}

#[test]
fn a_scrape_shows_state_api_calls_event_stream_and_process_figures() {
    let t = Telemetry::new();
    t.attach_state(Fixed(sample_state()));
    let mut api = crate::runtime::docker::stats::ApiStats::default();
    let key = |outcome| OpKey {
        operation: "create_container",
        kind: CallKind::Write,
        outcome,
    };
    let row = |count, ms| OpStats {
        count,
        total_latency: Duration::from_millis(ms),
    };
    api.ops.insert(key(Outcome::Ok), row(3, 1500));
    api.ops.insert(key(Outcome::Error), row(1, 250));
    t.attach_api_stats(move || api.clone());
    let text = t.encode();
    let expected = [
        r#"composectl_managed_containers{project="shop",service="web",state="exited"} 2"#,
        r#"composectl_crash_backoff_seconds{project="shop",service="web"} 40.0"#,
        r#"composectl_docker_api_calls_total{operation="create_container",outcome="ok"} 3"#,
        r#"composectl_docker_api_calls_total{operation="create_container",outcome="error"} 1"#,
        r#"composectl_docker_api_call_duration_seconds_total{operation="create_container",outcome="ok"} 1.5"#,
        "composectl_event_stream_reconnects_total 0",
        "composectl_event_stream_up 0",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "process_resident_memory_bytes ",
    ];
    for line in expected {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn ready_needs_the_first_load_and_the_first_full_list() {
    let t = Telemetry::new();
    assert!(!t.is_ready(), "nothing yet");
    t.record_load(&view_with(&[("shop", true)]));
    assert!(!t.is_ready(), "no controller state attached");
    let unlisted = Telemetry::new();
    unlisted.attach_state(Fixed(ControllerState::default()));
    unlisted.record_load(&view_with(&[]));
    assert!(!unlisted.is_ready(), "the store has not listed");
    t.attach_state(Fixed(sample_state()));
    assert!(t.is_ready());
}

#[test]
fn not_ready_while_the_engine_is_away_and_ready_again_when_it_is_back() {
    let away = Telemetry::new();
    away.record_load(&view_with(&[("shop", true)]));
    let mut state = sample_state();
    state.engine.unreachable_since_ms = Some(1_800_000_000_000);
    away.attach_state(Fixed(state.clone()));
    assert!(!away.is_ready(), "listed once, but the engine is away");
    assert!(!away.engine_reachable());
    let back = Telemetry::new();
    back.record_load(&view_with(&[("shop", true)]));
    state.engine.unreachable_since_ms = None;
    state.engine.returns = 1;
    back.attach_state(Fixed(state));
    assert!(back.is_ready());
    assert!(back.engine_reachable());
}
