//! Tests of the desired view: last-known-good, frozen, pending, absent and foreign
//! projects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::view::{DesiredView, Wanted};
use crate::desired::{Error, LoadReport, Loaded};
use crate::model::{ProjectSpec, ServiceSpec};

fn spec(name: &str, image: &str) -> ProjectSpec {
    let mut project = ProjectSpec {
        name: name.into(),
        ..ProjectSpec::default()
    };
    project
        .services
        .insert("web".into(), ServiceSpec::new("web", image));
    project
}

fn good(spec: ProjectSpec) -> Result<Loaded, Error> {
    Ok(Loaded {
        spec,
        warnings: Vec::new(),
        origins: Default::default(),
    })
}

fn broken(name: &str) -> Result<Loaded, Error> {
    Err(Error::Yaml {
        file: PathBuf::from(format!("/srv/desired/{name}/compose.yaml")),
        line: 3,
        column: 1,
        message: "unexpected end of stream".into(),
    })
}

const GRACE: Duration = Duration::from_secs(5);

fn source(name: &str) -> PathBuf {
    PathBuf::from(format!("/srv/desired/{name}"))
}

/// A load finding `projects`, each from the directory of its name.
fn report(projects: Vec<(&str, Result<Loaded, Error>)>) -> Result<LoadReport, Error> {
    let from: Vec<(&str, &str, Result<Loaded, Error>)> =
        projects.into_iter().map(|(n, l)| (n, n, l)).collect();
    report_from(from, &[])
}

/// A load finding (project, directory, load)s, and `bare` directories with no compose file.
fn report_from(
    projects: Vec<(&str, &str, Result<Loaded, Error>)>,
    bare: &[&str],
) -> Result<LoadReport, Error> {
    let sources = projects
        .iter()
        .map(|(n, dir, _)| ((*n).to_owned(), source(dir)))
        .collect();
    Ok(LoadReport {
        projects: projects
            .into_iter()
            .map(|(n, _, l)| (n.to_owned(), l))
            .collect::<BTreeMap<_, _>>(),
        sources,
        bare_dirs: bare.iter().map(|d| source(d)).collect(),
    })
}

/// A clock for the view: loads `secs` after the start.
struct Clock(Instant);

impl Clock {
    fn new() -> Self {
        Self(Instant::now())
    }
    fn at(&self, secs: u64) -> Instant {
        self.0 + Duration::from_secs(secs)
    }
}

#[test]
fn a_project_that_breaks_keeps_its_last_known_good_spec() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    view.apply(
        report(vec![("shop", good(spec("shop", "app:v1")))]),
        t.at(0),
    );
    let reloaded = view.apply(report(vec![("shop", broken("shop"))]), t.at(1));
    assert_eq!(reloaded.failed.len(), 1);
    assert!(reloaded.failed[0].1.contains("compose.yaml:3"));
    assert_eq!(view.wanted("shop"), Wanted::Spec(&spec("shop", "app:v1")));
    assert!(!view.is_valid());
    let reloaded = view.apply(
        report(vec![("shop", good(spec("shop", "app:v2")))]),
        t.at(2),
    );
    assert_eq!(reloaded.changed, vec!["shop"]);
    assert_eq!(view.wanted("shop"), Wanted::Spec(&spec("shop", "app:v2")));
    assert!(view.is_valid());
}

#[test]
fn a_project_that_never_loaded_is_frozen_not_pruned() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    view.apply(
        report(vec![
            ("shop", broken("shop")),
            ("blog", good(spec("blog", "b:1"))),
        ]),
        t.at(0),
    );
    assert_eq!(view.wanted("shop"), Wanted::Frozen);
    assert_eq!(view.projects().len(), 2);
}

#[test]
fn the_same_error_is_reported_once() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    let first = view.apply(report(vec![("shop", broken("shop"))]), t.at(0));
    assert_eq!(first.failed.len(), 1);
    let second = view.apply(report(vec![("shop", broken("shop"))]), t.at(1));
    assert!(second.failed.is_empty());
    assert_eq!(view.errors().len(), 1, "still failing");
}

fn shop_and_blog(view: &mut DesiredView, at: Instant) {
    view.apply(
        report(vec![
            ("shop", good(spec("shop", "a:1"))),
            ("blog", good(spec("blog", "b:1"))),
        ]),
        at,
    );
}

fn blog_only() -> Result<LoadReport, Error> {
    report(vec![("blog", good(spec("blog", "b:1")))])
}

#[test]
fn a_removed_project_is_pruned_only_when_a_second_load_after_the_grace_agrees() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    shop_and_blog(&mut view, t.at(0));
    let first = view.apply(blog_only(), t.at(1));
    assert_eq!(first.pending_removal, vec!["shop"]);
    assert!(first.removed.is_empty());
    assert_eq!(first.confirm_in, Some(GRACE));
    assert!(
        matches!(view.wanted("shop"), Wanted::Spec(_)),
        "still running"
    );
    let early = view.apply(blog_only(), t.at(3));
    assert!(
        early.removed.is_empty(),
        "a second load within the grace does not confirm"
    );
    assert_eq!(early.confirm_in, Some(Duration::from_secs(3)));
    let confirmed = view.apply(blog_only(), t.at(6));
    assert_eq!(confirmed.removed, vec!["shop"]);
    assert!(confirmed.changed.is_empty(), "blog did not change");
    assert_eq!(confirmed.confirm_in, None);
    assert_eq!(view.wanted("shop"), Wanted::Absent);
    let later = view.apply(blog_only(), t.at(20));
    assert!(
        later.pending_removal.is_empty(),
        "a confirmed removal is not pending again"
    );
    assert_eq!(view.wanted("shop"), Wanted::Absent);
}

