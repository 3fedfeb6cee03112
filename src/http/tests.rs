//! Tests of the HTTP endpoints: routing without a socket, then every route through a real
//! server on 127.0.0.1:0.

use std::net::SocketAddr;

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
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), telemetry)
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(stopped));
    (addr, stop)
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
