//! [`Daemon`]: `composectl run` as a child process with its output in a file, stopped on
//! drop; plus the engine's own record of what happened to a project ([`EventRecorder`]),
//! the oracle for "composectl wrote nothing" and "created this many containers".

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::project::PROJECT_LABEL;
use super::{TestProject, composectl, wait_until};

/// Flags every daemon gets unless the test passes its own value: a short resync and
/// debounce, so the tests see convergence within seconds, and HTTP endpoints on a port the
/// OS picks, so daemons of parallel tests never contend for the default port.
const DEFAULT_FLAGS: [(&str, &str); 3] = [
    ("--resync", "2s"),
    ("--debounce", "200ms"),
    ("--listen", "127.0.0.1:0"),
];

/// A running `composectl run --desired <dir>`; SIGTERM on drop (SIGKILL after 10 s).
///
/// When the test panics, drop prints the daemon's log, so a failed scenario shows what
/// the controller did.
pub struct Daemon {
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Daemon {
    /// Starts the daemon on `project`'s desired directory with `flags` added to the
    /// defaults (a flag given in `flags` replaces its default).
    pub fn start(project: &TestProject, flags: &[&str]) -> Self {
        Self::start_dir(project.dir(), flags)
    }

    /// Starts the daemon like [`Daemon::start`], letting `customize` change the command
    /// before it is spawned (a `pre_exec` hook that lowers a resource limit, say).
    pub fn start_with(
        project: &TestProject,
        flags: &[&str],
        customize: impl FnOnce(&mut Command),
    ) -> Self {
        Self::start_dir_with(project.dir(), flags, customize)
    }

    /// Starts the daemon on the desired directory `dir` with `flags`.
    pub fn start_dir(dir: &Path, flags: &[&str]) -> Self {
        Self::start_dir_with(dir, flags, |_| {})
    }

    /// [`Self::start_dir`] with `env` added to the daemon's environment (`DOCKER_HOST` of
    /// a [`super::PrivateEngine`], for one).
    pub fn start_dir_env(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_dir_with(dir, flags, |command| {
            command.envs(env.iter().copied());
        })
    }

    /// Starts the daemon on `dir` with `flags`, after `customize` has changed the command.
    fn start_dir_with(dir: &Path, flags: &[&str], customize: impl FnOnce(&mut Command)) -> Self {
        // The log lives outside the desired directory, which the daemon watches.
        let log = tempfile::Builder::new()
            .prefix("composectl-daemon-")
            .suffix(".log")
            .tempfile()
            .expect("cannot create the daemon log");
        let stdout: File = log.reopen().expect("cannot open the daemon log");
        let stderr = stdout.try_clone().expect("cannot clone the log handle");
        let mut command = composectl();
        command.arg("run").arg("--desired").arg(dir);
        for (flag, value) in DEFAULT_FLAGS {
            if !flags.contains(&flag) {
                command.args([flag, value]);
            }
        }
        command
            .args(flags)
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        customize(&mut command);
        let child = command.spawn().expect("cannot start composectl run");
        Self {
            child: Some(child),
            log,
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon runs").id()
    }

    /// Everything the daemon printed so far (stdout and stderr interleaved).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// How often `needle` occurs in the log so far.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until the log contains `needle`; false after `timeout` or when the daemon
    /// exited.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> bool {
        let mut found = false;
        wait_until(timeout, Duration::from_millis(100), || {
            found = self.log().contains(needle);
            found || self.has_exited()
        });
        found
    }

    /// Waits until the daemon has listed the engine (it acts only after that).
    pub fn wait_ready(&mut self) {
        let ready = self.wait_for_log("observed store relisted", Duration::from_secs(60));
        assert!(ready, "the daemon never listed the engine:\n{}", self.log());
    }

    /// True when the process has ended.
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().map(|s| s.is_some()).unwrap_or(true),
            None => true,
        }
    }

    /// Ends the daemon with SIGKILL, as a crash or `kill -9` would: no shutdown at all.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let stopped = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            child.try_wait().map(|s| s.is_some()).unwrap_or(true)
        });
        if !stopped {
            eprintln!("composectl run ignored SIGTERM for 10 s; killing it");
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
        if std::thread::panicking() {
            eprintln!(
                "---- composectl run log ----\n{}\n---- end ----",
                self.log()
            );
        }
    }
}

/// Seconds since the epoch with nanoseconds, the form `docker events --since` takes.
pub fn engine_time() -> String {
    let now = composectl::clock::since_epoch();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// One container event as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEvent {
    /// `create`, `start`, `die`, `health_status: healthy`, ...
    pub action: String,
    /// The container ID.
    pub id: String,
    /// The container name.
    pub name: String,
    /// When, in nanoseconds since the epoch.
    pub time_nanos: u128,
}

impl EngineEvent {
    /// The action's verb: `health_status` for `health_status: healthy`.
    pub fn verb(&self) -> &str {
        self.action.split(':').next().unwrap_or_default().trim()
    }
}

/// Records the container events of one project as the engine streams them.
///
/// `docker events --since ... --until ...` alone is not enough: the engine keeps only a
/// small ring of past events, which health checks of parallel tests overflow in seconds.
/// The recorder follows the live stream from the moment it starts (plus the ring's
/// events since then, so nothing between the start and the subscription is lost).
pub struct EventRecorder {
    child: Child,
    events: Arc<Mutex<Vec<EngineEvent>>>,
}

