//! The engine going away is not a failure, end to end: `composectl run` against a
//! [`PrivateEngine`] that the test restarts (SIGTERM) and kills (SIGKILL) under it, the
//! host's engine untouched. After every return the stack converges within 30 s, with the
//! same containers (started again in place, or restarted by the engine itself), no crash
//! backoff, no rollback; `/readyz` answers 503 while the engine is away and 200 after.
//!
//! Each scenario has its own engine, project and daemon, so they run in parallel.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{
    ContainerInfo, Daemon, PrivateEngine, TestProject, demo_image, free_port, http_get,
    rollout_status, run_cli, wait_until,
};

/// How long after the engine's return the stack must have converged.
const CONVERGED_WITHIN: Duration = Duration::from_secs(30);

/// One scenario. Fields drop in order: the daemon stops before the engine goes.
struct Setup {
    daemon: Daemon,
    project: TestProject,
    engine: PrivateEngine,
    addr: SocketAddr,
}

impl Setup {
    /// A private engine with the demo images, and a daemon converging `compose` (with
    /// `{project}` replaced by the project's name) on it.
    fn start(prefix: &str, compose: &str) -> Self {
        let engine = PrivateEngine::start();
        for version in ["v1", "v2"] {
            engine.load_image(&demo_image(version));
        }
        let project = TestProject::new(prefix);
        project.write_compose(&compose.replace("{project}", project.name()));
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let listen = addr.to_string();
        let host = engine.host();
        let mut daemon = Daemon::start_dir_env(
            project.dir(),
            &["--listen", &listen],
            &[("DOCKER_HOST", host.as_str())],
        );
        daemon.wait_ready();
        Self {
            daemon,
            project,
            engine,
            addr,
        }
    }

    fn name(&self, service: &str, number: u32) -> String {
        format!("{}-{service}-{number}", self.project.name())
    }

    fn containers(&self) -> Vec<ContainerInfo> {
        self.engine.containers(self.project.name())
    }

    /// Waits (up to `timeout`) until the project's containers are exactly `names`, each
    /// running and healthy; returns name -> ID.
    fn wait_converged(
        &self,
        names: &[String],
        timeout: Duration,
        what: &str,
    ) -> BTreeMap<String, String> {
        let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
        expected.sort_unstable();
        let mut seen = Vec::new();
        let ok = wait_until(timeout, Duration::from_millis(200), || {
            seen = self.containers();
            seen.iter()
                .all(|c| c.state == "running" && c.health.as_deref() == Some("healthy"))
                && seen
                    .iter()
                    .map(|c| c.name.as_str())
                    .eq(expected.iter().copied())
        });
        assert!(
            ok,
            "{what}: not converged within {timeout:?}; the engine shows {:?}\ndaemon log:\n{}",
            seen.iter()
                .map(|c| format!("{} {} {:?} {}", c.name, c.state, c.health, &c.id[..12]))
                .collect::<Vec<_>>(),
            self.daemon.log()
        );
        seen.into_iter().map(|c| (c.name, c.id)).collect()
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Waits until `GET path` answers `status`; panics with the last answer otherwise.
    fn wait_status(&self, path: &str, status: u16, timeout: Duration) -> String {
        let mut last = (0, String::new());
        let ok = wait_until(timeout, Duration::from_millis(100), || {
            last = self.get(path);
            last.0 == status
        });
        assert!(
            ok,
            "GET {path} did not answer {status} within {timeout:?}; last: {last:?}\ndaemon log:\n{}",
            self.daemon.log()
        );
        last.1
    }

    /// The engine is away: `/readyz` says so, `/healthz` does not, `/status` and the
    /// metrics show it.
    fn assert_seen_away(&self) {
        let body = self.wait_status("/readyz", 503, Duration::from_secs(15));
        assert!(body.contains("engine is unreachable"), "{body}");
        assert_eq!(self.get("/healthz").0, 200);
        let (_, status) = self.get("/status");
        let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
        assert_eq!(status["engine"]["reachable"], false, "{status}");
        assert_eq!(status["ready"], false);
        let (_, metrics) = self.get("/metrics");
        assert!(
            metrics.contains("composectl_event_stream_up 0"),
            "{metrics}"
        );
    }

    /// Nothing was charged to crash backoff: no deferred replacement in the log, every
    /// crash backoff gauge at 0.
    fn assert_no_crash_backoff(&self) {
        let log = self.daemon.log();
        assert_eq!(
            log.matches("held back by crash backoff").count(),
            0,
            "daemon log:\n{log}"
        );
        let (_, metrics) = self.get("/metrics");
        let charged: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("composectl_crash_backoff_seconds{"))
            .filter(|l| !l.ends_with(" 0") && !l.ends_with(" 0.0"))
            .collect();
        assert!(charged.is_empty(), "crash backoff charged: {charged:?}");
    }
}

