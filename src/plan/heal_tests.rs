//! Heals: a replica that exited or was never started, unchanged, is started again in place;
//! a dead, unhealthy or drifted one is replaced; crash backoff holds both back; a container
//! whose start in place failed is replaced at once.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::model::labels;
use crate::model::refs::NetworkMode;
use crate::model::spec::{DependsOn, ProjectSpec};
use crate::model::{ContainerState, Health, ObservedState};

use super::fixtures::{ObservedExt, ProjectExt, ServiceExt, observed, project, svc};
use super::{EngineContext, PlanContext, plan};

fn web() -> ProjectSpec {
    project("shop").service(svc("web"))
}

/// The plan's actions and deferred heals, as lines.
fn lines(p: &ProjectSpec, host: &ObservedState, ctx: &PlanContext) -> (Vec<String>, Vec<String>) {
    let got = plan("shop", Some(p), host, ctx);
    let actions = got.actions.iter().map(ToString::to_string).collect();
    let deferred = got
        .deferred
        .iter()
        .map(|d| {
            format!(
                "{}-{} {} in {:?}",
                d.service, d.number, d.reason, d.retry_in
            )
        })
        .collect();
    (actions, deferred)
}

fn actions(p: &ProjectSpec, host: &ObservedState, ctx: &PlanContext) -> Vec<String> {
    lines(p, host, ctx).0
}

/// The ID of replica `number` of `service` on `host`.
fn id_of(host: &ObservedState, service: &str, number: u32) -> String {
    host.containers
        .values()
        .find(|c| c.service == service && c.number == number)
        .map(|c| c.id.clone())
        .expect("observed")
}

#[test]
fn each_state_of_an_unchanged_replica_yields_its_heal() {
    let p = web();
    let oom = observed().with(&p, "web", 1, |c| {
        c.state = ContainerState::Exited;
        c.exit_code = Some(137);
        c.oom_killed = true;
    });
    let cases = [
        (
            "killed",
            observed().exited(&p, "web", 1, 137),
            "start shop-web-1 again (exited with code 137)",
        ),
        (
            "crashed",
            observed().exited(&p, "web", 1, 1),
            "start shop-web-1 again (exited with code 1)",
        ),
        (
            "exited 0, not a job",
            observed().exited(&p, "web", 1, 0),
            "start shop-web-1 again (exited with code 0)",
        ),
        (
            "OOM-killed",
            oom,
            "start shop-web-1 again (exited with code 137 (OOM-killed))",
        ),
        (
            "never started",
            observed().state(&p, "web", 1, ContainerState::Created),
            "start shop-web-1 again (container is created)",
        ),
        (
            "dead",
            observed().state(&p, "web", 1, ContainerState::Dead),
            "replace shop-web-1 (container is dead)",
        ),
        (
            "unhealthy",
            observed().health(&p, "web", 1, Health::Unhealthy),
            "replace shop-web-1 (unhealthy)",
        ),
    ];
    for (what, host, expected) in cases {
        assert_eq!(
            actions(&p, &host, &PlanContext::default()),
            [expected],
            "{what}"
        );
    }
}

#[test]
fn an_exited_replica_whose_config_or_image_changed_is_replaced_not_started() {
    let old = web();
    let new = project("shop").service(svc("web").env("MODE", "new"));
    let host = observed().exited(&old, "web", 1, 137);
    assert_eq!(
        actions(&new, &host, &PlanContext::default()),
        ["replace shop-web-1 (config changed: environment)"]
    );
    let retagged = observed()
        .exited(&old, "web", 1, 137)
        .tag(&old.services["web"].image, "sha256:newer");
    let got = actions(&old, &retagged, &PlanContext::default());
    assert!(
        got.len() == 1 && got[0].starts_with("replace shop-web-1 (image changed"),
        "{got:?}"
    );
}

#[test]
fn a_job_that_completed_is_kept_and_one_that_failed_is_started_again() {
    let mut app = svc("app");
    app.depends_on
        .insert("migrate".into(), DependsOn::CompletedSuccessfully);
    let p = project("shop").service(svc("migrate")).service(app);
    let done = observed().exited(&p, "migrate", 1, 0).running(&p, "app", 1);
    assert!(actions(&p, &done, &PlanContext::default()).is_empty());
    let failed = observed().exited(&p, "migrate", 1, 3).running(&p, "app", 1);
    assert_eq!(
        actions(&p, &failed, &PlanContext::default()),
        ["start shop-migrate-1 again (exited with code 3)"]
    );
}

#[test]
fn crash_backoff_holds_a_start_in_place_back_like_a_replacement() {
    let p = web();
    let host = observed().exited(&p, "web", 1, 1);
    let ctx = PlanContext {
        crash_backoff: [(("web".to_owned(), 1), Duration::from_secs(20))].into(),
        ..PlanContext::default()
    };
    let (actions, deferred) = lines(&p, &host, &ctx);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(deferred, ["web-1 exited with code 1 in 20s"]);
}

#[test]
fn a_replica_whose_start_in_place_failed_is_replaced_at_once_even_in_backoff() {
    let p = web();
    let host = observed().exited(&p, "web", 1, 1);
    let ctx = PlanContext {
        crash_backoff: [(("web".to_owned(), 1), Duration::from_secs(20))].into(),
        failed_starts: BTreeSet::from([id_of(&host, "web", 1)]),
        ..PlanContext::default()
    };
    assert_eq!(
        lines(&p, &host, &ctx),
        (
            vec!["replace shop-web-1 (exited with code 1)".to_owned()],
            vec![]
        )
    );
}

#[test]
fn a_container_the_engine_stopped_whose_start_failed_is_replaced() {
    let p = web();
    let host = observed().exited(&p, "web", 1, 0);
    let id = id_of(&host, "web", 1);
    let ctx = PlanContext {
        engine: EngineContext {
            stopped: BTreeSet::from([id.clone()]),
            restart_grace: None,
        },
        failed_starts: BTreeSet::from([id]),
        ..PlanContext::default()
    };
    assert_eq!(
        actions(&p, &host, &ctx),
        ["replace shop-web-1 (exited while the Docker engine was away)"]
    );
}

#[test]
fn a_replica_in_the_namespace_of_a_restarted_one_is_replaced() {
    let mut b = svc("b");
    b.networks.clear();
    b.network_mode = Some(NetworkMode::Service("a".into()));
    b.depends_on.insert("a".into(), DependsOn::Started);
    let p = project("shop").service(svc("a")).service(b);
    let host = observed().exited(&p, "a", 1, 137);
    let label = format!("network:a={}", id_of(&host, "a", 1));
    let host = host.with(&p, "b", 1, |c| {
        c.labels.insert(labels::REFERENCES.into(), label);
    });
    assert_eq!(
        actions(&p, &host, &PlanContext::default()),
        [
            "start shop-a-1 again (exited with code 137)",
            "wait for a started (before b)",
            "replace shop-b-1 (the network namespace of service a was replaced)",
        ]
    );
}
