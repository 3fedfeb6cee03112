//! systemd integration: the `sd_notify` protocol, in a few lines of our own.
//!
//! Under `Type=notify`, systemd passes a datagram socket in `$NOTIFY_SOCKET` (a path, or an
//! abstract name written `@name`) and, with `WatchdogSec=`, the watchdog timeout in
//! `$WATCHDOG_USEC` (for the process `$WATCHDOG_PID`, when set). [`Notifier`] sends the
//! newline-separated `KEY=VALUE` datagrams systemd reads: `READY=1`, `STATUS=...`,
//! `WATCHDOG=1`, `STOPPING=1`. Outside systemd every call is a no-op.
//!
//! [`report::Reporter`] decides *when* the controller loop says what: READY after the first
//! reconcile of every project, STATUS summaries, watchdog pings from the loop itself.

pub mod report;

use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::Duration;

/// Errors of sending a notification.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `$NOTIFY_SOCKET` names neither an absolute path nor an abstract socket.
    #[error("NOTIFY_SOCKET is neither an absolute path nor an abstract (@) socket name")]
    InvalidSocket,
    /// The datagram could not be sent (socket gone, queue full, permission).
    #[error("cannot notify systemd: {0}")]
    Send(#[source] io::Error),
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where notifications go.
#[derive(Clone, PartialEq, Eq)]
enum Target {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket (the name without its leading `@`).
    Abstract(Vec<u8>),
    /// `$NOTIFY_SOCKET` held something unusable; every send reports it.
    Invalid,
}

impl Target {
    fn parse(value: &str) -> Option<Self> {
        if value.is_empty() {
            return None;
        }
        Some(if let Some(name) = value.strip_prefix('@') {
            Self::Abstract(name.as_bytes().to_vec())
        } else if value.starts_with('/') {
            Self::Path(PathBuf::from(value))
        } else {
            Self::Invalid
        })
    }

    fn address(&self) -> Result<SocketAddr> {
        match self {
            Self::Path(path) => SocketAddr::from_pathname(path).map_err(Error::Send),
            Self::Abstract(name) => SocketAddr::from_abstract_name(name).map_err(Error::Send),
            Self::Invalid => Err(Error::InvalidSocket),
        }
    }
}

/// A client of systemd's notification socket; a no-op when not started by systemd.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Notifier {
    target: Option<Target>,
    watchdog: Option<Duration>,
}

impl fmt::Debug for Notifier {
    // The socket address comes from the environment: say only whether there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("enabled", &self.is_enabled())
            .field("watchdog", &self.watchdog)
            .finish()
    }
}

impl Notifier {
    /// The notifier systemd set up for this process (`$NOTIFY_SOCKET`, `$WATCHDOG_USEC`,
    /// `$WATCHDOG_PID`); disabled when the variables are absent.
    pub fn from_env() -> Self {
        let socket = std::env::var("NOTIFY_SOCKET").ok();
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        Self {
            target: socket.as_deref().and_then(Target::parse),
            watchdog: watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id()),
        }
    }

    /// A notifier that does nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// A notifier sending to `socket`, written like `$NOTIFY_SOCKET` (a path, or `@name`
    /// for an abstract socket).
    pub fn with_socket(socket: &str) -> Self {
        Self {
            target: Target::parse(socket),
            watchdog: None,
        }
    }

    /// The same notifier, asking for watchdog pings every `interval`.
    pub fn with_watchdog(mut self, interval: Duration) -> Self {
        self.watchdog = Some(interval);
        self
    }

    /// True when notifications go somewhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often to send `WATCHDOG=1`: half of systemd's watchdog timeout; `None` when
    /// systemd's watchdog is off for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.filter(|_| self.is_enabled())
    }

    /// `READY=1`: start-up is complete.
    pub fn ready(&self) -> Result<()> {
        self.notify("READY=1")
    }

    /// `STATUS=<line>`: the one line `systemctl status` shows. Newlines become spaces.
    pub fn status(&self, line: &str) -> Result<()> {
        self.notify(&status_field(line))
    }

    /// `READY=1` and `STATUS=<line>` in one datagram.
    pub fn ready_with_status(&self, line: &str) -> Result<()> {
        self.notify(&format!("READY=1\n{}", status_field(line)))
    }

    /// `WATCHDOG=1`: the process is alive; systemd restarts it when these stop.
    pub fn watchdog(&self) -> Result<()> {
        self.notify("WATCHDOG=1")
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) -> Result<()> {
        self.notify("STOPPING=1")
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments) as one datagram; `Ok`
    /// without sending when disabled. Never blocks: a full queue is an error.
    pub fn notify(&self, state: &str) -> Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let address = target.address()?;
        let socket = UnixDatagram::unbound().map_err(Error::Send)?;
        socket.set_nonblocking(true).map_err(Error::Send)?;
        socket
            .send_to_addr(state.as_bytes(), &address)
            .map_err(Error::Send)?;
        Ok(())
    }
}

/// The `STATUS=` assignment of `line`, scrubbed like every output (`systemctl status`).
fn status_field(line: &str) -> String {
    format!(
        "STATUS={}",
        crate::redact::text(line).replace(['\n', '\r'], " ")
    )
}

/// The watchdog interval systemd asks of this process: half of `$WATCHDOG_USEC`, when set
/// and `$WATCHDOG_PID` (if present) names this process.
pub fn watchdog_interval() -> Option<Duration> {
    Notifier::from_env().watchdog
}

/// [`watchdog_interval`] from given values: `usec` is `$WATCHDOG_USEC`, `pid`
/// `$WATCHDOG_PID`, `own_pid` this process's ID.
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid {
        let pid: u32 = pid.trim().parse().ok()?;
        if pid != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec) / 2)
}

#[cfg(test)]
pub(crate) mod tests;
