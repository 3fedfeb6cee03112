//! The `scrape` gate, for hosts without a Prometheus server: it reads the target's own
//! metrics endpoint (text exposition format) and computes the ratio of counter deltas,
//! bad over all, since its first scrape (the baseline).
//!
//! "All" is every series of `metric` (or `metric_total`); "bad" the series whose labels
//! match every pattern of `bad` ([`exposition::matches`]). A counter that went down was
//! reset (the container restarted) and counts from zero; a series that appears after the
//! baseline counts from zero too. The gate is not yet until `min_requests` requests came
//! in since the baseline, then passes or fails on `max_ratio`. A failed scrape is not yet.

use std::collections::BTreeMap;

use super::config::ScrapeConfig;
use super::exposition::{self, Sample};
use super::{Evidence, Gate, GateFuture, Probe, Verdict, client, template};

/// The counters of one scrape: series key to (is bad, value).
pub type Counters = BTreeMap<String, (bool, f64)>;

/// The gate and its baseline.
#[derive(Debug)]
pub struct ScrapeGate {
    config: ScrapeConfig,
    baseline: Option<Counters>,
}

impl ScrapeGate {
    /// A gate that has not scraped yet.
    pub fn new(config: ScrapeConfig) -> Self {
        Self {
            config,
            baseline: None,
        }
    }

    async fn run(&mut self, target: &Probe) -> Verdict {
        match self.scrape(target).await {
            Ok(counters) => self.judge(counters),
            Err(why) => Verdict::NotYet(Evidence::new(why)),
        }
    }

    async fn scrape(&self, target: &Probe) -> Result<Counters, String> {
        let url = template::render(self.config.url.expose(), target).map_err(|e| e.to_string())?;
        let url = self.config.url.derive(url);
        let response = client::get(&url, self.config.timeout)
            .await
            .map_err(|e| e.to_string())?;
        if response.status != 200 {
            return Err(format!("GET {url} answered {}", response.status));
        }
        let samples = exposition::parse(&response.body).map_err(|e| format!("GET {url}: {e}"))?;
        Ok(counters(&self.config, &samples))
    }

    /// Takes the first scrape as the baseline; compares later ones with it.
    fn judge(&mut self, current: Counters) -> Verdict {
        let metric = &self.config.metric;
        let Some(baseline) = &self.baseline else {
            let total: f64 = current.values().map(|(_, v)| v).sum();
            self.baseline = Some(current);
            return Verdict::NotYet(Evidence::new(format!(
                "baseline taken ({total} {metric} so far)"
            )));
        };
        let (bad, all) = deltas(baseline, &current);
        let (max, min) = (self.config.max_ratio, self.config.min_requests);
        if all < min as f64 {
            return Verdict::NotYet(Evidence::new(format!(
                "{all} of {min} requests needed since the baseline"
            )));
        }
        let ratio = bad / all;
        let message = format!("bad ratio {ratio:.4} ({bad} of {all} {metric} since the baseline)");
        if ratio > max {
            Verdict::Fail(Evidence::measured(format!("{message} > {max}"), ratio, max))
        } else {
            Verdict::Pass(Evidence::measured(
                format!("{message} <= {max}"),
                ratio,
                max,
            ))
        }
    }
}

impl Gate for ScrapeGate {
    fn kind(&self) -> &'static str {
        "scrape"
    }

    fn evaluate<'a>(&'a mut self, target: &'a Probe) -> GateFuture<'a> {
        Box::pin(self.run(target))
    }
}

/// The series of the configured metric, each marked bad or not.
pub fn counters(config: &ScrapeConfig, samples: &[Sample]) -> Counters {
    let total_name = format!("{}_total", config.metric);
    samples
        .iter()
        .filter(|s| s.name == config.metric || s.name == total_name)
        .filter(|s| s.value.is_finite())
        .map(|s| {
            let bad = config.bad.iter().all(|(label, pattern)| {
                exposition::matches(pattern, s.labels.get(label).map_or("", String::as_str))
            });
            (format!("{}{:?}", s.name, s.labels), (bad, s.value))
        })
        .collect()
}

/// Increases since `baseline`: (bad, all). Resets and new series count from zero.
pub fn deltas(baseline: &Counters, current: &Counters) -> (f64, f64) {
    let mut bad = 0.0;
    let mut all = 0.0;
    for (key, (is_bad, value)) in current {
        let before = baseline.get(key).map_or(0.0, |(_, v)| *v);
        let delta = if *value >= before {
            value - before
        } else {
            *value
        };
        all += delta;
        if *is_bad {
            bad += delta;
        }
    }
    (bad, all)
}

#[cfg(test)]
#[path = "scrape_tests.rs"]
mod tests;
