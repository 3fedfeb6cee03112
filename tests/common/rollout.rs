//! Rollout test helpers: a per-test image repository (so `:previous` tags of parallel tests
//! never collide), `rollout status --json` as JSON, an availability poller, and a poller
//! of the rollout's phase over time ([`PhasePoller`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{TestProject, docker, run_cli};

/// `composectl-demo:v1` and `:v2` re-tagged into a repository of the test's own
/// (`<project>-app:v1`, `:v2`); every tag of it is removed on drop.
pub struct TestImages {
    repository: String,
}

impl TestImages {
    /// Tags the demo images for `project` (the images must be built: `demo_image()`).
    pub fn new(project: &TestProject) -> Self {
        let repository = format!("{}-app", project.name());
        for version in ["v1", "v2"] {
            let demo = super::demo_image(version);
            docker(&["tag", &demo, &format!("{repository}:{version}")]);
        }
        Self { repository }
    }

    /// `<repository>:<tag>`.
    pub fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.repository)
    }

    /// The image ID `<repository>:<tag>` points at, if the tag exists.
    pub fn id_of(&self, tag: &str) -> Option<String> {
        let out = std::process::Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", &self.image(tag)])
            .output()
            .expect("cannot run docker image inspect");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for TestImages {
    fn drop(&mut self) {
        for tag in ["v1", "v2", "previous"] {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "--no-prune", &self.image(tag)])
                .output();
        }
    }
}

/// `composectl rollout status --json <target>` of the calling test's instance, parsed; the
/// `services` array of the answer.
pub fn rollout_status(target: &str) -> Vec<serde_json::Value> {
    let run = run_cli(&["rollout", "status", "--json", target]);
    assert_eq!(run.code, Some(0), "rollout status failed: {}", run.all());
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("rollout status printed no JSON ({e}): {}", run.all()));
    json["services"].as_array().cloned().unwrap_or_default()
}

/// The phase of `target`'s rollout (`progressing`, `complete`, `rolled_back`, ...), or
/// `none`.
pub fn rollout_phase(target: &str) -> String {
    rollout_status(target)
        .first()
        .and_then(|s| s["phase"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "none".to_owned())
}

/// Counts, every 100 ms until stopped, the replicas of a service that serve (running and
/// healthy per Docker), and remembers the lowest count and the most replicas on the new
/// image seen at once.
pub struct Availability {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<JoinHandle<()>>,
}

/// One poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Replicas running and healthy.
    pub serving: usize,
    /// Containers of the service that exist.
    pub containers: usize,
    /// Containers running `new_image`.
    pub on_new: usize,
    /// When it was taken, since polling started.
    pub at: Duration,
}

impl Availability {
    /// Starts polling the containers of `service` in `project`; `new_image` is the
    /// reference a container of the new revision was created from.
    pub fn start(project: &TestProject, service: &str, new_image: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let filter_project = format!("label=com.docker.compose.project={}", project.name());
        let filter_service = format!("label=com.docker.compose.service={service}");
        let new_image = new_image.to_owned();
        let thread = {
            let stop = stop.clone();
            let samples = samples.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let out = std::process::Command::new("docker")
                        .args([
                            "ps",
                            "--filter",
                            &filter_project,
                            "--filter",
                            &filter_service,
                            "--format",
                            "{{.Image}}|{{.Status}}",
                        ])
                        .output();
                    if let Ok(out) = out {
                        let text = String::from_utf8_lossy(&out.stdout);
                        let lines: Vec<&str> = text.lines().collect();
                        let sample = Sample {
                            serving: lines.iter().filter(|l| l.contains("(healthy)")).count(),
                            containers: lines.len(),
                            on_new: lines
                                .iter()
                                .filter(|l| l.split('|').next() == Some(new_image.as_str()))
                                .count(),
                            at: started.elapsed(),
                        };
                        composectl::sync::lock(&samples).push(sample);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops polling; every sample taken.
    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        composectl::sync::lock(&self.samples).clone()
    }
}

impl Drop for Availability {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The first entry of `rollout status --json <target>`; `None` while no controller answers.
pub fn try_rollout_status(target: &str) -> Option<serde_json::Value> {
    let run = run_cli(&["rollout", "status", "--json", target]);
    if run.code != Some(0) {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).ok()?;
    json["services"].as_array()?.first().cloned()
}

/// One poll of `rollout status`.
#[derive(Debug, Clone)]
pub struct PhaseSample {
    /// When it was taken.
    pub at: Instant,
    /// The phase (`none` without a rollout).
    pub phase: String,
    /// The current step, from 1.
    pub step: u64,
    /// Replicas on the new revision and ready.
    pub updated: u64,
    /// Whether a monitor window was running (`window_left_ms` set).
    pub in_window: bool,
}

/// Polls `rollout status --json` of one service every 200 ms until stopped, in the calling
/// test's composectl instance.
pub struct PhasePoller {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<PhaseSample>>>,
    thread: Option<JoinHandle<()>>,
}

impl PhasePoller {
    /// Starts polling `target` (`project/service`).
    pub fn start(target: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, samples) = (stop.clone(), samples.clone());
            // The test's thread name: it scopes composectl to the test's instance.
            let name = std::thread::current().name().unwrap_or("main").to_owned();
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    if let Some(s) = try_rollout_status(&target) {
                        composectl::sync::lock(&samples).push(PhaseSample {
                            at,
                            phase: s["phase"].as_str().unwrap_or("none").to_owned(),
                            step: s["step"].as_u64().unwrap_or(0),
                            updated: s["updated"].as_u64().unwrap_or(0),
                            in_window: s["window_left_ms"].is_u64(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            spawned.expect("cannot start the status poller")
        };
        Self {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops polling; every sample taken, oldest first.
    pub fn stop(mut self) -> Vec<PhaseSample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        composectl::sync::lock(&self.samples).clone()
    }
}

impl Drop for PhasePoller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The polls of `samples` where phase, step, updated or the window changed, one a line,
/// with their time since `start`: for failure messages.
pub fn phase_timeline(start: Instant, samples: &[PhaseSample]) -> String {
    let mut out = String::new();
    let mut last = None;
    for s in samples {
        let key = (s.phase.as_str(), s.step, s.updated, s.in_window);
        if last != Some(key) {
            let at = s.at.saturating_duration_since(start).as_secs_f64();
            out += &format!(
                "  {at:>7.3} s {} step {} updated {} in_window {}\n",
                s.phase, s.step, s.updated, s.in_window
            );
            last = Some(key);
        }
    }
    out
}
