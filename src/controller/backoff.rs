//! The two backoffs of the loop: per-project error backoff and per-replica crash backoff.
//!
//! - [`ErrorBackoff`]: a reconcile that fails (engine error, pull failure, dependency
//!   timeout) is retried after an exponentially growing, jittered delay (backon's
//!   exponential backoff, 1 s doubling to 5 min), reset by the next success.
//! - [`CrashBackoff`]: Kubernetes' CrashLoopBackOff for replicas composectl heals (starts
//!   again in place, or replaces) because they died or turned unhealthy. The first heal is
//!   immediate; each further one within the reset window waits 10 s, doubling to 5 min; a
//!   slot whose last heal is older than the reset window (10 min) starts over. It also
//!   remembers, per slot, the container whose start in place the engine refused, so the
//!   planner replaces it instead of starting it again.
//!
//! Both take `now` as an argument, so tests drive them with tokio's paused clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::time::Instant;

/// Per-project error backoff.
#[derive(Debug)]
pub struct ErrorBackoff {
    builder: ExponentialBuilder,
    failing: BTreeMap<String, ExponentialBackoff>,
}

impl Default for ErrorBackoff {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(300))
    }
}

impl ErrorBackoff {
    /// Delays start at `min` and double up to `max`, with jitter.
    pub fn new(min: Duration, max: Duration) -> Self {
        let builder = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Self {
            builder,
            failing: BTreeMap::new(),
        }
    }

    /// Records a failure of `project`; returns how long to wait before the next try.
    pub fn failed(&mut self, project: &str) -> Duration {
        let builder = self.builder;
        self.failing
            .entry(project.to_owned())
            .or_insert_with(|| builder.build())
            .next()
            .unwrap_or(Duration::from_secs(300))
    }

    /// Records a success of `project`: its next failure starts from the minimum again.
    pub fn succeeded(&mut self, project: &str) {
        self.failing.remove(project);
    }

    /// True while `project`'s last reconcile failed.
    pub fn is_failing(&self, project: &str) -> bool {
        self.failing.contains_key(project)
    }
}

/// Settings of the crash backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashPolicy {
    /// Delay before the second replacement.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// A slot whose last replacement is older than this starts over.
    pub reset_after: Duration,
}

impl Default for CrashPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// One replica slot: (project, service, replica number).
pub type Slot = (String, String, u32);

#[derive(Debug, Clone, Copy)]
struct SlotState {
    replacements: u32,
    last: Instant,
}

/// Crash backoff per replica slot.
#[derive(Debug, Default)]
pub struct CrashBackoff {
    policy: CrashPolicy,
    slots: BTreeMap<Slot, SlotState>,
    /// Per slot: the container whose start in place failed, and when (one per slot, kept
    /// for the reset window).
    failed_starts: BTreeMap<Slot, (String, Instant)>,
}

impl CrashBackoff {
    /// An empty backoff with `policy`.
    pub fn new(policy: CrashPolicy) -> Self {
        Self {
            policy,
            slots: BTreeMap::new(),
            failed_starts: BTreeMap::new(),
        }
    }

    /// Records that the engine refused to start container `id` of `slot` again in place at
    /// `now`: [`Self::failed_starts`] names it until the reset window passes.
    pub fn start_failed(&mut self, slot: Slot, id: &str, now: Instant) {
        self.failed_starts.insert(slot, (id.to_owned(), now));
    }

    /// IDs of the containers of `project` whose start in place failed within the reset
    /// window (the planner replaces them instead).
    pub fn failed_starts(&mut self, project: &str, now: Instant) -> BTreeSet<String> {
        let reset_after = self.policy.reset_after;
        self.failed_starts
            .retain(|_, (_, at)| now.duration_since(*at) < reset_after);
        self.failed_starts
            .iter()
            .filter(|((p, _, _), _)| p == project)
            .map(|(_, (id, _))| id.clone())
            .collect()
    }

    /// Records that the slot's container was healed (started again in place, or replaced)
    /// after a crash at `now`.
    pub fn replaced(&mut self, slot: Slot, now: Instant) {
        let reset_after = self.policy.reset_after;
        let state = self.slots.entry(slot).or_insert(SlotState {
            replacements: 0,
            last: now,
        });
        if now.duration_since(state.last) >= reset_after {
            state.replacements = 0;
        }
        state.replacements += 1;
        state.last = now;
    }

