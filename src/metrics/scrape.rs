//! The metrics computed at scrape time rather than recorded as they happen: managed
//! containers by state and crash backoff (from the controller's state), Docker API calls
//! (from the runtime's call recorder), the event stream (from the reflector's handles) and
//! the process's own resource use (from `/proc/self`).
//!
//! The mapping from a [`ControllerState`] to gauge values is pure ([`managed_containers`],
//! [`crash_backoff`]); `Scrape` only encodes what they return.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};

use super::labels::{ApiLabels, ApiOutcome, ContainerLabels, ServiceLabels};
use super::process;
use super::{ApiStatsFn, ControllerState, StateSource};
use crate::observed::{Reconnects, StreamUp};
use crate::runtime::docker::stats::{self, ApiStats};
use crate::webhook::Stats as WebhookStats;

/// Where scrape-time figures come from; the parts the controller and the app attach late.
#[derive(Default)]
pub(super) struct Sources {
    /// The controller's state.
    pub(super) state: OnceLock<Box<dyn StateSource>>,
    /// The Docker runtime's call totals.
    pub(super) api: OnceLock<ApiStatsFn>,
    /// The webhook's delivery figures.
    pub(super) webhook: OnceLock<WebhookStatsFn>,
    /// Event stream reconnections.
    pub(super) reconnects: Reconnects,
    /// Event stream state.
    pub(super) up: StreamUp,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("state", &self.state.get().is_some())
            .field("api", &self.api.get().is_some())
            .field("webhook", &self.webhook.get().is_some())
            .field("reconnects", &self.reconnects)
            .field("up", &self.up)
            .finish()
    }
}

/// The collector registered with the registry.
#[derive(Debug)]
pub(super) struct Scrape(pub(super) Arc<Sources>);

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sources = &self.0;
        if let Some(state) = sources.state.get().and_then(|s| s.state()) {
            let containers = Family::<ContainerLabels, Gauge>::default();
            for (labels, count) in managed_containers(&state) {
                containers.get_or_create(&labels).set(count);
            }
            let help = "Managed containers by project, service and Docker state.";
            encode(
                &mut encoder,
                "composectl_managed_containers",
                help,
                &containers,
            )?;
            let backoff = Family::<ServiceLabels, FloatGauge>::default();
            for (labels, seconds) in crash_backoff(&state) {
                backoff.get_or_create(&labels).set(seconds);
            }
            let help =
                "Current longest crash backoff delay of the service's replicas (0 when none).";
            encode(
                &mut encoder,
                "composectl_crash_backoff_seconds",
                help,
                &backoff,
            )?;
            let failing = Family::<ServiceLabels, Gauge>::default();
            for (labels, failures) in service_failures(&state) {
                failing.get_or_create(&labels).set(failures);
            }
            let help = "Failed executions in a row of the service's changes (0 when its last one \
                        succeeded); while above 0 its changes wait out their error backoff.";
            encode(&mut encoder, "composectl_service_failing", help, &failing)?;
        }
        if let Some(api) = sources.api.get() {
            encode_api(&mut encoder, &api())?;
        }
        if let Some(webhook) = sources.webhook.get() {
            encode_webhook(&mut encoder, &webhook())?;
        }
        let reconnects = ConstCounter::new(sources.reconnects.get());
        let help = "Times the engine's event stream was lost and the store relisted.";
        encode(
            &mut encoder,
            "composectl_event_stream_reconnects",
            help,
            &reconnects,
        )?;
        let up = ConstGauge::new(i64::from(sources.up.get()));
        let help = "1 while the engine's event stream is connected.";
        encode(&mut encoder, "composectl_event_stream_up", help, &up)?;
        encode_process(&mut encoder, &process::read_self())
    }
}

fn encode(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    let metric_encoder = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(metric_encoder)
}

/// Reads the webhook's delivery figures at scrape time.
pub(super) type WebhookStatsFn = Box<dyn Fn() -> WebhookStats + Send + Sync>;

fn encode_webhook(
    encoder: &mut DescriptorEncoder,
    stats: &WebhookStats,
) -> Result<(), std::fmt::Error> {
    let events = Family::<Vec<(String, String)>, Counter>::default();
    for (result, count) in [
        ("delivered", stats.delivered),
        ("failed", stats.failed),
        ("dropped", stats.dropped),
    ] {
        events
            .get_or_create(&vec![("result".to_owned(), result.to_owned())])
            .inc_by(count);
    }
    let help = "Webhook events by result: delivered, failed (given up after its retries, or \
                refused for good), dropped (the queue was full).";
    encode(encoder, "composectl_webhook_events", help, &events)?;
    let queued = ConstGauge::new(i64::try_from(stats.queued).unwrap_or(i64::MAX));
    let help = "Webhook events waiting for delivery.";
    encode(encoder, "composectl_webhook_queue", help, &queued)
}

