//! Secrets and configs on the host: every file a service references is written under the
//! state directory, `<state-dir>/<instance>/<project>/files/` (0700), right before a
//! container that uses it is created, and bind-mounted read-only at its target.
//!
//! One mechanism for every source (`file:`, `environment:`, `content:`): the loader read
//! the content into the spec; here it becomes a file named by
//! [`FileRef::file_name`] (kind, name, content digest, mode, owner), written atomically
//! with the reference's mode and owner. A file that exists with the right content, mode
//! and owner is left alone, so materializing is idempotent. Each container records the
//! files it mounts in the [`FILES_LABEL`] label; [`collect`] removes the files that neither
//! the desired spec nor any container of the project uses any more.
//!
//! An owner (`uid`/`gid`) other than composectl's own needs root (composectl runs as root
//! under systemd); without it the service fails with an error that says so.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::model::files::{Content, FileKind, FileRef};
use crate::model::spec::{MountKind, MountSpec, ProjectSpec};
use crate::runtime::ContainerCreate;
use crate::state::{self, StateDir};

/// The label listing the names of the files a container mounts (comma-separated).
pub const FILES_LABEL: &str = "io.composectl.files";

/// Why a secret or config could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The executor was built without a state directory.
    #[error("{kind} {name}: composectl has no state directory to keep the file in")]
    NoStateDir {
        /// Secret or config.
        kind: FileKind,
        /// Its name.
        name: String,
    },
    /// The spec references a definition it does not hold (a spec from before the loader
    /// knew secrets, or a bug).
    #[error("{kind} {name} is not defined in the project's spec; reload the desired directory")]
    Undefined {
        /// Secret or config.
        kind: FileKind,
        /// Its name.
        name: String,
    },
    /// The file should belong to another user, and composectl is not root.
    #[error(
        "{kind} {name}: giving the file to uid {uid:?} gid {gid:?} needs root, and composectl runs as uid {euid}; run composectl as root (its systemd unit does) or remove `uid`/`gid`"
    )]
    NotRoot {
        /// Secret or config.
        kind: FileKind,
        /// Its name.
        name: String,
        /// The wanted owner.
        uid: Option<u32>,
        /// The wanted group.
        gid: Option<u32>,
        /// composectl's effective uid.
        euid: u32,
    },
    /// The state directory could not be written or read.
    #[error(transparent)]
    State(#[from] state::Error),
    /// Listing or removing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes the files `request`'s service references (contents from `project`), mounts
/// them read-only at their targets and records them in [`FILES_LABEL`].
pub fn attach(
    state: Option<&StateDir>,
    project: &ProjectSpec,
    request: &mut ContainerCreate,
) -> Result<()> {
    let refs: Vec<FileRef> = {
        let s = &request.service;
        s.secrets.iter().chain(&s.configs).cloned().collect()
    };
    if refs.is_empty() {
        return Ok(());
    }
    let mut names = BTreeSet::new();
    for r in &refs {
        let Some(state) = state else {
            return Err(Error::NoStateDir {
                kind: r.kind,
                name: r.source.clone(),
            });
        };
        let path = materialize(state, project, r)?;
        names.insert(r.file_name());
        request.service.mounts.push(MountSpec {
            kind: MountKind::Bind {
                source: path,
                create_host_path: false,
            },
            target: r.target.clone(),
            read_only: true,
            options: Default::default(),
        });
    }
    let label = names.into_iter().collect::<Vec<_>>().join(",");
    request.labels.insert(FILES_LABEL.to_owned(), label);
    Ok(())
}

/// Puts the file of `r` in place (if it is not already) and returns its path.
pub fn materialize(state: &StateDir, project: &ProjectSpec, r: &FileRef) -> Result<PathBuf> {
    let defs = match r.kind {
        FileKind::Secret => &project.secrets,
        FileKind::Config => &project.configs,
    };
    let def = defs.get(&r.source).ok_or_else(|| Error::Undefined {
        kind: r.kind,
        name: r.source.clone(),
    })?;
    check_owner(r)?;
    let dir = state.files_dir(&project.name)?;
    let name = r.file_name();
    let path = dir.join(&name);
    if !is_in_place(&path, r, &def.content) {
        let owner = (r.uid.is_some() || r.gid.is_some()).then_some((r.uid, r.gid));
        state::write_atomic(&dir, &name, &def.content.0, r.mode, owner)?;
    }
    Ok(path)
}

/// Refuses an owner composectl cannot give.
fn check_owner(r: &FileRef) -> Result<()> {
    // SAFETY: geteuid and getegid cannot fail and touch no memory.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let foreign = r.uid.is_some_and(|u| u != euid) || r.gid.is_some_and(|g| g != egid);
    if euid != 0 && foreign {
        return Err(Error::NotRoot {
            kind: r.kind,
            name: r.source.clone(),
            uid: r.uid,
            gid: r.gid,
            euid,
        });
    }
    Ok(())
}

/// True when `path` is a regular file with `content`, `r`'s mode and owner.
fn is_in_place(path: &Path, r: &FileRef, content: &Content) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    let owner_ok = r.uid.is_none_or(|u| u == meta.uid()) && r.gid.is_none_or(|g| g == meta.gid());
    meta.is_file()
        && meta.mode() & 0o7777 == r.mode
        && owner_ok
        && meta.len() == content.0.len() as u64
        && fs::read(path).is_ok_and(|bytes| bytes == content.0)
}

