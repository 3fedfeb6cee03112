//! Table tests for holding failed services out of a plan.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::spec::DependsOn;

use super::fixtures::{ProjectExt, ServiceExt, plan_of, project, svc};
use super::hold::{Held, held_services, hold};
use super::{Action, ContainerRef, Reason};

fn create(service: &str, number: u32) -> Action {
    Action::Create {
        service: service.to_owned(),
        number,
        reason: Reason::Missing,
    }
}

fn start(service: &str, number: u32) -> Action {
    Action::Start {
        container: ContainerRef {
            id: format!("{service}{number}"),
            name: format!("shop-{service}-{number}"),
        },
        service: service.to_owned(),
        number,
        reason: Reason::Exited {
            code: Some(137),
            oom_killed: false,
        },
    }
}

fn pull(image: &str) -> Action {
    Action::PullImage {
        image: image.to_owned(),
    }
}

fn backoff(service: &str, secs: u64) -> BTreeMap<String, Duration> {
    BTreeMap::from([(service.to_owned(), Duration::from_secs(secs))])
}

#[test]
fn a_failed_service_and_its_dependents_are_held_and_the_rest_runs() {
    let spec = project("shop")
        .service(svc("db"))
        .service(svc("api").depends("db", DependsOn::Started))
        .service(svc("web"));
    let actions = vec![
        pull("db:1"),
        pull("web:1"),
        create("db", 1),
        Action::WaitFor {
            service: "api".to_owned(),
            dependency: "db".to_owned(),
            condition: DependsOn::Started,
        },
        create("api", 1),
        create("web", 1),
        Action::PruneNetworks,
    ];

    let plan = hold(plan_of(actions), &spec, &backoff("db", 4));

    assert_eq!(plan.actions, vec![pull("web:1"), create("web", 1)]);
    let four = Duration::from_secs(4);
    assert_eq!(
        plan.held,
        vec![
            Held {
                service: "api".to_owned(),
                waits_for: "db".to_owned(),
                retry_in: four,
                actions: 2,
            },
            Held {
                service: "db".to_owned(),
                waits_for: "db".to_owned(),
                retry_in: four,
                // Its create, its pull (nothing else needs it) and the prune that
                // waits for everything.
                actions: 3,
            },
        ]
    );
    assert_eq!(held_services(&plan).into_iter().collect::<Vec<_>>(), ["db"]);
}

#[test]
fn a_pull_another_service_needs_too_is_kept() {
    let spec = project("shop")
        .service(svc("web").image("app:1"))
        .service(svc("worker").image("app:1"));
    let actions = vec![pull("app:1"), create("web", 1), create("worker", 1)];

    let plan = hold(plan_of(actions), &spec, &backoff("web", 1));

    assert_eq!(plan.actions, vec![pull("app:1"), create("worker", 1)]);
}

#[test]
fn a_start_in_place_of_a_failed_service_is_not_held() {
    let spec = project("shop").service(svc("web").replicas(2));
    let actions = vec![pull("web:1"), start("web", 1), create("web", 2)];

    let plan = hold(plan_of(actions), &spec, &backoff("web", 8));

    assert_eq!(plan.actions, vec![start("web", 1)]);
    assert_eq!(plan.held.len(), 1);
    assert_eq!(plan.held[0].actions, 2);
}

#[test]
fn nothing_in_backoff_holds_nothing_and_a_converged_service_is_not_listed() {
    let spec = project("shop").service(svc("web")).service(svc("db"));
    let actions = vec![create("web", 1)];

    assert_eq!(
        hold(plan_of(actions.clone()), &spec, &BTreeMap::new()).actions,
        actions
    );
    let plan = hold(plan_of(actions.clone()), &spec, &backoff("db", 2));
    assert_eq!(plan.actions, actions);
    assert!(plan.held.is_empty(), "db has nothing to hold: {plan:?}");
}

#[test]
fn the_plan_output_says_what_is_held_and_when_it_is_tried_again() {
    let spec = project("shop")
        .service(svc("db"))
        .service(svc("api").depends("db", DependsOn::Started));
    let actions = vec![create("db", 1), create("api", 1)];

    let text = hold(plan_of(actions), &spec, &backoff("db", 4)).to_string();

    assert!(
        text.contains("service db   held: its last change failed; 1 change tried again in 4s"),
        "{text}"
    );
    assert!(
        text.contains("service api  held: it waits for failed service db; 1 change tried again"),
        "{text}"
    );
    assert!(
        text.ends_with("No changes now. 2 services held after a failure.\n"),
        "{text}"
    );
}
