//! `DockerRuntime` against the real engine (Docker 20.10, API 1.41). These tests need an
//! engine and fail when none answers. Every test uses its own name prefix
//! (`rtdocker-<test>-<pid>`) and a [`Cleanup`] guard that removes what it created, even when
//! an assertion fails, so the tests run in parallel and leave nothing behind.

mod common;
#[path = "runtime_docker/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use composectl::model::labels;
use composectl::model::observed::normalize_image_ref;
use composectl::model::spec::{
    Healthcheck, MountKind, MountSpec, NetworkSpec, PortSpec, VolumeSpec,
};
use composectl::model::{ContainerState, Health};
use composectl::runtime::{ContainerRuntime, Error, RuntimeEvent};
use futures_util::StreamExt;
use support::{
    Cleanup, docker, ensure_networks, listed, network, request, runtime, unique, wait_until_live,
};

#[tokio::test]
async fn started_container_is_listed_and_inspected_running_with_labels_networks_and_image() {
    let image = common::demo_image("v1");
    let rt = runtime().await;
    let project = unique("list");
    let (front, back) = (format!("{project}_front"), format!("{project}_back"));
    let name = format!("{project}-web-1");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    cleanup.networks.extend([front.clone(), back.clone()]);
    ensure_networks(&rt, &project, &[&front, &back]).await;

    let mut req = request(&name, &project, &image, &[&front, &back]);
    req.networks.get_mut(&back).unwrap().aliases = vec!["api".into()];
    let id = rt.create_container(&req).await.expect("created");
    rt.start_container(&id).await.expect("started");

    let c = listed(&rt, &id).await.expect("listed");
    assert_eq!(c.name, name);
    assert_eq!(c.state, ContainerState::Running);
    assert_eq!(
        (c.project.as_str(), c.service.as_str(), c.number),
        (project.as_str(), "web", 1)
    );
    assert_eq!(c.config_hash, "testhash");
    assert_eq!(c.labels[labels::MANAGED], "true");
    let images = rt.list_images().await.expect("images listed").tags;
    assert_eq!(Some(&c.image_id), images.get(&normalize_image_ref(&image)));
    let mut both = vec![back.clone(), front.clone()];
    both.sort();
    assert_eq!(
        c.networks, both,
        "the second network is connected before start"
    );

    let inspected = rt.inspect_container(&id).await.unwrap().expect("managed");
    assert_eq!(inspected.state, ContainerState::Running);
    assert_eq!(inspected.image_id, c.image_id);
    assert!(!inspected.oom_killed);

    let (_, aliases) = docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", &id]);
    assert!(
        aliases.contains("\"api\"") && aliases.contains("\"web\""),
        "{aliases}"
    );
    let nets = rt
        .list_managed_networks(Some(&project))
        .await
        .expect("networks listed");
    let mut names: Vec<&str> = vec![&back, &front];
    names.sort();
    let listed: Vec<&str> = nets.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(listed, names);
    for net in &nets {
        assert_eq!(net.containers, std::slice::from_ref(&id), "{}", net.name);
    }
}

#[tokio::test]
async fn stopped_container_is_exited_and_removed_container_is_gone() {
    let image = common::demo_image("v1");
    let rt = runtime().await;
    let project = unique("stop");
    let name = format!("{project}-web-1");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    let id = rt
        .create_container(&request(&name, &project, &image, &[]))
        .await
        .expect("created");
    rt.start_container(&id).await.expect("started");

    rt.stop_container(&id, Duration::from_secs(1))
        .await
        .expect("stopped");
    let c = rt
        .inspect_container(&id)
        .await
        .unwrap()
        .expect("still there");
    assert_eq!(c.state, ContainerState::Exited);
    assert!(c.exit_code.is_some());
    rt.stop_container(&id, Duration::from_secs(1))
        .await
        .expect("stopping a stopped container is success");

    rt.remove_container(&id).await.expect("removed");
    assert_eq!(rt.inspect_container(&id).await.unwrap(), None);
    assert!(listed(&rt, &id).await.is_none());
    rt.remove_container(&id)
        .await
        .expect("removing a gone container is success");
}

