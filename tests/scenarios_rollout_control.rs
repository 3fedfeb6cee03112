//! End-to-end scenarios of rollout control and crash safety against the real engine and
//! the real binary: `kill -9` of the controller in the middle of a stop-first canary and of
//! a start-first rolling update (never two canaries, never fewer replicas serving than the
//! order allows, no duplicate left behind), and `rollout pause`, `resume`, `promote`,
//! `abort` and `undo`, each changing what runs as it says. The docker CLI is the oracle;
//! `rollout status --json` says where the controller thinks it is.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    Availability, ContainerInfo, Daemon, Sample, TestImages, TestProject, run_cli, stays_unchanged,
    wait_until,
};
use serde_json::Value;

const SERVICE: &str = "app";
const REPLICAS: usize = 3;

/// The service `app` on `image`, with `extra` lines (indented by four spaces) under it.
fn compose(image: &str, extra: &str) -> String {
    format!(
        "services:\n  {SERVICE}:\n    image: {image}\n    restart: \"no\"\n    stop_grace_period: 2s\n{extra}"
    )
}

/// Three replicas rolled out as a canary of one replica, then the rest.
fn canary(monitor: &str, promotion: &str) -> String {
    format!(
        "    deploy:\n      replicas: {REPLICAS}\n    x-rollout:\n      strategy: canary\n      steps: [1, \"100%\"]\n      monitor: {monitor}\n      promotion: {promotion}\n"
    )
}

/// Three replicas rolled out one at a time, start-first (compose's `update_config`).
fn rolling_start_first(monitor: &str) -> String {
    format!(
        "    deploy:\n      replicas: {REPLICAS}\n      update_config:\n        parallelism: 1\n        order: start-first\n        monitor: {monitor}\n"
    )
}

fn target(project: &TestProject) -> String {
    format!("{}/{SERVICE}", project.name())
}

/// The status of `target`'s rollout, or `None` while no controller answers.
fn try_status(target: &str) -> Option<Value> {
    let run = run_cli(&["rollout", "status", "--json", target]);
    if run.code != Some(0) {
        return None;
    }
    let json: Value = serde_json::from_str(run.stdout.trim()).ok()?;
    json["services"].as_array()?.first().cloned()
}

/// Polls the status of `target` until `done` holds; panics after `timeout` with the last
/// status and the daemon's log.
fn wait_status(
    daemon: &Daemon,
    target: &str,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let mut last = None;
    let ok = wait_until(timeout, Duration::from_millis(250), || {
        last = try_status(target);
        last.as_ref().is_some_and(&mut done)
    });
    assert!(
        ok,
        "{what}: not reached within {timeout:?}; last status {last:#?}\n---- daemon log ----\n{}",
        daemon.log()
    );
    last.unwrap()
}

fn phase(status: &Value) -> &str {
    status["phase"].as_str().unwrap_or("none")
}

/// Waits until the rollout of `target` is in `want`.
fn wait_phase(daemon: &Daemon, target: &str, want: &str, timeout: Duration) -> Value {
    wait_status(daemon, target, &format!("phase {want}"), timeout, |s| {
        phase(s) == want
    })
}

/// Runs `composectl rollout <verb> <target>` and asserts it succeeded.
fn control(daemon: &Daemon, verb: &str, target: &str) -> String {
    let run = run_cli(&["rollout", verb, target]);
    assert_eq!(
        run.code,
        Some(0),
        "rollout {verb} failed: {}\n---- daemon log ----\n{}",
        run.all(),
        daemon.log()
    );
    run.all()
}

fn short(containers: &[ContainerInfo]) -> Vec<String> {
    containers
        .iter()
        .map(|c| {
            format!(
                "{} {} {:?} {} {}",
                c.name,
                c.state,
                c.health,
                c.image,
                &c.image_id[7..19]
            )
        })
        .collect()
}

/// Whether `project` holds exactly replicas `1..=REPLICAS` of the service, each running,
/// healthy and on `image_id`, and nothing else.
fn all_on(project: &TestProject, image_id: &str) -> bool {
    let containers = project.containers();
    let names: Vec<String> = (1..=REPLICAS)
        .map(|n| format!("{}-{SERVICE}-{n}", project.name()))
        .collect();
    containers.len() == REPLICAS
        && containers.iter().zip(&names).all(|(c, name)| {
            c.name == *name
                && c.state == "running"
                && c.health.as_deref() == Some("healthy")
                && c.image_id == image_id
        })
}

