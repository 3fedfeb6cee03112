//! Tests of the desired view: last-known-good, frozen and absent projects.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::view::{DesiredView, Target};
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

fn report(projects: Vec<(&str, Result<Loaded, Error>)>) -> Result<LoadReport, Error> {
    Ok(LoadReport {
        projects: projects
            .into_iter()
            .map(|(n, l)| (n.to_owned(), l))
            .collect::<BTreeMap<_, _>>(),
    })
}

#[test]
fn a_project_that_breaks_keeps_its_last_known_good_spec() {
    let mut view = DesiredView::default();
    view.apply(report(vec![("shop", good(spec("shop", "app:v1")))]));
    let reloaded = view.apply(report(vec![("shop", broken("shop"))]));
    assert_eq!(reloaded.failed.len(), 1);
    assert!(reloaded.failed[0].1.contains("compose.yaml:3"));
    assert_eq!(view.target("shop"), Target::Spec(&spec("shop", "app:v1")));
    assert!(!view.is_valid());
    let reloaded = view.apply(report(vec![("shop", good(spec("shop", "app:v2")))]));
    assert_eq!(reloaded.changed, vec!["shop"]);
    assert_eq!(view.target("shop"), Target::Spec(&spec("shop", "app:v2")));
    assert!(view.is_valid());
}

#[test]
fn a_project_that_never_loaded_is_frozen_not_pruned() {
    let mut view = DesiredView::default();
    view.apply(report(vec![
        ("shop", broken("shop")),
        ("blog", good(spec("blog", "b:1"))),
    ]));
    assert_eq!(view.target("shop"), Target::Frozen);
    assert_eq!(view.target("unknown"), Target::Absent);
    assert_eq!(view.projects().len(), 2);
}

#[test]
fn the_same_error_is_reported_once() {
    let mut view = DesiredView::default();
    assert_eq!(
        view.apply(report(vec![("shop", broken("shop"))]))
            .failed
            .len(),
        1
    );
    assert!(
        view.apply(report(vec![("shop", broken("shop"))]))
            .failed
            .is_empty()
    );
    assert_eq!(view.errors().len(), 1, "still failing");
}

#[test]
fn a_removed_project_becomes_absent() {
    let mut view = DesiredView::default();
    view.apply(report(vec![
        ("shop", good(spec("shop", "a:1"))),
        ("blog", good(spec("blog", "b:1"))),
    ]));
    let reloaded = view.apply(report(vec![("blog", good(spec("blog", "b:1")))]));
    assert_eq!(reloaded.removed, vec!["shop"]);
    assert!(reloaded.changed.is_empty(), "blog did not change");
    assert_eq!(view.target("shop"), Target::Absent);
}

#[test]
fn an_empty_or_unreadable_directory_never_means_remove_everything() {
    let mut view = DesiredView::default();
    view.apply(report(vec![("shop", good(spec("shop", "a:1")))]));
    let reloaded = view.apply(report(vec![]));
    assert_eq!(reloaded, Default::default());
    assert!(matches!(view.target("shop"), Target::Spec(_)));
    assert!(view.root_error().unwrap().contains("no project"));
    view.apply(Err(Error::RootUnreadable {
        path: "/srv/desired".into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    }));
    assert!(matches!(view.target("shop"), Target::Spec(_)));
    assert!(view.root_error().is_some());
}
