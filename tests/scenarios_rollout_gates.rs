//! Rollouts with health gates, end to end: the real binary (`composectl run`), the real
//! engine, the demo app, and a real Prometheus (Debian's `/usr/bin/prometheus` on loopback,
//! finding the replicas through `docker_sd_configs`).
//!
//! Every scenario starts 3 replicas on `v1`, then rewrites the compose file the way
//! `git pull` does (a new file renamed over the old one) to name `v2`, and watches what the
//! engine runs: the docker CLI is the oracle, `rollout status --json` and
//! `rollout history --json` are checked against it. Monitor windows are seconds long.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    Daemon, EventRecorder, TestImages, TestProject, creates, demo_image, docker, free_port,
    http_get, rollout_phase, rollout_status, run_cli, try_docker, wait_until,
};
use serde_json::{Value, json};

const SERVICE: &str = "app";
const REPLICAS: u32 = 3;

/// The compose file of the test service: 3 replicas of `image` with `env`, port 8080
/// published on a loopback port Docker picks (so `{port}` is 8080), rolled out by
/// `rollout` (the `x-rollout` map, written as JSON, which is YAML).
fn compose(image: &str, env: &[(&str, &str)], rollout: &Value) -> String {
    let env: BTreeMap<&str, &str> = env.iter().copied().collect();
    format!(
        "services:\n  {SERVICE}:\n    image: {image}\n    environment: {env}\n    \
         ports: [\"127.0.0.1::8080\"]\n    deploy:\n      replicas: {REPLICAS}\n    \
         x-rollout: {rollout}\n",
        env = json!(env),
    )
}

/// A canary of `steps: [1, 100%]` watched for `monitor` per step by `gates`.
fn canary(monitor: &str, gates: Value) -> Value {
    json!({"strategy": "canary", "steps": [1, "100%"], "monitor": monitor, "gates": gates})
}

/// One scenario: a project with its own images, and a daemon converging it. Fields drop in
/// order: the daemon stops before the project's containers go.
struct Scenario {
    daemon: Daemon,
    project: TestProject,
    images: TestImages,
    rollout: Value,
}

impl Scenario {
    /// Starts 3 replicas of `v1` (with `env`) of `project` under `rollout` and waits until
    /// all serve.
    fn start(project: TestProject, env: &[(&str, &str)], rollout: Value) -> Self {
        Self::start_with(project, env, rollout, &[])
    }

    /// [`Self::start`] with extra daemon flags.
    fn start_with(
        project: TestProject,
        env: &[(&str, &str)],
        rollout: Value,
        flags: &[&str],
    ) -> Self {
        demo_image("v1");
        let images = TestImages::new(&project);
        project.write_compose(&compose(&images.image("v1"), env, &rollout));
        let mut daemon = Daemon::start(&project, flags);
        daemon.wait_ready();
        let scenario = Self {
            daemon,
            project,
            images,
            rollout,
        };
        let v1 = scenario.images.id_of("v1").expect("the v1 tag");
        scenario.wait_for(
            "3 replicas serving v1",
            Duration::from_secs(60),
            |replicas| replicas.len() == 3 && replicas.values().all(|r| r.serves(&v1)),
        );
        scenario
    }

    fn target(&self) -> String {
        format!("{}/{SERVICE}", self.project.name())
    }

    fn name(&self, number: u32) -> String {
        format!("{}-{SERVICE}-{number}", self.project.name())
    }

    /// Rewrites the compose file to run `v2` with `env` (as `git pull` writes a file).
    fn deploy_v2(&self, env: &[(&str, &str)]) {
        let text = compose(&self.images.image("v2"), env, &self.rollout);
        self.project.write_compose(&text);
    }

    /// The running replicas by number.
    fn replicas(&self) -> BTreeMap<u32, Replica> {
        replicas(&self.project)
    }

