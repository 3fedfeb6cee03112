//! End-to-end scenario of `composectl run` under a connection flood, against the real
//! engine: with its descriptor limit lowered to 256, the daemon faces clients that keep
//! ~1,500 idle TCP connections to its HTTP port and 100 to its control socket open
//! (reconnecting whenever one is closed), far more than it has descriptors. While they
//! hold on, it still heals a killed replica and converges a change of the desired state:
//! its connection caps leave the loop its descriptors. Once they close, `/healthz`
//! answers at once. The docker CLI is the oracle.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

use common::{
    Daemon, TestProject, demo_image, docker, free_port, http_get, ids_by_name, replica_names,
    state_base, test_instance, wait_for_running, wait_until,
};

/// The daemon's descriptor limit, soft and hard: it cannot raise it.
const DAEMON_NOFILE: libc::rlim_t = 256;
/// Idle connections held to the HTTP port.
const HTTP_CLIENTS: usize = 1500;
/// Idle connections held to the control socket.
const CONTROL_CLIENTS: usize = 100;

/// `web`: 2 replicas of the demo app with `VERSION=version`.
fn web(version: &str) -> String {
    format!(
        "services:\n  web:\n    image: {}\n    restart: \"no\"\n    environment:\n      VERSION: {version}\n    deploy:\n      replicas: 2\n",
        demo_image("v1")
    )
}

/// Sets this process's `RLIMIT_NOFILE` to `soft`/`hard`.
fn set_nofile(soft: libc::rlim_t, hard: libc::rlim_t) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit; setrlimit only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Raises this test's own soft descriptor limit to its hard one: it holds ~1,600 sockets.
fn raise_own_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call to fill.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    let hard = limit.rlim_max;
    assert!(
        hard as usize > HTTP_CLIENTS + CONTROL_CLIENTS + 100,
        "this test needs more than {} descriptors; the hard limit is {hard}",
        HTTP_CLIENTS + CONTROL_CLIENTS + 100
    );
    set_nofile(hard, hard).expect("cannot raise the test's own descriptor limit");
}

