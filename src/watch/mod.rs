//! Registry watching: services that opt in under `x-rollout.watch` follow their registry,
//! and a new image becomes a new revision rolled out through the service's strategy.
//!
//! - [`config`] reads `x-rollout.watch` (mode, interval, pattern, pre-releases).
//! - [`decide`] is pure: what a check found (up to date, an update, a held digest) and
//!   when the next check runs (interval ±10 % jitter, doubled after registry errors up to
//!   30 min).
//! - [`task`] is the I/O: one task per daemon asks the registry, through the engine and
//!   without pulling ([`crate::runtime::ContainerRuntime::inspect_distribution`]), for the
//!   digest each watched tag names, compares it with the local image's `RepoDigests`, and
//!   when they differ pulls the tag and kicks the project's reconcile. The pull re-points
//!   the local tag; the rollout driver sees the tag name another image ID, which is a new
//!   revision ([`crate::rollout::record::RevisionKey`]), and rolls it out through the
//!   service's strategy and gates, with `:previous` and rollback as for a commit.
//! - [`status`] is what the last checks found, for `/status`, `rollout status` and the
//!   metrics.
//!
//! A digest whose rollout failed is held: the driver keeps the replicas on the previous
//! revision while the tag names the failed image, and the watcher never pulls a digest of
//! a failed revision again (the history's `failed_at` entries, their recorded digest and
//! their image's `RepoDigests`); the next digest the registry names is pulled as usual.

pub mod config;
pub mod decide;
pub mod host;
pub mod registry;
pub mod status;
pub mod task;
pub mod versions;

#[cfg(test)]
mod task_tests;

pub use status::{Override, ServiceWatch, Watches};
pub use task::Watcher;

/// The smallest interval between two checks of one service unless the daemon is told
/// otherwise (`--watch-min-interval`).
pub const DEFAULT_MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Why one check of one service failed. Every variant names the registry or the image,
/// never credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry could not be asked (down, refused, unknown tag, denied).
    #[error("registry {registry}: cannot read {image}: {source}")]
    Registry {
        /// The registry's host (`127.0.0.1:5000`, `docker.io`).
        registry: String,
        /// The watched image reference.
        image: String,
        /// What the engine said.
        source: crate::runtime::Error,
    },
    /// The Docker engine is unreachable (the check goes through it): not the registry's
    /// failure, so no backoff; the next check runs at the usual interval.
    #[error("cannot check {image}: {source}")]
    EngineAway {
        /// The watched image reference.
        image: String,
        /// What the runtime said.
        source: crate::runtime::Error,
    },
    /// The engine could not inspect the local image.
    #[error("cannot inspect the local image {image}: {source}")]
    Inspect {
        /// The image reference or ID.
        image: String,
        /// What the engine said.
        source: crate::runtime::Error,
    },
    /// The new image could not be pulled.
    #[error("registry {registry}: pulling {image} failed: {source}")]
    Pull {
        /// The registry's host.
        registry: String,
        /// The watched image reference.
        image: String,
        /// What the engine said.
        source: crate::runtime::Error,
    },
    /// The registry's tag list could not be read (semver).
    #[error(transparent)]
    Tags(#[from] registry::Error),
    /// Semver: the running tag is no version, so nothing can be newer.
    #[error(
        "{image}: the tag {tag:?} is not a semantic version; name a version tag (1.2.3) in image: to follow newer ones"
    )]
    NotAVersion {
        /// The reference run.
        image: String,
        /// Its tag.
        tag: String,
    },
    /// The override could not be written to the state directory.
    #[error("cannot record the chosen image: {0}")]
    State(crate::state::Error),
    /// The service's revision history could not be read.
    #[error("cannot read the revision history: {0}")]
    History(#[from] crate::controller::rollouts::Error),
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
