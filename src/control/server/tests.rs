use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::*;
use crate::control::protocol::{Selector, ServiceStatus};
use crate::control::{Error, HandlerFuture, client};
use crate::sync;

/// Answers status requests with a fixed status and records every request.
struct FakeHandler {
    seen: Mutex<Vec<Request>>,
}

/// Asks the server at `path` for the status of every service.
async fn ask_status(path: &std::path::Path) -> Result<Response, Error> {
    let request = Request::Status {
        selector: Selector::default(),
    };
    client::request(path, &request).await
}

fn sample_status() -> ServiceStatus {
    ServiceStatus::example()
}

impl Handler for FakeHandler {
    fn handle(&self, request: Request) -> HandlerFuture<'_> {
        sync::lock(&self.seen).push(request.clone());
        Box::pin(async move {
            match request {
                Request::Status { .. } => Response::Status {
                    services: vec![sample_status()],
                },
                // An answer far larger than the socket buffers, for the write timeout.
                Request::Promote { selector } if selector.project.as_deref() == Some("huge") => {
                    Response::Done {
                        messages: vec!["x".repeat(16 << 20)],
                    }
                }
                other => Response::Done {
                    messages: vec![format!("{other:?}")],
                },
            }
        })
    }
}

/// A served socket in a fresh directory; dropping the sender stops it.
struct Running {
    _dir: tempfile::TempDir,
    path: PathBuf,
    handler: Arc<FakeHandler>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn start_at(dir: tempfile::TempDir, path: PathBuf) -> Running {
    start_limited_at(dir, path, LIMITS).0
}

/// A served socket with `limits`, and its slots.
fn start_limited(limits: Limits) -> (Running, Slots) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default").join(crate::control::SOCKET_NAME);
    start_limited_at(dir, path, limits)
}

