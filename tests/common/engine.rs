//! [`PrivateEngine`]: a Docker engine of the test's own, which the test restarts (SIGTERM)
//! and kills (SIGKILL) at will, while the host's engine is never restarted, stopped or
//! reconfigured.
//!
//! A second dockerd on the same host is kept apart from the host's by:
//!
//! - its own network namespace (`ip netns add`, dockerd started through `nsenter --net`):
//!   dockerd 20.10 deletes the link named `docker0` when it starts with `--bridge=none` (and,
//!   with `--default-address-pool`, whenever it finds a stale default bridge network), which
//!   in the host's namespace is the host engine's bridge. In its own namespace there is no
//!   such link, and its bridges, routes and addresses stay there. composectl reaches it
//!   through its unix socket; gates that run inside containers (`docker_health`, `exec`)
//!   work, gates that dial container IPs from the host (`http`, `scrape`) cannot;
//! - its own `--data-root`, `--exec-root`, `--pidfile`, socket and an empty `--config-file`
//!   (the host's `/etc/docker/daemon.json` sets a data root of its own), all in a temporary
//!   directory;
//! - its own containerd: dockerd supervises one under its exec root unless
//!   `/run/containerd/containerd.sock` exists, in which case it would share that system
//!   containerd, so the harness refuses to start then, and checks after every start that
//!   the containerd runs as the private dockerd's child on the private config;
//! - its own cgroup parent (`/<name>`), so its containers' processes are found by cgroup;
//! - `--bridge=none --iptables=false --ip-masq=false --ip-forward=false
//!   --userland-proxy=false`: no firewall rule, sysctl or proxy of the host is touched;
//! - the `vfs` storage driver (the host's fuse-overlayfs is not needed for the small
//!   `FROM scratch` images), and an address pool apart from the host engine's networks.
//!
//! Drop stops it and then cleans up what a killed engine leaves behind: its containerd,
//! containerd shims and container processes (found by the private directory in their
//! command line, or by the private cgroup), everything mounted under its directory, the
//! namespace, the cgroups, the shims' sockets in `/run/containerd/s`, and the directory
//! itself.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{ContainerInfo, wait_until};

static COUNTER: AtomicU32 = AtomicU32::new(0);

const DOCKERD: &str = "/usr/sbin/dockerd";
/// The socket of a system containerd, which a dockerd would share instead of starting its
/// own.
const SYSTEM_CONTAINERD: &str = "/run/containerd/containerd.sock";
/// How long a start or a graceful stop may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// A dockerd of the test's own (see the module documentation); stopped and cleaned up on
/// drop.
pub struct PrivateEngine {
    name: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
    pool: String,
}

impl PrivateEngine {
    /// Starts a private engine and waits until it answers.
    pub fn start() -> Self {
        assert!(
            !Path::new(SYSTEM_CONTAINERD).exists(),
            "{SYSTEM_CONTAINERD} exists: a private dockerd would share that containerd"
        );
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("cpe-{pid}-{n}");
        // A short path: the sockets under it must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("cpe")
            .tempdir_in("/tmp")
            .expect("cannot create the engine's directory");
        std::fs::write(dir.path().join("daemon.json"), "{}\n").expect("cannot write daemon.json");
        let octet = 100 + (pid.wrapping_mul(7).wrapping_add(n)) % 100;
        let pool = format!("base=10.{octet}.0.0/16,size=24");
        // Built first, so that a failure below still cleans up on drop.
        let mut engine = Self {
            name,
            dir,
            child: None,
            pool,
        };
        let netns = engine.name.clone();
        run("ip", &["netns", "add", &netns]);
        run(
            "ip",
            &["netns", "exec", &netns, "ip", "link", "set", "lo", "up"],
        );
        engine.start_daemon();
        engine
    }

