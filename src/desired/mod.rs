//! Loading the desired directory into [`ProjectSpec`]s, all-or-nothing per project.
//!
//! Start at [`load_dir`]: [`layout`] finds the projects (one per subdirectory with a compose
//! file, or one top-level `NAME.yaml`), [`project`] loads each of them: [`yaml`] parses the
//! files into a marked tree, [`merge`] lays an override file over the base, [`envfile`] reads
//! `.env`, [`interpolate`] substitutes `${VAR}`s, [`files`] runs each file through
//! [`include`](mod@include) (other compose applications' resources) and [`extends`] (services built on
//! other services, [`relpaths`] keeping their paths relative to their own files), [`convert`] turns the tree into the model
//! and [`validate`] checks cross references (depends_on, container_name with replicas).
//! [`watch`] turns file changes in the directory into one debounced reload signal.
//!
//! Host paths (bind sources, env files, `.env`, volume devices) are resolved by
//! [`hostpath`]: a symlink committed inside the desired directory is followed, so the spec
//! names what the container really gets; [`origins`] records where each part that concerns
//! the host is written, for [`crate::policy`].
//!
//! Every file is read through [`read`] (regular files only, at most a limit of bytes) and
//! every count the files control is bounded: [`limits`] lists the bounds, and
//! [`load_dir_with`] takes the file-size ones ([`Limits`]).
//!
//! A project either loads completely ([`Loaded`], maybe with warnings) or fails with every
//! problem found ([`Error::Invalid`]); one broken project never hides the others. Messages
//! name the file, line and key path and say what to do; they never contain an interpolated
//! or environment value (those may be secrets), only variable names.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::spec::ProjectSpec;

pub mod bounded;
pub mod convert;
pub mod envfile;
pub mod extends;
pub mod files;
pub mod hostpath;
pub mod include;
pub mod interpolate;
pub mod keys;
pub mod layout;
pub mod limits;
pub mod merge;
pub mod origins;
pub mod project;
pub mod read;
pub mod relpaths;
pub mod validate;
pub mod watch;
pub mod yaml;

#[cfg(test)]
mod tests;

pub use convert::units::parse_duration;
pub use layout::ProjectSource;
pub use limits::{
    Limits, MAX_ALIAS_BYTES, MAX_ALIAS_NODES, MAX_COMPOSE_FILES, MAX_DURATION,
    MAX_ENV_FILES_PER_SERVICE, MAX_EXTENDS_DEPTH, MAX_INCLUDE_DEPTH, MAX_INTERPOLATED_BYTES,
    MAX_INTERPOLATION_DEPTH, MAX_PORTS_PER_SERVICE, MAX_PROJECT_ENV_BYTES, MAX_REPLICAS,
    MAX_SERVICES, MAX_YAML_DEPTH,
};

/// A source of variables for interpolation (the process environment in production).
pub trait Env {
    /// The value of `name`, `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostEnv;

impl Env for HostEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The outcome of loading a whole desired directory.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Every project found, by normalized project name, loaded or failed.
    pub projects: BTreeMap<String, ProjectLoad>,
    /// Where each project of [`Self::projects`] comes from: its directory, or its file at
    /// the top of the desired directory.
    pub sources: BTreeMap<String, PathBuf>,
    /// Subdirectories holding no compose file (see [`layout::Discovery::bare_dirs`]).
    pub bare_dirs: Vec<PathBuf>,
}

/// The outcome of loading one project.
pub type ProjectLoad = std::result::Result<Loaded, Error>;

/// A project that loaded, with what the loader wants the user to know.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The normalized project.
    pub spec: ProjectSpec,
    /// Non-fatal findings: unknown keys, unset variables, ignored options.
    pub warnings: Vec<Diagnostic>,
    /// Where the parts that concern the host are written, and the host paths the project
    /// reads (kept out of the spec: see [`origins`]).
    pub origins: origins::Origins,
}

