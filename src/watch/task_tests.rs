//! The watcher against the fake engine, with tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::task::{FailedRevision, Host, LatestRollout, Watcher};
use super::{Result, Watches};
use crate::clock::WallClock;
use crate::model::ServiceRef;
use crate::model::spec::ServiceSpec;
use crate::runtime::ContainerRuntime;
use crate::runtime::fake::{Call, FakeRuntime};

const IMAGE: &str = "127.0.0.1:5000/shop/web:live";

#[derive(Default)]
struct Inner {
    services: Vec<(ServiceRef, ServiceSpec)>,
    failed: Vec<FailedRevision>,
    noted: Vec<(String, String)>,
    kicks: Vec<String>,
    latest: Option<LatestRollout>,
}

#[derive(Clone, Default)]
struct TestHost(Arc<Mutex<Inner>>);

impl TestHost {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::sync::lock(&self.0)
    }
}

impl Host for TestHost {
    fn services(&self) -> Vec<(ServiceRef, ServiceSpec)> {
        self.inner().services.clone()
    }
    fn failed_revisions(&self, _service: &ServiceRef) -> Result<Vec<FailedRevision>> {
        Ok(self.inner().failed.clone())
    }
    fn note_digest(&self, image_id: &str, digest: &str) {
        self.inner()
            .noted
            .push((image_id.to_owned(), digest.to_owned()));
    }
    fn kick(&self, project: &str) {
        self.inner().kicks.push(project.to_owned());
    }
    fn latest_rollout(&self, _service: &ServiceRef) -> Option<LatestRollout> {
        self.inner().latest.clone()
    }
}

fn sref() -> ServiceRef {
    ServiceRef::new("shop", "web")
}

/// A watched service checked every `interval`.
fn watched(interval: &str) -> ServiceSpec {
    let mut service = ServiceSpec::new("web", IMAGE);
    service.extensions.insert(
        "x-rollout".into(),
        json!({"strategy": "canary", "watch": {"mode": "digest", "interval": interval}}),
    );
    service
}

struct Fixture {
    runtime: Arc<FakeRuntime>,
    host: TestHost,
    watches: Watches,
    watcher: Watcher<FakeRuntime, TestHost>,
}

/// The engine runs `sha256:v1`, pulled from the registry; the service is watched every
/// 30 s (the minimum is 10 s).
async fn fixture() -> Fixture {
    let runtime = Arc::new(FakeRuntime::new());
    runtime.add_registry_image(IMAGE, "sha256:v1");
    runtime.pull_image(IMAGE, None).await.unwrap();
    runtime.clear_calls();
    let host = TestHost::default();
    host.inner().services.push((sref(), watched("30s")));
    let watches = Watches::default();
    let watcher = Watcher::new(
        runtime.clone(),
        host.clone(),
        watches.clone(),
        WallClock::following_tokio(1_700_000_000_000),
        Duration::from_secs(10),
    );
    Fixture {
        runtime,
        host,
        watches,
        watcher,
    }
}

fn pulls(runtime: &FakeRuntime) -> usize {
    runtime
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Pull { .. }))
        .count()
}

async fn check_now(watcher: &mut Watcher<FakeRuntime, TestHost>) {
    let now = Instant::now();
    watcher.refresh(now);
    watcher.check_due(now).await;
}

