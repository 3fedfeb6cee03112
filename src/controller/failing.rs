//! Per-service error backoff: the services whose last execution failed, why, and when
//! they are tried again.
//!
//! A failed action fails its service (and the executor skips what depends on it); the
//! service is then held ([`crate::plan::hold`]) for a delay that starts at 1 s and
//! doubles with each failure in a row, up to 5 min, while the project's other services
//! keep converging and healing. The next execution that runs the service's changes
//! without a failure, or a plan that no longer has any for it (it converged, or its
//! change was reverted), forgets it. Time is passed in, so tests drive it with tokio's
//! paused clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

/// First delay after a failure.
const FIRST: Duration = Duration::from_secs(1);
/// Longest delay.
const LONGEST: Duration = Duration::from_secs(300);

/// One service in error backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Failures in a row.
    failures: u32,
    /// When its changes may run again.
    retry_at: Instant,
    /// The last error, as displayed (errors of the executor never carry values).
    error: String,
}

/// What `/status` and the metrics show of one failing service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFailing {
    /// Its project.
    pub project: String,
    /// The service.
    pub service: String,
    /// The last error.
    pub error: String,
    /// Failures in a row.
    pub failures: u32,
    /// Time left before its changes run again (zero once they may).
    pub retry_in: Duration,
}

/// The services in error backoff, by (project, service).
#[derive(Debug, Default)]
pub struct FailingServices {
    services: BTreeMap<(String, String), Entry>,
}

impl FailingServices {
    /// Records a failure of `service` of `project` at `now`; returns the delay before its
    /// changes run again.
    pub fn failed(&mut self, project: &str, service: &str, error: &str, now: Instant) -> Duration {
        let key = (project.to_owned(), service.to_owned());
        let failures = self.services.get(&key).map_or(0, |e| e.failures) + 1;
        let delay = delay(failures);
        let entry = Entry {
            failures,
            retry_at: now + delay,
            error: error.to_owned(),
        };
        self.services.insert(key, entry);
        delay
    }

    /// The services of `project` still in backoff at `now`, with the time left.
    pub fn held(&self, project: &str, now: Instant) -> BTreeMap<String, Duration> {
        self.of(project)
            .filter(|(_, e)| e.retry_at > now)
            .map(|((_, service), e)| (service.clone(), e.retry_at - now))
            .collect()
    }

    /// Forgets every failing service of `project` but those in `keep` (held by this plan,
    /// or failed again in this execution).
    pub fn recovered_except(&mut self, project: &str, keep: &BTreeSet<&str>) {
        self.services
            .retain(|(p, service), _| p != project || keep.contains(service.as_str()));
    }

    /// The failing services of `project` as a reconcile error (one line per service, as
    /// the executor words a failed execution); `None` when none fails.
    pub fn describe(&self, project: &str) -> Option<String> {
        let lines: Vec<String> = self
            .of(project)
            .map(|((_, service), e)| format!("service {service}: {}", e.error))
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// Every failing service, for `/status` and the metrics.
    pub fn snapshot(&self, now: Instant) -> Vec<ServiceFailing> {
        self.services
            .iter()
            .map(|((project, service), e)| ServiceFailing {
                project: project.clone(),
                service: service.clone(),
                error: e.error.clone(),
                failures: e.failures,
                retry_in: e.retry_at.saturating_duration_since(now),
            })
            .collect()
    }

    fn of(&self, project: &str) -> impl Iterator<Item = (&(String, String), &Entry)> {
        self.services.iter().filter(move |((p, _), _)| p == project)
    }
}

/// The delay after `failures` failures in a row: 1 s doubling, at most 5 min.
fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    FIRST.saturating_mul(1u32 << doublings).min(LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_delay_doubles_from_one_second_to_five_minutes() {
        let mut f = FailingServices::default();
        let now = Instant::now();
        let delays: Vec<u64> = (0..11)
            .map(|_| f.failed("shop", "web", "pull failed", now).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_is_held_until_its_retry_time_and_only_in_its_project() {
        let mut f = FailingServices::default();
        let now = Instant::now();
        f.failed("shop", "web", "boom", now);
        f.failed("shop", "web", "boom", now);
        assert_eq!(
            f.held("shop", now + Duration::from_millis(500)),
            BTreeMap::from([("web".to_owned(), Duration::from_millis(1500))])
        );
        assert!(f.held("blog", now).is_empty());
        assert!(f.held("shop", now + Duration::from_secs(2)).is_empty());
        let failing = f.snapshot(now + Duration::from_secs(3));
        assert_eq!(failing.len(), 1, "still failing until it recovers");
        assert_eq!(failing[0].failures, 2);
        assert_eq!(failing[0].retry_in, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn recovery_forgets_all_but_the_kept_services_of_the_project() {
        let mut f = FailingServices::default();
        let now = Instant::now();
        f.failed("shop", "web", "a", now);
        f.failed("shop", "db", "b", now);
        f.failed("blog", "web", "c", now);
        f.recovered_except("shop", &BTreeSet::from(["db"]));
        let left: Vec<(String, String)> = f
            .snapshot(now)
            .into_iter()
            .map(|s| (s.project, s.service))
            .collect();
        assert_eq!(
            left,
            [
                ("blog".to_owned(), "web".to_owned()),
                ("shop".to_owned(), "db".to_owned())
            ]
        );
        // After recovery, a new failure starts from the first delay again.
        assert_eq!(f.failed("shop", "web", "a", now), FIRST);
    }
}
