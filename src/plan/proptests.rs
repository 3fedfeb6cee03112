//! The planner's central property: carrying out a plan and planning again yields nothing,
//! and no plan refers to another project's container. Checked over random desired
//! projects and random hosts with a small pure simulator of the executor.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::model::observed::normalize_image_ref;
use crate::model::spec::{DependsOn, ProjectSpec};
use crate::model::{ContainerState, Health, ObservedContainer, ObservedState};

use super::fixtures::{ProjectExt, ServiceExt, container, project, svc};
use super::{Action, Plan, PlanContext, plan};

const IMAGES: [&str; 3] = ["app:1", "app:2", "docker.io/library/db:16"];

/// One generated service: replicas, image, an environment value, dependencies on earlier
/// services, and whether it uses the extra network and the volume.
#[derive(Debug, Clone)]
struct Svc {
    replicas: u32,
    image: usize,
    env: u8,
    deps: Vec<Option<DependsOn>>,
    back: bool,
    data: bool,
}

/// How a generated container deviates from what the desired spec would create.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Fine,
    Drifted,
    Exited(i64),
    Unhealthy,
    Starting,
    Restarting,
    Paused,
    Created,
    Dead,
}

/// One generated container: service index (past the last service: an orphan), replica
/// number, kind, and whether it runs the image the local tag points to now (rather than the
/// registry's) when the tag is present.
type Entry = (usize, u32, Kind, bool);

fn condition() -> impl Strategy<Value = DependsOn> {
    prop_oneof![
        Just(DependsOn::Started),
        Just(DependsOn::Healthy),
        Just(DependsOn::CompletedSuccessfully),
    ]
}

fn service() -> impl Strategy<Value = Svc> {
    (
        0..=4u32,
        0..IMAGES.len(),
        0..3u8,
        prop::collection::vec(prop::option::weighted(0.4, condition()), 4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(replicas, image, env, deps, back, data)| Svc {
            replicas,
            image,
            env,
            deps,
            back,
            data,
        })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Fine),
        2 => Just(Kind::Drifted),
        2 => prop_oneof![Just(0i64), Just(1), Just(137)].prop_map(Kind::Exited),
        1 => Just(Kind::Unhealthy),
        1 => Just(Kind::Starting),
        1 => Just(Kind::Restarting),
        1 => Just(Kind::Paused),
        1 => Just(Kind::Created),
        1 => Just(Kind::Dead),
    ]
}

fn entries(max: usize) -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec((0..5usize, 0..=5u32, kind(), any::<bool>()), 0..max)
}

/// The desired project from generated services; a dependency points only at an earlier
/// service, so `depends_on` is a DAG.
fn build_project(name: &str, services: &[Svc], env_shift: u8) -> ProjectSpec {
    let mut p = project(name).network("back", false).volume("data", false);
    for (i, s) in services.iter().enumerate() {
        let mut spec = svc(&format!("s{i}"))
            .replicas(s.replicas)
            .image(IMAGES[s.image])
            .env("TOKEN", &format!("secret-{}", s.env + env_shift));
        for (j, condition) in s.deps.iter().enumerate().take(i) {
            if let Some(condition) = condition {
                spec = spec.depends(&format!("s{j}"), *condition);
            }
        }
        if s.back {
            spec = spec.on_network("back");
        }
        if s.data {
            spec = spec.mount(name, "data", "/data");
        }
        p = p.service(spec);
    }
    p
}

/// A host holding `entries` of `p` (drifted ones built from `drifted`), numbered IDs.
fn add_entries(
    host: &mut ObservedState,
    p: &ProjectSpec,
    drifted: &ProjectSpec,
    entries: &[Entry],
) {
    for (index, &(service, number, kind, alt_image)) in entries.iter().enumerate() {
        let name = format!("s{service}");
        let source = if matches!(kind, Kind::Drifted) {
            drifted
        } else {
            p
        };
        let orphan = svc("gone");
        let spec = source.services.get(&name).unwrap_or(&orphan);
        // A container runs the registry's image unless the local tag was moved since.
        let retagged = alt_image && host.image_id(&spec.image).is_some();
        let image_id = image_id(&spec.image, retagged);
        let id = format!("{}-{index}", p.name);
        let mut c = container(source, spec, number, id, image_id);
        c.created = i64::try_from(index).unwrap_or_default();
        shape(&mut c, kind);
        host.containers.insert(c.id.clone(), c);
    }
}

