//! Tests of the `/status` document.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::model::{ContainerState, ProjectSpec, ServiceSpec};

fn spec(name: &str, services: &[(&str, u32)]) -> ProjectSpec {
    let mut spec = ProjectSpec {
        name: name.into(),
        ..ProjectSpec::default()
    };
    for (service, replicas) in services {
        let mut s = ServiceSpec::new(*service, "nginx");
        s.replicas = *replicas;
        spec.services.insert((*service).into(), s);
    }
    spec
}

fn container(
    project: &str,
    service: &str,
    number: u32,
    state: ContainerState,
) -> ObservedContainer {
    ObservedContainer {
        id: format!("{number:0>64}"),
        name: format!("{project}-{service}-{number}"),
        project: project.into(),
        service: service.into(),
        number,
        state,
        ..ObservedContainer::default()
    }
}

fn state() -> ControllerState {
    let mut state = ControllerState {
        store_ready: true,
        ..ControllerState::default()
    };
    state
        .specs
        .insert("shop".into(), spec("shop", &[("web", 2), ("db", 1)]));
    state
        .load_errors
        .insert("blog".into(), "blog/compose.yaml:3:1: invalid YAML".into());
    let mut healthy = container("shop", "web", 2, ContainerState::Running);
    healthy.health = Some(Health::Healthy);
    let mut exited = container("shop", "web", 1, ContainerState::Exited);
    exited.exit_code = Some(137);
    for c in [
        healthy,
        exited,
        container("shop", "old", 1, ContainerState::Running),
        container("gone", "app", 1, ContainerState::Running),
    ] {
        std::sync::Arc::make_mut(&mut state.observed)
            .containers
            .insert(c.id.clone() + &c.name, c);
    }
    state.crash_delays = vec![(("shop".into(), "web".into(), 1), Duration::from_secs(20))];
    state
}

fn find<'a>(status: &'a Status, name: &str) -> &'a ProjectStatus {
    status.projects.iter().find(|p| p.name == name).unwrap()
}

#[test]
fn every_desired_failing_and_observed_project_is_listed_in_name_order() {
    let status = build(&state(), &BTreeMap::new(), true);
    let names: Vec<&str> = status.projects.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["blog", "gone", "shop"]);
    assert!(status.ready);
    let blog = find(&status, "blog");
    assert!(!blog.valid && !blog.desired);
    assert!(blog.load_error.as_deref().unwrap().contains("invalid YAML"));
    let gone = find(&status, "gone");
    assert!(gone.valid && !gone.desired && gone.revision.is_none());
}

#[test]
fn services_list_their_replicas_in_number_order_with_state_health_and_backoff() {
    let status = build(&state(), &BTreeMap::new(), true);
    let shop = find(&status, "shop");
    assert_eq!(shop.revision.as_deref().map(str::len), Some(12));
    let services: Vec<(&str, Option<u32>)> = shop
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.desired_replicas))
        .collect();
    assert_eq!(services, [("db", Some(1)), ("old", None), ("web", Some(2))]);
    let web = &shop.services[2];
    assert_eq!(web.crash_backoff_seconds, 20.0);
    let replicas: Vec<(u32, &str, Option<&str>, Option<i64>)> = web
        .replicas
        .iter()
        .map(|r| (r.number, r.state, r.health, r.exit_code))
        .collect();
    assert_eq!(
        replicas,
        [
            (1, "exited", None, Some(137)),
            (2, "running", Some("healthy"), None)
        ]
    );
    assert_eq!(web.replicas[0].id.len(), 12);
    assert!(shop.services[0].replicas.is_empty(), "db has no container");
}

#[test]
fn the_last_error_and_success_come_from_the_records() {
    let records = BTreeMap::from([(
        "shop".to_owned(),
        ProjectRecord {
            last_success: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            last_error: Some("pulling nginx failed".into()),
            converged_revision: None,
        },
    )]);
    let status = build(&state(), &records, false);
    let shop = find(&status, "shop");
    assert_eq!(shop.last_successful_reconcile, Some(1_700_000_000.0));
    assert_eq!(shop.last_error.as_deref(), Some("pulling nginx failed"));
    assert!(!status.ready);
}

#[test]
fn an_unreadable_desired_directory_makes_every_project_invalid() {
    let mut state = state();
    state.root_error = Some("cannot read the desired directory".into());
    let status = build(&state, &BTreeMap::new(), true);
    assert!(status.projects.iter().all(|p| !p.valid));
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["desired_error"], "cannot read the desired directory");
    assert_eq!(
        json["projects"][2]["services"][2]["replicas"][1]["health"],
        "healthy"
    );
}

