//! The `http` gate: one GET per evaluation; it passes after `successes` consecutive answers
//! with the expected status and fails after `failures` consecutive bad ones (wrong status,
//! refused, timed out). In between it is not yet, with the streak as evidence.

use super::config::HttpConfig;
use super::{Evidence, Gate, GateFuture, Probe, Verdict, client, template};
use crate::redact::Url;

/// The gate and its streaks.
#[derive(Debug)]
pub struct HttpGate {
    config: HttpConfig,
    successes: u32,
    failures: u32,
}

impl HttpGate {
    /// A gate with no probes made yet.
    pub fn new(config: HttpConfig) -> Self {
        Self {
            config,
            successes: 0,
            failures: 0,
        }
    }

    async fn probe(&mut self, target: &Probe) -> Verdict {
        let url = match template::render(self.config.url.expose(), target) {
            Ok(url) => self.config.url.derive(url),
            Err(e) => return Verdict::NotYet(Evidence::new(e.to_string())),
        };
        let outcome = match client::get(&url, self.config.timeout).await {
            Ok(r) if r.status == self.config.expect_status => Ok(r.status),
            Ok(r) => Err(format!("GET {url} answered {}", r.status)),
            Err(e) => Err(e.to_string()),
        };
        self.record(&url, outcome)
    }

    /// Updates the streaks with one probe's outcome and says what they amount to.
    fn record(&mut self, url: &Url, outcome: Result<u16, String>) -> Verdict {
        let (needed, limit) = (self.config.successes, self.config.failures);
        match outcome {
            Ok(status) => {
                self.successes += 1;
                self.failures = 0;
                let message = format!(
                    "GET {url} answered {status}, {} of {needed} consecutive successes",
                    self.successes
                );
                let evidence = Evidence::measured(message, self.successes.into(), needed.into());
                if self.successes >= needed {
                    Verdict::Pass(evidence)
                } else {
                    Verdict::NotYet(evidence)
                }
            }
            Err(why) => {
                self.successes = 0;
                self.failures += 1;
                let message = format!("{why}, {} of {limit} consecutive failures", self.failures);
                let evidence = Evidence::measured(message, self.failures.into(), limit.into());
                if self.failures >= limit {
                    Verdict::Fail(evidence)
                } else {
                    Verdict::NotYet(evidence)
                }
            }
        }
    }
}

impl Gate for HttpGate {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn evaluate<'a>(&'a mut self, target: &'a Probe) -> GateFuture<'a> {
        Box::pin(self.probe(target))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn gate(successes: u32, failures: u32) -> HttpGate {
        HttpGate::new(HttpConfig {
            url: Url::new("http://{ip}:8080/healthz"),
            expect_status: 200,
            timeout: Duration::from_secs(1),
            successes,
            failures,
        })
    }

    fn labels(gate: &mut HttpGate, outcomes: &[bool]) -> Vec<&'static str> {
        outcomes
            .iter()
            .map(|ok| {
                let outcome = if *ok { Ok(200) } else { Err("refused".into()) };
                gate.record(&Url::new("http://x/"), outcome).label()
            })
            .collect()
    }

    #[test]
    fn consecutive_successes_pass_and_a_failure_resets_the_streak() {
        let got = labels(&mut gate(3, 3), &[true, true, false, true, true, true]);
        assert_eq!(
            got,
            [
                "not yet", "not yet", "not yet", "not yet", "not yet", "pass"
            ]
        );
    }

    #[test]
    fn consecutive_failures_fail() {
        let got = labels(&mut gate(2, 2), &[false, true, false, false]);
        assert_eq!(got, ["not yet", "not yet", "not yet", "fail"]);
    }

    #[test]
    fn the_evidence_tells_the_streak() {
        let verdict = gate(3, 3).record(&Url::new("http://x/"), Ok(200));
        assert_eq!(
            verdict.evidence().message,
            "GET http://x/ answered 200, 1 of 3 consecutive successes"
        );
        assert_eq!(
            (verdict.evidence().value, verdict.evidence().threshold),
            (Some(1.0), Some(3.0))
        );
    }

    #[tokio::test]
    async fn a_target_without_an_ip_is_not_yet() {
        let target = Probe {
            project: "p".into(),
            service: "s".into(),
            number: 1,
            container_name: "p-s-1".into(),
            ip: None,
            port: None,
        };
        let verdict = gate(1, 1).evaluate(&target).await;
        assert_eq!(verdict.to_string(), "not yet: the target has no ip yet");
    }
}
