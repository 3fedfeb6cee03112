//! The engine's own time for figures 5 and 6: the cell's containers created, started and
//! recreated straight through the Engine API by the benchmark itself (bollard, through the
//! counting proxy), with no tool in between and nothing read back. A converge is one
//! network create, then create + start of every replica; a recreate is stop (the default
//! 10 s grace), remove, create, start of every replica, [`PARALLELISM`] replicas at once.
//! The containers carry the same image, environment, network alias, disabled health check
//! and compose project label as the tools' own, so the engine does the same work for them;
//! what the tools spend above this is their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkCreateRequest,
    NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StopContainerOptions,
};
use composectl::runtime::docker::API_VERSION;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::matrix::Cell;
use crate::proxy::Proxy;
use crate::stack::{REPLICAS, service_name};

/// Replicas worked on at once: composectl's default `--parallelism`, so the rows compare
/// the same concurrency.
pub const PARALLELISM: usize = 8;

/// The stop grace period both tools use by default.
const GRACE_SECS: i32 = 10;

/// How long one call may take (a stop waits out the grace period).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Converge then recreate the cell's raw project: the wall time and writes of each (the
/// figures of [`crate::matrix::Run`]).
pub async fn run(cell: &Cell, proxy: &Proxy) -> Result<crate::matrix::Run> {
    let project = &cell.stack.raw;
    let socket = proxy.docker_host();
    let socket = socket.trim_start_matches("unix://");
    let docker = Docker::connect_with_unix(socket, CLIENT_TIMEOUT.as_secs(), &API_VERSION)?;
    let raw = Raw {
        docker,
        project: project.clone(),
        image: cell.stack.shape.image.clone(),
        services: cell.stack.shape.services,
    };
    let mark = proxy.mark();
    let started = Instant::now();
    raw.converge().await?;
    let converge = started.elapsed();
    let converge_writes = writes(proxy, mark);
    let mark = proxy.mark();
    let started = Instant::now();
    let ids = raw.recreate().await?;
    let recreate = started.elapsed();
    let recreate_writes = writes(proxy, mark);
    if ids != cell.size {
        return Err(Error::State(format!(
            "raw API: {ids} of {} containers recreated",
            cell.size
        )));
    }
    Ok(crate::matrix::Run {
        converge,
        converge_writes,
        recreate,
        recreate_writes,
    })
}

fn writes(proxy: &Proxy, mark: usize) -> usize {
    proxy.since(mark).iter().filter(|r| r.is_write()).count()
}

/// One raw project: `services` x [`REPLICAS`] replicas of `image`.
#[derive(Clone)]
struct Raw {
    docker: Docker,
    project: String,
    image: String,
    services: usize,
}

impl Raw {
    fn network(&self) -> String {
        format!("{}_default", self.project)
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(
            "com.docker.compose.project".to_owned(),
            self.project.clone(),
        )])
    }

    /// Every (service, replica) slot.
    fn slots(&self) -> Vec<(usize, usize)> {
        (1..=self.services)
            .flat_map(|s| (1..=REPLICAS).map(move |n| (s, n)))
            .collect()
    }

    async fn converge(&self) -> Result<()> {
        let request = NetworkCreateRequest {
            name: self.network(),
            labels: Some(self.labels()),
            ..NetworkCreateRequest::default()
        };
        self.docker.create_network(request).await?;
        self.each(|raw, slot| async move { raw.create_started(slot, 1).await.map(drop) })
            .await?;
        Ok(())
    }

    /// Stops, removes, creates and starts every replica again (a new GENERATION); the
    /// number of replicas recreated.
    async fn recreate(&self) -> Result<usize> {
        let done = self
            .each(|raw, slot| async move {
                let name = raw.name(slot);
                let stop = StopContainerOptions {
                    t: Some(GRACE_SECS),
                    ..StopContainerOptions::default()
                };
                raw.docker.stop_container(&name, Some(stop)).await?;
                raw.docker
                    .remove_container(&name, None::<RemoveContainerOptions>)
                    .await?;
                raw.create_started(slot, 2).await
            })
            .await?;
        Ok(done.len())
    }

    /// Runs `f` for every slot, at most [`PARALLELISM`] at once; stops at the first error.
    async fn each<F, Fut, T>(&self, f: F) -> Result<Vec<T>>
    where
        F: Fn(Arc<Raw>, (usize, usize)) -> Fut,
        Fut: std::future::Future<Output = Result<T, bollard::errors::Error>>,
    {
        let raw = Arc::new(self.clone());
        stream::iter(self.slots())
            .map(|slot| f(raw.clone(), slot))
            .buffer_unordered(PARALLELISM)
            .try_collect()
            .await
            .map_err(Error::from)
    }

    fn name(&self, (service, number): (usize, usize)) -> String {
        format!("{}-{}-{number}", self.project, service_name(service))
    }

    async fn create_started(
        &self,
        slot: (usize, usize),
        generation: u32,
    ) -> Result<String, bollard::errors::Error> {
        let service = service_name(slot.0);
        let endpoint = EndpointSettings {
            aliases: Some(vec![service.clone()]),
            ..EndpointSettings::default()
        };
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(vec![
                "VERSION=v1".to_owned(),
                format!("GENERATION={generation}"),
            ]),
            labels: Some(self.labels()),
            // As the tools' YAML says (`healthcheck: disable: true`): the demo image's 1 s
            // check on every replica would load the host more than anything measured.
            healthcheck: Some(HealthConfig {
                test: Some(vec!["NONE".to_owned()]),
                ..HealthConfig::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some(self.network()),
                ..HostConfig::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(self.network(), endpoint)])),
            }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptions {
            name: Some(self.name(slot)),
            ..CreateContainerOptions::default()
        };
        let created = self.docker.create_container(Some(options), body).await?;
        self.docker.start_container(&created.id, None).await?;
        Ok(created.id)
    }
}
