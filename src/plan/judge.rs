//! The verdict on each replica slot of a service: keep it, create it, replace its container
//! (and why), defer the replacement because the slot is in crash backoff, or, for a
//! container the engine stopped by going away, start it again in place (once the engine's
//! own restart policy had its chance).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::spec::{ProjectSpec, RestartPolicy, ServiceSpec};
use crate::model::{ContainerState, Health, ObservedContainer, ObservedState, hash, labels};

use super::slots::container_ref;
use super::{Action, Deferred, PlanContext, Reason};

/// What the verdicts on one service's slots depend on.
pub(super) struct Input<'a> {
    /// The desired project.
    pub spec: &'a ProjectSpec,
    /// The service judged.
    pub service: &'a ServiceSpec,
    /// The host.
    pub observed: &'a ObservedState,
    /// Crash backoff.
    pub ctx: &'a PlanContext,
    /// Another service waits for this one to complete successfully.
    pub is_job: bool,
    /// The project's containers by slot.
    pub layout: &'a super::slots::Layout<'a>,
    /// IDs of the containers replaced earlier in this plan (of services judged before).
    pub replaced: &'a std::collections::BTreeSet<String>,
}

/// Why a container must be replaced, and whether the cause is its own failure (the only
/// kind crash backoff may hold back).
struct Verdict {
    reason: Reason,
    own_failure: bool,
    fix: Fix,
}

/// What brings the slot back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fix {
    /// A new container.
    Replace,
    /// The same container, started again (the engine stopped it).
    Start,
    /// Nothing yet: the engine's restart policy may start it within this time.
    LeaveToEngine(Duration),
}

/// Creates and replaces for every slot `1..=replicas` of the service, in number order, and
/// the replacements crash backoff holds back.
pub(super) fn service(
    input: &Input<'_>,
    kept: &BTreeMap<u32, &ObservedContainer>,
) -> (Vec<Action>, Vec<Deferred>) {
    let mut actions = Vec::new();
    let mut deferred = Vec::new();
    let name = &input.service.name;
    for number in 1..=input.service.replicas {
        let Some(container) = kept.get(&number) else {
            actions.push(Action::Create {
                service: name.clone(),
                number,
                reason: Reason::Missing,
            });
            continue;
        };
        let Some(verdict) = judge(input, container) else {
            let name = labels::container_name(&input.spec.name, input.service, number);
            if container.name != name && super::slots::is_temporary_name(&container.name) {
                actions.push(Action::Rename {
                    container: container_ref(container),
                    name,
                });
            }
            continue;
        };
        match verdict.fix {
            Fix::Replace => {}
            Fix::Start => {
                actions.push(Action::Start {
                    container: container_ref(container),
                    service: name.clone(),
                    number,
                    reason: verdict.reason,
                });
                continue;
            }
            Fix::LeaveToEngine(retry_in) => {
                deferred.push(Deferred {
                    service: name.clone(),
                    number,
                    reason: verdict.reason,
                    retry_in,
                });
                continue;
            }
        }
        let changed = matches!(
            verdict.reason,
            Reason::ConfigDrift { .. } | Reason::ImageChanged { .. }
        );
        let start_first = changed && input.ctx.start_first.contains(name);
        match backoff(input.ctx, name, number).filter(|_| verdict.own_failure) {
            Some(retry_in) => deferred.push(Deferred {
                service: name.clone(),
                number,
                reason: verdict.reason,
                retry_in,
            }),
            None if start_first => actions.push(Action::ReplaceStartFirst {
                container: container_ref(container),
                service: name.clone(),
                number,
                reason: verdict.reason,
            }),
            None => actions.push(Action::Replace {
                container: container_ref(container),
                service: name.clone(),
                number,
                reason: verdict.reason,
            }),
        }
    }
    (actions, deferred)
}

/// Time left in crash backoff for a slot, when there is any.
fn backoff(ctx: &PlanContext, service: &str, number: u32) -> Option<Duration> {
    ctx.crash_backoff
        .get(&(service.to_owned(), number))
        .copied()
        .filter(|left| !left.is_zero())
}

