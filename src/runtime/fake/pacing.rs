//! Pacing of the fake engine's write calls ([`FakeRuntime::set_delay`]): how long each
//! takes on tokio's clock, and which containers calls are working on right now, to catch
//! two calls on one container at once ([`FakeRuntime::overlaps`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Call, FakeRuntime};
use crate::sync;

/// How long each write call takes ([`FakeRuntime::set_delay`]), and which containers
/// calls are working on right now, to catch two calls on one container at once.
#[derive(Default)]
pub(super) struct Pacing {
    delay: Option<Arc<DelayFn>>,
    busy: BTreeMap<String, usize>,
    overlaps: Vec<String>,
}

type DelayFn = dyn Fn(&Call) -> Duration + Send + Sync;

impl std::fmt::Debug for Pacing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacing")
            .field("delayed", &self.delay.is_some())
            .field("busy", &self.busy)
            .field("overlaps", &self.overlaps)
            .finish()
    }
}

/// Marks containers busy for the length of one delayed call.
pub(super) struct Busy {
    pacing: Arc<Mutex<Pacing>>,
    keys: Vec<String>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut pacing = sync::lock(&self.pacing);
        for key in &self.keys {
            if let Some(n) = pacing.busy.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    pacing.busy.remove(key);
                }
            }
        }
    }
}

/// The containers a write call works on: by ID, and by name for the name it takes.
fn busy_keys(call: &Call) -> Vec<String> {
    match call {
        Call::Start { id } | Call::Stop { id } | Call::Remove { id } => vec![format!("id:{id}")],
        Call::Rename { id, name } => vec![format!("id:{id}"), format!("name:{name}")],
        Call::Create { name } => vec![format!("name:{name}")],
        _ => Vec::new(),
    }
}

impl FakeRuntime {
    /// Makes every write call take `delay(call)` (on tokio's clock) before it acts, so
    /// concurrent calls complete in the order their delays say.
    pub fn set_delay(&self, delay: impl Fn(&Call) -> Duration + Send + Sync + 'static) {
        sync::lock(&self.pacing).delay = Some(Arc::new(delay));
    }

    /// The containers (`id:...` or `name:...`) two delayed write calls worked on at once.
    pub fn overlaps(&self) -> Vec<String> {
        sync::lock(&self.pacing).overlaps.clone()
    }

    /// Waits out the delay of `call` (none unless [`Self::set_delay`] was called), with the
    /// containers it works on marked busy until the returned guard drops.
    pub(super) async fn pace(&self, call: &Call) -> Option<Busy> {
        let delay = sync::lock(&self.pacing).delay.clone()?;
        let keys = busy_keys(call);
        {
            let mut pacing = sync::lock(&self.pacing);
            for key in &keys {
                let n = pacing.busy.entry(key.clone()).or_default();
                *n += 1;
                if *n > 1 {
                    pacing.overlaps.push(key.clone());
                }
            }
        }
        let busy = Busy {
            pacing: self.pacing.clone(),
            keys,
        };
        let wait = delay(call);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Some(busy)
    }
}
