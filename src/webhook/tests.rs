use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// Accepts one request, answers `status`, and returns its head and body.
async fn receiver(status: &'static str) -> (String, tokio::task::JoinHandle<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/rollout", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request ended before its head did");
            raw.extend_from_slice(&buf[..n]);
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
        };
        let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .expect("a Content-Length header");
        let mut body = raw[head_end + 4..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the body is cut short");
            body.extend_from_slice(&buf[..n]);
        }
        let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream.write_all(answer.as_bytes()).await.unwrap();
        (head, body)
    });
    (url, task)
}

fn rolled_back() -> RolloutEvent {
    RolloutEvent {
        event: EventKind::RolledBack,
        project: "shop".into(),
        service: "web".into(),
        revision: 4,
        previous_revision: 3,
        image: "shop/web:1.5".into(),
        reason: Some("gate prometheus failed: 5xx ratio 0.21 > 0.05".into()),
        at: crate::timefmt::rfc3339(1_714_566_605),
    }
}

#[tokio::test]
async fn an_event_is_posted_as_json() {
    let (url, received) = receiver("204 No Content").await;
    Webhook::new(&url).unwrap().post(&rolled_back()).await;
    let (head, body) = received.await.unwrap();
    let request_line = head.lines().next().unwrap();
    assert_eq!(request_line, "POST /hooks/rollout HTTP/1.1");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("content-type: application/json")),
        "{head}"
    );
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "event": "rolled_back",
            "project": "shop",
            "service": "web",
            "revision": 4,
            "previous_revision": 3,
            "image": "shop/web:1.5",
            "reason": "gate prometheus failed: 5xx ratio 0.21 > 0.05",
            "at": "2024-05-01T12:30:05Z",
        })
    );
}

#[tokio::test]
async fn a_refusing_or_absent_receiver_does_not_fail_the_caller() {
    let (url, received) = receiver("500 Internal Server Error").await;
    Webhook::new(&url).unwrap().post(&rolled_back()).await;
    received.await.unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let closed = Webhook::new(&format!("http://127.0.0.1:{port}/")).unwrap();
    tokio::time::timeout(TIMEOUT * 2, closed.post(&rolled_back()))
        .await
        .expect("post gives up by itself");
}

#[test]
fn https_and_malformed_urls_are_refused_with_a_reason() {
    let err = Webhook::new("https://hooks.example.com/x").unwrap_err();
    assert!(
        err.to_string().contains("https:// is not supported"),
        "{err}"
    );
    let err = Webhook::new("hooks.example.com/x").unwrap_err();
    assert!(err.to_string().contains("not an http:// URL"), "{err}");
    let err = Webhook::new("http:///x").unwrap_err();
    assert!(err.to_string().contains("no host"), "{err}");
    assert_eq!(
        Webhook::new("http://127.0.0.1:8080/hook")
            .unwrap()
            .url()
            .to_string(),
        "http://127.0.0.1:8080/hook"
    );
    let err = Webhook::new("https://u:hook-pw-77@hooks.example.com/x?token=tk-9911").unwrap_err();
    assert_eq!(
        err.to_string(),
        "webhook URL https://***@hooks.example.com/x?token=***: https:// is not supported \
         (composectl speaks plain HTTP only); use an http:// URL, for example a relay on localhost"
    );
}

#[tokio::test]
async fn the_receiver_gets_basic_auth_from_the_userinfo_and_the_token_in_the_query() {
    let (url, received) = receiver("200 OK").await;
    let url = url.replace("http://", "http://hook:hook-pass-31@") + "?token=hook-token-31";
    Webhook::new(&url).unwrap().post(&rolled_back()).await;
    let (head, _) = received.await.unwrap();
    assert!(
        head.starts_with("POST /hooks/rollout?token=hook-token-31 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "Authorization: {}",
            Url::new(&url).basic_auth().unwrap()
        )),
        "{head}"
    );
}

#[tokio::test]
async fn the_body_is_scrubbed_of_known_secrets() {
    let (url, received) = receiver("204 No Content").await;
    crate::redact::remember("webhook-body-secret-5");
    let mut event = rolled_back();
    event.reason = Some("gate failed: webhook-body-secret-5 at http://u:p@x/?a=b".into());
    Webhook::new(&url).unwrap().post(&event).await;
    let (_, body) = received.await.unwrap();
    let posted: RolloutEvent = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        posted.reason.as_deref(),
        Some("gate failed: *** at http://***@x/?a=***")
    );
}

#[tokio::test]
async fn the_client_refuses_https_saying_it_is_not_supported() {
    let url = Url::new("https://example.com/");
    let err = client::post(&url, "application/json", b"{}", TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "POST https://example.com/: https:// is not supported (composectl speaks plain HTTP \
         only); use an http:// URL"
    );
}
