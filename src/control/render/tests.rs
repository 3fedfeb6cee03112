use super::*;
use crate::rollout::record::{GateReport, PhaseName};

fn canary() -> ServiceStatus {
    ServiceStatus::example()
}

#[test]
fn a_progressing_canary_shows_step_window_and_gates() {
    let expected = "\
shop/web  canary  progressing  step 1/2  updated 1/3  revision 4 (shop/web:1.5)  previous 3 (shop/web:previous)
  window  42s left
  elapsed 1m18s
  gate    http        pass     3 consecutive 200s from http://172.18.0.3:8080/healthz
  gate    prometheus  not yet  5xx ratio 0.00 <= 0.05 (evaluation 4 of 6)
";
    assert_eq!(status(&[canary()], false), expected);
}

#[test]
fn a_service_without_a_rollout_says_so() {
    let db = ServiceStatus {
        project: "shop".into(),
        service: "db".into(),
        strategy: crate::rollout::StrategyKind::Recreate,
        phase: None,
        ..canary()
    };
    assert_eq!(status(&[db], true), "shop/db  recreate  no rollout yet\n");
}

#[test]
fn a_rolled_back_rollout_shows_its_reason_and_no_timers() {
    let rolled_back = ServiceStatus {
        phase: Some(PhaseName::RolledBack),
        updated: 0,
        reason: Some("gate prometheus failed: 5xx ratio 0.21 > 0.05".into()),
        gates: vec![GateReport {
            name: "gates[0]".into(),
            kind: "prometheus".into(),
            verdict: crate::rollout::record::GateVerdict::Fail,
            evidence: "5xx ratio 0.21 > 0.05".into(),
        }],
        ..canary()
    };
    let expected = "\
shop/web  canary  rolled back  step 1/2  updated 0/3  revision 4 (shop/web:1.5)  previous 3 (shop/web:previous)
  reason  gate prometheus failed: 5xx ratio 0.21 > 0.05
  gate    gates[0] (prometheus)  fail     5xx ratio 0.21 > 0.05
";
    assert_eq!(status(&[rolled_back], false), expected);
}

#[test]
fn every_phase_is_named_in_the_header() {
    let phases = [
        (PhaseName::Progressing, "progressing"),
        (PhaseName::Paused, "paused"),
        (PhaseName::AwaitingPromotion, "awaiting promotion"),
        (PhaseName::RollingBack, "rolling back"),
        (PhaseName::Complete, "complete"),
        (PhaseName::RolledBack, "rolled back"),
        (PhaseName::Aborted, "aborted"),
    ];
    for (phase, name) in phases {
        let text = status(
            &[ServiceStatus {
                phase: Some(phase),
                reason: Some("held by rollout pause".into()),
                ..canary()
            }],
            false,
        );
        let header = text.lines().next().unwrap();
        assert_eq!(
            header,
            format!(
                "shop/web  canary  {name}  step 1/2  updated 1/3  revision 4 (shop/web:1.5)  \
                 previous 3 (shop/web:previous)"
            )
        );
        assert_eq!(text.lines().nth(1), Some("  reason  held by rollout pause"));
        assert_eq!(text.contains("window"), !phase.is_final(), "{name}");
    }
}

#[test]
fn a_rolling_update_without_steps_or_history_numbers_still_reads() {
    let rolling = ServiceStatus {
        strategy: crate::rollout::StrategyKind::Rolling,
        steps: 0,
        step: 0,
        revision: None,
        previous_revision: None,
        previous_image: None,
        gates: Vec::new(),
        window_left_ms: None,
        elapsed_ms: None,
        watch: None,
        updated: 2,
        ..canary()
    };
    assert_eq!(
        status(&[rolling], true),
        "shop/web  rolling  progressing  updated 2/3  image shop/web:1.5\n  [#####---] 2/3\n"
    );
}

#[test]
fn blocks_are_separated_by_a_blank_line() {
    let db = ServiceStatus {
        service: "db".into(),
        strategy: crate::rollout::StrategyKind::Recreate,
        phase: None,
        ..canary()
    };
    let text = status(&[db.clone(), db], false);
    assert_eq!(
        text,
        "shop/db  recreate  no rollout yet\n\nshop/db  recreate  no rollout yet\n"
    );
}

#[test]
fn progress_bars_fill_with_updated_replicas() {
    assert_eq!(progress_bar(0, 3), "[--------]");
    assert_eq!(progress_bar(1, 3), "[##------]");
    assert_eq!(progress_bar(2, 3), "[#####---]");
    assert_eq!(progress_bar(3, 3), "[########]");
    assert_eq!(progress_bar(5, 3), "[########]");
    assert_eq!(progress_bar(0, 0), "[########]");
}

