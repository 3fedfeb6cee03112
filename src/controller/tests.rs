//! The loop end to end on the fake engine and tokio's paused clock: real files in a temporary
//! desired directory, real notify events (the periodic resync reloads what an event
//! missed), the reflector, the scheduler and both backoffs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::backoff::CrashPolicy;
use super::{Config, Controller};
use crate::clock::WallClock;
use crate::metrics::Telemetry;
use crate::model::ContainerState;
use crate::runtime::fake::{Call, FakeRuntime, Op};

const IMAGE: &str = "app:v1";

/// Where the wall clock the controller and the fake share starts (it follows tokio's
/// clock, which the tests pause).
pub(super) const T0: i64 = 1_800_000_000_000;

fn compose(replicas: u32, mode: &str) -> String {
    format!(
        "services:\n  web:\n    image: {IMAGE}\n    environment:\n      MODE: {mode}\n    deploy:\n      replicas: {replicas}\n"
    )
}

pub(super) struct Running {
    pub(super) fake: FakeRuntime,
    dir: tempfile::TempDir,
    pub(super) state: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    pub(super) telemetry: Telemetry,
    /// The control socket's handler (`composectl rollout ...`).
    pub(super) control: Arc<dyn crate::control::Handler>,
}

impl Running {
    /// Starts the controller on a desired directory holding project `shop`, on a wall
    /// clock that follows tokio's (paused) clock.
    pub(super) async fn start(contents: &str, crash: CrashPolicy) -> Self {
        let resync = Duration::from_millis(300);
        let clock = WallClock::following_tokio(T0);
        Self::start_with_clock(contents, crash, resync, clock).await
    }