#[test]
fn a_service_with_a_rollout_shows_its_phase_step_and_revisions() {
    use crate::rollout::record::{Begin, Phase, PhaseName, RevisionKey, RolloutRecord};
    use crate::rollout::{Order, StrategyKind};
    let mut state = state();
    let mut record = RolloutRecord::new(Begin {
        strategy: StrategyKind::Canary,
        target: (RevisionKey::default(), 4),
        previous: (3, "shop/web:previous".into()),
        replicas: 2,
        updated: Default::default(),
        now_ms: 0,
        reverting: None,
        order: Order::StopFirst,
    });
    record.set_phase(Phase::RolledBack);
    record.finished_at_ms = Some(1);
    record.reason = Some("gate http failed".into());
    state
        .rollouts
        .insert(crate::model::ServiceRef::new("shop", "web"), record);
    let status = build(&state, &BTreeMap::new(), true);
    let shop = find(&status, "shop");
    let web = shop.services.iter().find(|s| s.name == "web").unwrap();
    let rollout = web.rollout.as_ref().expect("web had a rollout");
    assert_eq!(
        (
            rollout.phase,
            rollout.step,
            rollout.revision,
            rollout.previous_revision
        ),
        (PhaseName::RolledBack, 1, 4, 3)
    );
    let json = serde_json::to_value(&status).unwrap();
    let web_json = &json["projects"][2]["services"][2]["rollout"];
    assert_eq!(web_json["phase"], "rolled_back", "{json}");
    assert!(shop.services[0].rollout.is_none(), "db never had one");
}

#[test]
fn the_engine_shows_as_unreachable_while_it_is_away_with_its_returns() {
    let mut away = state();
    away.engine.unreachable_since_ms = Some(1_800_000_000_500);
    away.engine.returns = 2;
    away.engine.last_return_ms = Some(1_799_999_000_000);
    let status = build(&away, &BTreeMap::new(), false);
    assert!(!status.engine.reachable);
    assert_eq!(status.engine.unreachable_since, Some(1_800_000_000.5));
    assert_eq!(status.engine.returns, 2);
    assert_eq!(status.engine.last_return, Some(1_799_999_000.0));
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["engine"]["reachable"], false);
    let back = build(&state(), &BTreeMap::new(), true);
    assert!(back.engine.reachable);
    assert_eq!(back.engine.unreachable_since, None);
}

#[test]
fn a_held_project_lists_its_privileges_and_the_held_ones_with_their_places() {
    use crate::desired::origins::Origin;
    use crate::policy::guard::{Approved, Assessment};
    use crate::policy::{Grant, Privilege};

    let privilege = |grant: Grant, key: &str| Privilege {
        grant,
        origins: vec![Origin {
            file: "/srv/desired/blog/compose.yaml".into(),
            line: Some(7),
            key: key.into(),
        }],
    };
    let cap = privilege(
        Grant::Capability("NET_ADMIN".into()),
        "services.web.cap_add[0]",
    );
    let socket = privilege(
        Grant::Bind {
            path: "/var/run/docker.sock".into(),
            read_only: false,
        },
        "services.web.volumes[0]",
    );
    let mut state = state();
    state.privileges.insert(
        "blog".into(),
        Assessment {
            privileges: vec![cap, socket.clone()],
            held: vec![socket],
            approved: Approved::Unrecorded,
        },
    );
    let status = build(&state, &BTreeMap::new(), true);
    let blog = find(&status, "blog");
    let names: Vec<&str> = blog
        .privileges
        .iter()
        .map(|p| p.privilege.as_str())
        .collect();
    assert_eq!(names, ["cap:NET_ADMIN", "bind:/var/run/docker.sock"]);
    assert_eq!(blog.held_privileges.len(), 1);
    let held = &blog.held_privileges[0];
    assert_eq!(held.privilege, "bind:/var/run/docker.sock");
    assert!(held.what.contains("root on the host"), "{}", held.what);
    assert_eq!(held.origins[0].line, Some(7));
    let json = serde_json::to_value(&status).unwrap();
    let shop = json["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "shop")
        .unwrap();
    assert_eq!(shop["privileges"], serde_json::json!([]));
    assert_eq!(shop["held_privileges"], serde_json::json!([]));
}
