//! Helpers of the `runtime_docker` tests: CLI access, the cleanup guard, request builders.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use composectl::model::ObservedContainer;
use composectl::model::labels;
use composectl::model::spec::{NetworkSpec, ServiceNetwork, ServiceSpec};
use composectl::runtime::docker::DockerRuntime;
use composectl::runtime::{ContainerCreate, ContainerRuntime, RuntimeEvent};

/// Removes containers, then networks, then volumes (test cleanup uses the CLI; the adapter
/// itself never removes a volume).
#[derive(Default)]
pub struct Cleanup {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            docker(&["rm", "-f", c]);
        }
        for n in &self.networks {
            docker(&["network", "rm", n]);
        }
        for v in &self.volumes {
            docker(&["volume", "rm", v]);
        }
    }
}

/// Runs the docker CLI; returns success and trimmed stdout.
pub fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

pub fn unique(test: &str) -> String {
    format!("rtdocker-{test}-{}", std::process::id())
}

pub async fn runtime() -> DockerRuntime {
    DockerRuntime::connect()
        .await
        .expect("a Docker engine must answer: these tests run against it")
}

pub fn managed_labels(project: &str, service: &str, number: u32) -> BTreeMap<String, String> {
    [
        (labels::MANAGED, "true".to_owned()),
        (labels::PROJECT, project.to_owned()),
        (labels::SERVICE, service.to_owned()),
        (labels::NUMBER, number.to_string()),
        (labels::CONFIG_HASH, "testhash".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub fn request(name: &str, project: &str, image: &str, networks: &[&str]) -> ContainerCreate {
    let mut service = ServiceSpec::new("web", image);
    service.environment.insert("PORT".into(), "8080".into());
    service.stop_grace_period = Some(Duration::from_secs(1));
    ContainerCreate {
        name: name.to_owned(),
        service,
        networks: networks
            .iter()
            .map(|n| ((*n).to_owned(), ServiceNetwork::default()))
            .collect(),
        labels: managed_labels(project, "web", 1),
    }
}

pub fn network(name: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.to_owned(),
        ..NetworkSpec::default()
    }
}

pub async fn ensure_networks(rt: &DockerRuntime, project: &str, names: &[&str]) {
    for name in names {
        let labels = labels::resource_labels(project, labels::NETWORK, name, &BTreeMap::new());
        rt.ensure_network(&network(name), &labels)
            .await
            .expect("network created");
    }
}

pub async fn listed(rt: &DockerRuntime, id: &str) -> Option<ObservedContainer> {
    let all = rt.list_containers().await.expect("list works");
    all.into_iter().find(|c| c.id == id)
}

/// Waits until the event stream is live: tags an image until an image event arrives.
pub async fn wait_until_live(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<RuntimeEvent>,
    image: &str,
    marker: &str,
) {
    for _ in 0..50 {
        docker(&["tag", image, marker]);
        let wait = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        if let Ok(Some(_)) = wait {
            return;
        }
    }
    panic!("the event stream never delivered an event");
}
