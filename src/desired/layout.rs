//! Finding projects in the desired directory, and compose's project-name rules.
//!
//! - Every subdirectory holding `compose.yaml`, `compose.yml`, `docker-compose.yaml` or
//!   `docker-compose.yml` (the first found, in that order) is a project named after the
//!   directory; `compose.override.yaml`/`.yml` (or `docker-compose.override.*`) beside it is
//!   laid over it.
//! - A top-level `NAME.yaml` / `NAME.yml` is project `NAME`, with the desired directory as
//!   its working directory.
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

/// The projects under `root`, as (unnormalized name, source), sorted by name.
///
/// Fails only when `root` cannot be listed; unreadable entries are skipped.
pub fn discover(root: &Path) -> io::Result<Vec<(String, ProjectSource)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            if first_existing(&path, &COMPOSE_FILES).is_some() {
                found.push((name, ProjectSource::Dir(path)));
            }
        } else if let Some(stem) = yaml_stem(&name) {
            found.push((stem.to_string(), ProjectSource::File(path)));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path().cmp(b.1.path())));
    Ok(found)
}

fn yaml_stem(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(".yaml")
        .or_else(|| file_name.strip_suffix(".yml"))
        .filter(|stem| !stem.is_empty())
}

/// The first of `names` that exists as a file in `dir`.
pub fn first_existing(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// The compose files of a project: the base file and the override, if any.
pub fn compose_files(source: &ProjectSource) -> Vec<PathBuf> {
    match source {
        ProjectSource::File(file) => vec![file.clone()],
        ProjectSource::Dir(dir) => {
            let base =
                first_existing(dir, &COMPOSE_FILES).unwrap_or_else(|| dir.join(COMPOSE_FILES[0]));
            let mut files = vec![base];
            files.extend(first_existing(dir, &OVERRIDE_FILES));
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
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "solo"]);
        let b_files = compose_files(&found[1].1);
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
}
