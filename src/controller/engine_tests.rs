//! Engine restarts through the whole loop, on the fake engine and tokio's paused clock (the
//! controller, the fake and the rollouts share one wall clock that follows it): what the
//! engine stops by going away is started again in place, never charged to crash backoff,
//! left to the engine's restart policy for a grace, and a rollout's window waits for it.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::CrashPolicy;
use super::tests::{Running, within};
use crate::clock::WallClock;
use crate::model::spec::RestartPolicy;
use crate::model::{ContainerState, ObservedContainer};
use crate::observed::engine::RESTART_GRACE;
use crate::rollout::record::{Phase, RolloutRecord};
use crate::runtime::fake::{Call, Op};

/// Where the shared wall clock starts.
const T0: i64 = 1_800_000_000_000;

fn compose(restart: &str) -> String {
    format!(
        "services:\n  web:\n    image: app:v1\n    restart: {restart}\n    deploy:\n      replicas: 3\n"
    )
}

async fn start(contents: &str) -> Running {
    start_resyncing(contents, Duration::from_millis(300)).await
}

async fn start_resyncing(contents: &str, resync: Duration) -> Running {
    let clock = WallClock::following_tokio(T0);
    Running::start_with_clock(contents, CrashPolicy::default(), resync, clock).await
}

fn ids(run: &Running) -> BTreeMap<String, String> {
    run.fake
        .containers()
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect()
}

fn all_running(run: &Running, n: usize) -> bool {
    let all = run.fake.containers();
    all.len() == n && all.iter().all(|c| c.state == ContainerState::Running)
}

fn crash_delays(run: &Running) -> usize {
    run.telemetry
        .snapshot()
        .map_or(0, |(state, _)| state.crash_delays.len())
}

fn starts(run: &Running) -> usize {
    run.fake
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Start { .. }))
        .count()
}