    /// The engine's address, as `DOCKER_HOST` takes it.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Runs the docker CLI against this engine: trimmed stdout, or a message with stderr.
    pub fn try_docker(&self, args: &[&str]) -> Result<String, String> {
        let host = self.host();
        let all: Vec<&str> = ["-H", host.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        super::try_docker(&all)
    }

    /// [`Self::try_docker`], panicking on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        self.try_docker(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// True when the engine answers.
    pub fn answers(&self) -> bool {
        self.try_docker(&["version", "--format", "{{.Server.Version}}"])
            .is_ok()
    }

    /// Copies `image` from the host's engine into this one (`docker save | docker load`).
    pub fn load_image(&self, image: &str) {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run docker save");
        let out = save.stdout.take().expect("piped stdout");
        let load = Command::new("docker")
            .args(["-H", &self.host(), "load", "--quiet"])
            .stdin(Stdio::from(out))
            .output()
            .expect("cannot run docker load");
        let saved = save.wait().expect("docker save ran");
        assert!(
            saved.success() && load.status.success(),
            "docker save {image} | docker load failed: {}",
            String::from_utf8_lossy(&load.stderr)
        );
    }

    /// Every container of compose project `project` on this engine, sorted by name.
    pub fn containers(&self, project: &str) -> Vec<ContainerInfo> {
        let filter = format!("label=com.docker.compose.project={project}");
        let ids = self
            .try_docker(&["ps", "-a", "-q", "--no-trunc", "--filter", &filter])
            .unwrap_or_default();
        let ids: Vec<&str> = ids.lines().collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["inspect"];
        args.extend(ids);
        let json = match self.try_docker(&args) {
            Ok(json) => json,
            Err(_) => return Vec::new(),
        };
        let all: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let mut containers: Vec<ContainerInfo> = all
            .as_array()
            .map(|all| all.iter().map(super::project::container_info).collect())
            .unwrap_or_default();
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        containers
    }

    /// The engine's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// Stops the engine gracefully (SIGTERM; dockerd stops its containers first) and waits
    /// until it exited.
    pub fn stop(&mut self) {
        assert!(
            self.terminate(),
            "the private dockerd ignored SIGTERM for {PATIENCE:?}"
        );
    }

    /// SIGTERM, then waits for the exit; false (after a SIGKILL) when that took too long.
    /// Never panics: drop uses it.
    fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let exited = wait_until(PATIENCE, Duration::from_millis(50), || {
            child.try_wait().map(|s| s.is_some()).unwrap_or(true)
        });
        if !exited {
            let _ = child.kill();
        }
        let _ = child.wait();
        exited
    }

    /// Kills the engine with SIGKILL, as a crash or the OOM killer would: its containerd
    /// dies with it, the containerd shims and containers go on running.
    ///
    /// Returns once the containerd is gone for good: its pid file survives, and a dockerd
    /// started while that process still exists (even as a zombie init has not reaped yet)
    /// takes it for a running containerd, waits for its socket and gives up.
    pub fn kill(&mut self) {
        let containerd = std::fs::read_to_string(self.path("exec/containerd/containerd.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = containerd {
            let proc = PathBuf::from(format!("/proc/{pid}"));
            let gone = wait_until(PATIENCE, Duration::from_millis(50), || !proc.exists());
            assert!(
                gone,
                "the killed engine's containerd ({pid}) never went away"
            );
        }
    }

    /// Starts the engine again on the same directories (after [`Self::stop`] or
    /// [`Self::kill`]) and waits until it answers.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the private engine is running");
        self.start_daemon();
    }

