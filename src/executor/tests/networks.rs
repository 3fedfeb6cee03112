//! Executor tests of networks and volumes: a recreated network goes after its containers
//! and comes back with its new definition, one with a container the plan does not replace
//! is left untouched, ensured networks and volumes carry their definition.

use std::collections::BTreeMap;

use super::{create, plan, setup, shop};
use crate::executor::*;
use crate::model::labels;
use crate::model::spec::{ServiceNetwork, ServiceSpec};
use crate::plan::ContainerRef;
use crate::runtime::fake::{Call, FakeRuntime};

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
