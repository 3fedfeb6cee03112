//! The benchmark of issues 2 and 12: composectl against docker-compose and the engine's
//! own restart policy. Run it with `scripts/bench.sh`, which builds the images and the
//! release binaries first; see docs/benchmark.md for what each figure means and how it is
//! measured.
//!
//! The run, first on the classic stack (10 services x 3 replicas of the demo image; figures
//! 1-4): write both stacks, converge them (composectl through `apply --once`,
//! docker-compose through `up -d`), measure the steady-state pass ([`steady`]), start
//! `composectl run` and read its idle memory ([`memory`]), kill replicas ([`heal`]), rewrite
//! the desired file ([`change`]). Then the cells of issue 12 ([`matrix`], figures 5-8):
//! converge and recreate per size and image, one project at a time. Last, print the table
//! ([`report`], [`matrix_rows`]), and always clean up what it created
//! ([`stack::Stack::cleanup`]). Every Docker call of composectl's binary and of
//! docker-compose goes through the counting [`proxy`].

mod change;
mod daemon;
mod error;
mod heal;
mod matrix;
mod matrix_rows;
mod memory;
mod proxy;
mod raw;
mod report;
mod request;
mod stack;
mod steady;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use daemon::Daemon;
use error::{Error, Result};
use proxy::Proxy;
use report::{Row, Unit, median, median_count, ms, percentile};
use stack::{Stack, docker, timed};

/// Benchmarks composectl against docker-compose on this Docker host.
#[derive(Debug, Parser)]
struct Args {
    /// The release `composectl` binary.
    #[arg(long)]
    composectl: PathBuf,
    /// In-process steady-state passes.
    #[arg(long, default_value_t = 50)]
    passes: usize,
    /// `composectl apply --once` runs.
    #[arg(long, default_value_t = 10)]
    binary_runs: usize,
    /// `docker-compose up -d` runs.
    #[arg(long, default_value_t = 5)]
    compose_runs: usize,
    /// Replicas killed per tool.
    #[arg(long, default_value_t = 15)]
    kills: usize,
    /// Desired-file changes.
    #[arg(long, default_value_t = 10)]
    changes: usize,
    /// Seconds the daemon sits idle before its memory is read.
    #[arg(long, default_value_t = 5)]
    idle_secs: u64,
    /// Container counts of the converge/recreate cells (multiples of 3: N/3 services x 3).
    #[arg(long, value_delimiter = ',', default_values_t = [30, 300], value_parser = parse_size)]
    sizes: Vec<usize>,
    /// Images of the converge/recreate cells.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [matrix::Image::Demo, matrix::Image::Stubborn])]
    images: Vec<matrix::Image>,
    /// In-process steady passes at each size of the cells.
    #[arg(long, default_value_t = 20)]
    size_passes: usize,
    /// Skip figures 1-4 on the classic stack (only the cells run).
    #[arg(long)]
    cells_only: bool,
    /// Skip the cells (figures 5-8).
    #[arg(long)]
    no_cells: bool,
}

fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{s}: {e}"))?;
    if n == 0 || !n.is_multiple_of(stack::REPLICAS) {
        return Err(format!(
            "{n}: a size is a positive multiple of {}",
            stack::REPLICAS
        ));
    }
    Ok(n)
}

/// Everything measured.
#[derive(Default)]
struct Figures {
    classic: Option<Classic>,
    cells: Vec<matrix::Outcome>,
    mem_available_kib: Option<u64>,
}

