//! The controller's view of the desired state: the last-known-good spec of every project,
//! and which projects this instance may prune.
//!
//! Loading is all-or-nothing per project. A project whose files fail to load keeps its
//! last-known-good spec, so nothing of it changes; one that has never loaded is *frozen*:
//! composectl neither creates nor removes any of its containers until it loads.
//!
//! A project disappears only when its source (its directory, or its top-level file) does,
//! and only when two loads at least the removal grace apart agree that it is gone; until
//! then it is *pending removal* and keeps running, and a load that finds it again cancels
//! the removal. Everything else inside a directory that exists is a load error that keeps
//! the last good state: a compose file that is missing, unreadable, a dangling symlink or
//! a directory, and a top-level `name:` that fails (a failing load is reported under the
//! name its source last loaded with). Two situations are never read as "remove
//! everything": an unreadable desired directory, and a desired directory that suddenly
//! holds no project at all (an unmounted share, a bad checkout).
//!
//! Only projects this instance loaded from this desired directory are *owned* and ever
//! pruned; a project of the instance that runs but was never loaded from here (another
//! desired directory served it) is *foreign* and left alone, unless the operator adopts
//! everything (`--adopt`). The owned set is persisted by the controller
//! ([`crate::state::Ownership`]). Which containers are this instance's at all is decided
//! below, by the runtime's instance scope (`io.composectl.instance`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use crate::desired::{self, LoadReport, layout};
use crate::model::ProjectSpec;

/// How long a project must stay gone, across two loads, before it is pruned.
pub const DEFAULT_REMOVAL_GRACE: Duration = Duration::from_secs(5);

/// What a project should look like, as far as the controller knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wanted<'a> {
    /// Converge to this spec (the latest good load).
    Spec(&'a ProjectSpec),
    /// The project was removed from the desired directory: prune it.
    Absent,
    /// The project's files fail and it never loaded, or its removal is not confirmed yet:
    /// touch nothing.
    Frozen,
    /// The project runs under this instance but was never loaded from this desired
    /// directory: touch nothing.
    Foreign,
}

/// Last-known-good specs, current load errors and ownership.
#[derive(Debug)]
pub struct DesiredView {
    specs: BTreeMap<String, ProjectSpec>,
    errors: BTreeMap<String, String>,
    root_error: Option<String>,
    /// Where each known project (loaded or failing) comes from.
    sources: BTreeMap<String, PathBuf>,
    /// Known projects the loads no longer find, since the first load that missed them.
    missing: BTreeMap<String, Instant>,
    /// Projects loaded from this desired directory (and not pruned completely yet).
    owned: BTreeSet<String>,
    /// Owned projects whose removal is confirmed, until they are pruned completely.
    gone: BTreeSet<String>,
    /// Every project of the instance counts as owned (`--adopt`).
    adopt: bool,
    removal_grace: Duration,
}

impl Default for DesiredView {
    fn default() -> Self {
        Self::new(BTreeSet::new(), false, DEFAULT_REMOVAL_GRACE)
    }
}

/// What one reload changed, for logging and scheduling.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Projects whose spec changed or appeared.
    pub changed: Vec<String>,
    /// Projects whose removal is confirmed: they are pruned now.
    pub removed: Vec<String>,
    /// Projects newly found missing; pruned if the next load, after the grace, agrees.
    pub pending_removal: Vec<String>,
    /// Projects found again while their removal was pending.
    pub restored: Vec<String>,
    /// Projects newly failing to load (or failing differently), with the error text.
    pub failed: Vec<(String, String)>,
    /// When to load again to confirm the pending removals, if any.
    pub confirm_in: Option<Duration>,
}