fn encode_api(encoder: &mut DescriptorEncoder, api: &ApiStats) -> Result<(), std::fmt::Error> {
    let calls = Family::<ApiLabels, Counter>::default();
    let latency = Family::<ApiLabels, FloatCounter>::default();
    for (key, totals) in &api.ops {
        let labels = ApiLabels {
            operation: key.operation,
            outcome: match key.outcome {
                stats::Outcome::Ok => ApiOutcome::Ok,
                stats::Outcome::Error => ApiOutcome::Error,
            },
        };
        calls.get_or_create(&labels).inc_by(totals.count);
        latency
            .get_or_create(&labels)
            .inc_by(totals.total_latency.as_secs_f64());
    }
    let help = "Docker API calls by operation and outcome.";
    encode(encoder, "composectl_docker_api_calls", help, &calls)?;
    let help = "Total latency of Docker API calls by operation and outcome.";
    encode(
        encoder,
        "composectl_docker_api_call_duration_seconds",
        help,
        &latency,
    )
}

fn encode_process(
    encoder: &mut DescriptorEncoder,
    stats: &process::ProcessStats,
) -> Result<(), std::fmt::Error> {
    if let Some(bytes) = stats.resident_memory_bytes {
        let gauge = ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX));
        let help = "Resident memory size in bytes.";
        encode(encoder, "process_resident_memory_bytes", help, &gauge)?;
    }
    if let Some(seconds) = stats.cpu_seconds {
        let help = "Total user and system CPU time spent in seconds.";
        encode(
            encoder,
            "process_cpu_seconds",
            help,
            &ConstCounter::new(seconds),
        )?;
    }
    if let Some(fds) = stats.open_fds {
        let gauge = ConstGauge::new(i64::try_from(fds).unwrap_or(i64::MAX));
        encode(
            encoder,
            "process_open_fds",
            "Open file descriptors.",
            &gauge,
        )?;
    }
    Ok(())
}

/// Managed containers counted by (project, service, state). Every desired service has a
/// `running` row, 0 when none of its replicas runs, so "fewer running than desired" is a
/// plain comparison.
pub fn managed_containers(state: &ControllerState) -> BTreeMap<ContainerLabels, i64> {
    let mut counts = BTreeMap::new();
    for (project, spec) in &state.specs {
        for service in spec.services.keys() {
            let labels = ContainerLabels {
                project: project.clone(),
                service: service.clone(),
                state: "running",
            };
            counts.insert(labels, 0);
        }
    }
    for container in state.observed.containers.values() {
        let labels = ContainerLabels {
            project: container.project.clone(),
            service: container.service.clone(),
            state: container.state.as_str(),
        };
        *counts.entry(labels).or_default() += 1;
    }
    counts
}

/// Failed executions in a row per (project, service): 0 for every desired service that
/// is not failing.
pub fn service_failures(state: &ControllerState) -> BTreeMap<ServiceLabels, i64> {
    let mut out = desired_services(state, 0);
    for failing in &state.failing {
        let labels = ServiceLabels {
            project: failing.project.clone(),
            service: failing.service.clone(),
        };
        out.insert(labels, i64::from(failing.failures));
    }
    out
}

/// Every desired service, each with `value`.
fn desired_services<T: Copy>(state: &ControllerState, value: T) -> BTreeMap<ServiceLabels, T> {
    let mut out = BTreeMap::new();
    for (project, spec) in &state.specs {
        for service in spec.services.keys() {
            let labels = ServiceLabels {
                project: project.clone(),
                service: service.clone(),
            };
            out.insert(labels, value);
        }
    }
    out
}

/// The longest current crash backoff delay per (project, service), in seconds: 0 for every
/// desired service with no replica in backoff.
pub fn crash_backoff(state: &ControllerState) -> BTreeMap<ServiceLabels, f64> {
    let mut delays = desired_services(state, 0.0);
    for ((project, service, _), delay) in &state.crash_delays {
        let labels = ServiceLabels {
            project: project.clone(),
            service: service.clone(),
        };
        let longest = delays.entry(labels).or_insert(0.0);
        *longest = f64::max(*longest, delay.as_secs_f64());
    }
    delays
}
