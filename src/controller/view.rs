//! The controller's view of the desired state: the last-known-good spec of every project.
//!
//! Loading is all-or-nothing per project. A project whose files fail to load keeps its
//! last-known-good spec, so nothing of it changes; one that has never loaded is *frozen*:
//! composectl neither creates nor removes any of its containers until it loads. A project
//! whose directory is gone is *absent*, and its containers are pruned. Two situations are
//! never read as "remove everything": an unreadable desired directory, and a desired
//! directory that suddenly holds no project at all (an unmounted share, a bad checkout).
//! Which containers are this controller's to prune at all is decided below, by the
//! runtime's instance scope (`io.composectl.instance`).

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::{self, LoadReport};
use crate::model::ProjectSpec;

/// What a project should look like, as far as the controller knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target<'a> {
    /// Converge to this spec (the latest good load).
    Spec(&'a ProjectSpec),
    /// The project is no longer in the desired directory: prune it.
    Absent,
    /// The project's files fail and it never loaded: touch nothing.
    Frozen,
}

/// Last-known-good specs and current load errors.
#[derive(Debug, Default)]
pub struct DesiredView {
    specs: BTreeMap<String, ProjectSpec>,
    errors: BTreeMap<String, String>,
    root_error: Option<String>,
}

/// What one reload changed, for logging.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Projects whose spec changed or appeared.
    pub changed: Vec<String>,
    /// Projects no longer in the directory.
    pub removed: Vec<String>,
    /// Projects newly failing to load (or failing differently), with the error text.
    pub failed: Vec<(String, String)>,
}

impl DesiredView {
    /// Applies one load of the desired directory.
    pub fn apply(&mut self, load: Result<LoadReport, desired::Error>) -> Reloaded {
        let report = match load {
            Ok(report) if report.projects.is_empty() && !self.specs.is_empty() => {
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
        let present: BTreeSet<String> = report.projects.keys().cloned().collect();
        for (name, load) in report.projects {
            match load {
                Ok(loaded) => {
                    self.errors.remove(&name);
                    if self.specs.get(&name) != Some(&loaded.spec) {
                        reloaded.changed.push(name.clone());
                        self.specs.insert(name, loaded.spec);
                    }
                }
                Err(err) => {
                    let text = err.to_string();
                    if self.errors.get(&name) != Some(&text) {
                        reloaded.failed.push((name.clone(), text.clone()));
                    }
                    self.errors.insert(name, text);
                }
            }
        }
        let gone: Vec<String> = self
            .specs
            .keys()
            .filter(|name| !present.contains(*name))
            .cloned()
            .collect();
        for name in gone {
            self.specs.remove(&name);
            reloaded.removed.push(name);
        }
        self.errors.retain(|name, _| present.contains(name));
        reloaded
    }

    /// The target of `project`.
    pub fn target(&self, project: &str) -> Target<'_> {
        match self.specs.get(project) {
            Some(spec) => Target::Spec(spec),
            None if self.errors.contains_key(project) => Target::Frozen,
            None => Target::Absent,
        }
    }

    /// Every project the desired directory names (loaded or failing).
    pub fn projects(&self) -> BTreeSet<String> {
        self.specs
            .keys()
            .chain(self.errors.keys())
            .cloned()
            .collect()
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
