//! The rollout settings of one service, read from its spec: compose's
//! `deploy.update_config` / `deploy.rollback_config` and the `x-rollout` extension.
//!
//! ```yaml
//! x-rollout:
//!   strategy: canary     # canary | rolling | recreate (default: rolling when
//!                        # deploy.update_config is set, else recreate)
//!   steps: [1, 100%]     # canary: replicas on the new revision after each step, as a
//!                        # count or a percentage of replicas (rounded up); a last step
//!                        # of 100% is implied. Default [1, 100%].
//!   monitor: 60s         # canary: the window per step in which gates are evaluated
//!                        # (default: update_config's monitor)
//!   promotion: auto      # auto | manual (manual waits for `rollout promote` per step)
//!   gates: [...]         # gate configs, read by the gate module
//!   progress_deadline: 10m  # a replica not ready this long after it was ordered onto a
//!                        # revision counts as failed
//!   watch: digest        # follow the registry: digest | semver | a map
//!                        # ([`crate::watch::config`])
//! ```
//!
//! The reference flow (update replica 1, watch it 60 s, then replicas 2 and 3 one at a
//! time) is `steps: [1, 100%]`, `monitor: 60s` with the default stop-first order: inside a
//! step, stop-first replicas are replaced one after another, each once the previous one
//! is healthy.

use std::time::Duration;

use serde_json::Value;

use super::{Order, STRATEGIES, StrategyKind};
use crate::desired::convert::units;
use crate::model::spec::{ServiceSpec, UpdateConfig};

/// The extension key.
pub const KEY: &str = "x-rollout";

/// Swarm's default `monitor` when `update_config` sets none.
pub const DEFAULT_MONITOR: Duration = Duration::from_secs(5);

/// A rollout setting that cannot be used; every variant names the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A key this schema does not know.
    #[error("{key}: unknown key")]
    UnknownKey {
        /// The full key, e.g. `x-rollout.stpes`.
        key: String,
    },
    /// A value of the wrong type.
    #[error("{key}: expected {expected}")]
    WrongType {
        /// The full key.
        key: String,
        /// What the key takes.
        expected: &'static str,
    },
    /// A value outside its set of choices.
    #[error("{key}: {value:?} is not one of {allowed}")]
    NotAllowed {
        /// The full key.
        key: String,
        /// The value given.
        value: String,
        /// The choices, comma-separated.
        allowed: String,
    },
    /// A malformed duration.
    #[error("{key}: {value:?} {source}")]
    Duration {
        /// The full key.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        source: units::Error,
    },
    /// A step of zero replicas or 0%.
    #[error("{key}: a step must update at least one replica")]
    EmptyStep {
        /// The full key, e.g. `x-rollout.steps[0]`.
        key: String,
    },
    /// A percentage above 100.
    #[error("{key}: {value:?} is over 100%")]
    OverHundred {
        /// The full key.
        key: String,
        /// The value given.
        value: String,
    },
    /// A count above the service's replicas.
    #[error("{key}: {count} is more than the service's {replicas} replicas")]
    OverReplicas {
        /// The full key.
        key: String,
        /// The count given.
        count: u32,
        /// The service's replicas.
        replicas: u32,
    },
    /// A step that updates no more replicas than the one before it (counts compared
    /// with counts, percentages with percentages).
    #[error("{key}: {value} is not more than the step before it ({previous})")]
    NotIncreasing {
        /// The full key.
        key: String,
        /// This step, as written.
        value: String,
        /// The step before it, as written.
        previous: String,
    },
    /// A regular expression that does not compile (`x-rollout.watch.pattern`).
    #[error("{key}: not a valid regular expression: {message}")]
    Pattern {
        /// The full key.
        key: String,
        /// What the regex parser said.
        message: String,
    },
    /// A key that only a certain mode takes (`x-rollout.watch.pattern` with `mode: digest`).
    #[error("{key}: only taken with mode: {mode}")]
    NeedsMode {
        /// The full key.
        key: String,
        /// The mode that takes it.
        mode: &'static str,
    },
    /// A `max_failure_ratio` outside 0..=1.
    #[error("{key}: {value} is not a ratio between 0 and 1")]
    Ratio {
        /// The full key.
        key: String,
        /// The value given.
        value: f64,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// What a rolling update does when too many replicas fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureAction {
    /// Revert every updated replica.
    RollBack,
    /// Hold the rollout until a user resumes it (Swarm's default).
    #[default]
    Pause,
    /// Carry on with the next batch.
    Continue,
}