impl DesiredView {
    /// A view that may prune the projects in `owned` (and every project when `adopt`),
    /// confirming removals over `removal_grace`.
    pub fn new(owned: BTreeSet<String>, adopt: bool, removal_grace: Duration) -> Self {
        Self {
            specs: BTreeMap::new(),
            errors: BTreeMap::new(),
            root_error: None,
            sources: BTreeMap::new(),
            missing: BTreeMap::new(),
            owned,
            gone: BTreeSet::new(),
            adopt,
            removal_grace,
        }
    }

    /// Applies one load of the desired directory, made at `now`.
    pub fn apply(&mut self, load: Result<LoadReport, desired::Error>, now: Instant) -> Reloaded {
        let report = match load {
            Ok(report)
                if report.projects.is_empty()
                    && !self.specs.is_empty()
                    && !self.any_bare(&report.bare_dirs) =>
            {
                self.root_error = Some(
                    "the desired directory holds no project any more; keeping every project \
                     as it is (remove projects one by one, not all at once)"
                        .to_owned(),
                );
                return Reloaded::default();
            }
            Ok(report) => report,
            Err(err) => {
                self.root_error = Some(err.to_string());
                return Reloaded::default();
            }
        };
        self.root_error = None;
        let mut reloaded = Reloaded::default();
        let mut present = BTreeSet::new();
        let mut sources = report.sources;
        for (found, load) in report.projects {
            let source = sources.remove(&found).unwrap_or_default();
            let name = match &load {
                Err(_) => self.known_from(&source).unwrap_or(found),
                Ok(_) => found,
            };
            self.sources.insert(name.clone(), source);
            match load {
                Ok(loaded) => {
                    self.errors.remove(&name);
                    if self.specs.get(&name) != Some(&loaded.spec) {
                        reloaded.changed.push(name.clone());
                        self.specs.insert(name.clone(), loaded.spec);
                    }
                }
                Err(err) => self.fail(&name, err.to_string(), &mut reloaded),
            }
            present.insert(name);
        }
        for name in self
            .known()
            .difference(&present)
            .cloned()
            .collect::<Vec<_>>()
        {
            if let Some(dir) = self.bare_dir_of(&name, &report.bare_dirs) {
                let text = format!(
                    "{}: no compose file any more (compose.yaml, compose.yml, \
                     docker-compose.yaml or docker-compose.yml); the project keeps running as \
                     it is; restore the file, or delete the directory to remove the project",
                    dir.display()
                );
                self.fail(&name, text, &mut reloaded);
                present.insert(name);
            } else {
                self.miss(&name, now, &mut reloaded);
            }
        }
        for name in &present {
            if self.missing.remove(name).is_some() | self.gone.remove(name) {
                reloaded.restored.push(name.clone());
            }
        }
        self.owned.extend(present);
        reloaded.confirm_in = self
            .missing
            .values()
            .map(|since| (*since + self.removal_grace).saturating_duration_since(now))
            .min();
        reloaded
    }

    /// True when a known project's directory is among `bare_dirs` (it lost its compose
    /// file: a project error, not an empty desired directory).
    fn any_bare(&self, bare_dirs: &[PathBuf]) -> bool {
        self.known()
            .iter()
            .any(|name| self.bare_dir_of(name, bare_dirs).is_some())
    }

    /// The project last known from `source`, if any.
    fn known_from(&self, source: &Path) -> Option<String> {
        self.sources
            .iter()
            .find(|(name, path)| *path == source && self.known().contains(*name))
            .map(|(name, _)| name.clone())
    }

    /// Projects with a spec, an error or a pending removal, and owned projects not
    /// removed yet.
    fn known(&self) -> BTreeSet<String> {
        self.specs
            .keys()
            .chain(self.errors.keys())
            .chain(self.missing.keys())
            .chain(self.owned.difference(&self.gone))
            .cloned()
            .collect()
    }

