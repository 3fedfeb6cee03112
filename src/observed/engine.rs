//! The engine's outages, as the reflector lives through them, and the one rule that follows
//! from them: an exit the engine caused is not a failure of what ran.
//!
//! An outage starts when the event stream of an engine composectl had listed is lost (a
//! daemon restart, graceful or killed, always breaks it) and ends when a relist succeeds
//! again. The Engine API 1.41 has no other signal to go by: `/info` keeps its `ID` across
//! restarts and reports no start time, and the event stream has no shutdown event. What it
//! does give is each container's `State.FinishedAt`, so a container that stopped inside an
//! outage window is known to be the engine's doing:
//!
//! ```text
//!            lost - SLACK_BEFORE        lost               back
//! ----------------|--------------------|-------------------|---------> wall clock
//!                 [ an exit in here was caused by the engine going away ]
//! ```
//!
//! The slack before the loss covers the engine stopping containers a moment before
//! composectl notices (dockerd 20.10 closes its API first, so in practice it notices
//! first). A container left `created` by a create whose start the outage cut off counts
//! too, by its creation time.
//!
//! [`Outages`] is plain data with `now` passed in: the controller asks it whether the
//! engine is away (reconciles wait), which containers the engine stopped (no crash backoff,
//! no gate verdict, no failed replica; they are started again in place), how long the
//! engine's restart policies still have after its return, and how much of a time span the
//! engine was away for (a rollout's clock stops meanwhile). Wall-clock time comes from an
//! injected [`WallClock`](crate::clock::WallClock).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::EpochMillis;
use crate::model::{ContainerState, ObservedContainer};

/// How long before composectl noticed the loss an exit still counts as the engine's doing.
pub const SLACK_BEFORE: Duration = Duration::from_secs(5);

/// How long after its return the engine gets to restart, by its own restart policy, the
/// containers it stopped, before composectl starts them itself.
pub const RESTART_GRACE: Duration = Duration::from_secs(10);

/// How many ended outages are remembered (the oldest is forgotten first).
const REMEMBERED: usize = 32;

/// One outage that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When composectl lost the event stream (wall clock).
    pub lost_ms: EpochMillis,
    /// When a relist succeeded again (wall clock).
    pub back_ms: EpochMillis,
    /// When a relist succeeded again (tokio's clock).
    pub back: Instant,
}

/// The outage going on now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Away {
    lost_ms: EpochMillis,
}

/// The engine's outages: the current one, if any, and the last few that ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outages {
    away: Option<Away>,
    ended: VecDeque<Outage>,
    returns: u64,
}

/// What `/status` and the metrics say about the engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineSummary {
    /// Since when it is unreachable (its event stream lost; wall clock), while it is.
    pub unreachable_since_ms: Option<EpochMillis>,
    /// How often it came back after being unreachable.
    pub returns: u64,
    /// When it last came back (wall clock).
    pub last_return_ms: Option<EpochMillis>,
}

impl EngineSummary {
    /// False while the engine is away.
    pub fn reachable(&self) -> bool {
        self.unreachable_since_ms.is_none()
    }
}

impl Outages {
    /// No outage so far.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the event stream was lost at `now_ms`; true when this starts an
    /// outage (a second loss before the return changes nothing).
    pub fn lost(&mut self, now_ms: EpochMillis) -> bool {
        if self.away.is_some() {
            return false;
        }
        self.away = Some(Away { lost_ms: now_ms });
        true
    }

    /// Records that a relist succeeded at `now` / `now_ms`; the outage it ends, if one
    /// was going on.
    pub fn back(&mut self, now: Instant, now_ms: EpochMillis) -> Option<Outage> {
        let away = self.away.take()?;
        let outage = Outage {
            lost_ms: away.lost_ms,
            back_ms: now_ms.max(away.lost_ms),
            back: now,
        };
        if self.ended.len() == REMEMBERED {
            self.ended.pop_front();
        }
        self.ended.push_back(outage);
        self.returns += 1;
        Some(outage)
    }

    /// True while the engine is away (the stream lost, no relist since).
    pub fn is_away(&self) -> bool {
        self.away.is_some()
    }

    /// How often the engine came back so far.
    pub fn returns(&self) -> u64 {
        self.returns
    }

    /// The last outage that ended, if any.
    pub fn last(&self) -> Option<&Outage> {
        self.ended.back()
    }

    /// Whether `at` (wall clock) falls inside an outage window, the slack before the loss
    /// included; the current outage's window is open-ended.
    fn in_outage(&self, at: EpochMillis) -> bool {
        let slack = i64::try_from(SLACK_BEFORE.as_millis()).unwrap_or(i64::MAX);
        let within =
            |lost: EpochMillis, back: EpochMillis| at >= lost.saturating_sub(slack) && at <= back;
        self.away.is_some_and(|a| within(a.lost_ms, i64::MAX))
            || self.ended.iter().any(|o| within(o.lost_ms, o.back_ms))
    }

    /// True when `c` is down because the engine went away: it exited (or died) inside an
    /// outage window, or it was created just before one and never started.
    pub fn stopped(&self, c: &ObservedContainer) -> bool {
        match c.state {
            ContainerState::Exited | ContainerState::Dead => {
                c.finished_at.is_some_and(|at| self.in_outage(at))
            }
            ContainerState::Created => self.in_outage(c.created.saturating_mul(1000)),
            _ => false,
        }
    }

