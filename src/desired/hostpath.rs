//! Host paths a project names (bind sources, env files, volume devices), resolved the way
//! the kernel will resolve them, so that what the host policy judges is what the container
//! gets.
//!
//! Whoever writes the desired directory controls the symlinks inside it: `./data` may be a
//! committed symlink to `/etc`. A path that lies (lexically) inside the desired directory
//! is therefore resolved here, every symlink followed, dangling ones too, and the result is
//! what the spec carries: a bind source outside the directory is named by its real path, so
//! [`crate::policy`] sees it, and a symlink retargeted later changes the spec (the project
//! is judged again) instead of silently changing what an existing container mounts at its
//! next start. A path that stays inside is written under the directory as configured (not
//! its real path), so a desired directory that is itself a symlink changes nothing.
//!
//! A path outside the desired directory (`/srv/media`, `~/x`, `../../etc`) is left as
//! written: its symlinks are the host's, and the path is a privilege of its own anyway.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed while resolving one path, at most (the kernel's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// The desired directory, as configured and as it really is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Root {
    /// Absolute, as configured (`/srv/desired`).
    pub lexical: PathBuf,
    /// Every symlink resolved (`/volume1/git/desired`).
    pub real: PathBuf,
}

impl Root {
    /// The root at `dir` (absolute); its real path when it can be resolved, else `dir`.
    pub fn at(dir: &Path) -> Self {
        let lexical = dir.to_path_buf();
        let real = real_path(&lexical).unwrap_or_else(|_| lexical.clone());
        Self { lexical, real }
    }

    /// True when `path` is the desired directory or lies under it (as configured).
    pub fn contains(&self, path: &Path) -> bool {
        !self.lexical.as_os_str().is_empty() && path.starts_with(&self.lexical)
    }

    /// `path` (absolute, lexically clean) as the spec carries it: a path under the
    /// desired directory (as configured or real) with its symlinks resolved, under the
    /// configured directory while it stays inside; any other path unchanged.
    ///
    /// Fails when a component cannot be inspected (permissions) or the symlinks loop.
    pub fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        let inside = self.contains(path)
            || (!self.real.as_os_str().is_empty() && path.starts_with(&self.real));
        if !inside {
            return Ok(path.to_path_buf());
        }
        let real = real_path(path)?;
        Ok(match real.strip_prefix(&self.real) {
            Ok(rest) if rest.as_os_str().is_empty() => self.lexical.clone(),
            Ok(rest) => self.lexical.join(rest),
            Err(_) => real,
        })
    }
}

/// `path` (absolute) with every symlink resolved, like `realpath -m`: components that do
/// not exist are kept as written, and a dangling symlink is followed to where it points.
pub fn real_path(path: &Path) -> io::Result<PathBuf> {
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, path);
    let mut out = PathBuf::from("/");
    let mut links = 0;
    let mut exists = true;
    while let Some(part) = pending.pop_front() {
        match part.to_str() {
            Some("") | Some(".") | Some("/") => continue,
            Some("..") => {
                out.pop();
                continue;
            }
            _ => {}
        }
        let next = out.join(&part);
        if !exists {
            out = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::other(format!(
                        "more than {MAX_SYMLINKS} symlinks (a loop?)"
                    )));
                }
                let target = std::fs::read_link(&next)?;
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                push_front(&mut pending, &target);
            }
            Ok(_) => out = next,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                exists = false;
                out = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Puts the components of `path` in front of `pending`, in order.
fn push_front(pending: &mut VecDeque<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::RootDir | Component::Prefix(_) => None,
            other => Some(other.as_os_str().to_os_string()),
        })
        .collect();
    for part in parts.into_iter().rev() {
        pending.push_front(part);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn real_paths_follow_relative_absolute_and_dangling_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let base = real_path(tmp.path()).unwrap();
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        symlink("a/b", base.join("rel")).unwrap();
        symlink("/etc", base.join("abs")).unwrap();
        symlink("/nonexistent/x", base.join("dangling")).unwrap();
        symlink("../../a", base.join("a/b/up")).unwrap();
        let cases = [
            ("rel/file", base.join("a/b/file")),
            ("abs/passwd", PathBuf::from("/etc/passwd")),
            ("dangling/y", PathBuf::from("/nonexistent/x/y")),
            ("a/b/up/b", base.join("a/b")),
            ("missing/../a", base.join("a")),
        ];
        for (written, want) in cases {
            assert_eq!(real_path(&base.join(written)).unwrap(), want, "{written}");
        }
    }

    #[test]
    fn a_symlink_loop_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("b", tmp.path().join("a")).unwrap();
        symlink("a", tmp.path().join("b")).unwrap();
        let err = real_path(&tmp.path().join("a")).unwrap_err();
        assert!(err.to_string().contains("loop"), "{err}");
    }

    #[test]
    fn resolving_keeps_the_configured_root_and_leaves_outside_paths_as_written() {
        let tmp = tempfile::tempdir().unwrap();
        let real_root = tmp.path().join("git/desired");
        std::fs::create_dir_all(real_root.join("shop/data")).unwrap();
        symlink(&real_root, tmp.path().join("desired")).unwrap();
        symlink("/etc", real_root.join("shop/etc")).unwrap();
        symlink("../shop/data", real_root.join("shop/alias")).unwrap();
        let root = Root::at(&tmp.path().join("desired"));
        let lexical = tmp.path().join("desired");
        let cases = [
            (lexical.join("shop/data"), lexical.join("shop/data")),
            (lexical.join("shop/alias"), lexical.join("shop/data")),
            (lexical.join("shop/etc/x"), PathBuf::from("/etc/x")),
            (real_root.join("shop/etc"), PathBuf::from("/etc")),
            (lexical.join("shop/new/dir"), lexical.join("shop/new/dir")),
            (PathBuf::from("/srv/media"), PathBuf::from("/srv/media")),
        ];
        for (written, want) in cases {
            assert_eq!(
                root.resolve(&written).unwrap(),
                want,
                "{}",
                written.display()
            );
        }
        assert!(root.contains(&lexical.join("shop")));
        assert!(!root.contains(Path::new("/etc")));
    }
}
