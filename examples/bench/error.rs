//! The benchmark's one error type: every step either measures or stops the run with a
//! message that says which step failed (the run still cleans up after itself).

use std::time::Duration;

/// Why a benchmark step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An external command (docker, docker-compose, composectl) failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// The engine could not be reached or answered with an error.
    #[error("docker: {0}")]
    Docker(#[from] composectl::runtime::Error),
    /// A direct Engine API call (the event stream, the raw reference) failed.
    #[error("Engine API: {0}")]
    Api(#[from] bollard::errors::Error),
    /// composectl's controller failed.
    #[error("controller: {0}")]
    Controller(#[from] composectl::controller::Error),
    /// Something expected did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// The stack was not in the state a measurement needs.
    #[error("{0}")]
    State(String),
}

/// Result alias of the benchmark.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with what was being done.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