/// One finding, located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as found under the desired directory.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Key path, for example `services.web.ports[0]` (empty for the whole file).
    pub key: String,
    /// What is wrong and what to do. Never contains a secret value.
    pub message: String,
}

impl Diagnostic {
    /// A finding at a node of a parsed file.
    pub fn at(node: &yaml::Node, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: node.file.to_path_buf(),
            line: Some(node.line),
            column: Some(node.column),
            key: key.into(),
            message: message.into(),
        }
    }

    /// A finding about a whole file.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            column: None,
            key: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a project (or the whole directory) could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The desired directory itself cannot be listed.
    #[error("cannot read the desired directory {}: {source}; check the path and its permissions", path.display())]
    RootUnreadable {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file of the project cannot be read: missing, not a regular file, too large, not
    /// UTF-8 (the message names the file and what to do).
    #[error(transparent)]
    Read(#[from] read::Error),
    /// A file is not valid YAML (often a half-written file during `git pull`), or its shape
    /// is over a bound (nesting depth, alias expansion; see [`limits`]).
    #[error("{}:{line}:{column}: invalid YAML: {message}; fix the file (the last good version keeps running)", file.display())]
    Yaml {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// The project has one or more problems; all of them are listed.
    #[error("{}", display_all(.0))]
    Invalid(Vec<Diagnostic>),
    /// Loading took longer than the timeout (a file on a hung mount); the project keeps
    /// its last good state.
    #[error("{}: loading took longer than {after:?} (is a file on a hung mount?); the project keeps its last good state; check the filesystem the files are on", path.display())]
    Timeout {
        /// The project's directory or file (or the desired directory itself).
        path: PathBuf,
        /// The timeout.
        after: std::time::Duration,
    },
    /// Two sources produce the same project name; neither is loaded.
    #[error("project `{name}` is defined twice, by {} and {}; rename a directory or set a different top-level `name:`", first.display(), second.display())]
    DuplicateProject {
        /// The normalized project name.
        name: String,
        /// One source.
        first: PathBuf,
        /// The other source.
        second: PathBuf,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

fn display_all(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// Loads every project under `root`, with the default [`Limits`].
///
/// Fails only when `root` itself cannot be read; a project that fails to load is reported
/// in [`LoadReport::projects`] and does not affect the others.
pub fn load_dir(root: &Path, env: &dyn Env) -> Result<LoadReport> {
    load_dir_with(root, env, &Limits::default())
}

/// Loads every project under `root`, reading no file larger than `limits` allow.
///
/// Fails only when `root` itself cannot be read; a project that fails to load is reported
/// in [`LoadReport::projects`] and does not affect the others.
pub fn load_dir_with(root: &Path, env: &dyn Env, limits: &Limits) -> Result<LoadReport> {
    let found = layout::discover(root).map_err(|source| Error::RootUnreadable {
        path: root.to_path_buf(),
        source,
    })?;
    let mut loads: Vec<(String, PathBuf, ProjectLoad)> = Vec::new();
    for (dir_name, source) in found.projects {
        let (name, load) = project::load_named(&dir_name, &source, env, limits);
        loads.push((name, source.path().to_path_buf(), load));
    }
    let (projects, sources) = project::reject_duplicates(loads);
    Ok(LoadReport {
        projects,
        sources,
        bare_dirs: found.bare_dirs,
    })
}

/// Loads one project with the default [`Limits`]; `name` is the directory (or file stem)
/// name, before normalization.
pub fn load_project(name: &str, source: &ProjectSource, env: &dyn Env) -> Result<Loaded> {
    load_project_with(name, source, env, &Limits::default())
}

/// Loads one project, reading no file larger than `limits` allow.
pub fn load_project_with(
    name: &str,
    source: &ProjectSource,
    env: &dyn Env,
    limits: &Limits,
) -> Result<Loaded> {
    project::load(name, source, env, limits)
}
