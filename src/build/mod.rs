//! Build contexts: what composectl sends to the engine's build endpoint for a service's
//! `build:`, and the hash that says whether an image built earlier is still current.
//!
//! [`Context::read`] walks the context directory as `docker build` does: `.dockerignore`
//! ([`ignore`]) decides what is sent, the Dockerfile and `.dockerignore` are always sent,
//! symlinks are sent as links (never followed), and anything else than files, directories
//! and symlinks is refused. The same pass reads every file once, writes it into the tar the
//! engine receives ([`Context::archive`]) and feeds it to the build hash, so the hash labels
//! exactly what was built.
//!
//! The build hash ([`hash`]) covers the files sent (path, kind, permission bits, content or
//! link target), the Dockerfile (its path in the context, its text when it is inline or
//! lies outside the context) and every build setting that changes the image (args, target,
//! labels, network, extra hosts, shm size, cache sources, `no_cache`, `pull`, platforms).
//! It leaves out what does not: modification times, owners, the context's place on disk,
//! extra `tags`. So an unchanged checkout never rebuilds, after a restart of composectl too.
//!
//! A read without an archive (every load reads every context) reuses the digests of files
//! unchanged since the previous read ([`digests`]), so an unchanged context costs a walk
//! and a stat per file, not a read of its every byte.
//!
//! [`decide`] holds the pure decisions over builds: which files changed, and which built
//! images may be removed.
//!
//! Reading is blocking file I/O: callers run it off the async runtime (`spawn_blocking`).
//! Every count is bounded ([`Limits`]).

pub mod context;
pub mod decide;
pub mod digests;
pub mod hash;
pub mod ignore;

pub use context::{Context, Entry, EntryKind};

use std::path::PathBuf;

/// Bounds on one build context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries (files, directories, symlinks) sent, at most.
    pub max_entries: usize,
    /// Bytes of file content sent, at most (the archive is held in memory).
    pub max_bytes: u64,
    /// Bytes of `.dockerignore` and of a Dockerfile outside the context, at most.
    pub max_control_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_bytes: 512 * 1024 * 1024,
            max_control_file_bytes: 1024 * 1024,
        }
    }
}

/// The name the Dockerfile gets in the archive when it is inline or lies outside the
/// context (the Docker CLI does the same with a name of its own).
pub const INJECTED_DOCKERFILE: &str = ".dockerfile.composectl";

/// Why a build context cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory of the context cannot be read.
    #[error(
        "build context {context}: cannot read {path}: {source}; check that it exists and composectl may read it"
    )]
    Read {
        /// The context directory.
        context: PathBuf,
        /// The entry, relative to the context.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An entry is a socket, a FIFO or a device.
    #[error(
        "build context {context}: {path} is not a file, directory or symlink; remove it or add it to .dockerignore"
    )]
    Special {
        /// The context directory.
        context: PathBuf,
        /// The entry, relative to the context.
        path: String,
    },
    /// More entries than [`Limits::max_entries`].
    #[error(
        "build context {context} sends more than {limit} files and directories; add what the build does not need to its .dockerignore"
    )]
    TooManyEntries {
        /// The context directory.
        context: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// More content than [`Limits::max_bytes`], or a control file over its bound.
    #[error(
        "build context {context}: {what} is over {limit} bytes; add what the build does not need to its .dockerignore"
    )]
    TooLarge {
        /// The context directory.
        context: PathBuf,
        /// What is too large (`the context`, `.dockerignore`, the Dockerfile's path).
        what: String,
        /// The limit, bytes.
        limit: u64,
    },
    /// A pattern of `.dockerignore` is invalid.
    #[error("{file}: {source}; fix or remove the pattern")]
    Pattern {
        /// The `.dockerignore` file.
        file: PathBuf,
        /// The pattern and what is wrong with it.
        source: ignore::BadPattern,
    },
    /// The Dockerfile is missing or is not a regular file.
    #[error(
        "build context {context}: the Dockerfile {path} is missing or not a regular file; add it or set `build.dockerfile` (or `dockerfile_inline`)"
    )]
    NoDockerfile {
        /// The context directory.
        context: PathBuf,
        /// The Dockerfile's path as the build names it.
        path: String,
    },
    /// Writing the archive failed.
    #[error("build context {context}: writing the archive of {path}: {source}")]
    Archive {
        /// The context directory.
        context: PathBuf,
        /// The entry being written.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// This module's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
