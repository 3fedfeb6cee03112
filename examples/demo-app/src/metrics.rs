//! Request counters and their Prometheus text exposition.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of answered `/` requests, by status.
#[derive(Debug)]
pub struct Metrics {
    version: String,
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Metrics {
    /// Zeroed counters for an app reporting `version`.
    pub fn new(version: &str) -> Self {
        Self {
            version: version.to_owned(),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Counts one answered `/` request with `status` (200 or 500; others are not counted).
    pub fn record(&self, status: u16) {
        match status {
            200 => self.ok.fetch_add(1, Ordering::Relaxed),
            500 => self.failed.fetch_add(1, Ordering::Relaxed),
            _ => return,
        };
    }

    /// The Prometheus text format (version 0.0.4) of every counter.
    pub fn render(&self) -> String {
        let v = escape(&self.version);
        let mut out = String::new();
        out.push_str("# HELP demo_http_requests_total Requests of / answered, by status.\n");
        out.push_str("# TYPE demo_http_requests_total counter\n");
        for (status, counter) in [("200", &self.ok), ("500", &self.failed)] {
            let count = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "demo_http_requests_total{{status=\"{status}\",version=\"{v}\"}} {count}"
            );
        }
        out.push_str("# HELP demo_build_info The running version.\n");
        out.push_str("# TYPE demo_build_info gauge\n");
        let _ = writeln!(out, "demo_build_info{{version=\"{v}\"}} 1");
        out
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_metrics_expose_zero_counters_and_build_info() {
        let text = Metrics::new("v1").render();
        assert_eq!(
            text,
            "# HELP demo_http_requests_total Requests of / answered, by status.\n\
             # TYPE demo_http_requests_total counter\n\
             demo_http_requests_total{status=\"200\",version=\"v1\"} 0\n\
             demo_http_requests_total{status=\"500\",version=\"v1\"} 0\n\
             # HELP demo_build_info The running version.\n\
             # TYPE demo_build_info gauge\n\
             demo_build_info{version=\"v1\"} 1\n"
        );
    }

    #[test]
    fn recorded_requests_are_counted_by_status() {
        let metrics = Metrics::new("v2");
        for status in [200, 200, 500, 200, 404] {
            metrics.record(status);
        }
        let text = metrics.render();
        assert!(text.contains("demo_http_requests_total{status=\"200\",version=\"v2\"} 3\n"));
        assert!(text.contains("demo_http_requests_total{status=\"500\",version=\"v2\"} 1\n"));
        assert!(!text.contains("404"));
    }

    #[test]
    fn label_values_are_escaped() {
        let text = Metrics::new("a\"b\\c\nd").render();
        assert!(text.contains("demo_build_info{version=\"a\\\"b\\\\c\\nd\"} 1\n"));
    }
}
