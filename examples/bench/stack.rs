//! The benchmarked stack and its lifetime: N services x 3 replicas of one image (the
//! classic stack: 10 services of the demo image), written once as composectl's desired
//! directory and once as docker-compose's file (the same YAML except the restart policy),
//! under two unique project names; plus the shell helpers that run docker, docker-compose
//! and composectl, and the cleanup that removes everything both projects created.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::error::{Error, Result, io};

/// Services in the stack.
pub const SERVICES: usize = 10;
/// Replicas per service.
pub const REPLICAS: usize = 3;
/// The image every service runs.
pub const IMAGE: &str = "composectl-demo:v1";
/// docker-compose 1.29's default `COMPOSE_PARALLEL_LIMIT`.
const COMPOSE_PARALLEL_DEFAULT: usize = 64;

/// What a stack runs: `services` services of `REPLICAS` replicas each, all of `image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Number of services.
    pub services: usize,
    /// The image of every service.
    pub image: String,
}

impl Shape {
    /// The classic stack: [`SERVICES`] services of [`IMAGE`].
    pub fn classic() -> Self {
        Self {
            services: SERVICES,
            image: IMAGE.to_owned(),
        }
    }

    /// Containers of the stack.
    pub fn containers(&self) -> usize {
        self.services * REPLICAS
    }
}

/// Names and paths of one benchmarked stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Scratch directory of the run.
    pub root: PathBuf,
    /// composectl's project (the desired directory's only project).
    pub ours: String,
    /// docker-compose's project.
    pub theirs: String,
    /// The raw Engine API reference's project (figures 5-6, `crate::raw`).
    pub raw: String,
    /// composectl's instance (`--instance`): it sees and touches only its own objects.
    pub instance: String,
    /// The `composectl` binary.
    pub composectl: PathBuf,
    /// What the stack runs.
    pub shape: Shape,
}

impl Stack {
    /// The classic stack named after `tag` (lowercase letters and digits), in `root`.
    pub fn new(root: PathBuf, tag: &str, composectl: PathBuf) -> Self {
        Self::shaped(root, tag, composectl, Shape::classic())
    }

    /// A stack of `shape` named after `tag` (lowercase letters and digits), in `root`; its
    /// composectl instance is `tag`, so it sees no other stack's containers.
    pub fn shaped(root: PathBuf, tag: &str, composectl: PathBuf, shape: Shape) -> Self {
        Self {
            root,
            ours: format!("{tag}c"),
            theirs: format!("{tag}d"),
            raw: format!("{tag}r"),
            instance: tag.to_owned(),
            composectl,
            shape,
        }
    }

    /// composectl's desired directory.
    pub fn desired_dir(&self) -> PathBuf {
        self.root.join("desired")
    }

    /// composectl's compose file.
    pub fn our_file(&self) -> PathBuf {
        self.desired_dir().join(&self.ours).join("compose.yaml")
    }

    /// docker-compose's compose file.
    pub fn their_file(&self) -> PathBuf {
        self.root.join("reference").join("compose.yaml")
    }

    /// Writes both compose files.
    pub fn write_files(&self) -> Result<()> {
        self.write_generation(1)
    }

    /// Writes both compose files with `GENERATION: <generation>` in every service's
    /// environment (a new generation recreates every container).
    pub fn write_generation(&self, generation: u32) -> Result<()> {
        write_new(&self.our_file(), &self.yaml("no", "v1", generation))?;
        write_new(&self.their_file(), &self.yaml("always", "v1", generation))
    }

    /// Replaces composectl's compose file the way git does: a whole new file renamed over
    /// the old one. Returns the instant just before the rename.
    pub fn rewrite_ours(&self, version: &str) -> Result<Instant> {
        let staged = self.root.join("compose.yaml.new");
        std::fs::write(&staged, self.yaml("no", version, 1)).map_err(io("write compose file"))?;
        let before = Instant::now();
        std::fs::rename(&staged, self.our_file()).map_err(io("rename compose file"))?;
        Ok(before)
    }

    /// The name composectl gives replica `number` of service `service`.
    pub fn our_container(&self, service: usize, number: usize) -> String {
        format!("{}-{}-{number}", self.ours, service_name(service))
    }

    /// The name docker-compose gives replica `number` of service `service`.
    pub fn their_container(&self, service: usize, number: usize) -> String {
        format!("{}_{}_{number}", self.theirs, service_name(service))
    }