#[tokio::test(start_paused = true)]
async fn replicas_the_engine_stopped_start_again_in_place_without_crash_backoff_restart_after_restart()
 {
    let run = start(&compose("\"no\"")).await;
    within(&run, "three replicas", Duration::from_secs(10), |r| {
        all_running(r, 3)
    })
    .await;
    let before = ids(&run);
    for restart in 0..4 {
        run.fake.clear_calls();
        run.fake.engine_down(if restart % 2 == 0 { 0 } else { 137 });
        within(&run, "not ready while away", Duration::from_secs(10), |r| {
            !r.telemetry.is_ready()
        })
        .await;
        assert!(!run.telemetry.engine_reachable());
        tokio::time::sleep(Duration::from_secs(20)).await;
        run.fake.engine_up(&[]);
        within(
            &run,
            "the same three running",
            Duration::from_secs(15),
            |r| all_running(r, 3),
        )
        .await;
        assert_eq!(ids(&run), before, "started in place, not replaced");
        assert_eq!(run.creates(), 0, "{:?}", run.fake.calls());
        assert_eq!(starts(&run), 3);
        assert_eq!(crash_delays(&run), 0, "nothing charged to crash backoff");
        within(&run, "ready again", Duration::from_secs(5), |r| {
            r.telemetry.is_ready()
        })
        .await;
    }
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_crashes_on_its_own_is_still_charged_to_crash_backoff() {
    let run = start(&compose("\"no\"")).await;
    within(&run, "three replicas", Duration::from_secs(10), |r| {
        all_running(r, 3)
    })
    .await;
    run.fake.engine_down(0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    run.fake.engine_up(&[]);
    within(&run, "three again", Duration::from_secs(15), |r| {
        all_running(r, 3)
    })
    .await;
    // Long after the outage (past its slack), a crash is the container's own.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let victim = ids(&run)["shop-web-2"].clone();
    run.fake.clear_calls();
    run.fake.kill(&victim, 1);
    within(
        &run,
        "started again in place",
        Duration::from_secs(10),
        |r| starts(r) == 1 && all_running(r, 3),
    )
    .await;
    assert_eq!(run.creates(), 0, "{:?}", run.fake.calls());
    assert_eq!(crash_delays(&run), 1);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_unless_stopped_container_is_left_to_the_engine_for_a_grace_then_started_in_place() {
    let run = start(&compose("unless-stopped")).await;
    within(&run, "three replicas", Duration::from_secs(10), |r| {
        all_running(r, 3)
    })
    .await;
    let before = ids(&run);
    // A graceful restart: the engine starts its unless-stopped containers itself.
    run.fake.clear_calls();
    run.fake.engine_down(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    run.fake
        .engine_up(&[RestartPolicy::Always, RestartPolicy::UnlessStopped]);
    within(&run, "running again", Duration::from_secs(10), |r| {
        all_running(r, 3)
    })
    .await;
    tokio::time::sleep(RESTART_GRACE * 2).await;
    assert_eq!(starts(&run), 0, "the engine did it: {:?}", run.fake.calls());
    assert_eq!(ids(&run), before);
    // A SIGKILL: dockerd 20.10 does not restart unless-stopped containers then.
    run.fake.clear_calls();
    run.fake.engine_down(137);
    tokio::time::sleep(Duration::from_secs(3)).await;
    run.fake.engine_up(&[RestartPolicy::Always]);
    let back = Instant::now();
    tokio::time::sleep(RESTART_GRACE / 2).await;
    assert_eq!(starts(&run), 0, "left to the engine during the grace");
    within(&run, "started after the grace", RESTART_GRACE * 2, |r| {
        all_running(r, 3)
    })
    .await;
    assert!(back.elapsed() >= RESTART_GRACE, "{:?}", back.elapsed());
    assert_eq!(ids(&run), before, "the same containers");
    assert_eq!((starts(&run), run.creates()), (3, 0));
    assert_eq!(crash_delays(&run), 0);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_error_backoff_built_up_while_the_engine_was_away_is_forgotten_when_it_is_back() {
    // A resync (which retries every project) rarer than the return is given to converge.
    let run = start_resyncing(&compose("\"no\""), Duration::from_secs(60)).await;
    within(&run, "three replicas", Duration::from_secs(10), |r| {
        all_running(r, 3)
    })
    .await;
    run.fake.engine_down(0);
    // Each resync meanwhile fails the project's reconcile: its error backoff grows to
    // minutes.
    tokio::time::sleep(Duration::from_secs(1200)).await;
    // The first reconcile after the return fails (the engine still settling): the retry
    // must come after the first step of a fresh backoff, not the grown one.
    run.fake.fail_next(
        Op::StartContainer,
        crate::runtime::Error::Engine {
            operation: "start_container",
            message: "still restoring".into(),
        },
    );
    run.fake.engine_up(&[]);
    let back = Instant::now();
    within(&run, "converged", Duration::from_secs(60), |r| {
        all_running(r, 3)
    })
    .await;
    assert!(
        back.elapsed() <= Duration::from_secs(13),
        "converged {:?} after the return (the reconnect delay is 5 s at most, plus as much \
         jitter, and a fresh error backoff starts at 1 s)",
        back.elapsed()
    );
    run.stop().await;
}

fn canary(image: &str) -> String {
    format!(
        "services:\n  web:\n    image: {image}\n    healthcheck:\n      test: [CMD, check]\n    deploy:\n      replicas: 3\n    x-rollout:\n      strategy: canary\n      steps: [1, 100%]\n      monitor: 20s\n      gates: [{{type: docker_health}}]\n"
    )
}

fn record(run: &Running) -> Option<RolloutRecord> {
    let path = run.state.path().join("default/shop/web/rollout.json");
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn on(run: &Running, image_id: &str) -> usize {
    run.fake
        .containers()
        .iter()
        .filter(|c: &&ObservedContainer| {
            c.state == ContainerState::Running && c.image_id == image_id
        })
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_canary_window_stops_while_the_engine_is_away_and_its_stopped_canary_is_not_failed() {
    let run = start(&canary("app:v1")).await;
    within(&run, "three replicas", Duration::from_secs(10), |r| {
        all_running(r, 3)
    })
    .await;
    run.fake.add_image("app:v2", "sha256:bbbb");
    run.write(&canary("app:v2"));
    within(&run, "the canary's window", Duration::from_secs(20), |r| {
        record(r).is_some_and(|rec| rec.state.window_started.is_some())
    })
    .await;
    let canary_id = ids(&run)["shop-web-1"].clone();
    tokio::time::sleep(Duration::from_secs(5)).await;
    run.fake.engine_down(137);
    // Away for longer than the whole window.
    tokio::time::sleep(Duration::from_secs(60)).await;
    run.fake.engine_up(&[]);
    let back = Instant::now();
    within(
        &run,
        "the canary running again",
        Duration::from_secs(10),
        |r| all_running(r, 3),
    )
    .await;
    assert_eq!(ids(&run)["shop-web-1"], canary_id, "started in place");
    // 5 s of the window had passed: the 60 s away do not count, so it is still open.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let rec = record(&run).unwrap();
    assert_eq!(
        (rec.phase, rec.state.step),
        (Phase::Progressing, 0),
        "the window has not ended: {rec:?}"
    );
    within(
        &run,
        "the rollout completes",
        Duration::from_secs(90),
        |r| record(r).is_some_and(|rec| rec.phase == Phase::Complete),
    )
    .await;
    assert!(
        back.elapsed() >= Duration::from_secs(15),
        "{:?}",
        back.elapsed()
    );
    let rec = record(&run).unwrap();
    assert_eq!(rec.reason, None, "{rec:?}");
    assert!(rec.failed_replicas.is_empty());
    assert_eq!(on(&run, "sha256:bbbb"), 3);
    assert_eq!(crash_delays(&run), 0);
    run.stop().await;
}
