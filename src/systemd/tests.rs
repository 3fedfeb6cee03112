//! The notification client against a real datagram socket standing in for systemd.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use super::{Error, Notifier, watchdog_interval_from};

/// A socket in a temporary directory, read like systemd reads `$NOTIFY_SOCKET`.
pub(crate) struct FakeSystemd {
    _dir: tempfile::TempDir,
    pub(crate) path: String,
    socket: UnixDatagram,
}

impl FakeSystemd {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify").to_str().unwrap().to_owned();
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Self {
            _dir: dir,
            path,
            socket,
        }
    }

    /// A notifier sending here.
    pub(crate) fn notifier(&self) -> Notifier {
        Notifier::with_socket(&self.path)
    }

    /// The next datagram (waits up to 5 s).
    pub(crate) fn receive(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).expect("a datagram arrives");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// Every datagram already sent, oldest first.
    pub(crate) fn drain(&self) -> Vec<String> {
        self.socket.set_nonblocking(true).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            all.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        self.socket.set_nonblocking(false).unwrap();
        all
    }

    pub(crate) fn nothing_pending(&self) -> bool {
        self.socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let empty = self.socket.recv(&mut buf).is_err();
        self.socket.set_nonblocking(false).unwrap();
        empty
    }
}

/// One notifier call, for table tests.
type Call = dyn Fn(&Notifier) -> super::Result<()>;

#[test]
fn each_call_sends_its_assignment_as_one_datagram() {
    let systemd = FakeSystemd::new();
    let notifier = Notifier::with_socket(&systemd.path);
    let cases: [(&Call, &str); 5] = [
        (&|n| n.ready(), "READY=1"),
        (
            &|n| n.status("3 containers in 1 project"),
            "STATUS=3 containers in 1 project",
        ),
        (&|n| n.watchdog(), "WATCHDOG=1"),
        (&|n| n.stopping(), "STOPPING=1"),
        (&|n| n.ready_with_status("up"), "READY=1\nSTATUS=up"),
    ];
    for (call, expected) in cases {
        call(&notifier).unwrap();
        assert_eq!(systemd.receive(), expected);
    }
    assert!(systemd.nothing_pending());
}

#[test]
fn a_status_line_never_spans_lines() {
    let systemd = FakeSystemd::new();
    let notifier = Notifier::with_socket(&systemd.path);
    notifier.status("one\ntwo\r\nthree").unwrap();
    assert_eq!(systemd.receive(), "STATUS=one two  three");
}

#[test]
fn an_abstract_socket_is_reached_by_its_at_name() {
    let name = format!("composectl-test-{}", std::process::id());
    let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    Notifier::with_socket(&format!("@{name}")).ready().unwrap();
    let mut buf = [0u8; 64];
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
}

#[test]
fn without_a_socket_every_call_is_a_silent_no_op() {
    let notifier = Notifier::disabled();
    assert!(!notifier.is_enabled());
    assert!(notifier.ready().is_ok());
    assert!(notifier.status("x").is_ok());
    assert!(notifier.watchdog().is_ok());
    assert!(notifier.stopping().is_ok());
    assert_eq!(
        notifier
            .with_watchdog(Duration::from_secs(1))
            .watchdog_interval(),
        None,
        "no pings without a socket"
    );
}

#[test]
fn a_relative_socket_path_is_reported_not_guessed() {
    let err = Notifier::with_socket("run/notify").ready().unwrap_err();
    assert!(matches!(err, Error::InvalidSocket), "{err}");
}

#[test]
fn a_vanished_socket_is_a_send_error() {
    let systemd = FakeSystemd::new();
    let path = systemd.path.clone();
    drop(systemd);
    let err = Notifier::with_socket(&path).watchdog().unwrap_err();
    assert!(matches!(err, Error::Send(_)), "{err}");
}

#[test]
fn the_watchdog_interval_is_half_the_timeout_for_this_process_only() {
    let cases = [
        (Some("60000000"), None, Some(Duration::from_secs(30))),
        (Some("60000000"), Some("42"), Some(Duration::from_secs(30))),
        (Some("60000000"), Some("43"), None),
        (Some("60000000"), Some("not-a-pid"), None),
        (Some("0"), None, None),
        (Some("soon"), None, None),
        (None, Some("42"), None),
        (Some("1000"), None, Some(Duration::from_micros(500))),
    ];
    for (usec, pid, expected) in cases {
        assert_eq!(
            watchdog_interval_from(usec, pid, 42),
            expected,
            "WATCHDOG_USEC={usec:?} WATCHDOG_PID={pid:?}"
        );
    }
}

#[test]
fn debug_output_does_not_reveal_the_socket_address() {
    let notifier = Notifier::with_socket("/run/secret/notify");
    let shown = format!("{notifier:?}");
    assert!(!shown.contains("secret"), "{shown}");
    assert!(shown.contains("enabled: true"), "{shown}");
}
