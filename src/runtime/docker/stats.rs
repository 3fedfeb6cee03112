//! API call instrumentation: every HTTP call to the engine is counted and timed here, by
//! operation, by kind (read or write) and by outcome, so metrics and the benchmark can say
//! how many calls a reconcile costs and how long they take.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::runtime::CallCounts;
use crate::sync;

/// Whether a call reads engine state or changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallKind {
    /// A call that only reads (list, inspect, ping, events).
    Read,
    /// A call that changes the engine (create, start, stop, remove, pull, connect).
    Write,
}

/// How a call ended, as the HTTP layer saw it (a 404 is an error here even when the
/// adapter turns it into `None` or success).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The engine answered with success.
    Ok,
    /// The engine answered with an error or could not be reached.
    Error,
}

/// Totals for one (operation, kind, outcome).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Calls made.
    pub count: u64,
    /// Sum of their latencies.
    pub total_latency: Duration,
}

/// Key of one row of [`ApiStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpKey {
    /// Operation name (`list_containers`, `create_container`, ...).
    pub operation: &'static str,
    /// Read or write.
    pub kind: CallKind,
    /// Ok or error.
    pub outcome: Outcome,
}

/// A snapshot of every call made so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiStats {
    /// Totals by (operation, kind, outcome).
    pub ops: BTreeMap<OpKey, OpStats>,
}

impl ApiStats {
    /// Call counts by operation, reads and writes apart, outcomes summed.
    pub fn call_counts(&self) -> CallCounts {
        let mut counts = CallCounts::default();
        for (key, stats) in &self.ops {
            let map = match key.kind {
                CallKind::Read => &mut counts.reads,
                CallKind::Write => &mut counts.writes,
            };
            *map.entry(key.operation).or_default() += stats.count;
        }
        counts
    }
}

/// The shared recorder; cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    inner: Arc<Mutex<ApiStats>>,
}

impl Recorder {
    /// Adds one call.
    pub(crate) fn record(
        &self,
        operation: &'static str,
        kind: CallKind,
        outcome: Outcome,
        latency: Duration,
    ) {
        let mut stats = sync::lock(&self.inner);
        let key = OpKey {
            operation,
            kind,
            outcome,
        };
        let row = stats.ops.entry(key).or_default();
        row.count += 1;
        row.total_latency += latency;
    }

    /// A copy of the totals.
    pub(crate) fn snapshot(&self) -> ApiStats {
        sync::lock(&self.inner).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_outcomes_and_keep_reads_apart_from_writes() {
        let recorder = Recorder::default();
        let ms = Duration::from_millis(1);
        recorder.record("list_containers", CallKind::Read, Outcome::Ok, ms);
        recorder.record("list_containers", CallKind::Read, Outcome::Error, ms);
        recorder.record("create_container", CallKind::Write, Outcome::Ok, ms);
        let counts = recorder.snapshot().call_counts();
        assert_eq!(counts.reads["list_containers"], 2);
        assert_eq!(counts.writes["create_container"], 1);
        assert_eq!(counts.total_reads(), 2);
        assert_eq!(counts.total_writes(), 1);
    }

    #[test]
    fn latency_accumulates_per_operation_and_outcome() {
        let recorder = Recorder::default();
        recorder.record(
            "start_container",
            CallKind::Write,
            Outcome::Ok,
            Duration::from_millis(3),
        );
        recorder.record(
            "start_container",
            CallKind::Write,
            Outcome::Ok,
            Duration::from_millis(4),
        );
        let stats = recorder.snapshot();
        let key = OpKey {
            operation: "start_container",
            kind: CallKind::Write,
            outcome: Outcome::Ok,
        };
        assert_eq!(stats.ops[&key].count, 2);
        assert_eq!(stats.ops[&key].total_latency, Duration::from_millis(7));
    }
}
