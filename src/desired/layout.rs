//! Finding projects in the desired directory, and compose's project-name rules.
//!
//! - Every subdirectory holding `compose.yaml`, `compose.yml`, `docker-compose.yaml` or
//!   `docker-compose.yml` (the first found, in that order) is a project named after the
//!   directory; `compose.override.yaml`/`.yml` (or `docker-compose.override.*`) beside it is
//!   laid over it.
//! - A top-level `NAME.yaml` / `NAME.yml` is project `NAME`, with the desired directory as
//!   its working directory.
//! - A subdirectory whose compose file is absent but which exists is reported as a bare
//!   directory: the controller tells "the compose file went missing" from "the project's
//!   directory was deleted" by it.
//! - Names starting with `.` (`.git`, `.env`, editor swap files) and every other file are
//!   ignored.

use std::io;
use std::path::{Path, PathBuf};

/// Where a project comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectSource {
    /// A project directory (its compose file is found inside).
    Dir(PathBuf),
    /// A single compose file at the top of the desired directory.
    File(PathBuf),
}

impl ProjectSource {
    /// The directory or file.
    pub fn path(&self) -> &Path {
        match self {
            Self::Dir(p) | Self::File(p) => p,
        }
    }

    /// The project directory: the directory itself, or the file's parent.
    pub fn working_dir(&self) -> PathBuf {
        match self {
            Self::Dir(p) => p.clone(),
            Self::File(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    }
}

/// Compose file names in a project directory, by preference.
pub const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Override file names, by preference.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// What [`discover`] found under the desired directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The projects, as (unnormalized name, source), sorted by name.
    pub projects: Vec<(String, ProjectSource)>,
    /// Subdirectories holding no compose file at all. Not projects; but when one of them
    /// held a project before, that project's compose file is missing, which is not the
    /// project's removal (the directory is still there).
    pub bare_dirs: Vec<PathBuf>,
}

/// The projects under `root`.
///
/// A subdirectory is a project when an entry with a compose file's name exists in it,
/// whatever that entry is (a dangling symlink or a directory named `compose.yaml` is a
/// project whose load fails, not a missing project). Fails only when `root` cannot be
/// listed; entries that cannot be read are skipped.
pub fn discover(root: &Path) -> io::Result<Discovery> {
    let mut found = Discovery::default();
    for entry in std::fs::read_dir(root)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if let Some(stem) = yaml_stem(&name) {
            found
                .projects
                .push((stem.to_string(), ProjectSource::File(path)));
        } else if path.is_dir() {
            if first_present(&path, &COMPOSE_FILES).is_some() {
                found.projects.push((name, ProjectSource::Dir(path)));
            } else {
                found.bare_dirs.push(path);
            }
        }
    }
    found
        .projects
        .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path().cmp(b.1.path())));
    found.bare_dirs.sort();
    Ok(found)
}

fn yaml_stem(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(".yaml")
        .or_else(|| file_name.strip_suffix(".yml"))
        .filter(|stem| !stem.is_empty())
}

/// The first of `names` present in `dir` as any kind of entry (a dangling symlink too).
fn first_present(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.symlink_metadata().is_ok())
}

/// The compose files of a project: the base file and the override, if any.
///
/// The base file is the first compose file name present in the directory, whatever kind
/// of entry it is, so a `compose.yaml` that is a dangling symlink fails the project
/// instead of letting a `docker-compose.yml` beside it stand in.
pub fn compose_files(source: &ProjectSource) -> Vec<PathBuf> {
    match source {
        ProjectSource::File(file) => vec![file.clone()],
        ProjectSource::Dir(dir) => {
            let base =
                first_present(dir, &COMPOSE_FILES).unwrap_or_else(|| dir.join(COMPOSE_FILES[0]));
            let mut files = vec![base];
            files.extend(first_present(dir, &OVERRIDE_FILES));
            files
        }
    }
}

/// Normalizes a project name as compose does: lowercase, keep `[a-z0-9_-]`, and no leading
/// `_` or `-`.
pub fn normalize_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_like_compose() {
        let cases = [
            ("shop", "shop"),
            ("My Shop", "myshop"),
            ("web.app", "webapp"),
            ("_x-Y_z", "x-y_z"),
            ("Ünïcode1", "ncode1"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_name(raw), want, "{raw}");
        }
    }

    #[test]
    fn discovery_finds_dirs_with_compose_files_and_top_level_yaml_only() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        for dir in ["a", "b", "empty", ".git", ".hidden"] {
            std::fs::create_dir(p.join(dir)).unwrap();
        }
        std::fs::write(p.join("a/docker-compose.yml"), "").unwrap();
        std::fs::write(p.join("b/compose.yaml"), "").unwrap();
        std::fs::write(p.join("b/docker-compose.yml"), "").unwrap();
        std::fs::write(p.join(".git/compose.yaml"), "").unwrap();
        std::fs::write(p.join(".hidden/compose.yaml"), "").unwrap();
        std::fs::write(p.join("solo.yml"), "").unwrap();
        std::fs::write(p.join(".swp.yaml"), "").unwrap();
        std::fs::write(p.join("README.md"), "").unwrap();
        let found = discover(p).unwrap();
        let names: Vec<&str> = found.projects.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "solo"]);
        assert_eq!(found.bare_dirs, [p.join("empty")]);
        let b_files = compose_files(&found.projects[1].1);
        assert_eq!(b_files, [p.join("b/compose.yaml")]);
    }

    #[test]
    fn override_file_is_found_beside_the_base() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("compose.yml"), "").unwrap();
        std::fs::write(root.path().join("compose.override.yml"), "").unwrap();
        let files = compose_files(&ProjectSource::Dir(root.path().to_path_buf()));
        assert_eq!(files.len(), 2);
        assert!(files[1].ends_with("compose.override.yml"));
    }

    #[test]
    fn a_compose_file_that_is_a_dangling_symlink_or_a_directory_still_makes_a_project() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        for dir in ["dangling", "dir", "bare"] {
            std::fs::create_dir(p.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink(p.join("nowhere"), p.join("dangling/compose.yaml")).unwrap();
        std::fs::write(p.join("dangling/docker-compose.yml"), "").unwrap();
        std::fs::create_dir(p.join("dir/compose.yaml")).unwrap();
        let found = discover(p).unwrap();
        let names: Vec<&str> = found.projects.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["dangling", "dir"]);
        assert_eq!(found.bare_dirs, [p.join("bare")]);
        assert_eq!(
            compose_files(&found.projects[0].1),
            [p.join("dangling/compose.yaml")],
            "the dangling compose.yaml is the project's file, not the docker-compose.yml beside it"
        );
    }
}
