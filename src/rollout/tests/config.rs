//! Reading `update_config`, `rollback_config` and `x-rollout`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::model::spec::{ServiceSpec, UpdateConfig};
use crate::rollout::config::{CanaryConfig, FailureAction, Promotion, StepSize};
use crate::rollout::{Order, RolloutConfig};

fn read(replicas: u32, update: Option<UpdateConfig>, ext: Value) -> Result<RolloutConfig, String> {
    let mut service = ServiceSpec::new("app", "app:2");
    service.replicas = replicas;
    service.update_config = update;
    service.extensions.insert("x-rollout".to_string(), ext);
    RolloutConfig::from_service(&service).map_err(|e| e.to_string())
}

#[test]
fn reference_flow_reads_as_written() {
    let ext = json!({"strategy": "canary", "steps": [1, "100%"], "monitor": "60s",
                     "promotion": "manual", "gates": [{"prometheus": {}}]});
    let config = read(3, None, ext).unwrap();
    assert_eq!(config.strategy, crate::rollout::StrategyKind::Canary);
    assert_eq!(
        config.canary,
        CanaryConfig {
            steps: vec![StepSize::Count(1), StepSize::Percent(100)],
            monitor: Duration::from_secs(60),
            promotion: Promotion::Manual,
        }
    );
    assert_eq!(config.gates, vec![json!({"prometheus": {}})]);
}

#[test]
fn defaults_are_swarms_and_a_last_full_step_is_implied() {
    let config = read(4, None, json!({"strategy": "canary", "steps": [1, "50%"]})).unwrap();
    assert_eq!(
        config.canary.steps,
        vec![
            StepSize::Count(1),
            StepSize::Percent(50),
            StepSize::Percent(100)
        ]
    );
    assert_eq!(config.canary.monitor, Duration::from_secs(5));
    assert_eq!(config.update.parallelism, 1);
    assert_eq!(config.update.failure_action, FailureAction::Pause);
    assert_eq!(config.update.order, Order::StopFirst);
    assert_eq!(config.rollback.order, Order::StopFirst);
}

#[test]
fn update_config_values_are_typed() {
    let update = UpdateConfig {
        parallelism: Some(0),
        delay: Some(Duration::from_secs(3)),
        failure_action: Some("continue".into()),
        monitor: Some(Duration::from_secs(9)),
        max_failure_ratio: Some(0.5),
        order: Some("start-first".into()),
    };
    let config = read(2, Some(update), json!({})).unwrap();
    assert_eq!(config.strategy, crate::rollout::StrategyKind::Rolling);
    let p = config.update;
    assert_eq!(
        (p.parallelism, p.delay, p.monitor),
        (0, Duration::from_secs(3), Duration::from_secs(9))
    );
    assert_eq!(
        (p.failure_action, p.max_failure_ratio, p.order),
        (FailureAction::Continue, 0.5, Order::StartFirst)
    );
}

#[test]
fn steps_that_collapse_for_few_replicas_are_accepted() {
    let config = read(1, None, json!({"steps": [1, "50%", "100%"]})).unwrap();
    assert_eq!(config.canary.steps.len(), 3);
    let config = read(3, None, json!({"steps": [1, 3]})).unwrap();
    assert_eq!(
        config.canary.steps,
        vec![StepSize::Count(1), StepSize::Count(3)],
        "no implied step after a full one"
    );
}

#[test]
fn percentages_round_up() {
    let cases = [(3, 50, 2), (3, 100, 3), (10, 1, 1), (4, 25, 1), (0, 50, 0)];
    for (replicas, percent, expected) in cases {
        assert_eq!(
            StepSize::Percent(percent).resolve(replicas),
            expected,
            "{percent}% of {replicas}"
        );
    }
}

#[test]
fn bad_settings_name_the_key_and_the_problem() {
    let cases = [
        (
            json!({"steps": [1, "150%"]}),
            r#"x-rollout.steps[1]: "150%" is over 100%"#,
        ),
        (
            json!({"steps": [0]}),
            "x-rollout.steps[0]: a step must update at least one replica",
        ),
        (
            json!({"steps": ["0%"]}),
            "x-rollout.steps[0]: a step must update at least one replica",
        ),
        (
            json!({"steps": [4]}),
            "x-rollout.steps[0]: 4 is more than the service's 3 replicas",
        ),
        (
            json!({"steps": [2, 2]}),
            "x-rollout.steps[1]: 2 is not more than the step before it (2)",
        ),
        (
            json!({"steps": ["50%", "25%"]}),
            "x-rollout.steps[1]: 25% is not more than the step before it (50%)",
        ),
        (
            json!({"steps": [1, "half"]}),
            "x-rollout.steps[1]: expected a replica count or a percentage such as 50%",
        ),
        (
            json!({"steps": "1"}),
            "x-rollout.steps: expected a list of counts or percentages",
        ),
        (
            json!({"strategy": "blue-green"}),
            r#"x-rollout.strategy: "blue-green" is not one of recreate, rolling, canary"#,
        ),
        (
            json!({"promotion": "sometimes"}),
            r#"x-rollout.promotion: "sometimes" is not one of auto, manual"#,
        ),
        (
            json!({"monitor": "60"}),
            r#"x-rollout.monitor: "60" has no unit; write it with one, such as 10s (s, m, h, ms, us, ns, d, w)"#,
        ),
        (
            json!({"monitor": 60}),
            "x-rollout.monitor: expected a duration such as 60s",
        ),
        (json!({"gates": {}}), "x-rollout.gates: expected a list"),
        (json!({"stpes": [1]}), "x-rollout.stpes: unknown key"),
        (json!("canary"), "x-rollout: expected a map"),
    ];
    for (ext, expected) in cases {
        assert_eq!(
            read(3, None, ext.clone()),
            Err(expected.to_string()),
            "{ext}"
        );
    }
}

#[test]
fn bad_update_config_values_name_the_key() {
    let ratio = UpdateConfig {
        max_failure_ratio: Some(1.5),
        ..UpdateConfig::default()
    };
    assert_eq!(
        read(3, Some(ratio), json!({})),
        Err(
            "deploy.update_config.max_failure_ratio: 1.5 is not a ratio between 0 and 1"
                .to_string()
        )
    );
    let order = UpdateConfig {
        order: Some("sideways".into()),
        ..UpdateConfig::default()
    };
    assert_eq!(
        read(3, Some(order), json!({})),
        Err(
            r#"deploy.update_config.order: "sideways" is not one of stop-first, start-first"#
                .to_string()
        )
    );
}
