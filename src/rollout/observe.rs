//! From what the host runs to what a strategy reads: each replica's revision and
//! readiness ([`ReplicaView`]), and the gates' answers for the current window
//! ([`Decisions`]). Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::record::RevisionKey;
use super::{Decision, Decisions, Readiness, Replica, ReplicaView, Revision};
use crate::gate;
use crate::model::{ContainerState, Health, ObservedContainer};

/// The revision identity of a container.
pub fn revision_key(c: &ObservedContainer) -> RevisionKey {
    RevisionKey {
        config_hash: c.config_hash.clone(),
        image_id: c.image_id.clone(),
    }
}

/// Whether a container serves: running and healthy (or without a health check).
pub fn readiness(c: &ObservedContainer) -> Readiness {
    match (c.state, c.health) {
        (ContainerState::Running, None | Some(Health::Healthy)) => Readiness::Ready,
        (ContainerState::Running, Some(Health::Unhealthy)) => Readiness::Failed,
        (ContainerState::Running | ContainerState::Created | ContainerState::Paused, _) => {
            Readiness::Starting
        }
        (ContainerState::Restarting | ContainerState::Exited | ContainerState::Dead, _) => {
            Readiness::Failed
        }
        (ContainerState::Removing, _) => Readiness::Starting,
    }
}

/// The replicas by number: a container on `target` is [`Revision::New`], any other is
/// [`Revision::Old`]. Numbers in `failed` (new replicas that never became ready: a
/// start-first container that failed, a replica past its progress deadline) read as a
/// failed new replica whatever runs in the slot.
pub fn replica_view(
    kept: &BTreeMap<u32, &ObservedContainer>,
    target: &RevisionKey,
    failed: &BTreeSet<u32>,
) -> ReplicaView {
    let mut replicas: BTreeMap<u32, Replica> = kept
        .iter()
        .filter(|(_, c)| c.state != ContainerState::Removing)
        .map(|(&number, c)| {
            let revision = if revision_key(c) == *target {
                Revision::New
            } else {
                Revision::Old
            };
            let readiness = readiness(c);
            (
                number,
                Replica {
                    revision,
                    readiness,
                },
            )
        })
        .collect();
    for &number in failed {
        replicas.insert(
            number,
            Replica {
                revision: Revision::New,
                readiness: Readiness::Failed,
            },
        );
    }
    ReplicaView { replicas }
}

/// One gate's verdict over every replica it watched: the first failure (naming the
/// replica), else not yet while any replica is undecided, else pass. No replica: not yet.
pub fn combine(per_replica: &[(u32, gate::Verdict)]) -> (Decision, String) {
    if let Some((number, v)) = per_replica.iter().find(|(_, v)| v.is_fail()) {
        let evidence = format!("replica {number}: {}", v.evidence());
        return (Decision::Fail(evidence.clone()), evidence);
    }
    let evidence = per_replica
        .iter()
        .map(|(number, v)| format!("replica {number}: {}", v.evidence()))
        .collect::<Vec<_>>()
        .join("; ");
    if per_replica.is_empty() {
        return (Decision::NotYet, "no replica to watch yet".to_owned());
    }
    if per_replica.iter().all(|(_, v)| v.is_pass()) {
        (Decision::Pass, evidence)
    } else {
        (Decision::NotYet, evidence)
    }
}

/// The verdicts of named gates.
pub fn verdicts<'a>(gates: impl IntoIterator<Item = (&'a str, Decision)>) -> Decisions {
    Decisions::of(gates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(
        number: u32,
        hash: &str,
        state: ContainerState,
        health: Option<Health>,
    ) -> ObservedContainer {
        ObservedContainer {
            id: format!("id{number}"),
            number,
            config_hash: hash.into(),
            image_id: "sha256:new".into(),
            state,
            health,
            ..ObservedContainer::default()
        }
    }

    #[test]
    fn replicas_read_as_new_or_old_and_ready_starting_or_failed() {
        let target = RevisionKey {
            config_hash: "h2".into(),
            image_id: "sha256:new".into(),
        };
        let c1 = container(1, "h2", ContainerState::Running, Some(Health::Healthy));
        let c2 = container(2, "h1", ContainerState::Running, None);
        let c3 = container(3, "h2", ContainerState::Running, Some(Health::Starting));
        let c4 = container(4, "h2", ContainerState::Restarting, None);
        let kept = BTreeMap::from([(1, &c1), (2, &c2), (3, &c3), (4, &c4)]);
        let view = replica_view(&kept, &target, &BTreeSet::from([5]));
        let r = |n| view.get(n).map(|r| (r.revision, r.readiness));
        assert_eq!(r(1), Some((Revision::New, Readiness::Ready)));
        assert_eq!(r(2), Some((Revision::Old, Readiness::Ready)));
        assert_eq!(r(3), Some((Revision::New, Readiness::Starting)));
        assert_eq!(r(4), Some((Revision::New, Readiness::Failed)));
        assert_eq!(r(5), Some((Revision::New, Readiness::Failed)));
        assert_eq!(view.serving(), 2);
    }

    #[test]
    fn a_gate_fails_on_any_replica_and_passes_only_on_all() {
        let pass = gate::Verdict::Pass(gate::Evidence::new("ok"));
        let wait = gate::Verdict::NotYet(gate::Evidence::new("3 requests"));
        let fail = gate::Verdict::Fail(gate::Evidence::new("ratio 0.2 > 0.05"));
        assert_eq!(combine(&[]).0, Decision::NotYet);
        assert_eq!(
            combine(&[(1, pass.clone()), (2, pass.clone())]).0,
            Decision::Pass
        );
        assert_eq!(combine(&[(1, pass.clone()), (2, wait)]).0, Decision::NotYet);
        let (verdict, evidence) = combine(&[(1, pass), (2, fail)]);
        assert_eq!(
            verdict,
            Decision::Fail("replica 2: ratio 0.2 > 0.05".into())
        );
        assert_eq!(evidence, "replica 2: ratio 0.2 > 0.05");
    }
}
