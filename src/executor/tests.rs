//! Executor tests against the fake engine (paused clock where time matters).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::model::spec::{
    Healthcheck, MountKind, MountSpec, NetworkSpec, ServiceNetwork, ServiceSpec, VolumeSpec,
};
use crate::model::{ContainerState, Health, labels};
use crate::observed::{Reflector, relist};
use crate::plan::{ContainerRef, Reason};
use crate::runtime::fake::{Call, FakeRuntime, Op};

/// `shop`: `db` (postgres, healthcheck) and `web` (nginx on the default network, a volume).
fn shop() -> ProjectSpec {
    let mut db = ServiceSpec::new("db", "postgres:16");
    db.healthcheck = Some(Healthcheck {
        test: vec!["CMD".into(), "pg_isready".into()],
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
    });
    db.stop_grace_period = Some(Duration::from_secs(30));
    let mut web = ServiceSpec::new("web", "nginx:1.27");
    web.networks
        .insert("default".into(), ServiceNetwork::default());
    web.mounts.push(MountSpec {
        kind: MountKind::Volume {
            name: "shop_data".into(),
            key: "data".into(),
        },
        target: "/data".into(),
        read_only: false,
        options: Default::default(),
    });
    let network = NetworkSpec {
        name: "shop_default".into(),
        ..NetworkSpec::default()
    };
    let volume = VolumeSpec {
        name: "shop_data".into(),
        ..VolumeSpec::default()
    };
    ProjectSpec {
        name: "shop".into(),
        services: BTreeMap::from([("db".into(), db), ("web".into(), web)]),
        networks: BTreeMap::from([("default".into(), network)]),
        volumes: BTreeMap::from([("data".into(), volume)]),
        ..ProjectSpec::default()
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

fn create(service: &str, number: u32) -> Action {
    Action::Create {
        service: service.into(),
        number,
        reason: Reason::Missing,
    }
}

fn wait_healthy() -> Action {
    Action::WaitFor {
        service: "web".into(),
        dependency: "db".into(),
        condition: DependsOn::Healthy,
    }
}

/// A fake, a store already listed from it, and an executor over both.
async fn setup(fake: &FakeRuntime) -> (Store, Executor<FakeRuntime>) {
    let store = Store::new();
    relist(fake, &store).await.unwrap();
    fake.clear_calls();
    let executor = Executor::new(Arc::new(fake.clone()), store.clone());
    (store, executor)
}

/// Runs a reflector over `fake` into `store` until the returned sender drops.
fn reflect(fake: &FakeRuntime, store: &Store) -> oneshot::Sender<()> {
    let (tx, _changes) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let reflector = Reflector::new(Arc::new(fake.clone()), store.clone(), tx);
    tokio::spawn(reflector.run(stopped));
    stop
}

#[tokio::test]
async fn pull_ensure_and_create_land_labelled_containers_seen_by_the_store_at_once() {
    let fake = FakeRuntime::new();
    fake.add_registry_image("nginx:1.27", "sha256:web");
    let (store, executor) = setup(&fake).await;
    let project = shop();
    let actions = vec![
        Action::PullImage {
            image: "nginx:1.27".into(),
        },
        Action::EnsureNetwork {
            key: "default".into(),
        },
        Action::EnsureVolume { key: "data".into() },
        create("web", 1),
    ];

    let report = executor
        .execute(&project, &plan(actions.clone()))
        .await
        .unwrap();

    assert_eq!(report.done, actions);
    assert_eq!(report.writes, 5);
    let web = fake.container("shop-web-1").unwrap();
    let expected = labels::container_labels(&project, &project.services["web"], 1);
    assert_eq!(web.labels, expected);
    assert_eq!(web.networks, ["shop_default"]);
    assert_eq!(web.state, ContainerState::Running);
    let network_labels = &fake.networks()["shop_default"];
    assert_eq!(network_labels[labels::NETWORK], "default");
    assert_eq!(network_labels[labels::MANAGED], "true");
    assert_eq!(fake.volumes()["shop_data"][labels::VOLUME], "data");
    let seen = store.snapshot();
    assert_eq!(seen.containers[&web.id], web);
    assert_eq!(seen.image_id("nginx:1.27"), Some("sha256:web"));
}

#[tokio::test]
async fn replace_stops_before_removing_and_recreates_under_the_same_name() {
    let fake = FakeRuntime::new();
    let project = shop();
    let old = fake.add_managed(&project, &project.services["db"], 1);
    let (store, executor) = setup(&fake).await;
    let replace = Action::Replace {
        container: ContainerRef {
            id: old.clone(),
            name: "shop-db-1".into(),
        },
        service: "db".into(),
        number: 1,
        reason: Reason::Unhealthy,
    };

    let report = executor
        .execute(&project, &plan(vec![replace]))
        .await
        .unwrap();

    let new = fake.container("shop-db-1").unwrap();
    assert_ne!(new.id, old);
    let calls = fake.calls();
    assert_eq!(
        calls[..4],
        [
            Call::Stop { id: old.clone() },
            Call::Remove { id: old.clone() },
            Call::Create {
                name: "shop-db-1".into()
            },
            Call::Start { id: new.id.clone() },
        ]
    );
    assert_eq!(report.writes, 4);
    assert!(store.container(&old).is_none());
    assert!(store.container(&new.id).is_some());
}

#[tokio::test]
async fn an_exited_container_is_removed_without_a_stop() {
    let fake = FakeRuntime::new();
    let project = shop();
    let old = fake.add_managed(&project, &project.services["db"], 1);
    fake.kill(&old, 137);
    let (_store, executor) = setup(&fake).await;
    let replace = Action::Replace {
        container: ContainerRef {
            id: old.clone(),
            name: "shop-db-1".into(),
        },
        service: "db".into(),
        number: 1,
        reason: Reason::Exited {
            code: Some(137),
            oom_killed: false,
        },
    };

    let report = executor
        .execute(&project, &plan(vec![replace]))
        .await
        .unwrap();

    let calls = fake.calls();
    assert_eq!(calls[0], Call::Remove { id: old });
    assert!(
        !calls.iter().any(|c| matches!(c, Call::Stop { .. })),
        "{calls:?}"
    );
    assert_eq!(report.writes, 3);
}

#[tokio::test(start_paused = true)]
async fn wait_for_returns_once_the_dependency_turns_healthy() {
    let fake = FakeRuntime::new();
    fake.set_default_health(Some(Health::Starting));
    let project = shop();
    let db = fake.add_managed(&project, &project.services["db"], 1);
    let (store, executor) = setup(&fake).await;
    let _reflector = reflect(&fake, &store);
    let started = tokio::time::Instant::now();

    let waiting =
        tokio::spawn(async move { executor.execute(&shop(), &plan(vec![wait_healthy()])).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiting.is_finished());
    fake.set_health(&db, Health::Healthy);

    let report = waiting.await.unwrap().unwrap();
    assert_eq!(report.done, [wait_healthy()]);
    assert_eq!(report.writes, 0);
    assert!(started.elapsed() < DEFAULT_WAIT_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn wait_for_times_out_when_the_dependency_never_turns_healthy() {
    let fake = FakeRuntime::new();
    fake.set_default_health(Some(Health::Starting));
    let project = shop();
    fake.add_managed(&project, &project.services["db"], 1);
    let (_store, executor) = setup(&fake).await;
    let executor = executor.with_wait_timeout(Duration::from_secs(30));
    let started = tokio::time::Instant::now();

    let result = executor
        .execute(&project, &plan(vec![wait_healthy()]))
        .await
        .map_err(Error::into_single);

    assert!(
        matches!(&result, Err(Error::DependencyTimeout { dependency, .. }) if dependency == "db"),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_exited_non_zero_fails_the_wait_at_once() {
    let fake = FakeRuntime::new();
    let project = shop();
    let db = fake.add_managed(&project, &project.services["db"], 1);
    fake.kill(&db, 1);
    let (_store, executor) = setup(&fake).await;
    let started = tokio::time::Instant::now();

    let result = executor
        .execute(&project, &plan(vec![wait_healthy()]))
        .await
        .map_err(Error::into_single);

    assert!(
        matches!(&result, Err(Error::DependencyFailed { exit_code: 1, .. })),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn a_failing_create_fails_its_service_and_names_the_action() {
    let fake = FakeRuntime::new();
    fake.add_image("postgres:16", "sha256:db");
    let (_store, executor) = setup(&fake).await;
    fake.fail_next(
        Op::CreateContainer,
        runtime::Error::Engine {
            operation: "create_container",
            message: "no space left on device".into(),
        },
    );

    let result = executor
        .execute(&shop(), &plan(vec![create("db", 1), create("db", 2)]))
        .await;

    let Err(Error::Services { failed, report }) = result else {
        panic!("expected a service failure, got {result:?}");
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].service, "db");
    let Error::Action { action, .. } = &failed[0].error else {
        panic!("expected an action error, got {:?}", failed[0].error);
    };
    assert_eq!(action, "create db #1 (replica missing)");
    assert_eq!(
        report.done,
        [create("db", 2)],
        "the other replica is independent"
    );
    assert!(report.skipped.is_empty());
}

#[tokio::test]
async fn a_container_outside_the_store_is_never_touched() {
    let fake = FakeRuntime::new();
    let stranger = fake.add_unmanaged("shop-web-1");
    let (_store, executor) = setup(&fake).await;
    let remove = Action::Remove {
        container: ContainerRef {
            id: stranger.clone(),
            name: "shop-web-1".into(),
        },
        reason: Reason::ServiceRemoved,
    };

    let report = executor
        .execute(&shop(), &plan(vec![remove]))
        .await
        .unwrap();

    assert_eq!(report.writes, 0);
    assert!(fake.calls().is_empty());
    assert_eq!(
        fake.container(&stranger).unwrap().state,
        ContainerState::Running
    );
}

#[tokio::test]
async fn a_removed_project_is_torn_down_and_its_unused_networks_pruned() {
    let fake = FakeRuntime::new();
    let project = shop();
    let labels = labels::resource_labels("shop", labels::NETWORK, "default", &BTreeMap::new());
    fake.ensure_network(&project.networks["default"], &labels)
        .await
        .unwrap();
    let web = fake.add_managed(&project, &project.services["web"], 1);
    let (store, executor) = setup(&fake).await;
    let gone = ProjectSpec {
        name: "shop".into(),
        ..ProjectSpec::default()
    };
    let remove = Action::Remove {
        container: ContainerRef {
            id: web.clone(),
            name: "shop-web-1".into(),
        },
        reason: Reason::ProjectRemoved,
    };

    let actions = vec![remove, Action::PruneNetworks];
    let report = executor.execute(&gone, &plan(actions)).await.unwrap();

    assert_eq!(report.writes, 3);
    assert!(fake.container(&web).is_none());
    assert!(store.container(&web).is_none());
    assert!(!fake.networks().contains_key("shop_default"));
    assert!(
        fake.volumes().contains_key("shop_data"),
        "volumes are never removed"
    );
}

#[tokio::test]
async fn a_prune_stops_before_its_next_action_once_it_is_no_longer_wanted() {
    let fake = FakeRuntime::new();
    let project = shop();
    let first = fake.add_managed(&project, &project.services["web"], 1);
    let second = fake.add_managed(&project, &project.services["web"], 2);
    let (_store, executor) = setup(&fake).await;
    let gone = ProjectSpec {
        name: "shop".into(),
        ..ProjectSpec::default()
    };
    let remove = |id: &str, number: u32| Action::Remove {
        container: ContainerRef {
            id: id.to_owned(),
            name: format!("shop-web-{number}"),
        },
        reason: Reason::ProjectRemoved,
    };
    let actions = vec![remove(&first, 1), remove(&second, 2), Action::PruneNetworks];
    let asked = std::cell::Cell::new(0);
    let still_wanted = || {
        asked.set(asked.get() + 1);
        asked.get() == 1
    };

    let report = executor
        .execute_while(&gone, &plan(actions), still_wanted)
        .await
        .unwrap();

    assert!(report.cancelled);
    assert_eq!(report.done.len(), 1);
    assert!(fake.container(&first).is_none());
    assert!(
        fake.container(&second).is_some(),
        "the project came back: kept"
    );
}

#[tokio::test]
async fn a_plan_for_another_project_is_refused() {
    let fake = FakeRuntime::new();
    let (_store, executor) = setup(&fake).await;
    let mut other = plan(vec![create("web", 1)]);
    other.project = "blog".into();

    let result = executor.execute(&shop(), &other).await;

    assert!(matches!(result, Err(Error::ProjectMismatch { .. })));
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn a_missing_image_of_a_service_with_build_says_composectl_does_not_build() {
    let fake = FakeRuntime::new();
    let mut project = shop();
    let web = project.services.get_mut("web").unwrap();
    web.image = "shop-web".into();
    web.build = Some(crate::model::spec::BuildSpec {
        context: "/srv/desired/shop/web".into(),
        ..Default::default()
    });
    let (_store, executor) = setup(&fake).await;

    let pull = Action::PullImage {
        image: "shop-web".into(),
    };
    let err = executor
        .execute(&project, &plan(vec![pull]))
        .await
        .unwrap_err()
        .into_single();

    let text = err.to_string();
    assert!(matches!(err, Error::NotBuilt { .. }), "{text}");
    assert!(text.contains("composectl does not build images"), "{text}");
    assert!(
        text.contains("docker build -t shop-web /srv/desired/shop/web"),
        "{text}"
    );
}

fn start_first(old: &str) -> Action {
    Action::ReplaceStartFirst {
        container: ContainerRef {
            id: old.into(),
            name: "shop-db-1".into(),
        },
        service: "db".into(),
        number: 1,
        reason: Reason::ConfigDrift {
            fields: vec!["environment".into()],
        },
    }
}

#[tokio::test]
async fn start_first_starts_the_new_container_before_stopping_the_old_one() {
    let fake = FakeRuntime::new();
    let project = shop();
    fake.add_image("postgres:16", "sha256:pg");
    let old = fake.add_managed(&project, &project.services["db"], 1);
    let (store, executor) = setup(&fake).await;

    executor
        .execute(&project, &plan(vec![start_first(&old)]))
        .await
        .unwrap();

    let calls = fake.calls();
    let temporary = format!("shop-db-1-next-{}", &old[..8]);
    let position = |wanted: &Call| calls.iter().position(|c| c == wanted).unwrap();
    let created = position(&Call::Create {
        name: temporary.clone(),
    });
    let stopped = position(&Call::Stop { id: old.clone() });
    let new = fake
        .container("shop-db-1")
        .expect("renamed to the replica's name");
    let renamed = position(&Call::Rename {
        id: new.id.clone(),
        name: "shop-db-1".into(),
    });
    assert!(created < stopped && stopped < renamed, "{calls:?}");
    assert!(store.container(&old).is_none());
    assert_eq!(store.container(&new.id).unwrap().name, "shop-db-1");
}

#[tokio::test]
async fn a_new_container_that_never_gets_healthy_is_removed_and_the_old_one_kept() {
    let fake = FakeRuntime::new();
    let project = shop();
    let old = fake.add_managed(&project, &project.services["db"], 1);
    let (store, executor) = setup(&fake).await;
    fake.set_default_health(Some(Health::Unhealthy));

    let err = executor
        .execute(&project, &plan(vec![start_first(&old)]))
        .await
        .unwrap_err()
        .into_single();

    assert!(
        matches!(&err, Error::StartFirstFailed { number: 1, why, .. } if why.contains("health check failed")),
        "{err}"
    );
    let running: Vec<String> = fake.containers().into_iter().map(|c| c.id).collect();
    assert_eq!(running, vec![old.clone()], "only the old container is left");
    assert!(!fake.calls().contains(&Call::Stop { id: old.clone() }));
    assert!(store.container(&old).is_some());
}

/// `shop` whose default network was created from `created`'s definition, with `web` #1 on
/// it; the store listed.
async fn on_a_labelled_network(
    fake: &FakeRuntime,
    created: &ProjectSpec,
) -> (Store, Executor<FakeRuntime>, String) {
    let labels = resources::network_labels(created, "default", &created.networks["default"]);
    fake.ensure_network(&created.networks["default"], &labels)
        .await
        .unwrap();
    let web = fake.add_managed(created, &created.services["web"], 1);
    let (store, executor) = setup(fake).await;
    (store, executor, web)
}

fn with_subnet(mut project: ProjectSpec, subnet: &str) -> ProjectSpec {
    use crate::model::spec::{Ipam, IpamPool};
    project.networks.get_mut("default").unwrap().ipam = Some(Ipam {
        config: vec![IpamPool {
            subnet: Some(subnet.into()),
            ..IpamPool::default()
        }],
        ..Ipam::default()
    });
    project
}

#[tokio::test]
async fn a_recreated_network_goes_after_its_containers_and_comes_back_with_its_new_definition() {
    let fake = FakeRuntime::new();
    let old = with_subnet(shop(), "10.1.0.0/24");
    let new = with_subnet(shop(), "10.2.0.0/24");
    let (store, executor, web) = on_a_labelled_network(&fake, &old).await;
    let recreate = Action::RecreateNetwork {
        key: "default".into(),
        fields: vec!["ipam".into()],
        detach: vec![ContainerRef {
            id: web.clone(),
            name: "shop-web-1".into(),
        }],
    };

    let report = executor
        .execute(&new, &plan(vec![recreate, create("web", 1)]))
        .await
        .unwrap();

    let writes: Vec<Call> = fake.calls().into_iter().filter(Call::is_write).collect();
    assert_eq!(
        writes[..4],
        [
            Call::Stop { id: web.clone() },
            Call::Remove { id: web.clone() },
            Call::RemoveNetwork {
                name: "shop_default".into()
            },
            Call::EnsureNetwork {
                name: "shop_default".into()
            },
        ]
    );
    assert!(report.writes >= 4);
    let new_identity = resources::network_labels(&new, "default", &new.networks["default"]);
    assert_eq!(
        fake.networks()["shop_default"][labels::FIELDS],
        new_identity[labels::FIELDS]
    );
    assert_eq!(
        store.snapshot().networks["shop_default"].labels[labels::FIELDS],
        new_identity[labels::FIELDS],
        "the next plan sees the new definition before any relist"
    );
    assert!(fake.container(&web).is_none());
    let back = fake.container("shop-web-1").expect("created anew");
    assert_eq!(back.networks, ["shop_default"]);
}

#[tokio::test]
async fn a_network_with_a_container_the_plan_does_not_replace_is_left_untouched() {
    let fake = FakeRuntime::new();
    let old = with_subnet(shop(), "10.1.0.0/24");
    let new = with_subnet(shop(), "10.2.0.0/24");
    let (_store, executor, web) = on_a_labelled_network(&fake, &old).await;
    let mut stranger = ServiceSpec::new("debug", "nginx:1.27");
    stranger.networks = BTreeMap::new();
    let stranger = fake
        .create_container(&crate::runtime::ContainerCreate {
            name: "debug-shell".into(),
            service: stranger,
            networks: BTreeMap::from([("shop_default".into(), ServiceNetwork::default())]),
            labels: BTreeMap::new(),
        })
        .await
        .unwrap();
    fake.clear_calls();
    let recreate = Action::RecreateNetwork {
        key: "default".into(),
        fields: vec!["ipam".into()],
        detach: vec![ContainerRef {
            id: web.clone(),
            name: "shop-web-1".into(),
        }],
    };

    let err = executor
        .execute(&new, &plan(vec![recreate]))
        .await
        .unwrap_err();

    let text = err.to_string();
    assert!(
        text.contains(
            "network shop_default has containers attached that this plan does not replace"
        ) && text.contains(&stranger[..12]),
        "{text}"
    );
    assert!(
        fake.calls().iter().all(|c| !c.is_write()),
        "{:?}",
        fake.calls()
    );
    assert!(fake.container(&web).is_some());
}

#[tokio::test]
async fn ensured_networks_and_volumes_carry_their_definition_and_the_store_sees_it() {
    let fake = FakeRuntime::new();
    let (store, executor) = setup(&fake).await;
    let project = with_subnet(shop(), "10.3.0.0/24");
    let actions = vec![
        Action::EnsureNetwork {
            key: "default".into(),
        },
        Action::EnsureVolume { key: "data".into() },
    ];
    executor.execute(&project, &plan(actions)).await.unwrap();
    let state = store.snapshot();
    for (labels_on_engine, seen) in [
        (
            &fake.networks()["shop_default"],
            &state.networks["shop_default"],
        ),
        (&fake.volumes()["shop_data"], &state.volumes["shop_data"]),
    ] {
        assert!(labels_on_engine.contains_key(labels::CONFIG_HASH));
        assert_eq!(
            labels_on_engine[labels::FIELDS],
            seen.labels[labels::FIELDS]
        );
        assert_eq!(seen.project, "shop");
    }
}

#[tokio::test]
async fn a_never_pulled_missing_image_fails_naming_the_policy_without_a_create() {
    let fake = FakeRuntime::new();
    let (store, executor) = setup(&fake).await;
    let mut project = shop();
    let web = project.services.get_mut("web").unwrap();
    web.pull_policy = crate::model::resources::PullPolicy::Never;
    let err = executor
        .execute(&project, &plan(vec![create("web", 1)]))
        .await
        .expect_err("the image is missing");
    let text = err.to_string();
    assert!(text.contains("pull_policy: never"), "{text}");
    assert!(text.contains("nginx:1.27"), "{text}");
    assert!(
        fake.calls()
            .iter()
            .all(|c| !matches!(c, Call::Create { .. }))
    );
    assert!(store.pull_ages().is_empty());
}

#[tokio::test]
async fn a_pull_is_recorded_for_the_refreshing_policies() {
    let fake = FakeRuntime::new();
    fake.add_registry_image("nginx:1.27", "sha256:web");
    let (store, executor) = setup(&fake).await;
    let pull = Action::PullImage {
        image: "nginx:1.27".into(),
    };
    executor.execute(&shop(), &plan(vec![pull])).await.unwrap();
    let ages = store.pull_ages();
    assert!(ages["nginx:1.27"] < Duration::from_secs(60), "{ages:?}");
}
