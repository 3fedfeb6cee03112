//! State-format compatibility: rollout records and revision histories written by an
//! earlier composectl still load, through the real loading path ([`StateDir::load_record`]
//! and [`StateDir::load_history`]), with the meaning they had.
//!
//! The files under `tests/fixtures/state/v1/` were written by composectl's own serializer
//! ([`StateDir::save_record`] and [`StateDir::save_history`]) as of the version before the
//! rollout lifecycle became a pure state machine (issue 11): byte for byte what that
//! daemon leaves in a state directory. They are never regenerated; a change of the record
//! types adapts [`Seen`] and the expectations here, never the files. All records are of
//! the service `shop/web` (3 replicas), rolling revision 3 (`shop/web:1.6`, image
//! `sha256:ccc…`) out over revision 1 (`shop/web:1.4`), unless a test says otherwise.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::StateDir;
use crate::rollout::Order;
use crate::rollout::record::{Cause, History, Hold, Phase, RolloutRecord};

const PROJECT: &str = "shop";
const SERVICE: &str = "web";
/// The config hash of revision 3.
const TARGET_HASH: &str = "9a9401f7e59bee534678b69e15af9b7310a8debd98565cf1d0549a202687c607";
/// 2026-01-01T00:00:00Z, where the fixtures' clocks start, in milliseconds.
const T0_MS: u64 = 1_767_225_600_000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state/v1")
}

/// A state directory of instance `i` holding fixture `file` as `shop/web`'s `name`, in
/// the layout and modes [`StateDir`] writes.
fn state_with(file: &str, name: &str) -> (tempfile::TempDir, StateDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = dir.path().join("i").join(PROJECT).join(SERVICE);
    std::fs::create_dir_all(&service).expect("service directory");
    for d in [
        dir.path().join("i"),
        dir.path().join("i").join(PROJECT),
        service.clone(),
    ] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(super::DIR_MODE))
            .expect("directory mode");
    }
    let to = service.join(name);
    std::fs::copy(fixtures().join(file), &to).expect("the fixture is there");
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(super::FILE_MODE))
        .expect("file mode");
    let state = StateDir::new(dir.path(), "i");
    (dir, state)
}

/// The rollout record in fixture `<name>.json`, loaded as the daemon loads it.
fn record(name: &str) -> RolloutRecord {
    let (_dir, state) = state_with(&format!("{name}.json"), "rollout.json");
    let record = state
        .load_record(PROJECT, SERVICE)
        .unwrap_or_else(|e| panic!("{name}.json does not load: {e}"))
        .unwrap_or_else(|| panic!("{name}.json: no record"));
    assert_eq!(
        record.target.config_hash, TARGET_HASH,
        "{name}: target revision key"
    );
    assert_eq!(record.target.image_id, format!("sha256:{}", "c".repeat(64)));
    assert_eq!(record.previous_image, "shop/web:previous", "{name}");
    record
}

/// What matters of a record: where it is, what it holds, and why. A change of the record
/// types changes [`Seen::of`] (and the `phase` of the expectations), not the fixtures.
#[derive(Debug, PartialEq)]
struct Seen<'a> {
    strategy: &'a str,
    target_revision: u64,
    previous_revision: u64,
    phase: Phase,
    step: usize,
    updated: Vec<u32>,
    paused: bool,
    promote_requested: bool,
    rolling_back: bool,
    aborted: bool,
    reason: Option<&'a str>,
    finished: bool,
}

impl<'a> Seen<'a> {
    fn of(r: &'a RolloutRecord) -> Self {
        Self {
            strategy: r.strategy.name(),
            target_revision: r.target_revision,
            previous_revision: r.previous_revision,
            phase: r.phase,
            step: r.state.step,
            updated: r.state.updated.iter().copied().collect(),
            paused: r.state.paused,
            promote_requested: r.state.promote_requested,
            rolling_back: r.state.rolling_back,
            aborted: matches!(r.phase, Phase::RollingBack(Cause::Aborted) | Phase::Aborted),
            reason: r.reason.as_deref(),
            finished: r.finished_at_ms.is_some(),
        }
    }

    /// A canary of revision 3 over revision 1, moving forward, nothing set.
    fn canary() -> Self {
        Self {
            strategy: "canary",
            target_revision: 3,
            previous_revision: 1,
            phase: Phase::Progressing,
            step: 0,
            updated: vec![1],
            paused: false,
            promote_requested: false,
            rolling_back: false,
            aborted: false,
            reason: None,
            finished: false,
        }
    }
}

const GATE_FAILED: &str = "gate http failed: replica 1: GET http://172.18.0.3:8080/healthz answered 500, 3 of 3 consecutive failures";