    /// `docker-compose -p <theirs> -f <file> <args>` through `docker_host`, with
    /// `COMPOSE_PARALLEL_LIMIT` at the number of services + 64: docker-compose 1.29 holds
    /// one permit per service while that service's containers wait for theirs, so at its
    /// default (64) a stack of 64 services or more deadlocks (docker/compose#5864); above
    /// the services it keeps its default 64 for the containers.
    pub fn compose_command(&self, docker_host: &str, args: &[&str]) -> Command {
        let file = self.their_file();
        let mut cmd = Command::new("docker-compose");
        cmd.env("DOCKER_HOST", docker_host)
            .env(
                "COMPOSE_PARALLEL_LIMIT",
                (self.shape.services + COMPOSE_PARALLEL_DEFAULT).to_string(),
            )
            .args(["-p", &self.theirs, "-f"])
            .arg(file)
            .args(args);
        cmd
    }

    /// `composectl <args> -d <desired>` through `docker_host`.
    pub fn composectl_command(&self, docker_host: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.composectl);
        cmd.env("DOCKER_HOST", docker_host)
            .env("COMPOSECTL_INSTANCE", &self.instance)
            .env("COMPOSECTL_LOG", "warn")
            .args(args)
            .arg("-d")
            .arg(self.desired_dir());
        cmd
    }

    /// Removes every container and network of the stack's projects (volumes: none are
    /// used) and the stack's scratch directory.
    pub async fn cleanup(&self) {
        remove_project(&self.ours).await;
        remove_project(&self.theirs).await;
        remove_project(&self.raw).await;
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// The stack's YAML; `first_version` is the VERSION of `s01` (what a change rewrites),
    /// `generation` the GENERATION of every service. Health checks are disabled: thirty
    /// 1 s checks would load the 2-core host more than anything measured here. No stop
    /// grace period is set: both tools use the default 10 s.
    fn yaml(&self, restart: &str, first_version: &str, generation: u32) -> String {
        let image = &self.shape.image;
        let mut yaml = String::from("services:\n");
        for service in 1..=self.shape.services {
            let version = if service == 1 { first_version } else { "v1" };
            yaml.push_str(&format!(
                "  {name}:\n    image: {image}\n    restart: \"{restart}\"\n    healthcheck:\n      \
                 disable: true\n    environment:\n      VERSION: {version}\n      \
                 GENERATION: \"{generation}\"\n    deploy:\n      replicas: {REPLICAS}\n",
                name = service_name(service),
            ));
        }
        yaml
    }
}

/// Removes every container (forcibly: SIGKILL) and network labelled as `project`'s.
pub async fn remove_project(project: &str) {
    let filter = format!("label=com.docker.compose.project={project}");
    if let Ok(ids) = docker(&["ps", "-aq", "--filter", &filter]).await {
        let ids: Vec<&str> = ids.split_whitespace().collect();
        for chunk in ids.chunks(100) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk);
            let _ = docker(&args).await;
        }
    }
    if let Ok(ids) = docker(&["network", "ls", "-q", "--filter", &filter]).await {
        for id in ids.split_whitespace() {
            let _ = docker(&["network", "rm", id]).await;
        }
    }
}

/// Running containers labelled as `project`'s.
pub async fn running(project: &str) -> Result<usize> {
    let filter = format!("label=com.docker.compose.project={project}");
    let ids = docker(&["ps", "-q", "--filter", &filter]).await?;
    Ok(ids.split_whitespace().count())
}

/// `s01` .. `s10` (`s100` and beyond have three digits).
pub fn service_name(service: usize) -> String {
    format!("s{service:02}")
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    }
    std::fs::write(path, text).map_err(io(format!("write {}", path.display())))
}

/// Runs `docker <args>` against the engine directly; its standard output.
pub async fn docker(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("docker");
    cmd.env_remove("DOCKER_HOST").args(args);
    output(cmd, &format!("docker {}", args.join(" "))).await
}

/// Runs `cmd` to completion; its standard output, or an error with its standard error.
pub async fn output(mut cmd: Command, name: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(io(format!("run {name}")))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
    Err(Error::Command {
        command: name.to_owned(),
        status: out.status.to_string(),
        stderr: tail,
    })
}

/// The engine ID and host PID of container `name`.
pub async fn id_and_pid(name: &str) -> Result<(String, u32)> {
    let out = docker(&["inspect", "-f", "{{.Id}} {{.State.Pid}}", name]).await?;
    let mut parts = out.split_whitespace();
    let id = parts.next().unwrap_or_default().to_owned();
    let pid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Ok((id, pid))
}

/// Runs `cmd` to completion, returning its wall time.
pub async fn timed(cmd: Command, name: &str) -> Result<Duration> {
    let start = Instant::now();
    output(cmd, name).await?;
    Ok(start.elapsed())
}
