//! Table tests of changed network and volume definitions: which network is recreated with
//! which containers, what the plan says, and that a volume is never touched.

use crate::model::observed::ObservedResource;
use crate::model::resource_hash::{identity_labels, network_fields, volume_fields};
use crate::model::spec::{Ipam, IpamPool, ProjectSpec};
use crate::model::{ObservedState, labels};

use super::fixtures::{ObservedExt, ProjectExt, ServiceExt, observed, project, svc};
use super::{PlanContext, plan, render};

fn with_subnet(mut p: ProjectSpec, key: &str, subnet: &str) -> ProjectSpec {
    let net = p.networks.get_mut(key).expect("declared");
    net.ipam = Some(Ipam {
        config: vec![IpamPool {
            subnet: Some(subnet.to_owned()),
            ..IpamPool::default()
        }],
        ..Ipam::default()
    });
    p
}

/// The host's networks as composectl created them from `created`'s definitions, for
/// `project`.
fn networks_of(mut host: ObservedState, created: &ProjectSpec, project: &str) -> ObservedState {
    for (key, net) in &created.networks {
        host.networks.insert(
            net.name.clone(),
            ObservedResource {
                project: project.to_owned(),
                key: key.clone(),
                labels: identity_labels(&network_fields(net)),
            },
        );
    }
    host
}

/// Two web replicas and one worker on `default`; `api` on `back` too.
fn shop(subnet: &str) -> ProjectSpec {
    let p = project("shop")
        .network("back", false)
        .service(svc("web").replicas(2))
        .service(svc("api").on_network("back"))
        .service(svc("worker"));
    with_subnet(p, "back", subnet)
}

fn host_of(p: &ProjectSpec) -> ObservedState {
    let host = observed()
        .running(p, "web", 1)
        .running(p, "web", 2)
        .running(p, "api", 1)
        .running(p, "worker", 1);
    networks_of(host, p, "shop")
}

fn lines(desired: &ProjectSpec, host: &ObservedState) -> Vec<String> {
    plan("shop", Some(desired), host, &PlanContext::default())
        .actions
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn changed_network_definitions_recreate_the_network_and_what_is_on_it() {
    let old = shop("10.1.0.0/24");
    let new = shop("10.2.0.0/24");
    let unlabelled = {
        let mut h = host_of(&old);
        h.networks.values_mut().for_each(|n| n.labels.clear());
        h
    };
    let foreign = networks_of(host_of(&old), &old, "other");
    let cases: Vec<(&str, ProjectSpec, ObservedState, &[&str])> = vec![
        ("unchanged", old.clone(), host_of(&old), &[]),
        (
            "a subnet changed: only the containers on that network go",
            new.clone(),
            host_of(&old),
            &[
                "recreate network back (ipam changed)",
                "create api #1 (config changed: networks.back recreated)",
            ],
        ),
        (
            "the network composectl created before it labelled definitions is not judged",
            new.clone(),
            unlabelled,
            &[],
        ),
        (
            "a network of that name made for another project is not this one's",
            new.clone(),
            foreign,
            &[],
        ),
        (
            "nothing attached: the network alone",
            new.clone(),
            networks_of(
                observed()
                    .running(&old, "web", 1)
                    .running(&old, "web", 2)
                    .running(&old, "worker", 1),
                &old,
                "shop",
            ),
            &[
                "pull image api:1",
                "recreate network back (ipam changed)",
                "create api #1 (replica missing)",
            ],
        ),
        (
            "a changed driver option of the default network takes every replica",
            {
                let mut p = old.clone();
                p.networks.get_mut("default").unwrap().driver_opts.insert(
                    "com.docker.network.bridge.enable_icc".into(),
                    "false".into(),
                );
                p
            },
            host_of(&old),
            &[
                "recreate network default (driver_opts changed)",
                "create api #1 (config changed: networks.default recreated)",
                "create web #1 (config changed: networks.default recreated)",
                "create web #2 (config changed: networks.default recreated)",
                "create worker #1 (config changed: networks.default recreated)",
            ],
        ),
    ];
    for (name, desired, host, expected) in cases {
        assert_eq!(lines(&desired, &host), expected, "case: {name}");
    }
}

#[test]
fn an_external_network_is_never_recreated() {
    let mut p = shop("10.1.0.0/24");
    let host = host_of(&p);
    let back = p.networks.get_mut("back").unwrap();
    back.external = true;
    back.ipam = None;
    assert_eq!(lines(&p, &host), Vec::<String>::new());
}

#[test]
fn the_recreate_line_says_it_detaches_the_containers() {
    let host = host_of(&shop("10.1.0.0/24"));
    let planned = plan(
        "shop",
        Some(&shop("10.2.0.0/24")),
        &host,
        &PlanContext::default(),
    );
    let text = render(&planned);
    assert!(
        text.contains("~ network back  recreate (ipam changed): detaches its containers (removes and recreates shop-api-1)"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 1 to create, 0 to replace, 0 to remove, 1 network to recreate."),
        "{text}"
    );
    let alone = networks_of(observed(), &shop("10.1.0.0/24"), "shop");
    let mut spec = shop("10.2.0.0/24");
    spec.services.clear();
    spec.services
        .insert("api".into(), svc("api").on_network("back"));
    spec.services.get_mut("api").unwrap().replicas = 0;
    let planned = plan("shop", Some(&spec), &alone, &PlanContext::default());
    assert!(
        render(&planned)
            .contains("Plan: 0 to create, 0 to replace, 0 to remove, 1 network to recreate."),
        "a recreate alone is a change: {}",
        render(&planned)
    );
}

#[test]
fn the_plan_after_a_recreate_is_empty() {
    let new = shop("10.2.0.0/24");
    let before = host_of(&shop("10.1.0.0/24"));
    assert!(!lines(&new, &before).is_empty());
    // What the executor leaves: the network with its new definition, api created anew.
    let after = networks_of(
        observed()
            .running(&new, "web", 1)
            .running(&new, "web", 2)
            .running(&new, "api", 1)
            .running(&new, "worker", 1),
        &new,
        "shop",
    );
    assert_eq!(lines(&new, &after), Vec::<String>::new());
}

#[test]
fn a_changed_volume_is_kept_and_the_plan_says_how_to_apply_it() {
    let old = project("shop")
        .volume("data", false)
        .service(svc("db").mount("shop", "data", "/var/lib/db"));
    let mut host = networks_of(observed().running(&old, "db", 1), &old, "shop");
    let volume = &old.volumes["data"];
    let mut vol_labels = labels::resource_labels("shop", labels::VOLUME, "data", &volume.labels);
    vol_labels.extend(identity_labels(&volume_fields(volume)));
    host.volumes.insert(
        volume.name.clone(),
        ObservedResource::from_labels(vol_labels, labels::VOLUME),
    );
    assert!(
        plan("shop", Some(&old), &host, &PlanContext::default())
            .notes
            .is_empty()
    );

    let mut new = old.clone();
    new.volumes
        .get_mut("data")
        .unwrap()
        .driver_opts
        .insert("type".into(), "nfs".into());
    let planned = plan("shop", Some(&new), &host, &PlanContext::default());
    assert!(
        planned.is_empty(),
        "a volume is never removed: {:?}",
        planned.actions
    );
    assert_eq!(planned.notes.len(), 1);
    let text = render(&planned);
    assert!(
        text.contains("! volume data  keeps its old settings (driver_opts changed)"),
        "{text}"
    );
    assert!(text.contains("docker volume rm shop_data"), "{text}");
    assert!(text.contains("its data is lost"), "{text}");
}
