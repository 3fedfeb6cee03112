//! [`Load`]: a bounded HTTP load generator for the traffic tests. Worker threads send
//! `GET /` (HTTP/1.1, a new connection each, `Connection: close`) to one address at a fixed
//! total rate, each request bounded by short timeouts, and record every request: when it
//! was sent, how long it took, and its outcome (the status, the version the demo app
//! reported, the upstream addresses nginx tried) or the I/O error. [`LoadReport`] counts
//! successes and failures, and the share of a version over a time window.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one read or write may wait: nginx's worst case with the traffic tests'
/// configuration is three connect timeouts of 1 s.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The most bytes of a response kept (the demo app's answers are a few dozen).
const MAX_RESPONSE: u64 = 64 * 1024;

/// One request and what came of it.
#[derive(Debug, Clone)]
pub struct Request {
    /// When it was sent.
    pub sent: Instant,
    /// How long until the response was read (or the error happened).
    pub latency: Duration,
    /// What came back.
    pub outcome: Outcome,
}

impl Request {
    /// A 2xx response.
    pub fn succeeded(&self) -> bool {
        matches!(&self.outcome, Outcome::Response { status, .. } if (200..300).contains(status))
    }

    /// The version a 2xx response names (the last word of the demo app's body).
    pub fn version(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Response { status, body, .. } if (200..300).contains(status) => {
                body.split_whitespace().last()
            }
            _ => None,
        }
    }

    /// The `X-Upstream` header nginx added: every address it tried, comma-separated.
    pub fn upstream(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Response { upstream, .. } => upstream.as_deref(),
            Outcome::Error(_) => None,
        }
    }

    /// Whether nginx tried more than one upstream address for it.
    pub fn retried(&self) -> bool {
        self.upstream().is_some_and(|u| u.contains(','))
    }
}

/// What a request got.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A complete HTTP response.
    Response {
        /// Its status code.
        status: u16,
        /// The `X-Upstream` header, if present.
        upstream: Option<String>,
        /// The body, trimmed.
        body: String,
    },
    /// No response: the I/O error, or what was wrong with the bytes that came back.
    Error(String),
}

