//! The planner's pulls by `pull_policy`: `missing` pulls an absent image, `always` pulls
//! before every create or replace, `never` and `build` never pull, a refreshing policy
//! pulls again once the last pull is old enough (and only then).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::ObservedState;
use crate::model::resources::PullPolicy;
use crate::model::spec::ProjectSpec;

use super::fixtures::{ObservedExt, ProjectExt, observed, project, svc};
use super::{PlanContext, plan};

fn with_policy(policy: PullPolicy) -> ProjectSpec {
    let mut web = svc("web");
    web.pull_policy = policy;
    project("shop").service(web)
}

fn pulls(p: &ProjectSpec, host: &ObservedState, ctx: &PlanContext) -> Vec<String> {
    plan("shop", Some(p), host, ctx)
        .actions
        .iter()
        .map(ToString::to_string)
        .filter(|a| a.starts_with("pull"))
        .collect()
}

fn creates(p: &ProjectSpec, host: &ObservedState) -> usize {
    plan("shop", Some(p), host, &PlanContext::default())
        .actions
        .iter()
        .filter(|a| matches!(a, super::Action::Create { .. }))
        .count()
}

#[test]
fn missing_pulls_an_absent_image_only() {
    let p = with_policy(PullPolicy::Missing);
    let ctx = PlanContext::default();
    assert_eq!(pulls(&p, &observed(), &ctx), vec!["pull image web:1"]);
    let present = observed().tag("web:1", "sha256:w");
    assert!(pulls(&p, &present, &ctx).is_empty());
}

#[test]
fn never_and_build_never_pull_and_still_plan_the_create() {
    for policy in [PullPolicy::Never, PullPolicy::Build] {
        let p = with_policy(policy);
        assert!(pulls(&p, &observed(), &PlanContext::default()).is_empty());
        assert_eq!(creates(&p, &observed()), 1, "{policy:?}");
    }
}

#[test]
fn always_pulls_before_a_create_but_not_when_nothing_changes() {
    let p = with_policy(PullPolicy::Always);
    let ctx = PlanContext::default();
    let present = observed().tag("web:1", "sha256:w");
    assert_eq!(pulls(&p, &present, &ctx), vec!["pull image web:1"]);
    let running = observed().running(&p, "web", 1);
    assert!(pulls(&p, &running, &ctx).is_empty());
}

#[test]
fn a_refreshing_policy_pulls_when_the_last_pull_is_old_enough() {
    let day = Duration::from_secs(24 * 3600);
    let p = with_policy(PullPolicy::Refresh(day));
    let running = observed().running(&p, "web", 1);
    let age = |age: Duration| PlanContext {
        pull_ages: BTreeMap::from([("web:1".to_owned(), age)]),
        ..PlanContext::default()
    };
    assert_eq!(
        pulls(&p, &running, &PlanContext::default()),
        vec!["pull image web:1"],
        "never pulled since composectl started"
    );
    assert!(pulls(&p, &running, &age(Duration::from_secs(3600))).is_empty());
    assert_eq!(pulls(&p, &running, &age(day)), vec!["pull image web:1"]);
}
