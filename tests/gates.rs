//! The health gates against real things: the demo app in a container (its `/healthz`, its
//! `/metrics`, its deterministic 5xx rate) and a real Prometheus server (Debian's
//! `/usr/bin/prometheus`, run on loopback as a child process scraping the demo app).

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestProject, demo_image, free_port, http_get, published_addr, wait_until};
use composectl::gate::{Gate, GateConfig, Probe, Verdict, client, prometheus};
use composectl::runtime::fake::FakeRuntime;
use serde_json::json;

/// Runs the demo app (`v1`) with `env`, publishing 8080 on loopback; waits until it answers.
fn run_demo(project: &TestProject, service: &str, env: &[&str]) -> (Probe, SocketAddr) {
    let name = format!("{}-{service}-1", project.name());
    let image = demo_image("v1");
    let mut args = vec!["--name", &name, "-p", "127.0.0.1::8080"];
    for e in env {
        args.extend(["-e", e]);
    }
    args.push(&image);
    project.run_unmanaged(&args);
    let addr = published_addr(&name, 8080);
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            http_get(addr, "/version").is_ok_and(|(s, _)| s == 200)
        }),
        "the demo app in {name} never answered"
    );
    let target = Probe {
        project: project.name().to_owned(),
        service: service.to_owned(),
        number: 1,
        container_name: name,
        ip: Some(addr.ip()),
        port: Some(addr.port()),
    };
    (target, addr)
}

/// Sends `n` requests to `/` (statuses are the app's business).
fn drive(addr: SocketAddr, n: usize) {
    for _ in 0..n {
        http_get(addr, "/").expect("the demo app stopped answering");
    }
}

fn gate(config: serde_json::Value) -> Box<dyn Gate> {
    let config: GateConfig = serde_json::from_value(config).expect("a valid gate");
    config.build(std::sync::Arc::new(FakeRuntime::default()))
}

/// Evaluates `gate` every `every` until it passes or fails (or `timeout`).
async fn decide(
    gate: &mut dyn Gate,
    target: &Probe,
    every: Duration,
    timeout: Duration,
) -> Verdict {
    let deadline = Instant::now() + timeout;
    loop {
        let verdict = gate.evaluate(target).await;
        if !matches!(verdict, Verdict::NotYet(_)) || Instant::now() >= deadline {
            return verdict;
        }
        tokio::time::sleep(every).await;
    }
}

fn scrape_gate() -> Box<dyn Gate> {
    gate(json!({
        "type": "scrape", "url": "http://{ip}:{port}/metrics",
        "metric": "demo_http_requests_total", "bad": {"status": "5.."},
        "max_ratio": 0.05, "min_requests": 50,
    }))
}

#[tokio::test]
async fn scrape_gate_fails_a_replica_answering_20_percent_5xx() {
    let project = TestProject::new("gate-scrape-bad");
    let (target, addr) = run_demo(&project, "web", &["FAILURE_RATE=0.2"]);
    drive(addr, 10);
    let mut gate = scrape_gate();
    assert!(
        matches!(gate.evaluate(&target).await, Verdict::NotYet(_)),
        "the first scrape is the baseline"
    );
    drive(addr, 100);
    let verdict = gate.evaluate(&target).await;
    assert!(verdict.is_fail(), "{verdict}");
    assert_eq!(verdict.evidence().value, Some(0.2), "{verdict}");
}

#[tokio::test]
async fn scrape_gate_passes_a_replica_answering_1_percent_5xx_once_enough_requests_came() {
    let project = TestProject::new("gate-scrape-good");
    let (target, addr) = run_demo(&project, "web", &["FAILURE_RATE=0.01"]);
    let mut gate = scrape_gate();
    assert!(matches!(gate.evaluate(&target).await, Verdict::NotYet(_)));
    drive(addr, 20);
    let verdict = gate.evaluate(&target).await;
    assert!(
        matches!(verdict, Verdict::NotYet(_)),
        "20 requests are too few: {verdict}"
    );
    drive(addr, 180);
    let verdict = gate.evaluate(&target).await;
    assert!(verdict.is_pass(), "{verdict}");
    assert_eq!(verdict.evidence().value, Some(0.01), "{verdict}");
}

