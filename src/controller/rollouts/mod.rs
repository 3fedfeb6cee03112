//! The rollout driver: before the planner plans a project, it runs each service's rollout
//! and tells the planner which replica slots stay on which revision.
//!
//! Where a rollout's state lives and who changes it:
//!
//! - the **record** (where the rollout is: its [`Phase`](crate::rollout::record::Phase),
//!   step, window, replicas moved) and the **revision history** (the specs a rollback
//!   restores) are files in the state directory, cached in [`records::Records`];
//! - only the driver's [`Rollouts::drive`] changes them, by stepping the pure lifecycle
//!   ([`crate::rollout::lifecycle`]) and applying control commands
//!   ([`crate::rollout::command`]) that the control socket queued as
//!   [`intents::Intent`]s; status, metrics and the control socket read snapshots;
//! - the engine is changed only by the executor: the driver's answer ([`Drive`]) pins slots
//!   to revisions, names the `:previous` tag the plan must set, and the images the plan
//!   must pull before a rollout can start.
//!
//! A service takes part when it configures `x-rollout` or `deploy.update_config`. One pass
//! per reconcile and service (`pass.rs`): record the desired revision in the history
//! *before* anything is created from it; start a rollout when the replicas run another
//! revision (superseding one the desired state moved away from: not a failure, nothing
//! held); apply queued intents; evaluate the gates of the current window (`gates.rs`);
//! step the lifecycle; persist and report (`report.rs`); pin (`pins.rs`).
//!
//! Everything a rollout needs survives a controller restart: the record and history are
//! files; gates restart their window's evidence from scratch.
//!
//! The engine going away is not the new revision's failure (see
//! [`crate::observed::engine`]): the rollout's clock (its windows and progress deadlines)
//! stops while the engine is away, replicas the engine stopped read as starting (never
//! failed) until they are started again, their progress deadline starts over, no gate
//! judges them, and a pass during which the engine went away decides nothing.

mod gates;
pub mod intents;
mod pass;
mod pins;
pub mod records;
mod report;
#[cfg(test)]
mod report_tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::Telemetry;
use crate::model::spec::{ProjectSpec, ServiceSpec};
use crate::model::{ObservedContainer, ServiceRef};
use crate::observed::{Outages, Store};
use crate::plan::Pins;
use crate::rollout::Readiness;
use crate::rollout::observe::{self, revision_key};
use crate::rollout::record::{History, RevisionKey, RolloutRecord};
use crate::runtime::ContainerRuntime;
use crate::state::{self, StateDir};
use crate::webhook::Webhook;

pub use crate::rollout::config::has_rollout;
pub use gates::gate_names;
use intents::{Intent, Intents};
use pass::Pass;
use records::Records;

/// Why the driver could not decide; the reconcile fails and changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory could not be read or written.
    #[error(transparent)]
    State(#[from] state::Error),
    /// The service's rollout settings are invalid (the loader normally rejects them), or
    /// its image cannot be had.
    #[error("{service}: {message}")]
    Config {
        /// The service.
        service: ServiceRef,
        /// What is wrong.
        message: String,
    },
}

/// Result alias of the driver.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the driver tells the planner for one project.
#[derive(Debug, Default)]
pub struct Drive {
    /// Slots held on an earlier revision.
    pub pins: Pins,
    /// Image tags the pinned slots are created from: tag -> (image ID, service).
    pub tags: BTreeMap<String, (String, String)>,
    /// Services whose desired image must be pulled before their rollout can start.
    pub awaiting_image: BTreeSet<String>,
    /// Services whose configuration replacements start first.
    pub start_first: BTreeSet<String>,
    /// When to look again (a strategy waiting on time).
    pub requeue_after: Option<Duration>,
}

