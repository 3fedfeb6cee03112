//! The executor's handling of references against the fake engine: a create records the
//! container it joined, an optional dependency that fails only warns.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::executor::{Error, Executor};
use crate::model::labels;
use crate::model::refs::NetworkMode;
use crate::model::spec::{DependsOn, ProjectSpec, ServiceSpec};
use crate::observed::{Store, relist};
use crate::plan::{Action, Plan, Reason};
use crate::runtime::fake::FakeRuntime;

/// `vpn`, and `app` in its network namespace depending on it.
fn project(optional: bool) -> ProjectSpec {
    let vpn = ServiceSpec::new("vpn", "vpn:1");
    let mut app = ServiceSpec::new("app", "app:1");
    app.network_mode = Some(NetworkMode::Service("vpn".into()));
    app.depends_on.insert("vpn".into(), DependsOn::Started);
    app.restart_with.insert("vpn".into());
    if optional {
        app.optional_dependencies.insert("vpn".into());
    }
    ProjectSpec {
        name: "shop".into(),
        services: BTreeMap::from([("vpn".into(), vpn), ("app".into(), app)]),
        ..ProjectSpec::default()
    }
}

fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        project: "shop".into(),
        actions,
        ..Plan::default()
    }
}

fn create_app() -> Action {
    Action::Create {
        service: "app".into(),
        number: 1,
        reason: Reason::Missing,
    }
}

fn wait_vpn() -> Action {
    Action::WaitFor {
        service: "app".into(),
        dependency: "vpn".into(),
        condition: DependsOn::Started,
    }
}

async fn executor(fake: &FakeRuntime) -> Executor<FakeRuntime> {
    let store = Store::new();
    relist(fake, &store).await.unwrap();
    Executor::new(Arc::new(fake.clone()), store)
}

#[tokio::test]
async fn a_create_records_the_container_whose_namespace_it_joins() {
    let fake = FakeRuntime::new();
    let p = project(false);
    fake.add_image("app:1", "sha256:app");
    let vpn = fake.add_managed(&p, &p.services["vpn"], 1);
    let executor = executor(&fake).await;
    executor
        .execute(&p, &plan(vec![create_app()]))
        .await
        .unwrap();
    let app = fake.container("shop-app-1").expect("created");
    assert_eq!(
        app.labels[labels::REFERENCES],
        format!("network:vpn={vpn},restart:vpn={vpn}")
    );
}

#[tokio::test]
async fn a_create_records_the_container_whose_ipc_and_pid_namespaces_it_joins() {
    let fake = FakeRuntime::new();
    let mut p = project(false);
    let app = p.services.get_mut("app").unwrap();
    app.network_mode = None;
    app.ipc = Some("service:vpn".into());
    app.pid = Some("service:vpn".into());
    fake.add_image("app:1", "sha256:app");
    let vpn = fake.add_managed(&p, &p.services["vpn"], 1);
    let executor = executor(&fake).await;
    executor
        .execute(&p, &plan(vec![create_app()]))
        .await
        .unwrap();
    let app = fake.container("shop-app-1").expect("created");
    assert_eq!(
        app.labels[labels::REFERENCES],
        format!("ipc:vpn={vpn},pid:vpn={vpn},restart:vpn={vpn}")
    );
}

#[tokio::test]
async fn a_create_without_the_referenced_container_fails_naming_the_key() {
    let fake = FakeRuntime::new();
    fake.add_image("app:1", "sha256:app");
    let executor = executor(&fake).await;
    let result = executor
        .execute(&project(false), &plan(vec![create_app()]))
        .await
        .map_err(Error::into_single);
    let Err(e @ Error::Reference { .. }) = result else {
        panic!("{result:?}")
    };
    assert!(
        e.to_string()
            .contains("`network_mode` refers to service vpn"),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_optional_dependency_only_warns() {
    for optional in [false, true] {
        let fake = FakeRuntime::new();
        let p = project(optional);
        let vpn = fake.add_managed(&p, &p.services["vpn"], 1);
        fake.kill(&vpn, 1);
        let executor = executor(&fake).await;
        let result = executor.execute(&p, &plan(vec![wait_vpn()])).await;
        assert_eq!(result.is_ok(), optional, "{result:?}");
    }
}
