//! The rollout records and revision histories of every service, cached in memory and
//! written through to the state directory ([`crate::state`]). The driver is the only
//! writer; status, metrics and the control socket read clones (snapshots).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::model::ServiceRef;
use crate::rollout::record::{History, RolloutRecord};
use crate::state::{self, StateDir};
use crate::sync::lock;

/// Records and histories by service.
pub struct Records {
    state: StateDir,
    records: Mutex<BTreeMap<ServiceRef, Option<RolloutRecord>>>,
    histories: Mutex<BTreeMap<ServiceRef, History>>,
}

impl Records {
    /// The records and histories kept in `state`.
    pub fn new(state: StateDir) -> Self {
        Self {
            state,
            records: Mutex::new(BTreeMap::new()),
            histories: Mutex::new(BTreeMap::new()),
        }
    }

    /// The record of `service` (read from disk the first time).
    pub fn record(&self, service: &ServiceRef) -> Result<Option<RolloutRecord>, state::Error> {
        let mut records = lock(&self.records);
        if let Some(cached) = records.get(service) {
            return Ok(cached.clone());
        }
        let loaded = self.state.load_record(&service.project, &service.service)?;
        records.insert(service.clone(), loaded.clone());
        Ok(loaded)
    }

    /// The revision history of `service` (read from disk the first time).
    pub fn history(&self, service: &ServiceRef) -> Result<History, state::Error> {
        let mut histories = lock(&self.histories);
        if let Some(cached) = histories.get(service) {
            return Ok(cached.clone());
        }
        let loaded = self
            .state
            .load_history(&service.project, &service.service)?;
        histories.insert(service.clone(), loaded.clone());
        Ok(loaded)
    }

    /// Writes the history of `service` (atomically) and caches it.
    pub fn save_history(
        &self,
        service: &ServiceRef,
        history: &History,
    ) -> Result<(), state::Error> {
        self.state
            .save_history(&service.project, &service.service, history)?;
        lock(&self.histories).insert(service.clone(), history.clone());
        Ok(())
    }

    /// Writes the record of `service` (atomically) and caches it.
    pub fn save(&self, service: &ServiceRef, record: &RolloutRecord) -> Result<(), state::Error> {
        self.state
            .save_record(&service.project, &service.service, record)?;
        self.cache(service, record);
        Ok(())
    }

    /// Caches a record without writing it (what changes at every evaluation: the gates'
    /// evidence).
    pub fn cache(&self, service: &ServiceRef, record: &RolloutRecord) {
        lock(&self.records).insert(service.clone(), Some(record.clone()));
    }

    /// Every record read or written so far.
    pub fn snapshot(&self) -> BTreeMap<ServiceRef, RolloutRecord> {
        lock(&self.records)
            .iter()
            .filter_map(|(key, record)| Some((key.clone(), record.clone()?)))
            .collect()
    }
}
