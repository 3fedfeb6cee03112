//! End-to-end: bad input never makes the stack worse. While `composectl run` manages a
//! good project, a corpus of bad desired states is written into its directory (the way
//! `git pull` writes: a temporary file renamed over the old one), one after the other.
//! After each: no running container changed, the daemon is up and answers `/healthz`
//! within 1 s, and `/status` names the file (and the key, where there is one). The next
//! good write converges. Also: a compose file briefly missing or replaced by a dangling
//! symlink never prunes; a deleted directory is pruned after the grace; an instance
//! pointed at another desired directory leaves the first directory's projects alone
//! unless told to `--adopt` them.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Daemon, TestProject, demo_image, free_port, http_get, ids_by_name, project_status,
    replica_names, stays_unchanged, wait_for_running, wait_until,
};

/// The good project: one service of the demo app, two replicas, `VERSION` set.
fn good(version: &str) -> String {
    format!(
        "services:\n  web:\n    image: {}\n    restart: \"no\"\n    environment:\n      VERSION: \"{version}\"\n    deploy:\n      replicas: 2\n",
        demo_image("v1")
    )
}

/// The good project with `extra` lines appended to the `web` service (4 spaces indent).
fn web_with(extra: &str) -> String {
    format!("{}{extra}", good("v1"))
}

/// One bad desired state: what to do to the project directory, and what the error must
/// name.
struct Bad {
    what: &'static str,
    apply: Box<dyn Fn(&Path)>,
    /// Fragments the project's `load_error` must contain.
    expect: Vec<&'static str>,
}

fn write(file: &'static str, text: String) -> Box<dyn Fn(&Path)> {
    Box::new(move |dir: &Path| {
        let path = dir.join(file);
        let _ = std::fs::remove_dir_all(&path);
        let tmp = dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, &text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    })
}

fn compose(text: String) -> Box<dyn Fn(&Path)> {
    write("compose.yaml", text)
}

fn bad(what: &'static str, apply: Box<dyn Fn(&Path)>, expect: &[&'static str]) -> Bad {
    Bad {
        what,
        apply,
        expect: expect.to_vec(),
    }
}

/// Replaces `compose.yaml` by whatever `make` puts at its path.
fn replace_compose(make: fn(&Path)) -> Box<dyn Fn(&Path)> {
    Box::new(move |dir: &Path| {
        let path = dir.join("compose.yaml");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&path);
        make(&path);
    })
}

/// The good compose file with an `env_file` that `make` creates.
fn env_file(make: fn(&Path)) -> Box<dyn Fn(&Path)> {
    Box::new(move |dir: &Path| {
        let path = dir.join("app.env");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&path);
        make(&path);
        compose(web_with("    env_file: app.env\n"))(dir);
    })
}