/// Clients that keep up to `count` idle connections open: each reconnects as soon as the
/// daemon closes its connection or a connect fails, until the flood stops. So the daemon
/// faces the same pressure for the whole scenario, as with a client that leaks
/// connections, not one burst that its timeouts clear.
struct Flood {
    open: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flood {
    /// Idle TCP connections to `addr`.
    fn tcp(addr: SocketAddr, count: usize) -> Self {
        Self::start(count, move || tokio::net::TcpStream::connect(addr))
    }

    /// Idle connections to the unix socket at `path`.
    fn unix(path: PathBuf, count: usize) -> Self {
        Self::start(count, move || tokio::net::UnixStream::connect(path.clone()))
    }

    fn start<C, F, S>(count: usize, connect: C) -> Self
    where
        C: Fn() -> F + Clone + Send + 'static,
        F: Future<Output = std::io::Result<S>> + Send + 'static,
        S: AsyncRead + Unpin + Send + 'static,
    {
        let open = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let counter = open.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut clients = tokio::task::JoinSet::new();
                for _ in 0..count {
                    clients.spawn(hold(connect.clone(), counter.clone()));
                }
                let _ = stopped.await;
                // Dropping the set aborts every client and closes its connection.
            });
        });
        Self {
            open,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Connections established now (accepted, or queued in the daemon's backlog).
    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Closes every connection.
    fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One client of a [`Flood`]: connects, sends nothing, waits until the peer closes, again.
async fn hold<C, F, S>(connect: C, open: Arc<AtomicUsize>)
where
    C: Fn() -> F,
    F: Future<Output = std::io::Result<S>>,
    S: AsyncRead + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(3), connect()).await {
            Ok(Ok(mut stream)) => {
                open.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0; 256];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                open.fetch_sub(1, Ordering::SeqCst);
            }
            // The backlog is full: the kernel dropped the SYN. Try again.
            Err(_) => {}
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// True when container `name` runs with `VERSION=version`.
fn runs_version(name: &str, version: &str) -> bool {
    common::try_docker(&[
        "inspect",
        "--format",
        "{{.State.Running}} {{json .Config.Env}}",
        name,
    ])
    .is_ok_and(|out| out.starts_with("true ") && out.contains(&format!("\"VERSION={version}\"")))
}

#[test]
fn the_loop_heals_and_converges_while_idle_clients_hold_more_connections_than_it_has_descriptors() {
    raise_own_limit();
    let project = TestProject::new("sc-limits");
    project.write_compose(&web("one"));
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let listen = addr.to_string();
    let mut daemon = Daemon::start_with(&project, &["--listen", &listen], |command| {
        // SAFETY: runs between fork and exec; setrlimit is async-signal-safe and the
        // closure allocates nothing.
        unsafe {
            command.pre_exec(|| set_nofile(DAEMON_NOFILE, DAEMON_NOFILE));
        }
    });
    daemon.wait_ready();
    let names = replica_names(&project, "web", &[1, 2]);
    wait_for_running(&project, &names);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", daemon.pid())).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 256 ")),
        "the daemon does not run with the lowered limit:\n{limits}"
    );
    let socket = state_base().join(test_instance()).join("control.sock");

    let tcp = Flood::tcp(addr, HTTP_CLIENTS);
    let control = Flood::unix(socket, CONTROL_CLIENTS);
    let flooded = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        tcp.open() > DAEMON_NOFILE as usize && control.open() == CONTROL_CLIENTS
    });
    assert!(
        flooded,
        "only {} TCP and {} control connections established: too few to exhaust the \
         daemon's descriptors",
        tcp.open(),
        control.open()
    );
    eprintln!(
        "holding {} TCP and {} control connections; the daemon has {} descriptors open",
        tcp.open(),
        control.open(),
        open_fds(daemon.pid())
    );

    // A killed replica is healed (started again in place) while the connections are held.
    let victim = &names[0];
    let started_at = || docker(&["inspect", "-f", "{{.State.StartedAt}}", victim]);
    let first_start = started_at();
    let killed = Instant::now();
    docker(&["kill", victim]);
    let healed = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        project.running().iter().any(|c| &c.name == victim) && started_at() != first_start
    });
    assert!(
        healed,
        "{victim} was not started again within 20 s; the engine shows {:?}",
        ids_by_name(&project)
    );
    eprintln!("the killed replica was healed in {:?}", killed.elapsed());

    // A change of the desired state is loaded and converges.
    let changed = Instant::now();
    project.write_compose(&web("two"));
    let converged = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        names.iter().all(|name| runs_version(name, "two"))
    });
    assert!(
        converged,
        "the change to VERSION=two did not converge; the engine shows {:?}",
        ids_by_name(&project)
    );
    eprintln!(
        "the changed desired state converged in {:?}",
        changed.elapsed()
    );
    let fds = open_fds(daemon.pid());
    assert!(
        fds < DAEMON_NOFILE as usize - 64,
        "the daemon holds {fds} descriptors of {DAEMON_NOFILE}"
    );

    // Once the clients are gone, the daemon answers at once.
    tcp.stop();
    control.stop();
    let closed = Instant::now();
    let healthy = wait_until(Duration::from_secs(2), Duration::from_millis(50), || {
        http_get(addr, "/healthz").is_ok_and(|(status, _)| status == 200)
    });
    let waited = closed.elapsed();
    assert!(
        healthy && waited <= Duration::from_secs(2),
        "/healthz did not answer 200 within 2 s of the close ({waited:?})"
    );
    eprintln!("/healthz answered {waited:?} after the close");
    let log = daemon.log();
    assert!(
        !log.contains("Too many open files"),
        "the daemon ran out of descriptors:\n{log}"
    );
    assert!(
        log.contains("the file descriptor limit (RLIMIT_NOFILE) is 256"),
        "the daemon did not log its descriptor limit:\n{log}"
    );
}