fn start_limited_at(dir: tempfile::TempDir, path: PathBuf, limits: Limits) -> (Running, Slots) {
    let server = Server::bind(&path).expect("binds").with_limits(limits);
    let slots = server.slots();
    let handler = Arc::new(FakeHandler {
        seen: Mutex::new(Vec::new()),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(handler.clone(), async {
        let _ = stopped.await;
    }));
    let running = Running {
        _dir: dir,
        path,
        handler,
        stop,
        task,
    };
    (running, slots)
}

/// Small limits: `max_connections` slots, and a `timeout` for reading and for writing.
fn small(max_connections: usize, timeout: Duration) -> Limits {
    Limits {
        max_connections,
        read_timeout: timeout,
        write_timeout: timeout,
    }
}

/// Polls `condition` every 10 ms for up to `within`; true once it holds.
async fn eventually(within: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default").join(crate::control::SOCKET_NAME);
    start_at(dir, path)
}

async fn send_raw(path: &Path, bytes: &[u8]) -> Response {
    let mut stream = UnixStream::connect(path).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[tokio::test]
async fn a_status_answer_comes_back_intact() {
    let running = start();
    let request = Request::Status {
        selector: Selector::parse("shop/web"),
    };
    let response = client::request(&running.path, &request).await.unwrap();
    assert_eq!(
        response,
        Response::Status {
            services: vec![sample_status()]
        }
    );
    assert_eq!(*sync::lock(&running.handler.seen), vec![request]);
    let undo = Request::Undo {
        selector: Selector::parse("shop/web"),
        to_revision: Some(2),
    };
    let response = client::request(&running.path, &undo).await.unwrap();
    assert_eq!(
        response,
        Response::Done {
            messages: vec![format!("{undo:?}")]
        }
    );
}

#[tokio::test]
async fn a_malformed_line_is_answered_with_an_error_naming_the_problem() {
    let running = start();
    let response = send_raw(&running.path, b"{\"command\":\"explode\"}\n").await;
    let Response::Error { message } = response else {
        panic!("expected an error, got {response:?}");
    };
    assert!(message.contains("explode"), "{message}");
    assert!(message.contains("one JSON object per line"), "{message}");
    let response = send_raw(&running.path, b"not json\n").await;
    assert!(matches!(response, Response::Error { .. }), "{response:?}");
    assert!(sync::lock(&running.handler.seen).is_empty());
}

#[tokio::test]
async fn a_request_longer_than_the_cap_is_refused() {
    let running = start();
    let mut line = vec![b' '; MAX_REQUEST + 10];
    line.push(b'\n');
    let response = send_raw(&running.path, &line).await;
    let Response::Error { message } = response else {
        panic!("expected an error, got {response:?}");
    };
    assert!(message.contains("64 KiB"), "{message}");
}

#[tokio::test]
async fn the_socket_and_its_new_directory_are_root_only() {
    let running = start();
    let mode = std::fs::metadata(&running.path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let parent = std::fs::metadata(running.path.parent().unwrap()).unwrap();
    assert_eq!(parent.permissions().mode() & 0o777, 0o700);
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::control::SOCKET_NAME);
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "the stale socket file stays behind");
    let running = start_at(dir, path);
    let response = ask_status(&running.path).await.unwrap();
    assert!(matches!(response, Response::Status { .. }), "{response:?}");
}

#[tokio::test]
async fn a_live_socket_makes_bind_fail() {
    let running = start();
    let err = Server::bind(&running.path).unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("another composectl"), "{message}");
    assert!(
        message.contains(&running.path.display().to_string()),
        "{message}"
    );
    assert!(message.contains("--state-dir or --instance"), "{message}");
    // The first server still serves.
    let response = ask_status(&running.path).await.unwrap();
    assert!(matches!(response, Response::Status { .. }));
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::control::SOCKET_NAME);
    std::fs::write(&path, "precious").unwrap();
    let err = Server::bind(&path).unwrap_err();
    assert!(matches!(err, Error::NotASocket { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[tokio::test]
async fn shutdown_removes_the_socket_file() {
    let running = start();
    assert!(running.path.exists());
    running.stop.send(()).unwrap();
    running.task.await.unwrap();
    assert!(!running.path.exists());
    let err = ask_status(&running.path).await.unwrap_err();
    assert!(matches!(err, Error::NotRunning { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_socket_asks_whether_the_controller_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::control::SOCKET_NAME);
    let err = ask_status(&path).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("is `composectl run` running with the same --state-dir/--instance?"),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn permission_denied_says_to_run_as_root() {
    let err = Error::PermissionDenied {
        path: "/var/lib/composectl/default/control.sock".into(),
    };
    assert!(
        err.to_string()
            .contains("the control socket is readable by root only: run as root (sudo)")
    );
}

#[tokio::test]
async fn control_connections_beyond_the_cap_wait_until_a_slot_frees() {
    let (running, slots) = start_limited(small(2, Duration::from_secs(60)));
    let mut idle = Vec::new();
    for _ in 0..2 + 50 {
        idle.push(UnixStream::connect(&running.path).await.unwrap());
    }
    assert!(eventually(Duration::from_secs(5), || slots.open() == 2).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slots.open(), 2, "the server holds no more than its cap");

    let path = running.path.clone();
    let waiting = tokio::spawn(async move { ask_status(&path).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "answered while every slot was taken"
    );

    drop(idle);
    let answered = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    let response = answered.expect("no answer after the slots freed").unwrap();
    assert!(
        matches!(response, Ok(Response::Status { .. })),
        "{response:?}"
    );
    assert!(eventually(Duration::from_secs(5), || slots.open() == 0).await);
}

#[tokio::test]
async fn a_control_client_that_sends_nothing_is_dropped_after_the_read_timeout() {
    let timeout = Duration::from_millis(300);
    let (running, slots) = start_limited(small(2, timeout));
    let mut stream = UnixStream::connect(&running.path).await.unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the idle client was not dropped");
    assert!(started.elapsed() >= timeout - Duration::from_millis(50));
    assert!(rest.is_empty(), "an answer to nothing: {rest:?}");
    assert!(eventually(Duration::from_secs(1), || slots.open() == 0).await);
}

#[tokio::test]
async fn a_control_client_that_reads_no_answer_is_dropped_after_the_write_timeout() {
    let (running, slots) = start_limited(small(2, Duration::from_millis(300)));
    let mut stream = UnixStream::connect(&running.path).await.unwrap();
    let request = Request::Promote {
        selector: Selector::parse("huge/web"),
    };
    let mut line = serde_json::to_vec(&request).unwrap();
    line.push(b'\n');
    stream.write_all(&line).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || slots.open() == 1).await);
    assert!(
        eventually(Duration::from_secs(5), || slots.open() == 0).await,
        "the client still holds its slot"
    );
    drop(stream);
}
