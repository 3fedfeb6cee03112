//! The webhook events a rollout's report queues: its start, a hold, its outcome.

use std::collections::BTreeSet;

use super::Rollouts;
use super::report::Reporter;
use crate::metrics::Telemetry;
use crate::model::ServiceRef;
use crate::rollout::lifecycle::Event;
use crate::rollout::record::{Begin, History, Hold, Phase, RevisionKey, RolloutRecord};
use crate::rollout::{Order, StrategyKind};
use crate::state::StateDir;
use crate::webhook::Webhook;
use crate::webhook::test_receiver::serve;

#[tokio::test]
async fn a_rollout_tells_its_start_a_hold_and_its_outcome_once_each() {
    let (url, mut received) = serve(vec!["200 OK"; 3], None).await;
    let dir = tempfile::tempdir().unwrap();
    let rollouts = Rollouts::new(
        StateDir::new(dir.path(), "default"),
        Some(Webhook::new(&url).unwrap()),
    );
    let telemetry = Telemetry::new();
    let service = ServiceRef::new("shop", "web");
    let reporter = Reporter {
        rollouts: &rollouts,
        telemetry: &telemetry,
        service: &service,
        image: "shop/web:2",
        now_ms: 1_714_566_605_000,
    };
    let mut record = RolloutRecord::new(Begin {
        strategy: StrategyKind::Canary,
        target: (
            RevisionKey {
                config_hash: "hash2".into(),
                image_id: "sha256:2".into(),
            },
            2,
        ),
        previous: (1, "shop/web:previous".into()),
        replicas: 3,
        updated: BTreeSet::new(),
        now_ms: 1_714_566_605_000,
        reverting: None,
        order: Order::StopFirst,
    });
    let mut history = History::default();
    reporter.started(&record);
    let failed = "gate docker_health failed: replica 1 failed".to_owned();
    record.set_phase(Phase::Paused(Hold::FailureAction));
    record.reason = Some(failed.clone());
    let paused = Event::Paused {
        reason: failed.clone(),
    };
    reporter.events(&record, std::slice::from_ref(&paused), &mut history);
    // A pause the user asked for is no hold.
    record.set_phase(Phase::Paused(Hold::User));
    reporter.events(&record, &[paused], &mut history);
    record.set_phase(Phase::Aborted);
    record.reason = Some("aborted by `composectl rollout abort`".into());
    reporter.events(
        &record,
        &[Event::Finished {
            phase: Phase::Aborted,
        }],
        &mut history,
    );
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), received.recv())
            .await
            .expect("the event is delivered")
            .unwrap();
        bodies.push(got.json());
    }
    let kinds: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["started", "held", "aborted"]);
    assert_eq!(
        bodies[0],
        serde_json::json!({
            "event": "started",
            "project": "shop",
            "service": "web",
            "revision": 2,
            "previous_revision": 1,
            "image": "shop/web:2",
            "reason": null,
            "at": "2024-05-01T12:30:05Z",
        })
    );
    assert_eq!(bodies[1]["reason"], failed.as_str());
    assert_eq!(bodies[2]["reason"], "aborted by `composectl rollout abort`");
}
