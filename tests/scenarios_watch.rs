//! Registry watching, end to end: the real binary (`composectl run`), the real engine, a
//! throwaway local registry and the demo app. Each scenario runs 3 replicas of an image
//! from the registry under a canary that watches its tag (`x-rollout.watch`, checked every
//! second with `--watch-min-interval 1s`), then pushes another image under the same tag
//! (through the registry's `localhost` name, as CI would from elsewhere) and watches what
//! the engine runs. Nothing is ever committed: the compose file is written once.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    Daemon, EventRecorder, Registry, TestProject, creates, demo_image, docker, rollout_phase,
    run_cli, wait_until,
};
use serde_json::Value;

const SERVICE: &str = "app";

/// One scenario. Fields drop in order: the daemon stops, the project's containers go,
/// then the registry and the tags pulled from it.
struct Scenario {
    daemon: Daemon,
    project: TestProject,
    registry: Registry,
    /// `127.0.0.1:<port>/<project>/app:live`, the watched tag.
    reference: String,
    /// `<project>-bad:latest`, built by [`Scenario::bad_image`].
    bad: Option<String>,
}

impl Scenario {
    /// Pushes demo v1 as the watched tag, runs 3 replicas of it under a watching canary
    /// and waits until all are healthy.
    fn start(prefix: &str) -> Self {
        Self::start_with(prefix, "live", "{mode: digest, interval: 1s}", &[])
    }

    /// [`Self::start`] on tag `tag` watched by `watch`, with `extra` tags pushed first
    /// (`(tag, local image)`).
    fn start_with(prefix: &str, tag: &str, watch: &str, extra: &[(&str, String)]) -> Self {
        let v1 = demo_image("v1");
        demo_image("v2");
        let registry = Registry::start();
        let project = TestProject::new(prefix);
        let repository = format!("{}/app", project.name());
        for (extra_tag, local) in extra {
            let pushed = registry.push_from_elsewhere(local, &format!("{repository}:{extra_tag}"));
            registry.forget_on_drop(&pushed);
        }
        let reference = registry.push_from_elsewhere(&v1, &format!("{repository}:{tag}"));
        registry.forget_on_drop(&reference);
        let previous = format!("{}:previous", reference.rsplit_once(':').unwrap().0);
        registry.forget_on_drop(&previous);
        project.write_compose(&compose(&reference, watch));
        let mut daemon = Daemon::start(&project, &["--watch-min-interval", "1s"]);
        daemon.wait_ready();
        let scenario = Self {
            daemon,
            project,
            registry,
            reference,
            bad: None,
        };
        let v1 = image_id(&demo_image("v1"));
        scenario.wait_for("3 replicas healthy on v1", Duration::from_secs(90), &v1);
        scenario
    }

    fn target(&self) -> String {
        format!("{}/{SERVICE}", self.project.name())
    }

    /// Pushes `local_tag` under the watched tag.
    fn push(&self, local_tag: &str) {
        let name = self
            .reference
            .split_once('/')
            .map(|(_, name)| name.to_owned())
            .unwrap();
        self.registry.push_from_elsewhere(local_tag, &name);
    }

    /// Pushes `local_tag` as `tag` of the watched repository.
    fn push_tag(&self, tag: &str, local_tag: &str) {
        let repository = self
            .reference
            .split_once('/')
            .unwrap()
            .1
            .rsplit_once(':')
            .unwrap()
            .0;
        let pushed = self
            .registry
            .push_from_elsewhere(local_tag, &format!("{repository}:{tag}"));
        self.registry.forget_on_drop(&pushed);
    }

    /// Builds `<project>-bad:latest`: demo v2 whose health check fails.
    fn bad_image(&mut self) -> String {
        let tag = format!("{}-bad:latest", self.project.name());
        let dockerfile = format!("FROM {}\nENV HEALTH=fail\n", demo_image("v2"));
        let mut child = Command::new("docker")
            .args(["build", "-q", "-t", &tag, "-"])
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dockerfile.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker build of the bad image failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.bad = Some(tag.clone());
        tag
    }

    /// The running replicas: number -> (container ID, image ID, health).
    fn replicas(&self) -> BTreeMap<u32, (String, String, Option<String>)> {
        self.project
            .running()
            .into_iter()
            .filter(|c| c.label("com.docker.compose.service") == Some(SERVICE))
            .filter_map(|c| Some((c.number()?, (c.id, c.image_id, c.health))))
            .collect()
    }

    /// Waits until 3 replicas run `image_id`, healthy.
    /// The image reference each running container was created with.
    fn running_images(&self) -> Vec<String> {
        self.project
            .running()
            .into_iter()
            .map(|c| c.image)
            .collect()
    }

    fn wait_for(&self, what: &str, timeout: Duration, image_id: &str) {
        let mut seen = BTreeMap::new();
        let ok = wait_until(timeout, Duration::from_millis(250), || {
            seen = self.replicas();
            seen.len() == 3
                && seen
                    .values()
                    .all(|(_, id, health)| id == image_id && health.as_deref() == Some("healthy"))
        });
        assert!(
            ok,
            "not within {timeout:?}: {what}\nreplicas: {seen:#?}\nstatus: {}\ndaemon log:\n{}",
            run_cli(&["rollout", "status", "--json", &self.target()]).all(),
            self.daemon.log()
        );
    }

