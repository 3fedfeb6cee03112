use super::*;

#[test]
fn remembered_values_are_replaced_wherever_they_appear() {
    let redactor = Redactor::new();
    redactor.remember("hunter2-hunter2");
    redactor.remember("s3cr3t-token-value");
    let text = "connect failed: password hunter2-hunter2 rejected (token s3cr3t-token-value)";
    assert_eq!(
        redactor.scrub(text),
        "connect failed: password *** rejected (token ***)"
    );
    assert!(matches!(redactor.scrub("nothing here"), Cow::Borrowed(_)));
}

#[test]
fn values_shorter_than_the_minimum_are_not_remembered() {
    let redactor = Redactor::new();
    for short in ["1", "true", "8080", "info", "1234567"] {
        redactor.remember(short);
    }
    assert!(redactor.is_empty());
    assert_eq!(
        redactor.scrub("replicas 1 true 8080"),
        "replicas 1 true 8080"
    );
    redactor.remember("12345678");
    assert_eq!(redactor.scrub("id 12345678"), "id ***");
}

#[test]
fn the_longest_overlapping_value_is_replaced_whole() {
    let redactor = Redactor::new();
    redactor.remember("abcdefgh");
    redactor.remember("abcdefgh-and-more");
    assert_eq!(redactor.scrub("x abcdefgh-and-more y"), "x *** y");
}

#[test]
fn escaped_encoded_and_multi_line_forms_are_found_too() {
    let redactor = Redactor::new();
    redactor.remember("pa\"ss wo/rd\\x");
    redactor.remember("line-one-secret\nline-two-secret");
    redactor.remember("A=x\0SECRET=topsecretvalue\0B=y");
    let json = serde_json::to_string("pa\"ss wo/rd\\x").unwrap();
    assert_eq!(redactor.scrub(&json), "\"***\"");
    assert_eq!(
        redactor.scrub(&format!("{:?}", "pa\"ss wo/rd\\x")),
        "\"***\""
    );
    assert_eq!(redactor.scrub("u=pa%22ss%20wo%2Frd%5Cx"), "u=***");
    assert_eq!(redactor.scrub("got line-two-secret"), "got ***");
    assert_eq!(redactor.scrub("env SECRET=topsecretvalue"), "env ***");
}

#[test]
fn the_oldest_values_are_forgotten_beyond_the_bound() {
    let redactor = Redactor::new();
    for i in 0..MAX_SECRETS + 10 {
        redactor.remember(&format!("value-{i:08}"));
    }
    assert_eq!(redactor.len(), MAX_SECRETS);
    assert_eq!(redactor.scrub("value-00000000"), "value-00000000");
    let last = format!("value-{:08}", MAX_SECRETS + 9);
    assert_eq!(redactor.scrub(&last), MASK);
}

#[test]
fn a_huge_value_is_remembered_by_its_first_bytes_and_the_bytes_in_all_are_bounded() {
    let redactor = Redactor::new();
    let huge = "x".repeat(10 * MAX_VALUE_BYTES);
    redactor.remember(&huge);
    assert_eq!(redactor.len(), 1);
    let scrubbed = redactor.scrub(&huge);
    assert!(
        scrubbed.starts_with(MASK) && scrubbed.len() < huge.len(),
        "cut at the limit"
    );
    for i in 0..(2 * MAX_SECRET_BYTES / MAX_VALUE_BYTES) {
        redactor.remember(&format!("{i:08}{}", "y".repeat(MAX_VALUE_BYTES)));
    }
    let inner = sync::read(&redactor.inner);
    assert!(inner.bytes <= MAX_SECRET_BYTES, "{}", inner.bytes);
    assert_eq!(
        inner.bytes,
        inner.order.iter().map(|v| v.len()).sum::<usize>()
    );
}

#[test]
fn the_matcher_builds_cheaply_even_over_a_long_run_of_one_character() {
    // A padded or placeholder value at the size bound, among a load's worth of others.
    // The DFA aho-corasick picks for up to 100 patterns took 26 s of a debug build over
    // such a set (following failure links along the run), blocking every log line.
    let redactor = Redactor::new();
    redactor.remember(&"v".repeat(MAX_VALUE_BYTES));
    for i in 1..REBUILD_AFTER {
        redactor.remember(&format!("short-value-{i:04}"));
    }
    let cpu = crate::testing::thread_cpu_time();
    let line = format!("{} short-value-0007", "v".repeat(MAX_VALUE_BYTES));
    assert_eq!(redactor.scrub(&line), format!("{MASK} {MASK}"));
    let cpu = crate::testing::thread_cpu_time() - cpu;
    assert!(
        cpu < std::time::Duration::from_secs(2),
        "building the matcher took {cpu:?} of CPU time"
    );
}

#[test]
fn values_remembered_after_the_matcher_was_built_are_found_too() {
    let redactor = Redactor::new();
    for i in 0..REBUILD_AFTER {
        redactor.remember(&format!("batch-value-{i:04}"));
    }
    assert_eq!(redactor.scrub("batch-value-0001"), MASK, "built now");
    redactor.remember("late-value-0001");
    assert_eq!(
        redactor.scrub("batch-value-0002 late-value-0001"),
        "*** ***"
    );
}

#[test]
fn json_documents_are_scrubbed_in_every_string() {
    let redactor = Redactor::new();
    redactor.remember("db-password-1");
    let mut doc = serde_json::json!({
        "last_error": "create: the engine said: bad env db-password-1",
        "nested": [{"db-password-1": "http://u:p@host/?t=abc"}],
        "n": 3,
    });
    redactor.scrub_json(&mut doc);
    assert_eq!(
        doc,
        serde_json::json!({
            "last_error": "create: the engine said: bad env ***",
            "nested": [{"***": "http://***@host/?t=***"}],
            "n": 3,
        })
    );
}

