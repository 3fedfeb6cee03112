//! Tests of the fake engine itself: it must behave like Docker where the layers above rely
//! on it, or every test built on it proves nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};

use super::*;
use crate::model::spec::{Healthcheck, MountKind, MountSpec, ServiceSpec};
use crate::model::{ContainerState, labels};

fn request(name: &str, image: &str) -> ContainerCreate {
    let mut service = ServiceSpec::new("web", image);
    service.mounts.push(MountSpec {
        kind: MountKind::Volume {
            name: "shop_data".into(),
            key: "data".into(),
        },
        target: "/data".into(),
        read_only: false,
        options: Default::default(),
    });
    let labels = BTreeMap::from([
        (labels::MANAGED.to_owned(), "true".to_owned()),
        (labels::PROJECT.to_owned(), "shop".to_owned()),
        (labels::SERVICE.to_owned(), "web".to_owned()),
        (labels::NUMBER.to_owned(), "2".to_owned()),
        (labels::CONFIG_HASH.to_owned(), "abc".to_owned()),
    ]);
    ContainerCreate {
        name: name.into(),
        service,
        networks: BTreeMap::from([("bridge".to_owned(), Default::default())]),
        labels,
    }
}

fn with_healthcheck(mut request: ContainerCreate, test: &str) -> ContainerCreate {
    request.service.healthcheck = Some(Healthcheck {
        test: vec![test.into()],
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
    });
    request
}

fn actions(events: &[Result<RuntimeEvent>]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Ok(RuntimeEvent::Container { action, .. }) => action.clone(),
            Ok(RuntimeEvent::Image { action }) => format!("image {action}"),
            Ok(RuntimeEvent::Resource { kind, action }) => format!("{kind} {action}"),
            Err(e) => format!("error {e}"),
        })
        .collect()
}

/// Every event already sent on `stream`, without waiting for more.
async fn drain(stream: &mut BoxStream<'static, Result<RuntimeEvent>>) -> Vec<Result<RuntimeEvent>> {
    let mut out = Vec::new();
    while let Some(Some(item)) = stream.next().now_or_never() {
        out.push(item);
    }
    out
}

#[tokio::test]
async fn lifecycle_calls_emit_docker_events() {
    let fake = FakeRuntime::new();
    fake.add_image("nginx", "sha256:1");
    let mut events = fake.events();
    let id = fake
        .create_container(&request("shop-web-2", "nginx"))
        .await
        .unwrap();
    fake.start_container(&id).await.unwrap();
    fake.kill(&id, 137);
    fake.start_container(&id).await.unwrap();
    fake.stop_container(&id, Duration::from_secs(1))
        .await
        .unwrap();
    fake.remove_container(&id).await.unwrap();
    fake.add_image("redis", "sha256:2");

    let got = actions(&drain(&mut events).await);
    assert_eq!(
        got,
        [
            "create",
            "start",
            "die",
            "start",
            "die",
            "destroy",
            "image tag"
        ]
    );
}

#[tokio::test]
async fn created_container_reflects_its_request() {
    let fake = FakeRuntime::new();
    fake.add_image("docker.io/library/nginx:latest", "sha256:1");
    let id = fake
        .create_container(&request("shop-web-2", "nginx"))
        .await
        .unwrap();

    let c = fake.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!(c.name, "shop-web-2");
    assert_eq!(
        (c.project.as_str(), c.service.as_str(), c.number),
        ("shop", "web", 2)
    );
    assert_eq!(c.config_hash, "abc");
    assert_eq!(c.image_id, "sha256:1");
    assert_eq!(c.state, ContainerState::Created);
    assert_eq!(c.networks, ["bridge"]);
    assert_eq!(c.volumes, ["shop_data"]);
    assert!(fake.volumes().contains_key("shop_data"));
}

#[tokio::test]
async fn create_fails_when_the_name_is_taken_by_an_unmanaged_container() {
    let fake = FakeRuntime::new();
    fake.add_image("nginx", "sha256:1");
    fake.add_unmanaged("shop-web-2");

    let err = fake.create_container(&request("shop-web-2", "nginx")).await;

    assert!(matches!(err, Err(Error::Conflict { .. })), "{err:?}");
    assert!(fake.list_containers().await.unwrap().is_empty());
}

