//! Tests of the state directory: round trips of the rollout record, the revision history
//! and the ownership record, errors naming the file, and the modes enforced on every
//! read and write.

use super::*;
use crate::model::ProjectSpec;
use crate::rollout::record::{HISTORY_LIMIT, RevisionKey};
use std::collections::BTreeSet;

fn key(n: u32) -> RevisionKey {
    RevisionKey {
        config_hash: format!("hash{n}"),
        image_id: format!("sha256:{n}"),
    }
}

#[test]
fn history_round_trips_and_keeps_the_last_ten_but_never_a_pinned_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path(), "default");
    assert_eq!(
        state.load_history("shop", "web").unwrap(),
        History::default()
    );
    let mut history = History::default();
    let pinned = BTreeSet::from([1]);
    for n in 1..=12 {
        let number = history.record(key(n), "web:x", ProjectSpec::default(), 0, &pinned);
        assert_eq!(number, u64::from(n));
    }
    assert_eq!(history.entries.len(), HISTORY_LIMIT);
    let numbers: Vec<u64> = history.entries.iter().map(|e| e.number).collect();
    assert_eq!(numbers, vec![1, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(
        history.record(key(5), "web:x", ProjectSpec::default(), 0, &pinned),
        5
    );
    state.save_history("shop", "web", &history).unwrap();
    assert_eq!(state.load_history("shop", "web").unwrap(), history);
    let file = dir.path().join("default/shop/web/history.json");
    let mode = fs::metadata(&file).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert!(
        !dir.path()
            .join("default/shop/web/.history.json.tmp")
            .exists()
    );
}

#[test]
fn a_corrupt_record_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path(), "i");
    fs::create_dir_all(dir.path().join("i/p/s")).unwrap();
    fs::write(dir.path().join("i/p/s/rollout.json"), "{ torn").unwrap();
    let err = state.load_record("p", "s").unwrap_err().to_string();
    assert!(err.contains("i/p/s/rollout.json"), "{err}");
    assert!(err.contains("move it away"), "{err}");
    assert_eq!(state.load_record("p", "other").unwrap(), None);
}

#[test]
fn the_ownership_record_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path(), "i");
    assert_eq!(state.load_ownership().unwrap(), None);
    let ownership = Ownership {
        desired_dir: "/srv/desired".into(),
        projects: ["shop".to_owned(), "blog".to_owned()].into(),
    };
    state.save_ownership(&ownership).unwrap();
    assert_eq!(state.load_ownership().unwrap(), Some(ownership));
}

fn mode(path: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&fs::metadata(path).unwrap().permissions()) & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_history_readable_by_others_is_corrected_on_load_and_every_write_resets_the_modes() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path(), "i");
    let mut history = History::default();
    history.record(key(1), "web:1", ProjectSpec::default(), 0, &BTreeSet::new());
    state.save_history("shop", "web", &history).unwrap();
    let (root, project, service) = (
        dir.path().join("i"),
        dir.path().join("i/shop"),
        dir.path().join("i/shop/web"),
    );
    let file = service.join("history.json");
    let all = [&root, &project, &service];
    for d in all {
        assert_eq!(mode(d), DIR_MODE, "{}", d.display());
    }
    assert_eq!(mode(&file), FILE_MODE);

    for d in all {
        set_mode(d, 0o755);
    }
    set_mode(&file, 0o644);
    assert_eq!(state.load_history("shop", "web").unwrap(), history);
    for d in all {
        assert_eq!(mode(d), DIR_MODE, "{}", d.display());
    }
    assert_eq!(mode(&file), FILE_MODE);

    for d in all {
        set_mode(d, 0o777);
    }
    fs::write(service.join(".history.json.tmp"), "left by a killed write").unwrap();
    set_mode(&service.join(".history.json.tmp"), 0o666);
    state.save_history("shop", "web", &history).unwrap();
    for d in all {
        assert_eq!(mode(d), DIR_MODE, "{}", d.display());
    }
    assert_eq!(mode(&file), FILE_MODE);
}

#[test]
fn the_rollout_record_is_written_with_its_free_text_scrubbed() {
    use crate::rollout::record::{Begin, GateReport, GateVerdict, Phase, RolloutRecord};
    use crate::rollout::{Order, StrategyKind};
    crate::redact::remember("record-secret-6612");
    let mut record = RolloutRecord::new(Begin {
        strategy: StrategyKind::Canary,
        target: (key(2), 2),
        previous: (1, "shop/web:previous".into()),
        replicas: 2,
        updated: Default::default(),
        now_ms: 0,
        reverting: None,
        order: Order::StopFirst,
    });
    record.set_phase(Phase::RolledBack);
    record.reason = Some("create failed: record-secret-6612".into());
    record.gates = vec![GateReport {
        name: "gates[0]".into(),
        kind: "http".into(),
        verdict: GateVerdict::Fail,
        evidence: "GET http://u:pw@10.0.0.2/ answered 500".into(),
    }];
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path(), "i");
    state.save_record("shop", "web", &record).unwrap();
    let text = fs::read_to_string(dir.path().join("i/shop/web/rollout.json")).unwrap();
    assert!(!text.contains("record-secret-6612"), "{text}");
    assert!(!text.contains("u:pw@"), "{text}");
    let saved = state.load_record("shop", "web").unwrap().unwrap();
    assert_eq!(saved.reason.as_deref(), Some("create failed: ***"));
    assert_eq!(
        saved.gates[0].evidence,
        "GET http://***@10.0.0.2/ answered 500"
    );
    assert_eq!(saved.target, record.target);
}
