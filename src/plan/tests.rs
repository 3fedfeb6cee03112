//! Table tests: one case per planner rule, asserting the whole action list in order.

use crate::model::spec::ProjectSpec;
use crate::model::{ContainerState, Health, ObservedState, labels};

use super::fixtures::{ObservedExt, ProjectExt, ServiceExt, observed, project, svc};
use super::{Action, PlanContext, Reason, plan};

/// One planner case: the desired project (None: gone), the host, the expected actions as
/// their `Display` lines.
struct Case {
    name: &'static str,
    desired: Option<ProjectSpec>,
    host: ObservedState,
    expected: &'static [&'static str],
}

fn lines(desired: Option<&ProjectSpec>, host: &ObservedState, ctx: &PlanContext) -> Vec<String> {
    plan("shop", desired, host, ctx)
        .actions
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn run(cases: Vec<Case>) {
    for case in cases {
        let got = lines(case.desired.as_ref(), &case.host, &PlanContext::default());
        assert_eq!(got, case.expected, "case: {}", case.name);
    }
}

fn web(replicas: u32) -> ProjectSpec {
    project("shop").service(svc("web").replicas(replicas))
}

fn host_of(
    p: &ProjectSpec,
    service: &str,
    numbers: std::ops::RangeInclusive<u32>,
) -> ObservedState {
    numbers.fold(observed(), |o, n| o.running(p, service, n))
}

#[test]
fn container_health_and_state_rules_yield_their_actions() {
    let p = web(1);
    run(vec![
        Case {
            name: "converged",
            desired: Some(web(3)),
            host: host_of(&web(3), "web", 1..=3),
            expected: &[],
        },
        Case {
            name: "unhealthy",
            desired: Some(p.clone()),
            host: observed().health(&p, "web", 1, Health::Unhealthy),
            expected: &["replace shop-web-1 (unhealthy)"],
        },
        Case {
            name: "starting health is left alone",
            desired: Some(p.clone()),
            host: observed().health(&p, "web", 1, Health::Starting),
            expected: &[],
        },
        Case {
            name: "restarting is Docker's business",
            desired: Some(p.clone()),
            host: observed().state(&p, "web", 1, ContainerState::Restarting),
            expected: &[],
        },
        Case {
            name: "paused on purpose",
            desired: Some(p.clone()),
            host: observed().state(&p, "web", 1, ContainerState::Paused),
            expected: &[],
        },
        Case {
            name: "removing",
            desired: Some(p.clone()),
            host: observed().state(&p, "web", 1, ContainerState::Removing),
            expected: &[],
        },
        Case {
            name: "exited",
            desired: Some(p.clone()),
            host: observed().exited(&p, "web", 1, 137),
            expected: &["start shop-web-1 again (exited with code 137)"],
        },
        Case {
            name: "exited with 0 but not a job",
            desired: Some(p.clone()),
            host: observed().exited(&p, "web", 1, 0),
            expected: &["start shop-web-1 again (exited with code 0)"],
        },
        Case {
            name: "created never started",
            desired: Some(p.clone()),
            host: observed().state(&p, "web", 1, ContainerState::Created),
            expected: &["start shop-web-1 again (container is created)"],
        },
        Case {
            name: "dead",
            desired: Some(p.clone()),
            host: observed().state(&p, "web", 1, ContainerState::Dead),
            expected: &["replace shop-web-1 (container is dead)"],
        },
    ]);
}

#[test]
fn config_and_image_rules_yield_their_actions() {
    let old = project("shop")
        .service(svc("web").replicas(2).env("MODE", "old"))
        .service(svc("db"));
    let new = project("shop")
        .service(svc("web").replicas(2).env("MODE", "new"))
        .service(svc("db"));
    let p = web(1);
    run(vec![
        Case {
            name: "env change replaces every replica of that service only",
            desired: Some(new.clone()),
            host: host_of(&old, "web", 1..=2).running(&old, "db", 1),
            expected: &[
                "replace shop-web-1 (config changed: environment)",
                "replace shop-web-2 (config changed: environment)",
            ],
        },
        Case {
            name: "re-tagged image",
            desired: Some(p.clone()),
            host: observed()
                .running(&p, "web", 1)
                .tag("web:1", "sha256:0123456789abcdef"),
            expected: &["replace shop-web-1 (image changed: web:1 -> 0123456789ab)"],
        },
        Case {
            name: "drift wins over an image change and pulls a missing image first",
            desired: Some(new.clone()),
            host: host_of(&old, "web", 1..=2)
                .running(&new, "db", 1)
                .untag("web:1"),
            expected: &[
                "pull image web:1",
                "replace shop-web-1 (config changed: environment)",
                "replace shop-web-2 (config changed: environment)",
            ],
        },
        Case {
            name: "a running container of an untagged image is left alone",
            desired: Some(p.clone()),
            host: observed().running(&p, "web", 1).untag("web:1"),
            expected: &[],
        },
    ]);
}

#[test]
fn drift_without_the_fields_label_names_unknown() {
    let old = web(1).service(svc("web").env("MODE", "old"));
    let host = observed().with(&old, "web", 1, |c| {
        c.labels.remove(labels::FIELDS);
    });
    assert_eq!(
        lines(Some(&web(1)), &host, &PlanContext::default()),
        ["replace shop-web-1 (config changed: unknown)"]
    );
}

#[test]
fn removal_rules_yield_their_actions_first() {
    let old = project("shop")
        .service(svc("web").replicas(3))
        .service(svc("old"));
    run(vec![
        Case {
            name: "scale 3 -> 1 removes #3 then #2",
            desired: Some(web(1)),
            host: host_of(&web(3), "web", 1..=3),
            expected: &[
                "remove shop-web-3 (scale down to 1)",
                "remove shop-web-2 (scale down to 1)",
            ],
        },
        Case {
            name: "scale to 0",
            desired: Some(web(0)),
            host: host_of(&web(2), "web", 1..=2),
            expected: &[
                "remove shop-web-2 (scale down to 0)",
                "remove shop-web-1 (scale down to 0)",
            ],
        },
        Case {
            name: "orphan service, then scale-down, then the missing replica",
            desired: Some(web(2).service(svc("api"))),
            host: host_of(&old, "web", 1..=3)
                .running(&old, "old", 1)
                .tag("api:1", "sha256:api"),
            expected: &[
                "remove shop-old-1 (service removed from the project)",
                "remove shop-web-3 (scale down to 2)",
                "create api #1 (replica missing)",
            ],
        },
        Case {
            name: "orphans, then scale-downs, then duplicates",
            desired: Some(web(2)),
            host: observed()
                .exited(&old, "web", 1, 1)
                .running(&old, "web", 3)
                .running(&old, "old", 1)
                .running(&old, "web", 1)
                .running(&old, "web", 2),
            expected: &[
                "remove shop-old-1 (service removed from the project)",
                "remove shop-web-3 (scale down to 2)",
                "remove shop-web-1 (duplicate replica number)",
            ],
        },
        Case {
            name: "duplicates keep the running one",
            desired: Some(web(1)),
            host: observed()
                .running(&web(1), "web", 1)
                .exited(&web(1), "web", 1, 1),
            expected: &["remove shop-web-1 (duplicate replica number)"],
        },
        Case {
            name: "a container without a number is a duplicate",
            desired: Some(web(1)),
            host: observed()
                .running(&web(1), "web", 1)
                .with(&web(1), "web", 1, |c| {
                    c.number = 0;
                    c.name = "stray".into();
                }),
            expected: &["remove stray (duplicate replica number)"],
        },
        Case {
            name: "project gone: removes then prune",
            desired: None,
            host: host_of(&old, "web", 1..=2).running(&old, "old", 1),
            expected: &[
                "remove shop-old-1 (project removed from the desired directory)",
                "remove shop-web-1 (project removed from the desired directory)",
                "remove shop-web-2 (project removed from the desired directory)",
                "remove unused project networks",
            ],
        },
        Case {
            name: "project gone and nothing left",
            desired: None,
            host: observed(),
            expected: &[],
        },
    ]);
}

#[test]
fn duplicates_keep_the_newest_when_none_runs() {
    let p = web(1);
    let host = observed().exited(&p, "web", 1, 1).exited(&p, "web", 1, 2);
    let got = plan("shop", Some(&p), &host, &PlanContext::default());
    let removed: Vec<&str> = got
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { container, .. } => Some(container.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(removed, ["shop-web-1-0"], "the older container goes");
    assert!(matches!(
        &got.actions[1],
        Action::Start { container, reason: Reason::Exited { code: Some(2), .. }, .. }
            if container.id == "shop-web-1-1"
    ));
}

/// The removals of a plan of `host` for `p`, by container ID.
fn removed_ids(p: &ProjectSpec, host: &ObservedState) -> Vec<String> {
    plan("shop", Some(p), host, &PlanContext::default())
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { container, .. } => Some(container.id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_killed_start_first_keeps_the_serving_replica_over_its_starting_replacement() {
    let p = web(1);
    // The replacement was started under its temporary name, then the controller died.
    let host = observed()
        .health(&p, "web", 1, Health::Healthy)
        .with(&p, "web", 1, |c| {
            c.health = Some(Health::Starting);
            c.name = "shop-web-1-next-0123abcd".into();
        });
    assert_eq!(removed_ids(&p, &host), ["shop-web-1-1"]);
}

#[test]
fn a_killed_start_first_keeps_the_replica_under_its_own_name_when_both_serve() {
    let p = web(1);
    let host = observed()
        .health(&p, "web", 1, Health::Healthy)
        .with(&p, "web", 1, |c| {
            c.health = Some(Health::Healthy);
            c.name = "shop-web-1-next-0123abcd".into();
        });
    assert_eq!(removed_ids(&p, &host), ["shop-web-1-1"]);
}

#[test]
fn a_replica_left_under_its_temporary_name_gets_its_own_name_back() {
    let p = web(1);
    // Killed after the old container was removed and before the new one was renamed.
    let host = observed().with(&p, "web", 1, |c| {
        c.name = "shop-web-1-next-0123abcd".into();
    });
    let got = plan("shop", Some(&p), &host, &PlanContext::default());
    assert_eq!(
        got.actions,
        vec![Action::Rename {
            container: super::ContainerRef {
                id: host.containers.keys().next().unwrap().clone(),
                name: "shop-web-1-next-0123abcd".into(),
            },
            name: "shop-web-1".into(),
        }]
    );
    assert!(
        plan(
            "shop",
            Some(&p),
            &observed().running(&p, "web", 1),
            &PlanContext::default()
        )
        .is_empty()
    );
}