    fn wait_phase(&self, phase: &str, timeout: Duration) {
        let mut last = String::new();
        let ok = wait_until(timeout, Duration::from_millis(250), || {
            last = rollout_phase(&self.target());
            last == phase
        });
        assert!(
            ok,
            "the rollout is {last:?}, not {phase:?}, after {timeout:?}\ndaemon log:\n{}",
            self.daemon.log()
        );
    }

    /// `rollout history --json`'s revisions.
    fn history(&self) -> Vec<Value> {
        let run = run_cli(&["rollout", "history", "--json", &self.target()]);
        assert_eq!(run.code, Some(0), "rollout history failed: {}", run.all());
        let json: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        json["history"]["revisions"].as_array().cloned().unwrap()
    }

    /// The digest the registry serves for the watched tag.
    fn registry_digest(&self) -> String {
        let port = self.registry.host().rsplit_once(':').unwrap().1;
        let name = self.reference.split_once('/').unwrap().1;
        let (repo, tag) = name.rsplit_once(':').unwrap();
        let url = format!("http://127.0.0.1:{port}/v2/{repo}/manifests/{tag}");
        let out = Command::new("curl")
            .args([
                "-sfI",
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
                &url,
            ])
            .output()
            .unwrap();
        let headers = String::from_utf8_lossy(&out.stdout).to_string();
        headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("docker-content-digest")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no digest from {url}: {headers}"))
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Some(bad) = &self.bad {
            // By ID: the copy pulled from the registry (left untagged once a newer image
            // took the tag) goes too.
            if let Ok(id) = common::try_docker(&["image", "inspect", "--format", "{{.Id}}", bad]) {
                let _ = common::try_docker(&["rmi", "-f", id.trim()]);
            }
            let _ = common::try_docker(&["rmi", "-f", bad]);
        }
    }
}

/// The compose file: 3 replicas of `reference` under a canary of one replica then all,
/// watched for 2 s by the Docker health gate, following the registry as `watch` says.
fn compose(reference: &str, watch: &str) -> String {
    format!(
        "services:\n  {SERVICE}:\n    image: {reference}\n    deploy:\n      replicas: 3\n    \
         x-rollout:\n      strategy: canary\n      steps: [1, 100%]\n      monitor: 2s\n      \
         gates: [{{type: docker_health}}]\n      watch: {watch}\n"
    )
}

fn image_id(reference: &str) -> String {
    docker(&["image", "inspect", "--format", "{{.Id}}", reference])
        .trim()
        .to_owned()
}

#[test]
fn an_image_pushed_again_under_the_same_tag_rolls_out_through_the_canary_without_a_commit() {
    let scenario = Scenario::start("wa-digest");
    let recorder = EventRecorder::start(&scenario.project);
    scenario.push(&demo_image("v2"));
    let digest = scenario.registry_digest();
    let v2 = image_id(&demo_image("v2"));

    scenario.wait_for("3 replicas healthy on v2", Duration::from_secs(90), &v2);
    scenario.wait_phase("complete", Duration::from_secs(30));
    // Through the canary: replica 1 alone first, then the others.
    let events = recorder.events_until(common::now_nanos());
    let created: Vec<String> = creates(&events, scenario.project.name())
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(
        created.first(),
        Some(&format!("{}-{SERVICE}-1", scenario.project.name())),
        "replica 1 is the canary: {created:?}"
    );
    assert_eq!(created.len(), 3, "each replica replaced once: {created:?}");
    // The revision history records the digest; the log says old and new digest and why.
    let history = scenario.history();
    let new = history
        .iter()
        .find(|r| r["image_id"] == v2.as_str())
        .unwrap_or_else(|| panic!("no v2 revision in {history:#?}"));
    assert_eq!(new["digest"], digest.as_str(), "{new}");
    let status = common::rollout_status(&scenario.target());
    let watch = &status[0]["watch"];
    assert_eq!(watch["mode"], "digest", "{watch}");
    assert_eq!(watch["local_digest"], digest.as_str(), "{watch}");
    assert!(watch["last_check_ms"].as_i64().is_some(), "{watch}");
    let log = scenario.daemon.log();
    assert!(
        log.contains(&format!("-> {digest}")),
        "the log names the new digest {digest}:\n{log}"
    );
}