fn shape(c: &mut ObservedContainer, kind: Kind) {
    match kind {
        Kind::Fine | Kind::Drifted => {}
        Kind::Exited(code) => {
            c.state = ContainerState::Exited;
            c.exit_code = Some(code);
        }
        Kind::Unhealthy => c.health = Some(Health::Unhealthy),
        Kind::Starting => c.health = Some(Health::Starting),
        Kind::Restarting => c.state = ContainerState::Restarting,
        Kind::Paused => c.state = ContainerState::Paused,
        Kind::Created => c.state = ContainerState::Created,
        Kind::Dead => c.state = ContainerState::Dead,
    }
}

/// Carries `plan` out on `host` as the executor would, checking what it may touch.
fn apply(spec: Option<&ProjectSpec>, host: &mut ObservedState, plan: &Plan) {
    for (step, action) in plan.actions.iter().enumerate() {
        match action {
            Action::PullImage { image } => {
                let id = image_id(image, false);
                host.images.insert(normalize_image_ref(image), id);
            }
            Action::Build { image, hash, .. } => {
                let id = format!("sha256:built-{hash}");
                host.images.insert(normalize_image_ref(image), id.clone());
                host.built.insert(hash.clone(), id);
            }
            Action::TagImage {
                reference,
                image_id,
                ..
            } => {
                host.images
                    .insert(normalize_image_ref(reference), image_id.clone());
            }
            Action::EnsureNetwork { .. }
            | Action::EnsureVolume { .. }
            | Action::WaitFor { .. }
            | Action::PruneNetworks => {}
            Action::Remove { container, .. } => {
                take(host, &container.id);
            }
            Action::RecreateNetwork { key, detach, .. } => {
                for container in detach {
                    take(host, &container.id);
                }
                let spec = spec.expect("a recreate is planned for a desired project");
                let network = &spec.networks[key];
                let labels = crate::model::resource_hash::identity_labels(
                    &crate::model::resource_hash::network_fields(network),
                );
                host.networks.insert(
                    network.name.clone(),
                    crate::model::observed::ObservedResource {
                        project: spec.name.clone(),
                        key: key.clone(),
                        labels,
                    },
                );
            }
            Action::Rename { container, name } => {
                let c = host
                    .containers
                    .get_mut(&container.id)
                    .expect("renames an observed container");
                c.name.clone_from(name);
            }
            Action::Start { container, .. } => {
                let c = host
                    .containers
                    .get_mut(&container.id)
                    .expect("starts an observed container");
                c.state = ContainerState::Running;
                c.exit_code = None;
                c.finished_at = None;
                c.health = Some(Health::Healthy);
            }
            Action::Create {
                service, number, ..
            } => create(spec, host, service, *number, step),
            Action::Replace {
                container,
                service,
                number,
                ..
            }
            | Action::ReplaceStartFirst {
                container,
                service,
                number,
                ..
            } => {
                take(host, &container.id);
                create(spec, host, service, *number, step);
            }
        }
    }
}

fn take(host: &mut ObservedState, id: &str) {
    let gone = host
        .containers
        .remove(id)
        .expect("acts on an observed container");
    assert_eq!(gone.project, "shop", "touched another project's container");
}

fn create(
    spec: Option<&ProjectSpec>,
    host: &mut ObservedState,
    service: &str,
    number: u32,
    step: usize,
) {
    let spec = spec.expect("a removed project gets no creates");
    let s = &spec.services[service];
    let image_id = host
        .image_id(&s.image)
        .expect("the image is pulled before the create")
        .to_owned();
    let mut c = container(spec, s, number, format!("new-{step}"), image_id);
    c.health = Some(Health::Healthy);
    c.created = 1_000 + i64::try_from(step).unwrap_or_default();
    host.containers.insert(c.id.clone(), c);
}

/// The ID of `image` as the registry has it (`retagged`: as a local build moved the tag
/// to). The registry does not change while a plan runs, so a pull yields its ID.
fn image_id(image: &str, retagged: bool) -> String {
    let image = normalize_image_ref(image);
    format!(
        "sha256:{image}-{}",
        if retagged { "local" } else { "registry" }
    )
}

