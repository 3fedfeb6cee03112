//! The reporting rules, driven by hand against a real datagram socket.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::{Reporter, STATUS_MIN_GAP, Summary};
use crate::systemd::Notifier;
use crate::systemd::tests::FakeSystemd;

fn projects(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn summary(containers: usize, known: &[&str]) -> Summary {
    Summary {
        containers,
        projects: known.len(),
        known: projects(known),
        ..Summary::default()
    }
}

fn readies(datagrams: &[String]) -> usize {
    datagrams.iter().filter(|d| d.contains("READY=1")).count()
}

#[test]
fn ready_waits_for_the_first_reconcile_of_every_listed_project() {
    let systemd = FakeSystemd::new();
    let mut reporter = Reporter::new(systemd.notifier());
    let t0 = Instant::now();
    let s = summary(3, &["shop", "blog"]);
    reporter.reconciled("shop", true, t0, || s.clone());
    assert!(!reporter.is_ready(), "nothing counts before the first list");
    reporter.listed(t0, || s.clone());
    reporter.reconciled("shop", true, t0, || s.clone());
    assert!(!reporter.is_ready());
    assert_eq!(readies(&systemd.drain()), 0);
    reporter.reconciled("blog", false, t0 + Duration::from_secs(1), || s.clone());
    assert!(
        reporter.is_ready(),
        "a failed reconcile finishes start-up too"
    );
    let sent = systemd.drain();
    assert_eq!(
        sent.last().unwrap(),
        "READY=1\nSTATUS=3 containers in 2 projects; 1 failing; last reconcile 0s ago"
    );
    reporter.reconciled("blog", true, t0 + Duration::from_secs(9), || s.clone());
    assert_eq!(readies(&systemd.drain()), 0, "READY is sent once");
}

#[test]
fn an_empty_desired_directory_is_ready_as_soon_as_the_engine_is_listed() {
    let systemd = FakeSystemd::new();
    let mut reporter = Reporter::new(systemd.notifier());
    reporter.listed(Instant::now(), || summary(0, &[]));
    assert!(reporter.is_ready());
    assert_eq!(
        systemd.drain(),
        vec!["READY=1\nSTATUS=0 containers in 0 projects; 0 failing; no reconcile yet"]
    );
}

#[test]
fn the_status_line_says_where_start_up_stands() {
    let systemd = FakeSystemd::new();
    let mut reporter = Reporter::new(systemd.notifier());
    let t0 = Instant::now();
    let s = summary(1, &["a", "b", "c"]);
    assert_eq!(reporter.status_line(t0, &s), "starting: listing the engine");
    reporter.listed(t0, || s.clone());
    reporter.reconciled("a", true, t0, || s.clone());
    assert_eq!(
        reporter.status_line(t0, &s),
        "starting: 1 of 3 projects reconciled; 1 container"
    );
}

#[test]
fn failing_counts_invalid_desired_state_and_failed_reconciles_once_each() {
    let systemd = FakeSystemd::new();
    let mut reporter = Reporter::new(systemd.notifier());
    let t0 = Instant::now();
    let mut s = summary(12, &["shop", "blog", "wiki"]);
    s.invalid = projects(&["blog", "wiki"]);
    reporter.listed(t0, || s.clone());
    for project in ["shop", "blog"] {
        reporter.reconciled(project, false, t0, || s.clone());
    }
    reporter.reconciled("wiki", true, t0, || s.clone());
    let cases = [
        (Duration::from_secs(2), "last reconcile 2s ago"),
        (Duration::from_secs(119), "last reconcile 119s ago"),
        (Duration::from_secs(600), "last reconcile 10m ago"),
        (Duration::from_secs(4 * 3600), "last reconcile 4h ago"),
    ];
    for (elapsed, tail) in cases {
        assert_eq!(
            reporter.status_line(t0 + elapsed, &s),
            format!("12 containers in 3 projects; 3 failing; {tail}")
        );
    }
    s.directory_error = true;
    assert!(
        reporter
            .status_line(t0, &s)
            .ends_with("; desired directory not loaded")
    );
}

#[test]
fn status_updates_after_reconciles_are_rate_limited_and_heartbeats_catch_up() {
    let systemd = FakeSystemd::new();
    let mut reporter = Reporter::new(systemd.notifier());
    let t0 = Instant::now();
    reporter.listed(t0, || summary(1, &["shop"]));
    reporter.reconciled("shop", true, t0, || summary(1, &["shop"]));
    systemd.drain();
    let soon = t0 + STATUS_MIN_GAP / 2;
    reporter.reconciled("shop", true, soon, || summary(2, &["shop"]));
    assert!(systemd.nothing_pending(), "within the gap nothing is sent");
    reporter.heartbeat(soon, || summary(2, &["shop"]));
    assert_eq!(
        systemd.drain(),
        vec!["STATUS=2 containers in 1 project; 0 failing; last reconcile 0s ago"]
    );
    let later = soon + STATUS_MIN_GAP;
    reporter.reconciled("shop", false, later, || summary(2, &["shop"]));
    assert_eq!(
        systemd.drain(),
        vec!["STATUS=2 containers in 1 project; 1 failing; last reconcile 0s ago"]
    );
}

#[test]
fn heartbeats_ping_the_watchdog_only_when_systemd_asks_for_it() {
    let systemd = FakeSystemd::new();
    let t0 = Instant::now();
    let mut plain = Reporter::new(systemd.notifier());
    plain.heartbeat(t0, Summary::default);
    assert!(!systemd.drain().iter().any(|d| d == "WATCHDOG=1"));
    let mut watched = Reporter::new(systemd.notifier().with_watchdog(Duration::from_secs(30)));
    assert_eq!(watched.heartbeat_period(), super::HEARTBEAT);
    watched.heartbeat(t0, Summary::default);
    assert_eq!(systemd.drain().first().unwrap(), "WATCHDOG=1");
    let fast = Reporter::new(systemd.notifier().with_watchdog(Duration::from_millis(200)));
    assert_eq!(fast.heartbeat_period(), Duration::from_millis(200));
}

#[test]
fn stopping_is_announced_with_a_status() {
    let systemd = FakeSystemd::new();
    let mut reporter = Reporter::new(systemd.notifier());
    reporter.stopping();
    assert_eq!(
        systemd.receive(),
        "STOPPING=1\nSTATUS=stopping: letting in-flight reconciles finish"
    );
}

#[test]
fn a_project_removed_before_its_first_reconcile_does_not_hold_ready_back() {
    let systemd = FakeSystemd::new();
    let mut reporter = Reporter::new(systemd.notifier());
    let t0 = Instant::now();
    reporter.listed(t0, || summary(0, &["shop", "gone"]));
    reporter.reconciled("shop", true, t0, || summary(0, &["shop", "gone"]));
    assert!(!reporter.is_ready());
    reporter.heartbeat(t0, || summary(0, &["shop"]));
    assert!(reporter.is_ready());
    assert_eq!(readies(&systemd.drain()), 1);
}

#[test]
fn outside_systemd_the_reporter_neither_sends_nor_computes_summaries() {
    let mut reporter = Reporter::new(Notifier::disabled());
    let t0 = Instant::now();
    let never = || -> Summary { panic!("a summary was computed for nobody") };
    reporter.listed(t0, never);
    reporter.reconciled("shop", true, t0, never);
    reporter.heartbeat(t0, never);
    reporter.stopping();
    assert!(!reporter.is_ready());
}
