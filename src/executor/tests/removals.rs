//! Executor tests of removals and of what it never touches: a removed project torn down
//! with its unused networks, a prune that stops once no longer wanted, a container outside
//! the store, a plan for another project.

use std::collections::BTreeMap;

use super::{create, plan, setup, shop};
use crate::executor::*;
use crate::model::{ContainerState, labels};
use crate::plan::{ContainerRef, Reason};
use crate::runtime::fake::FakeRuntime;

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
