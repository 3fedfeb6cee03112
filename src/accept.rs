//! Bounded serving of connections, shared by the HTTP server ([`crate::http`]) and the
//! control socket ([`crate::control::server`]).
//!
//! Every open connection costs a file descriptor, and descriptors are what the reconcile
//! loop needs too: connections to the Docker socket, the files of the desired directory,
//! the pipes of an `exec` gate. So [`run`] serves at most [`Limits::max_connections`]
//! connections at once. When every slot is taken it stops accepting, and further clients
//! wait in the kernel's listen backlog, where they cost the daemon nothing; each accepted
//! connection runs in its own task and holds its slot until it ends. A failed accept
//! (`EMFILE`, `ENFILE`, `ECONNABORTED`, ...) neither ends the loop nor spins it: the loop
//! pauses [`ACCEPT_PAUSE`] and tries again, logging the first failure of a streak and the
//! recovery, not every attempt.
//!
//! Each server also bounds the time a client may hold its slot without doing its part:
//! [`Limits::read_timeout`] for sending a request, [`Limits::write_timeout`] for reading
//! the answer ([`WriteTimeout`] enforces the latter for a byte stream).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tracing::{debug, info, warn};

/// Pause after a failed accept (out of file descriptors, a connection aborted before it
/// was accepted), so the loop neither ends nor spins.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// The warning that every slot is taken is repeated at most this often.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// How much of the daemon one server's clients may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once (at least one); more wait in the listen backlog.
    pub max_connections: usize,
    /// A client that sends no complete request within this time is dropped.
    pub read_timeout: Duration,
    /// A client that reads nothing of its answer for this long is dropped.
    pub write_timeout: Duration,
}

/// A listening socket [`run`] can accept from.
pub trait Listener: Send + Sync {
    /// What one accept yields.
    type Stream: Send + 'static;

    /// Accepts one connection; cancel safe.
    fn accept_one(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

impl Listener for TcpListener {
    type Stream = (TcpStream, std::net::SocketAddr);

    fn accept_one(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        self.accept()
    }
}

impl Listener for UnixListener {
    type Stream = UnixStream;

    async fn accept_one(&self) -> io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// The connection slots of one server; clones share them.
#[derive(Debug, Clone)]
pub struct Slots {
    semaphore: Arc<Semaphore>,
    max: usize,
    /// Connections holding a slot (the loop also holds one while it waits to accept).
    open: Arc<AtomicUsize>,
}

/// One connection's slot, given back on drop.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    /// `max` slots (at least one: a server that accepts nothing is no server).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many slots there are.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many connections hold a slot now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// `permit`, now held by an accepted connection.
    fn take(&self, permit: OwnedSemaphorePermit) -> Slot {
        self.open.fetch_add(1, Ordering::SeqCst);
        Slot {
            _permit: permit,
            open: self.open.clone(),
        }
    }
}

/// Accepts from `listener` until `shutdown` resolves, serving each connection with
/// `serve` in its own task while it holds one of `slots`. Returns the connections still
/// open, for the caller to drain or drop. `what` names the server in the log.
pub async fn run<L, F, C>(
    listener: &L,
    slots: &Slots,
    what: &'static str,
    shutdown: impl Future,
    mut serve: F,
) -> JoinSet<()>
where
    L: Listener,
    F: FnMut(L::Stream) -> C,
    C: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let mut connections = JoinSet::new();
    let mut log = AcceptLog::new(what);
    loop {
        if slots.semaphore.available_permits() == 0 {
            log.full(slots);
        }
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = next(listener, slots) => match accepted {
                Ok((stream, permit)) => {
                    log.accepted();
                    let slot = slots.take(permit);
                    let connection = serve(stream);
                    connections.spawn(async move {
                        connection.await;
                        drop(slot);
                    });
                }
                Err(error) => {
                    log.failed(&error);
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
            },
        }
    }
    connections
}

/// Waits for a free slot, then for a connection.
async fn next<L: Listener>(
    listener: &L,
    slots: &Slots,
) -> io::Result<(L::Stream, OwnedSemaphorePermit)> {
    let permit = slots
        .semaphore
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("the connection slots are closed"))?;
    let stream = listener.accept_one().await?;
    Ok((stream, permit))
}

/// What the accept loop says, and how often.
struct AcceptLog {
    what: &'static str,
    /// Accepts failed in a row.
    failures: u64,
    /// When every slot was last reported taken.
    warned_full: Option<Instant>,
}

impl AcceptLog {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            failures: 0,
            warned_full: None,
        }
    }

    fn accepted(&mut self) {
        if self.failures > 0 {
            info!(
                server = self.what,
                failed = self.failures,
                "accepting connections again"
            );
            self.failures = 0;
        }
    }

    fn failed(&mut self, error: &io::Error) {
        if self.failures == 0 {
            warn!(
                server = self.what,
                %error,
                "accepting a connection failed; retrying every {}ms",
                ACCEPT_PAUSE.as_millis()
            );
        } else {
            debug!(server = self.what, %error, "accepting a connection failed again");
        }
        self.failures += 1;
    }

    fn full(&mut self, slots: &Slots) {
        let now = Instant::now();
        if self
            .warned_full
            .is_some_and(|at| now.duration_since(at) < FULL_WARNING_EVERY)
        {
            return;
        }
        self.warned_full = Some(now);
        warn!(
            server = self.what,
            slots = slots.max(),
            "every connection slot is taken; new clients wait until one closes"
        );
    }
}

/// A byte stream whose writes fail with [`io::ErrorKind::TimedOut`] once they have made no
/// progress for a while: the peer reads nothing of what it is sent. Reads pass through
/// unbounded (an idle keep-alive connection is bounded by the server's read timeout).
#[derive(Debug)]
pub struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    /// Runs while a write is pending; reset by every write that makes progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteTimeout<T> {
    /// Wraps `inner`, whose writes may stall at most `timeout`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// Passes a ready result through, and turns a pending one into an error once the
    /// stall has lasted the timeout.
    fn bound<R>(
        &mut self,
        polled: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.stalled = None;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the peer read nothing for {}s", timeout.as_secs_f64()),
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.bound(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.bound(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.bound(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.bound(polled, cx)
    }
}

#[cfg(test)]
mod tests;
