//! Executor tests of `depends_on` waits, on a paused clock: a wait returns once the
//! dependency turns healthy, times out when it never does, fails at once when it exited.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{plan, setup, shop};
use crate::executor::*;
use crate::model::Health;
use crate::observed::Reflector;
use crate::runtime::fake::FakeRuntime;

fn wait_healthy() -> Action {
    Action::WaitFor {
        service: "web".into(),
        dependency: "db".into(),
        condition: DependsOn::Healthy,
    }
}

/// Runs a reflector over `fake` into `store` until the returned sender drops.
fn reflect(fake: &FakeRuntime, store: &Store) -> oneshot::Sender<()> {
    let (tx, _changes) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let reflector = Reflector::new(Arc::new(fake.clone()), store.clone(), tx);
    tokio::spawn(reflector.run(stopped));
    stop
}

#[tokio::test(start_paused = true)]
async fn wait_for_returns_once_the_dependency_turns_healthy() {
    let fake = FakeRuntime::new();
    fake.set_default_health(Some(Health::Starting));
    let project = shop();
    let db = fake.add_managed(&project, &project.services["db"], 1);
    let (store, executor) = setup(&fake).await;
    let _reflector = reflect(&fake, &store);
    let started = tokio::time::Instant::now();

    let waiting =
        tokio::spawn(async move { executor.execute(&shop(), &plan(vec![wait_healthy()])).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiting.is_finished());
    fake.set_health(&db, Health::Healthy);

    let report = waiting.await.unwrap().unwrap();
    assert_eq!(report.done, [wait_healthy()]);
    assert_eq!(report.writes, 0);
    assert!(started.elapsed() < DEFAULT_WAIT_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn wait_for_times_out_when_the_dependency_never_turns_healthy() {
    let fake = FakeRuntime::new();
    fake.set_default_health(Some(Health::Starting));
    let project = shop();
    fake.add_managed(&project, &project.services["db"], 1);
    let (_store, executor) = setup(&fake).await;
    let executor = executor.with_wait_timeout(Duration::from_secs(30));
    let started = tokio::time::Instant::now();

    let result = executor
        .execute(&project, &plan(vec![wait_healthy()]))
        .await
        .map_err(Error::into_single);

    assert!(
        matches!(&result, Err(Error::DependencyTimeout { dependency, .. }) if dependency == "db"),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_dependency_that_exited_non_zero_fails_the_wait_at_once() {
    let fake = FakeRuntime::new();
    let project = shop();
    let db = fake.add_managed(&project, &project.services["db"], 1);
    fake.kill(&db, 1);
    let (_store, executor) = setup(&fake).await;
    let started = tokio::time::Instant::now();

    let result = executor
        .execute(&project, &plan(vec![wait_healthy()]))
        .await
        .map_err(Error::into_single);

    assert!(
        matches!(&result, Err(Error::DependencyFailed { exit_code: 1, .. })),
        "{result:?}"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
}
