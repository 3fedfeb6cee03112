//! The local control API: a unix socket, readable by root only, over which
//! `composectl rollout ...` talks to the running controller.
//!
//! [`protocol`] holds the messages; [`server`] accepts connections and hands each request
//! to a [`Handler`] (the controller implements it); [`client`] is the CLI's side.

use std::future::Future;
use std::pin::Pin;

pub mod client;
pub mod protocol;
pub mod server;

pub use protocol::{Request, Response, Selector};

/// The file name of the socket inside the state directory.
pub const SOCKET_NAME: &str = "control.sock";

/// The future a [`Handler`] returns.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Response> + Send + 'a>>;

/// Answers control requests (the controller).
pub trait Handler: Send + Sync + 'static {
    /// Carries out `request` and answers it. Never panics: a request that cannot be
    /// carried out is a [`Response::Error`] that says what to do instead.
    fn handle(&self, request: Request) -> HandlerFuture<'_>;
}
