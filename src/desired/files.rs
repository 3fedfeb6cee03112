//! The compose files of one load, read into documents in compose-go's order
//! (`loadYamlFile`): each file is interpolated, then its `include`s are imported
//! ([`super::include`]), then its services' `extends` are resolved ([`super::extends`]);
//! the caller lays the files of one application over each other ([`super::merge`]).
//!
//! [`Loading`] is the state of one project's load that these steps share: the bounds, the
//! desired directory (every file read here must lie inside it: reading a file elsewhere
//! would be a read of the host that a commit decides), every file read (the project's
//! config files), the values of the env files read for included projects (handed to
//! [`crate::redact`] by the caller) and every problem found. [`App`] is one compose
//! application within the load: the project itself or an included one, with its own
//! directory and variables.

use std::path::{Path, PathBuf};

use super::hostpath::Root;
use super::limits::MAX_COMPOSE_FILES;
use super::origins::HostPath;
use super::yaml::{Node, Value};
use super::{Diagnostic, Limits, extends, include, interpolate, read, yaml};

/// What the steps of one project's load share.
pub struct Loading {
    /// File-size limits.
    pub limits: Limits,
    /// The desired directory: included and extended files must lie inside it.
    pub root: Root,
    /// Every compose file read, absolute, in the order first read, each once.
    pub files: Vec<PathBuf>,
    /// Compose files read so far, counting repeats (see [`MAX_COMPOSE_FILES`]).
    reads: usize,
    /// Values of the env files read for included projects: secrets for [`crate::redact`].
    pub env_values: Vec<String>,
    /// The env files read for included projects, for the policy's origins.
    pub host_paths: Vec<HostPath>,
    /// Findings that do not fail the project.
    pub warnings: Vec<Diagnostic>,
    /// Problems that fail the project.
    pub errors: Vec<Diagnostic>,
}

/// One compose application within a load: the project, or a project it includes.
#[derive(Clone)]
pub struct App<'a> {
    /// Its project directory, absolute: relative paths (includes, `extends.file`) start here.
    pub dir: PathBuf,
    /// Its variables, for interpolation.
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The files of the applications that include this one, outermost first, and its own
    /// (an include of one of them is a cycle).
    pub chain: Vec<PathBuf>,
}

impl Loading {
    /// The start of a load under the desired directory `root`.
    pub fn new(limits: Limits, root: Root) -> Self {
        Self {
            limits,
            root,
            files: Vec::new(),
            reads: 0,
            env_values: Vec::new(),
            host_paths: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Records an error at `node`.
    pub fn error(&mut self, node: &Node, key: &str, message: impl Into<String>) {
        self.errors.push(Diagnostic::at(node, key, message));
    }

    /// Records a compose file read (its first read only lists it).
    pub fn note_file(&mut self, file: &Path) {
        self.reads += 1;
        if !self.files.iter().any(|f| f == file) {
            self.files.push(file.to_path_buf());
        }
    }

    /// One file of `app` (already parsed) made ready to merge: interpolated, its includes
    /// imported, its extends resolved.
    pub fn prepare(&mut self, node: &mut Node, app: &App) {
        interpolate::interpolate_tree(node, "", app.lookup, &mut self.warnings, &mut self.errors);
        include::apply(self, node, app);
        extends::apply(self, node, app);
    }

    /// `path` (absolute, clean) as it really is, when it lies inside the desired
    /// directory; otherwise an error at `at` (`what` names the file's role).
    pub fn inside(&mut self, path: &Path, at: &Node, key: &str, what: &str) -> Option<PathBuf> {
        let resolved = self.root.resolve(path).ok();
        match resolved.filter(|p| self.root.contains(p)) {
            Some(resolved) => Some(resolved),
            None => {
                let message = format!(
                    "{what} {} is outside the desired directory {} (or a symlink leading out of it); composectl reads only files inside it: copy the file into the desired directory",
                    path.display(),
                    self.root.lexical.display()
                );
                self.error(at, key, message);
                None
            }
        }
    }

    /// Reads and parses the compose file `path` that `at` names (an include or an
    /// `extends.file`); a problem is an error at `at`, or in the file itself for YAML
    /// errors. `None` when it cannot be used.
    pub fn read_compose(&mut self, path: &Path, at: &Node, key: &str) -> Option<Node> {
        let path = self.inside(path, at, key, "the compose file")?;
        if self.reads >= MAX_COMPOSE_FILES {
            let message = format!(
                "loading the project reads more than {MAX_COMPOSE_FILES} compose files (includes and extends counted each time); include or extend fewer files"
            );
            self.error(at, key, message);
            return None;
        }
        self.note_file(&path);
        let text = match read::read_text(&path, self.limits.compose()) {
            Ok(text) => text,
            Err(e) => {
                self.error(at, key, e.to_string());
                return None;
            }
        };
        let node = match yaml::parse(&text, &path) {
            Ok(Some(node)) => node,
            Ok(None) => {
                self.errors.push(Diagnostic::file(
                    &path,
                    "the file is empty; a compose file is a mapping with `services:`",
                ));
                return None;
            }
            Err(e) => {
                self.errors.push(Diagnostic {
                    line: Some(e.line),
                    column: Some(e.column),
                    ..Diagnostic::file(&path, format!("invalid YAML: {}", e.message))
                });
                return None;
            }
        };
        if node.as_map().is_none() {
            let message = format!(
                "a compose file is a mapping with `services:`, found {}",
                node.kind()
            );
            self.error(&node, "", message);
            return None;
        }
        Some(node)
    }
}

/// The value under `key` of the mapping `node`, mutable.
pub fn get_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match &mut node.value {
        Value::Map(entries) => entries
            .iter_mut()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Removes `key` from the mapping `node`, returning its value.
pub fn take(node: &mut Node, key: &str) -> Option<Node> {
    let Value::Map(entries) = &mut node.value else {
        return None;
    };
    let i = entries.iter().position(|(k, _)| k.name == key)?;
    Some(entries.remove(i).1)
}
