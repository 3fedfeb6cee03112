//! Tests of the store and the reflector, against the fake engine with a paused clock.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::model::spec::{ProjectSpec, ServiceSpec};
use crate::model::{ContainerState, Health};
use crate::runtime::ContainerRuntime;
use crate::runtime::fake::{Call, FakeRuntime};

/// How long a test waits for the reflector before failing (virtual time).
const PATIENCE: Duration = Duration::from_secs(60);

fn project(name: &str) -> ProjectSpec {
    ProjectSpec {
        name: name.into(),
        ..ProjectSpec::default()
    }
}

/// A running reflector over `fake`, with its store, change channel and reconnect counter.
struct Harness {
    store: Store,
    changes: mpsc::UnboundedReceiver<Change>,
    reconnects: Reconnects,
    up: StreamUp,
    _stop: oneshot::Sender<()>,
}

fn start(fake: &FakeRuntime) -> Harness {
    start_with(fake, Store::new())
}

fn start_with(fake: &FakeRuntime, store: Store) -> Harness {
    let (tx, changes) = mpsc::unbounded_channel();
    let reflector = Reflector::new(Arc::new(fake.clone()), store.clone(), tx);
    let reconnects = reflector.reconnects();
    let up = reflector.up();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(reflector.run(stopped));
    Harness {
        store,
        changes,
        reconnects,
        up,
        _stop: stop,
    }
}

