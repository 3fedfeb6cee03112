//! A time-bounded fuzz test of the whole loader (`desired::load_dir_with`) and the planner
//! over what it loads: no input may panic, hang or take unbounded memory.
//!
//! Cases are the repository's real compose and env files (`desired/`, `examples/`,
//! `tests/fixtures/`) mutated (byte flips, truncation, line duplication, deletion and swaps,
//! anchors and aliases, deep nesting, huge numbers, unicode, tabs, `${...}` fragments,
//! duplicated keys, keys that drive counts) and purely random YAML-ish text. Each case is
//! written into a fresh desired directory (`compose.yaml`, sometimes `.env`, an override,
//! an `env_file`, a top-level project file) and loaded on a worker thread with a 2 MiB stack
//! (as the runtime's blocking threads have) and a deadline of [`CASE_TIMEOUT`].
//!
//! - `COMPOSECTL_FUZZ_SECS`: how long to run (default 60).
//! - `COMPOSECTL_FUZZ_SEED`: the seed (default: from the clock; printed either way).
//! - `COMPOSECTL_FUZZ_CASE`: run only this case of the seed (to reproduce a failure).
//!
//! A failure prints the seed, the case number and where the case's files were kept; a crash
//! of the whole process (a stack overflow aborts) leaves the case's seed and number in
//! `$TMPDIR/composectl-fuzz-loader.last`. Run with `--nocapture` to see the number of
//! cases, the time and the peak RSS.

#[path = "fuzz_loader/cases.rs"]
mod cases;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use composectl::desired::{self, Limits};
use composectl::model::observed::ObservedState;
use composectl::plan::{self, PlanContext};

use cases::{Case, generate, seeds};

/// The longest a single case may take.
const CASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The highest peak resident set size accepted at the end.
const MAX_PEAK_RSS_BYTES: u64 = 1 << 30;

/// The stack of the worker thread (tokio's blocking threads have 2 MiB).
const WORKER_STACK: usize = 2 << 20;

fn write_case(root: &Path, case: &Case) {
    for (path, bytes) in case {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("case directory");
        }
        std::fs::write(&full, bytes).expect("case file");
    }
}

fn environment() -> BTreeMap<String, String> {
    [
        ("DB_PASSWORD", "hunter2".to_string()),
        ("GREETING", "hi".to_string()),
        ("REPLICAS", "3".to_string()),
        ("FOO", "bar".to_string()),
        ("EMPTY", String::new()),
        ("BIG", "b".repeat(100_000)),
        ("HOME", "/root".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// What went wrong with one case.
enum Failure {
    Panic(String),
    Hang,
}

/// Loads `root` (and plans every loaded project against an empty host) on a worker thread.
fn run_case(root: PathBuf) -> Result<usize, Failure> {
    let (done, wait) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("fuzz-case".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let env = environment();
            let report = desired::load_dir_with(&root, &env, &Limits::default());
            let mut loaded = 0;
            if let Ok(report) = report {
                let observed = ObservedState::default();
                for (name, load) in &report.projects {
                    match load {
                        Ok(project) => {
                            loaded += 1;
                            check_bounds(&project.spec);
                            let _ = plan::plan(
                                name,
                                Some(&project.spec),
                                &observed,
                                &PlanContext::default(),
                            );
                        }
                        Err(error) => {
                            let _ = error.to_string();
                        }
                    }
                }
            }
            let _ = done.send(loaded);
        })
        .expect("a worker thread starts");
    match wait.recv_timeout(CASE_TIMEOUT) {
        Ok(loaded) => {
            let _ = worker.join();
            Ok(loaded)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let message = match worker.join() {
                Err(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a panic".into()),
                Ok(()) => "the worker ended without an answer".into(),
            };
            Err(Failure::Panic(message))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::Hang),
    }
}

/// What loaded respects the loader's bounds.
fn check_bounds(spec: &composectl::model::spec::ProjectSpec) {
    assert!(spec.services.len() <= desired::MAX_SERVICES);
    for service in spec.services.values() {
        assert!(service.replicas <= desired::MAX_REPLICAS, "replicas");
        assert!(
            service.ports.len() <= desired::MAX_PORTS_PER_SERVICE,
            "ports"
        );
    }
}

fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

fn preview(case: &Case) -> String {
    let mut out = String::new();
    for (path, bytes) in case {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]);
        out.push_str(&format!("--- {path} ({} bytes)\n{text}\n", bytes.len()));
    }
    out
}

#[test]
fn the_loader_survives_random_and_mutated_input_without_panic_hang_or_unbounded_memory() {
    let secs = env_number("COMPOSECTL_FUZZ_SECS").unwrap_or(60);
    let seed = env_number("COMPOSECTL_FUZZ_SEED")
        .unwrap_or_else(|| composectl::clock::since_epoch().as_nanos() as u64);
    let only = env_number("COMPOSECTL_FUZZ_CASE");
    println!("fuzz_loader: seed {seed} (reproduce with COMPOSECTL_FUZZ_SEED={seed})");
    let last_case = std::env::temp_dir().join("composectl-fuzz-loader.last");
    println!(
        "fuzz_loader: should the process crash, {} names the case",
        last_case.display()
    );
    let seeds = seeds();
    assert!(seeds.compose.len() > 3, "the seed corpus is empty");

    let started = Instant::now();
    let budget = Duration::from_secs(secs);
    let (mut cases, mut loaded) = (0u64, 0usize);
    let indexes: Box<dyn Iterator<Item = u64>> = match only {
        Some(index) => Box::new(std::iter::once(index)),
        None => Box::new(0..),
    };
    for index in indexes {
        if only.is_none() && started.elapsed() >= budget {
            break;
        }
        let case = generate(seed, index, &seeds);
        // A crash (a stack overflow aborts the process) leaves this behind.
        let _ = std::fs::write(
            &last_case,
            format!("COMPOSECTL_FUZZ_SEED={seed} COMPOSECTL_FUZZ_CASE={index}\n"),
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        write_case(dir.path(), &case);
        cases += 1;
        match run_case(dir.path().to_path_buf()) {
            Ok(n) => loaded += n,
            Err(failure) => {
                let kept = dir.keep();
                let what = match failure {
                    Failure::Panic(message) => format!("panicked: {message}"),
                    Failure::Hang => format!("hung for more than {CASE_TIMEOUT:?}"),
                };
                panic!(
                    "the loader {what}\nreproduce with COMPOSECTL_FUZZ_SEED={seed} COMPOSECTL_FUZZ_CASE={index}\nthe case is kept in {}\n{}",
                    kept.display(),
                    preview(&case)
                );
            }
        }
    }
    let peak = peak_rss_bytes().unwrap_or(0);
    println!(
        "fuzz_loader: {cases} cases ({loaded} projects loaded) in {:.1} s, peak RSS {} MiB",
        started.elapsed().as_secs_f64(),
        peak >> 20
    );
    assert!(
        peak < MAX_PEAK_RSS_BYTES,
        "peak RSS {} MiB is over {} MiB (seed {seed})",
        peak >> 20,
        MAX_PEAK_RSS_BYTES >> 20
    );
}
