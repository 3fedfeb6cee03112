//! What the controller remembers of its image builds, per service: the inputs whose build
//! failed (not built again until they change or `composectl rollout rebuild`; kept in the
//! state directory, so a restart does not retry them either), and the context entries the
//! service's current image was built from (for the files `plan` names as changed; kept in
//! the state directory too, for contexts of at most [`MAX_KEPT_ENTRIES`] entries, so the
//! one-shot `plan` and a restarted daemon name them).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::build::Entry;
use crate::model::{ObservedState, ProjectSpec};
use crate::runtime::BuildFailure;
use crate::state::StateDir;

/// A build that failed, as recorded and shown (`/status`, `plan`, the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedBuild {
    /// The build hash of the inputs that failed.
    pub hash: String,
    /// The builder's step that failed (`Step 3/5 : RUN make`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What went wrong.
    pub message: String,
    /// The last lines of the build's output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
}

impl FailedBuild {
    /// The record of `failure` for the inputs hashed `hash`.
    pub fn new(hash: &str, failure: &BuildFailure) -> Self {
        Self {
            hash: hash.to_owned(),
            step: failure.step.clone(),
            message: failure.message.clone(),
            output: failure.output.clone(),
        }
    }

    /// A copy with every text scrubbed of secrets ([`crate::redact`]): build output may
    /// echo a build argument.
    pub fn scrubbed(&self) -> Self {
        let scrub = |text: &str| crate::redact::text(text).into_owned();
        Self {
            hash: self.hash.clone(),
            step: self.step.as_deref().map(scrub),
            message: scrub(&self.message),
            output: self.output.iter().map(|l| scrub(l)).collect(),
        }
    }
}

/// Entries of a context whose manifest is kept in the state directory, at most (a larger
/// context's changes are named "build inputs changed" after a restart).
pub const MAX_KEPT_ENTRIES: usize = 20_000;

/// What an image was built from: its build hash and the context's entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltManifest {
    /// The build hash.
    pub hash: String,
    /// The entries sent.
    pub entries: Vec<Entry>,
}

/// Each service's failed build and the entries its image was built from.
#[derive(Debug)]
pub struct Builds {
    state: StateDir,
    failed: BTreeMap<(String, String), FailedBuild>,
    built_from: BTreeMap<(String, String), Arc<Vec<Entry>>>,
    /// The hash whose manifest is in the state directory (or was looked for there), by
    /// service.
    kept: BTreeMap<(String, String), String>,
    /// Services whose record was read from the state directory already.
    read: std::collections::BTreeSet<(String, String)>,
    /// Projects whose unused built images are looked for at their next converged
    /// reconcile (after a build, and once after composectl starts).
    prune_due: std::collections::BTreeSet<String>,
    /// Projects seen by [`Self::refresh`].
    seen: std::collections::BTreeSet<String>,
}

impl Builds {
    /// No build known yet; failed builds are read from `state` when first asked for.
    pub fn new(state: StateDir) -> Self {
        Self {
            state,
            failed: BTreeMap::new(),
            built_from: BTreeMap::new(),
            kept: BTreeMap::new(),
            read: Default::default(),
            prune_due: Default::default(),
            seen: Default::default(),
        }
    }

    /// Asks for a look for unused built images of `project` at its next converged
    /// reconcile.
    pub fn prune_later(&mut self, project: &str) {
        self.prune_due.insert(project.to_owned());
    }

    /// Whether unused built images of `project` are to be looked for now; asking clears
    /// it.
    pub fn take_prune_due(&mut self, project: &str) -> bool {
        self.prune_due.remove(project)
    }