/// Whether a canary step advances by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Promotion {
    /// Once the step's window passes.
    #[default]
    Auto,
    /// Once the window passes and a user ran `rollout promote`.
    Manual,
}

/// One canary step: replicas on the new revision once it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepSize {
    /// A replica count.
    Count(u32),
    /// A percentage of the replicas (1 to 100), rounded up.
    Percent(u32),
}

impl StepSize {
    /// Replicas on the new revision after this step, out of `replicas`.
    pub fn resolve(self, replicas: u32) -> u32 {
        match self {
            Self::Count(n) => n.min(replicas),
            Self::Percent(p) => (u64::from(replicas) * u64::from(p)).div_ceil(100) as u32,
        }
    }
}

impl std::fmt::Display for StepSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// `update_config` or `rollback_config` with Swarm's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdatePolicy {
    /// Replicas per batch; 0 means all at once (default 1).
    pub parallelism: u32,
    /// Pause between batches (default 0).
    pub delay: Duration,
    /// What to do when too many fail (default pause).
    pub failure_action: FailureAction,
    /// How long each batch is watched (default 5 s).
    pub monitor: Duration,
    /// Failures tolerated, as a share of replicas (default 0).
    pub max_failure_ratio: f64,
    /// Stop-first (default) or start-first.
    pub order: Order,
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        Self {
            parallelism: 1,
            delay: Duration::ZERO,
            failure_action: FailureAction::Pause,
            monitor: DEFAULT_MONITOR,
            max_failure_ratio: 0.0,
            order: Order::StopFirst,
        }
    }
}

/// The canary part of `x-rollout`.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryConfig {
    /// The steps; the last one covers every replica.
    pub steps: Vec<StepSize>,
    /// The window per step.
    pub monitor: Duration,
    /// Auto or manual promotion.
    pub promotion: Promotion,
}

/// Everything a strategy needs to know about one service's rollouts.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutConfig {
    /// The strategy.
    pub strategy: StrategyKind,
    /// `deploy.update_config`.
    pub update: UpdatePolicy,
    /// `deploy.rollback_config` (how reverts run).
    pub rollback: UpdatePolicy,
    /// `x-rollout`'s canary settings (defaults when absent).
    pub canary: CanaryConfig,
    /// `x-rollout.gates`, for the gate module.
    pub gates: Vec<Value>,
    /// `x-rollout.watch`: how the service follows its registry (`None`: it does not).
    pub watch: Option<crate::watch::config::WatchConfig>,
    /// `x-rollout.progress_deadline`: how long a replica ordered onto a revision may take
    /// to become ready before it counts as failed (default 10m).
    pub progress_deadline: Duration,
}

/// The default `x-rollout.progress_deadline` (Kubernetes' `progressDeadlineSeconds`).
pub const DEFAULT_PROGRESS_DEADLINE: Duration = Duration::from_secs(600);

/// Whether `service` is rolled out by a strategy (it configures `x-rollout` or
/// `deploy.update_config`); other services are replaced as compose does.
pub fn has_rollout(service: &ServiceSpec) -> bool {
    service.extensions.contains_key(KEY) || service.update_config.is_some()
}

/// Checks every rollout setting of `service`, gates included; the error's text starts
/// with the key (`x-rollout.steps[1]: ...`, `x-rollout.gates[0].url: ...`).
pub fn check(service: &ServiceSpec) -> std::result::Result<(), String> {
    let config = RolloutConfig::from_service(service).map_err(|e| e.to_string())?;
    if config.watch.is_some() {
        use crate::model::resources::PullPolicy;
        if service.build.is_some() {
            return Err(format!(
                "{KEY}.watch: the service's image is built from `build:`, not pulled from a registry; remove `watch` (a changed context is built and rolled out anyway) or remove `build:`"
            ));
        }
        if matches!(service.pull_policy, PullPolicy::Never | PullPolicy::Build) {
            return Err(format!(
                "{KEY}.watch: `pull_policy` never pulls the service's image, so a registry update could not reach the host; remove `watch` or set pull_policy to missing"
            ));
        }
    }
    crate::gate::GateConfig::parse_list(&Value::Array(config.gates))
        .map(|_| ())
        .map_err(|e| format!("{KEY}.{e}"))
}

