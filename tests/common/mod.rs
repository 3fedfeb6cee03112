//! Support for the integration tests, which run against the real Docker engine.
//!
//! Every test file uses it through `mod common;`. It owns: the locally built images
//! ([`demo_image`], [`registry_image`], [`nginx_image`], [`controller_image`]), the docker
//! CLI as the tests' independent oracle ([`docker`]), the composectl binary
//! ([`composectl`]), per-test projects that clean up after themselves ([`TestProject`]), a
//! throwaway registry ([`Registry`]), a Docker engine of the test's own to restart and kill
//! ([`PrivateEngine`]), a bounded HTTP load generator ([`Load`]), and small helpers
//! ([`wait_until`], [`http_get`]). Each test binary uses a subset, hence the module-level
//! `dead_code` and `unused_imports` allowances; its helpers unwrap like the tests (clippy's
//! `allow-unwrap-in-tests` covers only `#[test]` functions of an integration test,
//! rust-clippy#11119).
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

mod daemon;
mod engine;
mod images;
mod load;
mod project;
mod registry;
mod rollout;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use daemon::*;
pub use engine::PrivateEngine;
pub use images::{controller_image, demo_image, nginx_image, registry_image};
pub use load::{Load, LoadReport, Outcome, Request, get_root};
pub use project::{ContainerInfo, TestProject, inspect_containers};
pub use registry::Registry;
pub use rollout::{
    Availability, PhasePoller, PhaseSample, Sample, TestImages, phase_timeline, rollout_phase,
    rollout_status, try_rollout_status,
};

/// Runs the docker CLI with `args` and returns its trimmed stdout; panics with its stderr
/// when it fails.
pub fn docker(args: &[&str]) -> String {
    try_docker(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the docker CLI with `args`: trimmed stdout, or a message with its stderr.
pub fn try_docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker {args:?}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The composectl binary built for these tests, with stdin closed, scoped to
/// [`test_instance`].
pub fn composectl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_composectl"));
    command
        .stdin(Stdio::null())
        .env("COMPOSECTL_INSTANCE", test_instance())
        .env("COMPOSECTL_STATE_DIR", state_base());
    command
}

/// The state directory base every test's composectl uses (`<base>/<instance>/` is the
/// test's own): short, because the control socket's path must fit in 108 bytes.
pub fn state_base() -> std::path::PathBuf {
    std::env::temp_dir().join("cctl")
}

/// The composectl instance of the calling test: its thread name (the test's name under
/// `cargo test`) and the process ID. Every test is its own instance, so a composectl run by
/// one test never sees, let alone prunes, the projects of a test running beside it.
pub fn test_instance() -> String {
    let thread = std::thread::current();
    let mut name: String = thread
        .name()
        .unwrap_or("main")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    // The instance names a directory that holds the control socket, whose path must fit
    // in 108 bytes: long test names keep their start and get a hash of the whole.
    if name.len() > 40 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        name = format!("{}-{:08x}", &name[..31], hasher.finish() as u32);
    }
    format!("test-{}-{name}", std::process::id())
}

/// Calls `condition` every `poll` until it holds (`true`) or `timeout` has passed (`false`).
pub fn wait_until(timeout: Duration, poll: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(poll);
    }
}

/// The entry of `project` in the `/status` document of the daemon at `addr`; `None` while
/// the daemon does not answer 200 or does not list the project.
pub fn project_status(addr: SocketAddr, project: &str) -> Option<serde_json::Value> {
    let (code, body) = http_get(addr, "/status").ok()?;
    if code != 200 {
        return None;
    }
    let status: serde_json::Value = serde_json::from_str(&body).ok()?;
    status["projects"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == project)
        .cloned()
}

/// One `GET path` on `addr` (HTTP/1.1, `Connection: close`): the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    Ok((status, body.to_owned()))
}

/// The host address a container's `container_port` (TCP) is published on, as
/// `docker port` reports it (IPv4 preferred).
pub fn published_addr(container: &str, container_port: u16) -> SocketAddr {
    let out = docker(&["port", container, &format!("{container_port}/tcp")]);
    let line = out
        .lines()
        .find(|l| !l.starts_with('['))
        .or_else(|| out.lines().next())
        .unwrap_or_else(|| panic!("{container} publishes no port {container_port}"));
    let addr: SocketAddr = line
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("docker port answered {line:?}: {e}"));
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}
