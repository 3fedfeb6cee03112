//! The controller's state directory: per service, its rollout record and its revision
//! history, as JSON files written atomically (write a temporary file, fsync, rename, fsync
//! the directory), so a controller killed at any moment leaves either the old or the new
//! file, never a torn one.
//!
//! Layout: `<state-dir>/<instance>/<project>/<service>/{rollout.json,history.json}` (and,
//! where they apply, `build.json`: a failed build not tried again; `built.json`: what the
//! service's image was built from; `watch.json`: a registry-watching override), plus
//! the control socket at `<state-dir>/<instance>/control.sock`, the instance's
//! [`Ownership`] record at `<state-dir>/<instance>/ownership.json`, and each project's
//! approved privileges ([`crate::policy::Record`]) at
//! `<state-dir>/<instance>/<project>/privileges.json`, and each project's secret and config
//! files at `<state-dir>/<instance>/<project>/files/` (content-addressed, bind-mounted
//! read-only into the containers that use them, see [`crate::executor`]).
//!
//! The revision history holds secrets: each revision's whole spec, environment values
//! included, because a rollback recreates the previous revision from it (the desired files
//! have moved on by then, so the values can be found nowhere else). So the modes are
//! enforced, not just asked for: every write checks the instance directory and the
//! directories below it down to the file and corrects them to 0700, and writes the file
//! 0600 (whatever umask or an earlier file said); every read checks the same and corrects
//! a file or directory others could read (logging a warning), and refuses it when that is
//! not possible. The rollout record's free text (reason, gate evidence) is scrubbed by
//! [`crate::redact`] before it is written; the history is not (it must hold the values).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::redact;
use crate::rollout::record::{History, RolloutRecord};

/// The mode of state directories.
pub const DIR_MODE: u32 = 0o700;
/// The mode of state files.
pub const FILE_MODE: u32 = 0o600;