#[test]
fn url_userinfo_and_query_values_are_hidden_in_any_text() {
    let cases = [
        (
            "GET http://user:pass@10.0.0.2:8080/healthz answered 500",
            "GET http://***@10.0.0.2:8080/healthz answered 500",
        ),
        (
            "url=http://hooks.local/h?token=abc&channel=ops&bare answered",
            "url=http://hooks.local/h?token=***&channel=***&*** answered",
        ),
        (
            r#"Get "https://u:p@registry:5000/v2/?x=1": refused"#,
            r#"Get "https://***@registry:5000/v2/?x=***": refused"#,
        ),
        ("http://plain.host/path?", "http://plain.host/path?"),
        ("http://[fd00::2]:80/m", "http://[fd00::2]:80/m"),
        ("tcp://u:p@h:2375", "tcp://***@h:2375"),
        ("no url at all", "no url at all"),
    ];
    for (input, want) in cases {
        assert_eq!(shapes::scrub(input), want, "{input}");
    }
}

#[test]
fn credentials_after_basic_and_bearer_are_hidden() {
    assert_eq!(
        shapes::scrub("Authorization: Basic dXNlcjpwYXNzd29yZA=="),
        "Authorization: Basic ***"
    );
    assert_eq!(
        shapes::scrub("authorization: bearer eyJhbGciOi.J9.abc x"),
        "authorization: bearer *** x"
    );
    assert_eq!(
        shapes::scrub("basic auth is used"),
        "basic auth is used",
        "a short word is no credential"
    );
}

#[test]
fn quoted_environment_entries_lose_their_values() {
    let engine = r#"error during container init: environment variable value can't contain null(\x00): "A=x\x00SECRET=topsecretvalue\x00B=y": unknown"#;
    assert_eq!(
        shapes::scrub(engine),
        r#"error during container init: environment variable value can't contain null(\x00): "A=***": unknown"#
    );
    let json_line = serde_json::json!({ "message": engine }).to_string();
    let scrubbed = shapes::scrub(&json_line);
    assert!(!scrubbed.contains("topsecretvalue"), "{scrubbed}");
    assert!(serde_json::from_str::<serde_json::Value>(&scrubbed).is_ok());
    assert_eq!(
        shapes::scrub(r#"label "a.b=c" and "no equals" and "=x""#),
        r#"label "a.b=c" and "no equals" and "=x""#
    );
}

#[test]
fn a_url_shows_without_its_secrets_and_remembers_them() {
    let url = Url::new("http://gate-user:gate-pass-9271@127.0.0.1:8080/ready?key=qk-5521aa&x=");
    let shown = "http://***@127.0.0.1:8080/ready?key=***&x=";
    assert_eq!(url.to_string(), shown);
    assert_eq!(format!("{url:?}"), format!("Url({shown:?})"));
    assert_eq!(serde_json::to_string(&url).unwrap(), format!("{shown:?}"));
    assert_eq!(
        text("said gate-pass-9271 and qk-5521aa"),
        "said *** and ***"
    );
    let parts = url.http_parts().unwrap();
    assert_eq!(parts.userinfo, Some("gate-user:gate-pass-9271"));
    assert_eq!(parts.authority, "127.0.0.1:8080");
    assert_eq!((parts.host, parts.port), ("127.0.0.1", 8080));
    assert_eq!(parts.path, "/ready?key=qk-5521aa&x=");
    assert_eq!(
        url.basic_auth().as_deref(),
        Some("Basic Z2F0ZS11c2VyOmdhdGUtcGFzcy05Mjcx")
    );
}

#[test]
fn userinfo_is_percent_decoded_for_the_basic_credential() {
    let url = Url::new("http://us%40er:p%3Ass@h/");
    assert_eq!(
        url.basic_auth(),
        Some(format!("Basic {}", url::base64("us@er:p:ss")))
    );
    assert_eq!(Url::new("http://h/").basic_auth(), None);
}

#[test]
fn urls_split_into_host_port_and_path() {
    let cases = [
        ("http://127.0.0.1:9090", Some(("127.0.0.1", 9090, "/"))),
        ("http://web/healthz", Some(("web", 80, "/healthz"))),
        (
            "http://[fd00::2]:8080/m?x=1",
            Some(("fd00::2", 8080, "/m?x=1")),
        ),
        ("http://[fd00::2]/", Some(("fd00::2", 80, "/"))),
        ("http://web?x=1", Some(("web", 80, "/?x=1"))),
        ("http://u:p@web:81/a#frag", Some(("web", 81, "/a"))),
        ("https://web/", Some(("web", 443, "/"))),
        ("https://web:8443/h?t=1", Some(("web", 8443, "/h?t=1"))),
        ("ftp://web/", None),
        ("http://:80/", None),
        ("http://web:port/", None),
    ];
    for (text, expected) in cases {
        let url = Url::new(text);
        let got = url.http_parts();
        let got = got.as_ref().map(|p| (p.host, p.port, p.path.as_str()));
        assert_eq!(got, expected, "{text}");
    }
}

#[test]
fn base64_pads_as_the_standard_says() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("user:pass", "dXNlcjpwYXNz"),
    ] {
        assert_eq!(url::base64(plain), encoded);
    }
}

#[test]
fn a_log_event_is_written_scrubbed_in_one_piece() {
    use tracing_subscriber::fmt::MakeWriter;
    remember("log-secret-value-42");
    let mut writer = LogWriter.make_writer();
    writer.write_all(b"event with log-secret-").unwrap();
    writer.write_all(b"value-42 split across writes\n").unwrap();
    assert_eq!(
        text(&String::from_utf8_lossy(&writer.bytes)),
        "event with *** split across writes\n"
    );
}
