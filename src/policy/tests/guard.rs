//! The guard over loads: first deployments pinned, escalations held with located errors,
//! strict mode, records that cannot be used.

use super::grants::grants;
use super::{Host, web};
use crate::desired::LoadReport;
use crate::policy::Mode;
use crate::policy::guard::Approved;

/// The rendered error of `shop` in `report`.
fn error_of(report: &LoadReport) -> String {
    match &report.projects["shop"] {
        Ok(_) => panic!("shop was let through"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_first_deployment_is_pinned_and_a_later_escalation_is_held_naming_the_place_and_the_approval() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web("    cap_add: [NET_ADMIN]\n"));
    let guard = host.guard(Mode::Pinned, None, true);
    let mut report = host.load();
    let judged = guard.apply(&mut report, 1_700_000_000_000, &Default::default());
    assert!(report.projects["shop"].is_ok());
    assert!(!judged["shop"].is_held());
    let record = host.state().load_privileges("shop").unwrap().unwrap();
    assert_eq!(record.privileges, grants(&["cap:NET_ADMIN"]));
    assert_eq!(record.recorded_at, 1_700_000_000);
    let mode = std::fs::metadata(host.state().privileges_path("shop"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    host.write(
        "shop/compose.yaml",
        &web("    cap_add: [NET_ADMIN]\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"),
    );
    let mut report = host.load();
    let judged = guard.apply(&mut report, 1_700_000_100_000, &Default::default());
    let error = error_of(&report);
    let file = host.desired().join("shop/compose.yaml");
    assert!(
        error.contains(&format!("{}:6: services.web.volumes[0]", file.display())),
        "{error}"
    );
    assert!(error.contains("`bind:/var/run/docker.sock`"), "{error}");
    assert!(
        error.contains("`composectl policy approve shop`"),
        "{error}"
    );
    assert!(
        !error.contains("NET_ADMIN"),
        "only the new privilege: {error}"
    );
    let held: Vec<String> = judged["shop"]
        .held
        .iter()
        .map(|p| p.grant.to_string())
        .collect();
    assert_eq!(held, ["bind:/var/run/docker.sock"]);
    assert_eq!(judged["shop"].privileges.len(), 2);
    assert_eq!(
        host.state().load_privileges("shop").unwrap().unwrap(),
        record,
        "a held project's record is left alone"
    );
}

#[test]
fn a_project_asking_for_nothing_is_pinned_to_nothing() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web(""));
    let guard = host.guard(Mode::Pinned, None, true);
    guard.apply(&mut host.load(), 0, &Default::default());
    host.write("shop/compose.yaml", &web("    privileged: true\n"));
    let mut report = host.load();
    guard.apply(&mut report, 0, &Default::default());
    assert!(error_of(&report).contains("services.web.privileged"));
}

#[test]
fn commands_that_only_look_pin_nothing() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web("    privileged: true\n"));
    let guard = host.guard(Mode::Pinned, None, false);
    let mut report = host.load();
    let judged = guard.apply(&mut report, 0, &Default::default());
    assert!(report.projects["shop"].is_ok());
    assert_eq!(judged["shop"].approved, Approved::Unrecorded);
    assert_eq!(host.state().load_privileges("shop").unwrap(), None);
}

#[test]
fn strict_allows_only_the_policy_file_and_says_where_to_allow_more() {
    let host = Host::new();
    host.write(
        "shop/compose.yaml",
        &web("    privileged: true\n    cap_add: [NET_ADMIN]\n"),
    );
    let policy = host.base.join("policy.yaml");
    std::fs::write(&policy, "shop:\n  - cap:NET_ADMIN\n").unwrap();
    let guard = host.guard(Mode::Strict, Some(policy.clone()), true);
    let mut report = host.load();
    let judged = guard.apply(&mut report, 0, &Default::default());
    let error = error_of(&report);
    assert!(error.contains("services.web.privileged"), "{error}");
    assert!(error.contains(&policy.display().to_string()), "{error}");
    assert!(!error.contains("NET_ADMIN"), "{error}");
    assert_eq!(judged["shop"].held.len(), 1);
    assert_eq!(
        host.state().load_privileges("shop").unwrap(),
        None,
        "strict records nothing"
    );

    std::fs::write(&policy, "shop: [privileged, cap:NET_ADMIN]\n").unwrap();
    let mut report = host.load();
    guard.apply(&mut report, 0, &Default::default());
    assert!(
        report.projects["shop"].is_ok(),
        "an edited policy file counts at the next load"
    );

    std::fs::write(&policy, "shop: [nonsense]\n").unwrap();
    let mut report = host.load();
    guard.apply(&mut report, 0, &Default::default());
    assert!(
        report.projects["shop"].is_ok(),
        "the last good policy file still counts"
    );
    assert!(guard.file_error().unwrap().contains("not a privilege"));
}

