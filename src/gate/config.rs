//! The gate configuration: the `x-rollout.gates` entries, read from the JSON the desired
//! state keeps extensions in.
//!
//! Every entry has a `type` and that type's keys; unknown keys are errors (a typo must not
//! silently weaken a gate), and every error names the key. Durations are written as compose
//! writes them (`2s`, `500ms`, `1m30s`). Templates are checked for unknown placeholders
//! here, not when the gate first runs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{Error, Result, template};
use crate::desired::convert::units::parse_duration;
use crate::redact::Url;

/// One configured gate.
#[derive(Debug, Clone, PartialEq)]
pub enum GateConfig {
    /// `{type: docker_health}`: the container's `HEALTHCHECK` status.
    DockerHealth,
    /// `{type: http, url, expect_status, timeout, successes, failures}`.
    Http(HttpConfig),
    /// `{type: prometheus, url, query, max | min, interval, failure_limit, no_data, timeout}`.
    Prometheus(PrometheusConfig),
    /// `{type: scrape, url, metric, bad, max_ratio, min_requests, timeout}`.
    Scrape(ScrapeConfig),
    /// `{type: exec, command, timeout}`.
    Exec(ExecConfig),
}

/// The HTTP probe.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// URL template (`http://{ip}:8080/healthz`); a userinfo is sent as basic auth.
    pub url: Url,
    /// The status that counts as success (200).
    pub expect_status: u16,
    /// Per-request timeout (2s).
    pub timeout: Duration,
    /// Consecutive successes needed to pass (3).
    pub successes: u32,
    /// Consecutive failures that fail the gate (3).
    pub failures: u32,
}

/// What a Prometheus query that returns nothing (or NaN) counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoData {
    /// A failing evaluation (the default: a silent target is not a healthy one).
    #[default]
    Fail,
    /// A passing evaluation.
    Pass,
    /// Neither: wait for data.
    NotYet,
}

/// The Prometheus query gate.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    /// The server's base URL (`http://127.0.0.1:9090`); a userinfo is sent as basic auth.
    pub url: Url,
    /// PromQL template.
    pub query: String,
    /// The value must be at most this.
    pub max: Option<f64>,
    /// The value must be at least this.
    pub min: Option<f64>,
    /// Time between two queries (10s); evaluations in between repeat the last verdict.
    pub interval: Duration,
    /// Failing evaluations that fail the gate (1).
    pub failure_limit: u32,
    /// What no data counts as.
    pub no_data: NoData,
    /// Per-request timeout (5s).
    pub timeout: Duration,
}

/// The direct scrape gate.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// URL template of the target's metrics (`http://{ip}:8080/metrics`); a userinfo is
    /// sent as basic auth.
    pub url: Url,
    /// The counter, every series of which counts as "all".
    pub metric: String,
    /// Label patterns a series must match to count as "bad" (`status: "5.."`).
    pub bad: BTreeMap<String, String>,
    /// The gate fails above this ratio of bad over all.
    pub max_ratio: f64,
    /// Requests needed (since the baseline) before the ratio means anything (10).
    pub min_requests: u64,
    /// Per-request timeout (5s).
    pub timeout: Duration,
}

/// The exec gate.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecConfig {
    /// Program and arguments, each a template.
    pub command: Vec<String>,
    /// Time the command may take (10s); after it, it is killed and the gate fails.
    pub timeout: Duration,
}

impl GateConfig {
    /// The gate's type as configured (`docker_health`, `http`, `prometheus`, `scrape`,
    /// `exec`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DockerHealth => "docker_health",
            Self::Http(_) => "http",
            Self::Prometheus(_) => "prometheus",
            Self::Scrape(_) => "scrape",
            Self::Exec(_) => "exec",
        }
    }

    /// Reads the `gates` list; errors name the entry and key (`gates[1].url`).
    pub fn parse_list(value: &Value) -> Result<Vec<Self>> {
        let entries = value.as_array().ok_or_else(|| Error::Config {
            key: "gates".into(),
            message: "must be a list of gates".into(),
        })?;
        entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                Self::from_json(entry).map_err(|e| match e {
                    Error::Config { key, message } => Error::Config {
                        key: format!("gates[{i}].{key}"),
                        message,
                    },
                    other => other,
                })
            })
            .collect()
    }

    /// Reads one gate entry.
    pub fn from_json(value: &Value) -> Result<Self> {
        let map = value.as_object().ok_or_else(|| Error::Config {
            key: "type".into(),
            message: "a gate is a mapping with a type, such as {type: http, url: ...}".into(),
        })?;
        let mut f = Fields::new(map);
        let kind = f.string("type")?;
        let config = match kind.as_str() {
            "docker_health" => Self::DockerHealth,
            "http" => Self::Http(http(&mut f)?),
            "prometheus" => Self::Prometheus(prometheus(&mut f)?),
            "scrape" => Self::Scrape(scrape(&mut f)?),
            "exec" => Self::Exec(exec(&mut f)?),
            other => {
                return Err(Error::Config {
                    key: "type".into(),
                    message: format!(
                        "unknown gate type {other:?}; use docker_health, http, prometheus, scrape or exec"
                    ),
                });
            }
        };
        f.finish()?;
        Ok(config)
    }
}

impl<'de> Deserialize<'de> for GateConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_json(&value).map_err(serde::de::Error::custom)
    }
}

