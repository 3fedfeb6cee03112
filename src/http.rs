//! The daemon's HTTP endpoints: `/metrics` (OpenMetrics text), `/healthz` (alive),
//! `/readyz` (the first desired load and the first full list of the engine are done, and
//! the engine is reachable now) and
//! `/status` (JSON, see [`crate::status`]).
//!
//! Served with hyper's HTTP/1 server (already in the build through bollard), which gives
//! keep-alive, pipelining and a header read timeout for free. Routing is a plain function,
//! [`respond`], so every route is tested without a socket as well as through one.

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
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::metrics::Telemetry;
use crate::status;

/// Content type of `/metrics`.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// A client that sends no complete request head within this time is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

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
}

impl Server {
    /// Binds `addr` (port 0 picks a free port, see [`Server::local_addr`]).
    pub async fn bind(addr: SocketAddr, telemetry: Telemetry) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        Ok(Self {
            listener,
            telemetry,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves until `shutdown` resolves; open connections are dropped then.
    pub async fn run(self, shutdown: impl Future) {
        tokio::pin!(shutdown);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let telemetry = self.telemetry.clone();
                        connections.spawn(serve(stream, peer, telemetry));
                    }
                    Err(error) => {
                        warn!(%error, "accepting an HTTP connection failed");
                        tokio::time::sleep(ACCEPT_PAUSE).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.shutdown().await;
    }
}

async fn serve(stream: tokio::net::TcpStream, peer: SocketAddr, telemetry: Telemetry) {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = respond(&telemetry, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
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
        "/metrics" => with_type(StatusCode::OK, OPENMETRICS, telemetry.encode()),
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
                let json = serde_json::to_string_pretty(&document)
                    .expect("the status document serializes");
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