/// A canary in step 1's monitor window: replica 1 on revision 3, its gate not decided yet.
#[test]
fn a_progressing_record_loads() {
    let r = record("progressing");
    assert_eq!(Seen::of(&r), Seen::canary());
    assert_eq!(r.started_at_ms, T0_MS + 7_200_000);
    assert_eq!(
        r.state.window_started,
        Some(std::time::Duration::from_millis(4_250))
    );
    assert_eq!(r.ordered_at_ms.get(&1), Some(&120));
    assert_eq!(r.gates.len(), 1);
    assert_eq!(
        (r.gates[0].name.as_str(), r.gates[0].verdict.as_str()),
        ("http", "not yet")
    );
    assert_eq!(r.order, Order::StopFirst);
}

/// The same canary held by `rollout pause`: `state.paused` is set.
#[test]
fn a_record_paused_by_the_user_loads() {
    let r = record("paused_by_user");
    assert_eq!(
        Seen::of(&r),
        Seen {
            phase: Phase::Paused(Hold::User),
            paused: true,
            reason: Some("paused by `rollout pause`"),
            ..Seen::canary()
        }
    );
}

/// A start-first rolling update held by `failure_action: pause` after replica 1 failed:
/// phase paused with `state.paused` false (that pair is what told "held by failure_action"
/// from "paused by the user"); `rollout resume` carries on past the failure.
#[test]
fn a_record_paused_by_failure_action_loads() {
    let r = record("paused_by_failure_action");
    assert_eq!(
        Seen::of(&r),
        Seen {
            strategy: "rolling",
            phase: Phase::Paused(Hold::FailureAction),
            reason: Some("replica 1 failed on the new revision"),
            ..Seen::canary()
        }
    );
    assert_eq!(r.failed_replicas, BTreeSet::from([1]));
    assert_eq!(r.order, Order::StartFirst);
    assert!(r.gates.is_empty());
}

/// A canary whose step 1 passed, waiting for `rollout promote` (manual promotion).
#[test]
fn a_record_awaiting_promotion_loads() {
    let r = record("awaiting_promotion");
    assert_eq!(
        Seen::of(&r),
        Seen {
            phase: Phase::AwaitingPromotion,
            ..Seen::canary()
        }
    );
    assert_eq!(r.gates[0].verdict.as_str(), "pass");
}

/// A canary whose gate failed: replica 1 is being put back on revision 1, and revision 3
/// is marked failed in the history.
#[test]
fn a_rolling_back_record_loads() {
    let r = record("rolling_back");
    assert_eq!(
        Seen::of(&r),
        Seen {
            phase: Phase::RollingBack(Cause::Failed),
            updated: vec![],
            rolling_back: true,
            reason: Some(GATE_FAILED),
            ..Seen::canary()
        }
    );
    assert_eq!(r.state.window_started, None);
    assert_eq!(r.gates[0].verdict.as_str(), "fail");
}

/// A canary stopped by `rollout abort`, as the control socket wrote it: rolling back with
/// `aborted` set (it ends aborted, not rolled back), replica 1 not reverted yet.
#[test]
fn a_record_rolling_back_from_an_abort_loads() {
    let r = record("rolling_back_aborted");
    assert_eq!(
        Seen::of(&r),
        Seen {
            phase: Phase::RollingBack(Cause::Aborted),
            rolling_back: true,
            aborted: true,
            reason: Some("aborted by `rollout abort`"),
            ..Seen::canary()
        }
    );
}

/// A canary that went through both steps: every replica on revision 3.
#[test]
fn a_complete_record_loads() {
    let r = record("complete");
    assert_eq!(
        Seen::of(&r),
        Seen {
            phase: Phase::Complete,
            step: 2,
            updated: vec![1, 2, 3],
            finished: true,
            ..Seen::canary()
        }
    );
    assert_eq!(r.finished_at_ms, Some(T0_MS + 7_200_000 + 135_000));
    assert_eq!(r.ordered_at_ms.len(), 3);
}

/// The rollout whose gate failed, over: every replica back on revision 1; revision 3 is
/// not retried until the desired state changes.
#[test]
fn a_rolled_back_record_loads() {
    let r = record("rolled_back");
    assert_eq!(
        Seen::of(&r),
        Seen {
            phase: Phase::RolledBack,
            updated: vec![],
            rolling_back: true,
            reason: Some(GATE_FAILED),
            finished: true,
            ..Seen::canary()
        }
    );
}