fn corpus() -> Vec<Bad> {
    let laughs = {
        let mut text = String::from(
            "x-a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for level in 1..10 {
            let prev = (b'a' + level - 1) as char;
            let name = (b'a' + level) as char;
            let refs = vec![format!("*{prev}"); 9].join(",");
            text.push_str(&format!("x-{name}: &{name} [{refs}]\n"));
        }
        text + &good("v1")
    };
    vec![
        bad(
            "unclosed flow sequence",
            compose(format!("{}    ports: [\"80\"\n", good("v1"))),
            &["compose.yaml"],
        ),
        bad(
            "half-written file",
            compose(good("v1").split_once("VERSION: \"v").unwrap().0.to_owned() + "VERSION: \"v"),
            &["compose.yaml"],
        ),
        bad(
            "empty file",
            compose(String::new()),
            &["compose.yaml", "empty"],
        ),
        bad(
            "a list, not a mapping",
            compose("- web\n- db\n".into()),
            &["compose.yaml", "mapping"],
        ),
        bad(
            "services is a string",
            compose("services: web\n".into()),
            &["compose.yaml", "services"],
        ),
        bad(
            "tab indentation",
            compose("services:\n\tweb:\n\t\timage: x\n".into()),
            &["compose.yaml"],
        ),
        bad(
            "non-UTF-8 bytes",
            Box::new(|dir: &Path| {
                std::fs::write(dir.join("compose.yaml"), b"services:\n  web: \xff\xfe\n").unwrap()
            }),
            &["compose.yaml"],
        ),
        bad(
            "duplicate key",
            compose(format!("{}    image: other\n", good("v1"))),
            &["compose.yaml"],
        ),
        bad(
            "undefined alias",
            compose(format!("{}    labels: *nope\n", good("v1"))),
            &["compose.yaml"],
        ),
        bad(
            "two YAML documents",
            compose(format!("{}---\n{}", good("v1"), good("v2"))),
            &["compose.yaml"],
        ),
        bad(
            "port not a number",
            compose(web_with("    ports: [\"abc:80\"]\n")),
            &["compose.yaml", "ports"],
        ),
        bad(
            "port out of range",
            compose(web_with("    ports: [\"70000:80\"]\n")),
            &["compose.yaml", "ports"],
        ),
        bad(
            "negative replicas",
            compose(good("v1").replace("replicas: 2", "replicas: -1")),
            &["compose.yaml", "replicas"],
        ),
        bad(
            "a billion replicas",
            compose(good("v1").replace("replicas: 2", "replicas: 1000000000")),
            &["compose.yaml", "replicas"],
        ),
        bad(
            "required variable unset",
            compose(web_with(
                "    labels:\n      x: ${COMPOSECTL_TEST_UNSET_VAR:?set it}\n",
            )),
            &["compose.yaml", "COMPOSECTL_TEST_UNSET_VAR"],
        ),
        bad(
            "name that fails to interpolate",
            compose(format!(
                "name: ${{COMPOSECTL_TEST_UNSET_NAME:?}}\n{}",
                good("v1")
            )),
            &["compose.yaml", "COMPOSECTL_TEST_UNSET_NAME"],
        ),
        bad(
            "name with no letters",
            compose(format!("name: \"!!!\"\n{}", good("v1"))),
            &["compose.yaml", "name"],
        ),
        bad(
            "depends_on an unknown service",
            compose(web_with("    depends_on: [ghost]\n")),
            &["compose.yaml", "depends_on"],
        ),
        bad(
            "depends_on cycle",
            compose(format!(
                "{}  db:\n    image: {}\n    depends_on: [web]\n",
                web_with("    depends_on: [db]\n"),
                demo_image("v1")
            )),
            &["compose.yaml", "depends_on"],
        ),
        bad(
            "unknown network",
            compose(web_with("    networks: [ghostnet]\n")),
            &["compose.yaml", "networks"],
        ),
        bad(
            "unknown named volume",
            compose(web_with("    volumes: [\"ghostvol:/data\"]\n")),
            &["compose.yaml", "volumes"],
        ),
        bad(
            "bad volume syntax",
            compose(web_with("    volumes: [\"::\"]\n")),
            &["compose.yaml", "volumes"],
        ),
        bad(
            "restart policy unknown",
            compose(good("v1").replace("restart: \"no\"", "restart: sometimes")),
            &["compose.yaml", "restart"],
        ),
        bad(
            "healthcheck interval not a duration",
            compose(web_with(
                "    healthcheck:\n      test: [\"CMD\", \"/demo-app\"]\n      interval: soon\n",
            )),
            &["compose.yaml", "interval"],
        ),
        bad(
            "stop_grace_period not a duration",
            compose(web_with("    stop_grace_period: forever\n")),
            &["compose.yaml", "stop_grace_period"],
        ),
        bad(
            "mem_limit not a size",
            compose(web_with("    mem_limit: lots\n")),
            &["compose.yaml", "mem_limit"],
        ),
        bad(
            "cpus not a number",
            compose(web_with("    cpus: many\n")),
            &["compose.yaml", "cpus"],
        ),
        bad(
            "container_name with two replicas",
            compose(web_with("    container_name: fixed\n")),
            &["compose.yaml", "container_name"],
        ),
        bad(
            "service without image or build",
            compose("services:\n  web:\n    restart: \"no\"\n".into()),
            &["compose.yaml", "web"],
        ),
        bad(
            "command is a mapping",
            compose(web_with("    command: {a: b}\n")),
            &["compose.yaml", "command"],
        ),
        bad(
            "environment is a number",
            compose("services:\n  web:\n    image: x\n    environment: 5\n".into()),
            &["compose.yaml", "environment"],
        ),
        bad(
            "ulimits not a number",
            compose(web_with("    ulimits:\n      nofile: lots\n")),
            &["compose.yaml", "ulimits"],
        ),
        bad(
            "extends (not supported)",
            compose(web_with("    extends:\n      service: other\n")),
            &["compose.yaml", "extends"],
        ),
        bad(
            "x-rollout step over 100%",
            compose(web_with(
                "    x-rollout:\n      strategy: canary\n      steps: [1, \"150%\"]\n",
            )),
            &["compose.yaml", "steps"],
        ),
        bad(
            "update_config parallelism negative",
            compose(
                web_with("    deploy:\n      update_config:\n        parallelism: -1\n")
                    .replace("    deploy:\n      replicas: 2\n", ""),
            ),
            &["compose.yaml", "parallelism"],
        ),
        bad(
            "gate with an unknown kind",
            compose(web_with(
                "    x-rollout:\n      strategy: canary\n      steps: [1]\n      gates:\n        - kind: crystal-ball\n",
            )),
            &["compose.yaml", "gates"],
        ),
        bad("billion laughs", compose(laughs), &["compose.yaml"]),
        bad(
            "deep nesting",
            compose(format!(
                "{}x-deep: {}{}\n",
                good("v1"),
                "[".repeat(100_000),
                "]".repeat(100_000)
            )),
            &["compose.yaml"],
        ),
        bad(
            "compose file over the size limit",
            compose(format!("{}# {}\n", good("v1"), "x".repeat(2 << 20))),
            &["compose.yaml"],
        ),
        bad(
            "override file invalid",
            Box::new(|dir: &Path| {
                compose(good("v1"))(dir);
                write("compose.override.yaml", "services:\n  web: [\n".into())(dir);
            }),
            &["compose.override.yaml"],
        ),
        bad(
            ".env syntax error",
            Box::new(|dir: &Path| {
                let _ = std::fs::remove_file(dir.join("compose.override.yaml"));
                write(".env", "=novalue\n".into())(dir);
            }),
            &[".env"],
        ),
        bad(
            "env_file missing",
            Box::new(|dir: &Path| {
                let _ = std::fs::remove_file(dir.join(".env"));
                compose(web_with("    env_file: missing.env\n"))(dir);
            }),
            &["missing.env"],
        ),
        bad(
            "env_file is a directory",
            env_file(|p| std::fs::create_dir(p).unwrap()),
            &["app.env"],
        ),
        bad(
            "env_file is a FIFO",
            env_file(|p| {
                let ok = std::process::Command::new("mkfifo")
                    .arg(p)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "mkfifo failed");
            }),
            &["app.env"],
        ),
        bad(
            "env_file is /dev/zero",
            env_file(|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
            &["app.env"],
        ),
        bad(
            "env_file is a dangling symlink",
            env_file(|p| std::os::unix::fs::symlink("/nonexistent/app.env", p).unwrap()),
            &["app.env"],
        ),
        bad(
            "env_file syntax error",
            env_file(|p| std::fs::write(p, "=x\n").unwrap()),
            &["app.env"],
        ),
        bad(
            "compose.yaml is a dangling symlink",
            replace_compose(|p| {
                std::os::unix::fs::symlink("/nonexistent/compose.yaml", p).unwrap()
            }),
            &["compose.yaml"],
        ),
        bad(
            "compose.yaml is a symlink loop",
            replace_compose(|p| std::os::unix::fs::symlink(p, p).unwrap()),
            &["compose.yaml"],
        ),
        bad(
            "compose.yaml is a directory",
            replace_compose(|p| std::fs::create_dir(p).unwrap()),
            &["compose.yaml"],
        ),
        bad(
            "compose.yaml is missing",
            replace_compose(|_| {}),
            &["no compose file"],
        ),
        bad(
            "compose.yaml is a FIFO",
            replace_compose(|p| {
                let ok = std::process::Command::new("mkfifo")
                    .arg(p)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "mkfifo failed");
            }),
            &["compose.yaml"],
        ),
    ]
}