impl EventRecorder {
    /// Starts recording the events of `project` from now on.
    pub fn start(project: &TestProject) -> Self {
        let filter = format!("label={PROJECT_LABEL}={}", project.name());
        let mut child = std::process::Command::new("docker")
            .args([
                "events",
                "--since",
                &engine_time(),
                "--filter",
                "type=container",
            ])
            .args(["--filter", &filter, "--format", EVENT_FORMAT])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run docker events");
        let stdout = child.stdout.take().expect("piped stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(event) = parse_event(&line) {
                    sink.lock().unwrap().push(event);
                }
            }
        });
        Self { child, events }
    }

    /// Every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<EngineEvent> {
        let mut events = self.events.lock().unwrap().clone();
        events.sort_by_key(|e| e.time_nanos);
        events
    }

    /// The events up to `until` (nanoseconds since the epoch, see [`now_nanos`]), once
    /// the stream has passed it (health checks tick every second) or after 5 s.
    pub fn events_until(&self, until: u128) -> Vec<EngineEvent> {
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            self.events().iter().any(|e| e.time_nanos > until)
        });
        let mut events = self.events();
        events.retain(|e| e.time_nanos <= until);
        events
    }
}

impl Drop for EventRecorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Nanoseconds since the epoch, comparable with [`EngineEvent::time_nanos`].
pub fn now_nanos() -> u128 {
    composectl::clock::since_epoch().as_nanos()
}

const EVENT_FORMAT: &str =
    "{{.TimeNano}}|{{.Actor.ID}}|{{index .Actor.Attributes \"name\"}}|{{.Action}}";

fn parse_event(line: &str) -> Option<EngineEvent> {
    let mut parts = line.splitn(4, '|');
    let time_nanos = parts.next()?.trim().parse().ok()?;
    let id = parts.next()?.to_owned();
    let name = parts.next()?.to_owned();
    let action = parts.next()?.to_owned();
    Some(EngineEvent {
        action,
        id,
        name,
        time_nanos,
    })
}

/// The actions by which a container is written (as opposed to health checks and execs).
pub const WRITE_VERBS: [&str; 11] = [
    "create", "start", "stop", "kill", "die", "destroy", "rename", "update", "restart", "pause",
    "unpause",
];

/// The events of `events` that change a container.
pub fn writes(events: &[EngineEvent]) -> Vec<&EngineEvent> {
    events
        .iter()
        .filter(|e| WRITE_VERBS.contains(&e.verb()))
        .collect()
}

/// The `create` events of `events` whose container name starts with `name_prefix`.
pub fn creates<'a>(events: &'a [EngineEvent], name_prefix: &str) -> Vec<&'a EngineEvent> {
    events
        .iter()
        .filter(|e| e.verb() == "create" && e.name.starts_with(name_prefix))
        .collect()
}

/// Waits `period` and returns true when `changed` never held during it: the bounded
/// observation window of "nothing happens".
pub fn stays_unchanged(period: Duration, changed: impl FnMut() -> bool) -> bool {
    !wait_until(period, Duration::from_millis(250), changed)
}

/// A TCP port free on 127.0.0.1 right now (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind a free port")
        .port()
}

/// What a one-shot composectl command did: exit code and both outputs.
#[derive(Debug)]
pub struct CliRun {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliRun {
    /// Both outputs, for assertions on what the user sees.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `composectl <args>` to completion (killed after 3 minutes, a hang is a failure).
pub fn run_cli(args: &[&str]) -> CliRun {
    let stdout = tempfile::tempfile().expect("cannot create a temporary file");
    let stderr = tempfile::tempfile().expect("cannot create a temporary file");
    let mut child = composectl()
        .args(args)
        .stdout(Stdio::from(stdout.try_clone().expect("clone")))
        .stderr(Stdio::from(stderr.try_clone().expect("clone")))
        .spawn()
        .expect("cannot run composectl");
    let done = wait_until(Duration::from_secs(180), Duration::from_millis(50), || {
        child.try_wait().map(|s| s.is_some()).unwrap_or(true)
    });
    if !done {
        let _ = child.kill();
    }
    let status = child.wait().expect("cannot wait for composectl");
    assert!(done, "composectl {args:?} hung for 3 minutes");
    CliRun {
        code: status.code(),
        stdout: read_all(stdout),
        stderr: read_all(stderr),
    }
}

fn read_all(mut file: File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    file.rewind().expect("cannot rewind");
    file.read_to_string(&mut text)
        .expect("cannot read the output");
    text
}

/// Name -> ID of every container of `project` (any state).
pub fn ids_by_name(project: &TestProject) -> std::collections::BTreeMap<String, String> {
    project
        .containers()
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect()
}

/// Waits (up to 90 s) until the containers of `project` are exactly `names`, all running,
/// one container per name; returns name -> ID, or panics with what the engine shows.
pub fn wait_for_running(
    project: &TestProject,
    names: &[String],
) -> std::collections::BTreeMap<String, String> {
    let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
    expected.sort_unstable();
    let mut all = Vec::new();
    let settled = wait_until(Duration::from_secs(90), Duration::from_millis(250), || {
        all = project.containers();
        all.iter().all(|c| c.state == "running")
            && all
                .iter()
                .map(|c| c.name.as_str())
                .eq(expected.iter().copied())
    });
    assert!(
        settled,
        "expected exactly {expected:?} running; the engine shows {:?}",
        all.iter()
            .map(|c| format!("{} {} {}", c.name, c.state, &c.id[..12]))
            .collect::<Vec<_>>()
    );
    all.into_iter().map(|c| (c.name, c.id)).collect()
}

/// `<project>-<service>-<n>` for `n` in `numbers`.
pub fn replica_names(project: &TestProject, service: &str, numbers: &[u32]) -> Vec<String> {
    numbers
        .iter()
        .map(|n| format!("{}-{service}-{n}", project.name()))
        .collect()
}
