//! Table tests for the dependency graph: small plans and the edges they get.

use crate::model::spec::{DependsOn, ProjectSpec};

use super::fixtures::{ProjectExt, ServiceExt, plan_of, project, svc};
use super::graph::{graph, service_of};
use super::{Action, ContainerRef, Reason, TagPurpose};

fn create(service: &str, number: u32) -> Action {
    Action::Create {
        service: service.to_owned(),
        number,
        reason: Reason::Missing,
    }
}

fn container(id: &str) -> ContainerRef {
    ContainerRef {
        id: id.to_owned(),
        name: format!("shop-{id}"),
    }
}

fn replace(service: &str, number: u32, id: &str) -> Action {
    Action::Replace {
        container: container(id),
        service: service.to_owned(),
        number,
        reason: Reason::Unhealthy,
    }
}

fn remove(id: &str) -> Action {
    Action::Remove {
        container: container(id),
        reason: Reason::ServiceRemoved,
    }
}

fn pull(image: &str) -> Action {
    Action::PullImage {
        image: image.to_owned(),
    }
}

fn wait(service: &str, dependency: &str) -> Action {
    Action::WaitFor {
        service: service.to_owned(),
        dependency: dependency.to_owned(),
        condition: DependsOn::Started,
    }
}

fn deps(spec: &ProjectSpec, actions: Vec<Action>) -> Vec<Vec<usize>> {
    graph(&plan_of(actions), spec).deps
}

#[test]
fn replicas_of_one_service_wait_for_its_pull_and_network_but_not_for_each_other() {
    let spec = project("shop").service(svc("web").replicas(3));
    let got = deps(
        &spec,
        vec![
            pull("web:1"),
            Action::EnsureNetwork {
                key: "default".to_owned(),
            },
            replace("web", 1, "a"),
            replace("web", 2, "b"),
            replace("web", 3, "c"),
        ],
    );
    assert_eq!(
        got,
        vec![vec![], vec![], vec![0, 1], vec![0, 1], vec![0, 1]]
    );
}

#[test]
fn unrelated_services_do_not_wait_for_each_others_pulls() {
    let spec = project("shop")
        .service(svc("web"))
        .service(svc("cache").image("docker.io/library/redis:7"));
    let got = deps(
        &spec,
        vec![
            pull("web:1"),
            pull("redis:7"),
            create("cache", 1),
            create("web", 1),
        ],
    );
    assert_eq!(got, vec![vec![], vec![], vec![1], vec![0]]);
}

#[test]
fn a_dependent_waits_for_its_wait_and_the_wait_for_every_action_of_the_dependency() {
    let spec = project("shop")
        .service(svc("db"))
        .service(svc("web").depends("db", DependsOn::Started));
    let got = deps(
        &spec,
        vec![
            pull("db:1"),
            create("db", 1),
            wait("web", "db"),
            create("web", 1),
        ],
    );
    assert_eq!(got, vec![vec![], vec![0], vec![1], vec![1, 2]]);
}

#[test]
fn references_other_than_depends_on_order_services_too() {
    let mut sidecar = svc("sidecar");
    sidecar.network_mode = Some(crate::model::refs::NetworkMode::Service("web".to_owned()));
    sidecar.networks.clear();
    let mut reader = svc("reader");
    reader.volumes_from.push(crate::model::refs::VolumesFrom {
        source: crate::model::refs::VolumesSource::Service("web".to_owned()),
        read_only: true,
    });
    reader.networks.clear();
    // As the loader completes them: every service a reference names is a dependency.
    sidecar
        .depends_on
        .insert("web".to_owned(), DependsOn::Started);
    reader
        .depends_on
        .insert("web".to_owned(), DependsOn::Started);
    let spec = project("shop")
        .service(svc("web"))
        .service(sidecar)
        .service(reader);
    let got = deps(
        &spec,
        vec![create("web", 1), create("sidecar", 1), create("reader", 1)],
    );
    assert_eq!(got, vec![vec![], vec![0], vec![0]]);
}

#[test]
fn removals_wait_for_nothing_and_the_prune_waits_for_everything() {
    let spec = ProjectSpec {
        name: "shop".to_owned(),
        ..ProjectSpec::default()
    };
    let got = deps(&spec, vec![remove("a"), remove("b"), Action::PruneNetworks]);
    assert_eq!(got, vec![vec![], vec![], vec![0, 1]]);
}

#[test]
fn two_actions_on_one_container_or_slot_keep_their_plan_order() {
    let spec = project("shop").service(svc("web").replicas(2));
    let got = deps(
        &spec,
        vec![
            remove("a"),
            replace("web", 1, "a"),
            Action::Rename {
                container: container("t"),
                name: "shop-web-2".to_owned(),
            },
            create("web", 2),
        ],
    );
    assert_eq!(got, vec![vec![], vec![0], vec![], vec![2]]);
}

#[test]
fn a_network_recreate_orders_the_containers_it_detaches_and_the_users_of_the_network() {
    let spec = project("shop").service(svc("web")).service(svc("api"));
    let got = deps(
        &spec,
        vec![
            remove("old"),
            Action::RecreateNetwork {
                key: "default".to_owned(),
                fields: vec!["ipam".to_owned()],
                detach: vec![container("old"), container("w1")],
            },
            create("web", 1),
            create("api", 1),
        ],
    );
    assert_eq!(got, vec![vec![], vec![0], vec![1], vec![1]]);
}

#[test]
fn a_rollouts_tag_comes_before_the_creates_of_its_service_only() {
    let spec = project("shop").service(svc("web")).service(svc("api"));
    let got = deps(
        &spec,
        vec![
            Action::TagImage {
                reference: "web:previous".to_owned(),
                image_id: "sha256:1".to_owned(),
                service: "web".to_owned(),
                purpose: TagPurpose::Rollback,
            },
            create("api", 1),
            create("web", 1),
        ],
    );
    assert_eq!(got, vec![vec![], vec![], vec![0]]);
}

#[test]
fn a_rename_belongs_to_the_service_whose_replica_name_it_restores() {
    let spec = project("shop").service(svc("web"));
    let rename = Action::Rename {
        container: container("t"),
        name: "shop-web-1".to_owned(),
    };
    assert_eq!(service_of(&rename, &spec).as_deref(), Some("web"));
    assert_eq!(service_of(&pull("web:1"), &spec), None);
}

#[test]
fn a_start_in_place_waits_for_no_pull() {
    let spec = project("shop").service(svc("web").replicas(2));
    let start = Action::Start {
        container: container("a"),
        service: "web".to_owned(),
        number: 1,
        reason: Reason::Unhealthy,
    };
    let got = deps(&spec, vec![pull("web:1"), start, create("web", 2)]);
    assert_eq!(got, vec![vec![], vec![], vec![0]]);
}
