use std::time::Duration;

use serde_json::json;

use super::*;

#[test]
fn the_documented_examples_parse() {
    let gates = json!([
        {"type": "http", "url": "http://{ip}:8080/healthz", "expect_status": 200, "timeout": "2s", "successes": 3},
        {"type": "prometheus", "url": "http://127.0.0.1:9090",
         "query": "sum(rate(demo_http_requests_total{status=~\"5..\",instance=\"{ip}:8080\"}[30s])) / sum(rate(demo_http_requests_total{instance=\"{ip}:8080\"}[30s]))",
         "max": 0.05, "interval": "5s", "failure_limit": 2, "no_data": "fail"},
        {"type": "scrape", "url": "http://{ip}:8080/metrics", "metric": "demo_http_requests_total",
         "bad": {"status": "5.."}, "max_ratio": 0.05},
        {"type": "docker_health"},
        {"type": "exec", "command": ["/bin/check", "{ip}"], "timeout": "10s"},
    ]);
    let parsed = GateConfig::parse_list(&gates).unwrap();
    assert_eq!(parsed.len(), 5);
    assert_eq!(
        parsed[0],
        GateConfig::Http(HttpConfig {
            url: "http://{ip}:8080/healthz".into(),
            expect_status: 200,
            timeout: Duration::from_secs(2),
            successes: 3,
            failures: 3,
        })
    );
    let GateConfig::Prometheus(p) = &parsed[1] else {
        panic!("not prometheus: {:?}", parsed[1]);
    };
    assert_eq!(
        (p.max, p.min, p.interval, p.failure_limit, p.no_data),
        (Some(0.05), None, Duration::from_secs(5), 2, NoData::Fail)
    );
    let GateConfig::Scrape(s) = &parsed[2] else {
        panic!("not scrape: {:?}", parsed[2]);
    };
    assert_eq!(s.bad.get("status").map(String::as_str), Some("5.."));
    assert_eq!((s.max_ratio, s.min_requests), (0.05, 10));
    assert_eq!(parsed[3], GateConfig::DockerHealth);
    assert_eq!(
        parsed[4],
        GateConfig::Exec(ExecConfig {
            command: vec!["/bin/check".into(), "{ip}".into()],
            timeout: Duration::from_secs(10),
        })
    );
}

#[test]
fn serde_deserializes_through_the_same_parser() {
    let gate: GateConfig =
        serde_json::from_value(json!({"type": "http", "url": "http://{ip}/"})).unwrap();
    assert!(matches!(
        gate,
        GateConfig::Http(HttpConfig { successes: 3, .. })
    ));
    let err = serde_json::from_value::<GateConfig>(json!({"type": "http"})).unwrap_err();
    assert_eq!(err.to_string(), "url: is required");
}

#[test]
fn errors_name_the_key() {
    let cases = [
        (json!({"url": "http://x/"}), "gates[0].type: is required"),
        (
            json!({"type": "tcp"}),
            "gates[0].type: unknown gate type \"tcp\"",
        ),
        (
            json!({"type": "http", "url": "http://{ip}/", "timout": "2s"}),
            "gates[0].timout: is not a key of this gate type",
        ),
        (
            json!({"type": "http", "url": "http://{ip}/", "timeout": 2}),
            "gates[0].timeout: \"2\" has no unit",
        ),
        (
            json!({"type": "http", "url": "http://{ip}/", "timeout": "0s"}),
            "gates[0].timeout: must be longer than zero",
        ),
        (
            json!({"type": "http", "url": "ftp://{ip}/"}),
            "gates[0].url: must be an http:// or https:// URL",
        ),
        (
            json!({"type": "http", "url": "http://{addr}/"}),
            "gates[0].url: unknown placeholder {addr}",
        ),
        (
            json!({"type": "http", "url": "http://x/", "expect_status": 42}),
            "gates[0].expect_status: must be an HTTP status",
        ),
        (
            json!({"type": "http", "url": "http://x/", "successes": 0}),
            "gates[0].successes: must be a whole number of at least 1",
        ),
        (
            json!({"type": "prometheus", "url": "http://p:9090", "query": "up"}),
            "gates[0].max: a prometheus gate needs max or min",
        ),
        (
            json!({"type": "prometheus", "url": "http://p:9090", "query": "up", "min": 1, "no_data": "maybe"}),
            "gates[0].no_data: is \"maybe\"; use fail, pass or not_yet",
        ),
        (
            json!({"type": "prometheus", "url": "http://p:9090", "query": "up", "max": "high"}),
            "gates[0].max: must be a number",
        ),
        (
            json!({"type": "scrape", "url": "http://x/", "metric": "m", "max_ratio": 0.1}),
            "gates[0].bad: is required",
        ),
        (
            json!({"type": "scrape", "url": "http://x/", "metric": "m", "bad": {"status": 5}, "max_ratio": 0.1}),
            "gates[0].bad.status: must be a string pattern",
        ),
        (
            json!({"type": "exec", "command": "/bin/check"}),
            "gates[0].command: must be a list",
        ),
        (
            json!({"type": "exec", "command": []}),
            "gates[0].command: must name a program",
        ),
        (json!("http"), "gates[0].type: a gate is a mapping"),
    ];
    for (entry, expected) in cases {
        let err = GateConfig::parse_list(&json!([entry]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(expected),
            "{entry}: got {err:?}, want {expected:?}"
        );
    }
}

#[test]
fn the_gates_list_must_be_a_list() {
    let err = GateConfig::parse_list(&json!({"type": "http"})).unwrap_err();
    assert_eq!(err.to_string(), "gates: must be a list of gates");
}

#[test]
fn no_data_accepts_pass_and_not_yet() {
    for (word, expected) in [("pass", NoData::Pass), ("not_yet", NoData::NotYet)] {
        let entry = json!({"type": "prometheus", "url": "http://p:9090", "query": "up", "min": 1, "no_data": word});
        let GateConfig::Prometheus(p) = GateConfig::from_json(&entry).unwrap() else {
            panic!("not prometheus");
        };
        assert_eq!(p.no_data, expected);
    }
}

#[test]
fn gate_urls_may_be_https() {
    let gates = json!([
        {"type": "http", "url": "https://{ip}:8443/healthz"},
        {"type": "prometheus", "url": "https://prometheus.example.com", "query": "up", "max": 1}
    ]);
    let parsed = GateConfig::parse_list(&gates);
    assert!(parsed.is_ok(), "{parsed:?}");
}