    /// Brings the record of `spec`'s built services up to date before a plan: reads the
    /// failed builds kept in the state directory (once per service), forgets a failure
    /// whose inputs changed, and takes the inputs of every service whose image carries
    /// their hash as what that image was built from.
    pub fn refresh(&mut self, spec: &ProjectSpec, observed: &ObservedState) {
        let builds = spec.services.values().any(|s| s.build.is_some());
        if builds && self.seen.insert(spec.name.clone()) {
            self.prune_due.insert(spec.name.clone());
        }
        for service in spec.services.values() {
            let Some(inputs) = service.build.as_ref().and_then(|b| b.inputs.as_ref()) else {
                continue;
            };
            let key = (spec.name.clone(), service.name.clone());
            if self.read.insert(key.clone()) {
                match self.state.load_failed_build(&spec.name, &service.name) {
                    Ok(Some(failed)) => {
                        self.failed.insert(key.clone(), failed);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(service = %service.name, error = %e, "cannot read the record of a failed build; it is built again")
                    }
                }
            }
            if self.failed.get(&key).is_some_and(|f| f.hash != inputs.hash) {
                self.forget_failure(&key);
            }
            let Some(current) = observed.image_id(&service.image) else {
                continue;
            };
            if observed.built.get(&inputs.hash).map(String::as_str) == Some(current) {
                self.built_from.insert(key.clone(), inputs.entries.clone());
                self.keep_manifest(&key, &inputs.hash, &inputs.entries);
            } else if !self.built_from.contains_key(&key) {
                self.recall_manifest(&key, observed, current);
            }
        }
    }

    /// Writes the manifest of the inputs the service's image carries, once per hash.
    fn keep_manifest(&mut self, key: &(String, String), hash: &str, entries: &[Entry]) {
        if self.kept.get(key).map(String::as_str) == Some(hash) || entries.len() > MAX_KEPT_ENTRIES
        {
            return;
        }
        let manifest = BuiltManifest {
            hash: hash.to_owned(),
            entries: entries.to_vec(),
        };
        match self.state.save_built_manifest(&key.0, &key.1, &manifest) {
            Ok(()) => {
                self.kept.insert(key.clone(), hash.to_owned());
            }
            Err(e) => {
                warn!(service = %key.1, error = %e, "cannot keep what the image was built from; plan names no changed files after a restart")
            }
        }
    }

    /// Takes the kept manifest as what the service's image was built from, when the image
    /// (`current`) carries its hash; looked for once per service.
    fn recall_manifest(&mut self, key: &(String, String), observed: &ObservedState, current: &str) {
        if self.kept.contains_key(key) {
            return;
        }
        let manifest = match self.state.load_built_manifest(&key.0, &key.1) {
            Ok(manifest) => manifest,
            Err(e) => {
                warn!(service = %key.1, error = %e, "cannot read what the image was built from");
                None
            }
        };
        self.kept.insert(
            key.clone(),
            manifest
                .as_ref()
                .map(|m| m.hash.clone())
                .unwrap_or_default(),
        );
        if let Some(manifest) =
            manifest.filter(|m| observed.built.get(&m.hash).map(String::as_str) == Some(current))
        {
            self.built_from
                .insert(key.clone(), Arc::new(manifest.entries));
        }
    }

    /// Records that the build of `service` from the inputs hashed `hash` failed.
    pub fn failed(&mut self, project: &str, service: &str, failed: FailedBuild) {
        if let Err(e) = self
            .state
            .save_failed_build(project, service, Some(&failed))
        {
            warn!(service, error = %e, "cannot record the failed build; it is tried again after a restart");
        }
        self.failed
            .insert((project.to_owned(), service.to_owned()), failed);
    }

    /// Forgets the failed build of `service` (`composectl rollout rebuild`); false when it
    /// had none.
    pub fn retry(&mut self, project: &str, service: &str) -> bool {
        let key = (project.to_owned(), service.to_owned());
        self.read.insert(key.clone());
        let had = self.failed.contains_key(&key)
            || matches!(self.state.load_failed_build(project, service), Ok(Some(_)));
        self.forget_failure(&key);
        had
    }

    fn forget_failure(&mut self, key: &(String, String)) {
        self.failed.remove(key);
        if let Err(e) = self.state.save_failed_build(&key.0, &key.1, None) {
            warn!(service = %key.1, error = %e, "cannot remove the record of a failed build");
        }
    }

    /// The failed build of each service of `project`, by service.
    pub fn failures(&self, project: &str) -> BTreeMap<String, FailedBuild> {
        self.failed
            .iter()
            .filter(|((p, _), _)| p == project)
            .map(|((_, s), f)| (s.clone(), f.clone()))
            .collect()
    }

    /// Every failed build, by (project, service).
    pub fn all_failures(&self) -> BTreeMap<(String, String), FailedBuild> {
        self.failed.clone()
    }

    /// The hash of each service's failed build in `project`, for the planner.
    pub fn failed_hashes(&self, project: &str) -> BTreeMap<String, String> {
        self.failures(project)
            .into_iter()
            .map(|(s, f)| (s, f.hash))
            .collect()
    }