#[test]
fn a_bad_image_is_rolled_back_held_and_not_pulled_again_then_a_newer_good_one_rolls_out() {
    let mut scenario = Scenario::start("wa-bad");
    let v1 = image_id(&demo_image("v1"));
    let bad = scenario.bad_image();
    scenario.push(&bad);

    scenario.wait_phase("rolled_back", Duration::from_secs(90));
    scenario.wait_for("3 replicas back on v1", Duration::from_secs(60), &v1);
    let pulls = |s: &Scenario| s.daemon.log_count("is a new image (digest");
    assert_eq!(pulls(&scenario), 1, "{}", scenario.daemon.log());
    // Held: several checks later nothing was pulled or created, the same containers run.
    let recorder = EventRecorder::start(&scenario.project);
    let before = scenario.replicas();
    std::thread::sleep(Duration::from_secs(6));
    let events = recorder.events_until(common::now_nanos());
    assert!(
        creates(&events, scenario.project.name()).is_empty(),
        "the held image was tried again:\n{}",
        scenario.daemon.log()
    );
    assert_eq!(scenario.replicas(), before, "the same containers run");
    assert_eq!(
        pulls(&scenario),
        1,
        "pulled once: {}",
        scenario.daemon.log()
    );
    assert_eq!(rollout_phase(&scenario.target()), "rolled_back");

    // A newer good image rolls out.
    scenario.push(&demo_image("v2"));
    let v2 = image_id(&demo_image("v2"));
    scenario.wait_for("3 replicas healthy on v2", Duration::from_secs(90), &v2);
    scenario.wait_phase("complete", Duration::from_secs(30));
}

#[test]
fn a_registry_that_is_down_changes_nothing_and_the_failure_names_it() {
    let scenario = Scenario::start("wa-down");
    let before = scenario.replicas();
    docker(&["stop", scenario.registry.id()]);
    let host = scenario.registry.host().to_owned();
    let mut daemon_log = String::new();
    let named = wait_until(Duration::from_secs(20), Duration::from_millis(250), || {
        daemon_log = scenario.daemon.log();
        daemon_log.contains(&format!("registry {host}: cannot read"))
    });
    assert!(
        named,
        "the failure names the registry {host}:\n{daemon_log}"
    );
    // `plan` checks the registry once too, and says so.
    let desired = scenario.project.dir().display().to_string();
    let plan = run_cli(&["plan", "--desired", &desired]);
    assert!(
        plan.stdout.contains(&format!(
            "note: {}: registry check failed: registry {host}: cannot read",
            scenario.target()
        )),
        "{}",
        plan.all()
    );
    std::thread::sleep(Duration::from_secs(3));
    // `rollout status` shows the failed check, naming the registry.
    let mut watch = Value::Null;
    let shown = wait_until(Duration::from_secs(10), Duration::from_millis(250), || {
        let all = common::rollout_status(&scenario.target());
        watch = all.first().map(|s| s["watch"].clone()).unwrap_or_default();
        watch["error"]
            .as_str()
            .is_some_and(|e| e.starts_with(&format!("registry {host}: cannot read")))
    });
    assert!(shown, "rollout status names the failure: {watch}");
    let text = run_cli(&["rollout", "status", &scenario.target()]).stdout;
    assert!(
        text.contains(&format!("failed: registry {host}")),
        "the status text shows the failed check:\n{text}"
    );
    assert_eq!(scenario.replicas(), before, "nothing changed");
}

#[test]
fn semver_moves_1_2_3_to_1_2_4_ignoring_1_1_9_and_2_0_0_rc1() {
    let extra = [("1.1.9", demo_image("v2")), ("2.0.0-rc1", demo_image("v2"))];
    let mut scenario = Scenario::start_with(
        "wa-semver",
        "1.2.3",
        r"{mode: semver, interval: 1s, pattern: '^\d+\.\d+\.\d+(-.*)?$'}",
        &extra,
    );
    let v1 = image_id(&demo_image("v1"));
    // Nothing newer that the rules allow: several checks later, 1.2.3 still runs.
    std::thread::sleep(Duration::from_secs(4));
    let images = scenario.running_images();
    assert!(
        images.iter().all(|i| i.ends_with(":1.2.3")),
        "1.1.9 is older and 2.0.0-rc1 a pre-release: {images:?}\n{}",
        scenario.daemon.log()
    );
    scenario.wait_for("still 3 replicas on v1", Duration::from_secs(5), &v1);

    scenario.push_tag("1.2.4", &demo_image("v2"));
    let v2 = image_id(&demo_image("v2"));
    scenario.wait_for("3 replicas healthy on 1.2.4", Duration::from_secs(90), &v2);
    scenario.wait_phase("complete", Duration::from_secs(30));
    let images = scenario.running_images();
    assert!(
        images.iter().all(|i| i.ends_with(":1.2.4")),
        "every replica runs the 1.2.4 tag: {images:?}"
    );

    // A restarted daemon keeps the chosen tag (the state directory has it): nothing moves
    // back to the 1.2.3 the compose file names.
    let before = scenario.replicas();
    let pid = scenario.daemon.pid().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let stopped = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        scenario.daemon.has_exited()
    });
    assert!(stopped, "the daemon did not stop on SIGTERM");
    scenario.daemon = Daemon::start(&scenario.project, &["--watch-min-interval", "1s"]);
    scenario.daemon.wait_ready();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        scenario.replicas(),
        before,
        "the same containers run after a restart:\n{}",
        scenario.daemon.log()
    );
}