/// A canary superseded mid-window by a new desired revision: recorded as aborted with
/// this reason (issue 11: supersession is not a failure, yet it held revision 3); such a
/// record loads superseded, so the revision rolls out again when it is desired again.
/// Only `phase` and `reason` tell it from a user's abort: `aborted` is false and the
/// state is the one it had when the new revision arrived.
#[test]
fn a_record_aborted_by_supersession_loads() {
    let r = record("aborted_superseded");
    assert_eq!(
        Seen::of(&r),
        Seen {
            phase: Phase::Superseded,
            reason: Some("superseded by a change of the desired state"),
            finished: true,
            ..Seen::canary()
        }
    );
    assert!(r.state.window_started.is_some());
}

/// The rollout stopped by `rollout abort`, over: replica 1 back on revision 1.
#[test]
fn a_record_aborted_by_the_user_loads() {
    let r = record("aborted_by_user");
    assert_eq!(
        Seen::of(&r),
        Seen {
            phase: Phase::Aborted,
            updated: vec![],
            rolling_back: true,
            aborted: true,
            reason: Some("aborted by `rollout abort`"),
            finished: true,
            ..Seen::canary()
        }
    );
}

/// `rollout undo` of the complete rollout of revision 3, back to revision 2, as the
/// control socket wrote it: every replica still on revision 3.
#[test]
fn a_record_rolling_back_by_undo_loads() {
    let r = record("rolling_back_undo");
    assert_eq!(
        Seen::of(&r),
        Seen {
            previous_revision: 2,
            phase: Phase::RollingBack(Cause::Undone),
            updated: vec![1, 2, 3],
            rolling_back: true,
            reason: Some("undone by `rollout undo` to revision 2"),
            ..Seen::canary()
        }
    );
    assert_eq!(r.started_at_ms, T0_MS + 10_800_000);
}

/// The undo, over: every replica on revision 2.
#[test]
fn a_record_rolled_back_by_undo_loads() {
    let r = record("rolled_back_undo");
    assert_eq!(
        Seen::of(&r),
        Seen {
            previous_revision: 2,
            phase: Phase::RolledBack,
            updated: vec![],
            rolling_back: true,
            reason: Some("undone by `rollout undo` to revision 2"),
            finished: true,
            ..Seen::canary()
        }
    );
}

/// Every record fixture is one of the tests above (a fixture added without a test would
/// prove nothing).
#[test]
fn every_record_fixture_has_its_test() {
    let tested = [
        "aborted_by_user",
        "aborted_superseded",
        "awaiting_promotion",
        "complete",
        "paused_by_failure_action",
        "paused_by_user",
        "progressing",
        "rolled_back",
        "rolled_back_undo",
        "rolling_back",
        "rolling_back_aborted",
        "rolling_back_undo",
    ];
    let mut found: Vec<String> = std::fs::read_dir(fixtures())
        .expect("the fixtures directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .filter(|name| name != "history")
        .collect();
    found.sort();
    assert_eq!(found, tested);
}

/// A history of three revisions of `shop/web` (`1.4`, `1.5`, `1.6`), whole specs
/// included; revision 2's rollout failed.
#[test]
fn a_history_of_three_revisions_with_a_failed_one_loads() {
    let (_dir, state) = state_with("history.json", "history.json");
    let history: History = state
        .load_history(PROJECT, SERVICE)
        .expect("history.json loads");
    let entries: Vec<(u64, &str, char, u64, Option<u64>)> = history
        .entries
        .iter()
        .map(|e| {
            (
                e.number,
                e.image.as_str(),
                e.key.image_id.chars().last().unwrap_or_default(),
                e.recorded_at,
                e.failed_at,
            )
        })
        .collect();
    let t0 = T0_MS / 1000;
    assert_eq!(
        entries,
        vec![
            (1, "shop/web:1.4", 'a', t0, None),
            (2, "shop/web:1.5", 'b', t0 + 3600, Some(t0 + 3600 + 95)),
            (3, "shop/web:1.6", 'c', t0 + 7200, None),
        ]
    );
    assert_eq!(history.entries[2].key.config_hash, TARGET_HASH);
    for entry in &history.entries {
        let spec = &entry.spec;
        assert_eq!(spec.name, PROJECT);
        assert_eq!(spec.services.len(), 1, "only the service itself");
        let web = &spec.services[SERVICE];
        assert_eq!(web.image, entry.image);
        assert_eq!(web.replicas, 3);
        assert_eq!(web.environment["GREETING"], "hello");
        assert!(web.healthcheck.is_some());
        assert_eq!(web.extensions["x-rollout"]["strategy"], "canary");
        // The hash the daemon compares with the containers' label is recomputed from the
        // stored spec as it was recorded.
        assert_eq!(
            crate::model::hash::config_hash(spec, web),
            entry.key.config_hash,
            "revision {}",
            entry.number
        );
    }
}
