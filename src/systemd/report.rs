//! What the controller loop tells systemd, and when.
//!
//! - `READY=1` once every project known when the engine's first full list arrived has
//!   finished its first reconcile (success or error): `systemctl start` returns when the
//!   host has been converged once, not before.
//! - `STATUS=` a one-line summary (`12 containers in 3 projects; 0 failing; last reconcile
//!   2s ago`), refreshed after reconciles at most every [`STATUS_MIN_GAP`] and on every
//!   heartbeat.
//! - `WATCHDOG=1` on every heartbeat of the loop itself, so a stuck loop stops the pings and
//!   systemd restarts the service.
//! - `STOPPING=1` when shutdown begins.
//!
//! The [`Reporter`] holds no clock and does no I/O beyond the [`Notifier`]: the loop passes
//! the time and a [`Summary`] of its state in (computed only when systemd listens), so the
//! rules are tested without a loop. Without a notification socket it does nothing at all.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::Notifier;

/// Shortest time between two status updates caused by reconciles.
pub const STATUS_MIN_GAP: Duration = Duration::from_secs(2);

/// Longest time between two heartbeats (shorter when systemd's watchdog asks for it).
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// The controller's state, as the status line shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Managed containers the engine holds.
    pub containers: usize,
    /// Projects of the desired directory (loaded or failing).
    pub projects: usize,
    /// Every project the controller reconciles: desired or observed.
    pub known: BTreeSet<String>,
    /// Projects whose desired state fails to load.
    pub invalid: BTreeSet<String>,
    /// True when the desired directory as a whole could not be loaded.
    pub directory_error: bool,
}

/// Where start-up stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Startup {
    /// The engine has not been listed yet.
    Listing,
    /// Listed; these projects have not finished their first reconcile.
    Reconciling {
        /// Projects still to finish.
        pending: BTreeSet<String>,
        /// How many projects start-up waits for in all.
        total: usize,
    },
    /// `READY=1` was sent.
    Ready,
}

/// Tells systemd about the controller loop. A no-op when the notifier is disabled.
#[derive(Debug)]
pub struct Reporter {
    notifier: Notifier,
    startup: Startup,
    failing: BTreeSet<String>,
    last_reconcile: Option<Instant>,
    sent_status: Option<(Instant, String)>,
    send_failed: bool,
}

impl Reporter {
    /// A reporter sending through `notifier`.
    pub fn new(notifier: Notifier) -> Self {
        Self {
            notifier,
            startup: Startup::Listing,
            failing: BTreeSet::new(),
            last_reconcile: None,
            sent_status: None,
            send_failed: false,
        }
    }

    /// How often the loop should call [`Self::heartbeat`].
    pub fn heartbeat_period(&self) -> Duration {
        self.notifier
            .watchdog_interval()
            .map_or(HEARTBEAT, |w| w.min(HEARTBEAT))
            .max(Duration::from_millis(1))
    }

    /// True when the loop should run heartbeats at all.
    pub fn is_enabled(&self) -> bool {
        self.notifier.is_enabled()
    }

    /// True once `READY=1` was sent.
    pub fn is_ready(&self) -> bool {
        self.startup == Startup::Ready
    }

    /// True until [`Self::listed`] was called.
    pub fn is_listing(&self) -> bool {
        self.startup == Startup::Listing
    }

    /// The engine's first full list is in: each project then known
    /// ([`Summary::known`]) must finish one reconcile before `READY=1`. Later calls change
    /// nothing.
    pub fn listed(&mut self, now: Instant, summary: impl FnOnce() -> Summary) {
        if self.startup != Startup::Listing || !self.is_enabled() {
            return;
        }
        let summary = &summary();
        info!(
            projects = summary.known.len(),
            "engine listed; waiting for the first reconcile of every project"
        );
        self.startup = Startup::Reconciling {
            total: summary.known.len(),
            pending: summary.known.clone(),
        };
        self.update(now, summary, true);
    }