fn start(project: &TestProject, extra: &[&str]) -> (Daemon, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let listen = addr.to_string();
    let mut flags = vec!["--listen", listen.as_str()];
    flags.extend_from_slice(extra);
    let mut daemon = Daemon::start(project, &flags);
    daemon.wait_ready();
    (daemon, addr)
}

#[test]
fn fifty_bad_desired_states_change_nothing_and_the_next_good_write_converges() {
    let project = TestProject::new("sc-bad");
    let names = replica_names(&project, "web", &[1, 2]);
    project.write_compose(&good("v1"));
    let (mut daemon, addr) = start(&project, &[]);
    let before = wait_for_running(&project, &names);
    let dir = project.path(project.name());
    let cases = corpus();
    assert!(cases.len() >= 50, "only {} bad states", cases.len());
    let mut last_error = String::new();
    for (n, case) in cases.iter().enumerate() {
        (case.apply)(&dir);
        let mut error = String::new();
        let reported = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            error = project_status(addr, project.name())
                .and_then(|p| p["load_error"].as_str().map(str::to_owned))
                .unwrap_or_default();
            error != last_error && case.expect.iter().all(|e| error.contains(e))
        });
        assert!(
            reported,
            "case {n} ({}): /status does not report an error naming {:?}; load_error: {error}\n{}",
            case.what,
            case.expect,
            daemon.log()
        );
        last_error = error;
        assert!(
            !daemon.has_exited(),
            "case {n} ({}): the daemon died",
            case.what
        );
        let asked = Instant::now();
        let healthz = http_get(addr, "/healthz");
        assert!(
            matches!(healthz, Ok((200, _))) && asked.elapsed() < Duration::from_secs(1),
            "case {n} ({}): /healthz {healthz:?} after {:?}",
            case.what,
            asked.elapsed()
        );
        assert_eq!(
            ids_by_name(&project),
            before,
            "case {n} ({}): a container changed",
            case.what
        );
    }
    for leftover in ["app.env", "compose.override.yaml", ".env"] {
        let path = dir.join(leftover);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(&path);
    }
    let _ = std::fs::remove_dir_all(dir.join("compose.yaml"));
    project.write_compose(&good("v2"));
    let converged = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        let now = ids_by_name(&project);
        names
            .iter()
            .all(|n| now.get(n).is_some_and(|id| *id != before[n]))
    });
    assert!(
        converged,
        "the good write was not applied: {:?}",
        ids_by_name(&project)
    );
    wait_for_running(&project, &names);
    let status = project_status(addr, project.name()).unwrap();
    assert_eq!(status["valid"], true, "{status}");
}

