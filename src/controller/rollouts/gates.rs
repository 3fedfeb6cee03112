//! The gates of each service's current monitor window: one instance of every configured
//! gate per watched replica, kept between passes (a gate may keep state, e.g. a rate's
//! previous sample) and dropped when the window changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::gate::{self, Gate, GateConfig};
use crate::metrics::Telemetry;
use crate::model::{ObservedContainer, ServiceRef, ServiceSpec};
use crate::rollout::observe::{self, revision_key};
use crate::rollout::record::{GateReport, GateVerdict, RolloutRecord};
use crate::rollout::{Decision, Decisions};
use crate::runtime::ContainerRuntime;

/// The window a set of gate instances belongs to: the step and when its window started.
type Window = (usize, Option<Duration>);

/// Gate instances of one service's current window, per watched replica.
struct Live {
    window: Window,
    replicas: BTreeMap<u32, Vec<Box<dyn Gate>>>,
}

/// Live gates by service.
#[derive(Default)]
pub struct LiveGates {
    services: Mutex<BTreeMap<ServiceRef, Live>>,
}

/// What one evaluation looks at.
pub struct Watch<'a> {
    /// The service.
    pub service: &'a ServiceRef,
    /// Its spec (the port gates reach).
    pub spec: &'a ServiceSpec,
    /// Its gates.
    pub configs: &'a [GateConfig],
    /// Its replicas by number.
    pub kept: &'a BTreeMap<u32, &'a ObservedContainer>,
    /// Replicas down because the engine went away (not judged).
    pub stopped: &'a BTreeSet<u32>,
    /// Its rollout.
    pub record: &'a RolloutRecord,
}

/// The gates' names: the type, numbered when a type repeats (`http`, `http-2`).
pub fn gate_names(gates: &[GateConfig]) -> Vec<String> {
    let kinds: Vec<&str> = gates.iter().map(GateConfig::kind).collect();
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let seen = kinds[..i].iter().filter(|k| *k == kind).count();
            let total = kinds.iter().filter(|k| *k == kind).count();
            if total == 1 {
                (*kind).to_owned()
            } else {
                format!("{kind}-{}", seen + 1)
            }
        })
        .collect()
}

/// Every gate undecided (a window not evaluated yet never passes).
pub fn undecided(gates: &[GateConfig]) -> Decisions {
    let names = gate_names(gates);
    Decisions::of(names.iter().map(|n| (n.as_str(), Decision::NotYet)))
}

impl LiveGates {
    /// Forgets the gate instances of `service` (its window ended or changed).
    pub fn drop_window(&self, service: &ServiceRef) {
        crate::sync::lock(&self.services).remove(service);
    }

    /// Evaluates every gate once on every replica of the current step that runs the new
    /// revision (but those the engine stopped); returns the decisions and the reports, and
    /// counts the evaluations.
    pub async fn evaluate<R: ContainerRuntime>(
        &self,
        runtime: &Arc<R>,
        telemetry: &Telemetry,
        watch: &Watch<'_>,
    ) -> (Decisions, Vec<GateReport>) {
        let record = watch.record;
        let (project, name) = (
            watch.service.project.as_str(),
            watch.service.service.as_str(),
        );
        let window = (record.state.step, record.state.window_started);
        let taken = crate::sync::lock(&self.services).remove(watch.service);
        let mut live = taken
            .filter(|l| l.window == window)
            .unwrap_or_else(|| Live {
                window,
                replicas: BTreeMap::new(),
            });
        let names = gate_names(watch.configs);
        let mut per_gate: Vec<Vec<(u32, gate::Verdict)>> = vec![Vec::new(); watch.configs.len()];
        for &number in &record.state.updated {
            let Some(c) = watch.kept.get(&number) else {
                continue;
            };
            if revision_key(c) != record.target || watch.stopped.contains(&number) {
                continue;
            }
            let gates = live.replicas.entry(number).or_insert_with(|| {
                watch
                    .configs
                    .iter()
                    .map(|g| g.build(runtime.clone()))
                    .collect()
            });
            let target = gate::Probe {
                project: project.to_owned(),
                service: name.to_owned(),
                number,
                container_name: c.name.clone(),
                ip: c.ip,
                port: watch.spec.ports.first().map(|p| p.target),
            };
            for (i, gate) in gates.iter_mut().enumerate() {
                let verdict = gate.evaluate(&target).await;
                let label = verdict.label().replace(' ', "_");
                telemetry.record_gate(project, name, &names[i], &label);
                per_gate[i].push((number, verdict));
            }
        }
        crate::sync::lock(&self.services).insert(watch.service.clone(), live);
        let mut reports = Vec::new();
        let mut decisions = Vec::new();
        for (i, config) in watch.configs.iter().enumerate() {
            let (decision, evidence) = observe::combine(&per_gate[i]);
            let verdict = match &decision {
                Decision::Pass => GateVerdict::Pass,
                Decision::Fail(_) => GateVerdict::Fail,
                Decision::NotYet => GateVerdict::NotYet,
            };
            reports.push(GateReport {
                name: names[i].clone(),
                kind: config.kind().to_owned(),
                verdict,
                evidence,
            });
            decisions.push((names[i].as_str(), decision));
        }
        (Decisions::of(decisions), reports)
    }
}
