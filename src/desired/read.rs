//! Reading one file of the desired state, bounded: the only way the loader (and the config
//! file, [`crate::config_file`]) reads a file.
//!
//! [`read_text`] accepts only regular files and reads at most a limit of bytes, so no file
//! can stall or exhaust the controller: a FIFO (which would block the reader until a writer
//! comes), a socket, a device (`/dev/zero` never ends) or a directory is refused before a
//! byte is read, and a file over the limit is refused after reading at most one byte more
//! than the limit. The file is opened with `O_NONBLOCK` (so that even a FIFO swapped in
//! between the check and the open cannot block), `O_NOCTTY` and `O_CLOEXEC`, and the type
//! is decided on the open handle (`fstat`), not on the path. Symlinks are followed; one to
//! nowhere and a loop are errors of their own, so the message says what to fix.
//!
//! Errors name the file and never its contents (a file may hold secrets).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How much of a file may be read, and how the user raises the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Max {
    /// The largest accepted size, in bytes.
    pub bytes: u64,
    /// What the file is, for messages (`compose file`, `env file`).
    pub what: &'static str,
    /// The flag (and its environment twin) that raises the bound, if the user can.
    pub raise_with: Option<&'static str>,
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing exists at the path.
    #[error("{} does not exist; create it or fix the path", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The path is a symlink whose target does not exist.
    #[error("{} is a symlink to nowhere (its target does not exist); fix the link or replace it with a regular file", path.display())]
    DanglingSymlink {
        /// The file.
        path: PathBuf,
    },
    /// Resolving the path runs in circles (`ELOOP`).
    #[error("{} is a symlink loop (following it leads back to itself); replace it with a regular file", path.display())]
    SymlinkLoop {
        /// The file.
        path: PathBuf,
    },
    /// The path is a FIFO, socket, device or directory.
    #[error("{} is {kind}; composectl reads only regular files, replace it with one", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead (`a FIFO (named pipe)`, `a directory`, ...).
        kind: &'static str,
    },
    /// The file is larger than the limit.
    #[error("{} is {size}, over the limit of {} bytes for a {what}; {hint}", path.display(), max.bytes, size = size_text(*.size, max.bytes), what = max.what, hint = raise_hint(max))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size as known: the size `fstat` reported, or `None` when only "more than
        /// the limit" is known (a file growing, or a file system that reports no size).
        size: Option<u64>,
        /// The limit that refused it.
        max: Max,
    },
    /// The file is not UTF-8 text.
    #[error("{} is not UTF-8 text (invalid byte on line {line}); save it as UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
    },
    /// Any other I/O error (permissions, I/O failure).
    #[error("cannot read {}: {source}; check that it is readable", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether nothing exists at the path (callers for which a missing file is normal, such
    /// as `.env` or an optional `env_file`, test this).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotFound { path }
            | Self::DanglingSymlink { path }
            | Self::SymlinkLoop { path }
            | Self::NotRegular { path, .. }
            | Self::TooLarge { path, .. }
            | Self::NotUtf8 { path, .. }
            | Self::Io { path, .. } => path,
        }
    }
}

fn size_text(size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!("{size} bytes"),
        None => format!("more than {limit} bytes"),
    }
}

fn raise_hint(max: &Max) -> String {
    match max.raise_with {
        Some(flag) => format!("make it smaller or raise the limit with {flag}"),
        None => "make it smaller".to_string(),
    }
}

/// Reads the regular file at `path` as UTF-8 text of at most `max.bytes` bytes.
pub fn read_text(path: &Path, max: Max) -> Result<String> {
    let bytes = read_bytes(path, max)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..valid]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        Error::NotUtf8 {
            path: path.to_path_buf(),
            line,
        }
    })
}

