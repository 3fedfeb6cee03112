//! Images built from the desired directory, end to end: the real binary (`composectl
//! run`), the real engine's build endpoint, contexts written the way `git pull` writes
//! them. A service with `build:` is built when no image carries its inputs' hash, a
//! changed Dockerfile rolls out through the service's canary like any new image, a build
//! that fails keeps the running revision and reports its step without retrying, and a
//! restart of composectl over unchanged inputs builds nothing.
//!
//! The contexts build `FROM` the locally built demo image (no registry), adding an `ENV`
//! that changes what the replicas report; `RUN` fails in that image (it has no shell),
//! which makes a build that fails at a known step.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    ContainerInfo, Daemon, TestProject, demo_image, free_port, project_status, rollout_status,
    run_cli, stays_unchanged, try_docker, wait_until,
};
use serde_json::Value;

const SERVICE: &str = "app";
const REPLICAS: usize = 2;

/// The project: two replicas of `app` built from `./app`, healthy per the demo's own
/// check, rolled out as a canary of one replica then the rest, gated on Docker's health.
fn compose() -> String {
    format!(
        "services:\n  {SERVICE}:\n    build: ./app\n    restart: \"no\"\n    stop_grace_period: 2s\n    \
         healthcheck:\n      test: [\"CMD\", \"/demo-app\", \"healthcheck\"]\n      interval: 1s\n      \
         timeout: 2s\n      retries: 2\n      start_period: 5s\n    \
         deploy:\n      replicas: {REPLICAS}\n    \
         x-rollout:\n      strategy: canary\n      steps: [1, \"100%\"]\n      monitor: 2s\n      \
         gates: [{{type: docker_health}}]\n"
    )
}

/// A Dockerfile over the demo image whose replicas report `version`.
fn dockerfile(version: &str) -> String {
    format!("FROM {}\nENV VERSION={version}\n", demo_image("v1"))
}

struct Scenario {
    daemon: Daemon,
    addr: SocketAddr,
    project: TestProject,
}

impl Scenario {
    fn start(prefix: &str) -> Self {
        let project = TestProject::new(prefix);
        project.write(
            &format!("{}/app/Dockerfile", project.name()),
            &dockerfile("b1"),
        );
        project.write(&format!("{}/app/notes.txt", project.name()), "first\n");
        project.write_compose(&compose());
        let (daemon, addr) = start_daemon(&project);
        Self {
            daemon,
            addr,
            project,
        }
    }

    fn image(&self) -> String {
        format!("{}-{SERVICE}", self.project.name())
    }

    fn target(&self) -> String {
        format!("{}/{SERVICE}", self.project.name())
    }

    /// Waits until both replicas run `image_id` and are healthy; returns them.
    fn wait_all_on(&self, image_id: &str, timeout: Duration) -> Vec<ContainerInfo> {
        let mut last = Vec::new();
        let ok = wait_until(timeout, Duration::from_millis(250), || {
            last = self.project.running();
            last.len() == REPLICAS
                && last
                    .iter()
                    .all(|c| c.image_id == image_id && c.health.as_deref() == Some("healthy"))
        });
        assert!(
            ok,
            "the replicas did not all run {image_id} healthy within {timeout:?}: {last:#?}\n---- daemon log ----\n{}",
            self.daemon.log()
        );
        last
    }

    /// The ID of the image under the service's name, once it carries a build hash other
    /// than `not`.
    fn wait_built(&self, not: Option<&str>, timeout: Duration) -> (String, String) {
        let mut found = None;
        let ok = wait_until(timeout, Duration::from_millis(250), || {
            found = image_and_hash(&self.image()).filter(|(_, hash)| Some(hash.as_str()) != not);
            found.is_some()
        });
        assert!(
            ok,
            "no new image {} was built within {timeout:?}\n---- daemon log ----\n{}",
            self.image(),
            self.daemon.log()
        );
        found.unwrap()
    }

    fn service_status(&self) -> Value {
        let project = project_status(self.addr, self.project.name()).expect("project status");
        project["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == SERVICE)
            .cloned()
            .unwrap()
    }
}

fn start_daemon(project: &TestProject) -> (Daemon, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let listen = addr.to_string();
    let mut daemon = Daemon::start(project, &["--listen", listen.as_str()]);
    daemon.wait_ready();
    (daemon, addr)
}

/// The image ID and build hash of `image`, if it exists and carries one.
fn image_and_hash(image: &str) -> Option<(String, String)> {
    let out = try_docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{index .Config.Labels \"io.composectl.build-hash\"}}",
        image,
    ])
    .ok()?;
    let (id, hash) = out.trim().split_once(' ')?;
    (!hash.is_empty() && hash != "<no value>").then(|| (id.to_owned(), hash.to_owned()))
}

