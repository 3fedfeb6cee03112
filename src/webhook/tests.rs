use std::io::Write;

use super::test_receiver::{TestCa, load_failed, rolled_back, serve};
use super::*;

fn ca_file(pem: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(pem.as_bytes()).unwrap();
    file
}

#[tokio::test]
async fn an_event_is_posted_as_json_over_http() {
    let (url, mut received) = serve(vec!["204 No Content"], None).await;
    let hook = Webhook::new(&format!("{url}/hooks/rollout")).unwrap();
    assert_eq!(hook.format(), Format::Json);
    hook.deliver(&rolled_back()).await.unwrap();
    let got = received.recv().await.unwrap();
    assert_eq!(got.request_line(), "POST /hooks/rollout HTTP/1.1");
    assert!(
        got.head
            .lines()
            .any(|l| l.eq_ignore_ascii_case("content-type: application/json")),
        "{}",
        got.head
    );
    // The generic shape of a rollout event is the one the webhook always posted.
    assert_eq!(
        got.json(),
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
async fn a_project_condition_has_no_service_and_no_revisions() {
    let (url, mut received) = serve(vec!["200 OK"], None).await;
    Webhook::new(&url)
        .unwrap()
        .deliver(&load_failed())
        .await
        .unwrap();
    assert_eq!(
        received.recv().await.unwrap().json(),
        serde_json::json!({
            "event": "load_failed",
            "project": "shop",
            "reason": "compose.yaml: line 3: mapping values are not allowed here",
            "at": "2024-05-01T12:30:05Z",
        })
    );
}

#[tokio::test]
async fn https_reaches_a_receiver_signed_by_the_ca_file() {
    let ca = TestCa::new();
    let file = ca_file(&ca.ca_pem);
    let (url, mut received) = serve(vec!["200 OK"], Some(ca.server.clone())).await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let hook = Webhook::with_settings(&format!("{url}/hook"), None, Some(file.path())).unwrap();
    hook.deliver(&rolled_back()).await.unwrap();
    let got = received.recv().await.unwrap();
    assert_eq!(got.request_line(), "POST /hook HTTP/1.1");
    assert_eq!(got.json()["event"], "rolled_back");
}

#[tokio::test]
async fn https_refuses_a_receiver_no_trusted_ca_signed() {
    let ca = TestCa::new();
    let (url, _received) = serve(vec!["200 OK"], Some(ca.server.clone())).await;
    // Trusting another CA (and the system's roots) is not trusting this one.
    let other = ca_file(&TestCa::new().ca_pem);
    let token_url = format!("{url}/hook?token=tls-secret-8812");
    let hook = Webhook::with_settings(&token_url, None, Some(other.path())).unwrap();
    let failure = hook.deliver(&rolled_back()).await.unwrap_err();
    assert!(failure.transient, "{failure:?}");
    assert!(
        failure.message.contains("certificate"),
        "the error says why: {}",
        failure.message
    );
    assert!(
        !failure.message.contains("tls-secret-8812"),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("token=***"), "{}", failure.message);
}

#[test]
fn a_ca_file_that_cannot_be_used_is_an_error_naming_it() {
    let missing = std::path::Path::new("/nonexistent/composectl-ca.pem");
    let err = Webhook::with_settings("https://hooks.example.com/x", None, Some(missing))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("webhook TLS: CA file /nonexistent/composectl-ca.pem: cannot be read"),
        "{err}"
    );
    let not_pem = ca_file("just some text\n");
    let err = Webhook::with_settings("https://hooks.example.com/x", None, Some(not_pem.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no certificate"), "{err}");
    // Also checked for an http:// URL, so a typo shows at once.
    let err = Webhook::with_settings("http://127.0.0.1:1/x", None, Some(missing)).unwrap_err();
    assert!(err.to_string().contains("cannot be read"), "{err}");
}

#[tokio::test]
async fn a_refusing_or_absent_receiver_is_a_failure_saying_whether_to_retry() {
    let (url, mut received) =
        serve(vec!["500 Internal Server Error", "400 Bad Request"], None).await;
    let hook = Webhook::new(&url).unwrap();
    let failure = hook.deliver(&rolled_back()).await.unwrap_err();
    assert!(failure.transient, "a 5xx may pass later: {failure:?}");
    assert!(failure.message.contains("answered 500"), "{failure:?}");
    received.recv().await.unwrap();
    let failure = hook.deliver(&rolled_back()).await.unwrap_err();
    assert!(!failure.transient, "a 400 will not pass later: {failure:?}");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let closed = Webhook::new(&format!("http://127.0.0.1:{port}/")).unwrap();
    let failure = tokio::time::timeout(TIMEOUT * 2, closed.deliver(&rolled_back()))
        .await
        .expect("a delivery gives up by itself")
        .unwrap_err();
    assert!(failure.transient, "{failure:?}");
}

#[test]
fn malformed_urls_and_formats_are_refused_with_a_reason() {
    let err = Webhook::new("hooks.example.com/x").unwrap_err();
    assert!(err.to_string().contains("not a usable URL"), "{err}");
    let err = Webhook::new("http:///x").unwrap_err();
    assert!(err.to_string().contains("not a usable URL"), "{err}");
    let err = Webhook::with_settings("https://h/x", Some("teams"), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "webhook format \"teams\": not a format; write one of auto, json, slack, discord, ntfy, gotify"
    );
    let err = Webhook::with_settings("slack+https://h/x", Some("discord"), None).unwrap_err();
    assert!(err.to_string().contains("keep one"), "{err}");
    let err = Webhook::new("ntfy+https://ntfy.example.com/").unwrap_err();
    assert!(err.to_string().contains("names its topic"), "{err}");
    assert_eq!(
        Webhook::new("http://127.0.0.1:8080/hook")
            .unwrap()
            .url()
            .to_string(),
        "http://127.0.0.1:8080/hook"
    );
}

#[test]
fn the_format_comes_from_the_setting_the_scheme_or_the_host() {
    let format = |url: &str, setting: Option<&str>| {
        Webhook::with_settings(url, setting, None).unwrap().format()
    };
    assert_eq!(
        format("https://hooks.slack.com/services/T/B/X", None),
        Format::Slack
    );
    assert_eq!(
        format("https://discord.com/api/webhooks/1/tok", None),
        Format::Discord
    );
    assert_eq!(
        format("https://discordapp.com/api/webhooks/1/tok", None),
        Format::Discord
    );
    assert_eq!(format("https://discord.com/channels/1", None), Format::Json);
    assert_eq!(format("https://ntfy.sh/alerts", None), Format::Ntfy);
    assert_eq!(
        format("https://push.example.com/message?token=t", None),
        Format::Json
    );
    assert_eq!(
        format("gotify+https://push.example.com/?token=t", None),
        Format::Gotify
    );
    assert_eq!(format("ntfy+http://10.0.0.2:8080/ops", None), Format::Ntfy);
    assert_eq!(
        format("https://push.example.com/x", Some("gotify")),
        Format::Gotify
    );
    assert_eq!(
        format("https://hooks.slack.com/services/x", Some("json")),
        Format::Json
    );
    assert_eq!(
        format("https://hooks.slack.com/services/x", Some("auto")),
        Format::Slack
    );
    // The scheme prefix is not part of the URL posted to.
    let hook = Webhook::new("slack+https://relay.example.com/x").unwrap();
    assert_eq!(hook.url().to_string(), "https://relay.example.com/x");
}

#[tokio::test]
async fn the_receiver_gets_basic_auth_from_the_userinfo_and_the_token_in_the_query() {
    let (url, mut received) = serve(vec!["200 OK"], None).await;
    let url =
        url.replace("http://", "http://hook:hook-pass-31@") + "/hooks/rollout?token=hook-token-31";
    Webhook::new(&url)
        .unwrap()
        .deliver(&rolled_back())
        .await
        .unwrap();
    let got = received.recv().await.unwrap();
    assert!(
        got.head
            .starts_with("POST /hooks/rollout?token=hook-token-31 HTTP/1.1\r\n"),
        "{}",
        got.head
    );
    assert!(
        got.head.contains(&format!(
            "Authorization: {}",
            Url::new(&url).basic_auth().unwrap()
        )),
        "{}",
        got.head
    );
}

#[tokio::test]
async fn the_body_is_scrubbed_of_known_secrets_in_every_format() {
    crate::redact::remember("webhook-body-secret-5");
    let mut event = rolled_back();
    event.reason = Some("gate failed: webhook-body-secret-5 at http://u:p@x/?a=b".into());
    for format in ["json", "slack", "discord", "ntfy", "gotify"] {
        let (url, mut received) = serve(vec!["200 OK"], None).await;
        let hook = Webhook::with_settings(&format!("{url}/topic"), Some(format), None).unwrap();
        hook.deliver(&event).await.unwrap();
        let body = String::from_utf8(received.recv().await.unwrap().body).unwrap();
        assert!(!body.contains("webhook-body-secret-5"), "{format}: {body}");
        assert!(!body.contains("u:p@"), "{format}: {body}");
        assert!(body.contains("gate failed: ***"), "{format}: {body}");
    }
}

#[test]
fn a_token_in_the_url_never_shows_in_errors() {
    let err = Webhook::with_settings(
        "https://u:hook-pw-77@hooks.example.com/x?token=tk-9911",
        Some("teams"),
        None,
    )
    .unwrap_err();
    assert!(!err.to_string().contains("tk-9911"), "{err}");
    let err = Webhook::new("ntfy+https://u:hook-pw-78@ntfy.example.com/?auth=tk-9912").unwrap_err();
    assert_eq!(
        err.to_string(),
        "webhook URL https://***@ntfy.example.com/?auth=***: an ntfy URL names its topic: \
         write https://HOST/TOPIC"
    );
}

/// Log lines written while the guard lives (this thread only), unscrubbed.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::sync::lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn start(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // A log line first reached on another thread while this subscriber was being set
        // up may have cached "no subscriber wants it" (tracing registers call sites
        // racily against new scoped subscribers): ask every call site again.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&crate::sync::lock(&self.0)).into_owned()
    }
}

#[tokio::test]
async fn a_queued_event_is_retried_until_the_receiver_takes_it_and_logs_keep_the_token() {
    let logs = Captured::default();
    let _guard = logs.start();
    let (url, mut received) = serve(
        vec!["503 Service Unavailable", "502 Bad Gateway", "200 OK"],
        None,
    )
    .await;
    let url = url.replace("http://", "http://hook:retry-pass-55@") + "/h?token=retry-token-55";
    let hook = Webhook::new(&url).unwrap().with_retry(Retry {
        first: Duration::from_millis(20),
        max: Duration::from_millis(100),
        retries: 5,
        capacity: 8,
    });
    let started = tokio::time::Instant::now();
    hook.notify(rolled_back());
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "notify returns at once"
    );
    for attempt in 1..=3 {
        let Ok(got) = tokio::time::timeout(Duration::from_secs(10), received.recv()).await else {
            panic!(
                "attempt {attempt} never reached the receiver; {:?}; logs:\n{}",
                hook.stats(),
                logs.text()
            );
        };
        assert_eq!(got.unwrap().json()["event"], "rolled_back");
    }
    while hook.stats().delivered == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            hook.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        hook.stats(),
        Stats {
            delivered: 1,
            failed: 0,
            dropped: 0,
            queued: 0
        }
    );
    let logs = logs.text();
    assert!(logs.contains("refused the rollout event"), "{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    assert!(logs.contains("status=503"), "{logs}");
    for secret in ["retry-token-55", "retry-pass-55"] {
        assert!(!logs.contains(secret), "{secret} in {logs}");
    }
}