    /// One reconcile of `project` finished, successfully when `ok`.
    pub fn reconciled(
        &mut self,
        project: &str,
        ok: bool,
        now: Instant,
        summary: impl FnOnce() -> Summary,
    ) {
        if !self.is_enabled() {
            return;
        }
        self.last_reconcile = Some(now);
        if ok {
            self.failing.remove(project);
        } else {
            self.failing.insert(project.to_owned());
        }
        if let Startup::Reconciling { pending, .. } = &mut self.startup {
            pending.remove(project);
        }
        self.update(now, &summary(), false);
    }

    /// The loop's heartbeat: `WATCHDOG=1` when systemd's watchdog is on, and a fresh
    /// status line.
    pub fn heartbeat(&mut self, now: Instant, summary: impl FnOnce() -> Summary) {
        if !self.is_enabled() {
            return;
        }
        if self.notifier.watchdog_interval().is_some() {
            let sent = self.notifier.watchdog();
            self.check(sent);
        }
        self.update(now, &summary(), true);
    }

    /// Shutdown has begun.
    pub fn stopping(&mut self) {
        let sent = self
            .notifier
            .notify("STOPPING=1\nSTATUS=stopping: letting in-flight reconciles finish");
        self.check(sent);
    }

    /// The status line for `summary` at `now`.
    pub fn status_line(&self, now: Instant, summary: &Summary) -> String {
        match &self.startup {
            Startup::Listing => "starting: listing the engine".to_owned(),
            Startup::Reconciling { pending, total } => format!(
                "starting: {} of {} reconciled; {}",
                total - pending.len(),
                count(*total, "project"),
                count(summary.containers, "container"),
            ),
            Startup::Ready => self.running_line(now, summary),
        }
    }

    fn running_line(&self, now: Instant, summary: &Summary) -> String {
        let failing = self.failing.union(&summary.invalid).count();
        let last = self.last_reconcile.map_or_else(
            || "no reconcile yet".to_owned(),
            |at| {
                format!(
                    "last reconcile {} ago",
                    ago(now.saturating_duration_since(at))
                )
            },
        );
        let mut line = format!(
            "{} in {}; {failing} failing; {last}",
            count(summary.containers, "container"),
            count(summary.projects, "project"),
        );
        if summary.directory_error {
            line.push_str("; desired directory not loaded");
        }
        line
    }

    /// Sends READY when start-up just completed, else the status line when it changed
    /// (and, unless `force`, the last one is older than [`STATUS_MIN_GAP`]).
    fn update(&mut self, now: Instant, summary: &Summary, force: bool) {
        if let Startup::Reconciling { pending, .. } = &mut self.startup {
            // A project that vanished before its first reconcile will never have one.
            pending.retain(|p| summary.known.contains(p));
        }
        let became_ready =
            matches!(&self.startup, Startup::Reconciling { pending, .. } if pending.is_empty());
        if became_ready {
            self.startup = Startup::Ready;
            let line = self.status_line(now, summary);
            info!("every project reconciled once; telling systemd we are ready");
            let sent = self.notifier.ready_with_status(&line);
            self.check(sent);
            self.sent_status = Some((now, line));
            return;
        }
        let line = self.status_line(now, summary);
        let due = match &self.sent_status {
            None => true,
            Some((_, last)) if *last == line => false,
            Some((at, _)) => force || now.saturating_duration_since(*at) >= STATUS_MIN_GAP,
        };
        if due {
            let sent = self.notifier.status(&line);
            self.check(sent);
            self.sent_status = Some((now, line));
        }
    }

    /// Logs the first failed send as a warning, later ones at debug level.
    fn check(&mut self, sent: super::Result<()>) {
        if let Err(err) = sent {
            if self.send_failed {
                debug!(error = %err, "systemd notification failed");
            } else {
                warn!(error = %err, "systemd notification failed");
                self.send_failed = true;
            }
        }
    }
}

/// `1 project`, `3 projects`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `42s`, `5m`, `3h`: coarse, for a status line.
fn ago(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}

#[cfg(test)]
mod tests;