#[tokio::test]
async fn http_gate_passes_after_consecutive_successes_and_fails_an_unhealthy_replica() {
    let project = TestProject::new("gate-http");
    let (good, _) = run_demo(&project, "good", &[]);
    let (bad, _) = run_demo(&project, "bad", &["HEALTH=fail"]);
    let config = json!({
        "type": "http", "url": "http://{ip}:{port}/healthz",
        "expect_status": 200, "timeout": "2s", "successes": 3, "failures": 2,
    });
    let mut gate_good = gate(config.clone());
    let labels = [
        gate_good.evaluate(&good).await.label(),
        gate_good.evaluate(&good).await.label(),
        gate_good.evaluate(&good).await.label(),
    ];
    assert_eq!(labels, ["not yet", "not yet", "pass"]);
    let mut gate_bad = gate(config);
    assert_eq!(gate_bad.evaluate(&bad).await.label(), "not yet");
    let verdict = gate_bad.evaluate(&bad).await;
    assert!(verdict.is_fail(), "{verdict}");
    assert!(
        verdict.evidence().message.contains("answered 503"),
        "{verdict}"
    );
}

/// A Prometheus server on loopback, killed (and its files removed) on drop.
struct Prometheus {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every second.
    fn start(targets: &[SocketAddr]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start /usr/bin/prometheus");
        Self {
            child,
            url: format!("http://{listen}"),
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    /// The values of an instant query (empty when Prometheus is not up yet).
    async fn query(&self, query: &str) -> Vec<f64> {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.url,
            client::encode_component(query)
        );
        match client::get(&composectl::redact::Url::new(url), Duration::from_secs(2)).await {
            Ok(r) => prometheus::parse_values(&r.body).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// Waits until `query` returns `expected`.
    async fn wait_for(&self, query: &str, expected: f64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.query(query).await != [expected] {
            assert!(
                Instant::now() < deadline,
                "{query} never returned {expected}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_gate_fails_a_replica_at_20_percent_5xx_and_passes_one_at_1_percent() {
    let project = TestProject::new("gate-prometheus");
    let (bad, bad_addr) = run_demo(&project, "bad", &["FAILURE_RATE=0.2"]);
    let (good, good_addr) = run_demo(&project, "good", &["FAILURE_RATE=0.01"]);
    let server = Prometheus::start(&[bad_addr, good_addr]);
    for addr in [bad_addr, good_addr] {
        server
            .wait_for(&format!("up{{instance=\"{addr}\"}}"), 1.0)
            .await;
    }
    drive(bad_addr, 100);
    drive(good_addr, 200);
    for (addr, n) in [(bad_addr, 100.0), (good_addr, 200.0)] {
        let total = format!("sum(demo_http_requests_total{{instance=\"{addr}\"}})");
        server.wait_for(&total, n).await;
    }
    let config = json!({
        "type": "prometheus", "url": server.url,
        "query": "sum(rate(demo_http_requests_total{status=~\"5..\",instance=\"{ip}:{port}\"}[30s])) \
                  / sum(rate(demo_http_requests_total{instance=\"{ip}:{port}\"}[30s]))",
        "max": 0.05, "interval": "1s", "failure_limit": 2, "no_data": "fail",
    });
    let (every, timeout) = (Duration::from_millis(500), Duration::from_secs(10));
    let verdict = decide(gate(config.clone()).as_mut(), &bad, every, timeout).await;
    assert!(verdict.is_fail(), "{verdict}");
    let ratio = verdict.evidence().value.expect("a measured ratio");
    assert!((0.15..0.25).contains(&ratio), "{verdict}");
    assert!(
        verdict
            .evidence()
            .message
            .contains("failing evaluation 2 of 2"),
        "{verdict}"
    );

    let verdict = decide(gate(config).as_mut(), &good, every, timeout).await;
    assert!(verdict.is_pass(), "{verdict}");
    assert!(
        verdict.evidence().value.expect("a measured ratio") <= 0.05,
        "{verdict}"
    );
}

#[tokio::test]
async fn prometheus_gate_without_data_fails_unless_told_otherwise() {
    let server = Prometheus::start(&[]);
    server.wait_for("vector(1)", 1.0).await;
    let target = Probe {
        project: "p".into(),
        service: "s".into(),
        number: 1,
        container_name: "p-s-1".into(),
        ip: Some("127.0.0.1".parse().unwrap()),
        port: Some(9),
    };
    let config = |no_data: &str| {
        json!({
            "type": "prometheus", "url": server.url, "max": 0.05, "no_data": no_data,
            "query": "sum(rate(demo_http_requests_total{instance=\"{ip}:{port}\"}[30s]))",
        })
    };
    let verdict = gate(config("fail")).evaluate(&target).await;
    assert_eq!(
        verdict.to_string(),
        "fail: no data, failing evaluation 1 of 1 allowed"
    );
    let verdict = gate(config("pass")).evaluate(&target).await;
    assert_eq!(verdict.to_string(), "pass: no data (counts as passing)");
}
