//! Rollouts through the whole loop on the fake engine and tokio's paused clock (the
//! controller and the fake share one wall clock that follows it): the driver, the
//! planner's pins, the executor, the control socket's intents and the state directory
//! together.

use std::time::Duration;

use super::backoff::CrashPolicy;
use super::tests::Running;
use crate::clock::WallClock;
use crate::control::{Request, Response, Selector};
use crate::model::{ContainerState, Health};
use crate::rollout::record::{History, Hold, Phase, RolloutRecord};
use crate::runtime::fake::Call;

/// Where the shared wall clock starts.
const T0: i64 = 1_800_000_000_000;

/// The loop on `contents`, on the paused clock.
async fn start(contents: &str, crash: CrashPolicy) -> Running {
    let clock = WallClock::following_tokio(T0);
    Running::start_with_clock(contents, crash, Duration::from_millis(300), clock).await
}

/// Sends the request `verb` makes for `shop/web` to the control handler; its answer.
async fn control(run: &Running, verb: fn(Selector) -> Request) -> Response {
    run.control.handle(verb(Selector::parse("shop/web"))).await
}

fn canary(image: &str, mode: &str) -> String {
    format!(
        "services:\n  web:\n    image: {image}\n    healthcheck:\n      test: [CMD, check]\n    environment:\n      MODE: {mode}\n    deploy:\n      replicas: 3\n    x-rollout:\n      strategy: canary\n      steps: [1, 100%]\n      monitor: 300ms\n"
    )
}

fn record(run: &Running) -> Option<RolloutRecord> {
    let path = run.state.path().join("default/shop/web/rollout.json");
    let bytes = std::fs::read(path).ok()?;
    Some(serde_json::from_slice(&bytes).unwrap())
}

