//! Issue 12's cells (figures 5-7): for each size and image, converge a project from empty
//! and then recreate every container after an environment change, with composectl
//! (`apply --once`, the whole process) and with docker-compose (`up -d`), one tool's
//! project at a time (never both on the engine at once), through the counting proxy. At
//! each size composectl's steady resync pass and the idle memory of `composectl run` are
//! read too. Every cell removes what it created, whatever happens.

use std::path::Path;
use std::time::Duration;

use clap::ValueEnum;
use tokio::process::Command;

use crate::daemon;
use crate::error::{Error, Result};
use crate::memory::Memory;
use crate::proxy::Proxy;
use crate::stack::{self, REPLICAS, Shape, Stack, remove_project, running, timed};
use crate::steady::{self, Passes};

/// The image that ignores SIGTERM (busybox `sleep` as PID 1), built by
/// scripts/build-images.sh.
pub const STUBBORN_IMAGE: &str = "composectl-test/stubborn:latest";

/// Longest a converge or a recreate may take before the cell fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(900);

/// Longest wait for `composectl run` to go idle.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The images of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Image {
    /// `composectl-demo:v1`: exits on SIGTERM.
    Demo,
    /// `composectl-test/stubborn:latest`: ignores SIGTERM, so every stop costs the grace
    /// period (10 s).
    Stubborn,
}

impl Image {
    /// The image reference.
    pub fn reference(self) -> &'static str {
        match self {
            Image::Demo => stack::IMAGE,
            Image::Stubborn => STUBBORN_IMAGE,
        }
    }

    /// The short name used in tables and project names.
    pub fn name(self) -> &'static str {
        match self {
            Image::Demo => "demo",
            Image::Stubborn => "stubborn",
        }
    }
}

/// One cell of the matrix: a size and an image, with its own stack (projects, instance,
/// desired directory).
#[derive(Debug, Clone)]
pub struct Cell {
    /// Containers in the stack.
    pub size: usize,
    /// What every service runs.
    pub image: Image,
    /// Whether composectl's steady pass and idle memory are read in this cell.
    pub at_size: bool,
    /// The cell's stack.
    pub stack: Stack,
}

/// The cells of `sizes` x `images` (sizes ascending, images in the given order); the
/// steady pass and idle memory are read in the first image's cell of each size.
pub fn cells(
    root: &Path,
    tag: &str,
    composectl: &Path,
    sizes: &[usize],
    images: &[Image],
) -> Vec<Cell> {
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    let mut cells = Vec::new();
    for size in sizes {
        for (i, image) in images.iter().enumerate() {
            let tag = format!("{tag}n{size}{}", image.name());
            let shape = Shape {
                services: size / REPLICAS,
                image: image.reference().to_owned(),
            };
            cells.push(Cell {
                size,
                image: *image,
                at_size: i == 0,
                stack: Stack::shaped(root.join(&tag), &tag, composectl.to_path_buf(), shape),
            });
        }
    }
    cells
}

/// One tool's figures in a cell.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Wall time of the converge from empty.
    pub converge: Duration,
    /// Write requests of the converge.
    pub converge_writes: usize,
    /// Wall time of the recreate after the environment change.
    pub recreate: Duration,
    /// Write requests of the recreate.
    pub recreate_writes: usize,
}

/// composectl's steady resync pass and idle memory on a converged stack of one size.
#[derive(Debug)]
pub struct AtSize {
    /// In-process resync passes.
    pub passes: Passes,
    /// Idle memory of `composectl run`.
    pub memory: Memory,
}

/// What a cell measured; a failed step keeps its message.
#[derive(Debug)]
pub struct Outcome {
    /// Containers in the stack.
    pub size: usize,
    /// The image.
    pub image: Image,
    /// composectl's figures.
    pub ours: Result<Run, String>,
    /// docker-compose's figures.
    pub theirs: Result<Run, String>,
    /// The raw Engine API's figures (the engine's floor, [`crate::raw`]).
    pub raw: Result<Run, String>,
    /// composectl's steady pass and idle memory, in the cells that read them.
    pub at_size: Option<Result<AtSize, String>>,
}

/// Runs one cell: composectl converges and recreates (and, where asked, the steady pass
/// and the idle memory are read on the converged project), its project is removed, then
/// docker-compose does the same, then the raw Engine API reference. Removes everything
/// the cell created before returning.
pub async fn run(cell: &Cell, proxy: &Proxy, passes: usize, idle: Duration) -> Outcome {
    let stack = &cell.stack;
    let label = format!("{} x {}", cell.size, cell.image.name());
    let mut at_size = None;
    eprintln!("bench: {label}: composectl apply --once");
    let ours = ours(cell, proxy, passes, idle, &mut at_size).await;
    remove_project(&stack.ours).await;
    eprintln!("bench: {label}: docker-compose up -d");
    let theirs = theirs(cell, proxy).await;
    remove_project(&stack.theirs).await;
    eprintln!("bench: {label}: raw Engine API");
    let raw = raw(cell, proxy).await;
    stack.cleanup().await;
    for (tool, run) in [
        ("composectl", &ours),
        ("docker-compose", &theirs),
        ("raw Engine API", &raw),
    ] {
        match run {
            Ok(r) => eprintln!(
                "bench: {label}: {tool} converge {:.1} s, recreate {:.1} s",
                r.converge.as_secs_f64(),
                r.recreate.as_secs_f64()
            ),
            Err(e) => eprintln!("bench: {label}: {tool} failed: {e}"),
        }
    }
    Outcome {
        size: cell.size,
        image: cell.image,
        ours: ours.map_err(|e| e.to_string()),
        theirs: theirs.map_err(|e| e.to_string()),
        raw: raw.map_err(|e| e.to_string()),
        at_size: at_size.map(|r| r.map_err(|e: Error| e.to_string())),
    }
}

