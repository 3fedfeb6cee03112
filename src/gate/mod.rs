//! Health gates: the checks a rollout waits on before it trusts a new replica.
//!
//! A [`Gate`] looks at one [`Probe`] (a replica) and answers a [`Verdict`]: pass, fail or
//! not yet, always with [`Evidence`] a human can read. Gates keep state across evaluations
//! (consecutive successes, a scrape baseline, a failure count), so a rollout builds one
//! gate per target from its [`GateConfig`] and calls [`Gate::evaluate`] repeatedly during
//! the monitor window. A `Fail` is final for that target; `Pass` means "good as of now".
//!
//! The gates, one file each:
//! - [`docker_health`]: the container's own `HEALTHCHECK` status;
//! - [`http`]: an HTTP probe (expected status, timeout, consecutive successes);
//! - [`prometheus`]: a PromQL query against a Prometheus server, compared with a threshold;
//! - [`scrape`]: the replica's own `/metrics`, a ratio of counter deltas since a baseline;
//! - [`exec`]: a host command whose exit status decides.
//!
//! [`config`] reads the `x-rollout.gates` entries; [`template`] fills in `{container}`,
//! `{ip}`, `{port}`, `{number}`, `{service}` and `{project}`; [`client`] is the small HTTP/1.1
//! client the network gates share; [`exposition`] parses the Prometheus text format.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::runtime::ContainerRuntime;

pub mod client;
pub mod config;
pub mod docker_health;
pub mod exec;
pub mod exposition;
pub mod http;
pub mod prometheus;
pub mod scrape;
pub mod template;
pub mod tls;

pub use config::{GateConfig, NoData};
pub use template::render;

/// Errors of the gate module: configuration and templating mistakes, HTTP failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A gate entry is malformed; `key` names the offending key (`gates[1].url`, `max`...).
    #[error("{key}: {message}")]
    Config {
        /// The key (or `type` for the entry as a whole).
        key: String,
        /// What is wrong and how to write it instead.
        message: String,
    },
    /// A template names a placeholder the target has no value for (for example `{ip}` of a
    /// container that has no address yet).
    #[error("the target has no {placeholder} yet")]
    Missing {
        /// The placeholder, without braces.
        placeholder: &'static str,
    },
    /// An HTTP request failed before an answer came (URL, connection, timeout, protocol).
    #[error("{method} {url}: {message}")]
    Http {
        /// The method (`GET`, `POST`).
        method: &'static str,
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// Result alias of the gate module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a gate answered what it answered: a short sentence and, for numeric gates, the
/// measured value and the threshold it was compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// A short human sentence (`"5xx ratio 0.21 > 0.05 over 104 requests"`).
    pub message: String,
    /// The measured value, when there is one.
    pub value: Option<f64>,
    /// The threshold the value was compared with, when there is one.
    pub threshold: Option<f64>,
}

impl Evidence {
    /// Evidence with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            value: None,
            threshold: None,
        }
    }

    /// Evidence with a measured value and its threshold.
    pub fn measured(message: impl Into<String>, value: f64, threshold: f64) -> Self {
        Self {
            message: message.into(),
            value: Some(value),
            threshold: Some(threshold),
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A gate's answer for one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The target is good as of now.
    Pass(Evidence),
    /// The target is bad; final for this target (the rollout rolls back).
    Fail(Evidence),
    /// Not enough evidence yet (starting, too few requests, too few successes).
    NotYet(Evidence),
}

impl Verdict {
    /// The evidence, whatever the verdict.
    pub fn evidence(&self) -> &Evidence {
        match self {
            Self::Pass(e) | Self::Fail(e) | Self::NotYet(e) => e,
        }
    }

    /// `pass`, `fail` or `not yet`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Pass(_) => "pass",
            Self::Fail(_) => "fail",
            Self::NotYet(_) => "not yet",
        }
    }

    /// True for [`Verdict::Pass`].
    pub fn is_pass(&self) -> bool {
        matches!(self, Self::Pass(_))
    }

    /// True for [`Verdict::Fail`].
    pub fn is_fail(&self) -> bool {
        matches!(self, Self::Fail(_))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.label(), self.evidence())
    }
}

/// The replica a gate probes: its identity and the address it is reached on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Compose project.
    pub project: String,
    /// Service.
    pub service: String,
    /// Replica number (1-based).
    pub number: u32,
    /// Container name.
    pub container_name: String,
    /// The address the gates reach it on, once known.
    pub ip: Option<IpAddr>,
    /// The port the gates reach it on, when configured or published.
    pub port: Option<u16>,
}

/// The future a gate evaluation returns (boxed, so gates can be held as `Box<dyn Gate>`).
pub type GateFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// A health gate. One instance per target: it may keep state between evaluations.
pub trait Gate: Send + Sync {
    /// The gate's type as configured (`http`, `prometheus`, ...), for status output.
    fn kind(&self) -> &'static str;

    /// Evaluates the gate once for `target`. Never panics and never errors: a failure to
    /// measure is itself a verdict (usually not yet, or fail when the gate says so).
    fn evaluate<'a>(&'a mut self, target: &'a Probe) -> GateFuture<'a>;
}

impl GateConfig {
    /// Builds a fresh gate (with empty state) for one target; `runtime` serves the
    /// `docker_health` gate.
    pub fn build<R: ContainerRuntime>(&self, runtime: Arc<R>) -> Box<dyn Gate> {
        match self {
            Self::DockerHealth => Box::new(docker_health::DockerHealthGate::new(runtime)),
            Self::Http(c) => Box::new(http::HttpGate::new(c.clone())),
            Self::Prometheus(c) => Box::new(prometheus::PrometheusGate::new(c.clone())),
            Self::Scrape(c) => Box::new(scrape::ScrapeGate::new(c.clone())),
            Self::Exec(c) => Box::new(exec::ExecGate::new(c.clone())),
        }
    }
}