    /// Time left, at `now`, of the grace the engine gets after its last return to apply its
    /// own restart policies; `None` once it is over (or before any return).
    pub fn restart_grace(&self, now: Instant) -> Option<Duration> {
        let back = self.last()?.back;
        let left = (back + RESTART_GRACE).saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// How long, between `from_ms` and `to_ms` (wall clock), the engine was away: the parts
    /// of every remembered outage, and of the current one, inside that span.
    pub fn downtime(&self, from_ms: EpochMillis, to_ms: EpochMillis) -> Duration {
        let overlap = |lost: EpochMillis, back: EpochMillis| {
            let start = lost.max(from_ms);
            let end = back.min(to_ms);
            u64::try_from(end.saturating_sub(start)).unwrap_or(0)
        };
        let current = self.away.map_or(0, |a| overlap(a.lost_ms, to_ms));
        let ended: u64 = self
            .ended
            .iter()
            .map(|o| overlap(o.lost_ms, o.back_ms))
            .sum();
        Duration::from_millis(current + ended)
    }

    /// The engine as `/status` and the metrics show it.
    pub fn summary(&self) -> EngineSummary {
        EngineSummary {
            unreachable_since_ms: self.away.map(|a| a.lost_ms),
            returns: self.returns,
            last_return_ms: self.last().map(|o| o.back_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: EpochMillis = 1_800_000_000_000;

    fn exited_at(finished_at: EpochMillis) -> ObservedContainer {
        ObservedContainer {
            id: "c1".into(),
            state: ContainerState::Exited,
            exit_code: Some(137),
            finished_at: Some(finished_at),
            ..ObservedContainer::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_exit_inside_an_outage_window_is_the_engines_doing_and_one_outside_is_not() {
        let mut outages = Outages::new();
        assert!(!outages.stopped(&exited_at(T0)), "no outage yet");
        assert!(outages.lost(T0));
        assert!(outages.is_away());
        assert!(
            outages.stopped(&exited_at(T0 + 60_000)),
            "the current outage is open-ended"
        );
        outages.back(Instant::now(), T0 + 8_000);
        assert!(!outages.is_away());
        assert!(outages.stopped(&exited_at(T0 + 3_000)), "during the outage");
        assert!(outages.stopped(&exited_at(T0 - 4_000)), "within the slack");
        assert!(!outages.stopped(&exited_at(T0 - 6_000)), "before the slack");
        assert!(!outages.stopped(&exited_at(T0 + 9_000)), "after the return");
        let unknown = ObservedContainer {
            finished_at: None,
            ..exited_at(T0)
        };
        assert!(!outages.stopped(&unknown), "no finish time: not known");
        let running = ObservedContainer {
            state: ContainerState::Running,
            ..exited_at(T0 + 1_000)
        };
        assert!(!outages.stopped(&running));
    }

    #[tokio::test(start_paused = true)]
    async fn a_container_created_just_before_the_outage_and_never_started_is_the_engines_doing() {
        let mut outages = Outages::new();
        outages.lost(T0);
        outages.back(Instant::now(), T0 + 5_000);
        let created = |secs: i64| ObservedContainer {
            state: ContainerState::Created,
            created: secs,
            ..ObservedContainer::default()
        };
        assert!(outages.stopped(&created(T0 / 1000 - 1)));
        assert!(!outages.stopped(&created(T0 / 1000 - 60)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_loss_before_the_return_does_not_move_the_outage_start() {
        let mut outages = Outages::new();
        assert!(outages.lost(T0));
        assert!(!outages.lost(T0 + 2_000));
        let ended = outages.back(Instant::now(), T0 + 4_000).unwrap();
        assert_eq!((ended.lost_ms, ended.back_ms), (T0, T0 + 4_000));
        assert_eq!(outages.back(Instant::now(), T0 + 5_000), None, "no outage");
        assert_eq!(outages.returns(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_restart_grace_runs_from_the_last_return() {
        let mut outages = Outages::new();
        let start = Instant::now();
        assert_eq!(outages.restart_grace(start), None, "no return yet");
        outages.lost(T0);
        outages.back(start, T0 + 1_000);
        assert_eq!(outages.restart_grace(start), Some(RESTART_GRACE));
        let later = start + Duration::from_secs(4);
        assert_eq!(
            outages.restart_grace(later),
            Some(RESTART_GRACE - Duration::from_secs(4))
        );
        assert_eq!(outages.restart_grace(start + RESTART_GRACE), None);
    }

    #[test]
    fn downtime_counts_only_the_parts_of_outages_inside_the_span() {
        let mut outages = Outages::new();
        let now = Instant::now();
        outages.lost(T0 + 10_000);
        outages.back(now, T0 + 13_000);
        outages.lost(T0 + 20_000);
        outages.back(now, T0 + 21_000);
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(outages.downtime(T0, T0 + 30_000)), 4_000);
        assert_eq!(ms(outages.downtime(T0 + 12_000, T0 + 30_000)), 2_000);
        assert_eq!(ms(outages.downtime(T0, T0 + 11_000)), 1_000);
        assert_eq!(ms(outages.downtime(T0 + 14_000, T0 + 19_000)), 0);
        outages.lost(T0 + 40_000);
        assert_eq!(
            ms(outages.downtime(T0 + 30_000, T0 + 45_000)),
            5_000,
            "the current outage counts up to the end of the span"
        );
    }

    #[test]
    fn only_the_last_outages_are_remembered() {
        let mut outages = Outages::new();
        let now = Instant::now();
        for i in 0..40 {
            outages.lost(T0 + i * 10_000);
            outages.back(now, T0 + i * 10_000 + 1_000);
        }
        assert_eq!(outages.returns(), 40);
        assert!(!outages.stopped(&exited_at(T0 + 500)), "forgotten");
        assert!(outages.stopped(&exited_at(T0 + 39 * 10_000 + 500)));
    }
}
