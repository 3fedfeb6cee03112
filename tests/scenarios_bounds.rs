//! Bounded loading through the real binary: a FIFO `env_file` fails `validate` at once
//! instead of hanging it and does not stall the daemon, a billion replicas fail `validate`
//! and `plan` with the load error instead of an allocation abort, and the file-size limit is
//! enforced and raised by its flag and its environment variable.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Daemon, TestProject, composectl, demo_image, replica_names, run_cli, wait_for_running,
};

fn desired(project: &TestProject) -> String {
    project.dir().display().to_string()
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn web(extra: &str) -> String {
    format!(
        "services:\n  web:\n    image: {}\n    restart: \"no\"\n{extra}",
        demo_image("v1")
    )
}

#[test]
fn validate_of_a_fifo_env_file_fails_within_a_second_naming_the_file() {
    let project = TestProject::new("bd-fifo");
    project.write_compose(&web("    env_file: pipe.env\n"));
    mkfifo(&project.path(&format!("{}/pipe.env", project.name())));

    let started = Instant::now();
    let run = run_cli(&["validate", "--desired", &desired(&project)]);
    let took = started.elapsed();

    assert!(took < Duration::from_secs(1), "validate took {took:?}");
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.all().contains("pipe.env"), "{}", run.all());
    assert!(run.all().contains("FIFO"), "{}", run.all());
}

#[test]
fn a_billion_replicas_fail_validate_and_plan_with_the_load_error() {
    let project = TestProject::new("bd-replicas");
    project.write_compose(&web("    deploy:\n      replicas: 1000000000\n"));

    for command in ["validate", "plan"] {
        let run = run_cli(&[command, "--desired", &desired(&project)]);
        assert_eq!(run.code, Some(1), "{command}:\n{}", run.all());
        assert!(
            run.all().contains("services.web.deploy.replicas"),
            "{command}:\n{}",
            run.all()
        );
        assert!(run.all().contains("100"), "{command}:\n{}", run.all());
    }
    assert!(project.containers().is_empty(), "plan created containers");
}

#[test]
fn a_two_mebibyte_compose_file_is_refused_unless_the_limit_is_raised() {
    let project = TestProject::new("bd-size");
    let padding = format!("# {}\n", "x".repeat(1022)).repeat(2 * 1024);
    project.write_compose(&format!("{}{padding}", web("")));

    let run = run_cli(&["validate", "--desired", &desired(&project)]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    for part in ["compose.yaml", "1048576 bytes", "--max-compose-file-size"] {
        assert!(run.all().contains(part), "no {part} in:\n{}", run.all());
    }

    let run = run_cli(&[
        "validate",
        "--desired",
        &desired(&project),
        "--max-compose-file-size",
        "3MiB",
    ]);
    assert_eq!(run.code, Some(0), "with the flag:\n{}", run.all());

    let output = composectl()
        .args(["validate", "--desired", &desired(&project)])
        .env("COMPOSECTL_MAX_COMPOSE_FILE_SIZE", "3M")
        .output()
        .expect("composectl runs");
    assert!(output.status.success(), "with the environment: {output:?}");
}

#[test]
fn the_daemon_is_not_stalled_by_a_fifo_env_file_and_runs_the_other_projects() {
    let project = TestProject::new("bd-daemon");
    project.write_compose(&web(""));
    let stalled = format!("{}-fifo", project.name());
    project.write(
        &format!("{stalled}/compose.yaml"),
        &web("    env_file: pipe.env\n"),
    );
    mkfifo(&project.path(&format!("{stalled}/pipe.env")));

    let mut daemon = Daemon::start(&project, &[]);
    daemon.wait_ready();
    wait_for_running(&project, &replica_names(&project, "web", &[1]));
    assert!(
        daemon.wait_for_log("FIFO", Duration::from_secs(10)),
        "the FIFO is not reported:\n{}",
        daemon.log()
    );
}
