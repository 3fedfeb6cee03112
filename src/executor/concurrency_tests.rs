//! The executor runs plans as their graph on the fake engine (tokio's paused clock, the
//! fake's call delays): independent actions overlap, a failure stays within its service
//! and what depends on it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::spec::{DependsOn, NetworkSpec, ServiceNetwork, ServiceSpec};
use crate::observed::relist;
use crate::plan::PlanContext;
use crate::runtime::fake::{Call, FakeRuntime, Op};

const STOP: Duration = Duration::from_secs(10);

fn service(name: &str, image: &str, replicas: u32) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, image);
    s.replicas = replicas;
    s.stop_grace_period = Some(STOP);
    s.networks
        .insert("default".into(), ServiceNetwork::default());
    s
}

fn project(services: Vec<ServiceSpec>) -> ProjectSpec {
    let network = NetworkSpec {
        name: "shop_default".into(),
        ..NetworkSpec::default()
    };
    ProjectSpec {
        name: "shop".into(),
        services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
        networks: BTreeMap::from([("default".into(), network)]),
        ..ProjectSpec::default()
    }
}

/// An executor over `fake` with a listed store, and the plan for `spec` on that host.
async fn planned(
    fake: &FakeRuntime,
    spec: &ProjectSpec,
    parallelism: usize,
) -> (Executor<FakeRuntime>, Plan) {
    let store = Store::new();
    relist(fake, &store).await.unwrap();
    let plan = crate::plan::plan(
        "shop",
        Some(spec),
        &store.snapshot(),
        &PlanContext::default(),
    );
    let executor =
        Executor::new(Arc::new(fake.clone()), store.clone()).with_parallelism(parallelism);
    (executor, plan)
}

/// Three running replicas of `web` on an old environment, and the spec that drifts them.
fn drifted_web(fake: &FakeRuntime) -> ProjectSpec {
    let old = project(vec![service("web", "nginx:1.27", 3)]);
    for n in 1..=3 {
        fake.add_managed(&old, &old.services["web"], n);
    }
    let mut new = old.clone();
    new.services
        .get_mut("web")
        .unwrap()
        .environment
        .insert("MODE".into(), "new".into());
    new
}

#[tokio::test(start_paused = true)]
async fn three_replicas_with_slow_stops_are_replaced_in_the_time_of_one_stop() {
    let fake = FakeRuntime::new();
    let spec = drifted_web(&fake);
    fake.set_delay(|call| match call {
        Call::Stop { .. } => STOP,
        _ => Duration::ZERO,
    });
    let (executor, plan) = planned(&fake, &spec, DEFAULT_PARALLELISM).await;
    assert_eq!(plan.actions.len(), 3, "{plan:?}");
    let started = tokio::time::Instant::now();

    let report = executor.execute(&spec, &plan).await.unwrap();

    assert_eq!(started.elapsed(), STOP, "the three stops overlap");
    assert_eq!(report.done.len(), 3);
    assert!(fake.overlaps().is_empty(), "{:?}", fake.overlaps());
}

/// How long replacing the three drifted replicas of `web` takes at `parallelism`, with
/// stops of [`STOP`] (a grace period waited out) and creates of 1 s (engine work).
async fn recreate_time(parallelism: usize) -> Duration {
    let fake = FakeRuntime::new();
    let spec = drifted_web(&fake);
    fake.set_delay(|call| match call {
        Call::Stop { .. } => STOP,
        Call::Create { .. } => Duration::from_secs(1),
        _ => Duration::ZERO,
    });
    let (executor, plan) = planned(&fake, &spec, parallelism).await;
    let started = tokio::time::Instant::now();
    executor.execute(&spec, &plan).await.unwrap();
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_parallelism_of_one_runs_the_engine_work_one_at_a_time_but_not_the_grace_periods() {
    // The three grace periods pass together (a stop waits, it holds no permit), then
    // the three creates run one after another.
    assert_eq!(recreate_time(1).await, STOP + 3 * Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn the_engine_work_of_independent_actions_overlaps_up_to_the_parallelism() {
    assert_eq!(recreate_time(2).await, STOP + 2 * Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_failed_pull_does_not_hold_back_an_unrelated_service() {
    let fake = FakeRuntime::new();
    fake.add_image("nginx:1.27", "sha256:web");
    // The registry has no postgres:16: its pull fails.
    let spec = project(vec![
        service("db", "postgres:16", 1),
        service("web", "nginx:1.27", 2),
    ]);
    fake.set_delay(|call| match call {
        Call::Pull { .. } => Duration::from_secs(5),
        _ => Duration::ZERO,
    });
    let (executor, plan) = planned(&fake, &spec, DEFAULT_PARALLELISM).await;

    let err = executor.execute(&spec, &plan).await.unwrap_err();

    let Error::Services { failed, report } = &err else {
        panic!("{err:?}");
    };
    let services: Vec<&str> = failed.iter().map(|f| f.service.as_str()).collect();
    assert_eq!(services, ["db"]);
    assert!(
        err.to_string()
            .starts_with("service db: pull image postgres:16"),
        "{err}"
    );
    assert_eq!(
        report
            .skipped
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["create db #1 (replica missing)"]
    );
    assert!(fake.container("shop-web-1").is_some());
    assert!(fake.container("shop-web-2").is_some());
    let creates = fake
        .calls()
        .iter()
        .position(|c| matches!(c, Call::Create { .. }));
    let pull = fake
        .calls()
        .iter()
        .position(|c| matches!(c, Call::Pull { .. }));
    assert!(creates < pull, "web was created while db's pull still ran");
}

#[tokio::test(start_paused = true)]
async fn a_dependent_of_a_failed_service_is_skipped_and_the_rest_runs() {
    let fake = FakeRuntime::new();
    fake.add_image("postgres:16", "sha256:db");
    fake.add_image("nginx:1.27", "sha256:web");
    fake.add_image("redis:7", "sha256:cache");
    let mut web = service("web", "nginx:1.27", 1);
    web.depends_on.insert("db".into(), DependsOn::Started);
    let spec = project(vec![
        service("db", "postgres:16", 1),
        web,
        service("cache", "redis:7", 1),
    ]);
    let (executor, plan) = planned(&fake, &spec, DEFAULT_PARALLELISM).await;
    fake.fail_next(
        Op::CreateContainer,
        runtime::Error::Engine {
            operation: "create_container",
            message: "no space left on device".into(),
        },
    );
    // Plan order creates cache first; the failure must hit db: let cache go first.
    let first_create = plan
        .actions
        .iter()
        .find(|a| matches!(a, Action::Create { .. }))
        .map(ToString::to_string);
    assert_eq!(
        first_create.as_deref(),
        Some("create cache #1 (replica missing)")
    );
    fake.set_delay(|call| match call {
        Call::Create { name } if name == "shop-cache-1" => Duration::from_secs(1),
        _ => Duration::ZERO,
    });

    let err = executor.execute(&spec, &plan).await.unwrap_err();

    let Error::Services { failed, report } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].service, "db");
    let skipped: Vec<String> = report.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        [
            "wait for db started (before web)",
            "create web #1 (replica missing)"
        ]
    );
    assert!(fake.container("shop-cache-1").is_some());
    assert!(fake.container("shop-web-1").is_none());
}
