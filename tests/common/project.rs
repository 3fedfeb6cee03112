//! [`TestProject`]: one compose project per test, with its own name and desired directory,
//! and everything labelled with it removed on drop; plus the docker-CLI view of a
//! project's containers ([`ContainerInfo`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{docker, try_docker};

/// The compose project label (the same key composectl writes).
pub const PROJECT_LABEL: &str = "com.docker.compose.project";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A project name unique on this machine and a temporary desired directory.
///
/// Drop removes every container labelled with the project (and their anonymous volumes),
/// its networks, and its labelled volumes. The harness may remove volumes; composectl never
/// does.
#[derive(Debug)]
pub struct TestProject {
    name: String,
    dir: tempfile::TempDir,
}

/// One container as `docker inspect` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The full container ID.
    pub id: String,
    /// The name, without the leading `/`.
    pub name: String,
    /// `created`, `running`, `restarting`, `exited`, ...
    pub state: String,
    /// `starting`, `healthy` or `unhealthy`; `None` without a health check.
    pub health: Option<String>,
    /// The image reference it was created with (`Config.Image`).
    pub image: String,
    /// The image ID (`sha256:...`).
    pub image_id: String,
    /// Every label.
    pub labels: BTreeMap<String, String>,
    /// How often the engine restarted it.
    pub restart_count: u64,
    /// The exit code of its last run (0 while running).
    pub exit_code: i64,
}

impl ContainerInfo {
    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// Its replica number (`com.docker.compose.container-number`), if it has one.
    pub fn number(&self) -> Option<u32> {
        self.label("com.docker.compose.container-number")?
            .parse()
            .ok()
    }
}

impl TestProject {
    /// A new project named `<prefix>-<pid>-<n>` (lowercased, compose-safe).
    pub fn new(prefix: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix: String = prefix
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let name = format!("{prefix}-{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&format!("desired-{name}-"))
            .tempdir()
            .expect("cannot create the desired directory");
        Self { name, dir }
    }

    /// The project name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The desired directory (the root composectl watches).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `file` (relative) inside the desired directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Writes `file` (relative, parents created) the way `git pull` does: a temporary file
    /// in the same directory, then a rename over the old one.
    pub fn write(&self, file: &str, contents: &str) {
        let path = self.path(file);
        let parent = path.parent().expect("a file inside the desired directory");
        fs::create_dir_all(parent).expect("cannot create the file's directory");
        let tmp = parent.join(format!(
            ".{}.tmp",
            path.file_name().unwrap().to_string_lossy()
        ));
        fs::write(&tmp, contents).expect("cannot write the temporary file");
        fs::rename(&tmp, &path).expect("cannot rename the temporary file");
    }

    /// `composectl ARGS --desired <this desired directory>`, run once.
    pub fn cli(&self, args: &[&str]) -> super::CliRun {
        let desired = self.dir().display().to_string();
        let mut all = args.to_vec();
        all.extend(["--desired", &desired]);
        super::run_cli(&all)
    }

    /// `composectl apply --once` on this desired directory, which must succeed.
    pub fn apply_once(&self) -> super::CliRun {
        let run = self.cli(&["apply", "--once"]);
        assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());
        run
    }

    /// Writes `<project>/compose.yaml` (one directory per project in the desired root).
    pub fn write_compose(&self, contents: &str) {
        self.write(&format!("{}/compose.yaml", self.name), contents);
    }

    /// Removes `file` (relative) from the desired directory.
    pub fn remove(&self, file: &str) {
        fs::remove_file(self.path(file)).expect("cannot remove the file");
    }

    /// Starts a container labelled with this project but not managed by composectl:
    /// `docker run -d --label <project label> <args>`; returns its ID.
    pub fn run_unmanaged(&self, args: &[&str]) -> String {
        let label = format!("{PROJECT_LABEL}={}", self.name);
        let mut all = vec!["run", "-d", "--label", &label];
        all.extend_from_slice(args);
        docker(&all)
    }

    /// Every container of the project (running or not), sorted by name.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        let ids = self.ids("ps", &["-a", "-q", "--no-trunc"]);
        let mut containers = inspect_containers(&ids);
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        containers
    }

    /// The running containers of the project, sorted by name.
    pub fn running(&self) -> Vec<ContainerInfo> {
        let mut containers = self.containers();
        containers.retain(|c| c.state == "running");
        containers
    }

    /// IDs listed by `docker <object...> --filter label=<project>` (empty on error).
    fn ids(&self, command: &str, flags: &[&str]) -> Vec<String> {
        let filter = format!("label={PROJECT_LABEL}={}", self.name);
        let mut args: Vec<&str> = command.split(' ').collect();
        args.extend_from_slice(flags);
        args.extend(["--filter", &filter]);
        try_docker(&args)
            .map(|out| out.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn remove_all(&self, command: &str, list_flags: &[&str], remove: &[&str]) {
        let ids = self.ids(command, list_flags);
        if ids.is_empty() {
            return;
        }
        let mut args: Vec<&str> = remove.to_vec();
        args.extend(ids.iter().map(String::as_str));
        if let Err(e) = try_docker(&args) {
            eprintln!("cleanup of project {}: {e}", self.name);
        }
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        self.remove_all("ps", &["-a", "-q"], &["rm", "-f", "-v"]);
        self.remove_all("network ls", &["-q"], &["network", "rm"]);
        self.remove_all("volume ls", &["-q"], &["volume", "rm", "-f"]);
        // Images composectl built for the project (labelled with it).
        self.remove_all("images", &["-q"], &["rmi", "-f"]);
        let state = super::state_base()
            .join(super::test_instance())
            .join(&self.name);
        let _ = std::fs::remove_dir_all(state);
    }
}

/// `docker inspect` of `ids`; containers gone in the meantime are left out.
pub fn inspect_containers(ids: &[String]) -> Vec<ContainerInfo> {
    if ids.is_empty() {
        return Vec::new();
    }
    let mut command = std::process::Command::new("docker");
    command.arg("inspect").args(ids);
    let output = command.output().expect("cannot run docker inspect");
    // With some IDs gone, docker still prints the others and exits 1.
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "docker inspect printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    json.as_array()
        .map(|all| all.iter().map(container_info).collect())
        .unwrap_or_default()
}

/// One entry of `docker inspect`'s JSON.
pub(super) fn container_info(v: &serde_json::Value) -> ContainerInfo {
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    let labels = v["Config"]["Labels"]
        .as_object()
        .map(|m| m.iter().map(|(k, val)| (k.clone(), text(val))).collect())
        .unwrap_or_default();
    ContainerInfo {
        id: text(&v["Id"]),
        name: text(&v["Name"]).trim_start_matches('/').to_owned(),
        state: text(&v["State"]["Status"]),
        health: v["State"]["Health"]["Status"].as_str().map(str::to_owned),
        image: text(&v["Config"]["Image"]),
        image_id: text(&v["Image"]),
        labels,
        restart_count: v["RestartCount"].as_u64().unwrap_or_default(),
        exit_code: v["State"]["ExitCode"].as_i64().unwrap_or_default(),
    }
}
