//! Builders the lifecycle and command tests share.

use std::collections::BTreeSet;

use crate::rollout::record::{Begin, Phase, RevisionKey, RolloutRecord};
use crate::rollout::{Order, StrategyKind};

/// The identity of revision `n`.
pub fn key(n: u64) -> RevisionKey {
    RevisionKey {
        config_hash: format!("hash{n}"),
        image_id: format!("sha256:{n}"),
    }
}

/// A canary of revision 2 over revision 1, three replicas, none moved yet, in `phase`.
pub fn record(phase: Phase) -> RolloutRecord {
    let mut record = RolloutRecord::new(Begin {
        strategy: StrategyKind::Canary,
        target: (key(2), 2),
        previous: (1, "shop/web:previous".into()),
        replicas: 3,
        updated: BTreeSet::new(),
        now_ms: 1_000,
        reverting: None,
        order: Order::StopFirst,
    });
    record.set_phase(phase);
    record
}