    /// The delay required after `replacements` crash replacements in a row.
    fn delay(&self, replacements: u32) -> Duration {
        if replacements == 0 {
            return Duration::ZERO;
        }
        let doublings = (replacements - 1).min(31);
        self.policy
            .initial
            .saturating_mul(1u32 << doublings)
            .min(self.policy.max)
    }

    /// Time left before each slot of `project` in backoff may be replaced again, keyed by
    /// (service, number) as the planner takes it. Slots past their reset window are
    /// forgotten.
    pub fn remaining(&mut self, project: &str, now: Instant) -> BTreeMap<(String, u32), Duration> {
        let reset_after = self.policy.reset_after;
        self.slots
            .retain(|_, s| now.duration_since(s.last) < reset_after);
        self.slots
            .iter()
            .filter(|((p, _, _), _)| p == project)
            .filter_map(|((_, service, number), s)| {
                let ready_at = s.last + self.delay(s.replacements);
                let left = ready_at.saturating_duration_since(now);
                (!left.is_zero()).then(|| ((service.clone(), *number), left))
            })
            .collect()
    }

    /// The current delay of every slot in backoff (for metrics and status).
    pub fn current_delays(&self) -> impl Iterator<Item = (&Slot, Duration)> {
        self.slots
            .iter()
            .map(|(k, s)| (k, self.delay(s.replacements)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(n: u32) -> Slot {
        ("shop".into(), "web".into(), n)
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_crash_is_replaced_at_once_and_later_ones_wait_doubling_to_five_minutes() {
        let mut b = CrashBackoff::new(CrashPolicy::default());
        let now = Instant::now();
        assert!(b.remaining("shop", now).is_empty());
        let mut expected = vec![10, 20, 40, 80, 160, 300, 300];
        expected.reverse();
        let mut t = now;
        while let Some(secs) = expected.pop() {
            b.replaced(slot(1), t);
            let left = b.remaining("shop", t);
            assert_eq!(left[&("web".to_owned(), 1)], Duration::from_secs(secs));
            t += Duration::from_secs(secs);
            assert!(
                b.remaining("shop", t).is_empty(),
                "allowed again after {secs}s"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_that_ran_ten_minutes_starts_over() {
        let mut b = CrashBackoff::new(CrashPolicy::default());
        let t0 = Instant::now();
        for i in 0..4 {
            b.replaced(slot(2), t0 + Duration::from_secs(i));
        }
        let later = t0 + Duration::from_secs(3 + 600);
        assert!(b.remaining("shop", later).is_empty());
        b.replaced(slot(2), later);
        assert_eq!(
            b.remaining("shop", later)[&("web".to_owned(), 2)],
            Duration::from_secs(10)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_start_is_remembered_for_its_project_until_the_reset_window_passes() {
        let mut b = CrashBackoff::new(CrashPolicy::default());
        let now = Instant::now();
        b.start_failed(slot(1), "abc", now);
        b.start_failed(("blog".into(), "web".into(), 1), "def", now);
        assert_eq!(
            b.failed_starts("shop", now),
            BTreeSet::from(["abc".to_owned()])
        );
        let later = now + Duration::from_secs(599);
        assert_eq!(b.failed_starts("shop", later).len(), 1);
        assert!(
            b.failed_starts("shop", now + Duration::from_secs(600))
                .is_empty()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_projects_slots_are_not_reported() {
        let mut b = CrashBackoff::new(CrashPolicy::default());
        let now = Instant::now();
        b.replaced(("blog".into(), "web".into(), 1), now);
        assert!(b.remaining("shop", now).is_empty());
        assert_eq!(b.remaining("blog", now).len(), 1);
    }

    #[test]
    fn error_backoff_grows_and_resets_on_success() {
        let mut b = ErrorBackoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let first = b.failed("shop");
        assert!(first >= Duration::from_secs(1) && first < Duration::from_secs(2));
        let delays: Vec<Duration> = (0..5).map(|_| b.failed("shop")).collect();
        assert!(delays[0] >= Duration::from_secs(2));
        assert!(
            delays.iter().all(|d| *d < Duration::from_secs(16)),
            "capped (plus jitter)"
        );
        assert!(b.is_failing("shop"));
        b.succeeded("shop");
        assert!(!b.is_failing("shop"));
        assert!(b.failed("shop") < Duration::from_secs(2));
    }
}
