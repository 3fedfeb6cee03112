//! What registry watching last found per service, shared between the watcher (the one
//! writer) and its readers (`/status`, `rollout status`, the metrics), and the image
//! overrides semver watching chose (persisted in the state directory as
//! `<project>/<service>/watch.json`, so a restart keeps them), which the reconcile applies
//! to the desired spec before planning.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::model::ServiceRef;
use crate::model::spec::ProjectSpec;
use crate::state::StateDir;
use crate::sync;

/// One watched service, as its last check left it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// The image semver watching runs instead of the one the compose file names, while the
/// compose file names `base_image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// The compose file's `image:` when the override was chosen; a commit that changes
    /// it ends the override.
    pub base_image: String,
    /// The chosen reference (`repo:1.2.4`); `None`: no override.
    pub image: Option<String>,
}

/// Every watched service's [`ServiceWatch`], and the overrides. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct Watches {
    watches: Arc<Mutex<BTreeMap<ServiceRef, ServiceWatch>>>,
    overrides: Arc<Mutex<BTreeMap<ServiceRef, Option<Override>>>>,
    state: Option<StateDir>,
}

impl Watches {
    /// Watches whose overrides persist in `state`.
    pub fn with_state(state: StateDir) -> Self {
        Self {
            state: Some(state),
            ..Self::default()
        }
    }

    /// A snapshot of every watched service.
    pub fn snapshot(&self) -> BTreeMap<ServiceRef, ServiceWatch> {
        sync::lock(&self.watches).clone()
    }

    /// The watch of `service`, if it is watched.
    pub fn get(&self, service: &ServiceRef) -> Option<ServiceWatch> {
        sync::lock(&self.watches).get(service).cloned()
    }

    /// Changes the watch of `service` (creating it).
    pub fn update(&self, service: &ServiceRef, change: impl FnOnce(&mut ServiceWatch)) {
        change(
            sync::lock(&self.watches)
                .entry(service.clone())
                .or_default(),
        );
    }

    /// Forgets every service not in `keep`.
    pub fn retain(&self, keep: impl Fn(&ServiceRef) -> bool) {
        sync::lock(&self.watches).retain(|s, _| keep(s));
    }

    /// The override of `service` as recorded (read from the state directory once).
    pub fn recorded_override(&self, service: &ServiceRef) -> Option<Override> {
        let mut overrides = sync::lock(&self.overrides);
        if let Some(known) = overrides.get(service) {
            return known.clone();
        }
        let loaded = self.state.as_ref().and_then(|state| {
            state
                .load_watch(&service.project, &service.service)
                .unwrap_or_else(|e| {
                    warn!(%service, "cannot read the registry watch override, ignoring it: {e}");
                    None
                })
        });
        overrides.insert(service.clone(), loaded.clone());
        loaded
    }

    /// The image `service` runs instead of `base_image`, if semver watching chose one
    /// while the compose file names `base_image`.
    pub fn override_of(&self, service: &ServiceRef, base_image: &str) -> Option<String> {
        self.recorded_override(service)
            .filter(|o| o.base_image == base_image)
            .and_then(|o| o.image)
    }

    /// Records (and persists) the override of `service`.
    pub fn set_override(
        &self,
        service: &ServiceRef,
        value: Override,
    ) -> Result<(), crate::state::Error> {
        if let Some(state) = &self.state {
            state.save_watch(&service.project, &service.service, &value)?;
        }
        sync::lock(&self.overrides).insert(service.clone(), Some(value));
        Ok(())
    }

    /// Puts each semver-watched service of `spec` on the image its override names.
    pub fn apply_overrides(&self, spec: &mut ProjectSpec) {
        let project = spec.name.clone();
        for service in spec.services.values_mut() {
            let key = crate::rollout::config::KEY;
            if service
                .extensions
                .get(key)
                .and_then(|e| e.get("watch"))
                .is_none()
            {
                continue;
            }
            let semver = crate::rollout::RolloutConfig::from_service(service)
                .ok()
                .and_then(|c| c.watch)
                .is_some_and(|w| w.mode == super::config::Mode::Semver);
            if !semver {
                continue;
            }
            let sref = ServiceRef::new(&project, &service.name);
            if let Some(image) = self.override_of(&sref, &service.image) {
                service.image = image;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::ServiceSpec;
    use serde_json::json;

    fn semver_project(image: &str) -> ProjectSpec {
        let mut service = ServiceSpec::new("web", image);
        service
            .extensions
            .insert("x-rollout".into(), json!({"watch": {"mode": "semver"}}));
        let mut spec = ProjectSpec {
            name: "shop".into(),
            ..ProjectSpec::default()
        };
        spec.services.insert("web".into(), service);
        spec
    }

    #[test]
    fn a_chosen_tag_survives_a_restart_and_ends_when_the_commit_changes_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path(), "test");
        let sref = ServiceRef::new("shop", "web");
        let watches = Watches::with_state(state.clone());
        let chosen = Override {
            base_image: "reg/web:1.2.3".into(),
            image: Some("reg/web:1.2.4".into()),
        };
        watches.set_override(&sref, chosen).unwrap();

        // A new daemon reads it back from the state directory.
        let restarted = Watches::with_state(state);
        let mut spec = semver_project("reg/web:1.2.3");
        restarted.apply_overrides(&mut spec);
        assert_eq!(spec.services["web"].image, "reg/web:1.2.4");

        // A commit naming another image: the override no longer applies.
        let mut spec = semver_project("reg/web:2.0.0");
        restarted.apply_overrides(&mut spec);
        assert_eq!(spec.services["web"].image, "reg/web:2.0.0");
    }

    #[test]
    fn an_override_applies_only_to_a_semver_watched_service() {
        let watches = Watches::default();
        let sref = ServiceRef::new("shop", "web");
        let chosen = Override {
            base_image: "reg/web:1.2.3".into(),
            image: Some("reg/web:1.2.4".into()),
        };
        watches.set_override(&sref, chosen).unwrap();
        let mut spec = semver_project("reg/web:1.2.3");
        spec.services.get_mut("web").unwrap().extensions.clear();
        watches.apply_overrides(&mut spec);
        assert_eq!(spec.services["web"].image, "reg/web:1.2.3");
    }
}
