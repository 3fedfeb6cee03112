//! End-to-end tests of the loader over temporary desired directories.

use std::collections::BTreeMap;
use std::path::Path;

use super::{
    Error, LoadReport, Loaded, MAX_ENV_FILES_PER_SERVICE, MAX_PORTS_PER_SERVICE, MAX_REPLICAS,
    MAX_SERVICES, MAX_YAML_DEPTH, load_dir,
};

mod bounds;
mod build;
mod container_keys;
mod fixture;
mod host_keys;
mod include_extends;
mod keys;
mod networks;
mod projects;
mod references;
mod secrets;
mod services;

/// A temporary desired directory.
struct Desired {
    dir: tempfile::TempDir,
}

impl Desired {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `path` (relative to the root), creating directories.
    fn write(&self, path: &str, text: &str) -> &Self {
        let full = self.root().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
        self
    }

    fn load_with(&self, env: &[(&str, &str)]) -> LoadReport {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_dir(self.root(), &env).expect("root is readable")
    }

    fn load(&self) -> LoadReport {
        self.load_with(&[])
    }
}

/// The loaded project `name`, panicking with its error otherwise.
fn ok<'a>(report: &'a LoadReport, name: &str) -> &'a Loaded {
    match report.projects.get(name) {
        Some(Ok(loaded)) => loaded,
        Some(Err(e)) => panic!("{name} failed:\n{e}"),
        None => panic!(
            "{name} not found in {:?}",
            report.projects.keys().collect::<Vec<_>>()
        ),
    }
}

/// The error of project `name`.
fn err<'a>(report: &'a LoadReport, name: &str) -> &'a Error {
    match report.projects.get(name) {
        Some(Err(e)) => e,
        Some(Ok(_)) => panic!("{name} loaded but should have failed"),
        None => panic!("{name} not found"),
    }
}

/// The rendered error of project `name`.
fn err_text(report: &LoadReport, name: &str) -> String {
    err(report, name).to_string()
}

/// A minimal single-service project file.
fn one_service(service: &str) -> String {
    format!("services:\n  web:\n{service}")
}
