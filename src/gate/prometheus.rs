//! The `prometheus` gate: a PromQL instant query against a Prometheus server's HTTP API
//! (`GET /api/v1/query`), its value compared with `max` and/or `min`.
//!
//! The query runs at most once per `interval`; an evaluation sooner repeats the last
//! verdict, so the rollout may poll as often as it likes. Each query is a passing or a
//! failing evaluation; failing ones add up over the window (they are not reset by passing
//! ones) and the gate fails, for good, at `failure_limit`. No data (an empty result, or
//! NaN such as 0/0) counts as `no_data` says: failing by default. A server that cannot be
//! reached or rejects the query is not yet: that says nothing about the target.

use serde_json::Value;
use tokio::time::Instant;

use super::config::{NoData, PrometheusConfig};
use super::{Evidence, Gate, GateFuture, Probe, Verdict, client, template};

/// The gate, its failing evaluations and its last verdict.
#[derive(Debug)]
pub struct PrometheusGate {
    config: PrometheusConfig,
    failures: u32,
    last: Option<(Instant, Verdict)>,
}

/// One query's outcome: `Ok` passing, `Err` failing; `None` for no data.
type Evaluation = Option<Result<Evidence, Evidence>>;

impl PrometheusGate {
    /// A gate with no evaluations yet.
    pub fn new(config: PrometheusConfig) -> Self {
        Self {
            config,
            failures: 0,
            last: None,
        }
    }

    async fn run(&mut self, target: &Probe) -> Verdict {
        if let Some((at, verdict)) = &self.last
            && (verdict.is_fail() || at.elapsed() < self.config.interval)
        {
            return verdict.clone();
        }
        let verdict = self.query(target).await;
        self.last = Some((Instant::now(), verdict.clone()));
        verdict
    }

    async fn query(&mut self, target: &Probe) -> Verdict {
        let query = match template::render(&self.config.query, target) {
            Ok(q) => q,
            Err(e) => return Verdict::NotYet(Evidence::new(e.to_string())),
        };
        let url = self.config.url.derive(format!(
            "{}/api/v1/query?query={}",
            self.config.url.expose().trim_end_matches('/'),
            client::encode_component(&query)
        ));
        let values = match client::get(&url, self.config.timeout).await {
            Ok(r) => {
                parse_values(&r.body).map_err(|e| format!("Prometheus answered {}: {e}", r.status))
            }
            Err(e) => Err(e.to_string()),
        };
        match values {
            Ok(values) => self.judge(&values),
            Err(e) => Verdict::NotYet(Evidence::new(e)),
        }
    }

    /// Turns one query's values into an evaluation and the evaluations so far into a verdict.
    fn judge(&mut self, values: &[f64]) -> Verdict {
        let outcome = match (evaluate(&self.config, values), self.config.no_data) {
            (Some(outcome), _) => outcome,
            (None, NoData::Pass) => Ok(Evidence::new("no data (counts as passing)")),
            (None, NoData::Fail) => Err(Evidence::new("no data")),
            (None, NoData::NotYet) => return Verdict::NotYet(Evidence::new("no data yet")),
        };
        match outcome {
            Ok(evidence) => Verdict::Pass(evidence),
            Err(mut evidence) => {
                self.failures += 1;
                let limit = self.config.failure_limit;
                evidence.message = format!(
                    "{}, failing evaluation {} of {limit} allowed",
                    evidence.message, self.failures
                );
                if self.failures >= limit {
                    Verdict::Fail(evidence)
                } else {
                    Verdict::NotYet(evidence)
                }
            }
        }
    }
}

impl Gate for PrometheusGate {
    fn kind(&self) -> &'static str {
        "prometheus"
    }

    fn evaluate<'a>(&'a mut self, target: &'a Probe) -> GateFuture<'a> {
        Box::pin(self.run(target))
    }
}

/// Compares every value with the thresholds; the first out of bounds decides, else the
/// one closest to a bound is the evidence.
fn evaluate(config: &PrometheusConfig, values: &[f64]) -> Evaluation {
    let values: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if values.is_empty() {
        return None;
    }
    if let Some(max) = config.max {
        let worst = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if worst > max {
            return Some(Err(Evidence::measured(
                format!("value {worst} > max {max}"),
                worst,
                max,
            )));
        }
    }
    if let Some(min) = config.min {
        let worst = values.iter().copied().fold(f64::INFINITY, f64::min);
        if worst < min {
            return Some(Err(Evidence::measured(
                format!("value {worst} < min {min}"),
                worst,
                min,
            )));
        }
    }
    let (value, message, threshold) = match (config.max, config.min) {
        (Some(max), _) => {
            let v = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (v, format!("value {v} <= max {max}"), max)
        }
        (None, Some(min)) => {
            let v = values.iter().copied().fold(f64::INFINITY, f64::min);
            (v, format!("value {v} >= min {min}"), min)
        }
        (None, None) => (values[0], format!("value {}", values[0]), f64::NAN),
    };
    Some(Ok(Evidence::measured(message, value, threshold)))
}

/// The values of a `/api/v1/query` answer: one per vector element, one for a scalar,
/// none for an empty vector. Matrix and string results are errors (the query must be an
/// instant vector or a scalar).
pub fn parse_values(body: &str) -> Result<Vec<f64>, String> {
    let json: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e})"))?;
    if json["status"] != "success" {
        let error = json["error"].as_str().unwrap_or("no error message");
        return Err(format!("query failed: {error}"));
    }
    let data = &json["data"];
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => result
            .as_array()
            .ok_or("vector result is not a list")?
            .iter()
            .map(|sample| sample_value(&sample["value"]))
            .collect(),
        Some("scalar") => Ok(vec![sample_value(result)?]),
        Some(other) => Err(format!(
            "result type {other}; write an instant query that returns a vector or a scalar"
        )),
        None => Err("no result type".into()),
    }
}

/// The value of a `[timestamp, "value"]` pair.
fn sample_value(pair: &Value) -> Result<f64, String> {
    let text = pair[1]
        .as_str()
        .ok_or("a sample has no [time, \"value\"] pair")?;
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse()
            .map_err(|_| format!("sample value {text:?} is not a number")),
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