    /// [`Self::start`] with a `resync` period and the controller and the fake engine on
    /// `clock`.
    pub(super) async fn start_with_clock(
        contents: &str,
        crash: CrashPolicy,
        resync: Duration,
        clock: WallClock,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("shop")).unwrap();
        std::fs::write(dir.path().join("shop/compose.yaml"), contents).unwrap();
        let fake = FakeRuntime::new();
        fake.set_clock(clock.clone());
        fake.add_image(IMAGE, "sha256:aaaa");
        let mut config = Config::new(dir.path());
        config.debounce = Duration::from_millis(50);
        config.resync = resync;
        config.crash = crash;
        let state = tempfile::tempdir().unwrap();
        config.state = crate::state::StateDir::new(state.path(), "default");
        let controller = Controller::with_clock(Arc::new(fake.clone()), config, clock);
        let telemetry = controller.telemetry().clone();
        let control = controller.control_handler();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            controller
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            fake,
            dir,
            state,
            stop: Some(stop),
            task,
            telemetry,
            control,
        }
    }

    pub(super) fn running(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .fake
            .containers()
            .into_iter()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| c.name)
            .collect();
        names.sort();
        names
    }

    pub(super) fn creates(&self) -> usize {
        self.fake
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Create { .. }))
            .count()
    }

    pub(super) fn starts(&self) -> usize {
        self.fake
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Start { .. }))
            .count()
    }

    fn writes(&self) -> usize {
        self.fake.calls().iter().filter(|c| c.is_write()).count()
    }

    /// Waits (tokio's clock, paused in these tests: bounded in virtual time) until `cond`
    /// holds.
    pub(super) async fn until(&self, what: &str, mut cond: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Writes `file` (relative to the desired directory) the way `git pull` does.
    pub(super) fn write_file(&self, file: &str, contents: &str) {
        let path = self.dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let tmp = path.with_extension("composectl-test-tmp");
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    pub(super) fn write(&self, contents: &str) {
        let tmp = self.dir.path().join("shop/.compose.yaml.tmp");
        std::fs::write(&tmp, contents).unwrap();
        std::fs::rename(tmp, self.dir.path().join("shop/compose.yaml")).unwrap();
    }

    pub(super) async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn it_converges_then_a_resync_of_a_converged_host_makes_no_writes() {
    let run = Running::start(&compose(2, "a"), CrashPolicy::default()).await;
    run.until("two replicas", |r| r.running().len() == 2).await;
    assert_eq!(run.running(), vec!["shop-web-1", "shop-web-2"]);
    run.fake.clear_calls();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let calls = run.fake.calls();
    assert_eq!(run.writes(), 0, "{calls:?}");
    assert!(
        calls.iter().any(|c| matches!(c, Call::ListContainers)),
        "the periodic resync relisted: {calls:?}"
    );
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_killed_replica_is_started_again_in_place_once_with_no_create() {
    let run = Running::start(&compose(2, "a"), CrashPolicy::default()).await;
    run.until("two replicas", |r| r.running().len() == 2).await;
    let victim = run
        .fake
        .containers()
        .into_iter()
        .find(|c| c.name == "shop-web-2")
        .unwrap();
    run.fake.clear_calls();
    run.fake.kill(&victim.id, 137);
    run.until("a start in place", |r| {
        r.running().len() == 2 && r.starts() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(run.starts(), 1, "started exactly once");
    assert_eq!(run.creates(), 0, "{:?}", run.fake.calls());
    let removes = run
        .fake
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Remove { .. }))
        .count();
    assert_eq!(removes, 0, "{:?}", run.fake.calls());
    let after = run.fake.container(&victim.id).expect("the same container");
    assert_eq!(after.state, ContainerState::Running);
    assert_eq!(run.fake.containers().len(), 2);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_replica_whose_start_in_place_fails_is_replaced_at_the_next_reconcile() {
    let run = Running::start(&compose(1, "a"), CrashPolicy::default()).await;
    run.until("one replica", |r| r.running().len() == 1).await;
    let victim = run.fake.containers()[0].id.clone();
    run.fake.clear_calls();
    run.fake.fail_next(
        Op::StartContainer,
        crate::runtime::Error::Engine {
            operation: "start_container",
            message: "bind source path does not exist: /srv/gone".into(),
        },
    );
    run.fake.kill(&victim, 1);
    within(&run, "a replacement", Duration::from_secs(10), |r| {
        r.running().len() == 1 && r.creates() == 1
    })
    .await;
    let tried = run
        .fake
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Start { id } if *id == victim))
        .count();
    assert_eq!(tried, 1, "one start in place tried: {:?}", run.fake.calls());
    assert!(run.fake.container(&victim).is_none(), "the old one removed");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(run.creates(), 1, "replaced exactly once");
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_loop_records_a_heal_but_not_the_first_creations() {
    let run = Running::start(&compose(2, "a"), CrashPolicy::default()).await;
    run.until("two replicas", |r| r.running().len() == 2).await;
    run.until("ready", |r| r.telemetry.is_ready()).await;
    let victim = run.fake.containers()[0].clone();
    run.fake.kill(&victim.id, 137);
    let heal = r#"composectl_heals_total{project="shop",service="web",reason="exited"} 1"#;
    run.until("the heal counted", |r| r.telemetry.encode().contains(heal))
        .await;
    let text = run.telemetry.encode();
    for expected in [
        r#"composectl_drift_detected_total{project="shop",reason="missing"} 2"#,
        r#"composectl_drift_detected_total{project="shop",reason="exited"} 1"#,
        r#"composectl_desired_valid{project="shop"} 1"#,
        "composectl_event_stream_up 1",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let first_creations =
        r#"composectl_heals_total{project="shop",service="web",reason="missing"}"#;
    assert!(
        !text.contains(first_creations),
        "first creations are no heals:\n{text}"
    );
    assert!(text.contains(
        r#"composectl_reconcile_duration_seconds_count{project="shop",result="success"}"#
    ));
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_file_change_recreates_the_service_and_broken_yaml_changes_nothing() {
    let run = Running::start(&compose(1, "a"), CrashPolicy::default()).await;
    run.until("one replica", |r| r.running().len() == 1).await;
    let before = run.fake.containers()[0].id.clone();
    run.write("services:\n  web:\n    image: [unterminated\n");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        run.fake.containers()[0].id,
        before,
        "broken input touched nothing"
    );
    run.write(&compose(1, "b"));
    run.until("the recreated replica", |r| {
        let containers = r.fake.containers();
        containers.len() == 1
            && containers[0].id != before
            && containers[0].state == ContainerState::Running
    })
    .await;
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_keeps_dying_is_started_again_with_growing_delays() {
    let policy = CrashPolicy {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(5),
        reset_after: Duration::from_secs(60),
    };
    let run = Running::start(&compose(1, "a"), policy).await;
    let started = Instant::now();
    let mut running_at = Vec::new();
    while started.elapsed() < Duration::from_millis(3500) {
        if let Some(c) = run
            .fake
            .containers()
            .into_iter()
            .find(|c| c.state == ContainerState::Running)
        {
            running_at.push(started.elapsed());
            run.fake.kill(&c.id, 1);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // First start, an immediate restart, then 200, 400, 800, 1600 ms apart: within 3.5 s
    // that is 5 or 6 starts, where no backoff would give hundreds.
    assert!(
        (4..=6).contains(&running_at.len()),
        "starts at {running_at:?}"
    );
    let gaps: Vec<Duration> = running_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).skip(1).all(|g| g[1] > g[0]),
        "delays grow: {gaps:?}"
    );
    assert_eq!(
        run.creates(),
        1,
        "every restart in place: {:?}",
        run.fake.calls()
    );
    assert_eq!(run.fake.containers().len(), 1);
    run.stop().await;
}

/// Waits on tokio's paused clock until `cond` holds; panics after `timeout` of virtual
/// time. The clock auto-advances only while every task waits, so the loader's blocking
/// reads finish before their timeouts could fire.
pub(super) async fn within(
    run: &Running,
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut(&Running) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !cond(run) {
        assert!(
            Instant::now() < deadline,
            "not within {timeout:?}: {what}\n{:#?}",
            run.fake.containers()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_reconcile_that_panics_releases_its_project_and_is_retried_after_the_error_backoff() {
    // Resync an hour away: only the error backoff (1 s, up to 2 s with jitter) retries.
    let resync = Duration::from_secs(3600);
    let clock = WallClock::following_tokio(T0);
    let run =
        Running::start_with_clock(&compose(2, "a"), CrashPolicy::default(), resync, clock).await;
    // Nothing ran yet (no await since the controller was spawned): its first create panics.
    run.fake.panic_next(Op::CreateContainer);
    within(&run, "the panicked create", Duration::from_secs(10), |r| {
        r.creates() == 1
    })
    .await;
    let failed = r#"composectl_reconcile_duration_seconds_count{project="shop",result="error"} 1"#;
    within(
        &run,
        "the panic counted as a failed reconcile",
        Duration::from_secs(1),
        |r| r.telemetry.encode().contains(failed),
    )
    .await;
    let (_, projects) = run
        .telemetry
        .snapshot()
        .expect("the controller state is attached");
    let error = projects["shop"].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("panicked") && error.contains("injected panic"),
        "{error}"
    );

    tokio::time::advance(Duration::from_millis(900)).await;
    assert_eq!(
        run.creates(),
        1,
        "no retry before the backoff: {:?}",
        run.fake.calls()
    );
    assert!(run.running().is_empty());

    within(
        &run,
        "the retry converged",
        Duration::from_millis(1500),
        |r| r.running() == ["shop-web-1", "shop-web-2"],
    )
    .await;
    assert_eq!(run.creates(), 3, "one panicked create, then both replicas");
    run.stop().await;
}