/// Waits until [`all_on`] holds; panics with what runs and the daemon's log.
fn wait_all_on(daemon: &Daemon, project: &TestProject, image_id: &str, timeout: Duration) {
    let ok = wait_until(timeout, Duration::from_millis(250), || {
        all_on(project, image_id)
    });
    assert!(
        ok,
        "not every replica runs healthy on {image_id} within {timeout:?}: {:#?}\n---- daemon log ----\n{}",
        short(&project.containers()),
        daemon.log()
    );
}

/// Replica number -> image ID of the service's containers.
fn images_by_replica(project: &TestProject) -> BTreeMap<String, String> {
    project
        .containers()
        .into_iter()
        .map(|c| (c.name, c.image_id))
        .collect()
}

/// The name of replica `n` of the service.
fn replica_name(project: &TestProject, n: u32) -> String {
    format!("{}-{SERVICE}-{n}", project.name())
}

/// Asserts that replicas 2 and 3 still run the containers they ran in `before`.
fn assert_2_and_3_untouched(project: &TestProject, before: &BTreeMap<String, String>) {
    let now = ids(project);
    for n in [2, 3] {
        let name = replica_name(project, n);
        assert_eq!(
            now.get(&name),
            before.get(&name),
            "replica {n} was replaced"
        );
    }
}

/// Container name -> ID.
fn ids(project: &TestProject) -> BTreeMap<String, String> {
    project
        .containers()
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect()
}

/// Asserts that for `period` no container of `project` is replaced and (when `phase_held`
/// names one) the rollout stays in that phase; `what` says what moving would mean.
fn assert_held(
    daemon: &Daemon,
    project: &TestProject,
    phase_held: Option<&str>,
    period: Duration,
    what: &str,
) {
    let target = target(project);
    let held = ids(project);
    let mut last = None;
    let kept = stays_unchanged(period, || {
        last = phase_held.and_then(|_| try_status(&target));
        ids(project) != held || last.as_ref().is_some_and(|s| Some(phase(s)) != phase_held)
    });
    assert!(
        kept,
        "{what}: {:#?} status {last:#?}\n{}",
        short(&project.containers()),
        daemon.log()
    );
}

/// What every test starts from: the project on v1 with `extra`, converged by a fresh
/// daemon.
struct Setup {
    started: Instant,
    project: TestProject,
    images: TestImages,
    v1: String,
    v2: String,
    target: String,
    extra: String,
    daemon: Daemon,
}

impl Setup {
    fn deploy(prefix: &str, extra: String) -> Self {
        let started = Instant::now();
        let project = TestProject::new(prefix);
        let images = TestImages::new(&project);
        let (v1, v2) = ids_of(&images);
        let target = target(&project);
        let daemon = deploy_v1(&project, &images, &extra);
        Self {
            started,
            project,
            images,
            v1,
            v2,
            target,
            extra,
            daemon,
        }
    }
}

/// The project on v1 with `extra`, converged by a fresh daemon: every replica healthy.
fn deploy_v1(project: &TestProject, images: &TestImages, extra: &str) -> Daemon {
    project.write_compose(&compose(&images.image("v1"), extra));
    let mut daemon = Daemon::start(project, &[]);
    daemon.wait_ready();
    let v1 = images.id_of("v1").expect("the v1 tag");
    wait_all_on(&daemon, project, &v1, Duration::from_secs(90));
    daemon
}

fn ids_of(images: &TestImages) -> (String, String) {
    (
        images.id_of("v1").expect("the v1 tag"),
        images.id_of("v2").expect("the v2 tag"),
    )
}

/// The lowest `serving` count of `samples`, with when it happened.
fn min_serving(samples: &[Sample]) -> (usize, Duration) {
    samples
        .iter()
        .map(|s| (s.serving, s.at))
        .min()
        .expect("at least one sample")
}

