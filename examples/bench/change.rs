//! Figure 3, desired-file change to first Docker write: the compose file is replaced the
//! way git replaces it (a new file renamed over the old one), changing one service's
//! environment; the time from the rename to the first write request the proxy sees, minus
//! the daemon's debounce, is the controller's own reaction time.

use std::time::Duration;

use crate::daemon::DEBOUNCE;
use crate::error::{Error, Result};
use crate::proxy::Proxy;
use crate::stack::Stack;

/// Longest wait for the first write after a change.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// Change samples.
#[derive(Debug, Default)]
pub struct Changes {
    /// Rename -> first write, debounce included.
    pub raw: Vec<Duration>,
    /// Endpoints called for the first change, until the daemon went quiet.
    pub first_calls: Vec<String>,
}

impl Changes {
    /// Rename -> first write beyond the debounce.
    pub fn beyond_debounce(&self) -> Vec<Duration> {
        self.raw
            .iter()
            .map(|d| d.saturating_sub(DEBOUNCE))
            .collect()
    }
}

/// Makes `changes` changes, letting the daemon converge after each.
pub async fn run(stack: &Stack, proxy: &Proxy, changes: usize) -> Result<Changes> {
    let mut samples = Changes::default();
    for i in 0..changes {
        proxy
            .wait_quiet(Duration::from_millis(500), Duration::from_secs(30))
            .await;
        let mark = proxy.mark();
        let renamed = stack.rewrite_ours(&format!("v1-change{i}"))?;
        let write = proxy
            .wait_for(mark, WRITE_TIMEOUT, |r| r.is_write())
            .await
            .ok_or_else(|| Error::Timeout {
                what: format!("the first write after change {i}"),
                after: WRITE_TIMEOUT,
            })?;
        samples
            .raw
            .push(write.at.saturating_duration_since(renamed));
        if !proxy
            .wait_quiet(Duration::from_secs(1), Duration::from_secs(60))
            .await
        {
            return Err(Error::State(format!(
                "change {i} did not settle within 60 s"
            )));
        }
        if i == 0 {
            samples.first_calls = proxy.since(mark).iter().map(|r| r.endpoint()).collect();
        }
    }
    Ok(samples)
}
