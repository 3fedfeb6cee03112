//! composectl keeps one Docker host equal to a directory of compose files.
//!
//! The pipeline, from input to engine (start reading at [`controller`]):
//!
//! 1. [`desired`] loads the desired directory: one project per subdirectory (or top-level
//!    `NAME.yaml`), interpolated and validated all-or-nothing into [`model::spec`]. A project
//!    that fails keeps its last-known-good spec; [`desired::watch`] turns file changes into
//!    one debounced reload.
//! 2. [`policy`] judges every load before the controller sees it: what a project may do to
//!    the host (privileged mode, host namespaces, capabilities, the Docker socket, host
//!    paths outside the desired directory) is decided on the host. A project asking for
//!    more than it is allowed is held like one that fails to load.
//! 3. [`observed`] mirrors the engine: one label-filtered list, then the event stream; every
//!    reconnect relists and swaps the whole store. It also knows the engine's outages
//!    ([`observed::engine`]): while the engine is away nothing is decided, and an exit it
//!    caused is no failure (no crash backoff, no gate verdict, no rollback; the container
//!    is started again in place).
//! 4. [`plan`] is pure: `plan(desired, observed, context) -> Plan`, every action with its
//!    reason. Planning the result of a plan again yields nothing.
//! 5. [`executor`] carries a plan out through [`runtime::ContainerRuntime`], the only
//!    writer. [`runtime::docker`] talks to the engine; `runtime::fake` stands in for it in
//!    tests (the `test-util` feature, not in the release binary).
//! 6. [`controller`] schedules reconciles (one per project at a time, deduplicated,
//!    periodic resync, per-project error backoff, crash backoff per replica).
//!
//! [`metrics`] records what the loop does (Prometheus), [`status`] describes the host as the
//! controller sees it, and [`http`] serves both; [`systemd`] tells systemd how the loop is
//! doing (readiness, status line, watchdog). [`accept`] bounds what the HTTP and control
//! clients can take from the daemon (connections, descriptors, time), and [`fdlimit`]
//! raises the daemon's descriptor limit at start. [`cli`] and [`app`] wire it all into the
//! `composectl` binary; [`config_file`] reads the optional config file, [`healthcheck`] is
//! the client for a container `HEALTHCHECK`.
//!
//! [`control`] is the local control API (a root-only unix socket) behind `composectl rollout
//! ...`; [`webhook`] tells a chat or push service (over http or https, in its format) of
//! rollouts, crash loops and failing projects; [`timefmt`] formats timestamps and durations.
//! [`clock`] is the one place that reads the wall clock (tests inject a [`clock::WallClock`]
//! that follows tokio's paused clock; durations run on tokio's clock throughout).
//! [`sync`] is the one lock policy: a lock a panicking holder poisoned is taken as it is,
//! so one panicked reconcile never wedges the daemon.
//!
//! Secrets: [`redact`] is the one place that knows which values are secret (the loader, the
//! config file, registry credentials and every [`redact::Url`] hand them over) and keeps
//! them out of every output: log lines, the CLI's stdout and stderr, the HTTP bodies, the
//! control socket's answers, the webhook body, the rollout records. The revision history
//! keeps them (a rollback needs them) in files only root can read ([`state`]).
//!
//! Rollouts: [`rollout`] holds the strategies (recreate, rolling, canary) as pure state
//! machines, the rollout lifecycle ([`rollout::lifecycle`]: how a record moves) and the
//! control commands ([`rollout::command`]), all pure; [`gate`] holds the health gates
//! (Docker health, HTTP, Prometheus, scrape, exec). Where a rollout's state lives and who
//! changes it:
//!
//! - its **record** (where it is: the [`rollout::record::Phase`], the one truth about
//!   paused, held, reverting or over; step, window, replicas moved) and its service's
//!   **revision history** are small files in the state directory ([`state`]);
//! - one writer changes them: the rollout driver ([`controller::rollouts`]), once per
//!   reconcile of the project, before the plan. It steps the lifecycle with what it
//!   observed and the gates' decisions, and applies the commands `composectl rollout ...`
//!   queued on the control socket as intents (the socket answers once they are applied);
//!   `/status`, the metrics and `rollout status` read snapshots;
//! - the driver's answer pins replica slots to revisions, names the `:previous` tag and the
//!   images to pull, and the planner turns that into actions: the executor stays the only
//!   writer to the engine, so updates, reverts and heals go through one mechanism.
//!
//! Time: [`clock`] is the one place that reads the wall clock (persisted stamps); durations
//! use tokio's clock, so tests pause and advance it.

pub mod accept;
pub mod app;
pub mod build;
pub mod cli;
pub mod clock;
pub mod config_file;
pub mod control;
pub mod controller;
pub mod desired;
pub mod executor;
pub mod fdlimit;
pub mod gate;
pub mod healthcheck;
pub mod http;
pub mod metrics;
pub mod model;
pub mod observed;
pub mod plan;
pub mod policy;
pub mod redact;
pub mod rollout;
pub mod runtime;
pub mod state;
pub mod status;
pub mod sync;
pub mod systemd;
#[cfg(test)]
mod testing;
pub mod timefmt;
pub mod watch;
pub mod webhook;