    /// Waits until `condition` holds for the running replicas; panics with what runs, the
    /// rollout status and the daemon's log after `timeout`.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut(&BTreeMap<u32, Replica>) -> bool,
    ) -> BTreeMap<u32, Replica> {
        let mut seen = BTreeMap::new();
        let ok = wait_until(timeout, Duration::from_millis(200), || {
            seen = self.replicas();
            condition(&seen)
        });
        assert!(
            ok,
            "not within {timeout:?}: {what}\nreplicas: {seen:#?}\nstatus: {}\ndaemon log:\n{}",
            self.status_text(),
            self.daemon.log()
        );
        seen
    }

    /// Waits for the rollout's phase to be `phase`.
    fn wait_phase(&self, phase: &str, timeout: Duration) {
        let mut last = String::new();
        let ok = wait_until(timeout, Duration::from_millis(250), || {
            last = rollout_phase(&self.target());
            last == phase
        });
        assert!(
            ok,
            "the rollout's phase was not {phase} within {timeout:?} (last: {last})\nreplicas: \
             {:#?}\nstatus: {}\ndaemon log:\n{}",
            self.replicas(),
            self.status_text(),
            self.daemon.log()
        );
    }

    fn status(&self) -> Value {
        let all = rollout_status(&self.target());
        assert_eq!(all.len(), 1, "one service in the status: {all:?}");
        all.into_iter().next().unwrap()
    }

    fn status_text(&self) -> String {
        let run = run_cli(&["rollout", "status", "--json", &self.target()]);
        run.all()
    }

    fn history(&self) -> Vec<Value> {
        let run = run_cli(&["rollout", "history", "--json", &self.target()]);
        assert_eq!(run.code, Some(0), "rollout history failed: {}", run.all());
        let json: Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("rollout history printed no JSON ({e}): {}", run.all()));
        json["history"]["revisions"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no revisions in {json}"))
    }

    /// `docker images <repository>` as `tag -> short image ID`.
    fn docker_images(&self) -> BTreeMap<String, String> {
        let repository = self.images.image("v1");
        let repository = repository.rsplit_once(':').unwrap().0;
        docker(&["images", "--format", "{{.Tag}} {{.ID}}", repository])
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(tag, id)| (tag.to_owned(), id.to_owned()))
            .collect()
    }

    /// Asserts that `docker images` lists `<repository>:previous` on v1's image.
    fn assert_previous_is_v1(&self) {
        let v1 = self.images.id_of("v1").expect("the v1 tag");
        let listed = self.docker_images();
        let short = v1.trim_start_matches("sha256:")[..12].to_owned();
        assert_eq!(
            listed.get("previous"),
            Some(&short),
            "docker images must list :previous on v1's image {short}: {listed:?}"
        );
    }
}

/// One running replica as the engine shows it.
#[derive(Debug, Clone)]
struct Replica {
    id: String,
    /// The image reference it was created from.
    image: String,
    image_id: String,
    health: Option<String>,
}

impl Replica {
    /// Runs `image_id` and is healthy.
    fn serves(&self, image_id: &str) -> bool {
        self.image_id == image_id && self.health.as_deref() == Some("healthy")
    }
}

/// The running containers of the test service, by replica number.
fn replicas(project: &TestProject) -> BTreeMap<u32, Replica> {
    project
        .running()
        .into_iter()
        .filter(|c| c.label("com.docker.compose.service") == Some(SERVICE))
        .filter_map(|c| {
            let number = c.number()?;
            let replica = Replica {
                id: c.id,
                image: c.image,
                image_id: c.image_id,
                health: c.health,
            };
            Some((number, replica))
        })
        .collect()
}

