//! The controller's state directory: per service, its rollout record and its revision
//! history, as JSON files written atomically (write a temporary file, fsync, rename, fsync
//! the directory), so a controller killed at any moment leaves either the old or the new
//! file, never a torn one.
//!
//! Layout: `<state-dir>/<instance>/<project>/<service>/{rollout.json,history.json}`, plus
//! the control socket at `<state-dir>/<instance>/control.sock`, the instance's
//! [`Ownership`] record at `<state-dir>/<instance>/ownership.json`, and each project's
//! approved privileges ([`crate::policy::Record`]) at
//! `<state-dir>/<instance>/<project>/privileges.json`. Directories are created
//! with mode 0700: the records name images and revisions, and only root drives rollouts.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::rollout::record::{History, RolloutRecord};

const RECORD: &str = "rollout.json";
const HISTORY: &str = "history.json";
const OWNERSHIP: &str = "ownership.json";
const PRIVILEGES: &str = "privileges.json";

/// Which desired directory an instance serves, and the projects it loaded from there: the
/// only projects it ever prunes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct Ownership {
    /// The desired directory (absolute, symlinks resolved).
    pub desired_dir: PathBuf,
    /// Projects loaded from it and not pruned completely yet.
    pub projects: std::collections::BTreeSet<String>,
}

/// Errors reading or writing the state directory; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {source} (check that the state directory is writable by composectl)", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not what composectl wrote.
    #[error("{}: not a valid composectl state file ({source}); move it away to start this service's rollout history afresh", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One instance's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state directory of `instance` under `base` (`--state-dir`).
    pub fn new(base: &Path, instance: &str) -> Self {
        Self {
            root: crate::control::instance_dir(base, instance),
        }
    }

    /// The instance's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn service_dir(&self, project: &str, service: &str) -> PathBuf {
        self.root.join(project).join(service)
    }

    /// The rollout record of `project`/`service`, if it has one.
    pub fn load_record(&self, project: &str, service: &str) -> Result<Option<RolloutRecord>> {
        read_json(&self.service_dir(project, service).join(RECORD))
    }

    /// Writes the rollout record of `project`/`service` atomically.
    pub fn save_record(&self, project: &str, service: &str, record: &RolloutRecord) -> Result<()> {
        write_json(&self.service_dir(project, service), RECORD, record)
    }

    /// The revision history of `project`/`service` (empty when it has none).
    pub fn load_history(&self, project: &str, service: &str) -> Result<History> {
        Ok(read_json(&self.service_dir(project, service).join(HISTORY))?.unwrap_or_default())
    }

    /// Writes the revision history of `project`/`service` atomically.
    pub fn save_history(&self, project: &str, service: &str, history: &History) -> Result<()> {
        write_json(&self.service_dir(project, service), HISTORY, history)
    }

    /// The instance's ownership record (`None` before the first save).
    pub fn load_ownership(&self) -> Result<Option<Ownership>> {
        read_json(&self.root.join(OWNERSHIP))
    }

    /// Saves the instance's ownership record.
    pub fn save_ownership(&self, ownership: &Ownership) -> Result<()> {
        write_json(&self.root, OWNERSHIP, ownership)
    }

    /// Where the approved privileges of `project` are kept.
    pub fn privileges_path(&self, project: &str) -> PathBuf {
        self.root.join(project).join(PRIVILEGES)
    }

    /// The approved privileges of `project` (`None` before the first record).
    pub fn load_privileges(&self, project: &str) -> Result<Option<crate::policy::Record>> {
        read_json(&self.privileges_path(project))
    }

    /// True when some project of the instance has a privilege record (false before the
    /// first one is written, and when the directory cannot be listed).
    pub fn has_privilege_records(&self) -> bool {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return false;
        };
        entries
            .flatten()
            .any(|entry| entry.path().join(PRIVILEGES).exists())
    }

    /// Writes the approved privileges of `project` atomically (mode 0600).
    pub fn save_privileges(&self, project: &str, record: &crate::policy::Record) -> Result<()> {
        write_json(&self.root.join(project), PRIVILEGES, record)
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| Error::Corrupt {
            path: path.to_owned(),
            source,
        })
}

fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let json = serde_json::to_vec_pretty(value).expect("state types serialize to JSON");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io(&temporary))?;
    file.write_all(&json).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    fs::rename(&temporary, &path).map_err(io(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProjectSpec;
    use crate::rollout::record::{HISTORY_LIMIT, RevisionKey};
    use std::collections::BTreeSet;

    fn key(n: u32) -> RevisionKey {
        RevisionKey {
            config_hash: format!("hash{n}"),
            image_id: format!("sha256:{n}"),
        }
    }

    #[test]
    fn history_round_trips_and_keeps_the_last_ten_but_never_a_pinned_one() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path(), "default");
        assert_eq!(
            state.load_history("shop", "web").unwrap(),
            History::default()
        );
        let mut history = History::default();
        let pinned = BTreeSet::from([1]);
        for n in 1..=12 {
            let number = history.record(key(n), "web:x", ProjectSpec::default(), 0, &pinned);
            assert_eq!(number, u64::from(n));
        }
        assert_eq!(history.entries.len(), HISTORY_LIMIT);
        let numbers: Vec<u64> = history.entries.iter().map(|e| e.number).collect();
        assert_eq!(numbers, vec![1, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(
            history.record(key(5), "web:x", ProjectSpec::default(), 0, &pinned),
            5
        );
        state.save_history("shop", "web", &history).unwrap();
        assert_eq!(state.load_history("shop", "web").unwrap(), history);
        let file = dir.path().join("default/shop/web/history.json");
        let mode = fs::metadata(&file).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert!(
            !dir.path()
                .join("default/shop/web/.history.json.tmp")
                .exists()
        );
    }

    #[test]
    fn a_corrupt_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path(), "i");
        fs::create_dir_all(dir.path().join("i/p/s")).unwrap();
        fs::write(dir.path().join("i/p/s/rollout.json"), "{ torn").unwrap();
        let err = state.load_record("p", "s").unwrap_err().to_string();
        assert!(err.contains("i/p/s/rollout.json"), "{err}");
        assert!(err.contains("move it away"), "{err}");
        assert_eq!(state.load_record("p", "other").unwrap(), None);
    }

    #[test]
    fn the_ownership_record_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path(), "i");
        assert_eq!(state.load_ownership().unwrap(), None);
        let ownership = Ownership {
            desired_dir: "/srv/desired".into(),
            projects: ["shop".to_owned(), "blog".to_owned()].into(),
        };
        state.save_ownership(&ownership).unwrap();
        assert_eq!(state.load_ownership().unwrap(), Some(ownership));
    }
}
