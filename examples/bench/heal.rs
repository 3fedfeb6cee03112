//! Figure 2, heal latency: from the engine's `die` event of a killed replica to the
//! `start` event that brings its slot back (the same container started again in place, or
//! a replacement), both timestamped by the engine.
//! composectl's replicas are killed with `docker kill`; the reference is the engine's own
//! `restart: always` on docker-compose's replicas, whose processes are killed with SIGKILL
//! from the host (the engine treats `docker kill` as a manual stop and never restarts it).
//! Every kill hits a different replica, so neither composectl's crash backoff nor the
//! engine's restart backoff (100 ms, doubling while a container dies within 10 s) grows.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::EventsOptions;
use composectl::model::labels;
use composectl::runtime::docker::API_VERSION;
use futures_util::StreamExt;
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::proxy::Proxy;
use crate::stack::{REPLICAS, SERVICES, Stack, docker, id_and_pid, output, service_name};

/// Longest wait for one event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// One container event of a project.
#[derive(Debug, Clone)]
struct Event {
    action: String,
    id: String,
    service: String,
    number: String,
    nanos: i64,
}

/// The `die` and `start` events of one project's containers, from now on.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Result<Event>>,
}

impl Events {
    /// Subscribes (directly on the engine socket, not through the proxy).
    pub fn subscribe(project: &str) -> Result<Self> {
        let docker = Docker::connect_with_unix("/var/run/docker.sock", 120, &API_VERSION)?;
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "event".to_owned(),
                vec!["die".to_owned(), "start".to_owned()],
            ),
            (
                "label".to_owned(),
                vec![format!("{}={project}", labels::PROJECT)],
            ),
        ]);
        let options = EventsOptions {
            filters: Some(filters),
            ..EventsOptions::default()
        };
        let mut stream = docker.events(Some(options));
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let event = item.map_err(Error::from).map(|m| {
                    let actor = m.actor.unwrap_or_default();
                    let attrs = actor.attributes.unwrap_or_default();
                    Event {
                        action: m.action.unwrap_or_default(),
                        id: actor.id.unwrap_or_default(),
                        service: attrs.get(labels::SERVICE).cloned().unwrap_or_default(),
                        number: attrs.get(labels::NUMBER).cloned().unwrap_or_default(),
                        nanos: m.time_nano.unwrap_or_default(),
                    }
                });
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
        Ok(Self { rx })
    }

    /// Drops every event received so far.
    fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// The next event satisfying `pred`, skipping others.
    async fn next(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Result<Event> {
        let timeout = || Error::Timeout {
            what: what.to_owned(),
            after: EVENT_TIMEOUT,
        };
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let received = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            let event = received.map_err(|_| timeout())?.ok_or_else(timeout)??;
            if pred(&event) {
                return Ok(event);
            }
        }
    }
}

/// Heal samples and what composectl called during the first heal.
#[derive(Debug, Default)]
pub struct Heals {
    /// die -> start of each kill.
    pub latencies: Vec<Duration>,
    /// Endpoints called from the kill to the quiet after the replacement, first kill.
    pub first_calls: Vec<String>,
    /// Per kill: (endpoint, time after the `die` event) of each call up to the `start`.
    pub timelines: Vec<Vec<(String, Duration)>>,
}

impl Heals {
    /// The median time after `die` at which the first call to `endpoint` was made
    /// (`None` for the first call of any kind).
    pub fn median_step(&self, endpoint: Option<&str>) -> Duration {
        let steps: Vec<Duration> = self
            .timelines
            .iter()
            .filter_map(|t| t.iter().find(|(e, _)| endpoint.is_none_or(|x| e == x)))
            .map(|(_, at)| *at)
            .collect();
        crate::report::median(&steps)
    }
}

/// The replica hit by kill `i`: spread over services first, then replica numbers.
fn victim(i: usize) -> (usize, usize) {
    (i % SERVICES + 1, (i / SERVICES) % REPLICAS + 1)
}

/// Kills `kills` of composectl's replicas one at a time (the daemon heals them).
pub async fn ours(
    stack: &Stack,
    proxy: &Proxy,
    events: &mut Events,
    kills: usize,
) -> Result<Heals> {
    let mut heals = Heals::default();
    for i in 0..kills {
        let (service, number) = victim(i);
        let name = stack.our_container(service, number);
        let (id, _) = id_and_pid(&name).await?;
        events.drain();
        let mark = proxy.mark();
        docker(&["kill", &name]).await?;
        let die = events
            .next(&format!("die of {name}"), |e| {
                e.action == "die" && e.id == id
            })
            .await?;
        let (svc, num) = (service_name(service), number.to_string());
        // The slot's next start: the same container in place, or a replacement.
        let start = events
            .next(&format!("restart of {name}"), |e| {
                e.action == "start" && e.service == svc && e.number == num
            })
            .await?;
        heals.latencies.push(nanos(start.nanos - die.nanos));
        heals.timelines.push(
            proxy
                .since(mark)
                .iter()
                .map(|r| (r.endpoint(), nanos(unix_nanos(r.wall) - die.nanos)))
                .filter(|(_, at)| *at <= nanos(start.nanos - die.nanos))
                .collect(),
        );
        proxy
            .wait_quiet(Duration::from_millis(300), Duration::from_secs(15))
            .await;
        if i == 0 {
            heals.first_calls = proxy.since(mark).iter().map(|r| r.endpoint()).collect();
        }
    }
    Ok(heals)
}

/// Kills `kills` of docker-compose's `restart: always` replicas with SIGKILL from the host.
pub async fn reference(stack: &Stack, events: &mut Events, kills: usize) -> Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    for i in 0..kills {
        let (service, number) = victim(i);
        let name = stack.their_container(service, number);
        let (id, pid) = id_and_pid(&name).await?;
        if pid == 0 {
            return Err(Error::State(format!("{name} is not running")));
        }
        events.drain();
        let mut kill = Command::new("kill");
        kill.args(["-KILL", &pid.to_string()]);
        output(kill, &format!("kill -KILL {pid}")).await?;
        let die = events
            .next(&format!("die of {name}"), |e| {
                e.action == "die" && e.id == id
            })
            .await?;
        let start = events
            .next(&format!("restart of {name}"), |e| {
                e.action == "start" && e.id == id
            })
            .await?;
        latencies.push(nanos(start.nanos - die.nanos));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(latencies)
}

fn unix_nanos(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn nanos(n: i64) -> Duration {
    Duration::from_nanos(n.max(0) as u64)
}