#[test]
fn the_metrics_count_delivered_failed_and_dropped_events() {
    let telemetry = crate::metrics::Telemetry::new();
    telemetry.attach_webhook_stats(|| Stats {
        delivered: 7,
        failed: 2,
        dropped: 3,
        queued: 1,
    });
    let text = telemetry.encode();
    for line in [
        r#"composectl_webhook_events_total{result="delivered"} 7"#,
        r#"composectl_webhook_events_total{result="failed"} 2"#,
        r#"composectl_webhook_events_total{result="dropped"} 3"#,
        "composectl_webhook_queue 1",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
}

#[tokio::test]
async fn flush_waits_for_the_queue_and_gives_up_after_its_grace() {
    // Answers to spare: on a loaded machine an attempt may time out and be retried.
    let (url, mut received) = serve(vec!["200 OK"; 8], None).await;
    let hook = Webhook::new(&url).unwrap();
    assert!(hook.flush(Duration::ZERO).await, "nothing queued");
    hook.notify(rolled_back());
    hook.notify(load_failed());
    let flushed = hook.flush(Duration::from_secs(120)).await;
    let stats = hook.stats();
    assert!(flushed, "not flushed within 120 s: {stats:?}");
    assert_eq!(stats.delivered, 2, "{stats:?}");
    received.recv().await.unwrap();
    // A receiver that accepts and never answers: the grace ends the wait.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = Webhook::new(&format!("http://{}/", silent.local_addr().unwrap())).unwrap();
    hook.notify(rolled_back());
    let started = tokio::time::Instant::now();
    assert!(!hook.flush(Duration::from_millis(300)).await);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_gotify_token_is_sent_in_the_x_gotify_key_header_not_in_the_url() {
    let (url, mut received) = serve(vec!["200 OK"], None).await;
    let hook = Webhook::new(&format!("gotify+{url}/gotify/?token=AbC.secret")).unwrap();
    assert_eq!(hook.format(), Format::Gotify);
    hook.deliver(&rolled_back()).await.unwrap();
    let got = received.recv().await.unwrap();
    assert_eq!(got.request_line(), "POST /gotify/message HTTP/1.1");
    assert!(
        got.head.lines().any(|l| l == "X-Gotify-Key: AbC.secret"),
        "{}",
        got.head
    );
    assert!(!got.request_line().contains("secret"));
}
