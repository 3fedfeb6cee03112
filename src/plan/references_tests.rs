//! A replica created against another service's container (its network namespace, its
//! volumes, a `restart: true` dependency) is replaced when that container is.

use crate::model::ObservedState;
use crate::model::labels;
use crate::model::refs::{NetworkMode, VolumesFrom, VolumesSource};
use crate::model::spec::{DependsOn, ProjectSpec};

use super::fixtures::{ObservedExt, ProjectExt, observed, project, svc};
use super::{PlanContext, plan};

/// `a`, and `b` in a's network namespace (with the dependency the loader implies).
fn shared() -> ProjectSpec {
    let mut b = svc("b");
    b.networks.clear();
    b.network_mode = Some(NetworkMode::Service("a".into()));
    b.depends_on.insert("a".into(), DependsOn::Started);
    b.restart_with.insert("a".into());
    project("shop").service(svc("a")).service(b)
}

/// `a` running, and `b` created against the container `joined` with reference `kind`.
fn host(p: &ProjectSpec, kind: &str, joined: &str) -> ObservedState {
    let label = format!("{kind}:a={joined}");
    observed().running(p, "a", 1).with(p, "b", 1, |c| {
        c.labels.insert(labels::REFERENCES.into(), label);
    })
}

fn lines(p: &ProjectSpec, host: &ObservedState) -> Vec<String> {
    plan("shop", Some(p), host, &PlanContext::default())
        .actions
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_replica_in_the_current_namespace_is_kept() {
    let p = shared();
    assert!(lines(&p, &host(&p, "network", "shop-a-1-0")).is_empty());
}

#[test]
fn a_replica_in_a_replaced_namespace_is_replaced() {
    let p = shared();
    assert_eq!(
        lines(&p, &host(&p, "network", "gone")),
        ["replace shop-b-1 (the network namespace of service a was replaced)"]
    );
}

#[test]
fn replacing_the_namespace_owner_replaces_the_replica_in_the_same_plan() {
    let p = shared();
    let host = host(&p, "network", "shop-a-1-0");
    let mut changed = p.clone();
    changed
        .services
        .get_mut("a")
        .unwrap()
        .environment
        .insert("MODE".into(), "fast".into());
    assert_eq!(
        lines(&changed, &host),
        [
            "replace shop-a-1 (config changed: environment)",
            "wait for a started (before b)",
            "replace shop-b-1 (the network namespace of service a was replaced)",
        ]
    );
}

#[test]
fn volumes_from_and_restart_dependencies_are_judged_alike() {
    let mut b = svc("b");
    b.volumes_from = vec![VolumesFrom {
        source: VolumesSource::Service("a".into()),
        read_only: false,
    }];
    b.depends_on.insert("a".into(), DependsOn::Started);
    let p = project("shop").service(svc("a")).service(b.clone());
    assert_eq!(
        lines(&p, &host(&p, "volumes", "gone")),
        ["replace shop-b-1 (the container of service a whose volumes it mounts was replaced)"]
    );
    b.volumes_from.clear();
    b.restart_with.insert("a".into());
    let p = project("shop").service(svc("a")).service(b);
    assert_eq!(
        lines(&p, &host(&p, "restart", "gone")),
        ["replace shop-b-1 (dependency a was replaced (depends_on restart: true))"]
    );
}

#[test]
fn a_reference_the_spec_no_longer_makes_is_not_judged() {
    // Dropping `restart: true` changes no container config: the old label is ignored.
    let p = project("shop").service(svc("a")).service(svc("b"));
    assert!(lines(&p, &host(&p, "restart", "gone")).is_empty());
}

/// `a` with a shareable IPC namespace, and `b` in a's IPC and PID namespaces (with the
/// dependency the loader implies).
fn namespaces() -> ProjectSpec {
    let mut a = svc("a");
    a.ipc = Some("shareable".into());
    let mut b = svc("b");
    b.ipc = Some("service:a".into());
    b.pid = Some("service:a".into());
    b.depends_on.insert("a".into(), DependsOn::Started);
    b.restart_with.insert("a".into());
    project("shop").service(a).service(b)
}

/// `a` running, and `b` created against `joined` for its IPC and PID namespaces.
fn namespaces_host(p: &ProjectSpec, joined: &str) -> ObservedState {
    let label = format!("ipc:a={joined},pid:a={joined},restart:a={joined}");
    observed().running(p, "a", 1).with(p, "b", 1, |c| {
        c.labels.insert(labels::REFERENCES.into(), label);
    })
}

#[test]
fn replacing_the_owner_of_ipc_and_pid_namespaces_replaces_the_replica_and_then_nothing() {
    let p = namespaces();
    assert!(lines(&p, &namespaces_host(&p, "shop-a-1-0")).is_empty());
    let mut changed = p.clone();
    changed
        .services
        .get_mut("a")
        .unwrap()
        .environment
        .insert("MODE".into(), "fast".into());
    assert_eq!(
        lines(&changed, &namespaces_host(&p, "shop-a-1-0")),
        [
            "replace shop-a-1 (config changed: environment)",
            "wait for a started (before b)",
            "replace shop-b-1 (the IPC namespace of service a was replaced)",
        ]
    );
    // Once both are replaced, b created against a's new container: nothing left to do.
    assert!(lines(&changed, &namespaces_host(&changed, "shop-a-1-0")).is_empty());
}

#[test]
fn a_replica_in_a_replaced_pid_namespace_is_replaced() {
    let mut b = svc("b");
    b.pid = Some("service:a".into());
    b.depends_on.insert("a".into(), DependsOn::Started);
    let p = project("shop").service(svc("a")).service(b);
    assert_eq!(
        lines(&p, &host(&p, "pid", "gone")),
        ["replace shop-b-1 (the PID namespace of service a was replaced)"]
    );
    // A label whose reference the spec no longer makes is not judged.
    let p = project("shop").service(svc("a")).service(svc("b"));
    assert!(lines(&p, &host(&p, "pid", "gone")).is_empty());
}