/// Sends `GET /` to one address at a fixed rate until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    workers: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Load {
    /// Starts `workers` threads that together send `rate` requests per second to `addr`.
    /// A worker that falls behind (a slow request) does not send a burst to catch up.
    pub fn start(addr: SocketAddr, rate: u32, workers: u32) -> Self {
        assert!(rate > 0 && workers > 0, "a rate and workers are needed");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let interval = Duration::from_secs_f64(f64::from(workers) / f64::from(rate));
        let count = workers;
        let workers = (0..count)
            .map(|n| {
                let (stop, requests) = (stop.clone(), requests.clone());
                // Spread the workers' first requests over one interval.
                let first = started + interval * n / count;
                std::thread::spawn(move || {
                    let mut next = first;
                    while !stop.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        let request = get_root(addr);
                        composectl::sync::lock(&requests).push(request);
                        next = (next + interval).max(Instant::now());
                    }
                })
            })
            .collect();
        Self {
            stop,
            requests,
            workers,
            started,
        }
    }

    /// When the load started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The requests completed so far.
    pub fn snapshot(&self) -> Vec<Request> {
        composectl::sync::lock(&self.requests).clone()
    }

    /// Stops the workers (each finishes its request in flight) and reports.
    pub fn stop(mut self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        let mut requests = std::mem::take(&mut *composectl::sync::lock(&self.requests));
        requests.sort_by_key(|r| r.sent);
        LoadReport {
            started: self.started,
            duration: self.started.elapsed(),
            requests,
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Every request of a [`Load`], oldest first.
#[derive(Debug)]
pub struct LoadReport {
    /// When the load started.
    pub started: Instant,
    /// How long it ran.
    pub duration: Duration,
    /// The requests, by the time they were sent.
    pub requests: Vec<Request>,
}

impl LoadReport {
    /// The requests that failed: a non-2xx status or no response.
    pub fn failures(&self) -> Vec<&Request> {
        self.requests.iter().filter(|r| !r.succeeded()).collect()
    }

    /// Requests sent per second, over the whole run.
    pub fn rate(&self) -> f64 {
        self.requests.len() as f64 / self.duration.as_secs_f64().max(0.001)
    }

    /// The requests sent in `from..to`.
    pub fn between(&self, from: Instant, to: Instant) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|r| r.sent >= from && r.sent < to)
            .collect()
    }

    /// Of the requests sent in `from..to`: how many `version` answered, and how many
    /// there were.
    pub fn share(&self, version: &str, from: Instant, to: Instant) -> (usize, usize) {
        let window = self.between(from, to);
        let by = window
            .iter()
            .filter(|r| r.version() == Some(version))
            .count();
        (by, window.len())
    }

    /// The upstream addresses that answered the requests sent in `from..to` at the first
    /// try (nginx's `X-Upstream` without a retry).
    pub fn upstreams_between(&self, from: Instant, to: Instant) -> BTreeSet<&str> {
        self.between(from, to)
            .into_iter()
            .filter(|r| r.succeeded() && !r.retried())
            .filter_map(Request::upstream)
            .collect()
    }

    /// How many requests nginx sent to more than one upstream address.
    pub fn retried(&self) -> usize {
        self.requests.iter().filter(|r| r.retried()).count()
    }

    /// The slowest request's latency.
    pub fn max_latency(&self) -> Duration {
        self.requests
            .iter()
            .map(|r| r.latency)
            .max()
            .unwrap_or_default()
    }

    /// One line: requests, failures, rate, retries, the slowest latency.
    pub fn summary(&self) -> String {
        format!(
            "{} requests in {:.1} s ({:.0}/s), {} failed, {} retried by nginx, slowest {} ms",
            self.requests.len(),
            self.duration.as_secs_f64(),
            self.rate(),
            self.failures().len(),
            self.retried(),
            self.max_latency().as_millis()
        )
    }

    /// The first 20 failed requests: when (since the start), how long each took, what came
    /// back (a body cut to 80 characters); and how many more failed.
    pub fn describe_failures(&self) -> String {
        const SHOWN: usize = 20;
        let failures = self.failures();
        let mut out: String = failures
            .iter()
            .take(SHOWN)
            .map(|r| {
                let what = match &r.outcome {
                    Outcome::Response {
                        status,
                        upstream,
                        body,
                    } => {
                        let body: String = body.chars().take(80).collect();
                        format!("status {status}, upstream {upstream:?}, body {body:?}")
                    }
                    Outcome::Error(e) => e.clone(),
                };
                format!(
                    "  at {:>7.3} s after {} ms: {what}\n",
                    (r.sent - self.started).as_secs_f64(),
                    r.latency.as_millis()
                )
            })
            .collect();
        if failures.len() > SHOWN {
            out += &format!("  ... and {} more\n", failures.len() - SHOWN);
        }
        out
    }
}

/// One `GET /` to `addr` on a new connection, bounded by the load's timeouts.
pub fn get_root(addr: SocketAddr) -> Request {
    let sent = Instant::now();
    let outcome = match exchange(addr) {
        Ok(raw) => parse(&raw),
        Err(e) => Outcome::Error(format!("{:?}: {e}", e.kind())),
    };
    Request {
        sent,
        latency: sent.elapsed(),
        outcome,
    }
}

fn exchange(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut raw)?;
    Ok(raw)
}

/// Parses a complete `Connection: close` response: status, `X-Upstream`, body.
fn parse(raw: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Outcome::Error(format!("an incomplete response: {text:?}"));
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    let Some(status) = status else {
        return Outcome::Error(format!("no status line: {head:?}"));
    };
    let upstream = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("x-upstream"))
        .map(|(_, value)| value.trim().to_owned());
    Outcome::Response {
        status,
        upstream,
        body: body.trim().to_owned(),
    }
}
