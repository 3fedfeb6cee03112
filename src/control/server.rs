//! The controller's side of the control socket: binding it safely (one controller per
//! state directory, stale sockets replaced, root-only permissions) and serving one JSON
//! request line per connection to a [`Handler`].
//!
//! Clients cannot take the descriptors the reconcile loop needs: at most
//! [`MAX_CONNECTIONS`] connections are served at once (more wait in the listen backlog,
//! see [`crate::accept`]); a client that sends no complete request line within
//! [`READ_TIMEOUT`], or reads nothing of the answer for [`WRITE_TIMEOUT`], is dropped.

use std::future::Future;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

use super::{Error, Handler, Request, Response, Result};
use crate::accept::{self, Limits, Slots};

/// The longest request line read.
pub const MAX_REQUEST: usize = 64 << 10;
/// Connections served at once: `composectl rollout ...` opens one per command, so 16 is
/// plenty for people and scripts while bounding the descriptors clients can take.
pub const MAX_CONNECTIONS: usize = 16;
/// A client that sends no complete request line within this time is dropped.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not taken its whole answer within this time is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The limits [`Server::bind`] serves with.
pub const LIMITS: Limits = Limits {
    max_connections: MAX_CONNECTIONS,
    read_timeout: READ_TIMEOUT,
    write_timeout: WRITE_TIMEOUT,
};
/// How long requests still being handled may finish after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound, not yet serving, control socket.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    limits: Limits,
    slots: Slots,
}

impl Server {
    /// Binds the control socket at `path`; call it inside a tokio runtime.
    ///
    /// Creates the parent directory (mode 0700) if it is missing. If `path` exists and a
    /// controller answers on it, fails with [`Error::InUse`]; if nothing answers (the
    /// socket of a killed controller), replaces it. The socket file is made mode 0600: only
    /// root (the daemon's user) can talk to the controller. It serves with [`LIMITS`].
    pub fn bind(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|source| Error::CreateDir {
                    path: parent.to_owned(),
                    source,
                })?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(Error::NotASocket {
                    path: path.to_owned(),
                });
            }
            Ok(_) => {
                match std::os::unix::net::UnixStream::connect(path) {
                    Ok(_) => {
                        return Err(Error::InUse {
                            path: path.to_owned(),
                        });
                    }
                    // Nobody listens: the socket of a killed controller.
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                    // Anything else may hide a live controller: leave its socket alone.
                    Err(source) => {
                        return Err(Error::Socket {
                            action: "probe the existing",
                            path: path.to_owned(),
                            source,
                        });
                    }
                }
                debug!(path = %path.display(), "replacing the stale control socket");
                std::fs::remove_file(path).map_err(|source| Error::Socket {
                    action: "remove the stale",
                    path: path.to_owned(),
                    source,
                })?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Socket {
                    action: "inspect",
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let listener = UnixListener::bind(path).map_err(|source| Error::Socket {
            action: "bind",
            path: path.to_owned(),
            source,
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| Error::Socket {
                action: "restrict (chmod 0600)",
                path: path.to_owned(),
                source,
            },
        )?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            limits: LIMITS,
            slots: Slots::new(LIMITS.max_connections),
        })
    }

    /// The same server with other limits (tests use small ones).
    pub fn with_limits(self, limits: Limits) -> Self {
        Self {
            slots: Slots::new(limits.max_connections),
            limits,
            ..self
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection slots, to see how many connections are open.
    pub fn slots(&self) -> Slots {
        self.slots.clone()
    }

    /// Serves until `shutdown` resolves, each connection in its own task; then lets
    /// requests being handled finish (a few seconds at most) and removes the socket file.
    pub async fn run(self, handler: Arc<dyn Handler>, shutdown: impl Future<Output = ()>) {
        let limits = self.limits;
        let mut connections =
            accept::run(&self.listener, &self.slots, "control", shutdown, |stream| {
                serve(stream, handler.clone(), limits)
            })
            .await;
        drop(self.listener);
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != ErrorKind::NotFound
        {
            warn!(%error, path = %self.path.display(), "removing the control socket failed");
        }
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            connections.shutdown().await;
        }
    }
}

/// Reads one request line, answers it, closes.
async fn serve(stream: UnixStream, handler: Arc<dyn Handler>, limits: Limits) {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST as u64 + 1);
    let read = tokio::time::timeout(limits.read_timeout, reader.read_until(b'\n', &mut line));
    let response = match read.await {
        Err(_) => {
            debug!("a control client sent no request in time");
            return;
        }
        Ok(Err(error)) => {
            debug!(%error, "reading a control request failed");
            return;
        }
        Ok(Ok(0)) => return,
        Ok(Ok(_)) => match parse(&line) {
            Ok(request) => handler.handle(request).await,
            Err(message) => Response::Error { message },
        },
    };
    // The answer goes out scrubbed: gate evidence, reasons and errors may quote the engine.
    let mut answer = serde_json::to_vec(&crate::redact::to_json(&response)).unwrap_or_default();
    answer.push(b'\n');
    let written = tokio::time::timeout(limits.write_timeout, async {
        write.write_all(&answer).await?;
        write.shutdown().await
    });
    match written.await {
        Err(_) => debug!("a control client took no answer in time"),
        Ok(Err(error)) => debug!(%error, "writing a control response failed"),
        Ok(Ok(())) => {}
    }
}

/// The request in `line`, or a message saying what is wrong with it.
fn parse(line: &[u8]) -> std::result::Result<Request, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!(
            "the request is longer than {} KiB; send one JSON request per line",
            MAX_REQUEST >> 10
        ));
    }
    let text = std::str::from_utf8(line)
        .map_err(|_| "the request is not UTF-8; send one JSON request per line".to_owned())?;
    serde_json::from_str(text.trim_end()).map_err(|err| {
        format!(
            "cannot read the request ({err}); send one JSON object per line, for example \
             {{\"command\":\"status\",\"selector\":{{\"project\":\"shop\",\"service\":\"web\"}}}}"
        )
    })
}

#[cfg(test)]
mod tests;