/// Figures 1-4, on the classic stack.
struct Classic {
    in_process: steady::Passes,
    binary: steady::Passes,
    compose: steady::Passes,
    compose_memory: memory::Memory,
    idle: memory::Memory,
    heals: heal::Heals,
    restarts: Vec<Duration>,
    changes: change::Changes,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    let tag = format!("bench{}x{}", std::process::id(), unix_seconds() % 100_000);
    let root = std::env::temp_dir().join(format!("composectl-{tag}"));
    let stack = Stack::new(root.join("classic"), &tag, args.composectl.clone());
    let images = if args.no_cells {
        &[][..]
    } else {
        &args.images[..]
    };
    let cells = matrix::cells(&root, &tag, &args.composectl, &args.sizes, images);
    eprintln!(
        "bench: projects {} (composectl) and {} (docker-compose)",
        stack.ours, stack.theirs
    );
    let started = std::time::Instant::now();
    // Filled as each part completes, so an interrupted run (Ctrl-C, bench.sh's timeout)
    // still prints what it measured.
    let figures = RefCell::new(Figures::default());
    let result = tokio::select! {
        result = run(&stack, &cells, &root, &args, &figures) => result,
        _ = tokio::signal::ctrl_c() => Err(Error::State("interrupted".into())),
    };
    eprintln!("bench: cleaning up");
    stack.cleanup().await;
    for cell in &cells {
        cell.stack.cleanup().await;
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!(
        "bench: the run took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let figures = figures.into_inner();
    if figures.classic.is_some() || !figures.cells.is_empty() {
        if result.is_err() {
            println!("(partial: the run stopped early, see the error)");
        }
        print!("{}", render(&figures));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    stack: &Stack,
    cells: &[matrix::Cell],
    root: &Path,
    args: &Args,
    figures: &RefCell<Figures>,
) -> Result<()> {
    let mut images = vec![stack::IMAGE];
    images.extend(cells.iter().map(|c| c.image.reference()));
    preflight(&images).await?;
    std::fs::create_dir_all(root).map_err(error::io(format!("create {}", root.display())))?;
    let proxy = Proxy::start(&root.join("proxy.sock"), Path::new("/var/run/docker.sock"))?;
    if !args.cells_only {
        let classic = classic_figures(stack, &proxy, args).await?;
        figures.borrow_mut().classic = Some(classic);
    }
    figures.borrow_mut().mem_available_kib = memory::available_kib();
    for cell in cells {
        let idle = Duration::from_secs(args.idle_secs);
        let outcome = matrix::run(cell, &proxy, args.size_passes, idle).await;
        figures.borrow_mut().cells.push(outcome);
    }
    Ok(())
}

/// Figures 1-4 on the classic stack.
async fn classic_figures(stack: &Stack, proxy: &Proxy, args: &Args) -> Result<Classic> {
    stack.write_files()?;
    let host = proxy.docker_host();
    let took = timed(
        stack.composectl_command(&host, &["apply", "--once"]),
        "composectl apply",
    )
    .await?;
    eprintln!(
        "bench: composectl converged {} in {:.1} s",
        stack.ours,
        took.as_secs_f64()
    );
    let took = timed(
        stack.compose_command(&host, &["up", "-d"]),
        "docker-compose up -d",
    )
    .await?;
    eprintln!(
        "bench: docker-compose converged {} in {:.1} s",
        stack.theirs,
        took.as_secs_f64()
    );

    eprintln!("bench: 1/4 steady-state passes");
    let in_process = steady::in_process(stack, args.passes).await?;
    let binary = steady::binary(stack, proxy, args.binary_runs).await?;
    let (compose, compose_memory) = steady::compose(stack, proxy, args.compose_runs).await?;

    eprintln!("bench: 4/4 idle memory of composectl run");
    let mut daemon = Daemon::start(stack, proxy)?;
    let measured = daemon_figures(stack, proxy, &mut daemon, args).await;
    daemon.stop().await;
    let (idle, heals, changes) = measured?;

    eprintln!("bench: 2/4 reference heals (restart: always)");
    let mut events = heal::Events::subscribe(&stack.theirs)?;
    let restarts = heal::reference(stack, &mut events, args.kills).await?;
    // The classic projects leave the engine before the cells start.
    stack.cleanup().await;
    Ok(Classic {
        in_process,
        binary,
        compose,
        compose_memory,
        idle,
        heals,
        restarts,
        changes,
    })
}

/// Idle memory, heals and changes, all with the daemon running.
async fn daemon_figures(
    stack: &Stack,
    proxy: &Proxy,
    daemon: &mut Daemon,
    args: &Args,
) -> Result<(memory::Memory, heal::Heals, change::Changes)> {
    let idle = Duration::from_secs(args.idle_secs);
    if !proxy.wait_quiet(idle, Duration::from_secs(60)).await {
        return Err(Error::State("composectl run never went idle".into()));
    }
    daemon.check_alive()?;
    let memory = memory::read(daemon.pid())
        .ok_or_else(|| Error::State("cannot read the daemon's /proc status".into()))?;
    eprintln!("bench: 2/4 heals by composectl run");
    let mut events = heal::Events::subscribe(&stack.ours)?;
    let heals = heal::ours(stack, proxy, &mut events, args.kills).await?;
    eprintln!("bench: 3/4 desired-file changes");
    let changes = change::run(stack, proxy, args.changes).await?;
    daemon.check_alive()?;
    Ok((memory, heals, changes))
}

/// Checks that the images exist. Other composectl instances on the engine are no
/// concern: every stack is its own instance, so it never sees or prunes their projects.
async fn preflight(images: &[&str]) -> Result<()> {
    for image in images {
        docker(&["image", "inspect", "-f", "{{.Id}}", image])
            .await
            .map_err(|_| {
                Error::State(format!("{image} is missing: run scripts/build-images.sh"))
            })?;
    }
    Ok(())
}

fn unix_seconds() -> u64 {
    composectl::clock::now_secs()
}

/// The table and the details below it.
fn render(f: &Figures) -> String {
    let mut rows = f.classic.as_ref().map(classic_rows).unwrap_or_default();
    rows.extend(matrix_rows::rows(&f.cells));
    let mut out = report::render(&rows);
    out.push_str(
        "\nreference: docker-compose up -d on its own converged project (rows 1, 4), the engine's \
         restart: always (row 2), docker-compose up -d on the same stack (rows 5, 6, 8)\n",
    );
    if let Some(c) = &f.classic {
        out.push_str(&details(c));
    }
    if !f.cells.is_empty() {
        out.push_str(&matrix_rows::details(&f.cells, f.mem_available_kib));
    }
    out
}

/// Heal median: composectl at most this times the restart policy's.
const HEAL_MAX_RATIO: f64 = 0.8;

/// Rows 1-4.
fn classic_rows(f: &Classic) -> Vec<Row> {
    use Unit::{Calls, MiB, Millis};
    let count = |p: &steady::Passes, w: bool| median_count(if w { &p.writes } else { &p.reads });
    let dc = &f.compose;
    let rows = [
        Row::new(
            "1. resync pass, in-process: reads",
            count(&f.in_process, false),
            Some(count(dc, false)),
            Some(2.0),
            Calls,
        ),
        Row::new(
            "1. resync pass, in-process: writes",
            count(&f.in_process, true),
            Some(count(dc, true)),
            Some(0.0),
            Calls,
        ),
        Row::new(
            "1. resync pass, in-process: median",
            ms(median(&f.in_process.times)),
            Some(ms(median(&dc.times))),
            Some(20.0),
            Millis,
        ),
        Row::new(
            "1. apply --once (process): reads",
            count(&f.binary, false),
            Some(count(dc, false)),
            None,
            Calls,
        ),
        Row::new(
            "1. apply --once (process): writes",
            count(&f.binary, true),
            Some(count(dc, true)),
            Some(0.0),
            Calls,
        ),
        Row::new(
            "1. apply --once (process): median",
            ms(median(&f.binary.times)),
            Some(ms(median(&dc.times))),
            None,
            Millis,
        ),
        Row::against(
            "2. heal die->start: median",
            ms(median(&f.heals.latencies)),
            ms(median(&f.restarts)),
            HEAL_MAX_RATIO,
            Millis,
        ),
        Row::new(
            "2. heal die->start: p90",
            ms(percentile(&f.heals.latencies, 90)),
            Some(ms(percentile(&f.restarts, 90))),
            None,
            Millis,
        ),
        Row::new(
            "3. file change -> 1st write, beyond debounce",
            ms(median(&f.changes.beyond_debounce())),
            None,
            Some(100.0),
            Millis,
        ),
        Row::new(
            "4. idle daemon VmRSS",
            memory::mib(f.idle.rss_kib),
            Some(memory::mib(f.compose_memory.rss_kib)),
            Some(15.0),
            MiB,
        ),
        Row::new(
            "4. idle daemon VmHWM",
            memory::mib(f.idle.hwm_kib),
            Some(memory::mib(f.compose_memory.hwm_kib)),
            None,
            MiB,
        ),
    ];
    rows.to_vec()
}

fn details(f: &Classic) -> String {
    let samples = |d: &[Duration]| {
        let mut v: Vec<String> = d.iter().map(|d| format!("{:.0}", ms(*d))).collect();
        v.sort_by_key(|s| s.parse::<u64>().unwrap_or(0));
        v.join(" ")
    };
    let mut out = String::new();
    out.push_str(&format!(
        "\ncalls per resync pass, in-process: {}\n",
        calls(&f.in_process.calls)
    ));
    out.push_str(&format!(
        "calls per apply --once: {}\n",
        calls(&f.binary.calls)
    ));
    out.push_str(&format!(
        "calls per docker-compose up -d: {}\n",
        calls(&f.compose.calls)
    ));
    out.push_str(&format!(
        "wall times, ms: resync pass p90 {:.2}; apply --once p90 {:.1}; docker-compose up -d runs: {}\n",
        ms(percentile(&f.in_process.times, 90)),
        ms(percentile(&f.binary.times, 90)),
        samples(&f.compose.times)
    ));
    out.push_str(&format!(
        "heal samples, ms (composectl): {}\n",
        samples(&f.heals.latencies)
    ));
    out.push_str(&format!(
        "heal samples, ms (restart: always): {}\n",
        samples(&f.restarts)
    ));
    out.push_str(&format!(
        "calls of the first heal: {}\n",
        f.heals.first_calls.join(", ")
    ));
    let step = |e: Option<&str>| ms(f.heals.median_step(e));
    out.push_str(&format!(
        "heal timeline, median ms after die: first call {:.0}, stop {:.0}, remove {:.0}, \
         create {:.0}, start request {:.0}, start event {:.0}\n",
        step(None),
        step(Some("POST /containers/{id}/stop")),
        step(Some("DELETE /containers/{id}")),
        step(Some("POST /containers/create")),
        step(Some("POST /containers/{id}/start")),
        ms(median(&f.heals.latencies)),
    ));
    out.push_str(&format!(
        "change samples, ms beyond the {} ms debounce: {}\n",
        daemon::DEBOUNCE.as_millis(),
        samples(&f.changes.beyond_debounce())
    ));
    out.push_str(&format!(
        "calls of the first change: {}\n",
        f.changes.first_calls.join(", ")
    ));
    out
}

fn calls(by_endpoint: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = by_endpoint
        .iter()
        .map(|(e, n)| format!("{n}x {e}"))
        .collect();
    parts.join(", ")
}