    /// [`Self::stop`], then [`Self::start_again`].
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    fn start_daemon(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("dockerd.log"))
            .expect("cannot open the engine's log");
        let err = log.try_clone().expect("cannot clone the log handle");
        let netns = format!("--net=/run/netns/{}", self.name);
        let cgroup = format!("--cgroup-parent=/{}", self.name);
        let host = self.host();
        let child = Command::new("nsenter")
            .arg(&netns)
            .arg(DOCKERD)
            .args(["--config-file", &self.path("daemon.json")])
            .args(["--data-root", &self.path("data")])
            .args(["--exec-root", &self.path("exec")])
            .args(["--pidfile", &self.path("docker.pid")])
            .args(["-H", &host])
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--userland-proxy=false",
                "--storage-driver=vfs",
            ])
            .args(["--default-address-pool", &self.pool])
            .arg(&cgroup)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("cannot start the private dockerd");
        self.child = Some(child);
        let mut exited = false;
        let up = wait_until(PATIENCE, Duration::from_millis(100), || {
            exited = self
                .child
                .as_mut()
                .is_none_or(|c| c.try_wait().map(|s| s.is_some()).unwrap_or(true));
            exited || self.answers()
        });
        assert!(
            up && !exited,
            "the private dockerd did not come up:\n{}",
            self.log()
        );
        self.assert_own_containerd();
    }

    /// Asserts that the engine runs a containerd of its own: its child, on the config under
    /// its exec root.
    fn assert_own_containerd(&self) {
        let dockerd = self.child.as_ref().expect("running").id();
        let config = format!("{}/containerd/containerd.toml", self.path("exec"));
        let found = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            processes().iter().any(|p| {
                p.parent == dockerd
                    && p.cmdline.contains("containerd")
                    && p.cmdline.contains(&config)
            })
        });
        assert!(
            found,
            "the private dockerd runs no containerd of its own (child of {dockerd} on {config})"
        );
    }

    /// Processes the engine left: its dockerd, containerd and shims (by the private
    /// directory in their command line) and container processes (by the private cgroup).
    fn leftovers(&self) -> Vec<u32> {
        let dir = self.dir.path().display().to_string();
        let cgroup = format!("/{}/", self.name);
        let me = std::process::id();
        processes()
            .into_iter()
            .filter(|p| p.pid != me)
            .filter(|p| p.cmdline.contains(&dir) || p.cgroup.contains(&cgroup))
            .map(|p| p.pid)
            .collect()
    }

    fn clean_up(&mut self) {
        // A graceful stop first: dockerd stops its containers and unmounts their files.
        if !self.terminate() {
            eprintln!("private engine {}: SIGTERM ignored; killed", self.name);
        }
        for _ in 0..5 {
            let left = self.leftovers();
            if left.is_empty() {
                break;
            }
            for pid in &left {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
                self.leftovers().is_empty()
            });
        }
        let left = self.leftovers();
        if !left.is_empty() {
            eprintln!(
                "private engine {}: processes survived SIGKILL: {left:?}",
                self.name
            );
        }
        for mount in mounts_under(self.dir.path()) {
            let _ = Command::new("umount")
                .args(["-l", &mount])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
        remove_cgroups(&self.name);
        self.remove_shim_sockets();
    }

    /// Removes the sockets the engine's containerd shims left in the host-wide
    /// `/run/containerd/s` (a killed shim does not): containerd 1.6 names each by the
    /// SHA-256 of `<containerd socket>/<namespace>/<container ID>`.
    fn remove_shim_sockets(&self) {
        use sha2::{Digest, Sha256};
        let address = self.path("exec/containerd/containerd.sock");
        let Ok(containers) = std::fs::read_dir(self.dir.path().join("data/containers")) else {
            return;
        };
        for id in containers.filter_map(Result::ok) {
            let key = format!("{address}/moby/{}", id.file_name().to_string_lossy());
            let hex: String = Sha256::digest(key.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = std::fs::remove_file(Path::new("/run/containerd/s").join(hex));
        }
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!(
                "---- private dockerd {} log (last 40 lines) ----\n{}\n---- end ----",
                self.name,
                tail.join("\n")
            );
        }
        self.clean_up();
        // The TempDir removes the directory when the fields drop.
    }
}

/// Runs `program args`, panicking when it fails.
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One process of the host.
struct Process {
    pid: u32,
    parent: u32,
    cmdline: String,
    cgroup: String,
}

/// Every process of the host, with its command line and cgroups (processes that end while
/// being read are left out).
fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let base = PathBuf::from(format!("/proc/{pid}"));
            let cmdline = std::fs::read(base.join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let cgroup = std::fs::read_to_string(base.join("cgroup")).unwrap_or_default();
            let stat = std::fs::read_to_string(base.join("stat")).ok()?;
            // `pid (comm) state ppid ...`: the parent follows the last ')'.
            let parent = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(Process {
                pid,
                parent,
                cmdline,
                cgroup,
            })
        })
        .collect()
}

/// Mount points under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<String> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| point.replace("\\040", " "))
        .filter(|point| point == &prefix || point.starts_with(&format!("{prefix}/")))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    mounts.dedup();
    mounts
}

/// Removes the engine's cgroups (`/<name>` under every hierarchy), deepest first; they are
/// empty once its processes are gone.
fn remove_cgroups(name: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for hierarchy in hierarchies.filter_map(Result::ok) {
        let root = hierarchy.path().join(name);
        if root.is_dir() {
            remove_dirs_deepest_first(&root);
        }
    }
}

fn remove_dirs_deepest_first(dir: &Path) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for child in children.filter_map(Result::ok) {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                remove_dirs_deepest_first(&child.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}
