//! Tests of the human output of plans.

use std::time::Duration;

use crate::model::spec::DependsOn;

use super::fixtures::{ObservedExt, ProjectExt, ServiceExt, observed, project, svc};
use super::render::human_duration;
use super::{Action, ContainerRef, Deferred, Plan, PlanContext, Reason, Summary, plan};
use super::{render, render_many};

fn container(name: &str) -> ContainerRef {
    ContainerRef {
        id: format!("id-{name}"),
        name: name.to_owned(),
    }
}

fn every_kind() -> Plan {
    let actions = vec![
        Action::Remove {
            container: container("shop-web-3"),
            reason: Reason::ScaleDown { replicas: 2 },
        },
        Action::PullImage {
            image: "web:2".into(),
        },
        Action::EnsureNetwork {
            key: "default".into(),
        },
        Action::EnsureVolume { key: "data".into() },
        Action::Create {
            service: "db".into(),
            number: 1,
            reason: Reason::Missing,
        },
        Action::WaitFor {
            service: "web".into(),
            dependency: "db".into(),
            condition: DependsOn::Healthy,
        },
        Action::Replace {
            container: container("shop-web-2"),
            service: "web".into(),
            number: 2,
            reason: Reason::ConfigDrift {
                fields: vec!["environment".into()],
            },
        },
    ];
    let deferred = vec![Deferred {
        service: "web".into(),
        number: 1,
        reason: Reason::Exited {
            code: Some(1),
            oom_killed: true,
        },
        retry_in: Duration::from_secs(25),
    }];
    Plan {
        project: "shop".into(),
        actions,
        deferred,
        ..Plan::default()
    }
}

#[test]
fn every_action_gets_a_sign_an_aligned_target_and_a_reason() {
    let expected = "\
- shop-web-3       remove (scale down to 2)
> image web:2      pull
> network default  create
> volume data      create
+ shop-db-1        create (replica missing)
… web              wait for db to be healthy
~ shop-web-2       replace (config changed: environment)
! shop-web-1       replace deferred, retry in 25s (exited with code 1 (OOM-killed))
Plan: 1 to create, 1 to replace, 1 to remove. 1 deferred by crash backoff.
";
    assert_eq!(render(&every_kind()), expected);
    assert_eq!(every_kind().to_string(), expected);
}

#[test]
fn a_converged_project_says_there_is_nothing_to_do() {
    let p = project("shop").service(svc("web").replicas(2));
    let host = observed().running(&p, "web", 1).running(&p, "web", 2);
    let got = plan("shop", Some(&p), &host, &PlanContext::default());
    assert_eq!(
        render(&got),
        "No changes. The host matches the desired state.\n"
    );
}

#[test]
fn a_plan_with_only_deferred_changes_does_not_claim_convergence() {
    let mut plan = every_kind();
    plan.actions.clear();
    assert_eq!(
        render(&plan),
        "! shop-web-1  replace deferred, retry in 25s (exited with code 1 (OOM-killed))\n\
         No changes now. 1 deferred by crash backoff.\n"
    );
}

#[test]
fn several_projects_render_under_their_names_with_one_total() {
    let quiet = Plan {
        project: "blog".into(),
        ..Plan::default()
    };
    let busy = Plan {
        project: "shop".into(),
        actions: vec![Action::Remove {
            container: container("shop-old-1"),
            reason: Reason::ServiceRemoved,
        }],
        ..Plan::default()
    };
    assert_eq!(
        render_many(&[quiet, busy, every_kind()]),
        "blog:\n  no changes\n\n\
         shop:\n  - shop-old-1  remove (service removed from the project)\n\n\
         shop:\n\
         \x20 - shop-web-3       remove (scale down to 2)\n\
         \x20 > image web:2      pull\n\
         \x20 > network default  create\n\
         \x20 > volume data      create\n\
         \x20 + shop-db-1        create (replica missing)\n\
         \x20 … web              wait for db to be healthy\n\
         \x20 ~ shop-web-2       replace (config changed: environment)\n\
         \x20 ! shop-web-1       replace deferred, retry in 25s (exited with code 1 (OOM-killed))\n\n\
         Plan: 1 to create, 1 to replace, 2 to remove. 1 deferred by crash backoff.\n"
    );
}

#[test]
fn summaries_add_up() {
    let total: Summary = [every_kind(), every_kind()].iter().sum();
    assert_eq!(
        total,
        Summary {
            create: 2,
            replace: 2,
            remove: 2,
            deferred: 2,
            ..Summary::default()
        }
    );
    assert_eq!(
        Summary::default().to_string(),
        "No changes. The host matches the desired state."
    );
}

#[test]
fn durations_print_with_at_most_two_units() {
    let cases = [
        (Duration::from_millis(300), "300ms"),
        (Duration::from_secs(25), "25s"),
        (Duration::from_secs(120), "2m"),
        (Duration::from_secs(125), "2m5s"),
        (Duration::from_secs(3600), "1h"),
        (Duration::from_secs(3725), "1h2m"),
    ];
    for (d, text) in cases {
        assert_eq!(human_duration(d), text, "{d:?}");
    }
}
