//! The host policy in the loop, on the fake engine: an escalation is held like a failing
//! load (nothing changes, `/status` and the metrics say so), and an approval in the state
//! directory lets it through at the next reload.

use std::time::Duration;

use super::backoff::CrashPolicy;
use super::tests::Running;
use crate::model::ContainerState;
use crate::policy::{Grant, Record, RecordedBy};
use crate::state::StateDir;

const PLAIN: &str = "services:\n  web:\n    image: app:v1\n";
const ESCALATED: &str = "services:\n  web:\n    image: app:v1\n    privileged: true\n";

#[tokio::test(start_paused = true)]
async fn an_escalation_is_held_until_its_privileges_are_recorded_as_approved() {
    let run = Running::start(PLAIN, CrashPolicy::default()).await;
    run.until("one replica", |r| r.running().len() == 1).await;
    let before = run.fake.containers()[0].id.clone();
    let state = StateDir::new(run.state.path(), "default");
    let pinned = state
        .load_privileges("shop")
        .unwrap()
        .expect("pinned at first sight");
    assert!(pinned.privileges.is_empty());

    run.write(ESCALATED);
    run.until("the project held", |r| {
        crate::status::current(&r.telemetry).is_some_and(|s| {
            s.projects
                .iter()
                .any(|p| p.name == "shop" && !p.held_privileges.is_empty())
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let containers = run.fake.containers();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].id, before, "a held project changes nothing");
    let status = crate::status::current(&run.telemetry).unwrap();
    let shop = status.projects.iter().find(|p| p.name == "shop").unwrap();
    assert!(!shop.valid);
    assert_eq!(shop.held_privileges[0].privilege, "privileged");
    assert_eq!(
        shop.held_privileges[0].origins[0].key,
        "services.web.privileged"
    );
    let error = shop.load_error.as_deref().unwrap();
    assert!(error.contains("composectl policy approve shop"), "{error}");
    let text = run.telemetry.encode();
    assert!(
        text.contains(r#"composectl_desired_valid{project="shop"} 0"#),
        "{text}"
    );

    let approval = Record {
        recorded_by: RecordedBy::Approval,
        recorded_at: 0,
        privileges: vec![Grant::Privileged],
    };
    state.save_privileges("shop", &approval).unwrap();
    run.until("the approved revision running", |r| {
        let containers = r.fake.containers();
        containers.len() == 1
            && containers[0].id != before
            && containers[0].state == ContainerState::Running
    })
    .await;
    let status = crate::status::current(&run.telemetry).unwrap();
    let shop = status.projects.iter().find(|p| p.name == "shop").unwrap();
    assert!(shop.valid && shop.held_privileges.is_empty());
    assert_eq!(shop.privileges[0].privilege, "privileged");
    run.stop().await;
}
