//! Builds in the loop (fake engine, real desired directory, tokio's paused clock): a built
//! service is built once and run, a changed context is built again and replaces the
//! replica, old builds are removed but the newest few, and a build that fails is not tried
//! again until its inputs change or `rollout rebuild`.

use super::backoff::CrashPolicy;
use super::tests::Running;
use crate::control::{Request, Response, Selector};
use crate::runtime::fake::{Call, Op};
use crate::runtime::{BuildFailure, Error};

const COMPOSE: &str = "services:\n  web:\n    build: ./web\n";

fn builds(run: &Running) -> usize {
    run.fake
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Build { .. }))
        .count()
}

fn built_images(run: &Running) -> usize {
    futures_util::FutureExt::now_or_never(crate::runtime::ContainerRuntime::list_built_images(
        &run.fake,
    ))
    .expect("the fake answers at once")
    .expect("listed")
    .len()
}

fn running_image(run: &Running) -> Option<String> {
    run.fake
        .containers()
        .into_iter()
        .find(|c| c.name == "shop-web-1")
        .map(|c| c.image_id)
}

#[tokio::test(start_paused = true)]
async fn a_changed_context_is_built_again_and_old_builds_are_removed_but_the_newest_few() {
    let run = Running::start(COMPOSE, CrashPolicy::default()).await;
    run.write_file("shop/web/Dockerfile", "FROM scratch\nCOPY page /page\n");
    run.write_file("shop/web/page", "v0\n");
    run.until("web built and running", |r| r.running() == ["shop-web-1"])
        .await;
    assert_eq!(builds(&run), 1);
    let mut image = running_image(&run).unwrap();
    for version in 1..=5 {
        run.write_file("shop/web/page", &format!("v{version}\n"));
        run.until("the new build runs", |r| {
            running_image(r).is_some_and(|id| id != image)
        })
        .await;
        image = running_image(&run).unwrap();
        assert_eq!(builds(&run), 1 + version, "one build per change");
    }
    run.until("old builds removed", |r| built_images(r) == 3)
        .await;
    let left = futures_util::FutureExt::now_or_never(
        crate::runtime::ContainerRuntime::list_built_images(&run.fake),
    )
    .unwrap()
    .unwrap();
    assert!(
        left.iter().any(|i| i.id == image),
        "the running image was removed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_build_is_tried_again_only_when_its_inputs_change_or_on_rebuild() {
    let run = Running::start(COMPOSE, CrashPolicy::default()).await;
    run.fake.fail_next(
        Op::BuildImage,
        Error::from(BuildFailure {
            image: "shop-web".into(),
            step: Some("Step 2/2 : RUN make".into()),
            message: "exit code 2".into(),
            output: vec!["make: *** no rule".into()],
        }),
    );
    run.write_file("shop/web/Dockerfile", "FROM scratch\n");
    run.until("the build tried", |r| builds(r) == 1).await;
    // Resyncs run every 300 ms: in 5 s the same inputs are not built again.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(builds(&run), 1, "the failed inputs were built again");
    assert!(run.running().is_empty());

    let answer = run
        .control
        .handle(Request::Rebuild {
            selector: Selector::parse("shop/web"),
        })
        .await;
    assert!(
        matches!(&answer, Response::Done { messages } if messages[0].contains("building again")),
        "{answer:?}"
    );
    run.until("built again and running", |r| r.running() == ["shop-web-1"])
        .await;
    assert_eq!(builds(&run), 2);

    // A changed context is built without asking.
    run.fake.fail_next(
        Op::BuildImage,
        Error::from(BuildFailure {
            image: "shop-web".into(),
            step: None,
            message: "boom".into(),
            output: Vec::new(),
        }),
    );
    run.write_file("shop/web/Dockerfile", "FROM scratch\nENV A=1\n");
    run.until("the new inputs tried", |r| builds(r) == 3).await;
    run.write_file("shop/web/Dockerfile", "FROM scratch\nENV A=2\n");
    run.until("the fixed inputs built", |r| builds(r) == 4)
        .await;
}
