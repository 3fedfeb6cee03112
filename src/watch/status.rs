//! What registry watching last found per service, shared between the watcher (the one
//! writer) and its readers (`/status`, `rollout status`, the metrics).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::model::ServiceRef;
use crate::sync;

/// One watched service, as its last check left it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceWatch {
    /// `digest` or `semver`.
    pub mode: String,
    /// The watched image reference.
    pub image: String,
    /// The registry digest the image the tag names on this host was pulled by (what runs
    /// once no rollout is under way), if it was pulled.
    pub local_digest: Option<String>,
    /// The digest the registry named at the last check that reached it.
    pub registry_digest: Option<String>,
    /// When the last check ran, milliseconds since the epoch.
    pub last_check_ms: Option<i64>,
    /// What the last check found, in words (`up to date`, `pulled ...`, `held ...`).
    pub result: Option<String>,
    /// The last check's error, naming the registry (never credentials).
    pub error: Option<String>,
    /// An update the registry has that does not run yet (pulled, rolling out, or about to
    /// be pulled).
    pub update_available: Option<String>,
    /// A digest held after its rollout failed.
    pub held: Option<String>,
}

/// Every watched service's [`ServiceWatch`]. Clones share one map.
#[derive(Debug, Clone, Default)]
pub struct Watches(Arc<Mutex<BTreeMap<ServiceRef, ServiceWatch>>>);

impl Watches {
    /// A snapshot of every watched service.
    pub fn snapshot(&self) -> BTreeMap<ServiceRef, ServiceWatch> {
        sync::lock(&self.0).clone()
    }

    /// The watch of `service`, if it is watched.
    pub fn get(&self, service: &ServiceRef) -> Option<ServiceWatch> {
        sync::lock(&self.0).get(service).cloned()
    }

    /// Changes the watch of `service` (creating it).
    pub fn update(&self, service: &ServiceRef, change: impl FnOnce(&mut ServiceWatch)) {
        change(sync::lock(&self.0).entry(service.clone()).or_default());
    }

    /// Forgets every service not in `keep`.
    pub fn retain(&self, keep: impl Fn(&ServiceRef) -> bool) {
        sync::lock(&self.0).retain(|s, _| keep(s));
    }
}