/// The files `project`'s services reference.
pub fn referenced(project: &ProjectSpec) -> BTreeSet<String> {
    project
        .services
        .values()
        .flat_map(|s| s.secrets.iter().chain(&s.configs))
        .map(FileRef::file_name)
        .collect()
}

/// The files a container's labels say it mounts.
pub fn mounted_by(labels: &std::collections::BTreeMap<String, String>) -> BTreeSet<String> {
    labels
        .get(FILES_LABEL)
        .map(|l| {
            l.split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the files of `project` under `state` that are not in `keep` (and temporary
/// files a killed write left); returns the names removed. Only composectl's own file
/// names (`secret-*`, `config-*`) are ever touched.
pub fn collect(state: &StateDir, project: &str, keep: &BTreeSet<String>) -> Result<Vec<String>> {
    let dir = state.root().join(project).join("files");
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { path: dir, source }),
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bare = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".tmp"))
            .unwrap_or(&name);
        let ours = bare.starts_with("secret-") || bare.starts_with("config-");
        if !ours || (bare == name && keep.contains(&name)) {
            continue;
        }
        let path = entry.path();
        fs::remove_file(&path).map_err(|source| Error::Io { path, source })?;
        removed.push(name);
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::model::files::FileDef;
    use crate::model::spec::ServiceSpec;

    fn project(content: &[u8], mode: u32) -> ProjectSpec {
        let def = FileDef::new("db", content.to_vec());
        let mut web = ServiceSpec::new("web", "x");
        web.secrets.push(FileRef {
            kind: FileKind::Secret,
            source: "db".into(),
            target: "/run/secrets/db".into(),
            mode,
            digest: def.digest.clone(),
            ..FileRef::default()
        });
        ProjectSpec {
            name: "shop".into(),
            services: BTreeMap::from([("web".into(), web)]),
            secrets: BTreeMap::from([("db".into(), def)]),
            ..ProjectSpec::default()
        }
    }

    fn request(project: &ProjectSpec) -> ContainerCreate {
        ContainerCreate {
            name: "shop-web-1".into(),
            service: project.services["web"].clone(),
            networks: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn a_secret_is_written_with_its_mode_in_a_private_directory_and_mounted_read_only() {
        let base = tempfile::tempdir().unwrap();
        let state = StateDir::new(base.path(), "default");
        let p = project(b"hunter2-password", 0o440);
        let mut req = request(&p);
        attach(Some(&state), &p, &mut req).unwrap();
        let mount = req.service.mounts.last().unwrap();
        assert_eq!(mount.target, "/run/secrets/db");
        assert!(mount.read_only);
        let MountKind::Bind {
            source,
            create_host_path,
        } = &mount.kind
        else {
            panic!("{mount:?}")
        };
        assert!(!create_host_path);
        assert_eq!(fs::read(source).unwrap(), b"hunter2-password");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(source), 0o440);
        assert_eq!(mode(source.parent().unwrap()), 0o700);
        assert_eq!(mode(&base.path().join("default/shop")), 0o700);
        assert_eq!(
            req.labels[FILES_LABEL],
            p.services["web"].secrets[0].file_name()
        );
        assert!(
            !fs::read_dir(source.parent().unwrap()).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp"))
        );
    }

    #[test]
    fn materializing_again_changes_nothing_and_repairs_a_tampered_file() {
        let base = tempfile::tempdir().unwrap();
        let state = StateDir::new(base.path(), "default");
        let p = project(b"content-one", 0o444);
        let r = &p.services["web"].secrets[0];
        let path = materialize(&state, &p, r).unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        assert_eq!(materialize(&state, &p, r).unwrap(), path);
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode, "left alone");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        fs::write(&path, "tampered").unwrap();
        materialize(&state, &p, r).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"content-one");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o444
        );
    }

    #[test]
    fn collection_keeps_what_the_spec_or_a_container_uses_and_nothing_else() {
        let base = tempfile::tempdir().unwrap();
        let state = StateDir::new(base.path(), "default");
        let old = project(b"old-content", 0o444);
        let new = project(b"new-content", 0o444);
        let old_path = materialize(&state, &old, &old.services["web"].secrets[0]).unwrap();
        let new_path = materialize(&state, &new, &new.services["web"].secrets[0]).unwrap();
        let dir = new_path.parent().unwrap().to_owned();
        fs::write(dir.join("not-ours"), "x").unwrap();
        fs::write(dir.join(".secret-db-x.tmp"), "x").unwrap();
        // The old container still runs: both stay.
        let mut keep = referenced(&new);
        keep.extend(referenced(&old));
        assert_eq!(
            collect(&state, "shop", &keep).unwrap(),
            [".secret-db-x.tmp"]
        );
        assert!(old_path.exists() && new_path.exists());
        // It is gone: the old file goes, the other file stays.
        let removed = collect(&state, "shop", &referenced(&new)).unwrap();
        assert_eq!(removed, [old.services["web"].secrets[0].file_name()]);
        assert!(!old_path.exists() && new_path.exists() && dir.join("not-ours").exists());
    }

    #[test]
    fn without_a_state_directory_a_service_with_secrets_fails() {
        let p = project(b"x", 0o444);
        let mut req = request(&p);
        let err = attach(None, &p, &mut req).unwrap_err();
        assert!(err.to_string().contains("no state directory"), "{err}");
    }
}