/// Sends `GET /` to every running replica of a project, over its published port, as the
/// reference deployment's nginx does, until dropped; counts the requests.
struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    fn start(project: &TestProject) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let filter = format!("label=com.docker.compose.project={}", project.name());
        let thread = {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut addrs: Vec<SocketAddr> = Vec::new();
                let mut listed = Instant::now() - Duration::from_secs(1);
                while !stop.load(Ordering::Relaxed) {
                    if listed.elapsed() >= Duration::from_millis(500) {
                        addrs = running_addrs(&filter);
                        listed = Instant::now();
                    }
                    for addr in &addrs {
                        if http_get(*addr, "/").is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Self {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The loopback addresses port 8080 of the running containers matching `filter` is
/// published on.
fn running_addrs(filter: &str) -> Vec<SocketAddr> {
    let Ok(out) = try_docker(&["ps", "--filter", filter, "--format", "{{.Ports}}"]) else {
        return Vec::new();
    };
    // `127.0.0.1:32768->8080/tcp`
    out.lines()
        .filter_map(|l| l.split("->8080/tcp").next())
        .filter_map(|l| l.rsplit(", ").next())
        .filter_map(|a| a.trim().parse().ok())
        .collect()
}

/// What ran at one moment: the running replicas by number.
type Snapshot = (Instant, BTreeMap<u32, Replica>);

/// Samples which replicas run which image every 200 ms until stopped.
struct Timeline {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Snapshot>>>,
    thread: Option<JoinHandle<()>>,
}

impl Timeline {
    fn start(project: &TestProject) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        // The sampler needs its own view of the project: a name-only handle.
        let name = project.name().to_owned();
        let thread = {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                let filter = format!("label=com.docker.compose.project={name}");
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> =
                        try_docker(&["ps", "-q", "--no-trunc", "--filter", &filter])
                            .map(|o| o.lines().map(str::to_owned).collect())
                            .unwrap_or_default();
                    let now = Instant::now();
                    let replicas = common::inspect_containers(&ids)
                        .into_iter()
                        .filter(|c| c.state == "running")
                        .filter_map(|c| {
                            let n = c.number()?;
                            Some((
                                n,
                                Replica {
                                    id: c.id,
                                    image: c.image,
                                    image_id: c.image_id,
                                    health: c.health,
                                },
                            ))
                        })
                        .collect();
                    composectl::sync::lock(&samples).push((now, replicas));
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Self {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Vec<Snapshot> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        composectl::sync::lock(&self.samples).clone()
    }
}

/// A Prometheus server on loopback scraping every container of one project every second,
/// found through `docker_sd_configs` (each target is `<container IP>:8080`, the `instance`
/// a gate query names as `{ip}:{port}`); killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(project: &TestProject) -> Self {
        assert!(
            std::path::Path::new("/usr/bin/prometheus").exists(),
            "/usr/bin/prometheus is missing: install Debian's prometheus package (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: app\n    docker_sd_configs:\n      \
             - host: unix:///var/run/docker.sock\n        refresh_interval: 1s\n        \
             filters:\n          - name: label\n            \
             values: [\"com.docker.compose.project={}\"]\n",
            project.name()
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start /usr/bin/prometheus");
        let server = Self { child, addr, dir };
        let up = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
            server.query("vector(1)") == [1.0]
        });
        assert!(up, "Prometheus never answered; log:\n{}", server.log());
        server
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The values of an instant query (empty when there are none or on any error).
    fn query(&self, query: &str) -> Vec<f64> {
        let path = format!(
            "/api/v1/query?query={}",
            composectl::gate::client::encode_component(query)
        );
        match http_get(self.addr, &path) {
            Ok((200, body)) => {
                composectl::gate::prometheus::parse_values(&body).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 5xx ratio of one replica over the last 10 s, as a prometheus gate query.
const RATIO_QUERY: &str = "sum(rate(demo_http_requests_total{status=~\"5..\",instance=\"{ip}:{port}\"}[10s])) \
     / sum(rate(demo_http_requests_total{instance=\"{ip}:{port}\"}[10s]))";

fn prometheus_gate(server: &Prometheus) -> Value {
    json!([{
        "type": "prometheus", "url": server.url(), "query": RATIO_QUERY,
        "max": 0.05, "interval": "1s", "failure_limit": 2, "no_data": "not_yet",
    }])
}

fn scrape_gate() -> Value {
    json!([{
        "type": "scrape", "url": "http://{ip}:{port}/metrics",
        "metric": "demo_http_requests_total", "bad": {"status": "5.."},
        "max_ratio": 0.05, "min_requests": 100,
    }])
}

/// The service's revisions in `rollout history --json`, by image reference.
fn revision<'a>(history: &'a [Value], image: &str) -> &'a Value {
    history
        .iter()
        .find(|r| r["image"] == image)
        .unwrap_or_else(|| panic!("no revision of {image} in the history: {history:#?}"))
}

/// The number written right after `marker` in `text` (`value 0.2054 > max` -> 0.2054).
fn number_after(text: &str, marker: &str) -> f64 {
    let rest = text
        .split_once(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text:?}"))
        .1;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("no number after {marker:?} in {text:?}: {e}"))
}

/// Asserts a promoted rollout: every replica on v2 and serving, phase complete, `:previous`
/// on v1, the history's v2 revision current and not failed, and the `kind` gate's last
/// verdict a pass over all 3 replicas.
fn assert_promoted(scenario: &Scenario, kind: &str, timeout: Duration) {
    let v2 = scenario.images.id_of("v2").expect("the v2 tag");
    scenario.wait_for("all 3 replicas serving v2", timeout, |r| {
        r.len() == 3 && r.values().all(|r| r.serves(&v2))
    });
    scenario.wait_phase("complete", Duration::from_secs(10));
    let status = scenario.status();
    eprintln!("promoted: {status}");
    assert_eq!(status["updated"], 3, "{status}");
    assert_eq!(status["step"], 2, "{status}");
    assert_eq!(status["image"], scenario.images.image("v2"), "{status}");
    let gates = status["gates"].as_array().expect("a gates list");
    assert_eq!(gates.len(), 1, "{status}");
    assert_eq!(gates[0]["kind"], kind, "{status}");
    assert_eq!(gates[0]["verdict"], "pass", "{status}");
    let evidence = gates[0]["evidence"].as_str().unwrap_or_default();
    for n in 1..=REPLICAS {
        assert!(
            evidence.contains(&format!("replica {n}: ")),
            "the last window watched replica {n}: {status}"
        );
    }
    assert_eq!(
        status["previous_image"],
        scenario.images.image("previous"),
        "{status}"
    );
    scenario.assert_previous_is_v1();
    let history = scenario.history();
    let new = revision(&history, &scenario.images.image("v2"));
    assert_eq!(new["current"], true, "{new}");
    assert_eq!(new["failed_at"], Value::Null, "{new}");
}

/// Asserts a rolled-back canary: replica 1 back on `:previous` (v1's image), replicas 2 and
/// 3 on their original v1 containers, phase rolled_back, `:previous` listed on v1, and the
/// history's v2 revision marked failed.
fn assert_rolled_back(
    scenario: &Scenario,
    originals: &BTreeMap<u32, Replica>,
    reason_starts: &str,
    timeout: Duration,
) {
    let v1 = scenario.images.id_of("v1").expect("the v1 tag");
    scenario.wait_phase("rolled_back", timeout);
    let now = scenario.wait_for(
        "all 3 replicas serving v1 again",
        Duration::from_secs(30),
        |r| r.len() == 3 && r.values().all(|r| r.serves(&v1)),
    );
    assert_eq!(
        now[&1].image,
        scenario.images.image("previous"),
        "replica 1 is recreated from <repository>:previous"
    );
    assert_ne!(now[&1].id, originals[&1].id, "replica 1 was the canary");
    for n in [2, 3] {
        assert_eq!(
            now[&n].id, originals[&n].id,
            "replica {n} never left v1: the same container runs"
        );
    }
    scenario.assert_previous_is_v1();
    let status = scenario.status();
    eprintln!("rolled back: {status}");
    let reason = status["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(reason_starts),
        "the reason names the failure ({reason_starts}...): {status}"
    );
    assert_eq!(status["updated"], 0, "{status}");
    let history = scenario.history();
    let failed = revision(&history, &scenario.images.image("v2"));
    assert!(
        failed["failed_at"].as_u64().is_some(),
        "the v2 revision is marked failed: {failed}"
    );
    assert_eq!(failed["current"], false, "{failed}");
    let good = revision(&history, &scenario.images.image("v1"));
    assert_eq!(good["failed_at"], Value::Null, "{good}");
    assert_eq!(good["current"], true, "{good}");
}

/// Asserts that the held revision is not retried: for `period`, no container of the
/// project is created and the same containers run.
fn assert_held(scenario: &Scenario, period: Duration) {
    let recorder = EventRecorder::start(&scenario.project);
    let before: BTreeMap<u32, String> = scenario
        .replicas()
        .into_iter()
        .map(|(n, r)| (n, r.id))
        .collect();
    std::thread::sleep(period);
    let events = recorder.events_until(common::now_nanos());
    let created = creates(&events, scenario.project.name());
    assert!(
        created.is_empty(),
        "the failed revision was retried: {created:#?}\ndaemon log:\n{}",
        scenario.daemon.log()
    );
    let after: BTreeMap<u32, String> = scenario
        .replicas()
        .into_iter()
        .map(|(n, r)| (n, r.id))
        .collect();
    assert_eq!(before, after, "the same containers run after {period:?}");
    assert_eq!(rollout_phase(&scenario.target()), "rolled_back");
}

#[test]
fn canary_moves_replica_1_alone_through_its_window_then_promotes_all_3() {
    let started = Instant::now();
    let gates = json!([{
        "type": "http", "url": "http://{ip}:{port}/healthz",
        "expect_status": 200, "timeout": "2s", "successes": 3, "failures": 2,
    }]);
    let listen = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let listen_text = listen.to_string();
    let scenario = Scenario::start_with(
        TestProject::new("ro-canary-ok"),
        &[],
        canary("6s", gates),
        &["--listen", listen_text.as_str()],
    );
    let originals = scenario.replicas();
    let (v1, v2) = (
        scenario.images.id_of("v1").unwrap(),
        scenario.images.id_of("v2").unwrap(),
    );
    let timeline = Timeline::start(&scenario.project);
    scenario.deploy_v2(&[]);

    // The window of step 1: replica 1 alone on v2, watched by the http gate.
    let mut status = Value::Null;
    let in_window = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        status = scenario.status();
        status["phase"] == "progressing"
            && status["step"] == 1
            && status["window_left_ms"]
                .as_u64()
                .is_some_and(|ms| ms > 2000)
    });
    assert!(
        in_window,
        "step 1's window never opened: {status}\n{}",
        scenario.daemon.log()
    );
    assert_eq!(status["steps"], 2, "{status}");
    assert_eq!(status["updated"], 1, "{status}");
    assert_eq!(status["strategy"], "canary", "{status}");
    assert_eq!(
        status["previous_image"],
        scenario.images.image("previous"),
        "{status}"
    );
    let now = scenario.replicas();
    assert!(now[&1].serves(&v2), "replica 1 is the canary: {now:#?}");
    for n in [2, 3] {
        assert_eq!(now[&n].id, originals[&n].id, "replica {n} waits: {now:#?}");
    }
    scenario.assert_previous_is_v1();

    assert_promoted(&scenario, "http", Duration::from_secs(90));
    let samples = timeline.stop();

    // From the engine's record: replica 1 moved first and alone, and served v2 alone for
    // (about) the monitor window while 2 and 3 served v1.
    let on_v2 = |r: &BTreeMap<u32, Replica>| -> Vec<u32> {
        r.iter()
            .filter(|(_, r)| r.image_id == v2)
            .map(|(n, _)| *n)
            .collect()
    };
    let first = samples
        .iter()
        .map(|(_, r)| on_v2(r))
        .find(|n| !n.is_empty())
        .expect("a replica on v2 was sampled");
    assert_eq!(first, vec![1], "replica 1 moves first, alone");
    let alone: Vec<Instant> = samples
        .iter()
        .filter(|(_, r)| {
            on_v2(r) == [1]
                && r[&1].serves(&v2)
                && [2, 3]
                    .iter()
                    .all(|n| r.get(n).is_some_and(|r| r.serves(&v1)))
        })
        .map(|(at, _)| *at)
        .collect();
    let span = alone
        .last()
        .zip(alone.first())
        .map(|(last, first)| *last - *first)
        .unwrap_or_default();
    assert!(
        span >= Duration::from_secs(5),
        "replica 1 alone served v2 beside 2 and 3 on v1 for {span:?}, less than the 6 s window"
    );
    let most = samples.iter().map(|(_, r)| on_v2(r).len()).max().unwrap();
    assert_eq!(most, 3);
    // The metrics counted the rollout and the gate's evaluations.
    let (_, metrics) = common::http_get(listen, "/metrics").expect("/metrics answers");
    let project = scenario.project.name();
    let promoted = format!(
        "composectl_rollouts_total{{project=\"{project}\",service=\"app\",outcome=\"promoted\"}} 1"
    );
    assert!(metrics.contains(&promoted), "{metrics}");
    let passes = format!(
        "composectl_gate_evaluations_total{{project=\"{project}\",service=\"app\",gate=\"http\",verdict=\"pass\"}} "
    );
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix(passes.as_str()))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(
        count.is_some_and(|c| c >= 3.0),
        "http gate passes: {count:?}\n{metrics}"
    );
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn sick_canary_is_rolled_back_to_previous_and_not_retried() {
    let started = Instant::now();
    let gates = json!([{"type": "docker_health"}]);
    let (hook, posted) = webhook_receiver();
    let project = TestProject::new("ro-canary-sick");
    let listen = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let listen_text = listen.to_string();
    let flags = ["--webhook", hook.as_str(), "--listen", listen_text.as_str()];
    let scenario = Scenario::start_with(project, &[], canary("5s", gates), &flags);
    let originals = scenario.replicas();
    let recorder = EventRecorder::start(&scenario.project);
    scenario.deploy_v2(&[("HEALTH", "fail")]);

    assert_rolled_back(
        &scenario,
        &originals,
        "replica 1 failed",
        Duration::from_secs(60),
    );
    // Only replica 1 was ever replaced: once onto v2, once back.
    let events = recorder.events_until(common::now_nanos());
    let created: Vec<String> = creates(&events, scenario.project.name())
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(
        created,
        vec![scenario.name(1), scenario.name(1)],
        "only replica 1 is created: the canary, then its revert"
    );
    // The webhook heard about it: the rollout's start, then its rollback.
    let mut kinds = Vec::new();
    let event = loop {
        let body = posted
            .recv_timeout(Duration::from_secs(10))
            .expect("the webhook was posted to");
        let event: Value = serde_json::from_str(&body).expect("a JSON body");
        kinds.push(event["event"].as_str().unwrap_or_default().to_owned());
        if event["event"] == "rolled_back" {
            break event;
        }
    };
    assert!(
        kinds.first().is_some_and(|k| k == "started"),
        "the start was told first: {kinds:?}"
    );
    assert_eq!(event["project"], scenario.project.name(), "{event}");
    assert_eq!(event["service"], "app", "{event}");
    assert_eq!(
        (
            event["revision"].as_u64(),
            event["previous_revision"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert!(
        event["reason"]
            .as_str()
            .unwrap_or("")
            .contains("replica 1 failed"),
        "{event}"
    );
    assert_held(&scenario, Duration::from_secs(15));
    eprintln!("took {:?}", started.elapsed());
}

/// An HTTP receiver on loopback: its URL, and the body of every POST in order.
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx
                .send(String::from_utf8_lossy(&body).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

/// Starts 3 replicas of v1 under a canary (4 s windows) gated by `gates` (built for the
/// project), drives traffic to every replica, deploys v2 with `FAILURE_RATE=rate`, and
/// hands the scenario and the v1 replicas to `run` for its assertions.
fn gated_canary(
    prefix: &str,
    rate: &str,
    gates: impl FnOnce(&TestProject) -> Value,
    run: impl FnOnce(&Scenario, &BTreeMap<u32, Replica>),
) {
    let started = Instant::now();
    let project = TestProject::new(prefix);
    let rollout = canary("4s", gates(&project));
    let scenario = Scenario::start(project, &[], rollout);
    let originals = scenario.replicas();
    let traffic = Traffic::start(&scenario.project);
    scenario.deploy_v2(&[("FAILURE_RATE", rate)]);
    run(&scenario, &originals);
    let sent = traffic.sent();
    drop(traffic);
    assert!(sent > 100, "the test drove traffic: {sent} requests");
    eprintln!("{prefix}: {sent} requests, took {:?}", started.elapsed());
}

#[test]
fn prometheus_gate_rolls_back_a_canary_answering_20_percent_5xx() {
    let mut server = None;
    gated_canary(
        "ro-prom-bad",
        "0.2",
        |project| {
            let started = Prometheus::start(project);
            let gates = prometheus_gate(&started);
            server = Some(started);
            gates
        },
        |scenario, originals| {
            assert_rolled_back(
                scenario,
                originals,
                "gate prometheus failed: replica 1",
                Duration::from_secs(90),
            );
            assert_measured_20_percent(scenario, "value ");
        },
    );
}

#[test]
fn prometheus_gate_promotes_a_canary_answering_1_percent_5xx() {
    let mut server = None;
    gated_canary(
        "ro-prom-good",
        "0.01",
        |project| {
            let started = Prometheus::start(project);
            let gates = prometheus_gate(&started);
            server = Some(started);
            gates
        },
        |scenario, _| {
            assert_promoted(scenario, "prometheus", Duration::from_secs(120));
            assert_ratios_below(scenario, "value ", 0.05);
        },
    );
}

#[test]
fn scrape_gate_rolls_back_a_canary_answering_20_percent_5xx() {
    gated_canary(
        "ro-scrape-bad",
        "0.2",
        |_| scrape_gate(),
        |scenario, originals| {
            assert_rolled_back(
                scenario,
                originals,
                "gate scrape failed: replica 1",
                Duration::from_secs(90),
            );
            assert_measured_20_percent(scenario, "bad ratio ");
        },
    );
}

#[test]
fn scrape_gate_promotes_a_canary_answering_1_percent_5xx() {
    gated_canary(
        "ro-scrape-good",
        "0.01",
        |_| scrape_gate(),
        |scenario, _| {
            assert_promoted(scenario, "scrape", Duration::from_secs(120));
            assert_ratios_below(scenario, "bad ratio ", 0.05);
        },
    );
}

/// Asserts that every ratio the gate measured (each written after `marker`) is at most
/// `max`, and that one replica saw at least one 5xx (the 1 % canary did fail some).
fn assert_ratios_below(scenario: &Scenario, marker: &str, max: f64) {
    let status = scenario.status();
    let evidence = status["gates"][0]["evidence"].as_str().unwrap_or_default();
    let ratios: Vec<f64> = evidence
        .split("; ")
        .map(|part| number_after(part, marker))
        .collect();
    assert_eq!(ratios.len(), REPLICAS as usize, "{evidence}");
    assert!(ratios.iter().all(|r| *r <= max), "{evidence}");
    assert!(ratios.iter().any(|r| *r > 0.0), "{evidence}");
}

/// Asserts that the rollback's reason measured a 5xx ratio of about 20 % (after `marker`).
fn assert_measured_20_percent(scenario: &Scenario, marker: &str) {
    let status = scenario.status();
    let reason = status["reason"].as_str().unwrap_or_default();
    let ratio = number_after(reason, marker);
    assert!((0.15..=0.25).contains(&ratio), "{reason}");
}