fn http(f: &mut Fields) -> Result<HttpConfig> {
    let expect_status = f.opt_u64("expect_status")?.unwrap_or(200);
    Ok(HttpConfig {
        url: f.url("url")?,
        expect_status: u16::try_from(expect_status)
            .ok()
            .filter(|s| (100..600).contains(s))
            .ok_or_else(|| f.error("expect_status", "must be an HTTP status (100 to 599)"))?,
        timeout: f.duration("timeout", Duration::from_secs(2))?,
        successes: f.count("successes", 3)?,
        failures: f.count("failures", 3)?,
    })
}

fn prometheus(f: &mut Fields) -> Result<PrometheusConfig> {
    let url = f.url("url")?;
    let query = f.string("query")?;
    template::check(&query, "query")?;
    let (max, min) = (f.opt_f64("max")?, f.opt_f64("min")?);
    if max.is_none() && min.is_none() {
        return Err(f.error("max", "a prometheus gate needs max or min (or both)"));
    }
    let no_data = match f.opt_string("no_data")?.as_deref() {
        None | Some("fail") => NoData::Fail,
        Some("pass") => NoData::Pass,
        Some("not_yet") => NoData::NotYet,
        Some(other) => {
            let message = format!("is {other:?}; use fail, pass or not_yet");
            return Err(f.error("no_data", &message));
        }
    };
    Ok(PrometheusConfig {
        url,
        query,
        max,
        min,
        interval: f.duration("interval", Duration::from_secs(10))?,
        failure_limit: f.count("failure_limit", 1)?,
        no_data,
        timeout: f.duration("timeout", Duration::from_secs(5))?,
    })
}

fn scrape(f: &mut Fields) -> Result<ScrapeConfig> {
    let url = f.url("url")?;
    let metric = f.string("metric")?;
    let bad = match f.take("bad") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(f.error(&format!("bad.{k}"), "must be a string pattern")),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(f.error("bad", "must be a mapping of label to pattern")),
        None => return Err(f.error("bad", "is required, such as bad: {status: \"5..\"}")),
    };
    let max_ratio = f
        .opt_f64("max_ratio")?
        .ok_or_else(|| f.error("max_ratio", "is required, such as max_ratio: 0.05"))?;
    Ok(ScrapeConfig {
        url,
        metric,
        bad,
        max_ratio,
        min_requests: f.opt_u64("min_requests")?.unwrap_or(10).max(1),
        timeout: f.duration("timeout", Duration::from_secs(5))?,
    })
}

fn exec(f: &mut Fields) -> Result<ExecConfig> {
    let command: Vec<String> = match f.take("command") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| f.error("command", "must be a list of strings"))?,
        Some(_) => {
            return Err(f.error(
                "command",
                "must be a list, such as [\"/bin/check\", \"{ip}\"]",
            ));
        }
        None => return Err(f.error("command", "is required")),
    };
    if command.is_empty() {
        return Err(f.error("command", "must name a program"));
    }
    for arg in &command {
        template::check(arg, "command")?;
    }
    Ok(ExecConfig {
        command,
        timeout: f.duration("timeout", Duration::from_secs(10))?,
    })
}

/// A gate entry's keys, read one by one; [`Fields::finish`] reports the unread ones.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    read: BTreeSet<&'a str>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            read: BTreeSet::new(),
        }
    }

    fn error(&self, key: &str, message: &str) -> Error {
        Error::Config {
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }

    fn take(&mut self, key: &str) -> Option<&'a Value> {
        let (k, v) = self.map.get_key_value(key)?;
        self.read.insert(k.as_str());
        Some(v).filter(|v| !v.is_null())
    }

    fn opt_string(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(key, "must be a string")),
        }
    }

    fn string(&mut self, key: &str) -> Result<String> {
        self.opt_string(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    fn url(&mut self, key: &str) -> Result<Url> {
        let url = Url::new(self.string(key)?);
        let text = url.expose();
        if !text.starts_with("http://") && !text.starts_with("https://") {
            return Err(self.error(
                key,
                "must be an http:// or https:// URL (https trusts the system's root certificates)",
            ));
        }
        template::check(url.expose(), key)?;
        Ok(url)
    }

    fn opt_f64(&mut self, key: &str) -> Result<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|n| n.is_finite())
                .map(Some)
                .ok_or_else(|| self.error(key, "must be a number")),
        }
    }

    fn opt_u64(&mut self, key: &str) -> Result<Option<u64>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(key, "must be a whole number")),
        }
    }

    fn count(&mut self, key: &str, default: u32) -> Result<u32> {
        match self.opt_u64(key)? {
            None => Ok(default),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| self.error(key, "must be a whole number of at least 1")),
        }
    }

    fn duration(&mut self, key: &str, default: Duration) -> Result<Duration> {
        let text = match self.take(key) {
            None => return Ok(default),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(self.error(key, "must be a duration such as 2s")),
        };
        let duration =
            parse_duration(&text).map_err(|e| self.error(key, &format!("{text:?} {e}")))?;
        if duration.is_zero() {
            return Err(self.error(key, "must be longer than zero"));
        }
        Ok(duration)
    }

    fn finish(self) -> Result<()> {
        match self.map.keys().find(|k| !self.read.contains(k.as_str())) {
            None => Ok(()),
            Some(key) => Err(self.error(key, "is not a key of this gate type")),
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