#[test]
fn a_compose_file_missing_for_a_moment_or_a_dangling_symlink_never_prunes() {
    let project = TestProject::new("sc-blink");
    let names = replica_names(&project, "web", &[1, 2]);
    project.write_compose(&good("v1"));
    let (_daemon, _addr) = start(&project, &[]);
    let before = wait_for_running(&project, &names);
    let file = project.path(&format!("{}/compose.yaml", project.name()));

    std::fs::remove_file(&file).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    project.write_compose(&good("v1"));
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink("/nonexistent/compose.yaml", &file).unwrap();
    let untouched = stays_unchanged(Duration::from_secs(8), || ids_by_name(&project) != before);
    assert!(untouched, "containers changed: {:?}", ids_by_name(&project));
    std::fs::remove_file(&file).unwrap();
    project.write_compose(&good("v1"));
    let untouched = stays_unchanged(Duration::from_secs(3), || ids_by_name(&project) != before);
    assert!(untouched, "containers changed: {:?}", ids_by_name(&project));
}

#[test]
fn a_deleted_project_directory_is_pruned_after_the_grace_and_a_restored_one_is_not() {
    let project = TestProject::new("sc-rmdir");
    let names = replica_names(&project, "web", &[1]);
    let text = good("v1").replace("replicas: 2", "replicas: 1");
    project.write_compose(&text);
    // A second project beside it (named and cleaned up as its own test project), so the
    // desired directory is never empty.
    let keep = TestProject::new("sc-rmdir-keep");
    project.write(&format!("{}/compose.yaml", keep.name()), &text);
    let (daemon, _addr) = start(&project, &["--removal-grace", "3s"]);
    let before = wait_for_running(&project, &names);
    let dir = project.path(project.name());

    std::fs::remove_dir_all(&dir).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    project.write_compose(&text);
    let untouched = stays_unchanged(Duration::from_secs(6), || ids_by_name(&project) != before);
    assert!(
        untouched,
        "a restored directory was pruned: {:?}",
        ids_by_name(&project)
    );

    std::fs::remove_dir_all(&dir).unwrap();
    let pruned = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        ids_by_name(&project).is_empty()
    });
    assert!(
        pruned,
        "the deleted project was not pruned:\n{}",
        daemon.log()
    );
    assert!(
        daemon
            .log()
            .contains("removed only if the next load agrees")
    );
}

