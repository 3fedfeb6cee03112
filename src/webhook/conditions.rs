//! Conditions that start and recover: a service crash-looping, a project failing to load,
//! a project failing to reconcile. [`Conditions`] turns successive [`Snapshot`]s of what
//! the controller recorded into events, one when a condition starts and one when it
//! recovers, never one per loop; [`watch`] samples the telemetry on a period and hands
//! those events to the webhook.
//!
//! Sampling (rather than a hook in the reconcile loop) keeps the controller unaware of
//! notifications and turns a flapping condition into at most one pair of events per
//! period.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Webhook;
use super::event::{Event, EventKind};
use crate::clock::WallClock;
use crate::metrics::{ControllerState, ProjectRecord, Telemetry};

/// How often [`watch`] samples the telemetry.
pub const PERIOD: Duration = Duration::from_secs(5);

/// What one condition is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A service with a replica in crash backoff: (project, service).
    Crash(String, String),
    /// A project whose files fail to load.
    Load(String),
    /// A project whose reconciles fail.
    Reconcile(String),
}

impl Key {
    fn project(&self) -> &str {
        match self {
            Self::Crash(project, _) | Self::Load(project) | Self::Reconcile(project) => project,
        }
    }

    fn event(&self, started: bool, reason: Option<String>, at: &str) -> Event {
        let (kind, service) = match (self, started) {
            (Self::Crash(_, s), true) => (EventKind::CrashLooping, Some(s.clone())),
            (Self::Crash(_, s), false) => (EventKind::CrashRecovered, Some(s.clone())),
            (Self::Load(_), true) => (EventKind::LoadFailed, None),
            (Self::Load(_), false) => (EventKind::LoadRecovered, None),
            (Self::Reconcile(_), true) => (EventKind::ReconcileFailed, None),
            (Self::Reconcile(_), false) => (EventKind::ReconcileRecovered, None),
        };
        Event {
            event: kind,
            project: self.project().to_owned(),
            service,
            rollout: None,
            reason,
            at: at.to_owned(),
        }
    }
}

/// The conditions active at one moment, and what they are about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every active condition and its reason.
    pub active: BTreeMap<Key, String>,
    /// Every project the controller knows (loaded, or failing to load): a condition of a
    /// project not in it is forgotten without a recovery event.
    pub projects: BTreeSet<String>,
    /// False while the engine is away: reconcile failures then neither start nor recover
    /// (the engine going away is not the project's failure).
    pub engine_reachable: bool,
}

impl Snapshot {
    /// The conditions in the controller's state and its per-project records. A service is
    /// crash-looping while a replica's crash backoff is longer than `crash_first` (it
    /// crashed again after its first heal), or in any backoff when `crash_first` is zero.
    pub fn of(
        state: &ControllerState,
        records: &BTreeMap<String, ProjectRecord>,
        crash_first: Duration,
    ) -> Self {
        let mut active = BTreeMap::new();
        for ((project, service, number), delay) in &state.crash_delays {
            if *delay > crash_first || (crash_first.is_zero() && !delay.is_zero()) {
                active
                    .entry(Key::Crash(project.clone(), service.clone()))
                    .or_insert_with(|| {
                        format!(
                            "replica {number} keeps crashing; next restart after a {} backoff",
                            crate::timefmt::duration(
                                u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
                            )
                        )
                    });
            }
        }
        let mut projects: BTreeSet<String> = state.specs.keys().cloned().collect();
        projects.extend(state.load_errors.keys().cloned());
        for (project, error) in &state.load_errors {
            active.insert(Key::Load(project.clone()), error.clone());
        }
        if let Some(error) = &state.root_error {
            for project in &projects {
                active
                    .entry(Key::Load(project.clone()))
                    .or_insert_with(|| error.clone());
            }
        }
        for (project, record) in records {
            if let Some(error) = &record.last_error {
                active.insert(Key::Reconcile(project.clone()), error.clone());
            }
        }
        Self {
            active,
            projects,
            engine_reachable: state.engine.reachable(),
        }
    }
}

/// The conditions announced so far.
#[derive(Debug, Default)]
pub struct Conditions {
    announced: BTreeSet<Key>,
}

impl Conditions {
    /// The events that `snapshot` makes, stamped `at`: one per condition that started
    /// since the last snapshot, one per condition that recovered.
    pub fn observe(&mut self, snapshot: &Snapshot, at: &str) -> Vec<Event> {
        let frozen = |key: &Key| matches!(key, Key::Reconcile(_)) && !snapshot.engine_reachable;
        let mut events = Vec::new();
        let ended: Vec<Key> = self
            .announced
            .iter()
            .filter(|key| !snapshot.active.contains_key(*key) && !frozen(key))
            .cloned()
            .collect();
        for key in ended {
            self.announced.remove(&key);
            if snapshot.projects.contains(key.project()) {
                events.push(key.event(false, None, at));
            }
        }
        for (key, reason) in &snapshot.active {
            if !self.announced.contains(key) && !frozen(key) {
                self.announced.insert(key.clone());
                events.push(key.event(true, Some(reason.clone()), at));
            }
        }
        events
    }
}

/// Samples `telemetry` every `period` and hands `notify` the events of conditions that
/// start or recover (see [`Snapshot::of`] for `crash_first`). Runs until the task is
/// dropped.
pub async fn watch(
    notify: impl Fn(Event),
    telemetry: Telemetry,
    crash_first: Duration,
    period: Duration,
    clock: WallClock,
) {
    let mut conditions = Conditions::default();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some((state, records)) = telemetry.snapshot() else {
            continue;
        };
        let snapshot = Snapshot::of(&state, &records, crash_first);
        let at = crate::timefmt::rfc3339(u64::try_from(clock.now_ms() / 1000).unwrap_or(0));
        for event in conditions.observe(&snapshot, &at) {
            notify(event);
        }
    }
}

/// Counts the webhook's deliveries in `telemetry`'s metrics and starts [`watch`] on a task
/// of its own, with the crash backoff's first and longest delay (`--crash-backoff`,
/// `--crash-backoff-max`): a replica is crash-looping once its backoff grew past the first
/// delay (it crashed again after its first heal), or at its first crash when the backoff
/// cannot grow.
pub fn spawn(
    webhook: Webhook,
    telemetry: &Telemetry,
    crash_first: Duration,
    crash_max: Duration,
) -> tokio::task::JoinHandle<()> {
    let stats = webhook.clone();
    telemetry.attach_webhook_stats(move || stats.stats());
    let threshold = if crash_max > crash_first {
        crash_first
    } else {
        Duration::ZERO
    };
    tokio::spawn(watch(
        move |event| webhook.notify(event),
        telemetry.clone(),
        threshold,
        PERIOD,
        WallClock::system(),
    ))
}