async fn ours(
    cell: &Cell,
    proxy: &Proxy,
    passes: usize,
    idle: Duration,
    at_size: &mut Option<Result<AtSize>>,
) -> Result<Run> {
    let stack = &cell.stack;
    let apply = || {
        let mut cmd = stack.composectl_command(&proxy.docker_host(), &["apply", "--once"]);
        cmd.kill_on_drop(true);
        cmd
    };
    stack.write_generation(1)?;
    let (converge, converge_writes) = step(
        cell,
        proxy,
        apply(),
        "composectl apply --once (converge)",
        &stack.ours,
    )
    .await?;
    if cell.at_size {
        *at_size = Some(measure_at_size(stack, proxy, passes, idle).await);
    }
    stack.write_generation(2)?;
    let (recreate, recreate_writes) = step(
        cell,
        proxy,
        apply(),
        "composectl apply --once (recreate)",
        &stack.ours,
    )
    .await?;
    check_recreated(cell, recreate_writes, "composectl")?;
    Ok(Run {
        converge,
        converge_writes,
        recreate,
        recreate_writes,
    })
}

async fn theirs(cell: &Cell, proxy: &Proxy) -> Result<Run> {
    let stack = &cell.stack;
    let up = || {
        let mut cmd = stack.compose_command(&proxy.docker_host(), &["up", "-d"]);
        cmd.kill_on_drop(true);
        cmd
    };
    stack.write_generation(1)?;
    let (converge, converge_writes) = step(
        cell,
        proxy,
        up(),
        "docker-compose up -d (converge)",
        &stack.theirs,
    )
    .await?;
    stack.write_generation(2)?;
    let (recreate, recreate_writes) = step(
        cell,
        proxy,
        up(),
        "docker-compose up -d (recreate)",
        &stack.theirs,
    )
    .await?;
    check_recreated(cell, recreate_writes, "docker-compose")?;
    Ok(Run {
        converge,
        converge_writes,
        recreate,
        recreate_writes,
    })
}

/// The raw Engine API reference (bounded by [`STEP_TIMEOUT`] as a whole); fails unless
/// every container of its project runs afterwards.
async fn raw(cell: &Cell, proxy: &Proxy) -> Result<Run> {
    let what = "raw Engine API (converge, recreate)";
    let run = tokio::time::timeout(STEP_TIMEOUT, crate::raw::run(cell, proxy))
        .await
        .map_err(|_| Error::Timeout {
            what: what.to_owned(),
            after: STEP_TIMEOUT,
        })??;
    let up = running(&cell.stack.raw).await?;
    if up != cell.size {
        return Err(Error::State(format!(
            "after {what}: {up} of {} containers run",
            cell.size
        )));
    }
    Ok(run)
}

/// Runs `cmd` (bounded by [`STEP_TIMEOUT`]): its wall time and write requests; fails
/// unless every container of `project` runs afterwards.
async fn step(
    cell: &Cell,
    proxy: &Proxy,
    cmd: Command,
    name: &str,
    project: &str,
) -> Result<(Duration, usize)> {
    let mark = proxy.mark();
    let took = tokio::time::timeout(STEP_TIMEOUT, timed(cmd, name))
        .await
        .map_err(|_| Error::Timeout {
            what: name.to_owned(),
            after: STEP_TIMEOUT,
        })??;
    let writes = proxy.since(mark).iter().filter(|r| r.is_write()).count();
    let up = running(project).await?;
    if up != cell.size {
        return Err(Error::State(format!(
            "after {name}: {up} of {} containers of {project} run",
            cell.size
        )));
    }
    Ok((took, writes))
}

/// A recreate writes at least once per container (stop, remove, create, start each).
fn check_recreated(cell: &Cell, writes: usize, tool: &str) -> Result<()> {
    if writes < cell.size {
        return Err(Error::State(format!(
            "{tool} recreated nothing: {writes} writes for {} containers",
            cell.size
        )));
    }
    Ok(())
}

async fn measure_at_size(
    stack: &Stack,
    proxy: &Proxy,
    passes: usize,
    idle: Duration,
) -> Result<AtSize> {
    eprintln!(
        "bench: {} containers: steady passes, idle memory",
        stack.shape.containers()
    );
    let passes = steady::in_process(stack, passes).await?;
    let memory = daemon::idle_memory(stack, proxy, idle, IDLE_TIMEOUT).await?;
    Ok(AtSize { passes, memory })
}
