//! The daemon's HTTP endpoints: `/metrics` (OpenMetrics text), `/healthz` (alive),
//! `/readyz` (the first desired load and the first full list of the engine are done, and
//! the engine is reachable now) and
//! `/status` (JSON, see [`crate::status`]).
//!
//! Served with hyper's HTTP/1 server (already in the build through bollard), which gives
//! keep-alive and pipelining. Routing is a plain function, [`respond`], so every route is
//! tested without a socket as well as through one.
//!
//! Clients cannot take the descriptors the reconcile loop needs: at most
//! [`MAX_CONNECTIONS`] connections are served at once (up to 1024 more wait in the listen backlog,
//! see [`crate::accept`]), a connection that sends no request head within
//! [`HEADER_TIMEOUT`] is closed (a keep-alive connection idle that long too), and so is one
//! that reads nothing of its response for [`WRITE_TIMEOUT`].
//!
//! Bodies go out through [`crate::redact`]: no secret value reaches a scraper or `/status`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket};
use tracing::debug;

use crate::accept::{self, Limits, Slots, WriteTimeout};
use crate::metrics::Telemetry;
use crate::redact;
use crate::status;

/// Content type of `/metrics`.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Connections served at once. Prometheus keeps one open, a health check opens one now and
/// then; 64 leaves room for them and for people with curl, while bounding the descriptors
/// clients can take (the daemon's whole need stays in the hundreds, see
/// `systemd/composectl.service`, `LimitNOFILE=`).
pub const MAX_CONNECTIONS: usize = 64;
/// A connection that sends no complete request head within this time is closed: a slow
/// client, and a keep-alive connection idle this long after its last response.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that reads nothing of its response for this long is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections the kernel completes and queues while every slot is taken (capped by
/// `net.core.somaxconn`). std's and tokio's 128 would turn a burst of a few hundred
/// clients into dropped SYNs and retransmits seconds apart; queued, each waits its turn.
const BACKLOG: u32 = 1024;
/// The limits [`Server::bind`] serves with.
pub const LIMITS: Limits = Limits {
    max_connections: MAX_CONNECTIONS,
    read_timeout: HEADER_TIMEOUT,
    write_timeout: WRITE_TIMEOUT,
};

/// Errors of the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr} (--listen / COMPOSECTL_LISTEN): {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A bound, not yet serving, HTTP server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    telemetry: Telemetry,
    limits: Limits,
    slots: Slots,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port, see [`Server::local_addr`]), to serve with
    /// [`LIMITS`].
    pub async fn bind(addr: SocketAddr, telemetry: Telemetry) -> Result<Self> {
        let listener = listen(addr).map_err(|source| Error::Bind { addr, source })?;
        Ok(Self {
            listener,
            telemetry,
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

    /// The connection slots, to see how many connections are open.
    pub fn slots(&self) -> Slots {
        self.slots.clone()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves until `shutdown` resolves, each connection in its own task; open connections
    /// are dropped then.
    pub async fn run(self, shutdown: impl Future) {
        let Self {
            listener,
            telemetry,
            limits,
            slots,
        } = self;
        let mut open = accept::run(&listener, &slots, "http", shutdown, |(stream, peer)| {
            serve(stream, peer, telemetry.clone(), limits)
        })
        .await;
        open.shutdown().await;
    }
}

/// A listening socket on `addr` with a backlog of [`BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As std and tokio do: a restarted daemon rebinds its port at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn serve(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    telemetry: Telemetry,
    limits: Limits,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = respond(&telemetry, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let stream = WriteTimeout::new(stream, limits.write_timeout);
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = served {
        debug!(%peer, %error, "HTTP connection ended with an error");
    }
}

/// The response to `method path`.
pub fn respond(telemetry: &Telemetry, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match path {
        "/metrics" => {
            let metrics = telemetry.encode();
            with_type(
                StatusCode::OK,
                OPENMETRICS,
                redact::text(&metrics).into_owned(),
            )
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if telemetry.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" if !telemetry.engine_reachable() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the Docker engine is unreachable (its event stream is lost); waiting for it to come back\n",
        ),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the first desired load and the first list of the engine\n",
        ),
        "/status" => match status::current(telemetry) {
            Some(document) => {
                let json =
                    serde_json::to_string_pretty(&redact::to_json(&document)).unwrap_or_default();
                with_type(StatusCode::OK, "application/json", json + "\n")
            }
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the controller is not running\n",
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /healthz, /readyz or /status\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", body.to_owned())
}

fn with_type(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let value = HeaderValue::from_str(content_type).expect("content types are valid headers");
    response.headers_mut().insert(CONTENT_TYPE, value);
    response
}

#[cfg(test)]
mod tests;
