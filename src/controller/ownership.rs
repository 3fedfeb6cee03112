//! Which desired directory an instance serves and which projects it may prune, kept in
//! the instance's [`Ownership`] record.
//!
//! On start the record is read: when it names this desired directory, the projects it
//! lists stay owned (a project removed while composectl was down is still pruned). When it
//! names another directory (the operator pointed the instance at a new path), nothing
//! loaded from the old one is owned: those projects keep running and are reported as
//! foreign until the operator removes them or restarts with `--adopt`. The record is
//! rewritten when the owned set changes; failing to write it is a warning, never a reason
//! to stop.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::{error, warn};

use crate::state::{Ownership, StateDir};
use crate::sync;

/// Reads and writes one instance's ownership record.
#[derive(Debug)]
pub(super) struct Keeper {
    state: StateDir,
    desired_dir: PathBuf,
    /// The directory the record named when it was another one.
    previous_dir: Option<PathBuf>,
    owned_at_start: BTreeSet<String>,
    saved: Mutex<Option<Ownership>>,
    warned: Mutex<BTreeSet<String>>,
}

impl Keeper {
    /// Reads the record of `state` for the desired directory `desired_dir`.
    pub(super) fn open(state: &StateDir, desired_dir: &Path) -> Self {
        let desired_dir = std::fs::canonicalize(desired_dir)
            .or_else(|_| std::path::absolute(desired_dir))
            .unwrap_or_else(|_| desired_dir.to_path_buf());
        let record = state.load_ownership().unwrap_or_else(|err| {
            error!("{err}; no project is pruned until the record is rewritten");
            None
        });
        let (owned_at_start, previous_dir) = match &record {
            Some(r) if r.desired_dir == desired_dir => (r.projects.clone(), None),
            Some(r) => (BTreeSet::new(), Some(r.desired_dir.clone())),
            None => (BTreeSet::new(), None),
        };
        Self {
            state: state.clone(),
            desired_dir,
            previous_dir,
            owned_at_start,
            saved: Mutex::new(record),
            warned: Mutex::default(),
        }
    }

    /// The projects owned when the controller started.
    pub(super) fn owned(&self) -> BTreeSet<String> {
        self.owned_at_start.clone()
    }

    /// Saves `owned` for this desired directory, if it differs from what was saved.
    pub(super) fn save(&self, owned: &BTreeSet<String>) {
        let wanted = Ownership {
            desired_dir: self.desired_dir.clone(),
            projects: owned.clone(),
        };
        let mut saved = sync::lock(&self.saved);
        if saved.as_ref() == Some(&wanted) {
            return;
        }
        match self.state.save_ownership(&wanted) {
            Ok(()) => *saved = Some(wanted),
            Err(err) => warn!("cannot record the projects this instance owns: {err}"),
        }
    }

    /// Warns once per project about `foreign` projects: they run under this instance but
    /// were not loaded from this desired directory, so they are never pruned.
    pub(super) fn warn_foreign(&self, foreign: &[&str], desired_dir: &Path) {
        let mut warned = sync::lock(&self.warned);
        for project in foreign {
            if !warned.insert((*project).to_owned()) {
                continue;
            }
            let origin = match &self.previous_dir {
                Some(dir) => format!("this instance served {} before", dir.display()),
                None => "it was deployed from another desired directory or by an older \
                         composectl"
                    .to_owned(),
            };
            warn!(
                project = %project,
                "project {project} runs under this instance but was not loaded from {}; {origin}. \
                 It is left alone, never pruned. To remove it, add it to {} and delete it \
                 again, or restart with --adopt (COMPOSECTL_ADOPT=true) to prune every project \
                 of this instance that {} does not hold",
                desired_dir.display(),
                desired_dir.display(),
                desired_dir.display(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_owned_for_another_directory_are_not_owned_here() {
        let state_dir = tempfile::tempdir().unwrap();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let state = StateDir::new(state_dir.path(), "i");
        let keeper = Keeper::open(&state, a.path());
        assert!(
            keeper.owned().is_empty(),
            "nothing is owned before the first record"
        );
        keeper.save(&["shop".to_owned()].into());
        let again = Keeper::open(&state, a.path());
        assert_eq!(again.owned(), ["shop".to_owned()].into());
        let elsewhere = Keeper::open(&state, b.path());
        assert!(elsewhere.owned().is_empty());
        assert_eq!(
            elsewhere.previous_dir.as_deref(),
            Some(a.path().canonicalize().unwrap().as_path())
        );
    }
}
