//! The daemon's HTTP endpoints against the real engine: `/readyz` turns 200 once the
//! daemon has loaded and listed, and after a replica is killed by hand `/metrics` shows the
//! heal, the managed containers, the Docker API calls and the process's own figures, and
//! `/status` lists the project with its replicas; JSON logs carry the reconcile span with
//! the project and its revision. The docker CLI does the killing.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    Daemon, TestProject, demo_image, docker, free_port, http_get, replica_names, wait_for_running,
    wait_until,
};

fn compose() -> String {
    format!(
        "services:\n  web:\n    image: {}\n    restart: \"no\"\n    deploy:\n      replicas: 2\n",
        demo_image("v1")
    )
}

/// The body of `GET path` once `check` holds for it (within 60 s), or a panic showing it.
fn wait_for_body(addr: SocketAddr, path: &str, mut check: impl FnMut(&str) -> bool) -> String {
    let mut last = String::new();
    let ok = wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        || match http_get(addr, path) {
            Ok((200, body)) => {
                last = body;
                check(&last)
            }
            Ok((status, body)) => {
                last = format!("HTTP {status}: {body}");
                false
            }
            Err(err) => {
                last = err.to_string();
                false
            }
        },
    );
    assert!(
        ok,
        "GET {path} never showed what was expected; last:\n{last}"
    );
    last
}

/// The value of the sample `name` (no labels) in an exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_and_status_show_a_healed_replica() {
    let project = TestProject::new("mx-heal");
    project.write_compose(&compose());
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let listen = addr.to_string();
    let daemon = Daemon::start(&project, &["--listen", &listen, "--log-format", "json"]);

    wait_for_body(addr, "/readyz", |_| true);
    let (status, body) = http_get(addr, "/healthz").expect("healthz answers");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let names = replica_names(&project, "web", &[1, 2]);
    wait_for_running(&project, &names);

    docker(&["kill", &names[0]]);
    let p = project.name();
    let heal =
        format!(r#"composectl_heals_total{{project="{p}",service="web",reason="exited"}} 1"#);
    let running = format!(
        r#"composectl_managed_containers{{project="{p}",service="web",state="running"}} 2"#
    );
    let metrics = wait_for_body(addr, "/metrics", |m| {
        m.contains(&heal) && m.contains(&running)
    });

    for expected in [
        r#"composectl_docker_api_calls_total{operation="create_container",outcome="ok"}"#,
        r#"composectl_docker_api_calls_total{operation="list_containers",outcome="ok"}"#,
        r#"composectl_docker_api_call_duration_seconds_total{operation="start_container",outcome="ok"}"#,
        "composectl_event_stream_up 1",
        &format!(r#"composectl_desired_valid{{project="{p}"}} 1"#),
        &format!(
            r#"composectl_reconcile_duration_seconds_count{{project="{p}",result="success"}}"#
        ),
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected:?} in\n{metrics}"
        );
    }
    let rss = sample(&metrics, "process_resident_memory_bytes").expect("rss exported");
    assert!(rss > 0.0, "{rss}");
    assert!(sample(&metrics, "process_open_fds").is_some_and(|n| n > 0.0));

    let log = daemon.log();
    let span = log
        .lines()
        .find(|l| l.contains(r#""name":"reconcile""#) && l.contains(r#""revision":""#))
        .unwrap_or_else(|| panic!("no reconcile span with a revision in\n{log}"));
    assert!(span.contains(&format!(r#""project":"{p}""#)), "{span}");

    let body = wait_for_body(addr, "/status", |_| true);
    let status: serde_json::Value = serde_json::from_str(&body).expect("status is JSON");
    let entry = status["projects"]
        .as_array()
        .expect("a project list")
        .iter()
        .find(|e| e["name"] == p)
        .unwrap_or_else(|| panic!("{p} not in {body}"));
    assert_eq!(entry["valid"], true);
    let web = &entry["services"][0];
    assert_eq!(web["name"], "web");
    let replicas: Vec<(&str, &str)> = web["replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        replicas,
        [
            (names[0].as_str(), "running"),
            (names[1].as_str(), "running")
        ],
        "{body}"
    );
}

#[test]
fn a_taken_listen_address_stops_the_daemon_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let listen = taken.local_addr().expect("bound").to_string();
    let project = TestProject::new("mx-bind");
    project.write_compose(&compose());
    let mut daemon = Daemon::start(&project, &["--listen", &listen]);
    let exited = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        daemon.has_exited()
    });
    assert!(exited, "the daemon kept running:\n{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains(&format!("cannot listen on {listen}")), "{log}");
    assert!(project.containers().is_empty(), "it acted before failing");
}
