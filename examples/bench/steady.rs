//! Figure 1, the steady-state reconcile on a converged project: composectl's resync pass
//! in-process (relist + plan of every project, counted by `DockerRuntime::call_counts`),
//! `composectl apply --once` as a process, and `docker-compose up -d` on its own converged
//! project (both counted by the proxy). docker-compose's memory is sampled on the way.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use composectl::controller::{Config, Controller};
use composectl::runtime::ContainerRuntime;
use composectl::runtime::docker::{DEFAULT_HOST, DockerRuntime};

use crate::error::{Error, Result, io};
use crate::memory::{self, Memory};
use crate::proxy::{Proxy, Request};
use crate::stack::{Stack, timed};

/// The samples of one tool's steady-state passes.
#[derive(Debug, Default)]
pub struct Passes {
    /// Read calls per pass.
    pub reads: Vec<u64>,
    /// Write calls per pass.
    pub writes: Vec<u64>,
    /// Wall time per pass.
    pub times: Vec<Duration>,
    /// Calls of the last pass by endpoint.
    pub calls: BTreeMap<String, u64>,
}

impl Passes {
    fn push_requests(&mut self, requests: &[Request], took: Duration) {
        self.reads
            .push(requests.iter().filter(|r| !r.is_write()).count() as u64);
        self.writes
            .push(requests.iter().filter(|r| r.is_write()).count() as u64);
        self.times.push(took);
        self.calls = BTreeMap::new();
        for request in requests {
            *self.calls.entry(request.endpoint()).or_default() += 1;
        }
    }
}

/// composectl's resync pass in this process, `runs` times after one warm-up pass. Fails
/// when the benchmarked project is not converged.
pub async fn in_process(stack: &Stack, runs: usize) -> Result<Passes> {
    let runtime = DockerRuntime::connect_with(DEFAULT_HOST).await?;
    let runtime = Arc::new(runtime.with_instance(&stack.instance));
    let controller = Controller::new(runtime.clone(), Config::new(stack.desired_dir()));
    controller.reload().await;
    controller.load_errors()?;
    // The daemon lists everything once at start, then resyncs containers and images.
    controller.relist().await?;
    let mut passes = Passes::default();
    for run in 0..=runs {
        let before = runtime.call_counts();
        let start = Instant::now();
        controller.resync().await?;
        let plans = controller.plan_all();
        let took = start.elapsed();
        let after = runtime.call_counts();
        if let Some(plan) = plans
            .iter()
            .find(|p| p.project == stack.ours && !p.is_empty())
        {
            return Err(Error::State(format!(
                "{} is not converged:\n{plan}",
                stack.ours
            )));
        }
        if run == 0 {
            continue;
        }
        passes
            .reads
            .push(after.total_reads() - before.total_reads());
        passes
            .writes
            .push(after.total_writes() - before.total_writes());
        passes.times.push(took);
        passes.calls = after
            .reads
            .iter()
            .chain(&after.writes)
            .map(|(op, n)| {
                let earlier = before.reads.get(op).or(before.writes.get(op));
                (op.to_string(), n - earlier.copied().unwrap_or(0))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
    }
    Ok(passes)
}

/// `composectl apply --once` on the converged project, `runs` times, through the proxy.
pub async fn binary(stack: &Stack, proxy: &Proxy, runs: usize) -> Result<Passes> {
    let mut passes = Passes::default();
    for _ in 0..runs {
        let mark = proxy.mark();
        let cmd = stack.composectl_command(&proxy.docker_host(), &["apply", "--once"]);
        let took = timed(cmd, "composectl apply --once").await?;
        passes.push_requests(&proxy.since(mark), took);
    }
    Ok(passes)
}

/// `docker-compose up -d` on its converged project, `runs` times, through the proxy; also
/// the largest memory reading of those processes.
pub async fn compose(stack: &Stack, proxy: &Proxy, runs: usize) -> Result<(Passes, Memory)> {
    let mut passes = Passes::default();
    let mut peak = Memory::default();
    for _ in 0..runs {
        let mark = proxy.mark();
        let mut cmd = stack.compose_command(&proxy.docker_host(), &["up", "-d"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(io("run docker-compose up -d"))?;
        let (mem, ok) = memory::sample_until_exit(&mut child).await;
        let took = start.elapsed();
        if !ok {
            return Err(Error::State("docker-compose up -d failed".into()));
        }
        peak = peak.max(mem);
        passes.push_requests(&proxy.since(mark), took);
    }
    Ok((passes, peak))
}
