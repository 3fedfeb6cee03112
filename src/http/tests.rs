//! Tests of the HTTP endpoints: routing without a socket, then every route through a real
//! server on 127.0.0.1:0; then the limits, with small ones: the connection cap, and the
//! timeouts that close idle, keep-alive and non-reading connections.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::controller::view::DesiredView;
use crate::metrics::ControllerState;
use crate::metrics::tests::{Fixed, sample_state};

/// One request on a fresh connection: status, content type and body.
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

async fn serve(telemetry: Telemetry) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (addr, _, stop) = serve_with(telemetry, LIMITS).await;
    (addr, stop)
}

/// A server with `limits`: its address, its slots, and the sender that stops it.
async fn serve_with(
    telemetry: Telemetry,
    limits: Limits,
) -> (SocketAddr, Slots, tokio::sync::oneshot::Sender<()>) {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), telemetry)
        .await
        .unwrap()
        .with_limits(limits);
    let addr = server.local_addr();
    let slots = server.slots();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(stopped));
    (addr, slots, stop)
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
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// Reads from `stream` until the peer closes it; how long that took.
async fn time_until_closed(stream: &mut tokio::net::TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0; 1024];
    // A reset is a close too.
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn every_route_answers_through_a_real_socket() {
    let telemetry = Telemetry::new();
    telemetry.attach_state(Fixed(sample_state()));
    let (addr, _stop) = serve(telemetry.clone()).await;

    let (status, _, body) = request(addr, "GET", "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    let (status, _, _) = request(addr, "GET", "/readyz").await;
    assert_eq!(status, 503, "no desired load yet");
    telemetry.record_load(&DesiredView::default());
    let (status, _, _) = request(addr, "GET", "/readyz").await;
    assert_eq!(status, 200);

    let (status, content_type, body) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, OPENMETRICS);
    assert!(body.contains("composectl_managed_containers{"), "{body}");
    assert!(body.ends_with("# EOF\n"));

    let (status, content_type, body) = request(addr, "GET", "/status").await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["projects"][0]["name"], "shop");
    assert_eq!(json["ready"], true);

    let (status, _, _) = request(addr, "GET", "/nowhere").await;
    assert_eq!(status, 404);
    let (status, _, _) = request(addr, "POST", "/metrics").await;
    assert_eq!(status, 405);
}

#[test]
fn status_is_unavailable_until_the_controller_attaches() {
    let telemetry = Telemetry::new();
    let response = respond(&telemetry, &Method::GET, "/status");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    telemetry.attach_state(Fixed(ControllerState::default()));
    let response = respond(&telemetry, &Method::GET, "/status");
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn readyz_says_the_engine_is_unreachable_while_it_is_and_healthz_stays_ok() {
    let telemetry = Telemetry::new();
    telemetry.record_load(&DesiredView::default());
    let mut state = sample_state();
    state.engine.unreachable_since_ms = Some(1_800_000_000_000);
    telemetry.attach_state(Fixed(state));
    let response = respond(&telemetry, &Method::GET, "/readyz");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = format!("{:?}", response.body());
    assert!(body.contains("Docker engine is unreachable"), "{body}");
    let response = respond(&telemetry, &Method::GET, "/healthz");
    assert_eq!(response.status(), StatusCode::OK);
    let response = respond(&telemetry, &Method::GET, "/status");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_taken_address_is_an_error_naming_it() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Server::bind(addr, Telemetry::new()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&addr.to_string()) && text.contains("--listen"),
        "{text}"
    );
}

#[tokio::test]
async fn the_server_stops_when_asked() {
    let (addr, stop) = serve(Telemetry::new()).await;
    stop.send(()).unwrap();
    let refused = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(refused.is_ok(), "still accepting after the stop");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_a_slot_frees() {
    let (addr, slots, _stop) =
        serve_with(Telemetry::new(), small(4, Duration::from_secs(60))).await;
    let mut idle = Vec::new();
    for _ in 0..4 + 50 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    assert!(eventually(Duration::from_secs(5), || slots.open() == 4).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slots.open(), 4, "the server holds no more than its cap");

    let waiting = tokio::spawn(request(addr, "GET", "/healthz"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "answered while every slot was taken"
    );

    drop(idle);
    let answered = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    let (status, _, _) = answered.expect("no answer after the slots freed").unwrap();
    assert_eq!(status, 200);
    assert!(eventually(Duration::from_secs(5), || slots.open() == 0).await);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(300);
    let (addr, slots, _stop) = serve_with(Telemetry::new(), small(4, timeout)).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(5), time_until_closed(&mut stream))
        .await
        .expect("the idle connection stayed open");
    assert!(waited >= timeout - Duration::from_millis(50), "{waited:?}");
    assert!(eventually(Duration::from_secs(1), || slots.open() == 0).await);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(300);
    let (addr, slots, _stop) = serve_with(Telemetry::new(), small(4, timeout)).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\nok\n") {
            let mut buf = [0; 256];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the answer: {answer:?}");
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    }
    assert_eq!(slots.open(), 1, "kept alive after two requests");
    let waited = tokio::time::timeout(Duration::from_secs(5), time_until_closed(&mut stream))
        .await
        .expect("the idle keep-alive connection stayed open");
    assert!(waited >= timeout - Duration::from_millis(50), "{waited:?}");
    assert!(eventually(Duration::from_secs(1), || slots.open() == 0).await);
}

#[tokio::test]
async fn a_client_that_reads_no_response_is_dropped_after_the_write_timeout() {
    let telemetry = Telemetry::new();
    telemetry.attach_state(Fixed(sample_state()));
    let (addr, slots, _stop) = serve_with(telemetry, small(4, Duration::from_millis(300))).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (_read, mut write) = stream.into_split();
    // Pipelined requests, far more answers than the socket buffers hold, none read.
    let flood = tokio::spawn(async move {
        let one = b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n";
        for _ in 0..100_000 {
            if write.write_all(one).await.is_err() {
                return;
            }
        }
    });
    assert!(eventually(Duration::from_secs(5), || slots.open() == 1).await);
    assert!(
        eventually(Duration::from_secs(10), || slots.open() == 0).await,
        "the connection still holds its slot"
    );
    flood.abort();
}