/// How the engine goes away.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// SIGTERM: dockerd stops its containers, then exits.
    Graceful,
    /// SIGKILL: dockerd and its containerd die; the containers go on until the engine,
    /// back, stops them.
    Kill,
}

#[test]
fn an_idle_stack_survives_three_graceful_engine_restarts_and_a_sigkill_unchanged() {
    let setup = Setup::start(
        "er-idle",
        "services:\n  web:\n    image: composectl-demo:v1\n    deploy:\n      replicas: 3\n  \
         cache:\n    image: composectl-demo:v1\n    restart: unless-stopped\n",
    );
    let mut names: Vec<String> = (1..=3).map(|n| setup.name("web", n)).collect();
    names.push(setup.name("cache", 1));
    let before = setup.wait_converged(&names, Duration::from_secs(60), "the first converge");
    setup.wait_status("/readyz", 200, Duration::from_secs(10));
    let mut setup = setup;
    let outages = [
        Outage::Graceful,
        Outage::Graceful,
        Outage::Graceful,
        Outage::Kill,
    ];
    for (i, outage) in outages.into_iter().enumerate() {
        match outage {
            Outage::Graceful => setup.engine.stop(),
            Outage::Kill => setup.engine.kill(),
        }
        setup.assert_seen_away();
        setup.engine.start_again();
        let back = Instant::now();
        let what = format!("after outage {} ({outage:?})", i + 1);
        let after = setup.wait_converged(&names, CONVERGED_WITHIN, &what);
        eprintln!("{what}: converged {:?} after the return", back.elapsed());
        assert_eq!(
            after, before,
            "{what}: the same containers (started in place or by the engine), none replaced"
        );
        setup.wait_status("/readyz", 200, Duration::from_secs(10));
        setup.assert_no_crash_backoff();
    }
    let (_, status) = setup.get("/status");
    let status: serde_json::Value = serde_json::from_str(&status).expect("JSON");
    assert_eq!(status["engine"]["reachable"], true);
    assert_eq!(status["engine"]["returns"], 4, "{status}");
}