fn history(run: &Running) -> History {
    let path = run.state.path().join("default/shop/web/history.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn images(run: &Running) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = run
        .fake
        .containers()
        .into_iter()
        .filter(|c| c.state == ContainerState::Running)
        .map(|c| (c.name, c.image_id))
        .collect();
    all.sort();
    all
}

fn phase(run: &Running) -> Option<Phase> {
    record(run).map(|r| r.phase)
}

#[tokio::test(start_paused = true)]
async fn a_canary_moves_one_replica_first_then_the_rest_and_tags_previous() {
    let run = start(&canary("app:v1", "a"), CrashPolicy::default()).await;
    run.until("three replicas", |r| r.running().len() == 3)
        .await;
    assert_eq!(record(&run), None, "a first deploy is not a rollout");
    run.fake.add_image("app:v2", "sha256:bbbb");
    run.fake.clear_calls();
    run.write(&canary("app:v2", "a"));
    run.until("the rollout completes", |r| {
        phase(r) == Some(Phase::Complete)
    })
    .await;
    let calls = run.fake.calls();
    let tagged = calls.iter().position(|c| {
        matches!(c, Call::Tag { image, reference } if image == "sha256:aaaa" && reference == "app:previous")
    });
    let creates: Vec<&str> = calls
        .iter()
        .filter_map(|c| match c {
            Call::Create { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        creates,
        vec!["shop-web-1", "shop-web-2", "shop-web-3"],
        "{calls:?}"
    );
    let first_create = calls.iter().position(|c| matches!(c, Call::Create { .. }));
    assert!(tagged.is_some() && tagged < first_create, "{calls:?}");
    assert!(
        images(&run).iter().all(|(_, id)| id == "sha256:bbbb"),
        "{:?}",
        images(&run)
    );
    let history = history(&run);
    assert_eq!(history.entries.len(), 2);
    assert_eq!(history.entries[0].image, "app:v1");
    assert_eq!(history.entries[1].image, "app:v2");
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_canary_goes_back_to_previous_and_is_not_retried() {
    // The reverted replica may come up while the fake still reports every new container
    // unhealthy; a short crash backoff lets it be replaced quickly once health returns.
    let quick = CrashPolicy {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(200),
        reset_after: Duration::from_secs(60),
    };
    let run = start(&canary("app:v1", "a"), quick).await;
    run.fake.set_default_health(Some(Health::Healthy));
    run.until("three replicas", |r| r.running().len() == 3)
        .await;
    run.fake.set_default_health(Some(Health::Unhealthy));
    run.write(&canary("app:v1", "broken"));
    run.until("the rollout rolls back", |r| {
        phase(r) == Some(Phase::RolledBack)
    })
    .await;
    run.fake.set_default_health(Some(Health::Healthy));
    run.until("replica 1 healthy again on the old revision", |r| {
        r.fake
            .containers()
            .iter()
            .any(|c| c.name == "shop-web-1" && c.health == Some(Health::Healthy))
    })
    .await;
    let failed = record(&run).unwrap();
    assert!(failed.reason.unwrap().contains("replica 1 failed"));
    assert!(history(&run).entries[1].failed_at.is_some());
    // Held: the failed revision is not tried again while the desired state is unchanged
    // (the clock moves well past the window and several resyncs).
    run.fake.clear_calls();
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(run.creates(), 0, "{:?}", run.fake.calls());
    assert!(
        run.fake.calls().iter().all(|c| !c.is_write()),
        "{:?}",
        run.fake.calls()
    );
    // A new desired revision ends the hold.
    run.write(&canary("app:v1", "fixed"));
    run.until("the next rollout completes", |r| {
        record(r).is_some_and(|rec| rec.phase == Phase::Complete && rec.target_revision == 3)
    })
    .await;
    run.stop().await;
}

/// Two replicas per step, each step waiting for `rollout promote`.
fn manual_canary(image: &str) -> String {
    canary(image, "a")
        .replace("steps: [1, 100%]", "steps: [2, 100%]")
        .replace("monitor: 300ms", "monitor: 100ms\n      promotion: manual")
}

#[tokio::test(start_paused = true)]
async fn a_new_revision_mid_rollout_moves_the_canary_on_and_leaves_the_rest_alone() {
    let run = start(&manual_canary("app:v1"), CrashPolicy::default()).await;
    run.until("three replicas", |r| r.running().len() == 3)
        .await;
    run.fake.add_image("app:v2", "sha256:bbbb");
    run.fake.add_image("app:v3", "sha256:cccc");
    run.write(&manual_canary("app:v2"));
    run.until("the canary waits for promotion", |r| {
        phase(r) == Some(Phase::AwaitingPromotion)
    })
    .await;
    run.fake.clear_calls();
    run.write(&manual_canary("app:v3"));
    run.until("the v3 canary waits for promotion", |r| {
        record(r)
            .is_some_and(|rec| rec.phase == Phase::AwaitingPromotion && rec.target_revision == 3)
    })
    .await;
    let creates: Vec<String> = run
        .fake
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Create { name } => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(
        creates,
        vec!["shop-web-1", "shop-web-2"],
        "both canaries moved from v2 to v3 directly, one at a time, none back to v1 first"
    );
    let by_name = images(&run);
    assert_eq!(
        by_name,
        vec![
            ("shop-web-1".to_owned(), "sha256:cccc".to_owned()),
            ("shop-web-2".to_owned(), "sha256:cccc".to_owned()),
            ("shop-web-3".to_owned(), "sha256:aaaa".to_owned()),
        ]
    );
    let record = record(&run).unwrap();
    assert_eq!(
        record.previous_revision, 1,
        "rollbacks still go to the stable v1"
    );
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_revision_superseded_mid_canary_rolls_out_again_when_desired_again() {
    let slow = |image: &str| canary(image, "a").replace("monitor: 300ms", "monitor: 30s");
    let run = start(&slow("app:v1"), CrashPolicy::default()).await;
    run.until("three replicas", |r| r.running().len() == 3)
        .await;
    run.fake.add_image("app:v2", "sha256:bbbb");
    run.write(&slow("app:v2"));
    run.until("v2's canary in its window", |r| {
        record(r).is_some_and(|rec| rec.state.window_started.is_some())
    })
    .await;
    run.write(&slow("app:v1"));
    run.until("every replica back on v1", |r| {
        images(r).iter().all(|(_, id)| id == "sha256:aaaa") && images(r).len() == 3
    })
    .await;
    assert_eq!(phase(&run), Some(Phase::Superseded));
    run.write(&slow("app:v2"));
    run.until("v2's canary again", |r| {
        record(r).is_some_and(|rec| rec.phase == Phase::Progressing && rec.target_revision == 2)
            && images(r)
                .iter()
                .filter(|(_, id)| id == "sha256:bbbb")
                .count()
                == 1
    })
    .await;
    run.write(&slow("app:v1"));
    run.until("every replica back on v1 again", |r| {
        images(r).iter().all(|(_, id)| id == "sha256:aaaa") && images(r).len() == 3
    })
    .await;
    assert_eq!(phase(&run), Some(Phase::Superseded));
    assert!(history(&run).entries.iter().all(|e| e.failed_at.is_none()));
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn control_commands_are_applied_by_the_driver_and_answered_once_applied() {
    let run = start(&manual_canary("app:v1"), CrashPolicy::default()).await;
    run.until("three replicas", |r| r.running().len() == 3)
        .await;
    let refused = control(&run, |selector| Request::Pause { selector }).await;
    assert!(
        matches!(&refused, Response::Error { message } if message.contains("shop/web: no rollout in progress")),
        "{refused:?}"
    );
    run.fake.add_image("app:v2", "sha256:bbbb");
    run.write(&manual_canary("app:v2"));
    run.until("the canary waits for promotion", |r| {
        phase(r) == Some(Phase::AwaitingPromotion)
    })
    .await;
    let paused = control(&run, |selector| Request::Pause { selector }).await;
    assert!(
        matches!(&paused, Response::Done { messages } if messages == &["shop/web: rollout of revision 2 paused".to_owned()]),
        "{paused:?}"
    );
    assert_eq!(
        phase(&run),
        Some(Phase::Paused(Hold::User)),
        "applied before the answer"
    );
    let promote = control(&run, |selector| Request::Promote { selector }).await;
    assert!(
        matches!(&promote, Response::Error { message } if message.contains("resume` it first")),
        "{promote:?}"
    );
    let resumed = control(&run, |selector| Request::Resume { selector }).await;
    assert!(matches!(resumed, Response::Done { .. }), "{resumed:?}");
    let promoted = control(&run, |selector| Request::Promote { selector }).await;
    assert!(matches!(promoted, Response::Done { .. }), "{promoted:?}");
    run.until("the promoted rollout completes", |r| {
        phase(r) == Some(Phase::Complete)
    })
    .await;
    let undone = control(&run, |selector| Request::Undo {
        selector,
        to_revision: None,
    })
    .await;
    assert!(
        matches!(&undone, Response::Done { messages } if messages[0].contains("rolling back to revision 1 (app:v1)")),
        "{undone:?}"
    );
    run.until("every replica back on v1", |r| {
        phase(r) == Some(Phase::RolledBack) && images(r).iter().all(|(_, id)| id == "sha256:aaaa")
    })
    .await;
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_executor_pulls_the_new_image_and_tags_previous_before_any_replacement() {
    let run = start(&canary("app:v1", "a"), CrashPolicy::default()).await;
    run.until("three replicas", |r| r.running().len() == 3)
        .await;
    run.fake.add_registry_image("app:v2", "sha256:bbbb");
    run.fake.clear_calls();
    run.write(&canary("app:v2", "a"));
    run.until("the rollout completes", |r| {
        phase(r) == Some(Phase::Complete)
    })
    .await;
    let calls = run.fake.calls();
    let pulled = calls
        .iter()
        .position(|c| matches!(c, Call::Pull { .. }))
        .expect("pulled");
    let tagged = calls
        .iter()
        .position(|c| matches!(c, Call::Tag { .. }))
        .expect("tagged");
    let first_write = calls
        .iter()
        .position(|c| matches!(c, Call::Create { .. } | Call::Stop { .. }))
        .expect("replaced");
    assert!(pulled < tagged && tagged < first_write, "{calls:?}");
    assert_eq!(
        calls
            .iter()
            .filter(|c| matches!(c, Call::Pull { .. }))
            .count(),
        1,
        "one pull: {calls:?}"
    );
    run.stop().await;
}
