//! The bollard implementation of [`super::ContainerRuntime`]: [`DockerRuntime`].
//!
//! The client is pinned to Engine API 1.41 (Docker 20.10, what Synology ships), so every
//! request works there; nothing newer is used (one network per create request, the others
//! connected before start). Where to look:
//!
//! - [`DockerRuntime::connect`]: `DOCKER_HOST` or the default socket, verified by a ping.
//! - `ops`: the [`super::ContainerRuntime`] methods, one engine call each (plus the extra
//!   network connects of a create and the per-network inspects of
//!   `list_managed_networks`).
//! - `create`: the pure `ServiceSpec` -> create body mapping; `convert`: engine answers ->
//!   model types; `events`: event filtering; [`auth`]: registry credentials for pulls.
//! - [`stats`]: every HTTP call goes through `DockerRuntime::call`, which counts and
//!   times it by operation, kind and outcome.
//!
//! Errors map as: 404 -> `NotFound`, 409 -> `Conflict`, connection and I/O failures ->
//! `Unavailable`, anything else -> `Engine` with the engine's message.

use std::future::Future;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::{ClientVersion, Docker};
use tokio::time::Instant;

use self::stats::{ApiStats, CallKind, Outcome, Recorder};
use super::{Error, Result};

pub mod auth;
mod build;
mod convert;
mod create;
mod distribution;
mod events;
mod network;
mod ops;
mod resources;
pub mod stats;

/// The Engine API version every request uses (Docker 20.10).
pub const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// The engine address used when `DOCKER_HOST` is unset.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Timeout of ordinary requests (until the engine's response headers).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long [`DockerRuntime::connect`] waits for the engine's ping.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`super::ContainerRuntime`] talking to a Docker engine through bollard. Cheap to
/// clone: clones share the connection pool and the call statistics.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
    recorder: Recorder,
    instance: std::sync::Arc<str>,
}

impl DockerRuntime {
    /// Connects to `DOCKER_HOST` (`unix://...` or `tcp://...`), or to
    /// [`DEFAULT_HOST`] when it is unset, and pings the engine (5 s at most). TLS
    /// (`DOCKER_TLS_VERIFY`, `https://`) and `ssh://` are not supported.
    pub async fn connect() -> Result<Self> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());
        Self::connect_with(&host).await
    }

    /// Connects to `host` (`unix:///path`, a bare `/path`, `tcp://host:port` or
    /// `http://host:port`) and pings the engine.
    pub async fn connect_with(host: &str) -> Result<Self> {
        let docker = client_for(host)?;
        let runtime = Self {
            docker,
            recorder: Recorder::default(),
            instance: crate::model::labels::DEFAULT_INSTANCE.into(),
        };
        runtime.ping(host).await?;
        Ok(runtime)
    }

    async fn ping(&self, host: &str) -> Result<()> {
        let unreachable = |message: String| unreachable(host, &message);
        let ping = self.call("ping", CallKind::Read, self.docker.ping());
        match tokio::time::timeout(PING_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable(format!(
                "no answer to ping within {}s",
                PING_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Scopes this runtime to `instance`: it lists, watches and touches only objects labelled
    /// `io.composectl.instance=<instance>`, and labels what it creates so.
    pub fn with_instance(mut self, instance: &str) -> Self {
        self.instance = instance.into();
        self
    }

    /// The instance this runtime is scoped to.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Every call made so far: counts and total latency by (operation, kind, outcome).
    pub fn stats(&self) -> ApiStats {
        self.recorder.snapshot()
    }

    /// Runs one engine call, recording its count, latency and outcome.
    async fn call<T>(
        &self,
        operation: &'static str,
        kind: CallKind,
        request: impl Future<Output = Result<T, BollardError>>,
    ) -> Result<T, BollardError> {
        let start = Instant::now();
        let result = request.await;
        let outcome = if result.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Error
        };
        self.recorder
            .record(operation, kind, outcome, start.elapsed());
        result
    }
}

/// The error of a failed connect, with what to check.
fn unreachable(host: &str, message: &str) -> Error {
    Error::Unavailable {
        operation: "connect",
        message: format!(
            "{host}: {message}; check that dockerd runs, that DOCKER_HOST names its \
             socket, and that this user may open it (docker group)"
        ),
    }
}

/// A bollard client for `host`, pinned to [`API_VERSION`].
fn client_for(host: &str) -> Result<Docker> {
    let timeout = REQUEST_TIMEOUT.as_secs();
    let result = if let Some(path) = host.strip_prefix("unix://") {
        Docker::connect_with_unix(path, timeout, &API_VERSION)
    } else if host.starts_with('/') {
        Docker::connect_with_unix(host, timeout, &API_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, timeout, &API_VERSION)
    } else {
        return Err(Error::Unavailable {
            operation: "connect",
            message: format!(
                "unsupported DOCKER_HOST {host:?}: use unix:///path/to/docker.sock or tcp://host:port"
            ),
        });
    };
    result.map_err(|e| unreachable(host, &e.to_string()))
}

/// The HTTP status of an engine error answer.
fn status_of(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The runtime error for a failed `operation` on `what`.
fn map_error(operation: &'static str, what: impl Into<String>, err: BollardError) -> Error {
    match err {
        BollardError::DockerResponseServerError {
            status_code: 404, ..
        } => Error::NotFound {
            operation,
            what: what.into(),
        },
        BollardError::DockerResponseServerError {
            status_code: 409, ..
        } => Error::Conflict {
            operation,
            what: what.into(),
        },
        BollardError::DockerResponseServerError { message, .. } => {
            Error::Engine { operation, message }
        }
        BollardError::RequestTimeoutError
        | BollardError::IOError { .. }
        | BollardError::HyperResponseError { .. }
        | BollardError::HyperLegacyError { .. }
        | BollardError::SocketNotFoundError(_) => Error::Unavailable {
            operation,
            message: err.to_string(),
        },
        other => Error::Engine {
            operation,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: "engine text".into(),
        }
    }

    #[test]
    fn engine_statuses_map_to_runtime_errors() {
        assert!(matches!(
            map_error("start_container", "container x", server(404)),
            Error::NotFound { what, .. } if what == "container x"
        ));
        assert!(matches!(
            map_error("create_container", "container x", server(409)),
            Error::Conflict { .. }
        ));
        assert!(matches!(
            map_error("create_container", "container x", server(500)),
            Error::Engine { message, .. } if message == "engine text"
        ));
    }

    #[test]
    fn connection_failures_are_unavailable() {
        let io = BollardError::IOError {
            err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert!(matches!(
            map_error("list_containers", "containers", io),
            Error::Unavailable { .. }
        ));
        assert!(matches!(
            map_error(
                "list_containers",
                "containers",
                BollardError::RequestTimeoutError
            ),
            Error::Unavailable { .. }
        ));
    }

    #[test]
    fn unsupported_hosts_are_refused_with_a_hint() {
        let err = client_for("ssh://nas").unwrap_err();
        assert!(err.to_string().contains("unix://"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_socket_says_the_engine_cannot_be_reached() {
        let err = DockerRuntime::connect_with("unix:///nonexistent/docker.sock")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("dockerd"), "{err}");
    }
}