impl RolloutConfig {
    /// Reads the rollout settings of `service`.
    pub fn from_service(service: &ServiceSpec) -> Result<Self> {
        let update = policy(service.update_config.as_ref(), "deploy.update_config")?;
        let rollback = policy(service.rollback_config.as_ref(), "deploy.rollback_config")?;
        let empty = Value::Object(Default::default());
        let ext = service.extensions.get(KEY).unwrap_or(&empty);
        let ext = ext.as_object().ok_or_else(|| wrong(KEY, "a map"))?;
        if let Some(key) = ext.keys().find(|k| !EXT_KEYS.contains(&k.as_str())) {
            return Err(Error::UnknownKey {
                key: format!("{KEY}.{key}"),
            });
        }
        let default = if service.update_config.is_some() {
            StrategyKind::Rolling
        } else {
            StrategyKind::Recreate
        };
        let strategy = match ext.get("strategy") {
            Some(v) => strategy_name(v)?,
            None => default,
        };
        let canary = CanaryConfig {
            steps: steps(ext.get("steps"), service.replicas)?,
            monitor: optional_duration(ext.get("monitor"), &format!("{KEY}.monitor"))?
                .unwrap_or(update.monitor),
            promotion: promotion(ext.get("promotion"))?,
        };
        let gates = match ext.get("gates") {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(wrong(&format!("{KEY}.gates"), "a list")),
        };
        let progress_deadline = optional_duration(
            ext.get("progress_deadline"),
            &format!("{KEY}.progress_deadline"),
        )?
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE);
        let watch = ext
            .get("watch")
            .map(|v| crate::watch::config::parse(v, &format!("{KEY}.watch")))
            .transpose()?;
        Ok(Self {
            strategy,
            update,
            rollback,
            canary,
            gates,
            watch,
            progress_deadline,
        })
    }
}

const EXT_KEYS: &[&str] = &[
    "strategy",
    "steps",
    "monitor",
    "promotion",
    "gates",
    "progress_deadline",
    "watch",
];

fn wrong(key: &str, expected: &'static str) -> Error {
    Error::WrongType {
        key: key.to_string(),
        expected,
    }
}

fn not_allowed(key: &str, value: &str, allowed: &[&str]) -> Error {
    Error::NotAllowed {
        key: key.to_string(),
        value: value.to_string(),
        allowed: allowed.join(", "),
    }
}

fn strategy_name(value: &Value) -> Result<StrategyKind> {
    let key = format!("{KEY}.strategy");
    let text = value
        .as_str()
        .ok_or_else(|| wrong(&key, "a strategy name"))?;
    let names: Vec<&str> = STRATEGIES.iter().map(|(_, name, _)| *name).collect();
    StrategyKind::parse(text).ok_or_else(|| not_allowed(&key, text, &names))
}

fn promotion(value: Option<&Value>) -> Result<Promotion> {
    let key = format!("{KEY}.promotion");
    match value.map(|v| v.as_str().ok_or_else(|| wrong(&key, "auto or manual"))) {
        None => Ok(Promotion::Auto),
        Some(Ok("auto")) => Ok(Promotion::Auto),
        Some(Ok("manual")) => Ok(Promotion::Manual),
        Some(Ok(other)) => Err(not_allowed(&key, other, &["auto", "manual"])),
        Some(Err(e)) => Err(e),
    }
}

fn optional_duration(value: Option<&Value>, key: &str) -> Result<Option<Duration>> {
    let Some(value) = value else { return Ok(None) };
    let text = value
        .as_str()
        .ok_or_else(|| wrong(key, "a duration such as 60s"))?;
    units::parse_duration(text)
        .map(Some)
        .map_err(|source| Error::Duration {
            key: key.to_string(),
            value: text.to_string(),
            source,
        })
}