#[tokio::test]
async fn name_held_by_an_unmanaged_container_is_a_conflict_and_it_stays_untouched() {
    let image = common::demo_image("v1");
    let rt = runtime().await;
    let project = unique("conflict");
    let name = format!("{project}-web-1");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    let (ok, unmanaged_id) = docker(&["create", "--name", &name, &image]);
    assert!(ok, "unmanaged container created by the CLI");

    let err = rt
        .create_container(&request(&name, &project, &image, &[]))
        .await
        .expect_err("the name is taken");
    assert!(matches!(err, Error::Conflict { .. }), "{err}");

    let (_, still) = docker(&["inspect", "-f", "{{.Id}}", &name]);
    assert_eq!(still, unmanaged_id, "the unmanaged container is untouched");
    assert_eq!(rt.inspect_container(&name).await.unwrap(), None);
    assert!(listed(&rt, &unmanaged_id).await.is_none());
}

#[tokio::test]
async fn ensure_network_and_ensure_volume_are_idempotent() {
    let rt = runtime().await;
    let project = unique("ensure");
    let (net, vol) = (format!("{project}_default"), format!("{project}_data"));
    let mut cleanup = Cleanup::default();
    cleanup.networks.push(net.clone());
    cleanup.volumes.push(vol.clone());
    let vol_labels = labels::resource_labels(&project, labels::VOLUME, "data", &BTreeMap::new());
    let spec = VolumeSpec {
        name: vol.clone(),
        ..VolumeSpec::default()
    };
    for _ in 0..2 {
        ensure_networks(&rt, &project, &[&net]).await;
        rt.ensure_volume(&spec, &vol_labels)
            .await
            .expect("volume ensured");
    }
    let (_, ids) = docker(&["network", "ls", "-q", "--filter", &format!("name=^{net}$")]);
    assert_eq!(ids.lines().count(), 1, "one network of that name");
    let (_, managed) = docker(&[
        "volume",
        "inspect",
        "-f",
        "{{index .Labels \"io.composectl.managed\"}}",
        &vol,
    ]);
    assert_eq!(managed, "true");
    let nets = rt.list_managed_networks(Some(&project)).await.unwrap();
    assert_eq!(nets.len(), 1);
    assert_eq!(nets[0].name, net);
    assert_eq!(nets[0].attached(), 0);
    assert_eq!(nets[0].labels["io.composectl.managed"], "true");

    rt.remove_network(&net).await.expect("removed");
    rt.remove_network(&net)
        .await
        .expect("removing a gone network is success");
    assert!(
        rt.list_managed_networks(Some(&project))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn missing_external_network_is_not_found_and_not_created() {
    let rt = runtime().await;
    let name = unique("external");
    let mut cleanup = Cleanup::default();
    cleanup.networks.push(name.clone());
    let spec = NetworkSpec {
        external: true,
        ..network(&name)
    };
    let err = rt
        .ensure_network(&spec, &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(!docker(&["network", "inspect", &name]).0);
}

#[tokio::test]
async fn events_report_managed_lifecycle_and_nothing_of_unmanaged_containers() {
    let image = common::demo_image("v1");
    let rt = runtime().await;
    let project = unique("events");
    let (managed, unmanaged) = (format!("{project}-web-1"), format!("{project}-other"));
    let marker = format!("{project}-marker:live");
    let mut cleanup = Cleanup::default();
    cleanup
        .containers
        .extend([managed.clone(), unmanaged.clone()]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = rt.events();
    let pump = tokio::spawn(async move {
        while let Some(Ok(event)) = stream.next().await {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    wait_until_live(&mut rx, &image, &marker).await;
    docker(&["rmi", &marker]);

    let label = format!("{}={project}", labels::PROJECT);
    let (ok, other_id) = docker(&["run", "-d", "--label", &label, "--name", &unmanaged, &image]);
    assert!(ok);
    docker(&["rm", "-f", &unmanaged]);
    let id = rt
        .create_container(&request(&managed, &project, &image, &[]))
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    rt.remove_container(&id).await.unwrap();

    let mut actions = Vec::new();
    let collect = async {
        while let Some(event) = rx.recv().await {
            if let RuntimeEvent::Container {
                id: from,
                action,
                project: p,
                exit,
            } = event
            {
                assert_ne!(from, other_id, "no event of an unmanaged container");
                if from == id {
                    assert_eq!(p.as_deref(), Some(project.as_str()));
                    if action == "die" {
                        // Removed by force: killed, and the event says so.
                        let exit = exit.expect("a die reports its exit");
                        assert_eq!(exit.code, 137, "{exit:?}");
                        assert!(exit.at_ms > 1_600_000_000_000, "{exit:?}");
                    }
                    actions.push(action.clone());
                    if action == "destroy" {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("destroy arrives");
    pump.abort();
    for want in ["create", "start", "die", "destroy"] {
        assert!(actions.iter().any(|a| a == want), "{want} in {actions:?}");
    }
}

#[tokio::test]
async fn an_event_between_subscribing_and_the_first_poll_is_not_lost() {
    let image = common::demo_image("v1");
    let rt = runtime().await;
    let project = unique("replay");
    let name = format!("{project}-web-1");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    // Subscribe (as the reflector does before its relist), act, and only then poll.
    let mut stream = rt.events();
    let id = rt
        .create_container(&request(&name, &project, &image, &[]))
        .await
        .unwrap();
    let seen = async {
        while let Some(event) = stream.next().await {
            if let Ok(RuntimeEvent::Container {
                id: from, action, ..
            }) = event
                && from == id
                && action == "create"
            {
                return;
            }
        }
        panic!("the event stream ended");
    };
    tokio::time::timeout(Duration::from_secs(30), seen)
        .await
        .expect("the create made before the first poll is delivered");
}

#[tokio::test]
async fn one_list_is_one_read_call() {
    let rt = runtime().await;
    let before = rt.call_counts();
    rt.list_containers().await.expect("list works");
    let after = rt.call_counts();
    assert_eq!(after.total_reads() - before.total_reads(), 1);
    assert_eq!(after.reads["list_containers"], 1);
    assert_eq!(after.total_writes(), before.total_writes());
    let stats = rt.stats();
    let list: u64 = stats
        .ops
        .iter()
        .filter(|(k, _)| k.operation == "list_containers")
        .map(|(_, s)| s.count)
        .sum();
    assert_eq!(list, 1);
}

#[tokio::test]
async fn pull_from_an_unreachable_registry_is_an_error() {
    let rt = runtime().await;
    let err = rt
        .pull_image("127.0.0.1:1/rtdocker/nothing:v1", None)
        .await
        .expect_err("nothing to pull from");
    assert!(
        !matches!(err, Error::Unavailable { .. }),
        "the engine answered: {err}"
    );
    assert_eq!(rt.call_counts().writes["pull_image"], 1);
}

#[tokio::test]
async fn health_is_observed_from_the_image_healthcheck_and_none_disables_it() {
    let image = common::demo_image("v1");
    let rt = runtime().await;
    let project = unique("health");
    let (checked, unchecked) = (format!("{project}-web-1"), format!("{project}-web-2"));
    let mut cleanup = Cleanup::default();
    cleanup
        .containers
        .extend([checked.clone(), unchecked.clone()]);
    let id = rt
        .create_container(&request(&checked, &project, &image, &[]))
        .await
        .unwrap();
    let mut off = request(&unchecked, &project, &image, &[]);
    off.service.healthcheck = Some(Healthcheck {
        test: vec!["NONE".into()],
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
    });
    let off_id = rt.create_container(&off).await.unwrap();
    rt.start_container(&id).await.unwrap();
    rt.start_container(&off_id).await.unwrap();

    let healthy = async {
        loop {
            let c = listed(&rt, &id).await.expect("listed");
            if c.health == Some(Health::Healthy) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), healthy)
        .await
        .expect("the list shows the container healthy");
    let inspected = rt.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!(inspected.health, Some(Health::Healthy));
    assert_eq!(listed(&rt, &off_id).await.unwrap().health, None);
    assert_eq!(
        rt.inspect_container(&off_id).await.unwrap().unwrap().health,
        None
    );
}

#[tokio::test]
async fn every_mount_kind_and_a_random_host_port_are_accepted_by_the_engine() {
    let image = common::demo_image("v1");
    let rt = runtime().await;
    let project = unique("mounts");
    let name = format!("{project}-web-1");
    let vol = format!("{project}_data");
    let host_dir = tempfile::tempdir().expect("a temp dir");
    let missing = host_dir.path().join("created-by-the-engine");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(name.clone());
    cleanup.volumes.push(vol.clone());
    let mut req = request(&name, &project, &image, &[]);
    let mount = |kind, target: &str| MountSpec {
        kind,
        target: target.into(),
        read_only: false,
        options: Default::default(),
    };
    req.service.mounts = vec![
        mount(
            MountKind::Volume {
                name: vol.clone(),
                key: "data".into(),
            },
            "/data",
        ),
        mount(MountKind::Anonymous, "/cache"),
        mount(
            MountKind::Bind {
                source: missing.clone(),
                create_host_path: true,
            },
            "/conf",
        ),
        mount(
            MountKind::Tmpfs {
                size: Some(1 << 20),
            },
            "/scratch",
        ),
    ];
    req.service.ports = vec![PortSpec {
        target: 8080,
        published: None,
        host_ip: Some("127.0.0.1".into()),
        protocol: "tcp".into(),
    }];
    let id = rt
        .create_container(&req)
        .await
        .expect("the engine accepts the mapping");
    let (_, anonymous) = docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/cache\"}}{{.Name}}{{end}}{{end}}",
        &id,
    ]);
    cleanup.volumes.push(anonymous.clone());
    rt.start_container(&id).await.expect("started");

    assert!(missing.is_dir(), "the bind source was created");
    let c = listed(&rt, &id).await.expect("listed");
    assert_eq!(c.volumes, vec![vol.clone()], "named volumes only");
    let (_, port) = docker(&["port", &id, "8080/tcp"]);
    assert!(port.starts_with("127.0.0.1:"), "{port}");
    rt.remove_container(&id).await.expect("removed");
    assert!(
        docker(&["volume", "inspect", &anonymous]).0,
        "anonymous volume kept"
    );
}

/// Sync test: the registry helper runs its own runtime and must be dropped outside ours.
#[test]
fn pull_fetches_an_image_from_a_registry_and_a_missing_tag_is_an_error() {
    let image = common::demo_image("v1");
    let registry = common::Registry::start();
    let name = format!("rtdocker/pull-{}:v1", std::process::id());
    let reference = registry.push(&image, &name);
    let absent = registry.reference("rtdocker/absent:v1");
    let tokio = tokio::runtime::Runtime::new().expect("a tokio runtime");
    tokio.block_on(async {
        let rt = runtime().await;
        let before = rt.list_images().await.unwrap().tags;
        assert!(
            !before.contains_key(&reference),
            "pushed tag removed locally"
        );
        rt.pull_image(&reference, None).await.expect("pulled");
        let after = rt.list_images().await.unwrap().tags;
        assert_eq!(after.get(&reference), before.get(&image), "same image ID");
        let err = rt.pull_image(&absent, None).await.expect_err("no such tag");
        assert!(
            matches!(err, Error::NotFound { .. } | Error::Engine { .. }),
            "{err}"
        );
        assert_eq!(rt.call_counts().writes["pull_image"], 2);
    });
}

#[tokio::test]
async fn tag_image_moves_a_previous_tag_and_rename_gives_a_container_its_name() {
    let v1 = common::demo_image("v1");
    let v2 = common::demo_image("v2");
    let rt = runtime().await;
    let project = unique("tag");
    let previous = format!("{project}-app:previous");
    let images = rt.list_images().await.unwrap().tags;
    let id_of =
        |images: &BTreeMap<String, String>, r: &str| images.get(&normalize_image_ref(r)).cloned();
    let v1_id = id_of(&images, &v1).expect("v1 is local");
    let v2_id = id_of(&images, &v2).expect("v2 is local");

    rt.tag_image(&v1_id, &previous).await.expect("tagged by ID");
    let images = rt.list_images().await.unwrap().tags;
    assert_eq!(id_of(&images, &previous), Some(v1_id.clone()));
    rt.tag_image(&v2, &previous)
        .await
        .expect("moved by reference");
    let images = rt.list_images().await.unwrap().tags;
    assert_eq!(id_of(&images, &previous), Some(v2_id));
    let err = rt
        .tag_image(
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            &previous,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    docker(&["rmi", "--no-prune", &previous]);

    let temporary = format!("{project}-web-1-next");
    let name = format!("{project}-web-1");
    let mut cleanup = Cleanup::default();
    cleanup.containers.push(temporary.clone());
    cleanup.containers.push(name.clone());
    let id = rt
        .create_container(&request(&temporary, &project, &v1, &[]))
        .await
        .expect("created");
    rt.rename_container(&id, &name).await.expect("renamed");
    let c = rt
        .inspect_container(&id)
        .await
        .unwrap()
        .expect("still there");
    assert_eq!(c.name, name);
}