/// When the first sample with at least `n` containers on the new image was taken.
fn first_with_new(samples: &[Sample], n: usize) -> Option<Duration> {
    samples.iter().find(|s| s.on_new >= n).map(|s| s.at)
}

/// A compact timeline of the samples where something changed, for failure messages.
fn timeline(samples: &[Sample]) -> String {
    let mut out = Vec::new();
    let mut last = None;
    for s in samples {
        let key = (s.serving, s.containers, s.on_new);
        if last != Some(key) {
            out.push(format!(
                "{:>6.1}s serving {} containers {} on_new {}",
                s.at.as_secs_f64(),
                s.serving,
                s.containers,
                s.on_new
            ));
            last = Some(key);
        }
    }
    out.join("\n")
}

#[test]
fn stop_first_canary_survives_kill_9_in_its_window() {
    let Setup {
        started,
        project,
        images,
        v1: _,
        v2,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-kill-canary", canary("8s", "auto"));

    let availability = Availability::start(&project, SERVICE, &images.image("v2"));
    std::thread::sleep(Duration::from_millis(500));
    project.write_compose(&compose(&images.image("v2"), &extra));
    // In step 1's window, with time left in it.
    let status = wait_status(
        &daemon,
        &target,
        "step 1's window open",
        Duration::from_secs(60),
        |s| {
            phase(s) == "progressing"
                && s["step"] == 1
                && s["window_left_ms"].as_u64().is_some_and(|ms| ms > 3000)
        },
    );
    eprintln!("killing the daemon in step 1's window: {status}");
    daemon.kill();
    let on_v2 = project
        .containers()
        .iter()
        .filter(|c| c.image_id == v2)
        .count();
    assert_eq!(on_v2, 1, "one canary when the daemon died");
    std::thread::sleep(Duration::from_secs(1));

    let mut daemon = Daemon::start(&project, &[]);
    daemon.wait_ready();
    let status = wait_phase(&daemon, &target, "complete", Duration::from_secs(120));
    wait_all_on(&daemon, &project, &v2, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let samples = availability.stop();
    let timeline = timeline(&samples);
    eprintln!("availability:\n{timeline}");

    assert_eq!(status["revision"], 2, "{status}");
    assert_eq!(status["updated"], 3, "{status}");
    let (lowest, at) = min_serving(&samples);
    assert!(
        lowest >= REPLICAS - 1,
        "only {lowest} replicas served at {at:?}:\n{timeline}"
    );
    let most = samples.iter().map(|s| s.containers).max().unwrap();
    assert!(
        most <= REPLICAS,
        "{most} containers at once (a duplicate):\n{timeline}"
    );
    let first = first_with_new(&samples, 1).expect("a canary was seen");
    let second = first_with_new(&samples, 2).expect("a second replica on v2 was seen");
    // The canary must have served its whole 8 s window (across the restart) before a
    // second replica moved: never two canaries.
    assert!(
        second.saturating_sub(first) >= Duration::from_secs(8),
        "the second replica moved {:?} after the canary appeared:\n{timeline}",
        second.saturating_sub(first)
    );
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn start_first_update_survives_kill_9_at_full_capacity() {
    let Setup {
        started,
        project,
        images,
        v1: _,
        v2,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-kill-startfirst", rolling_start_first("3s"));

    let availability = Availability::start(&project, SERVICE, &images.image("v2"));
    std::thread::sleep(Duration::from_millis(500));
    project.write_compose(&compose(&images.image("v2"), &extra));
    // Kill it while a replacement is in flight: the new container of replica 2 runs under
    // its temporary name beside the old one.
    let mut seen = Vec::new();
    let in_flight = wait_until(Duration::from_secs(90), Duration::from_millis(50), || {
        seen = project.containers();
        seen.iter()
            .any(|c| c.name.contains(&format!("-{SERVICE}-2-next-")))
    });
    assert!(
        in_flight,
        "no start-first replacement of replica 2 seen: {:#?}\n{}",
        short(&seen),
        daemon.log()
    );
    daemon.kill();
    eprintln!(
        "killed the daemon mid-replacement: {:#?}",
        short(&project.containers())
    );
    std::thread::sleep(Duration::from_secs(1));

    let mut daemon = Daemon::start(&project, &[]);
    daemon.wait_ready();
    let status = wait_phase(&daemon, &target, "complete", Duration::from_secs(120));
    wait_all_on(&daemon, &project, &v2, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let samples = availability.stop();
    let timeline = timeline(&samples);
    eprintln!("availability:\n{timeline}");

    assert_eq!(status["updated"], 3, "{status}");
    let (lowest, at) = min_serving(&samples);
    assert!(
        lowest >= REPLICAS,
        "only {lowest} replicas served at {at:?}:\n{timeline}"
    );
    // No leftover: exactly the three replica names (checked by all_on), and no stray
    // container once it settled.
    let settled = stays_unchanged(Duration::from_secs(4), || !all_on(&project, &v2));
    assert!(
        settled,
        "it did not stay settled: {:#?}",
        short(&project.containers())
    );
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn pause_holds_a_canary_and_resume_completes_it() {
    let Setup {
        started,
        project,
        images,
        v1,
        v2,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-pause", canary("4s", "auto"));

    project.write_compose(&compose(&images.image("v2"), &extra));
    wait_status(
        &daemon,
        &target,
        "step 1's window open",
        Duration::from_secs(60),
        |s| phase(s) == "progressing" && s["window_left_ms"].as_u64().is_some(),
    );
    control(&daemon, "pause", &target);
    let status = wait_phase(&daemon, &target, "paused", Duration::from_secs(10));
    assert_eq!(status["step"], 1, "{status}");
    let images_held = images_by_replica(&project);
    assert_eq!(
        images_held.values().filter(|id| **id == v2).count(),
        1,
        "one canary when paused: {images_held:?}"
    );
    // Well past the 4 s window: nothing moves, and it stays paused.
    assert_held(
        &daemon,
        &project,
        Some("paused"),
        Duration::from_secs(10),
        "a paused rollout moved",
    );

    control(&daemon, "resume", &target);
    wait_phase(&daemon, &target, "complete", Duration::from_secs(90));
    wait_all_on(&daemon, &project, &v2, Duration::from_secs(60));
    assert_eq!(images.id_of("previous").as_deref(), Some(v1.as_str()));
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn manual_promotion_waits_and_promote_moves_the_rest() {
    let Setup {
        started,
        project,
        images,
        v1,
        v2,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-promote", canary("3s", "manual"));

    project.write_compose(&compose(&images.image("v2"), &extra));
    let status = wait_phase(
        &daemon,
        &target,
        "awaiting_promotion",
        Duration::from_secs(60),
    );
    assert_eq!(status["step"], 1, "{status}");
    let replica = |n: u32| replica_name(&project, n);
    let by_replica = images_by_replica(&project);
    let expected: BTreeMap<String, String> = [
        (replica(1), v2.clone()),
        (replica(2), v1.clone()),
        (replica(3), v1.clone()),
    ]
    .into();
    assert_eq!(by_replica, expected, "only replica 1 on v2 after step 1");
    // It waits for the promotion, not for time.
    let held = ids(&project);
    assert_held(
        &daemon,
        &project,
        Some("awaiting_promotion"),
        Duration::from_secs(6),
        "it moved without `rollout promote`",
    );

    control(&daemon, "promote", &target);
    let status = wait_phase(&daemon, &target, "complete", Duration::from_secs(90));
    assert_eq!(status["updated"], 3, "{status}");
    wait_all_on(&daemon, &project, &v2, Duration::from_secs(60));
    assert_eq!(
        ids(&project)[&replica(1)],
        held[&replica(1)],
        "promote replaced the canary itself"
    );
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn abort_reverts_to_previous_and_is_not_retried() {
    let Setup {
        started,
        project,
        images,
        v1,
        v2: _,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-abort", canary("60s", "auto"));
    let before = ids(&project);

    project.write_compose(&compose(&images.image("v2"), &extra));
    wait_status(
        &daemon,
        &target,
        "step 1's window open",
        Duration::from_secs(60),
        |s| phase(s) == "progressing" && s["window_left_ms"].as_u64().is_some(),
    );
    control(&daemon, "abort", &target);
    let status = wait_phase(&daemon, &target, "aborted", Duration::from_secs(60));
    assert_eq!(status["updated"], 0, "{status}");
    wait_all_on(&daemon, &project, &v1, Duration::from_secs(60));
    assert_eq!(
        images.id_of("previous").as_deref(),
        Some(v1.as_str()),
        ":previous is v1"
    );
    // The canary was put back on `:previous`; the others never moved.
    let previous = images.image("previous");
    let replica = |n: u32| replica_name(&project, n);
    let containers = project.containers();
    let canary = containers.iter().find(|c| c.name == replica(1)).unwrap();
    assert_eq!(canary.image, previous, "{:#?}", short(&containers));
    assert_2_and_3_untouched(&project, &before);

    // The desired state still says v2: several resyncs (2 s) pass and nothing moves.
    assert_held(
        &daemon,
        &project,
        Some("aborted"),
        Duration::from_secs(8),
        "the aborted revision was retried",
    );
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn undo_rolls_back_until_the_desired_state_changes() {
    let Setup {
        started,
        project,
        images,
        v1,
        v2,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-undo", canary("2s", "auto"));

    project.write_compose(&compose(&images.image("v2"), &extra));
    wait_phase(&daemon, &target, "complete", Duration::from_secs(90));
    wait_all_on(&daemon, &project, &v2, Duration::from_secs(60));

    let out = control(&daemon, "undo", &target);
    eprintln!("undo: {out}");
    let status = wait_phase(&daemon, &target, "rolled_back", Duration::from_secs(90));
    wait_all_on(&daemon, &project, &v1, Duration::from_secs(60));
    assert_eq!(status["revision"], 2, "{status}");
    assert_eq!(status["previous_revision"], 1, "{status}");
    assert_eq!(images.id_of("previous").as_deref(), Some(v1.as_str()));

    let run = run_cli(&["rollout", "history", "--json", &target]);
    assert_eq!(run.code, Some(0), "rollout history failed: {}", run.all());
    let history: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("rollout history printed no JSON ({e}): {}", run.all()));
    let revisions = history["history"]["revisions"]
        .as_array()
        .unwrap_or_else(|| panic!("no revisions in {history:#}"));
    let listed: Vec<(u64, String, bool)> = revisions
        .iter()
        .map(|r| {
            (
                r["number"].as_u64().unwrap_or_default(),
                r["image_id"].as_str().unwrap_or_default().to_owned(),
                r["current"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![(1, v1.clone(), true), (2, v2.clone(), false)],
        "{history:#}"
    );

    // Held on v1 while the desired state is unchanged.
    assert_held(
        &daemon,
        &project,
        None,
        Duration::from_secs(6),
        "the undone revision was retried",
    );

    // A new desired state (v2 with another environment) ends the hold: a new rollout.
    let changed = format!("{extra}    environment:\n      GREETING: again\n");
    project.write_compose(&compose(&images.image("v2"), &changed));
    let status = wait_status(
        &daemon,
        &target,
        "a new rollout completes",
        Duration::from_secs(90),
        |s| phase(s) == "complete" && s["revision"] == 3,
    );
    assert_eq!(status["updated"], 3, "{status}");
    wait_all_on(&daemon, &project, &v2, Duration::from_secs(60));
    let containers = project.containers();
    for c in &containers {
        let env = common::docker(&["inspect", "--format", "{{json .Config.Env}}", &c.id]);
        assert!(env.contains("GREETING=again"), "{}: {env}", c.name);
    }
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn plan_says_a_rollout_service_is_replaced_step_by_step() {
    let project = TestProject::new("rc-plan");
    let images = TestImages::new(&project);
    let extra = canary("5s", "auto");
    project.write_compose(&compose(&images.image("v1"), &extra));
    let dir = project.dir().display().to_string();
    let applied = run_cli(&["apply", "--once", "--desired", &dir]);
    assert_eq!(applied.code, Some(0), "{}", applied.all());
    project.write_compose(&compose(&images.image("v2"), &extra));
    let planned = run_cli(&["plan", "--desired", &dir]);
    assert_eq!(planned.code, Some(2), "{}", planned.all());
    let note = format!(
        "note: {} rolls out by its canary strategy",
        target(&project)
    );
    assert!(planned.stdout.contains(&note), "{}", planned.all());
    // Planning changed nothing: the first deploy is still what runs.
    let v1 = images.id_of("v1").unwrap();
    let containers = project.containers();
    assert_eq!(containers.len(), REPLICAS, "{:#?}", short(&containers));
    assert!(
        containers.iter().all(|c| c.image_id == v1),
        "{:#?}",
        short(&containers)
    );
}

/// compose's own `update_config`, which plain `docker compose` ignores off Swarm: one
/// replica at a time, and a failure rolls back.
fn rolling_with_rollback() -> String {
    format!(
        "    deploy:\n      replicas: {REPLICAS}\n      update_config:\n        parallelism: 1\n        monitor: 2s\n        failure_action: rollback\n"
    )
}

#[test]
fn update_config_failure_action_rollback_puts_the_first_replica_back() {
    let Setup {
        started,
        project,
        images,
        v1,
        v2: _,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-rolling-fail", rolling_with_rollback());
    let before = ids(&project);

    let sick = format!("{extra}    environment:\n      HEALTH: fail\n");
    project.write_compose(&compose(&images.image("v2"), &sick));
    let status = wait_phase(&daemon, &target, "rolled_back", Duration::from_secs(90));
    assert_eq!(status["strategy"], "rolling", "{status}");
    wait_all_on(&daemon, &project, &v1, Duration::from_secs(60));
    assert_eq!(images.id_of("previous").as_deref(), Some(v1.as_str()));
    assert_2_and_3_untouched(&project, &before);
    assert_held(
        &daemon,
        &project,
        Some("rolled_back"),
        Duration::from_secs(6),
        "the failed revision was retried",
    );
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn recreate_replaces_every_replica_and_rolls_them_all_back_on_a_failure() {
    let recreate = format!(
        "    deploy:\n      replicas: {REPLICAS}\n    x-rollout:\n      strategy: recreate\n"
    );
    let Setup {
        started,
        project,
        images,
        v1,
        v2,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-recreate", recreate);

    project.write_compose(&compose(&images.image("v2"), &extra));
    let status = wait_phase(&daemon, &target, "complete", Duration::from_secs(90));
    assert_eq!(status["strategy"], "recreate", "{status}");
    wait_all_on(&daemon, &project, &v2, Duration::from_secs(60));

    let sick = format!("{extra}    environment:\n      HEALTH: fail\n");
    project.write_compose(&compose(&images.image("v1"), &sick));
    wait_phase(&daemon, &target, "rolled_back", Duration::from_secs(90));
    wait_all_on(&daemon, &project, &v2, Duration::from_secs(60));
    assert_eq!(
        images.id_of("previous").as_deref(),
        Some(v2.as_str()),
        ":previous is the revision that ran before: v2"
    );
    assert_ne!(v1, v2);
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn failure_action_pause_holds_and_resume_carries_on_one_batch() {
    let pausing = format!(
        "    deploy:\n      replicas: {REPLICAS}\n      update_config:\n        parallelism: 1\n        monitor: 2s\n        failure_action: pause\n"
    );
    let Setup {
        started,
        project,
        images,
        v1,
        v2,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-failpause", pausing);
    let replica = |n: u32| replica_name(&project, n);
    let before = ids(&project);

    let sick = format!("{extra}    environment:\n      HEALTH: fail\n");
    project.write_compose(&compose(&images.image("v2"), &sick));
    let status = wait_phase(&daemon, &target, "paused", Duration::from_secs(90));
    let reason = status["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("replica 1 failed"), "{status}");
    assert_eq!(status["step"], 1, "{status}");
    // Held: replicas 2 and 3 stay on v1 (replica 1 may be healed on v2 meanwhile).
    std::thread::sleep(Duration::from_secs(5));
    assert_2_and_3_untouched(&project, &before);

    control(&daemon, "resume", &target);
    let status = wait_status(
        &daemon,
        &target,
        "paused again at the next batch",
        Duration::from_secs(90),
        |s| phase(s) == "paused" && s["step"] == 2,
    );
    assert!(
        status["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("replica 2 failed"),
        "{status}"
    );
    // Replica 2 was moved (it may be between heals of its failing container at any one
    // moment), replica 3 was not.
    let moved = wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        let by_replica = images_by_replica(&project);
        by_replica.get(&replica(2)) == Some(&v2) && by_replica.get(&replica(3)) == Some(&v1)
    });
    assert!(moved, "{:#?}", short(&project.containers()));
    assert_eq!(ids(&project)[&replica(3)], before[&replica(3)]);
    eprintln!("took {:?}", started.elapsed());
}

/// Whether `status` says the rollout is held or was given up: aborted, rolled back,
/// rolling back, paused or awaiting a promotion.
fn is_held(status: &Value) -> bool {
    matches!(
        phase(status),
        "aborted" | "rolled_back" | "rolling_back" | "paused" | "awaiting_promotion"
    )
}

/// Waits until the canary of `image_id` runs: the rollout is progressing in a monitor
/// window, replica 1 runs `image_id` and the other two run `others`. Panics with the last
/// status, what runs and the daemon's log.
fn wait_canary_of(
    daemon: &Daemon,
    project: &TestProject,
    target: &str,
    (image_id, others): (&str, &str),
    what: &str,
) -> Value {
    let timeout = Duration::from_secs(30);
    let mut last = None;
    let one_canary = || {
        let by_replica = images_by_replica(project);
        let on = |n: u32| {
            by_replica
                .get(&replica_name(project, n))
                .map(String::as_str)
        };
        on(1) == Some(image_id) && on(2) == Some(others) && on(3) == Some(others)
    };
    let ok = wait_until(timeout, Duration::from_millis(250), || {
        last = try_status(target);
        last.as_ref()
            .is_some_and(|s| phase(s) == "progressing" && s["window_left_ms"].is_u64())
            && one_canary()
    });
    assert!(
        ok,
        "{what}: not reached within {timeout:?}; last status {last:#?}\nrunning: {:#?}\n---- daemon log ----\n{}",
        short(&project.containers()),
        daemon.log()
    );
    last.unwrap()
}

#[test]
fn a_superseded_revision_rolls_out_again_when_the_desired_state_returns_to_it() {
    // A monitor long enough that every change below lands mid-canary.
    let Setup {
        started,
        project,
        images,
        v1,
        v2,
        target,
        extra,
        daemon,
    } = Setup::deploy("rc-flip", canary("20s", "auto"));
    let write = |image: &str| project.write_compose(&compose(&images.image(image), &extra));

    // v1 -> v2: the canary of v2 starts.
    write("v2");
    let first = wait_canary_of(&daemon, &project, &target, (&v2, &v1), "v2's canary");
    // Back to v1 while v2's canary moves: v2's rollout is superseded, the canary goes back.
    write("v1");
    wait_all_on(&daemon, &project, &v1, Duration::from_secs(60));
    // v2 again: a superseded revision is not a failed one, so it rolls out again.
    write("v2");
    let again = wait_canary_of(
        &daemon,
        &project,
        &target,
        (&v2, &v1),
        "v2's canary again after the flip back",
    );
    assert_eq!(again["revision"], first["revision"], "{again:#}");
    // And back to v1 once more, mid-canary: every replica ends on v1, and stays there.
    write("v1");
    wait_all_on(&daemon, &project, &v1, Duration::from_secs(60));
    let status = wait_status(
        &daemon,
        &target,
        "a rollout status that is not held",
        Duration::from_secs(15),
        |s| !is_held(s),
    );
    eprintln!("final status: {status:#}");
    assert_held(
        &daemon,
        &project,
        None,
        Duration::from_secs(6),
        "replicas moved after the flip back to v1",
    );
    assert!(all_on(&project, &v1), "{:#?}", short(&project.containers()));
    let status = try_status(&target).expect("a rollout status");
    assert!(!is_held(&status), "held at the end: {status:#}");
    let planned = project.cli(&["plan"]);
    assert!(
        planned.code == Some(0) && planned.stdout.contains("No changes"),
        "plan is not empty at the end:\n{}\n---- daemon log ----\n{}",
        planned.all(),
        daemon.log()
    );
    eprintln!("took {:?}", started.elapsed());
}