/// Reads `steps`, checks them against `replicas`, and appends an implied last 100% step.
/// Percentages may resolve to the same count for few replicas; the canary skips repeats.
fn steps(value: Option<&Value>, replicas: u32) -> Result<Vec<StepSize>> {
    let key = format!("{KEY}.steps");
    let mut steps = match value {
        None => vec![StepSize::Count(1), StepSize::Percent(100)],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| step(item, &format!("{key}[{i}]"), replicas))
            .collect::<Result<Vec<_>>>()?,
        Some(_) => return Err(wrong(&key, "a list of counts or percentages")),
    };
    for (i, pair) in steps.windows(2).enumerate() {
        let increasing = match (pair[0], pair[1]) {
            (StepSize::Count(a), StepSize::Count(b))
            | (StepSize::Percent(a), StepSize::Percent(b)) => b > a,
            _ => true,
        };
        if !increasing {
            return Err(Error::NotIncreasing {
                key: format!("{key}[{}]", i + 1),
                value: pair[1].to_string(),
                previous: pair[0].to_string(),
            });
        }
    }
    let full =
        |s: &StepSize| matches!(s, StepSize::Percent(100)) || *s == StepSize::Count(replicas);
    if !steps.last().is_some_and(full) {
        steps.push(StepSize::Percent(100));
    }
    Ok(steps)
}

fn step(value: &Value, key: &str, replicas: u32) -> Result<StepSize> {
    let expected = "a replica count or a percentage such as 50%";
    let size = match value {
        Value::Number(n) => {
            let n = n.as_u64().ok_or_else(|| wrong(key, expected))?;
            StepSize::Count(u32::try_from(n).unwrap_or(u32::MAX))
        }
        Value::String(text) => {
            let digits = text
                .trim()
                .strip_suffix('%')
                .ok_or_else(|| wrong(key, expected))?;
            let p: u32 = digits.trim().parse().map_err(|_| wrong(key, expected))?;
            if p > 100 {
                return Err(Error::OverHundred {
                    key: key.to_string(),
                    value: text.clone(),
                });
            }
            StepSize::Percent(p)
        }
        _ => return Err(wrong(key, expected)),
    };
    match size {
        StepSize::Count(0) | StepSize::Percent(0) => Err(Error::EmptyStep {
            key: key.to_string(),
        }),
        StepSize::Count(count) if count > replicas => Err(Error::OverReplicas {
            key: key.to_string(),
            count,
            replicas,
        }),
        size => Ok(size),
    }
}

/// Fills Swarm's defaults into `config` (absent: all defaults).
fn policy(config: Option<&UpdateConfig>, key: &str) -> Result<UpdatePolicy> {
    let mut p = UpdatePolicy::default();
    let Some(c) = config else { return Ok(p) };
    p.parallelism = c.parallelism.unwrap_or(p.parallelism);
    p.delay = c.delay.unwrap_or(p.delay);
    p.monitor = c.monitor.unwrap_or(p.monitor);
    if let Some(ratio) = c.max_failure_ratio {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(Error::Ratio {
                key: format!("{key}.max_failure_ratio"),
                value: ratio,
            });
        }
        p.max_failure_ratio = ratio;
    }
    p.failure_action = match c.failure_action.as_deref() {
        None | Some("pause") => FailureAction::Pause,
        Some("rollback") => FailureAction::RollBack,
        Some("continue") => FailureAction::Continue,
        Some(other) => {
            let allowed = ["rollback", "pause", "continue"];
            return Err(not_allowed(
                &format!("{key}.failure_action"),
                other,
                &allowed,
            ));
        }
    };
    p.order = match c.order.as_deref() {
        None | Some("stop-first") => Order::StopFirst,
        Some("start-first") => Order::StartFirst,
        Some(other) => {
            let allowed = ["stop-first", "start-first"];
            return Err(not_allowed(&format!("{key}.order"), other, &allowed));
        }
    };
    Ok(p)
}