#[test]
fn a_project_found_again_before_the_confirmation_is_never_removed() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    shop_and_blog(&mut view, t.at(0));
    view.apply(blog_only(), t.at(1));
    let back = report(vec![
        ("shop", good(spec("shop", "a:1"))),
        ("blog", good(spec("blog", "b:1"))),
    ]);
    let reloaded = view.apply(back, t.at(2));
    assert_eq!(reloaded.restored, vec!["shop"]);
    assert!(reloaded.changed.is_empty(), "the same spec: nothing to do");
    let after = view.apply(blog_only(), t.at(10));
    assert_eq!(
        after.pending_removal,
        vec!["shop"],
        "missing again starts over"
    );
    assert!(after.removed.is_empty());
}

#[test]
fn a_missing_compose_file_in_a_directory_that_exists_keeps_the_project() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    shop_and_blog(&mut view, t.at(0));
    for secs in [1, 10, 60] {
        let reloaded = view.apply(
            report_from(vec![("blog", "blog", good(spec("blog", "b:1")))], &["shop"]),
            t.at(secs),
        );
        assert!(reloaded.removed.is_empty() && reloaded.pending_removal.is_empty());
        assert!(matches!(view.wanted("shop"), Wanted::Spec(_)));
    }
    let error = &view.errors()["shop"];
    assert!(
        error.contains("/srv/desired/shop: no compose file"),
        "{error}"
    );
    assert!(error.contains("delete the directory"), "{error}");
}

#[test]
fn a_failing_name_is_reported_under_the_name_its_directory_last_loaded_with() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    view.apply(
        report_from(vec![("store", "shop", good(spec("store", "a:1")))], &[]),
        t.at(0),
    );
    for secs in [1, 10] {
        let reloaded = view.apply(
            report_from(vec![("shop", "shop", broken("shop"))], &[]),
            t.at(secs),
        );
        assert!(reloaded.pending_removal.is_empty() && reloaded.removed.is_empty());
    }
    assert!(matches!(view.wanted("store"), Wanted::Spec(_)));
    assert!(view.errors().contains_key("store"));
    assert!(!view.errors().contains_key("shop"));
}

#[test]
fn a_deliberate_rename_loads_the_new_name_and_removes_the_old_after_the_grace() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    view.apply(
        report_from(vec![("store", "shop", good(spec("store", "a:1")))], &[]),
        t.at(0),
    );
    let renamed = || report_from(vec![("shop", "shop", good(spec("shop", "a:1")))], &[]);
    let first = view.apply(renamed(), t.at(1));
    assert_eq!(first.changed, vec!["shop"]);
    assert_eq!(first.pending_removal, vec!["store"]);
    let confirmed = view.apply(renamed(), t.at(7));
    assert_eq!(confirmed.removed, vec!["store"]);
}

#[test]
fn an_empty_or_unreadable_directory_never_means_remove_everything() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    view.apply(report(vec![("shop", good(spec("shop", "a:1")))]), t.at(0));
    let reloaded = view.apply(report(vec![]), t.at(10));
    assert_eq!(reloaded, Default::default());
    assert!(matches!(view.wanted("shop"), Wanted::Spec(_)));
    assert!(view.root_error().unwrap().contains("no project"));
    view.apply(
        Err(Error::RootUnreadable {
            path: "/srv/desired".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }),
        t.at(20),
    );
    assert!(matches!(view.wanted("shop"), Wanted::Spec(_)));
    assert!(view.root_error().is_some());
}

#[test]
fn a_project_never_loaded_from_this_directory_is_foreign_unless_adopted() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    view.apply(blog_only(), t.at(0));
    assert_eq!(view.wanted("other-dirs-project"), Wanted::Foreign);
    let mut adopting = DesiredView::new(BTreeSet::new(), true, GRACE);
    adopting.apply(blog_only(), t.at(0));
    assert_eq!(adopting.wanted("other-dirs-project"), Wanted::Absent);
}

#[test]
fn an_owned_project_gone_while_composectl_was_down_is_pruned_after_the_confirmation() {
    let t = Clock::new();
    let owned: BTreeSet<String> = ["shop".to_owned(), "blog".to_owned()].into();
    let mut view = DesiredView::new(owned, false, GRACE);
    let first = view.apply(blog_only(), t.at(0));
    assert_eq!(first.pending_removal, vec!["shop"]);
    assert_eq!(
        view.wanted("shop"),
        Wanted::Frozen,
        "not pruned on the first load"
    );
    let confirmed = view.apply(blog_only(), t.at(5));
    assert_eq!(confirmed.removed, vec!["shop"]);
    assert_eq!(view.wanted("shop"), Wanted::Absent);
    let running: BTreeSet<String> = ["shop".to_owned(), "blog".to_owned()].into();
    assert!(!view.forget_pruned(&running), "still running: still owned");
    assert!(
        view.forget_pruned(&["blog".to_owned()].into()),
        "pruned: forgotten"
    );
    assert_eq!(view.wanted("shop"), Wanted::Foreign);
    assert_eq!(view.owned(), &["blog".to_owned()].into());
}

#[test]
fn the_only_project_losing_its_compose_file_is_its_error_not_an_empty_directory() {
    let t = Clock::new();
    let mut view = DesiredView::default();
    view.apply(report(vec![("shop", good(spec("shop", "a:1")))]), t.at(0));
    let reloaded = view.apply(report_from(vec![], &["shop"]), t.at(1));
    assert_eq!(view.root_error(), None);
    assert_eq!(reloaded.failed.len(), 1);
    assert!(view.errors()["shop"].contains("no compose file"));
    assert!(matches!(view.wanted("shop"), Wanted::Spec(_)));
}
