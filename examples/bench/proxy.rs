//! The counting proxy: a Unix socket that forwards every connection byte for byte to the
//! engine's socket and records each HTTP request it carries (time, method, target). Every
//! tool measured through it (composectl's binary, docker-compose) is counted the same way.
//!
//! Plain threads, not tasks: the proxy's timestamps must not wait behind the benchmark's
//! own async work, and a blocking copy per direction is the simplest faithful forwarder.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Result, io};
use crate::request::{Parser, endpoint, is_write};

/// One request seen by the proxy.
#[derive(Debug, Clone)]
pub struct Request {
    /// When its head was complete.
    pub at: Instant,
    /// The same moment on the wall clock (to compare with the engine's event times).
    pub wall: SystemTime,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, query included.
    pub target: String,
}

impl Request {
    /// True when the request changes engine state.
    pub fn is_write(&self) -> bool {
        is_write(&self.method)
    }

    /// The endpoint with IDs elided (`GET /containers/{id}/json`).
    pub fn endpoint(&self) -> String {
        endpoint(&self.method, &self.target)
    }
}

type Log = Arc<Mutex<Vec<Request>>>;

/// A running proxy; the socket file is removed on drop.
pub struct Proxy {
    path: PathBuf,
    log: Log,
}

impl Proxy {
    /// Listens on `path` and forwards to the engine socket `upstream`.
    pub fn start(path: &Path, upstream: &Path) -> Result<Self> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(io(format!("bind {}", path.display())))?;
        let log = Log::default();
        let (accept_log, upstream) = (log.clone(), upstream.to_owned());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (log, upstream) = (accept_log.clone(), upstream.clone());
                thread::spawn(move || forward(client, &upstream, &log));
            }
        });
        Ok(Self {
            path: path.to_owned(),
            log,
        })
    }

    /// The `DOCKER_HOST` value that points a client at the proxy.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The number of requests seen so far: a mark for [`Self::since`].
    pub fn mark(&self) -> usize {
        self.lock().len()
    }

    /// Every request seen after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Request> {
        self.lock()[mark..].to_vec()
    }

    /// The first request after `mark` that satisfies `pred`, waiting up to `timeout`.
    pub async fn wait_for(
        &self,
        mark: usize,
        timeout: Duration,
        pred: impl Fn(&Request) -> bool,
    ) -> Option<Request> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(found) = self.lock()[mark..].iter().find(|r| pred(r)) {
                return Some(found.clone());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        None
    }

    /// Waits until no request has arrived for `quiet` (true), or `timeout` passed (false).
    pub async fn wait_quiet(&self, quiet: Duration, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            let last = self.lock().last().map_or(start, |r| r.at.max(start));
            if last.elapsed() >= quiet {
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Request>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Serves one client connection until either side closes it.
fn forward(mut client: UnixStream, upstream: &Path, log: &Log) {
    let Ok(mut engine) = UnixStream::connect(upstream) else {
        return;
    };
    let (Ok(mut engine_out), Ok(mut client_in)) = (engine.try_clone(), client.try_clone()) else {
        return;
    };
    let answers = thread::spawn(move || {
        let _ = std::io::copy(&mut engine_out, &mut client_in);
        let _ = client_in.shutdown(Shutdown::Write);
    });
    let mut parser = Parser::default();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (now, wall) = (Instant::now(), composectl::clock::system_time());
        parser.feed(&buf[..n], &mut |method, target| {
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Request {
                    at: now,
                    wall,
                    method: method.to_owned(),
                    target: target.to_owned(),
                });
        });
        if engine.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = engine.shutdown(Shutdown::Write);
    let _ = answers.join();
}