#[test]
fn a_changed_dockerfile_rolls_out_as_a_canary_and_a_failed_build_keeps_the_running_revision() {
    let s = Scenario::start("sc-build");
    let (first_id, first_hash) = s.wait_built(None, Duration::from_secs(120));
    s.wait_all_on(&first_id, Duration::from_secs(90));
    assert_eq!(
        s.daemon.log_count("building image"),
        1,
        "{}",
        s.daemon.log()
    );

    // A new commit changes the Dockerfile: a new image, rolled out as a canary.
    let dir = s.project.name().to_owned();
    s.project
        .write(&format!("{dir}/app/Dockerfile"), &dockerfile("b2"));
    let (second_id, second_hash) = s.wait_built(Some(&first_hash), Duration::from_secs(120));
    assert_ne!(second_id, first_id);
    s.wait_all_on(&second_id, Duration::from_secs(120));
    let mut rollout = Vec::new();
    let complete = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        rollout = rollout_status(&s.target());
        rollout[0]["phase"] == "complete"
    });
    assert!(complete, "{rollout:#?}");
    assert_eq!(rollout[0]["strategy"], "canary", "{rollout:#?}");
    let history = run_cli(&["rollout", "history", "--json", &s.target()]);
    let history: Value = serde_json::from_str(history.stdout.trim()).unwrap();
    let revisions = history["history"]["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "{history:#?}");
    assert_eq!(revisions[1]["image_id"], second_id.as_str());
    assert!(
        s.daemon.log().contains("context changed: Dockerfile"),
        "the build's reason names the file: {}",
        s.daemon.log()
    );

    // A commit that breaks the build: the running revision stays, the step is reported,
    // and the same inputs are not built again.
    let builds_before = s.daemon.log_count("building image");
    s.project.write(
        &format!("{dir}/app/Dockerfile"),
        &format!("{}RUN false\n", dockerfile("b3")),
    );
    let mut failure = Value::Null;
    let reported = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        failure = s.service_status()["build_failure"].clone();
        !failure.is_null()
    });
    assert!(reported, "no build failure in /status\n{}", s.daemon.log());
    let step = failure["step"].as_str().unwrap_or_default();
    assert!(step.contains("RUN false"), "{failure:#}");
    assert!(
        failure["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{failure:#}"
    );
    let running = s.project.running();
    assert!(
        stays_unchanged(Duration::from_secs(6), || {
            s.project.running().iter().any(|c| c.image_id != second_id)
                || s.daemon.log_count("building image") != builds_before + 1
        }),
        "the failed inputs were built again or the replicas changed: {running:#?}\n{}",
        s.daemon.log()
    );
    assert_eq!(
        image_and_hash(&s.image()).map(|(id, _)| id),
        Some(second_id.clone()),
        "the tag still names the running image"
    );
    let plan = s.project.cli(&["plan"]);
    assert!(
        plan.all().contains("rollout rebuild"),
        "plan says how to retry: {}",
        plan.all()
    );

    // The fix is committed: back to the inputs of the running image. No build, nothing
    // replaced, the failure forgotten; and a restart over those inputs builds nothing.
    s.project
        .write(&format!("{dir}/app/Dockerfile"), &dockerfile("b2"));
    let cleared = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        s.service_status()["build_failure"].is_null()
    });
    assert!(
        cleared,
        "the failure stays after the fix\n{}",
        s.daemon.log()
    );
    let ids: Vec<String> = s.project.running().iter().map(|c| c.id.clone()).collect();
    let Scenario {
        daemon, project, ..
    } = s;
    drop(daemon);
    let (daemon, addr) = start_daemon(&project);
    let s = Scenario {
        daemon,
        addr,
        project,
    };
    assert!(
        stays_unchanged(Duration::from_secs(6), || {
            s.project
                .running()
                .iter()
                .map(|c| c.id.clone())
                .collect::<Vec<_>>()
                != ids
        }),
        "a restart over unchanged inputs changed the replicas\n{}",
        s.daemon.log()
    );
    assert_eq!(
        s.daemon.log_count("building image"),
        0,
        "a restart over unchanged inputs built: {}",
        s.daemon.log()
    );
    assert_eq!(image_and_hash(&s.image()), Some((second_id, second_hash)));
}
