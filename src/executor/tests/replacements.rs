//! Executor tests of replacements: stop-first (stop, remove, create under the same name; an
//! exited container removed without a stop) and start-first (the new container started
//! before the old one stops, or removed and the old one kept when it never gets healthy).

use super::{plan, setup, shop};
use crate::executor::*;
use crate::model::Health;
use crate::plan::{ContainerRef, Reason};
use crate::runtime::fake::{Call, FakeRuntime};

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
