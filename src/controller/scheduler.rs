//! When each project reconciles next: a deduplicating delay queue with an in-flight set.
//!
//! Like kube-runtime's scheduler: scheduling a project that is already due keeps the
//! earlier time, so a burst of triggers becomes one reconcile; a project is never handed
//! out while its reconcile runs, and a trigger that arrives meanwhile runs it again right
//! after. Time is passed in, so this is plain data that tests drive without a clock.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

/// The reconcile queue.
#[derive(Debug, Default)]
pub struct Scheduler {
    due: BTreeMap<String, Instant>,
    running: BTreeSet<String>,
}

impl Scheduler {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for `project` to reconcile at `at` (or earlier, if it is already due sooner).
    pub fn schedule(&mut self, project: &str, at: Instant) {
        self.due
            .entry(project.to_owned())
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }

    /// The earliest time a project not currently running becomes due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due
            .iter()
            .filter(|(p, _)| !self.running.contains(*p))
            .map(|(_, t)| *t)
            .min()
    }

    /// Takes every project due at `now` that is not running, and marks them running.
    pub fn take_due(&mut self, now: Instant) -> Vec<String> {
        let ready: Vec<String> = self
            .due
            .iter()
            .filter(|(p, t)| **t <= now && !self.running.contains(*p))
            .map(|(p, _)| p.clone())
            .collect();
        for project in &ready {
            self.due.remove(project);
            self.running.insert(project.clone());
        }
        ready
    }

    /// Marks `project`'s reconcile finished; a trigger that came meanwhile stays queued.
    pub fn finish(&mut self, project: &str) {
        self.running.remove(project);
    }

    /// Projects whose reconcile is running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_triggers_is_one_reconcile() {
        let mut s = Scheduler::new();
        let now = Instant::now();
        for _ in 0..10 {
            s.schedule("shop", now);
        }
        assert_eq!(s.take_due(now), vec!["shop"]);
        assert!(s.take_due(now).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_earlier_of_two_times_wins() {
        let mut s = Scheduler::new();
        let now = Instant::now();
        s.schedule("shop", now + Duration::from_secs(30));
        s.schedule("shop", now + Duration::from_secs(1));
        s.schedule("shop", now + Duration::from_secs(60));
        assert_eq!(s.next_deadline(), Some(now + Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_project_is_not_handed_out_twice() {
        let mut s = Scheduler::new();
        let now = Instant::now();
        s.schedule("shop", now);
        assert_eq!(s.take_due(now), vec!["shop"]);
        s.schedule("shop", now);
        assert!(s.take_due(now).is_empty(), "still running");
        assert_eq!(s.next_deadline(), None);
        s.finish("shop");
        assert_eq!(
            s.take_due(now),
            vec!["shop"],
            "the trigger that came meanwhile runs"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn projects_not_yet_due_wait() {
        let mut s = Scheduler::new();
        let now = Instant::now();
        s.schedule("a", now);
        s.schedule("b", now + Duration::from_secs(5));
        assert_eq!(s.take_due(now), vec!["a"]);
        assert_eq!(s.next_deadline(), Some(now + Duration::from_secs(5)));
        assert_eq!(s.take_due(now + Duration::from_secs(5)), vec!["b"]);
    }
}
