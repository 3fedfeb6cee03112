//! The verdict on each replica slot of a service: keep it, create it, start its container
//! again in place, replace it (and why), or defer the heal because the slot is in crash
//! backoff or the engine's restart policy still has its chance.
//!
//! How a container that is down comes back (the heal), by what happened to it:
//!
//! | state                                 | own failure            | engine went away      |
//! |---------------------------------------|------------------------|-----------------------|
//! | exited (killed, crashed, OOM, code 0) | start in place         | start in place*       |
//! | created (never started)               | start in place         | replace               |
//! | dead                                  | replace                | replace               |
//! | running but unhealthy                 | replace                | -                     |
//! | drifted, image changed, stale ref     | replace (no backoff)   | replace               |
//!
//! (*) after the grace the engine's own restart policy gets. A start in place keeps the
//! container's ID, logs and anonymous volumes, as the engine's `restart: always` does, and
//! costs one write instead of three (remove, create, start). Only a container whose
//! configuration and image match its slot's revision is started in place: anything else is
//! replaced. Its namespaces are new after the start, so a replica in its network, IPC or
//! PID namespace is replaced in the same plan, as after a replacement (`references`).
//!
//! Crash backoff holds back heals of a container's own failure, starts in place as much as
//! replacements (the first one of a slot is immediate, repeats wait out its delay). A
//! container whose start in place failed (the engine refused: a mount source vanished, the
//! container is broken) is in [`PlanContext::failed_starts`]: it is replaced instead, at
//! once and without a second charge to the backoff (the failed start was charged), so a
//! start that keeps failing never wedges the slot.

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
    /// Its config hash ([`hash::config_hash`]), once for all of its replicas.
    pub config_hash: &'a str,
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

/// Why a container must be healed or replaced, how, and whether crash backoff may hold it
/// back (only a container's own failure, and not the replacement after a failed start in
/// place, which the backoff already charged).
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
    /// The same container, started again in place (it exited, or the engine stopped it).
    Start,
    /// Nothing yet: the engine's restart policy may start it within this time.
    LeaveToEngine(Duration),
}

/// Creates, starts in place and replaces for every slot `1..=replicas` of the service, in
/// number order, and the heals crash backoff (or the engine's grace) holds back.
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
        let held = backoff(input.ctx, name, number).filter(|_| verdict.own_failure);
        if let Some(retry_in) = held {
            deferred.push(Deferred {
                service: name.clone(),
                number,
                reason: verdict.reason,
                retry_in,
            });
            continue;
        }
        let container = container_ref(container);
        let (service, reason) = (name.clone(), verdict.reason);
        match verdict.fix {
            Fix::Start => actions.push(Action::Start {
                container,
                service,
                number,
                reason,
            }),
            Fix::LeaveToEngine(retry_in) => deferred.push(Deferred {
                service,
                number,
                reason,
                retry_in,
            }),
            Fix::Replace => {
                let changed = matches!(
                    reason,
                    Reason::ConfigDrift { .. } | Reason::ImageChanged { .. }
                );
                if changed && input.ctx.start_first.contains(name) {
                    actions.push(Action::ReplaceStartFirst {
                        container,
                        service,
                        number,
                        reason,
                    });
                } else {
                    actions.push(Action::Replace {
                        container,
                        service,
                        number,
                        reason,
                    });
                }
            }
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
    let (spec, service, image_id, config_hash) = match (pin, pinned_service) {
        (Some(pin), Some(service)) => (
            &pin.spec,
            service,
            Some(pin.image_id.as_str()),
            std::borrow::Cow::Owned(hash::config_hash(&pin.spec, service)),
        ),
        _ => (
            input.spec,
            input.service,
            input.observed.image_id(&input.service.image),
            std::borrow::Cow::Borrowed(input.config_hash),
        ),
    };
    if let Some(fields) = drift(spec, service, &config_hash, c) {
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
    let verdict = stopped_by_engine(input.ctx, service, c).unwrap_or_else(|| Verdict {
        fix: own_fix(c),
        reason,
        own_failure: true,
    });
    Some(after_failed_start(input.ctx, c, verdict))
}

/// How a container that failed on its own comes back: started in place when it exited or
/// was never started (its configuration and image match, or it would have been judged
/// by those), replaced when it is dead or unhealthy.
fn own_fix(c: &ObservedContainer) -> Fix {
    match c.state {
        ContainerState::Exited | ContainerState::Created => Fix::Start,
        _ => Fix::Replace,
    }
}

/// `verdict`, unless it starts a container whose start in place already failed: that one is
/// replaced at once (the failed start was charged to crash backoff; a second charge would
/// double the slot's delay for one heal).
fn after_failed_start(ctx: &PlanContext, c: &ObservedContainer, verdict: Verdict) -> Verdict {
    if verdict.fix != Fix::Start || !ctx.failed_starts.contains(&c.id) {
        return verdict;
    }
    Verdict {
        fix: Fix::Replace,
        own_failure: false,
        ..verdict
    }
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

/// The fields that differ when the config hash (`config_hash`, `service`'s) differs
/// (`unknown` when they cannot be named); `None` when the container matches the desired
/// config.
fn drift(
    spec: &ProjectSpec,
    service: &ServiceSpec,
    config_hash: &str,
    c: &ObservedContainer,
) -> Option<Vec<String>> {
    if config_hash == c.config_hash {
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

/// Why a container's state calls for a heal, if it does.
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
