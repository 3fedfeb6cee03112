//! systemd integration, tested for real: the daemon's notifications on a datagram socket
//! standing in for `$NOTIFY_SOCKET` (in process on the fake engine, and as the built binary
//! against the real engine), the git sync script on real repositories, and
//! `systemd-analyze verify` on the unit files.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "systemd/git_sync.rs"]
mod git_sync;
#[path = "systemd/notify.rs"]
mod notify;
#[path = "systemd/units.rs"]
mod units;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// A socket in a temporary directory, read the way systemd reads `$NOTIFY_SOCKET`.
struct FakeSystemd {
    _dir: tempfile::TempDir,
    /// The socket's path: the value for `$NOTIFY_SOCKET`.
    path: String,
    socket: UnixDatagram,
}

impl FakeSystemd {
    /// A bound socket, nothing received yet.
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let path = dir.path().join("notify").to_str().unwrap().to_owned();
        let socket = UnixDatagram::bind(&path).expect("cannot bind the notify socket");
        socket.set_nonblocking(true).unwrap();
        Self {
            _dir: dir,
            path,
            socket,
        }
    }

    /// Every datagram already received, oldest first.
    fn drain(&self) -> Vec<String> {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            all.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        all
    }

    /// Receives until a datagram satisfies `wanted` (returned with everything received
    /// before it), or panics after `timeout` listing what came.
    fn wait_for(&self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            for datagram in self.drain() {
                let done = wanted(&datagram);
                seen.push(datagram);
                if done {
                    return seen;
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?}; received {seen:#?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