#[tokio::test(start_paused = true)]
async fn a_service_no_longer_watched_loses_its_gauges() {
    let f = fixture().await;
    let telemetry = crate::metrics::Telemetry::new();
    let mut watcher = f.watcher.with_telemetry(telemetry.clone());
    check_now(&mut watcher).await;
    let series = r#"composectl_update_available{project="shop",service="web"}"#;
    assert!(
        telemetry.encode().contains(series),
        "{}",
        telemetry.encode()
    );

    f.host.inner().services.clear();
    watcher.refresh(Instant::now());

    let text = telemetry.encode();
    assert!(!text.contains(series), "{text}");
    assert!(
        !text.contains(r#"composectl_watch_last_check_timestamp_seconds{project="shop""#),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_tag_is_checked_without_pulling() {
    let mut f = fixture().await;
    check_now(&mut f.watcher).await;
    assert_eq!(
        f.runtime.calls().first(),
        Some(&Call::InspectDistribution {
            reference: IMAGE.into()
        })
    );
    assert_eq!(pulls(&f.runtime), 0);
    assert!(f.host.inner().kicks.is_empty());
    let status = f.watches.get(&sref()).expect("watched");
    assert_eq!(status.result.as_deref(), Some("up to date"));
    assert_eq!(
        status.local_digest,
        Some(FakeRuntime::manifest_digest("sha256:v1"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_moved_tag_is_pulled_once_its_digest_noted_and_the_project_kicked() {
    let mut f = fixture().await;
    f.runtime.add_registry_image(IMAGE, "sha256:v2");
    check_now(&mut f.watcher).await;
    assert_eq!(pulls(&f.runtime), 1);
    assert_eq!(f.host.inner().kicks, vec!["shop".to_owned()]);
    let v2_digest = FakeRuntime::manifest_digest("sha256:v2");
    assert_eq!(
        f.host.inner().noted,
        vec![("sha256:v2".to_owned(), v2_digest.clone())]
    );
    let status = f.watches.get(&sref()).expect("watched");
    assert_eq!(status.update_available, Some(v2_digest));
    // The next check finds the host up to date: no second pull.
    tokio::time::advance(Duration::from_secs(40)).await;
    check_now(&mut f.watcher).await;
    assert_eq!(pulls(&f.runtime), 1);
    assert_eq!(f.host.inner().kicks.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_digest_whose_rollout_failed_is_held_until_another_one_appears() {
    let mut f = fixture().await;
    f.runtime.add_registry_image(IMAGE, "sha256:bad");
    f.host.inner().failed.push(FailedRevision {
        image: IMAGE.into(),
        image_id: "sha256:gone".into(),
        digest: Some(FakeRuntime::manifest_digest("sha256:bad")),
    });
    check_now(&mut f.watcher).await;
    assert_eq!(pulls(&f.runtime), 0, "a held digest is never pulled");
    let status = f.watches.get(&sref()).expect("watched");
    assert_eq!(
        status.held,
        Some(FakeRuntime::manifest_digest("sha256:bad"))
    );
    // The registry moves on: the newer image is pulled.
    f.runtime.add_registry_image(IMAGE, "sha256:v3");
    tokio::time::advance(Duration::from_secs(40)).await;
    check_now(&mut f.watcher).await;
    assert_eq!(pulls(&f.runtime), 1);
    assert_eq!(f.watches.get(&sref()).expect("watched").held, None);
}

#[tokio::test(start_paused = true)]
async fn the_next_check_is_due_after_the_interval_within_ten_percent() {
    let mut f = fixture().await;
    for _ in 0..20 {
        let start = Instant::now();
        check_now(&mut f.watcher).await;
        let wait = f.watcher.next_due().expect("watched") - start;
        assert!(
            wait >= Duration::from_secs(27) && wait <= Duration::from_secs(33),
            "{wait:?}"
        );
        tokio::time::advance(wait).await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_interval_below_the_daemons_minimum_is_raised_to_it() {
    let mut f = fixture().await;
    f.host.inner().services[0].1 = watched("2s");
    let start = Instant::now();
    check_now(&mut f.watcher).await;
    let wait = f.watcher.next_due().expect("watched") - start;
    assert!(wait >= Duration::from_secs(9), "{wait:?}");
}

#[tokio::test(start_paused = true)]
async fn registry_errors_change_nothing_and_back_off_doubling() {
    let mut f = fixture().await;
    f.runtime.remove_registry_image(IMAGE);
    let mut waits = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        check_now(&mut f.watcher).await;
        let wait = f.watcher.next_due().expect("watched") - start;
        waits.push(wait);
        tokio::time::advance(wait).await;
    }
    assert_eq!(pulls(&f.runtime), 0);
    assert!(f.host.inner().kicks.is_empty());
    let secs: Vec<u64> = waits.iter().map(|w| w.as_secs()).collect();
    assert!((54..=66).contains(&secs[0]), "{secs:?}");
    assert!((108..=132).contains(&secs[1]), "{secs:?}");
    assert!((216..=264).contains(&secs[2]), "{secs:?}");
    let status = f.watches.get(&sref()).expect("watched");
    let error = status.error.expect("the error is shown");
    assert!(
        error.starts_with("registry 127.0.0.1:5000: cannot read"),
        "{error}"
    );
    // Once the registry answers again, the interval is back to normal.
    f.runtime.add_registry_image(IMAGE, "sha256:v1");
    let start = Instant::now();
    check_now(&mut f.watcher).await;
    let wait = f.watcher.next_due().expect("watched") - start;
    assert!(wait <= Duration::from_secs(33), "{wait:?}");
    assert_eq!(f.watches.get(&sref()).expect("watched").error, None);
}

#[tokio::test(start_paused = true)]
async fn the_running_watcher_pulls_a_moved_tag_at_its_next_check_and_kicks() {
    let f = fixture().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(f.watcher.run(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pulls(&f.runtime), 0, "the first check found nothing new");
    f.runtime.add_registry_image(IMAGE, "sha256:v2");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(pulls(&f.runtime), 0, "no check before the interval (-10 %)");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(pulls(&f.runtime), 1, "checked within the interval (+10 %)");
    assert_eq!(f.host.inner().kicks, vec!["shop".to_owned()]);
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_service_no_longer_watched_is_forgotten() {
    let mut f = fixture().await;
    check_now(&mut f.watcher).await;
    assert!(f.watches.get(&sref()).is_some());
    f.host.inner().services[0].1 = ServiceSpec::new("web", IMAGE);
    check_now(&mut f.watcher).await;
    assert!(f.watches.get(&sref()).is_none());
    assert_eq!(f.watcher.next_due(), None);
}

#[tokio::test]
async fn an_update_is_told_once_when_found_and_once_when_it_runs_everywhere() {
    use crate::rollout::record::PhaseName;
    let statuses = vec!["200 OK"; 3];
    let (url, mut received) = crate::webhook::test_receiver::serve(statuses, None).await;
    let webhook = crate::webhook::Webhook::new(&format!("{url}/hook")).unwrap();
    let mut f = fixture().await;
    f.watcher = f.watcher.with_webhook(Some(webhook));
    let later = || Instant::now() + Duration::from_secs(3600);
    f.runtime.add_registry_image(IMAGE, "sha256:v2");
    check_now(&mut f.watcher).await;
    let rolling = |phase| LatestRollout {
        phase,
        image: IMAGE.into(),
        image_id: "sha256:v2".into(),
    };
    f.host.inner().latest = Some(rolling(PhaseName::Progressing));
    f.watcher.check_due(later()).await;
    let pending = f.watches.get(&sref()).unwrap().update_available;
    assert_eq!(pending, Some(FakeRuntime::manifest_digest("sha256:v2")));
    f.host.inner().latest = Some(rolling(PhaseName::Complete));
    f.watcher.check_due(later()).await;
    f.watcher.check_due(later()).await;
    assert_eq!(f.watches.get(&sref()).unwrap().update_available, None);

    let first = received.recv().await.unwrap().json();
    assert_eq!(first["event"], "update_available", "{first}");
    assert_eq!(first["service"], "web", "{first}");
    let reason = first["reason"].as_str().unwrap();
    assert!(reason.contains("sha256:manifest-v2"), "{reason}");
    let second = received.recv().await.unwrap().json();
    assert_eq!(second["event"], "update_applied", "{second}");
    let third = tokio::time::timeout(Duration::from_millis(300), received.recv()).await;
    assert!(third.is_err(), "told once per transition: {third:?}");
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_finds_the_update_without_pulling_or_kicking() {
    let mut f = fixture().await;
    f.watcher = f.watcher.dry_run();
    f.runtime.add_registry_image(IMAGE, "sha256:v2");
    check_now(&mut f.watcher).await;
    assert_eq!(pulls(&f.runtime), 0);
    assert!(f.host.inner().kicks.is_empty());
    assert_eq!(
        f.watches.get(&sref()).unwrap().update_available,
        Some(FakeRuntime::manifest_digest("sha256:v2"))
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_engine_is_no_registry_error_and_grows_no_backoff() {
    let mut f = fixture().await;
    f.runtime.engine_down(0);
    for _ in 0..3 {
        let start = Instant::now();
        check_now(&mut f.watcher).await;
        let wait = f.watcher.next_due().expect("watched") - start;
        assert!(wait <= Duration::from_secs(33), "{wait:?}");
        tokio::time::advance(wait).await;
    }
    let error = f.watches.get(&sref()).unwrap().error.unwrap();
    assert!(!error.starts_with("registry "), "{error}");
    assert_eq!(pulls(&f.runtime), 0);
}