#[tokio::test]
async fn create_fails_when_the_image_or_a_network_is_missing() {
    let fake = FakeRuntime::new();
    let missing_image = fake.create_container(&request("a", "nginx")).await;
    assert!(matches!(missing_image, Err(Error::NotFound { .. })));

    fake.add_image("nginx", "sha256:1");
    let mut req = request("b", "nginx");
    req.networks = BTreeMap::from([("shop_default".to_owned(), Default::default())]);
    let missing_network = fake.create_container(&req).await;
    assert!(matches!(missing_network, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn health_at_start_follows_the_healthcheck() {
    let fake = FakeRuntime::new();
    fake.add_image("nginx", "sha256:1");
    let cases = [
        (request("plain", "nginx"), None),
        (
            with_healthcheck(request("checked", "nginx"), "CMD"),
            Some(Health::Healthy),
        ),
        (with_healthcheck(request("disabled", "nginx"), "NONE"), None),
    ];
    for (req, expected) in cases {
        let id = fake.create_container(&req).await.unwrap();
        fake.start_container(&id).await.unwrap();
        let c = fake.container(&id).unwrap();
        assert_eq!(c.state, ContainerState::Running, "{}", req.name);
        assert_eq!(c.health, expected, "{}", req.name);
    }

    fake.set_default_health(Some(Health::Starting));
    let id = fake
        .create_container(&with_healthcheck(request("slow", "nginx"), "CMD"))
        .await
        .unwrap();
    fake.start_container(&id).await.unwrap();
    assert_eq!(fake.container(&id).unwrap().health, Some(Health::Starting));
}

#[tokio::test]
async fn unmanaged_containers_are_invisible_to_reads() {
    let fake = FakeRuntime::new();
    let id = fake.add_unmanaged("portainer");
    assert!(fake.list_containers().await.unwrap().is_empty());
    assert_eq!(fake.inspect_container(&id).await.unwrap(), None);
}

#[tokio::test]
async fn pull_needs_a_registry_image_and_emits_an_event() {
    let fake = FakeRuntime::new();
    let mut events = fake.events();
    assert!(matches!(
        fake.pull_image("app:v2", None).await,
        Err(Error::NotFound { .. })
    ));
    fake.add_registry_image("app:v2", "sha256:9");
    fake.pull_image("docker.io/library/app:v2", None)
        .await
        .unwrap();

    assert_eq!(fake.list_images().await.unwrap().tags["app:v2"], "sha256:9");
    assert_eq!(actions(&drain(&mut events).await), ["image pull"]);
}

#[tokio::test]
async fn injected_failures_hit_the_next_call_of_that_operation_only() {
    let fake = FakeRuntime::new();
    let boom = Error::Engine {
        operation: "list_images",
        message: "boom".into(),
    };
    fake.fail_next(Op::ListImages, boom);
    assert!(fake.list_containers().await.is_ok());
    assert!(fake.list_images().await.is_err());
    assert!(fake.list_images().await.is_ok());
    assert_eq!(fake.call_counts().reads["list_images"], 2);
}

#[tokio::test]
async fn an_injected_panic_hits_the_next_call_of_that_operation_only() {
    let fake = FakeRuntime::new();
    fake.add_image("nginx", "sha256:1");
    fake.panic_next(Op::CreateContainer);
    assert!(fake.list_containers().await.is_ok());
    let x = request("x", "nginx");
    let create = std::panic::AssertUnwindSafe(fake.create_container(&x));
    let panicked = create.catch_unwind().await;
    assert!(panicked.is_err(), "the create panicked");
    let id = fake.create_container(&request("x", "nginx")).await.unwrap();
    assert!(
        fake.container(&id).is_some(),
        "the fake works on after the panic"
    );
    assert_eq!(fake.call_counts().writes["create_container"], 2);
}

#[tokio::test]
async fn disconnect_ends_open_streams_with_an_error() {
    let fake = FakeRuntime::new();
    let mut events = fake.events();
    fake.disconnect_events();
    let got = drain(&mut events).await;
    assert!(matches!(got.as_slice(), [Err(Error::Unavailable { .. })]));
    assert!(events.next().await.is_none());
    assert_eq!(fake.subscribers(), 0);
}

#[tokio::test]
async fn calls_are_recorded_and_counted_as_reads_and_writes() {
    let fake = FakeRuntime::new();
    fake.add_image("nginx", "sha256:1");
    let id = fake.create_container(&request("x", "nginx")).await.unwrap();
    fake.start_container(&id).await.unwrap();
    fake.list_containers().await.unwrap();

    let calls = fake.calls();
    assert_eq!(
        calls,
        [
            Call::Create { name: "x".into() },
            Call::Start { id: id.clone() },
            Call::ListContainers
        ]
    );
    let counts = fake.call_counts();
    assert_eq!((counts.total_writes(), counts.total_reads()), (2, 1));
}

#[tokio::test]
async fn networks_in_use_cannot_be_removed_and_only_managed_ones_are_listed() {
    let fake = FakeRuntime::new();
    fake.add_image("nginx", "sha256:1");
    let spec = NetworkSpec {
        name: "shop_default".into(),
        ..NetworkSpec::default()
    };
    let net_labels = labels::resource_labels("shop", labels::NETWORK, "default", &BTreeMap::new());
    fake.ensure_network(&spec, &net_labels).await.unwrap();
    let mut req = request("x", "nginx");
    req.networks = BTreeMap::from([("shop_default".to_owned(), Default::default())]);
    let id = fake.create_container(&req).await.unwrap();

    let listed = fake.list_managed_networks(Some("shop")).await.unwrap();
    assert_eq!(
        listed,
        [ManagedNetwork {
            name: "shop_default".into(),
            labels: net_labels.clone(),
            containers: vec![id.clone()],
        }]
    );
    assert_eq!(fake.list_managed_networks(None).await.unwrap(), listed);
    assert!(
        fake.list_managed_networks(Some("other"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(fake.remove_network("shop_default").await.is_err());
    fake.remove_container(&id).await.unwrap();
    fake.remove_network("shop_default").await.unwrap();
    assert!(!fake.networks().contains_key("shop_default"));
}

#[tokio::test]
async fn a_build_is_recorded_tags_a_new_image_each_time_and_is_listed_with_its_hash() {
    let rt = FakeRuntime::new();
    let build = |hash: &str| crate::runtime::ImageBuild {
        tag: "shop-web".into(),
        dockerfile: "Dockerfile".into(),
        archive: Default::default(),
        settings: crate::model::spec::BuildSpec {
            tags: vec!["shop-web:extra".into()],
            ..Default::default()
        },
        labels: BTreeMap::from([(labels::BUILD_HASH.to_owned(), hash.to_owned())]),
        timeout: Duration::from_secs(60),
    };
    let first = rt.build_image(&build("h1")).await.unwrap();
    let second = rt.build_image(&build("h2")).await.unwrap();
    assert_ne!(first, second, "a rebuild is a new image");
    let images = rt.list_images().await.unwrap().tags;
    assert_eq!(images["shop-web:latest"], second);
    assert_eq!(images["shop-web:extra"], second);
    let built = rt.list_built_images().await.unwrap();
    let hashes: Vec<&str> = built
        .iter()
        .map(|b| b.labels[labels::BUILD_HASH].as_str())
        .collect();
    assert_eq!(hashes.len(), 2);
    assert!(hashes.contains(&"h1") && hashes.contains(&"h2"));
    assert!(rt.calls().contains(&Call::Build {
        tag: "shop-web".into(),
        hash: Some("h2".into()),
    }));

    rt.fail_next(
        Op::BuildImage,
        crate::runtime::BuildFailure {
            image: "shop-web".into(),
            step: Some("Step 2/2 : RUN false".into()),
            message: "exit 1".into(),
            output: Vec::new(),
        }
        .into(),
    );
    let err = rt.build_image(&build("h3")).await.unwrap_err();
    assert!(err.to_string().contains("Step 2/2 : RUN false"), "{err}");
}
