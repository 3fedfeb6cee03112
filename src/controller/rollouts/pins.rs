//! From a rollout to the planner: which replica slots stay on (or go back to) an earlier
//! revision ([`Pins`]), and which image tag those slots are created from.

use std::collections::BTreeMap;

use crate::model::{ObservedContainer, ServiceSpec};
use crate::plan::{Pin, Pins};
use crate::rollout::observe::revision_key;
use crate::rollout::record::{History, HistoryEntry, Phase, RolloutRecord};

/// A slot pinned to `entry`, created from `run_image`.
fn pin(entry: &HistoryEntry, run_image: &str) -> Pin {
    Pin {
        revision: entry.number,
        spec: entry.spec.clone(),
        image_id: entry.key.image_id.clone(),
        run_image: run_image.to_owned(),
    }
}

/// Every slot held on the revision it runs (when the history knows it): nothing of the
/// service moves until its rollout can start (its desired image is being pulled).
pub fn hold(
    history: &History,
    service: &ServiceSpec,
    kept: &BTreeMap<u32, &ObservedContainer>,
) -> Pins {
    kept.iter()
        .filter(|(n, _)| **n <= service.replicas)
        .filter_map(|(&n, c)| {
            let entry = history.find(&revision_key(c))?;
            Some(((service.name.clone(), n), pin(entry, &entry.key.image_id)))
        })
        .collect()
}

/// The slots `record` holds on an earlier revision. A slot the rollout has not reached yet
/// keeps the revision it runs (when the history knows it: a rollout never touches a
/// replica before its turn, even one left on a superseded revision); a slot moved back,
/// or every slot once the rollout reverts, is held on the previous revision.
pub fn pins(
    record: &RolloutRecord,
    history: &History,
    service: &ServiceSpec,
    kept: &BTreeMap<u32, &ObservedContainer>,
) -> Pins {
    let Some(previous) = history.get(record.previous_revision) else {
        return Pins::new();
    };
    let slot = |n: u32| -> Option<Pin> {
        match record.phase {
            Phase::Complete | Phase::Superseded => None,
            Phase::RolledBack | Phase::Aborted => Some(pin(previous, &record.previous_image)),
            _ if record.state.updated.contains(&n) => None,
            Phase::RollingBack(_) => Some(pin(previous, &record.previous_image)),
            _ => {
                let running = kept
                    .get(&n)
                    .map(|c| revision_key(c))
                    .filter(|key| *key != record.target)
                    .and_then(|key| history.find(&key));
                Some(match running {
                    Some(entry) if entry.number != previous.number => {
                        pin(entry, &entry.key.image_id)
                    }
                    _ => pin(previous, &record.previous_image),
                })
            }
        }
    };
    (1..=service.replicas)
        .filter_map(|n| slot(n).map(|p| ((service.name.clone(), n), p)))
        .collect()
}

/// The tag `record`'s pinned slots are created from, and the image it must point at,
/// while the record pins any slot to the previous revision.
pub fn previous_tag(record: &RolloutRecord, history: &History) -> Option<(String, String)> {
    if matches!(record.phase, Phase::Complete | Phase::Superseded) {
        return None;
    }
    let previous = history.get(record.previous_revision)?;
    Some((record.previous_image.clone(), previous.key.image_id.clone()))
}