/// Local tags: absent, the registry's image, or moved to a local one.
fn images(present: &[Option<bool>]) -> BTreeMap<String, String> {
    IMAGES
        .iter()
        .zip(present)
        .filter_map(|(image, retagged)| {
            retagged.map(|retagged| (normalize_image_ref(image), image_id(image, retagged)))
        })
        .collect()
}

/// (service, number) of every container of `shop`, sorted, duplicates kept.
fn slots(host: &ObservedState) -> Vec<(String, u32)> {
    let mut slots: Vec<_> = host
        .project("shop")
        .map(|c| (c.service.clone(), c.number))
        .collect();
    slots.sort();
    slots
}

/// `plan` with its actions in a random order its dependency graph allows (as a concurrent
/// executor may complete them), or `None` when the graph has an edge that is not to an
/// earlier action (a possible cycle).
fn in_graph_order(plan: &Plan, spec: Option<&ProjectSpec>, picks: &[u16]) -> Option<Plan> {
    let unnamed = ProjectSpec {
        name: plan.project.clone(),
        ..ProjectSpec::default()
    };
    let graph = super::graph::graph(plan, spec.unwrap_or(&unnamed));
    if graph
        .deps
        .iter()
        .enumerate()
        .any(|(i, deps)| deps.iter().any(|&d| d >= i))
    {
        return None;
    }
    let mut done = vec![false; plan.actions.len()];
    let mut actions = Vec::with_capacity(plan.actions.len());
    for step in 0..plan.actions.len() {
        let ready: Vec<usize> = (0..plan.actions.len())
            .filter(|&i| !done[i] && graph.deps[i].iter().all(|&d| done[d]))
            .collect();
        let pick = usize::from(picks.get(step % picks.len().max(1)).copied().unwrap_or(0));
        let i = *ready.get(pick % ready.len().max(1))?;
        done[i] = true;
        actions.push(plan.actions[i].clone());
    }
    Some(Plan {
        actions,
        ..plan.clone()
    })
}

/// The slots a converged host has: `1..=replicas` of every service, nothing else.
fn wanted(spec: Option<&ProjectSpec>) -> Vec<(String, u32)> {
    spec.into_iter()
        .flat_map(|p| p.services.values())
        .flat_map(|s| (1..=s.replicas).map(|n| (s.name.clone(), n)))
        .collect()
}

proptest! {
    #[test]
    fn planning_the_result_of_a_plan_yields_nothing(
        services in prop::collection::vec(service(), 1..=4),
        own in entries(10),
        other in entries(4),
        present in prop::collection::vec(prop::option::of(any::<bool>()), IMAGES.len()),
        gone in prop::bool::weighted(0.15),
        order in prop::collection::vec(any::<u16>(), 64),
    ) {
        let desired = build_project("shop", &services, 0);
        let drifted = build_project("shop", &services, 1);
        let blog = build_project("blog", &services, 0);
        let mut host = ObservedState { images: images(&present), ..ObservedState::default() };
        add_entries(&mut host, &desired, &drifted, &own);
        add_entries(&mut host, &blog, &blog, &other);
        let before_blog: Vec<_> = host.project("blog").cloned().collect();
        let spec = (!gone).then_some(&desired);
        let ctx = PlanContext::default();

        let first = plan("shop", spec, &host, &ctx);
        let shuffled = in_graph_order(&first, spec, &order);
        prop_assert!(shuffled.is_some(), "the graph of {:?} has a cycle", first);
        apply(spec, &mut host, &shuffled.unwrap_or_default());
        let second = plan("shop", spec, &host, &ctx);

        prop_assert!(second.actions.is_empty(), "second plan: {:?}\nfirst: {:?}", second, first);
        prop_assert!(second.deferred.is_empty());
        prop_assert_eq!(slots(&host), wanted(spec), "one container per desired slot");
        let after_blog: Vec<_> = host.project("blog").cloned().collect();
        prop_assert_eq!(before_blog, after_blog);
        let text = format!("{first:?}{first}");
        prop_assert!(!text.contains("secret-"), "an environment value leaked");
    }
}
