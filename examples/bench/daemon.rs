//! The `composectl run` daemon under test: started through the proxy with its log in the
//! run's scratch directory, stopped with SIGTERM (then SIGKILL if it lingers).

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::{Error, Result, io};
use crate::memory::{self, Memory};
use crate::proxy::Proxy;
use crate::stack::Stack;

/// The debounce the daemon is started with (composectl's default).
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// A running daemon.
pub struct Daemon {
    child: Child,
    pid: u32,
}

impl Daemon {
    /// Starts `composectl run` on the stack's desired directory through `proxy`.
    pub fn start(stack: &Stack, proxy: &Proxy) -> Result<Self> {
        let log = std::fs::File::create(stack.root.join("daemon.log")).map_err(io("daemon log"))?;
        let debounce = format!("{}ms", DEBOUNCE.as_millis());
        let mut cmd = stack.composectl_command(
            &proxy.docker_host(),
            // Port 0: the benchmark does not scrape, and must not fight a real daemon's port.
            &["run", "--listen", "127.0.0.1:0", "--debounce", &debounce],
        );
        cmd.env("COMPOSECTL_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(io("start composectl run"))?;
        let pid = child
            .id()
            .ok_or_else(|| Error::State("composectl run exited at once".into()))?;
        Ok(Self { child, pid })
    }

    /// The daemon's process ID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fails when the daemon has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::State(format!(
                "composectl run exited ({status}); see daemon.log"
            ))),
            Err(e) => Err(io("wait for composectl run")(e)),
        }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        let exited = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        if exited.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Starts `composectl run` on the stack, waits until it made no call for `idle` (at most
/// `limit`), reads its memory and stops it.
pub async fn idle_memory(
    stack: &Stack,
    proxy: &Proxy,
    idle: Duration,
    limit: Duration,
) -> Result<Memory> {
    let mut daemon = Daemon::start(stack, proxy)?;
    let measured = async {
        if !proxy.wait_quiet(idle, limit).await {
            return Err(Error::State(format!(
                "composectl run on {} never went idle",
                stack.ours
            )));
        }
        daemon.check_alive()?;
        memory::read(daemon.pid())
            .ok_or_else(|| Error::State("cannot read the daemon's /proc status".into()))
    }
    .await;
    daemon.stop().await;
    measured
}