#[test]
fn a_restart_in_the_middle_of_a_first_converge_ends_converged_without_duplicates() {
    let setup = Setup::start(
        "er-mid",
        "services:\n  db:\n    image: composectl-demo:v1\n  \
         api:\n    image: composectl-demo:v1\n    deploy:\n      replicas: 2\n    \
         depends_on:\n      db:\n        condition: service_healthy\n  \
         web:\n    image: composectl-demo:v1\n    deploy:\n      replicas: 2\n    \
         depends_on:\n      api:\n        condition: service_healthy\n  \
         worker:\n    image: composectl-demo:v1\n    deploy:\n      replicas: 2\n  \
         cache:\n    image: composectl-demo:v1\n    restart: always\n",
    );
    let mut names = vec![setup.name("db", 1), setup.name("cache", 1)];
    for service in ["api", "web", "worker"] {
        names.extend((1..=2).map(|n| setup.name(service, n)));
    }
    // The first containers exist, the ones behind the health waits not yet.
    let mut existing = 0;
    let started = wait_until(Duration::from_secs(60), Duration::from_millis(20), || {
        existing = setup.containers().len();
        existing > 0
    });
    assert!(started, "nothing created:\n{}", setup.daemon.log());
    let mut setup = setup;
    setup.engine.restart();
    assert!(
        existing < names.len(),
        "the restart came after the converge ({existing} containers)"
    );
    let back = Instant::now();
    setup.wait_converged(&names, CONVERGED_WITHIN, "after the restart");
    eprintln!("converged {:?} after the return", back.elapsed());
    assert_eq!(setup.containers().len(), names.len(), "no duplicates");
    setup.wait_status("/readyz", 200, Duration::from_secs(10));
    setup.assert_no_crash_backoff();
}

#[test]
fn a_restart_during_the_canarys_window_neither_fails_nor_rolls_back_the_rollout() {
    let compose = |version: &str| {
        format!(
            "services:\n  app:\n    image: composectl-demo:{version}\n    deploy:\n      \
             replicas: 3\n    x-rollout:\n      strategy: canary\n      steps: [1, \"100%\"]\n      \
             monitor: 20s\n      gates: [{{type: docker_health}}]\n"
        )
    };
    let setup = Setup::start("er-canary", &compose("v1"));
    let names: Vec<String> = (1..=3).map(|n| setup.name("app", n)).collect();
    setup.wait_converged(&names, Duration::from_secs(60), "v1");
    let v2 = setup.engine.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "composectl-demo:v2",
    ]);
    setup
        .project
        .write_compose(&compose("v2").replace("{project}", setup.project.name()));
    let target = format!("{}/app", setup.project.name());
    // The canary (replica 1) serves v2 and its window runs.
    let window = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        rollout_status(&target)
            .first()
            .is_some_and(|s| s["window_left_ms"].is_u64() && s["step"] == 1)
    });
    assert!(
        window,
        "no canary window: {:?}\n{}",
        rollout_status(&target),
        setup.daemon.log()
    );
    std::thread::sleep(Duration::from_secs(3));
    let mut setup = setup;
    setup.engine.restart();
    let back = Instant::now();
    let mut last = String::new();
    let done = wait_until(Duration::from_secs(120), Duration::from_millis(500), || {
        let status = rollout_status(&target);
        last = format!("{status:?}");
        status.first().is_some_and(|s| {
            let phase = s["phase"].as_str().unwrap_or_default();
            assert!(
                !matches!(phase, "rolling_back" | "rolled_back" | "paused"),
                "the restart failed the rollout: {s}\ndaemon log:\n{}",
                setup.daemon.log()
            );
            phase == "complete"
        })
    });
    assert!(
        done,
        "the rollout did not complete: {last}\n{}",
        setup.daemon.log()
    );
    eprintln!("promoted {:?} after the return", back.elapsed());
    let ids = setup.wait_converged(&names, CONVERGED_WITHIN, "v2 everywhere");
    for container in setup.containers() {
        assert_eq!(container.image_id, v2, "{} runs v2", container.name);
    }
    assert_eq!(ids.len(), 3);
    let history = run_cli(&["rollout", "history", "--json", &target]);
    let json: serde_json::Value = serde_json::from_str(history.stdout.trim())
        .unwrap_or_else(|e| panic!("rollout history printed no JSON ({e}): {}", history.all()));
    let revisions = json["history"]["revisions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(revisions.len(), 2, "{json}");
    assert!(
        revisions.iter().all(|r| r["failed_at"].is_null()),
        "no revision failed: {json}"
    );
    let log = setup.daemon.log();
    assert_eq!(log.matches("rollout_failed").count(), 0, "{log}");
    setup.assert_no_crash_backoff();
}