#[test]
fn a_corrupt_record_holds_the_project_and_says_how_to_write_it_afresh() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web("    privileged: true\n"));
    let path = host.state().privileges_path("shop");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{ torn").unwrap();
    let guard = host.guard(Mode::Pinned, None, true);
    let mut report = host.load();
    guard.apply(&mut report, 0, &Default::default());
    let error = error_of(&report);
    assert!(error.contains("not a valid privilege record"), "{error}");
    assert!(error.contains("policy approve shop"), "{error}");
}

#[test]
fn an_unreadable_state_directory_holds_in_the_daemon_but_only_shows_in_commands_that_look() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web("    privileged: true\n"));
    let state_root = host.state().root().to_path_buf();
    std::fs::create_dir_all(state_root.parent().unwrap()).unwrap();
    std::fs::write(&state_root, "not a directory").unwrap();

    let mut report = host.load();
    let judged = host
        .guard(Mode::Pinned, None, false)
        .apply(&mut report, 0, &Default::default());
    assert!(
        report.projects["shop"].is_ok(),
        "validate cannot tell, so it does not hold"
    );
    assert!(
        matches!(&judged["shop"].approved, Approved::Unreadable { .. }),
        "{:?}",
        judged["shop"].approved
    );

    let mut report = host.load();
    host.guard(Mode::Pinned, None, true)
        .apply(&mut report, 0, &Default::default());
    let error = error_of(&report);
    assert!(
        error.contains("cannot be checked against the project's record"),
        "{error}"
    );
}

#[test]
fn a_project_a_commit_adds_later_asking_for_privileges_is_held_unless_it_already_runs() {
    let host = Host::new();
    host.write("shop/compose.yaml", &web(""));
    let guard = host.guard(Mode::Pinned, None, true);
    let nothing_runs = std::collections::BTreeSet::new();
    guard.apply(&mut host.load(), 0, &nothing_runs);
    assert!(
        host.state().load_privileges("shop").unwrap().is_some(),
        "the first start pins"
    );

    host.write("blog/compose.yaml", &web("    cap_add: [SYS_ADMIN]\n"));
    host.write("plain/compose.yaml", &web(""));
    let mut report = host.load();
    let judged = guard.apply(&mut report, 0, &nothing_runs);
    let error = report.projects["blog"].as_ref().unwrap_err().to_string();
    assert!(error.contains("services.web.cap_add[0]"), "{error}");
    assert!(
        error.contains("project blog is new on this host"),
        "{error}"
    );
    assert!(
        error.contains("`composectl policy approve blog`"),
        "{error}"
    );
    assert_eq!(judged["blog"].approved, Approved::Unrecorded);
    assert_eq!(host.state().load_privileges("blog").unwrap(), None);
    assert!(
        report.projects["plain"].is_ok(),
        "asking for nothing needs no approval"
    );
    assert!(host.state().load_privileges("plain").unwrap().is_some());

    let runs: std::collections::BTreeSet<String> = ["blog".to_owned()].into();
    let mut report = host.load();
    guard.apply(&mut report, 0, &runs);
    assert!(
        report.projects["blog"].is_ok(),
        "a project that already runs is pinned"
    );
    let record = host.state().load_privileges("blog").unwrap().unwrap();
    assert_eq!(record.privileges, grants(&["cap:SYS_ADMIN"]));
}