const RECORD: &str = "rollout.json";
const HISTORY: &str = "history.json";
const OWNERSHIP: &str = "ownership.json";
const WATCH: &str = "watch.json";
const PRIVILEGES: &str = "privileges.json";
const FILES: &str = "files";
const BUILD: &str = "build.json";
const BUILT: &str = "built.json";

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
    /// A state file or directory others can read, whose mode composectl cannot correct
    /// (it is not the owner): it is not read.
    #[error("{}: readable by others (mode {mode:o}) and its mode cannot be set to {wanted:o} ({source}); fix its owner or mode (state files hold environment values)", path.display())]
    Exposed {
        /// The file or directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
        /// The mode it should have.
        wanted: u32,
        /// Why it could not be corrected.
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
        self.read_json(&self.service_dir(project, service), RECORD)
    }

    /// Writes the rollout record of `project`/`service` atomically, its free text scrubbed.
    pub fn save_record(&self, project: &str, service: &str, record: &RolloutRecord) -> Result<()> {
        let mut record = record.clone();
        let scrub = |text: &mut String| {
            if let std::borrow::Cow::Owned(clean) = redact::text(text) {
                *text = clean;
            }
        };
        if let Some(reason) = &mut record.reason {
            scrub(reason);
        }
        for gate in &mut record.gates {
            scrub(&mut gate.evidence);
        }
        self.write_json(&self.service_dir(project, service), RECORD, &record)
    }

    /// The revision history of `project`/`service` (empty when it has none).
    pub fn load_history(&self, project: &str, service: &str) -> Result<History> {
        Ok(self
            .read_json(&self.service_dir(project, service), HISTORY)?
            .unwrap_or_default())
    }

    /// Writes the revision history of `project`/`service` atomically (whole specs, values
    /// included: 0600 in 0700 directories).
    pub fn save_history(&self, project: &str, service: &str, history: &History) -> Result<()> {
        self.write_json(&self.service_dir(project, service), HISTORY, history)
    }

    /// The failed build of `project`/`service` that is not tried again, if any.
    pub fn load_failed_build(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Option<crate::controller::builds::FailedBuild>> {
        self.read_json(&self.service_dir(project, service), BUILD)
    }

    /// Records (`Some`, its text scrubbed) or forgets (`None`) the failed build of
    /// `project`/`service`.
    pub fn save_failed_build(
        &self,
        project: &str,
        service: &str,
        failed: Option<&crate::controller::builds::FailedBuild>,
    ) -> Result<()> {
        let dir = self.service_dir(project, service);
        let Some(failed) = failed else {
            return match fs::remove_file(dir.join(BUILD)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                    path: dir.join(BUILD),
                    source: e,
                }),
                _ => Ok(()),
            };
        };
        self.write_json(&dir, BUILD, &failed.scrubbed())
    }

    /// What the image of `project`/`service` composectl built last was built from, if kept.
    pub fn load_built_manifest(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Option<crate::controller::builds::BuiltManifest>> {
        self.read_json(&self.service_dir(project, service), BUILT)
    }

    /// Keeps what the image of `project`/`service` was built from.
    pub fn save_built_manifest(
        &self,
        project: &str,
        service: &str,
        manifest: &crate::controller::builds::BuiltManifest,
    ) -> Result<()> {
        self.write_json(&self.service_dir(project, service), BUILT, manifest)
    }

    /// The registry-watching override of `project`/`service` ([`crate::watch`]), if one.
    pub fn load_watch(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Option<crate::watch::Override>> {
        self.read_json(&self.service_dir(project, service), WATCH)
    }

    /// Writes the registry-watching override of `project`/`service` atomically.
    pub fn save_watch(
        &self,
        project: &str,
        service: &str,
        value: &crate::watch::Override,
    ) -> Result<()> {
        self.write_json(&self.service_dir(project, service), WATCH, value)
    }

    /// The instance's ownership record (`None` before the first save).
    pub fn load_ownership(&self) -> Result<Option<Ownership>> {
        self.read_json(&self.root, OWNERSHIP)
    }

    /// Saves the instance's ownership record.
    pub fn save_ownership(&self, ownership: &Ownership) -> Result<()> {
        self.write_json(&self.root, OWNERSHIP, ownership)
    }

    /// Where the approved privileges of `project` are kept.
    pub fn privileges_path(&self, project: &str) -> PathBuf {
        self.root.join(project).join(PRIVILEGES)
    }

    /// The approved privileges of `project` (`None` before the first record).
    pub fn load_privileges(&self, project: &str) -> Result<Option<crate::policy::Record>> {
        self.read_json(&self.root.join(project), PRIVILEGES)
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
        self.write_json(&self.root.join(project), PRIVILEGES, record)
    }

    /// The directory of `project`'s secret and config files (`<project>/files`), created
    /// 0700 with its parents 0700 (see [`crate::executor`]'s file materialization).
    pub fn files_dir(&self, project: &str) -> Result<PathBuf> {
        let dir = self.root.join(project).join(FILES);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&dir)
            .map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        for dir in self.dirs_down_to(&dir) {
            protect(dir, DIR_MODE, false)?;
        }
        Ok(dir)
    }

    /// The directories from the instance's directory down to `dir` (which is under it).
    fn dirs_down_to<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a Path> {
        dir.ancestors()
            .take_while(|d| d.starts_with(&self.root))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
    }

    /// Reads `dir/name`, after making sure it and its directories are not readable by
    /// others.
    fn read_json<T: DeserializeOwned>(&self, dir: &Path, name: &str) -> Result<Option<T>> {
        let path = dir.join(name);
        match fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        }
        for dir in self.dirs_down_to(dir) {
            protect(dir, DIR_MODE, true)?;
        }
        protect(&path, FILE_MODE, true)?;
        read_json(&path)
    }

    /// Writes `dir/name` atomically with mode 0600, its directories 0700.
    fn write_json<T: Serialize>(&self, dir: &Path, name: &str, value: &T) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|source| Error::Io {
                path: dir.to_owned(),
                source,
            })?;
        for dir in self.dirs_down_to(dir) {
            protect(dir, DIR_MODE, false)?;
        }
        write_json(dir, name, value)
    }
}

/// Sets `path`'s mode to `wanted` when it has any bit `wanted` lacks; `warn` logs that it
/// had to (a read found it so). An error when the mode cannot be read or set.
fn protect(path: &Path, wanted: u32, warn_if_changed: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & !wanted == 0 {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(wanted)).map_err(|source| {
        Error::Exposed {
            path: path.to_owned(),
            mode,
            wanted,
            source,
        }
    })?;
    if warn_if_changed {
        warn!(
            path = %path.display(),
            "a state file or directory was readable by others (mode {mode:o}); set it to {wanted:o} (state files hold environment values)"
        );
    }
    Ok(())
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
    let json = serde_json::to_vec_pretty(value).expect("state types serialize to JSON");
    write_atomic(dir, name, &json, FILE_MODE, None)
}

/// Writes `dir/name` atomically (a temporary file written, given `mode` and, when set, the
/// owner `(uid, gid)`, fsynced, renamed over the old one, the directory fsynced): a reader
/// sees the old file or the new one, never a part.
pub fn write_atomic(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
    owner: Option<(Option<u32>, Option<u32>)>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode & FILE_MODE)
        .open(&temporary)
        .map_err(io(&temporary))?;
    // A temporary file left behind by a killed write keeps its old mode when reopened.
    file.set_permissions(fs::Permissions::from_mode(mode & FILE_MODE))
        .map_err(io(&temporary))?;
    file.write_all(bytes).map_err(io(&temporary))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, uid, gid).map_err(io(&temporary))?;
    }
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    fs::rename(&temporary, &path).map_err(io(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

#[cfg(test)]
mod compat_tests;

#[cfg(test)]
mod tests;
