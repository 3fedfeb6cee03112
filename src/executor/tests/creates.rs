//! Executor tests of creates and pulls: labelled containers the store sees at once, a
//! failing create naming its action, and missing images by `build:` and `pull_policy`.

use std::time::Duration;

use super::{create, plan, setup, shop};
use crate::executor::*;
use crate::model::{ContainerState, labels};
use crate::runtime::fake::{Call, FakeRuntime, Op};

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