impl Harness {
    /// The next change the reflector sent.
    async fn next_change(&mut self) -> Change {
        within("a change", self.changes.recv()).await.unwrap()
    }
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(start_paused = true)]
async fn initial_list_fills_the_store_and_announces_everything() {
    let fake = FakeRuntime::new();
    let id = fake.add_managed(&project("shop"), &ServiceSpec::new("web", "nginx"), 1);
    fake.add_unmanaged("portainer");
    let mut h = start(&fake);

    assert_eq!(h.next_change().await, Change::All);
    assert!(h.store.is_ready());
    let state = h.store.snapshot();
    assert_eq!(state.containers.keys().collect::<Vec<_>>(), [&id]);
    assert_eq!(state.image_id("nginx"), Some("sha256:nginx:latest"));
    let calls = fake.calls();
    assert_eq!(
        calls,
        [
            Call::Events,
            Call::ListContainers,
            Call::ListImages,
            Call::ListManagedNetworks { project: None },
            Call::ListManagedVolumes,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_killed_container_is_reflected_as_exited_for_its_project() {
    let fake = FakeRuntime::new();
    let id = fake.add_managed(&project("shop"), &ServiceSpec::new("web", "nginx"), 1);
    let mut h = start(&fake);
    assert_eq!(h.next_change().await, Change::All);

    fake.kill(&id, 137);

    assert_eq!(h.next_change().await, Change::Project("shop".into()));
    let c = h.store.container(&id).unwrap();
    assert_eq!((c.state, c.exit_code), (ContainerState::Exited, Some(137)));
}

/// A replica of `shop` whose restart policy is `policy`, in the fake, and a reflector
/// over it that has listed it; the inspect after the next event fails.
async fn killed_while_inspects_fail(
    policy: crate::model::spec::RestartPolicy,
) -> (FakeRuntime, Harness, String) {
    let fake = FakeRuntime::new();
    let mut web = ServiceSpec::new("web", "nginx");
    web.restart = policy;
    let id = fake.add_managed(&project("shop"), &web, 1);
    let mut h = start(&fake);
    assert_eq!(h.next_change().await, Change::All);
    fake.fail_next(
        crate::runtime::fake::Op::InspectContainer,
        crate::runtime::Error::Unavailable {
            operation: "inspect_container",
            message: "tearing down".into(),
        },
    );
    fake.kill(&id, 137);
    (fake, h, id)
}

#[tokio::test(start_paused = true)]
async fn a_die_is_recorded_from_the_event_before_the_inspect_answers() {
    let (_fake, mut h, id) =
        killed_while_inspects_fail(crate::model::spec::RestartPolicy::No).await;

    // The exit is in the store and its project told, though the inspect failed.
    assert_eq!(h.next_change().await, Change::Project("shop".into()));
    let c = h.store.container(&id).unwrap();
    assert_eq!((c.state, c.exit_code), (ContainerState::Exited, Some(137)));
    assert!(c.finished_at.is_some(), "the event's time is the exit's");
}

#[tokio::test(start_paused = true)]
async fn a_die_of_a_container_the_engine_may_restart_waits_for_the_inspect() {
    let (_fake, mut h, id) =
        killed_while_inspects_fail(crate::model::spec::RestartPolicy::Always).await;

    // No state from the event: the failed inspect ends the stream, the relist reads it.
    assert_eq!(h.next_change().await, Change::All);
    let c = h.store.container(&id).unwrap();
    assert_eq!(c.state, ContainerState::Exited, "read by the relist");
}

#[tokio::test(start_paused = true)]
async fn a_container_removed_by_hand_leaves_the_store() {
    let fake = FakeRuntime::new();
    let id = fake.add_managed(&project("shop"), &ServiceSpec::new("web", "nginx"), 1);
    let mut h = start(&fake);
    assert_eq!(h.next_change().await, Change::All);

    fake.remove_by_hand(&id);

    assert_eq!(h.next_change().await, Change::Project("shop".into()));
    assert!(h.store.container(&id).is_none());
}

#[tokio::test(start_paused = true)]
async fn health_changes_are_reflected() {
    let fake = FakeRuntime::new();
    let id = fake.add_managed(&project("shop"), &ServiceSpec::new("web", "nginx"), 1);
    let mut h = start(&fake);
    assert_eq!(h.next_change().await, Change::All);

    fake.set_health(&id, Health::Unhealthy);

    assert_eq!(h.next_change().await, Change::Project("shop".into()));
    assert_eq!(
        h.store.container(&id).unwrap().health,
        Some(Health::Unhealthy)
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_stream_reconnects_and_relists_what_changed_meanwhile() {
    let fake = FakeRuntime::new();
    let web = ServiceSpec::new("web", "nginx");
    let id = fake.add_managed(&project("shop"), &web, 1);
    let mut h = start(&fake);
    assert_eq!(h.next_change().await, Change::All);

    fake.disconnect_events();
    // While nobody listens: one container dies, another appears; no event reaches anyone.
    fake.kill(&id, 1);
    let new = fake.add_managed(&project("shop"), &web, 2);

    assert_eq!(h.next_change().await, Change::All);
    assert_eq!(h.reconnects.get(), 1);
    assert!(h.up.get(), "up again after the relist");
    let state = h.store.snapshot();
    assert_eq!(state.containers[&id].state, ContainerState::Exited);
    assert!(state.containers.contains_key(&new));
    let lists = fake
        .calls()
        .iter()
        .filter(|c| **c == Call::ListContainers)
        .count();
    assert_eq!(lists, 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_relist_is_retried_after_a_backoff() {
    let fake = FakeRuntime::new();
    fake.fail_next(
        crate::runtime::fake::Op::ListContainers,
        crate::runtime::Error::Unavailable {
            operation: "list_containers",
            message: "down".into(),
        },
    );
    let mut h = start(&fake);
    let before = tokio::time::Instant::now();
    assert!(!h.up.get(), "not up before a list succeeded");

    assert_eq!(h.next_change().await, Change::All);
    assert!(h.up.get());

    assert!(h.store.is_ready());
    assert!(before.elapsed() >= Duration::from_millis(100));
    let subscriptions = fake.calls().iter().filter(|c| **c == Call::Events).count();
    assert_eq!(subscriptions, 2);
}

/// Virtual time from a disconnect until the reflector has relisted.
async fn time_to_relist(fake: &FakeRuntime, h: &mut Harness) -> Duration {
    let before = tokio::time::Instant::now();
    fake.disconnect_events();
    assert_eq!(h.next_change().await, Change::All);
    before.elapsed()
}

#[tokio::test(start_paused = true)]
async fn reconnect_delays_grow_and_start_over_after_a_healthy_stream() {
    let fake = FakeRuntime::new();
    let mut h = start(&fake);
    assert_eq!(h.next_change().await, Change::All);

    let first = time_to_relist(&fake, &mut h).await;
    let second = time_to_relist(&fake, &mut h).await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let after_healthy = time_to_relist(&fake, &mut h).await;

    let ms = |d: Duration| d.as_millis();
    // Jitter adds up to one more delay; the timer's millisecond resolution may round up to
    // the upper bound, hence the inclusive ranges.
    assert!((100..=200).contains(&ms(first)), "{first:?}");
    assert!((200..=400).contains(&ms(second)), "{second:?}");
    assert!(
        (100..=200).contains(&ms(after_healthy)),
        "{after_healthy:?}"
    );
    assert_eq!(h.reconnects.get(), 3);
}

#[tokio::test(start_paused = true)]
async fn an_image_tag_refreshes_the_images() {
    let fake = FakeRuntime::new();
    let mut h = start(&fake);
    assert_eq!(h.next_change().await, Change::All);

    fake.add_image("app:previous", "sha256:old");

    assert_eq!(h.next_change().await, Change::All);
    assert_eq!(
        h.store.snapshot().image_id("app:previous"),
        Some("sha256:old")
    );
}

#[tokio::test]
async fn store_versions_bump_only_on_real_changes() {
    let store = Store::new();
    let changes = store.changed();
    let c = ObservedContainer {
        id: "a".into(),
        ..ObservedContainer::default()
    };
    store.upsert(c.clone());
    store.upsert(c);
    assert_eq!(*changes.borrow(), 1);
    assert!(store.remove("missing").is_none());
    assert!(store.remove("a").is_some());
    assert_eq!(*changes.borrow(), 2);
    assert!(!store.is_ready());
    store.replace(ObservedState::default());
    assert!(store.is_ready());
}

#[test]
fn a_created_read_never_overwrites_a_started_container() {
    let store = Store::new();
    let with = |state| ObservedContainer {
        id: "a".into(),
        state,
        ..ObservedContainer::default()
    };
    store.upsert(with(ContainerState::Created));
    store.upsert(with(ContainerState::Running));
    store.upsert(with(ContainerState::Created));
    assert_eq!(store.container("a").unwrap().state, ContainerState::Running);

    let listed = ObservedState {
        containers: [("a".to_owned(), with(ContainerState::Created))].into(),
        ..ObservedState::default()
    };
    store.replace(listed);
    assert_eq!(store.container("a").unwrap().state, ContainerState::Running);

    store.upsert(with(ContainerState::Exited));
    assert_eq!(store.container("a").unwrap().state, ContainerState::Exited);
}

fn container(id: &str, state: ContainerState) -> ObservedContainer {
    ObservedContainer {
        id: id.into(),
        name: format!("shop-web-{id}"),
        project: "shop".into(),
        service: "web".into(),
        state,
        ..ObservedContainer::default()
    }
}

fn listed(containers: &[ObservedContainer]) -> ObservedState {
    ObservedState {
        containers: containers
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect(),
        ..ObservedState::default()
    }
}

#[test]
fn a_snapshot_is_shared_until_a_write_and_never_shows_later_writes() {
    let store = Store::new();
    store.replace(listed(&[container("a", ContainerState::Running)]));
    let first = store.snapshot();
    assert!(
        Arc::ptr_eq(&first, &store.snapshot()),
        "no write between them: one state, not a copy per snapshot"
    );
    assert!(
        !store.upsert(container("a", ContainerState::Running)),
        "nothing changed"
    );
    assert!(
        Arc::ptr_eq(&first, &store.snapshot()),
        "a no-op write copies nothing"
    );
    store.upsert(container("a", ContainerState::Exited));
    store.upsert(container("b", ContainerState::Running));
    store.remove("a");
    assert_eq!(first.containers["a"].state, ContainerState::Running);
    assert_eq!(
        first.containers.len(),
        1,
        "the snapshot stays as it was taken"
    );
    let now = store.snapshot();
    assert!(!now.containers.contains_key("a"));
    assert_eq!(now.containers["b"].state, ContainerState::Running);
}

#[test]
fn a_list_read_before_a_create_does_not_drop_the_created_container() {
    let store = Store::new();
    store.replace(listed(&[container("a", ContainerState::Running)]));
    let listed_at = store.version();
    // The executor creates `b` while the list (which does not show it) is in flight.
    store.upsert(container("b", ContainerState::Running));
    store.replace_listed(
        listed(&[container("a", ContainerState::Running)]),
        listed_at,
    );
    assert!(store.container("b").is_some(), "the newer create survives");
    assert!(store.container("a").is_some());
}

#[test]
fn a_list_read_before_a_removal_does_not_bring_the_container_back() {
    let store = Store::new();
    store.replace(listed(&[
        container("a", ContainerState::Running),
        container("b", ContainerState::Exited),
    ]));
    let listed_at = store.version();
    store.remove("b");
    store.replace_listed(
        listed(&[
            container("a", ContainerState::Running),
            container("b", ContainerState::Exited),
        ]),
        listed_at,
    );
    assert!(store.container("b").is_none(), "the removal survives");
}

#[test]
fn a_list_read_after_the_writes_wins() {
    let store = Store::new();
    store.upsert(container("a", ContainerState::Running));
    let listed_at = store.version();
    store.replace_listed(listed(&[container("a", ContainerState::Exited)]), listed_at);
    assert_eq!(store.container("a").unwrap().state, ContainerState::Exited);
    store.replace_listed(listed(&[]), store.version());
    assert!(
        store.container("a").is_none(),
        "gone from a newer list: gone"
    );
}

#[tokio::test(start_paused = true)]
async fn an_engine_restart_is_an_outage_from_the_lost_stream_to_the_next_relist() {
    let clock = WallClock::following_tokio(1_800_000_000_000);
    let fake = FakeRuntime::new();
    fake.set_clock(clock.clone());
    let id = fake.add_managed(&project("shop"), &ServiceSpec::new("web", "nginx"), 1);
    let mut h = start_with(&fake, Store::with_clock(clock));
    assert_eq!(h.next_change().await, Change::All);
    assert!(!h.store.is_engine_away());

    fake.engine_down(137);
    within("the outage", async {
        while !h.store.is_engine_away() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(!h.up.get());
    assert_eq!(
        h.store.container(&id).map(|c| c.state),
        Some(ContainerState::Exited),
        "the die of the engine's shutdown is recorded from its event (its inspect failed)"
    );
    assert_eq!(h.next_change().await, Change::Project("shop".into()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    fake.clear_calls();
    fake.engine_up(&[]);

    assert_eq!(h.next_change().await, Change::All);
    assert!(!h.store.is_engine_away());
    let outages = h.store.outages();
    assert_eq!(outages.returns(), 1);
    let outage = outages.last().copied().unwrap();
    assert!(outage.back_ms - outage.lost_ms >= 3_000, "{outage:?}");
    let c = h.store.container(&id).unwrap();
    assert_eq!((c.state, c.exit_code), (ContainerState::Exited, Some(137)));
    assert!(c.finished_at.is_some(), "inspected after the list");
    assert!(outages.stopped(&c), "stopped by the engine: {c:?}");
    assert!(
        fake.calls().contains(&Call::Inspect { id: id.clone() }),
        "{:?}",
        fake.calls()
    );
}

#[tokio::test(start_paused = true)]
async fn a_relist_inspects_only_the_containers_that_do_not_run() {
    let fake = FakeRuntime::new();
    let web = ServiceSpec::new("web", "nginx");
    let running = fake.add_managed(&project("shop"), &web, 1);
    let exited = fake.add_managed(&project("shop"), &web, 2);
    fake.kill(&exited, 1);
    fake.clear_calls();
    let store = Store::new();
    relist(&fake, &store).await.unwrap();
    assert_eq!(
        fake.calls(),
        [
            Call::ListContainers,
            Call::ListImages,
            Call::Inspect { id: exited.clone() },
            Call::ListManagedNetworks { project: None },
            Call::ListManagedVolumes,
        ]
    );
    assert!(store.container(&exited).unwrap().finished_at.is_some());
    assert!(store.container(&running).unwrap().finished_at.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_wait_gives_up_when_the_engine_goes_away() {
    let store = Store::new();
    store.replace(ObservedState::default());
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.wait_while_engine_up(|_| None::<()>).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(store.engine_lost());
    let gave_up = within("the wait", waiting).await.unwrap();
    assert_eq!(gave_up, None);
}

#[tokio::test]
async fn a_relist_reads_the_definitions_of_managed_networks_and_volumes() {
    use crate::model::labels;
    use crate::model::spec::{NetworkSpec, VolumeSpec};
    use std::collections::BTreeMap;
    let fake = FakeRuntime::new();
    let mut net_labels = labels::resource_labels("shop", labels::NETWORK, "back", &BTreeMap::new());
    net_labels.insert(labels::FIELDS.to_owned(), "ipam=1234".to_owned());
    let net = NetworkSpec {
        name: "shop_back".into(),
        ..NetworkSpec::default()
    };
    fake.ensure_network(&net, &net_labels).await.unwrap();
    let vol_labels = labels::resource_labels("shop", labels::VOLUME, "data", &BTreeMap::new());
    let vol = VolumeSpec {
        name: "shop_data".into(),
        ..VolumeSpec::default()
    };
    fake.ensure_volume(&vol, &vol_labels).await.unwrap();
    let store = Store::new();
    relist(&fake, &store).await.unwrap();
    let state = store.snapshot();
    let back = &state.networks["shop_back"];
    assert_eq!((back.project.as_str(), back.key.as_str()), ("shop", "back"));
    assert_eq!(back.labels[labels::FIELDS], "ipam=1234");
    assert_eq!(state.volumes["shop_data"].key, "data");
}

/// A managed network `shop_back` as composectl labels it.
fn back_network() -> (
    crate::model::spec::NetworkSpec,
    std::collections::BTreeMap<String, String>,
) {
    use crate::model::labels;
    let labels = labels::resource_labels("shop", labels::NETWORK, "back", &Default::default());
    let spec = crate::model::spec::NetworkSpec {
        name: "shop_back".into(),
        ..Default::default()
    };
    (spec, labels)
}

#[tokio::test]
async fn the_periodic_resync_reads_containers_and_images_only_and_keeps_the_networks() {
    let fake = FakeRuntime::new();
    let (net, labels) = back_network();
    fake.ensure_network(&net, &labels).await.unwrap();
    fake.add_managed(&project("shop"), &ServiceSpec::new("web", "nginx"), 1);
    let store = Store::new();
    relist(&fake, &store).await.unwrap();
    fake.clear_calls();

    resync(&fake, &store).await.unwrap();

    assert_eq!(fake.calls(), vec![Call::ListContainers, Call::ListImages]);
    let state = store.snapshot();
    assert!(state.networks.contains_key("shop_back"), "{state:?}");
    assert_eq!(state.containers.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_network_created_or_removed_while_watching_is_listed_again() {
    let fake = FakeRuntime::new();
    let mut h = start(&fake);
    assert_eq!(h.next_change().await, Change::All);
    assert!(h.store.snapshot().networks.is_empty());

    let (net, labels) = back_network();
    fake.ensure_network(&net, &labels).await.unwrap();
    assert_eq!(h.next_change().await, Change::All);
    assert!(h.store.snapshot().networks.contains_key("shop_back"));

    fake.remove_network("shop_back").await.unwrap();
    assert_eq!(h.next_change().await, Change::All);
    assert!(h.store.snapshot().networks.is_empty());
}