/// Reads the regular file at `path`, at most `max.bytes` bytes.
pub fn read_bytes(path: &Path, max: Max) -> Result<Vec<u8>> {
    // A first look at the path, so that a device or FIFO is not even opened (opening some
    // devices has effects); the decision is made on the open handle below.
    match std::fs::metadata(path) {
        Ok(meta) => check_regular(path, &meta)?,
        Err(e) => return Err(open_error(path, e)),
    }
    let file = open(path)?;
    let meta = file.metadata().map_err(|source| io_error(path, source))?;
    check_regular(path, &meta)?;
    let too_large = |size: Option<u64>| Error::TooLarge {
        path: path.to_path_buf(),
        size,
        max,
    };
    if meta.len() > max.bytes {
        return Err(too_large(Some(meta.len())));
    }
    // The size is a hint for the buffer only: the file may grow while it is read.
    let capacity = usize::try_from(meta.len().min(max.bytes)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity.saturating_add(1));
    file.take(max.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| io_error(path, source))?;
    if bytes.len() as u64 > max.bytes {
        return Err(too_large(None));
    }
    Ok(bytes)
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| open_error(path, e))
}

/// Maps an error of `stat` or `open` on `path` to what the user has to fix.
fn open_error(path: &Path, error: io::Error) -> Error {
    let path_buf = path.to_path_buf();
    if error.raw_os_error() == Some(libc::ELOOP) {
        return Error::SymlinkLoop { path: path_buf };
    }
    if error.kind() == io::ErrorKind::NotFound {
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        return if is_link {
            Error::DanglingSymlink { path: path_buf }
        } else {
            Error::NotFound { path: path_buf }
        };
    }
    // Opening a socket fails (ENXIO); say what it is rather than the errno.
    if let Ok(meta) = std::fs::metadata(path)
        && let Err(not_regular) = check_regular(path, &meta)
    {
        return not_regular;
    }
    io_error(path, error)
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let file_type = meta.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    let kind = if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(Error::NotRegular {
        path: path.to_path_buf(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const MAX: Max = Max {
        bytes: 16,
        what: "test file",
        raise_with: Some("--max-test-size"),
    };

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "0123456789abcdef").unwrap();
        assert_eq!(read_text(&path, MAX).unwrap(), "0123456789abcdef");
    }

    #[test]
    fn a_fifo_fails_at_once_naming_the_file_and_its_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe.env");
        mkfifo(&path);
        let started = Instant::now();
        let err = read_text(&path, MAX).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        let text = err.to_string();
        assert!(text.contains("pipe.env"), "{text}");
        assert!(text.contains("FIFO"), "{text}");
        assert!(text.contains("reads only regular files"), "{text}");
    }

    #[test]
    fn a_character_device_is_refused_before_reading() {
        let err = read_text(Path::new("/dev/zero"), MAX).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotRegular {
                    kind: "a character device",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("/dev/zero"));
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_text(dir.path(), MAX).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotRegular {
                    kind: "a directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_socket_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let err = read_text(&path, MAX).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotRegular {
                    kind: "a socket",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_dangling_symlink_is_a_symlink_to_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(dir.path().join("gone"), &link).unwrap();
        let err = read_text(&link, MAX).unwrap_err();
        assert!(err.to_string().contains("is a symlink to nowhere"), "{err}");
        assert!(err.to_string().contains("link.yaml"), "{err}");
        assert!(!err.is_not_found());
    }

    #[test]
    fn a_symlink_loop_is_named_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let err = read_text(&a, MAX).unwrap_err();
        assert!(err.to_string().contains("is a symlink loop"), "{err}");
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_text(&dir.path().join("nope"), MAX).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn a_file_over_the_limit_names_its_size_the_limit_and_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, "x".repeat(17)).unwrap();
        let text = read_text(&path, MAX).unwrap_err().to_string();
        for part in ["big", "17 bytes", "16 bytes", "--max-test-size"] {
            assert!(text.contains(part), "{part} not in {text}");
        }
    }

    #[test]
    fn non_utf8_text_is_an_error_with_a_line_and_no_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1");
        std::fs::write(&path, b"A=1\nB=secr\xe9t\n").unwrap();
        let text = read_text(&path, MAX).unwrap_err().to_string();
        assert!(
            text.contains("not UTF-8") && text.contains("line 2"),
            "{text}"
        );
        assert!(!text.contains("secr"), "{text}");
    }

    #[test]
    fn a_file_without_a_size_is_still_bounded() {
        // procfs files report a size of 0 and are read up to the limit only.
        let max = Max { bytes: 4, ..MAX };
        let err = read_bytes(Path::new("/proc/self/status"), max).unwrap_err();
        assert!(matches!(err, Error::TooLarge { size: None, .. }), "{err}");
        assert!(err.to_string().contains("more than 4 bytes"), "{err}");
    }
}