#[test]
fn history_is_a_table_with_short_ids_and_utc_times() {
    let view = HistoryView {
        project: "shop".into(),
        service: "web".into(),
        revisions: vec![
            RevisionLine {
                number: 3,
                image: "shop/web:1.4".into(),
                image_id: "sha256:0123456789abcdef0123".into(),
                config_hash: "fedcba9876543210fedcba".into(),
                recorded_at: 1_714_566_605,
                failed_at: None,
                digest: None,
                current: true,
            },
            RevisionLine {
                number: 4,
                image: "shop/web:1.5-rc1".into(),
                image_id: "sha256:aaaaaaaaaaaabbbb".into(),
                config_hash: "bbbbbbbbbbbbcccc".into(),
                recorded_at: 1_714_570_000,
                failed_at: Some(1_714_570_120),
                digest: None,
                current: false,
            },
        ],
    };
    let expected = "\
REVISION  IMAGE             IMAGE ID      CONFIG        RECORDED              NOTE
3         shop/web:1.4      0123456789ab  fedcba987654  2024-05-01T12:30:05Z  current
4         shop/web:1.5-rc1  aaaaaaaaaaaa  bbbbbbbbbbbb  2024-05-01T13:26:40Z  failed 2024-05-01T13:28:40Z
";
    assert_eq!(history(&view), expected);
}

#[test]
fn an_empty_history_says_so() {
    let view = HistoryView {
        project: "shop".into(),
        service: "web".into(),
        revisions: Vec::new(),
    };
    assert_eq!(history(&view), "shop/web has no recorded revision yet\n");
}

#[test]
fn a_watch_settles_once_every_rollout_is_over_or_never_started() {
    let with = |phase| ServiceStatus { phase, ..canary() };
    assert!(all_settled(&[]));
    assert!(all_settled(&[with(None), with(Some(PhaseName::Complete))]));
    assert!(all_settled(&[
        with(Some(PhaseName::RolledBack)),
        with(Some(PhaseName::Aborted))
    ]));
    for moving in [
        PhaseName::Progressing,
        PhaseName::Paused,
        PhaseName::AwaitingPromotion,
        PhaseName::RollingBack,
    ] {
        assert!(
            !all_settled(&[with(Some(PhaseName::Complete)), with(Some(moving))]),
            "{moving:?}"
        );
    }
}

#[test]
fn timers_alone_are_not_a_change() {
    let before = [canary()];
    let ticked = [ServiceStatus {
        window_left_ms: Some(41_000),
        elapsed_ms: Some(79_000),
        watch: None,
        ..canary()
    }];
    assert!(!changed(&before, &ticked));
    let promoted = [ServiceStatus {
        updated: 2,
        ..canary()
    }];
    assert!(changed(&before, &promoted));
    let gate_moved = {
        let mut s = canary();
        s.gates[1].verdict = crate::rollout::record::GateVerdict::Pass;
        [s]
    };
    assert!(changed(&before, &gate_moved));
    assert!(changed(&before, &[]));
}

#[test]
fn failures_name_rolled_back_and_aborted_rollouts_only() {
    let with = |service: &str, phase, reason: Option<&str>| ServiceStatus {
        service: service.into(),
        phase,
        reason: reason.map(str::to_owned),
        ..canary()
    };
    let services = [
        with("web", Some(PhaseName::Complete), None),
        with(
            "api",
            Some(PhaseName::RolledBack),
            Some("gate http failed: status 503"),
        ),
        with("worker", Some(PhaseName::Aborted), None),
        with("db", None, None),
        with("cache", Some(PhaseName::Paused), Some("held")),
        with(
            "queue",
            Some(PhaseName::Superseded),
            Some("superseded by a change of the desired state"),
        ),
    ];
    assert_eq!(
        failures(&services),
        vec![
            "shop/api rolled back: gate http failed: status 503".to_owned(),
            "shop/worker aborted: no reason recorded".to_owned(),
        ]
    );
}

#[test]
fn a_watched_service_shows_its_digest_last_check_and_update() {
    let watch = crate::watch::ServiceWatch {
        mode: "digest".into(),
        image: "reg.example:5000/shop/web:live".into(),
        local_digest: Some("sha256:aaa".into()),
        last_check_ms: Some(1_714_570_000_000),
        result: Some("pulled sha256:bbb; rolling out".into()),
        update_available: Some("sha256:bbb".into()),
        ..Default::default()
    };
    let shown = ServiceStatus {
        watch: Some(watch.clone()),
        ..canary()
    };
    let text = service(&shown, false);
    assert!(
        text.contains("  watch   digest reg.example:5000/shop/web:live (host has sha256:aaa)\n"),
        "{text}"
    );
    assert!(
        text.contains("  checked 2024-05-01T13:26:40Z: pulled sha256:bbb; rolling out\n"),
        "{text}"
    );
    assert!(text.contains("  update  sha256:bbb\n"), "{text}");
    let failed = crate::watch::ServiceWatch {
        error: Some("registry reg.example:5000: cannot read ...".into()),
        ..watch
    };
    let never = ServiceStatus {
        phase: None,
        watch: Some(failed),
        ..canary()
    };
    let text = service(&never, false);
    assert!(
        text.contains("  checked 2024-05-01T13:26:40Z: failed: registry reg.example:5000"),
        "{text}"
    );
}
