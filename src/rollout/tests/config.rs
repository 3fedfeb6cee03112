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

#[test]
fn watch_short_form_is_the_mode_with_a_five_minute_interval() {
    use crate::watch::config::Mode;
    let config = read(3, None, json!({"watch": "digest"})).unwrap();
    let watch = config.watch.expect("watched");
    assert_eq!(watch.mode, Mode::Digest);
    assert_eq!(watch.interval, Duration::from_secs(300));
    assert!(watch.pattern.is_none() && !watch.prereleases);
    assert_eq!(read(3, None, json!({})).unwrap().watch, None);
}

#[test]
fn watch_long_form_reads_every_setting() {
    use crate::watch::config::Mode;
    let ext = json!({"watch": {"mode": "semver", "interval": "90s",
                               "pattern": "^1\\.\\d+\\.\\d+$", "prereleases": true}});
    let watch = read(3, None, ext).unwrap().watch.expect("watched");
    assert_eq!(watch.mode, Mode::Semver);
    assert_eq!(watch.interval, Duration::from_secs(90));
    assert_eq!(
        watch.pattern.as_ref().map(regex::Regex::as_str),
        Some("^1\\.\\d+\\.\\d+$")
    );
    assert!(watch.prereleases);
}

#[test]
fn bad_watch_values_name_the_key() {
    let cases = [
        (
            json!({"watch": "tags"}),
            r#"x-rollout.watch: "tags" is not one of digest, semver"#,
        ),
        (
            json!({"watch": {"mode": "digest", "intervl": "1m"}}),
            "x-rollout.watch.intervl: unknown key",
        ),
        (
            json!({"watch": {"interval": "1m"}}),
            "x-rollout.watch.mode: expected digest or semver (it is required)",
        ),
        (
            json!({"watch": {"mode": "digest", "interval": "500ms"}}),
            "x-rollout.watch.interval: expected a duration of at least 1s, such as 5m",
        ),
        (
            json!({"watch": {"mode": "semver", "pattern": "(1"}}),
            "x-rollout.watch.pattern: not a valid regular expression",
        ),
        (
            json!({"watch": {"mode": "digest", "pattern": "^1"}}),
            "x-rollout.watch.pattern: only taken with mode: semver",
        ),
        (
            json!({"watch": {"mode": "semver", "prereleases": "yes"}}),
            "x-rollout.watch.prereleases: expected true or false",
        ),
        (
            json!({"watch": 5}),
            "x-rollout.watch: expected digest, semver or a map",
        ),
    ];
    for (ext, expected) in cases {
        let err = read(3, None, ext.clone()).expect_err("refused");
        assert!(err.starts_with(expected), "{ext}: {err}");
    }
}
