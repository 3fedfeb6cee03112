//! End-to-end scenario of `composectl run` under a connection flood, against the real
//! engine: with its descriptor limit lowered to 256, the daemon is held by ~1,500 idle TCP
//! connections to its HTTP port and ~100 to its control socket, more than it has
//! descriptors. While they are held it still heals a killed replica and converges a change
//! of the desired state (its connection caps keep the descriptors the loop needs); once
//! they close, `/healthz` answers at once. The docker CLI is the oracle.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

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

/// Opens up to `count` idle connections to `addr`, all at once (the daemon accepts only a
/// few and its listen backlog holds about a thousand; a connection the kernel does not
/// complete within 3 s is given up). Returns the established ones.
fn hold_tcp(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut connecting = tokio::task::JoinSet::new();
        for _ in 0..count {
            connecting.spawn(tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(addr),
            ));
        }
        let mut held = Vec::new();
        while let Some(joined) = connecting.join_next().await {
            if let Ok(Ok(stream)) = joined.unwrap() {
                held.push(stream.into_std().unwrap());
            }
        }
        held
    })
}

/// Opens `count` idle connections to the control socket at `path`.
fn hold_unix(path: &std::path::Path, count: usize) -> Vec<UnixStream> {
    (0..count)
        .map(|i| {
            UnixStream::connect(path)
                .unwrap_or_else(|e| panic!("control connection {i} to {}: {e}", path.display()))
        })
        .collect()
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
    assert!(
        daemon.log().contains("(RLIMIT_NOFILE) is 256"),
        "the daemon does not run with the lowered limit:\n{}",
        daemon.log()
    );
    let socket = state_base().join(test_instance()).join("control.sock");

    let started = Instant::now();
    let tcp = hold_tcp(addr, HTTP_CLIENTS);
    let unix = hold_unix(&socket, CONTROL_CLIENTS);
    eprintln!(
        "holding {} TCP and {} control connections (opened in {:?}); the daemon has {} descriptors open",
        tcp.len(),
        unix.len(),
        started.elapsed(),
        open_fds(daemon.pid())
    );
    assert!(
        tcp.len() > 2 * DAEMON_NOFILE as usize,
        "only {} connections established: too few to exhaust the daemon's descriptors",
        tcp.len()
    );

    // A killed replica is replaced while the connections are held.
    let before = ids_by_name(&project);
    let victim = &names[0];
    let killed = Instant::now();
    docker(&["kill", victim]);
    let replaced = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        project
            .running()
            .iter()
            .any(|c| &c.name == victim && c.id != before[victim])
    });
    assert!(
        replaced,
        "{victim} was not replaced within 20 s; the engine shows {:?}",
        ids_by_name(&project)
    );
    eprintln!("the killed replica was replaced in {:?}", killed.elapsed());

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
    drop(tcp);
    drop(unix);
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
}