impl Drive {
    /// Adds `other`'s answer (another service's).
    fn merge(&mut self, other: Drive) {
        self.pins.extend(other.pins);
        self.tags.extend(other.tags);
        self.awaiting_image.extend(other.awaiting_image);
        self.start_first.extend(other.start_first);
        self.requeue_after = match (self.requeue_after, other.requeue_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The rollouts of every service: their records, live gates and queued intents.
pub struct Rollouts {
    records: Records,
    gates: gates::LiveGates,
    intents: Intents,
    warned: Mutex<BTreeSet<ServiceRef>>,
    webhook: Option<Webhook>,
    /// Registry digests of images registry watching pulled, by image ID: recorded in the
    /// history entry of the revision that runs it.
    digests: Mutex<BTreeMap<String, String>>,
}

/// The project spec with only `service` in it: what a revision records.
pub fn one_service(spec: &ProjectSpec, service: &ServiceSpec) -> ProjectSpec {
    ProjectSpec {
        services: BTreeMap::from([(service.name.clone(), service.clone())]),
        ..spec.clone()
    }
}

/// The revision most replicas run, leaving out `except` when given.
pub fn most_run(
    kept: &BTreeMap<u32, &ObservedContainer>,
    except: Option<&RevisionKey>,
) -> Option<RevisionKey> {
    let mut counts: BTreeMap<RevisionKey, usize> = BTreeMap::new();
    for c in kept.values() {
        let key = revision_key(c);
        if Some(&key) != except {
            *counts.entry(key).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .map(|(key, _)| key)
}

/// Whether replica `n` runs `target` and serves.
pub fn is_new_ready(
    kept: &BTreeMap<u32, &ObservedContainer>,
    target: &RevisionKey,
    n: u32,
) -> bool {
    kept.get(&n)
        .is_some_and(|c| revision_key(c) == *target && observe::readiness(c) == Readiness::Ready)
}

/// Time the rollout started at `started_ms` has been running at `now_ms` (wall clock),
/// leaving out the time the engine was away: the rollout's clock stops meanwhile.
pub fn rollout_elapsed_ms(outages: &Outages, started_ms: u64, now_ms: u64) -> u64 {
    let wall = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
    let away = outages.downtime(wall(started_ms), wall(now_ms));
    now_ms
        .saturating_sub(started_ms)
        .saturating_sub(u64::try_from(away.as_millis()).unwrap_or(u64::MAX))
}

impl Rollouts {
    /// Rollouts recorded in `state`, posting outcomes to `webhook` when given.
    pub fn new(state: StateDir, webhook: Option<Webhook>) -> Self {
        Self {
            records: Records::new(state),
            gates: gates::LiveGates::default(),
            intents: Intents::default(),
            warned: Mutex::new(BTreeSet::new()),
            webhook,
            digests: Mutex::default(),
        }
    }

    /// Notes that the image `image_id` was pulled by the registry digest `digest`
    /// (registry watching): the history entry of the revision running it records the digest
    /// at the service's next pass.
    pub fn note_digest(&self, image_id: &str, digest: &str) {
        crate::sync::lock(&self.digests).insert(image_id.to_owned(), digest.to_owned());
    }

    /// The digest noted for `image_id`, if one.
    fn noted_digest(&self, image_id: &str) -> Option<String> {
        crate::sync::lock(&self.digests).get(image_id).cloned()
    }

    /// The record of `service` (a snapshot).
    pub fn record(&self, service: &ServiceRef) -> Result<Option<RolloutRecord>> {
        Ok(self.records.record(service)?)
    }

    /// The revision history of `service` (a snapshot).
    pub fn history(&self, service: &ServiceRef) -> Result<History> {
        Ok(self.records.history(service)?)
    }

    /// Every record read or written so far (a snapshot).
    pub fn snapshot(&self) -> BTreeMap<ServiceRef, RolloutRecord> {
        self.records.snapshot()
    }

    /// Queues `intent` for `service`'s next pass; the receiver gets the answer.
    pub fn submit(
        &self,
        service: ServiceRef,
        intent: Intent,
    ) -> tokio::sync::oneshot::Receiver<intents::Answer> {
        self.intents.submit(service, intent)
    }

    /// Records that the new container of replica `number` never became ready (a failed
    /// start-first replacement): the strategy sees a failed new replica next time. Called
    /// by the reconcile that drove the service, after its plan ran.
    pub fn replica_failed(&self, service: &ServiceRef, number: u32) -> Result<()> {
        let Some(mut record) = self.records.record(service)? else {
            return Ok(());
        };
        if record.phase.is_final() || !record.failed_replicas.insert(number) {
            return Ok(());
        }
        tracing::warn!(
            project = %service.project,
            service = %service.service,
            replica = number,
            "the new revision's container did not become ready"
        );
        Ok(self.records.save(service, &record)?)
    }

    /// Runs the rollouts of every service of `spec` that has one, and returns what the
    /// planner must hold.
    pub async fn drive<R: ContainerRuntime>(
        &self,
        runtime: &Arc<R>,
        store: &Store,
        telemetry: &Telemetry,
        spec: &ProjectSpec,
    ) -> Result<Drive> {
        let mut drive = Drive::default();
        let now_ms = u64::try_from(store.clock().now_ms()).unwrap_or(0);
        for service in spec.services.values().filter(|s| has_rollout(s)) {
            let pass = Pass {
                runtime,
                store,
                telemetry,
                spec,
                service,
                sref: ServiceRef::new(&spec.name, &service.name),
                now_ms,
            };
            drive.merge(self.pass(&pass).await?);
        }
        Ok(drive)
    }
}
