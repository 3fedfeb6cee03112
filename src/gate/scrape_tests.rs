use std::time::Duration;

use super::*;

fn config(min_requests: u64) -> ScrapeConfig {
    ScrapeConfig {
        url: "http://{ip}:8080/metrics".into(),
        metric: "demo_http_requests_total".into(),
        bad: BTreeMap::from([("status".into(), "5..".into())]),
        max_ratio: 0.05,
        min_requests,
        timeout: Duration::from_secs(1),
    }
}

fn scrape(ok: u64, failed: u64) -> Counters {
    let text = format!(
        "# TYPE demo_http_requests_total counter\n\
         demo_http_requests_total{{status=\"200\",version=\"v1\"}} {ok}\n\
         demo_http_requests_total{{status=\"500\",version=\"v1\"}} {failed}\n\
         other_total{{status=\"500\"}} 1000\n"
    );
    counters(&config(1), &exposition::parse(&text).unwrap())
}

#[test]
fn only_the_metric_counts_and_bad_series_are_marked() {
    let c = scrape(7, 3);
    assert_eq!(c.len(), 2);
    let bad: Vec<f64> = c.values().filter(|(b, _)| *b).map(|(_, v)| *v).collect();
    assert_eq!(bad, [3.0]);
}

#[test]
fn deltas_count_since_the_baseline_with_resets_and_new_series() {
    let cases = [
        ((10, 0), (90, 10), (10.0, 90.0)),
        ((10, 5), (10, 5), (0.0, 0.0)),
        // a restart: both counters went down, they count from zero
        ((100, 50), (8, 2), (2.0, 10.0)),
    ];
    for (before, after, expected) in cases {
        let got = deltas(&scrape(before.0, before.1), &scrape(after.0, after.1));
        assert_eq!(got, expected, "{before:?} -> {after:?}");
    }
    let only_ok: Counters = scrape(5, 0)
        .into_iter()
        .filter(|(_, (bad, _))| !bad)
        .collect();
    assert_eq!(
        deltas(&only_ok, &scrape(5, 4)),
        (4.0, 4.0),
        "a new series counts from zero"
    );
}

#[test]
fn the_first_scrape_is_the_baseline_then_the_ratio_decides() {
    let mut gate = ScrapeGate::new(config(10));
    let steps = [
        (
            (100, 100),
            "not yet: baseline taken (200 demo_http_requests_total so far)",
        ),
        (
            (105, 100),
            "not yet: 5 of 10 requests needed since the baseline",
        ),
        (
            (180, 120),
            "fail: bad ratio 0.2000 (20 of 100 demo_http_requests_total since the baseline) > 0.05",
        ),
        (
            (299, 101),
            "pass: bad ratio 0.0050 (1 of 200 demo_http_requests_total since the baseline) <= 0.05",
        ),
    ];
    for ((ok, failed), expected) in steps {
        assert_eq!(gate.judge(scrape(ok, failed)).to_string(), expected);
    }
}

#[test]
fn the_evidence_carries_ratio_and_threshold() {
    let mut gate = ScrapeGate::new(config(1));
    gate.judge(scrape(0, 0));
    let verdict = gate.judge(scrape(3, 1));
    assert_eq!(verdict.evidence().value, Some(0.25));
    assert_eq!(verdict.evidence().threshold, Some(0.05));
    assert!(verdict.is_fail());
}
