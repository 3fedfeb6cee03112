//! Reading the time: the one place composectl asks the system for the wall clock.
//!
//! Two clocks, two uses:
//!
//! - **Durations** (timeouts, backoffs, deadlines, windows) run on tokio's clock
//!   (`tokio::time::Instant`), which tests pause and advance.
//! - **Wall-clock stamps** (persisted records, the engine's `FinishedAt`, outage windows,
//!   `/status`) come from a [`WallClock`] handed in where the code can take one (a clock
//!   that follows tokio's paused clock in tests), or from [`system_time`] and its helpers
//!   where there is nothing to inject (metrics, log stamps, the engine's `since`).
//!
//! `std::time::SystemTime::now` is called here and nowhere else: `clippy.toml` bans it
//! in the rest of the crate, so every new reading of the wall clock goes through this
//! module and tests can replace it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the unit of every wall-clock time of a [`WallClock`].
pub type EpochMillis = i64;

/// The system's real-time clock, now: the crate's only call of `SystemTime::now`.
#[allow(clippy::disallowed_methods)]
pub fn system_time() -> SystemTime {
    SystemTime::now()
}

/// The time since the Unix epoch on the system clock (zero if the clock is before 1970).
pub fn since_epoch() -> Duration {
    system_time().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Milliseconds since the Unix epoch on the system clock (0 before 1970).
pub fn system_now_ms() -> EpochMillis {
    i64::try_from(since_epoch().as_millis()).unwrap_or(EpochMillis::MAX)
}

/// Seconds since the Unix epoch on the system clock (0 before 1970).
pub fn now_secs() -> u64 {
    since_epoch().as_secs()
}

/// The wall clock, injected: [`WallClock::system`] in the daemon, a clock that follows
/// tokio's (paused) clock in tests, so the engine's `FinishedAt` times and composectl's
/// own stamps can be compared in both.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> EpochMillis + Send + Sync>);

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WallClock").field(&self.now_ms()).finish()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::system()
    }
}

impl WallClock {
    /// The system's real-time clock.
    pub fn system() -> Self {
        Self(Arc::new(system_now_ms))
    }

    /// A clock that reads `start` now and then moves with tokio's clock (for tests with
    /// `tokio::time::pause`; feature `test-util`).
    #[cfg(any(test, feature = "test-util"))]
    pub fn following_tokio(start: EpochMillis) -> Self {
        let origin = tokio::time::Instant::now();
        Self(Arc::new(move || {
            let elapsed = i64::try_from(origin.elapsed().as_millis()).unwrap_or(i64::MAX);
            start.saturating_add(elapsed)
        }))
    }

    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> EpochMillis {
        (self.0)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2020-01-01T00:00:00Z, in milliseconds: any machine running the tests is past it.
    const Y2020_MS: EpochMillis = 1_577_836_800_000;

    #[test]
    fn the_system_clock_reads_the_same_now_in_every_unit() {
        let before = system_now_ms();
        let secs = now_secs();
        let clock = WallClock::system().now_ms();
        let after = system_now_ms();
        assert!(before > Y2020_MS, "{before}");
        assert!(
            before <= clock && clock <= after,
            "{before} {clock} {after}"
        );
        let secs_ms = i64::try_from(secs).unwrap() * 1000;
        assert!(
            before - 1000 < secs_ms && secs_ms <= after,
            "{before} {secs} {after}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_following_tokio_moves_with_advance_only() {
        let clock = WallClock::following_tokio(Y2020_MS);
        assert_eq!(clock.now_ms(), Y2020_MS);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now_ms(), Y2020_MS + 1500);
        assert_eq!(
            clock.clone().now_ms(),
            Y2020_MS + 1500,
            "clones share the origin"
        );
    }
}