/// Why `c` must be replaced, if it must: drift, then image, then its state. A slot a
/// rollout pins is judged against the pinned revision instead of the desired spec.
fn judge(input: &Input<'_>, c: &ObservedContainer) -> Option<Verdict> {
    let pin = input.ctx.pins.get(&(input.service.name.clone(), c.number));
    let pinned_service = pin.and_then(|p| p.spec.services.get(&input.service.name));
    let (spec, service, image_id) = match (pin, pinned_service) {
        (Some(pin), Some(service)) => (&pin.spec, service, Some(pin.image_id.as_str())),
        _ => (
            input.spec,
            input.service,
            input.observed.image_id(&input.service.image),
        ),
    };
    if let Some(fields) = drift(spec, service, c) {
        return Some(Verdict {
            reason: Reason::ConfigDrift { fields },
            own_failure: false,
            fix: Fix::Replace,
        });
    }
    if let Some(reason) = super::references::stale(service, c, input.layout, input.replaced) {
        return Some(Verdict {
            reason,
            own_failure: false,
            fix: Fix::Replace,
        });
    }
    if let Some(id) = image_id
        && id != c.image_id
    {
        let reason = Reason::ImageChanged {
            from: c.image_id.clone(),
            to: id.to_owned(),
        };
        return Some(Verdict {
            reason,
            own_failure: false,
            fix: Fix::Replace,
        });
    }
    let reason = by_state(c, input.is_job)?;
    Some(stopped_by_engine(input.ctx, service, c).unwrap_or(Verdict {
        reason,
        own_failure: true,
        fix: Fix::Replace,
    }))
}

/// The verdict on a container the engine stopped by going away, if `c` is one: started
/// again in place when it exited (after the grace its restart policy gets), replaced when
/// it is dead or was never started; never its own failure.
fn stopped_by_engine(
    ctx: &PlanContext,
    service: &ServiceSpec,
    c: &ObservedContainer,
) -> Option<Verdict> {
    if !ctx.engine.stopped.contains(&c.id) {
        return None;
    }
    let fix = match c.state {
        ContainerState::Exited => match ctx.engine.restart_grace {
            Some(left) if engine_restarts(service.restart, c.exit_code) => Fix::LeaveToEngine(left),
            _ => Fix::Start,
        },
        _ => Fix::Replace,
    };
    Some(Verdict {
        reason: Reason::EngineStopped {
            state: c.state.as_str().to_owned(),
        },
        own_failure: false,
        fix,
    })
}

/// Whether the engine's restart policy may start a container that exited with `code`.
fn engine_restarts(policy: RestartPolicy, code: Option<i64>) -> bool {
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure { .. } => code != Some(0),
    }
}

/// The fields that differ when the config hash differs (`unknown` when they cannot be
/// named); `None` when the container matches the desired config.
fn drift(spec: &ProjectSpec, service: &ServiceSpec, c: &ObservedContainer) -> Option<Vec<String>> {
    if hash::config_hash(spec, service) == c.config_hash {
        return None;
    }
    let fields = c
        .labels
        .get(labels::FIELDS)
        .map(|label| {
            hash::differing_fields(
                &hash::field_hashes(spec, service),
                &hash::decode_fields(label),
            )
        })
        .filter(|fields| !fields.is_empty())
        .unwrap_or_else(|| vec!["unknown".to_owned()]);
    Some(fields)
}

/// The replacement a container's state calls for, if any.
fn by_state(c: &ObservedContainer, is_job: bool) -> Option<Reason> {
    match c.state {
        ContainerState::Running if c.health == Some(Health::Unhealthy) => Some(Reason::Unhealthy),
        // Running is fine; Restarting is Docker's restart policy at work; Paused was done on
        // purpose; Removing is already going away.
        ContainerState::Running
        | ContainerState::Restarting
        | ContainerState::Paused
        | ContainerState::Removing => None,
        ContainerState::Exited if is_job && c.exit_code == Some(0) => None,
        ContainerState::Exited => Some(Reason::Exited {
            code: c.exit_code,
            oom_killed: c.oom_killed,
        }),
        ContainerState::Created | ContainerState::Dead => Some(Reason::NotRunning {
            state: c.state.as_str().to_owned(),
        }),
    }
}
