//! Containers the engine stopped by going away: started again in place (or replaced when
//! they cannot be), never held by crash backoff, and left to the engine's restart policy
//! while its grace after the return runs.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::model::spec::{ProjectSpec, RestartPolicy, ServiceSpec};
use crate::model::{ContainerState, ObservedState};

use super::fixtures::{ObservedExt, ProjectExt, ServiceExt, observed, project, svc};
use super::{EngineContext, PlanContext, plan};

fn restarting(name: &str, policy: RestartPolicy) -> ServiceSpec {
    let mut service = svc(name);
    service.restart = policy;
    service
}

/// The IDs of every container of `host` (all of them stopped by the engine), except
/// `except`'s.
fn stopped_all_but(host: &ObservedState, except: &[&str]) -> BTreeSet<String> {
    host.containers
        .values()
        .filter(|c| !except.contains(&c.name.as_str()))
        .map(|c| c.id.clone())
        .collect()
}

fn lines(p: &ProjectSpec, host: &ObservedState, ctx: &PlanContext) -> (Vec<String>, Vec<String>) {
    let got = plan("shop", Some(p), host, ctx);
    let actions = got.actions.iter().map(ToString::to_string).collect();
    let deferred = got
        .deferred
        .iter()
        .map(|d| {
            let by = if d.is_left_to_engine() {
                "engine"
            } else {
                "crash backoff"
            };
            format!("{}-{} {:?} ({by})", d.service, d.number, d.retry_in)
        })
        .collect();
    (actions, deferred)
}

#[test]
fn containers_the_engine_stopped_start_again_in_place_and_crash_backoff_holds_none_of_them() {
    let p = project("shop").service(svc("web").replicas(4));
    let host = observed()
        .exited(&p, "web", 1, 137)
        .state(&p, "web", 2, ContainerState::Dead)
        .state(&p, "web", 3, ContainerState::Created)
        .exited(&p, "web", 4, 1);
    let ctx = PlanContext {
        crash_backoff: (1..=4)
            .map(|n| (("web".to_owned(), n), Duration::from_secs(30)))
            .collect(),
        engine: EngineContext {
            stopped: stopped_all_but(&host, &["shop-web-4"]),
            restart_grace: None,
        },
        ..PlanContext::default()
    };
    let (actions, deferred) = lines(&p, &host, &ctx);
    assert_eq!(
        actions,
        [
            "start shop-web-1 again (exited while the Docker engine was away)",
            "replace shop-web-2 (dead while the Docker engine was away)",
            "replace shop-web-3 (created while the Docker engine was away)",
        ]
    );
    assert_eq!(deferred, ["web-4 30s (crash backoff)"], "its own crash");
}

#[test]
fn a_stopped_container_its_restart_policy_would_restart_is_left_to_the_engine_during_the_grace() {
    let p = project("shop")
        .service(restarting("always", RestartPolicy::Always))
        .service(restarting("unless", RestartPolicy::UnlessStopped))
        .service(restarting(
            "failed",
            RestartPolicy::OnFailure { max_retries: None },
        ))
        .service(restarting(
            "clean",
            RestartPolicy::OnFailure { max_retries: None },
        ))
        .service(restarting("never", RestartPolicy::No));
    let host = observed()
        .exited(&p, "always", 1, 0)
        .exited(&p, "unless", 1, 0)
        .exited(&p, "failed", 1, 137)
        .exited(&p, "clean", 1, 0)
        .exited(&p, "never", 1, 143);
    let mut ctx = PlanContext {
        engine: EngineContext {
            stopped: stopped_all_but(&host, &[]),
            restart_grace: Some(Duration::from_secs(4)),
        },
        ..PlanContext::default()
    };
    let (actions, deferred) = lines(&p, &host, &ctx);
    assert_eq!(
        actions,
        [
            "start shop-clean-1 again (exited while the Docker engine was away)",
            "start shop-never-1 again (exited while the Docker engine was away)",
        ]
    );
    assert_eq!(
        deferred,
        [
            "always-1 4s (engine)",
            "failed-1 4s (engine)",
            "unless-1 4s (engine)"
        ]
    );
    ctx.engine.restart_grace = None;
    let (actions, deferred) = lines(&p, &host, &ctx);
    assert_eq!(actions.len(), 5, "every one started once the grace is over");
    assert!(
        actions.iter().all(|a| a.starts_with("start ")),
        "{actions:?}"
    );
    assert!(deferred.is_empty());
}

#[test]
fn a_stopped_container_whose_config_changed_meanwhile_is_replaced_for_the_change() {
    let old = project("shop").service(svc("web"));
    let new = project("shop").service(svc("web").env("MODE", "b"));
    let host = observed().exited(&old, "web", 1, 0);
    let ctx = PlanContext {
        engine: EngineContext {
            stopped: stopped_all_but(&host, &[]),
            restart_grace: None,
        },
        ..PlanContext::default()
    };
    let (actions, _) = lines(&new, &host, &ctx);
    assert_eq!(
        actions,
        ["replace shop-web-1 (config changed: environment)"]
    );
}

#[test]
fn planning_again_after_the_starts_changes_nothing() {
    let p = project("shop").service(svc("web").replicas(3));
    let mut host = observed()
        .exited(&p, "web", 1, 0)
        .exited(&p, "web", 2, 0)
        .running(&p, "web", 3);
    let ctx = PlanContext {
        engine: EngineContext {
            stopped: stopped_all_but(&host, &["shop-web-3"]),
            restart_grace: None,
        },
        ..PlanContext::default()
    };
    let first = plan("shop", Some(&p), &host, &ctx);
    assert_eq!(first.actions.len(), 2);
    for action in &first.actions {
        let super::Action::Start { container, .. } = action else {
            panic!("only starts: {action}");
        };
        let c = host.containers.get_mut(&container.id).expect("observed");
        c.state = ContainerState::Running;
        c.exit_code = None;
    }
    assert!(plan("shop", Some(&p), &host, &ctx).is_empty());
}

#[test]
fn the_plan_output_says_what_is_started_again_and_what_is_left_to_the_engine() {
    let p = project("shop")
        .service(restarting("web", RestartPolicy::No))
        .service(restarting("cache", RestartPolicy::UnlessStopped));
    let host = observed().exited(&p, "web", 1, 0).exited(&p, "cache", 1, 0);
    let ctx = PlanContext {
        engine: EngineContext {
            stopped: stopped_all_but(&host, &[]),
            restart_grace: Some(Duration::from_secs(8)),
        },
        ..PlanContext::default()
    };
    let text = super::render(&plan("shop", Some(&p), &host, &ctx));
    assert!(
        text.contains("shop-web-1    start again (exited while the Docker engine was away)"),
        "{text}"
    );
    assert!(
        text.contains(
            "shop-cache-1  left to the engine's restart policy, start in 8s (exited while the \
             Docker engine was away)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Plan: 0 to create, 0 to replace, 0 to remove, 1 to start again. 1 left to the \
             engine's restart policy for now."
        ),
        "{text}"
    );
}