    /// The bare directory (no compose file) `name` was (or, by its name, would be)
    /// loaded from, if the load found one.
    fn bare_dir_of<'a>(&self, name: &str, bare_dirs: &'a [PathBuf]) -> Option<&'a Path> {
        let source = self.sources.get(name);
        bare_dirs
            .iter()
            .find(|dir| match source {
                Some(source) => *dir == source,
                None => dir
                    .file_name()
                    .is_some_and(|d| layout::normalize_name(&d.to_string_lossy()) == name),
            })
            .map(PathBuf::as_path)
    }

    /// Records a load error of `name`.
    fn fail(&mut self, name: &str, text: String, reloaded: &mut Reloaded) {
        if self.errors.get(name) != Some(&text) {
            reloaded.failed.push((name.to_owned(), text.clone()));
        }
        self.errors.insert(name.to_owned(), text);
    }

    /// Records that the load did not find `name`: pending removal, or removed once the
    /// grace has passed since the first load that missed it.
    fn miss(&mut self, name: &str, now: Instant, reloaded: &mut Reloaded) {
        let Some(since) = self.missing.get(name).copied() else {
            self.missing.insert(name.to_owned(), now);
            reloaded.pending_removal.push(name.to_owned());
            return;
        };
        if now.saturating_duration_since(since) < self.removal_grace {
            return;
        }
        self.missing.remove(name);
        self.errors.remove(name);
        self.sources.remove(name);
        if self.specs.remove(name).is_some() || self.owned.contains(name) {
            reloaded.removed.push(name.to_owned());
        }
        if self.owned.contains(name) {
            self.gone.insert(name.to_owned());
        }
    }

    /// Forgets owned projects that are neither desired nor running any more (pruned
    /// completely); `running` are the projects the engine has containers of. Returns
    /// whether the owned set changed.
    pub fn forget_pruned(&mut self, running: &BTreeSet<String>) -> bool {
        let before = self.owned.len();
        let keep: BTreeSet<String> = self
            .owned
            .iter()
            .filter(|p| {
                running.contains(*p)
                    || self.specs.contains_key(*p)
                    || self.errors.contains_key(*p)
                    || self.missing.contains_key(*p)
            })
            .cloned()
            .collect();
        self.owned = keep;
        self.gone.retain(|p| self.owned.contains(p));
        self.owned.len() != before
    }

    /// The target of `project`.
    pub fn wanted(&self, project: &str) -> Wanted<'_> {
        match self.specs.get(project) {
            Some(spec) => Wanted::Spec(spec),
            None if self.errors.contains_key(project) || self.missing.contains_key(project) => {
                Wanted::Frozen
            }
            None if self.adopt || self.owned.contains(project) => Wanted::Absent,
            None => Wanted::Foreign,
        }
    }

    /// Those of `running` (projects the engine has containers of) that are foreign: never
    /// loaded from this desired directory, so never touched.
    pub fn foreign<'a>(&self, running: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        running
            .into_iter()
            .filter(|p| self.wanted(p) == Wanted::Foreign)
            .collect()
    }

    /// Every project the desired directory names (loaded, failing or pending removal).
    pub fn projects(&self) -> BTreeSet<String> {
        self.specs
            .keys()
            .chain(self.errors.keys())
            .chain(self.missing.keys())
            .cloned()
            .collect()
    }

    /// Projects this instance may prune (loaded from this desired directory).
    pub fn owned(&self) -> &BTreeSet<String> {
        &self.owned
    }

    /// Projects whose removal waits for its confirmation.
    pub fn pending_removals(&self) -> impl Iterator<Item = &str> {
        self.missing.keys().map(String::as_str)
    }

    /// Last-known-good spec of every project that loaded, by name.
    pub fn specs(&self) -> &BTreeMap<String, ProjectSpec> {
        &self.specs
    }

    /// Current load errors by project.
    pub fn errors(&self) -> &BTreeMap<String, String> {
        &self.errors
    }

    /// The error that kept the whole directory from loading, if any.
    pub fn root_error(&self) -> Option<&str> {
        self.root_error.as_deref()
    }

    /// True when every project loads and the directory itself is readable.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty() && self.root_error.is_none()
    }
}