#[test]
fn an_instance_pointed_at_another_directory_prunes_nothing_until_told_to_adopt() {
    let first = TestProject::new("sc-own-a");
    let second = TestProject::new("sc-own-b");
    let first_names = replica_names(&first, "web", &[1]);
    let second_names = replica_names(&second, "web", &[1]);
    let one = good("v1").replace("replicas: 2", "replicas: 1");
    first.write_compose(&one);
    second.write_compose(&one);
    let (daemon, _) = start(&first, &[]);
    let first_ids = wait_for_running(&first, &first_names);
    drop(daemon);

    // The same instance (the test's), now serving another directory.
    let (daemon, addr) = start(&second, &[]);
    wait_for_running(&second, &second_names);
    let foreign = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        project_status(addr, first.name()).is_some_and(|p| p["foreign"] == true)
    });
    assert!(foreign, "/status does not say the first project is foreign");
    let untouched = stays_unchanged(Duration::from_secs(5), || ids_by_name(&first) != first_ids);
    assert!(
        untouched,
        "the first directory's project changed: {:?}",
        ids_by_name(&first)
    );
    let log = daemon.log();
    assert!(log.contains("was not loaded from"), "{log}");
    assert!(log.contains("--adopt"), "{log}");
    assert_eq!(ids_by_name(&first), first_ids);
    drop(daemon);
    let desired = second.dir().display().to_string();
    let plan = common::run_cli(&["plan", "--desired", &desired]);
    assert!(
        plan.stdout.contains(&format!(
            "note: project {} runs under this instance but was not loaded",
            first.name()
        )),
        "{}",
        plan.all()
    );

    let (daemon, _) = start(&second, &["--adopt"]);
    let pruned = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        ids_by_name(&first).is_empty()
    });
    assert!(pruned, "--adopt did not prune:\n{}", daemon.log());
    let second_after: BTreeMap<String, String> = ids_by_name(&second);
    assert_eq!(second_after.len(), 1);
}

#[test]
fn validate_reports_a_compose_file_that_is_a_dangling_symlink_a_loop_or_a_directory() {
    let project = TestProject::new("sc-validate");
    let dir = project.dir();
    for name in ["dangling", "looping", "directory"] {
        std::fs::create_dir(dir.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(
        "/nonexistent/compose.yaml",
        dir.join("dangling/compose.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        dir.join("looping/compose.yaml"),
        dir.join("looping/compose.yaml"),
    )
    .unwrap();
    std::fs::create_dir(dir.join("directory/compose.yaml")).unwrap();
    let desired = dir.display().to_string();
    let run = common::run_cli(&["validate", "--desired", &desired]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    for name in ["dangling", "looping", "directory"] {
        assert!(
            run.stdout.contains(&format!("invalid {name}")),
            "{name}: {}",
            run.all()
        );
        assert!(
            run.stderr.contains(&format!("{name}/compose.yaml")),
            "{name}: {}",
            run.all()
        );
    }
}
