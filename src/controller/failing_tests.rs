//! Per-service error backoff in the loop (fake engine, tokio's paused clock): a service
//! whose image cannot be pulled is tried again after its own growing delay, not at every
//! resync, while the project's other service is healed at once; `/status` and the
//! metrics name the failing service until it recovers.

use std::time::Duration;

use tokio::time::Instant;

use super::backoff::CrashPolicy;
use super::tests::Running;
use crate::model::ContainerState;
use crate::runtime::fake::Call;
use crate::status::{self, ServiceStatus};

const COMPOSE: &str = "services:\n  web:\n    image: app:v1\n  api:\n    image: api:v2\n";

fn pulls_of_api(run: &Running) -> usize {
    run.fake
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Pull { reference } if reference == "api:v2"))
        .count()
}

fn service(run: &Running, name: &str) -> ServiceStatus {
    let doc = status::current(&run.telemetry).expect("the controller is attached");
    let shop = doc
        .projects
        .iter()
        .find(|p| p.name == "shop")
        .expect("shop");
    shop.services
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .expect("the service")
}

#[tokio::test(start_paused = true)]
async fn a_failing_service_waits_out_its_own_backoff_while_the_others_heal_at_once() {
    let run = Running::start(COMPOSE, CrashPolicy::default()).await;
    run.until("web running", |r| r.running() == ["shop-web-1"])
        .await;
    run.until("api tried", |r| pulls_of_api(r) >= 1).await;

    // The resync runs every 300 ms; in 8 s the failing pull is tried again after 1, 2
    // and 4 s, not 26 times.
    let started = Instant::now();
    let before = pulls_of_api(&run);
    let web = run.fake.containers()[0].id.clone();
    run.fake.kill(&web, 137);
    run.until("web started again in place", |r| {
        r.fake
            .container(&web)
            .is_some_and(|c| c.state == ContainerState::Running)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "the healthy service is healed at once: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(8) - started.elapsed()).await;
    let retries = pulls_of_api(&run) - before;
    assert!((2..=4).contains(&retries), "{retries} retries in 8 s");

    // The reconciles that healed web held api: the project's last error stays api's.
    let (_, projects) = run.telemetry.snapshot().expect("attached");
    let last_error = projects["shop"].last_error.clone().unwrap_or_default();
    assert!(
        last_error.starts_with("service api: ") && last_error.contains("pull image api:v2"),
        "{last_error}"
    );
    let api = service(&run, "api");
    let failure = api.failure.expect("api is failing");
    assert!(
        failure.error.contains("pull image api:v2"),
        "{}",
        failure.error
    );
    assert!(failure.failures >= 3, "{failure:?}");
    assert!(service(&run, "web").failure.is_none());
    let metric = r#"composectl_service_failing{project="shop",service="api"} "#;
    let text = run.telemetry.encode();
    assert!(text.contains(metric), "{text}");
    assert!(
        text.contains(r#"composectl_service_failing{project="shop",service="web"} 0"#),
        "{text}"
    );

    // The image appears in the registry: the next try succeeds and the failure is gone.
    run.fake.add_registry_image("api:v2", "sha256:bbbb");
    run.until("api running", |r| {
        r.running() == ["shop-api-1", "shop-web-1"]
    })
    .await;
    run.until("the failure forgotten", |r| {
        service(r, "api").failure.is_none()
    })
    .await;
    run.until("the project's error cleared", |r| {
        let (_, projects) = r.telemetry.snapshot().expect("attached");
        projects["shop"].last_error.is_none()
    })
    .await;
    run.stop().await;
}
