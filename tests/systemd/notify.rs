//! What the controller tells systemd: READY only after the first reconcile of every
//! project, STATUS summaries, watchdog pings from the loop, STOPPING at shutdown.

use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use composectl::controller::{Config, Controller};
use composectl::model::ContainerState;
use composectl::runtime::fake::FakeRuntime;
use composectl::systemd::Notifier;

use super::FakeSystemd;
use super::common::{TestProject, composectl, demo_image, docker};

fn status_of(datagram: &str) -> Option<&str> {
    datagram.lines().find_map(|l| l.strip_prefix("STATUS="))
}

/// Desired directory with `shop` (its image is local) and `broken` (its image exists
/// nowhere, so its reconcile fails).
fn two_projects() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (project, image) in [("shop", "app:v1"), ("broken", "missing:v1")] {
        std::fs::create_dir(dir.path().join(project)).unwrap();
        std::fs::write(
            dir.path().join(project).join("compose.yaml"),
            format!("services:\n  web:\n    image: {image}\n"),
        )
        .unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_first_reconcile_of_every_project_even_a_failing_one() {
    let dir = two_projects();
    let fake = FakeRuntime::new();
    fake.add_image("app:v1", "sha256:aaaa");
    let systemd = FakeSystemd::new();
    let notifier = Notifier::with_socket(&systemd.path).with_watchdog(Duration::from_millis(100));
    let mut config = Config::new(dir.path());
    config.debounce = Duration::from_millis(50);
    let controller = Controller::new(Arc::new(fake.clone()), config).with_notifier(notifier);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(controller.run(async {
        let _ = stopped.await;
    }));

    let before = systemd.wait_for(Duration::from_secs(10), |d| d.contains("READY=1"));
    let running: Vec<String> = fake
        .containers()
        .into_iter()
        .filter(|c| c.state == ContainerState::Running)
        .map(|c| c.name)
        .collect();
    assert_eq!(
        running,
        vec!["shop-web-1"],
        "READY came after shop converged"
    );
    assert!(
        before[..before.len() - 1]
            .iter()
            .filter_map(|d| status_of(d))
            .all(|s| s.starts_with("starting:")),
        "before READY the status says start-up is under way: {before:#?}"
    );
    let ready_status = status_of(before.last().unwrap()).unwrap();
    assert!(
        ready_status.starts_with("1 container in 2 projects; 1 failing; last reconcile"),
        "{ready_status}"
    );

    let pings = systemd.wait_for(Duration::from_secs(5), |d| d == "WATCHDOG=1");
    assert!(
        !pings.iter().any(|d| d.contains("READY=1")),
        "READY is sent once: {pings:#?}"
    );

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let last = systemd.wait_for(Duration::from_secs(5), |d| d.starts_with("STOPPING=1"));
    assert!(last.last().unwrap().contains("STATUS=stopping"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_desired_directory_is_ready_once_the_engine_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let systemd = FakeSystemd::new();
    let controller = Controller::new(Arc::new(FakeRuntime::new()), Config::new(dir.path()))
        .with_notifier(Notifier::with_socket(&systemd.path));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(controller.run(async {
        let _ = stopped.await;
    }));
    let sent = systemd.wait_for(Duration::from_secs(10), |d| d.contains("READY=1"));
    assert_eq!(
        status_of(sent.last().unwrap()),
        Some("0 containers in 0 projects; 0 failing; no reconcile yet")
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// `composectl run` started the way systemd starts it, on the real engine.
struct NotifiedDaemon {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl NotifiedDaemon {
    fn start(project: &TestProject, systemd: &FakeSystemd) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = composectl()
            .args(["run", "--resync", "2s", "--debounce", "200ms", "--desired"])
            .arg(project.dir())
            .env("NOTIFY_SOCKET", &systemd.path)
            .env("WATCHDOG_USEC", "1000000")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.reopen().unwrap()))
            .spawn()
            .expect("cannot start composectl run");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for NotifiedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("composectl log:\n{}", self.log());
        }
    }
}

#[test]
fn the_daemon_under_systemd_is_ready_after_converging_pings_and_announces_its_stop() {
    let project = TestProject::new("systemd-notify");
    project.write_compose(&format!(
        "services:\n  web:\n    image: {}\n    deploy:\n      replicas: 2\n",
        demo_image("v1")
    ));
    let systemd = FakeSystemd::new();
    let mut daemon = NotifiedDaemon::start(&project, &systemd);

    let sent = systemd.wait_for(Duration::from_secs(60), |d| d.contains("READY=1"));
    let state = |n: u32| {
        docker(&[
            "inspect",
            "--format",
            "{{.State.Status}}",
            &format!("{}-web-{n}", project.name()),
        ])
    };
    assert_eq!((state(1), state(2)), ("running".into(), "running".into()));
    let status = status_of(sent.last().unwrap()).unwrap();
    assert!(
        status.starts_with("2 containers in 1 project; 0 failing;"),
        "{status}"
    );

    systemd.wait_for(Duration::from_secs(5), |d| d == "WATCHDOG=1");

    let term = std::process::Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    systemd.wait_for(Duration::from_secs(10), |d| d.starts_with("STOPPING=1"));
    let exit = daemon.child.wait().unwrap();
    assert!(exit.success(), "{exit}\n{}", daemon.log());
}