    /// What each service's image in `project` was built from, for the planner.
    pub fn built_from(&self, project: &str) -> crate::plan::BuiltFrom {
        self.built_from
            .iter()
            .filter(|((p, _), _)| p == project)
            .map(|((_, s), e)| (s.clone(), e.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::EntryKind;
    use crate::model::spec::{BuildInputs, BuildSpec, ServiceSpec};

    fn spec(hash: &str) -> ProjectSpec {
        let mut web = ServiceSpec::new("web", "shop-web");
        web.build = Some(BuildSpec {
            inputs: Some(BuildInputs {
                hash: hash.into(),
                entries: Arc::new(Vec::new()),
            }),
            ..BuildSpec::default()
        });
        ProjectSpec {
            name: "shop".into(),
            services: [("web".to_owned(), web)].into(),
            ..ProjectSpec::default()
        }
    }

    fn failure() -> BuildFailure {
        BuildFailure {
            image: "shop-web".into(),
            step: Some("Step 2/2 : RUN false".into()),
            message: "exit code 1".into(),
            output: vec!["boom".into()],
        }
    }

    #[test]
    fn a_failed_build_survives_a_restart_and_is_forgotten_when_the_inputs_change() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path(), "default");
        let observed = ObservedState::default();
        let mut builds = Builds::new(state.clone());
        builds.refresh(&spec("h1"), &observed);
        builds.failed("shop", "web", FailedBuild::new("h1", &failure()));

        let mut restarted = Builds::new(state.clone());
        restarted.refresh(&spec("h1"), &observed);
        assert_eq!(restarted.failed_hashes("shop")["web"], "h1");
        assert_eq!(
            restarted.failures("shop")["web"].step.as_deref(),
            Some("Step 2/2 : RUN false")
        );

        restarted.refresh(&spec("h2"), &observed);
        assert!(restarted.failed_hashes("shop").is_empty());
        let mut again = Builds::new(state);
        again.refresh(&spec("h1"), &observed);
        assert!(again.failed_hashes("shop").is_empty(), "the file was kept");
    }

    #[test]
    fn retry_forgets_the_failure_and_says_whether_there_was_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut builds = Builds::new(StateDir::new(dir.path(), "default"));
        assert!(!builds.retry("shop", "web"));
        builds.failed("shop", "web", FailedBuild::new("h1", &failure()));
        assert!(builds.retry("shop", "web"));
        assert!(builds.failed_hashes("shop").is_empty());
    }

    #[test]
    fn the_entries_of_inputs_the_current_image_carries_are_what_it_was_built_from() {
        let dir = tempfile::tempdir().unwrap();
        let mut builds = Builds::new(StateDir::new(dir.path(), "default"));
        let mut observed = ObservedState::default();
        observed
            .images
            .insert("shop-web:latest".into(), "sha256:a".into());
        builds.refresh(&spec("h1"), &observed);
        assert!(builds.built_from("shop").is_empty(), "no image carries h1");
        observed.built.insert("h1".into(), "sha256:a".into());
        builds.refresh(&spec("h1"), &observed);
        assert!(builds.built_from("shop").contains_key("web"));
    }

    #[test]
    fn what_the_image_was_built_from_is_kept_for_a_restart_that_finds_new_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path(), "default");
        let file = |digest: &str| Entry {
            path: "page.html".into(),
            kind: EntryKind::File {
                size: 1,
                digest: digest.into(),
            },
            mode: 0o644,
        };
        let with = |hash: &str, digest: &str| {
            let mut spec = spec(hash);
            let build = spec
                .services
                .get_mut("web")
                .unwrap()
                .build
                .as_mut()
                .unwrap();
            build.inputs.as_mut().unwrap().entries = Arc::new(vec![file(digest)]);
            spec
        };
        let mut observed = ObservedState::default();
        observed
            .images
            .insert("shop-web:latest".into(), "sha256:a".into());
        observed.built.insert("h1".into(), "sha256:a".into());
        Builds::new(state.clone()).refresh(&with("h1", "d1"), &observed);

        // A new process (the one-shot plan, a restarted daemon) over changed inputs.
        let mut restarted = Builds::new(state);
        restarted.refresh(&with("h2", "d2"), &observed);
        assert_eq!(
            restarted.built_from("shop")["web"].as_slice(),
            [file("d1")],
            "the entries the running image was built from"
        );
    }
}
