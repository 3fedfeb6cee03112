//! Table tests for ordering, dependencies, pulls and ensures, crash backoff, project
//! isolation and secret hygiene.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::spec::{DependsOn, ProjectSpec};
use crate::model::{ContainerState, Health, ObservedState};

use super::fixtures::{ObservedExt, ProjectExt, ServiceExt, observed, project, svc};
use super::{Action, Deferred, PlanContext, Reason, plan, render};

fn lines(desired: Option<&ProjectSpec>, host: &ObservedState, ctx: &PlanContext) -> Vec<String> {
    plan("shop", desired, host, ctx)
        .actions
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn check(cases: Vec<(&str, ProjectSpec, ObservedState, &[&str])>) {
    for (name, desired, host, expected) in cases {
        let got = lines(Some(&desired), &host, &PlanContext::default());
        assert_eq!(got, expected, "case: {name}");
    }
}

/// `web` depending on `db` with `condition`.
fn web_on_db(condition: DependsOn) -> ProjectSpec {
    project("shop")
        .service(svc("db"))
        .service(svc("web").depends("db", condition))
}

#[test]
fn dependencies_order_services_and_add_waits() {
    let healthy = web_on_db(DependsOn::Healthy);
    let started = web_on_db(DependsOn::Started);
    let job = project("shop")
        .service(svc("migrate"))
        .service(svc("web").depends("migrate", DependsOn::CompletedSuccessfully));
    check(vec![
        (
            "service_healthy on a starting db waits before the create",
            healthy.clone(),
            observed()
                .health(&healthy, "db", 1, Health::Starting)
                .tag("web:1", "sha256:w"),
            &[
                "wait for db healthy (before web)",
                "create web #1 (replica missing)",
            ],
        ),
        (
            "service_healthy on a healthy db creates at once",
            healthy.clone(),
            observed()
                .health(&healthy, "db", 1, Health::Healthy)
                .tag("web:1", "sha256:w"),
            &["create web #1 (replica missing)"],
        ),
        (
            "a db without a healthcheck counts as healthy once running",
            healthy.clone(),
            observed()
                .running(&healthy, "db", 1)
                .tag("web:1", "sha256:w"),
            &["create web #1 (replica missing)"],
        ),
        (
            "nothing exists: pulls, network, db, then wait and web",
            healthy.clone(),
            observed(),
            &[
                "pull image db:1",
                "pull image web:1",
                "create network default",
                "create db #1 (replica missing)",
                "wait for db healthy (before web)",
                "create web #1 (replica missing)",
            ],
        ),
        (
            "a running db satisfies service_started",
            started.clone(),
            observed()
                .running(&started, "db", 1)
                .tag("web:1", "sha256:w"),
            &["create web #1 (replica missing)"],
        ),
        (
            "a db being healed (started in place) makes web wait even for service_started",
            started.clone(),
            observed()
                .exited(&started, "db", 1, 1)
                .exited(&started, "web", 1, 1),
            &[
                "start shop-db-1 again (exited with code 1)",
                "wait for db started (before web)",
                "start shop-web-1 again (exited with code 1)",
            ],
        ),
        (
            "a job that completed with 0 is left alone",
            job.clone(),
            observed()
                .exited(&job, "migrate", 1, 0)
                .running(&job, "web", 1),
            &[],
        ),
        (
            "a failed job is started again",
            job.clone(),
            observed()
                .exited(&job, "migrate", 1, 3)
                .running(&job, "web", 1),
            &["start shop-migrate-1 again (exited with code 3)"],
        ),
        (
            "a completed job satisfies its dependent",
            job.clone(),
            observed()
                .exited(&job, "migrate", 1, 0)
                .tag("web:1", "sha256:w"),
            &["create web #1 (replica missing)"],
        ),
    ]);
}

#[test]
fn services_follow_depends_on_order_not_name_order() {
    let p = project("shop")
        .service(svc("a").depends("b", DependsOn::Started))
        .service(svc("b").depends("c", DependsOn::Started))
        .service(svc("c"));
    let host = observed()
        .tag("a:1", "sha256:a")
        .tag("b:1", "sha256:b")
        .tag("c:1", "sha256:c")
        .running(&project("shop").service(svc("z")), "z", 1);
    assert_eq!(
        lines(Some(&p), &host, &PlanContext::default()),
        [
            "remove shop-z-1 (service removed from the project)",
            "create c #1 (replica missing)",
            "wait for c started (before b)",
            "create b #1 (replica missing)",
            "wait for b started (before a)",
            "create a #1 (replica missing)",
        ]
    );
}

#[test]
fn networks_and_volumes_are_ensured_once_unless_external_or_known() {
    let p = project("shop")
        .network("back", false)
        .network("outside", true)
        .volume("data", false)
        .volume("shared", true)
        .service(
            svc("db")
                .replicas(2)
                .on_network("back")
                .on_network("outside")
                .mount("shop", "data", "/data")
                .mount("shop", "shared", "/shared"),
        )
        .service(svc("web").mount("shop", "data", "/srv"));
    let host = observed().tag("db:1", "sha256:d").tag("web:1", "sha256:w");
    check(vec![
        (
            "everything new",
            p.clone(),
            host.clone(),
            &[
                "create network back",
                "create network default",
                "create volume data",
                "create db #1 (replica missing)",
                "create db #2 (replica missing)",
                "create web #1 (replica missing)",
            ],
        ),
        (
            "known from a running replica",
            p.clone(),
            host.clone().running(&p, "db", 1),
            &[
                "create db #2 (replica missing)",
                "create web #1 (replica missing)",
            ],
        ),
        (
            "what web's container shows to exist is not ensured again",
            p.clone(),
            host.running(&p, "web", 1),
            &[
                "create network back",
                "create db #1 (replica missing)",
                "create db #2 (replica missing)",
            ],
        ),
    ]);
}

#[test]
fn an_image_used_by_two_services_is_pulled_once() {
    let p = project("shop")
        .service(svc("a").image("nginx"))
        .service(svc("b").image("docker.io/library/nginx:latest"))
        .service(svc("c").image("redis:7"))
        .service(svc("d").image("redis:7"));
    let host = observed().running(&p, "d", 1).untag("redis:7");
    let pulls: Vec<String> = lines(Some(&p), &host, &PlanContext::default())
        .into_iter()
        .filter(|l| l.starts_with("pull"))
        .collect();
    assert_eq!(pulls, ["pull image nginx", "pull image redis:7"]);
}

#[test]
fn crash_backoff_defers_only_failures() {
    let p = project("shop").service(svc("web").replicas(4));
    let old = project("shop").service(svc("web").replicas(4).env("K", "v"));
    let host = observed()
        .exited(&p, "web", 1, 1)
        .health(&p, "web", 2, Health::Unhealthy)
        .running(&old, "web", 3);
    let ctx = PlanContext {
        crash_backoff: (1..=4)
            .map(|n| (("web".to_owned(), n), Duration::from_secs(30)))
            .collect(),
        ..PlanContext::default()
    };
    let got = plan("shop", Some(&p), &host, &ctx);
    let actions: Vec<String> = got.actions.iter().map(ToString::to_string).collect();
    assert_eq!(
        actions,
        [
            "replace shop-web-3 (config changed: environment)",
            "create web #4 (replica missing)"
        ]
    );
    let deferred = |number, reason| Deferred {
        service: "web".into(),
        number,
        reason,
        retry_in: Duration::from_secs(30),
    };
    let exited = Reason::Exited {
        code: Some(1),
        oom_killed: false,
    };
    assert_eq!(
        got.deferred,
        [deferred(1, exited), deferred(2, Reason::Unhealthy)]
    );
}

#[test]
fn a_backoff_with_no_time_left_allows_the_replacement() {
    let p = project("shop").service(svc("web"));
    let host = observed().state(&p, "web", 1, ContainerState::Dead);
    let ctx = PlanContext {
        crash_backoff: BTreeMap::from([(("web".to_owned(), 1), Duration::ZERO)]),
        ..PlanContext::default()
    };
    assert_eq!(
        lines(Some(&p), &host, &ctx),
        ["replace shop-web-1 (container is dead)"]
    );
}

#[test]
fn containers_of_another_project_are_never_touched() {
    let shop = project("shop").service(svc("web"));
    let blog = project("blog").service(svc("web")).service(svc("db"));
    let host = observed()
        .exited(&blog, "web", 1, 1)
        .running(&blog, "db", 1)
        .running(&blog, "db", 2)
        .exited(&shop, "web", 1, 1);
    for desired in [Some(&shop), None] {
        let got = plan("shop", desired, &host, &PlanContext::default());
        for action in &got.actions {
            if let Action::Remove { container, .. } | Action::Replace { container, .. } = action {
                assert_eq!(host.containers[&container.id].project, "shop", "{action}");
            }
        }
        assert!(got.has_writes());
    }
}

#[test]
fn environment_values_never_enter_a_plan_or_its_output() {
    let old = project("shop").service(svc("web").replicas(2).env("DB_PASSWORD", "hunter2-old"));
    let new = project("shop").service(svc("web").replicas(2).env("DB_PASSWORD", "hunter2-new"));
    let host = observed().running(&old, "web", 1).exited(&old, "web", 2, 1);
    let ctx = PlanContext {
        crash_backoff: BTreeMap::from([(("web".to_owned(), 2), Duration::from_secs(5))]),
        ..PlanContext::default()
    };
    for desired in [Some(&new), None] {
        let got = plan("shop", desired, &host, &ctx);
        let text = format!(
            "{got:?}{}{}",
            render(&got),
            serde_json::to_string(&got).unwrap()
        );
        assert!(!text.contains("hunter2"), "a secret leaked: {text}");
    }
}

#[test]
fn independent_services_are_acted_on_in_name_order() {
    let p = project("shop")
        .service(svc("b"))
        .service(svc("c").depends("a", DependsOn::Started))
        .service(svc("a"));
    let host = ["a:1", "b:1", "c:1"]
        .into_iter()
        .fold(observed(), |o, image| o.tag(image, "sha256:x"))
        .running(&project("shop").service(svc("z")), "z", 1);
    assert_eq!(
        lines(Some(&p), &host, &PlanContext::default()),
        [
            "remove shop-z-1 (service removed from the project)",
            "create a #1 (replica missing)",
            "create b #1 (replica missing)",
            "wait for a started (before c)",
            "create c #1 (replica missing)",
        ]
    );
}

#[test]
fn a_dependency_scaled_to_zero_is_not_waited_for() {
    let desired = project("shop")
        .service(svc("db").replicas(0))
        .service(svc("web").depends("db", DependsOn::Healthy));
    let host = observed().tag("web:1", "sha256:w");
    assert_eq!(
        lines(Some(&desired), &host, &PlanContext::default()),
        vec!["create network default", "create web #1 (replica missing)"]
    );
}
