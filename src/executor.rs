//! The executor: carries a [`Plan`] out through the [`ContainerRuntime`], the only writer to
//! the engine.
//!
//! Actions run as the plan's dependency graph allows, concurrently up to a parallelism
//! ([`run`]); a failure fails its service and skips what depends on it, the rest still
//! runs. What was done stays done, and the next plan starts from what is observed then. Containers the executor creates are
//! inspected and upserted into the [`Store`] at once, so a plan made before the engine's
//! event arrives does not create them again. It only ever stops or removes a container
//! whose ID is in the plan *and* in the store (which holds managed containers only) under
//! the plan's project.

use std::sync::Arc;
use std::time::Duration;

use crate::model::spec::{DependsOn, ProjectSpec};
use crate::observed::Store;
use crate::plan::{Action, Plan};
use crate::runtime::{self, ContainerRuntime};
use crate::state::StateDir;
use permit::Permit;

mod build;
#[cfg(test)]
mod concurrency_tests;
mod containers;
pub mod files;
mod permit;
mod recreate;
mod references;
mod resources;
mod run;
#[cfg(test)]
mod tests;
mod wait;

pub use build::{BuildSettings, DEFAULT_BUILD_TIMEOUT};

/// How many actions run at once by default: enough to overlap slow stops and pulls, few
/// enough for a small NAS.
pub const DEFAULT_PARALLELISM: usize = 8;

/// How long a `WaitFor` waits by default.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an execution stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A runtime call failed while carrying out `action`.
    #[error("{action}: {source}")]
    Action {
        /// The action, as displayed in plans.
        action: String,
        /// The runtime's error.
        source: runtime::Error,
    },
    /// The build of a service's image failed: the service keeps the image it runs, and
    /// these inputs are not built again until they change (or `composectl rollout rebuild`).
    #[error("{action}: {source}")]
    BuildFailed {
        /// The action, as displayed in plans.
        action: String,
        /// The service.
        service: String,
        /// The build hash of the inputs that failed.
        hash: String,
        /// The runtime's error ([`runtime::Error::BuildFailed`] for a failed build).
        source: runtime::Error,
    },
    /// The build context could not be read when building (it was read at load).
    #[error("{action}: {source}")]
    BuildContext {
        /// The action, as displayed in plans.
        action: String,
        /// Why.
        source: crate::build::Error,
    },
    /// The context's files changed between the load and the build: nothing was built; the
    /// next load and plan build what the files hold then.
    #[error(
        "{action}: the build context changed while it was read for the build; it is built once the files settle"
    )]
    BuildContextMoved {
        /// The action, as displayed in plans.
        action: String,
    },
    /// The image a rollout rolls back to is no longer on the host, so its `:previous` tag
    /// cannot be set and the rollout would have nothing to roll back to.
    #[error(
        "service {service}: the image its replicas run ({image_id}) is no longer on this host, \
         so a rollout would have nothing to roll back to (tag {reference}); pull or rebuild \
         that image so the rollout can start"
    )]
    PreviousGone {
        /// The service.
        service: String,
        /// The tag.
        reference: String,
        /// The image.
        image_id: String,
    },
    /// The image of a service whose `pull_policy` forbids pulling is not on the host.
    #[error(
        "{action}: image {image} of service {service} is not on this host and `pull_policy: {policy}` \
         forbids pulling it; load or build it on this host (docker load, docker build -t {image}), \
         or set pull_policy to missing"
    )]
    NotPulled {
        /// The action, as displayed in plans.
        action: String,
        /// The service.
        service: String,
        /// The image reference.
        image: String,
        /// `never` or `build`.
        policy: &'static str,
    },
    /// A dependency did not meet its condition in time.
    #[error(
        "{service}: dependency {dependency} not {} after {timeout:?}",
        wait::condition_name(*condition)
    )]
    DependencyTimeout {
        /// The service that waits.
        service: String,
        /// The service waited for.
        dependency: String,
        /// The condition.
        condition: DependsOn,
        /// How long it waited.
        timeout: Duration,
    },
    /// A replica of the dependency exited with a non-zero code.
    #[error("{service}: dependency {dependency} failed: {container} exited with code {exit_code}")]
    DependencyFailed {
        /// The service that waits.
        service: String,
        /// The service waited for.
        dependency: String,
        /// The replica that failed.
        container: String,
        /// Its exit code.
        exit_code: i64,
    },
    /// The new container of a start-first replacement did not become ready; it was
    /// removed and the old one kept serving.
    #[error("{action}: the new container {container} did not become ready: {why}")]
    StartFirstFailed {
        /// The action, as displayed in plans.
        action: String,
        /// The service.
        service: String,
        /// The replica number.
        number: u32,
        /// The new container's name.
        container: String,
        /// What it did instead.
        why: String,
    },
    /// The engine refused to start a container again in place (a mount source vanished,
    /// the container was removed meanwhile): the next plan replaces it instead.
    #[error("start {service} #{number} again: {source}; it is replaced at the next reconcile")]
    StartFailed {
        /// The service.
        service: String,
        /// The replica number.
        number: u32,
        /// The container that did not start.
        id: String,
        /// The runtime's error.
        source: runtime::Error,
    },
    /// The engine went away while the action waited (for a dependency, or for a
    /// start-first container to be ready); nothing is judged by it.
    #[error("{action}: the Docker engine went away while waiting; retried once it is back")]
    EngineAway {
        /// The action, as displayed in plans.
        action: String,
    },
    /// The action names a service, network or volume the project does not define.
    #[error("{action}: the project has no {kind} {key}")]
    UnknownKey {
        /// The action, as displayed in plans.
        action: String,
        /// `service`, `network` or `volume`.
        kind: &'static str,
        /// The missing key.
        key: String,
    },
    /// A reference to another service (`network_mode: service:`, `volumes_from`) cannot
    /// be resolved to a container.
    #[error("{action}: {source}")]
    Reference {
        /// The action, as displayed in plans.
        action: String,
        /// What is missing.
        source: references::Error,
    },
    /// Some actions of the plan failed: each failed service with its error (one line per
    /// service); the actions that depend on them were skipped, the rest ran.
    #[error("{}", services_failed(failed))]
    Services {
        /// The failed services, in the order their actions failed.
        failed: Vec<ServiceFailure>,
        /// What the execution did and skipped.
        report: Report,
    },
    /// The failure of an action several services needed, as given to each service but
    /// the first (which carries the error itself).
    #[error("{why}")]
    Shared {
        /// The error, displayed.
        why: String,
    },
    /// A secret or config could not be written or mounted (nothing was created).
    #[error("{action}: {source}")]
    Files {
        /// The action, as displayed in plans.
        action: String,
        /// Why.
        source: files::Error,
    },
    /// The plan is for another project than the spec given.
    #[error("plan for project {plan} executed with the spec of project {spec}")]
    ProjectMismatch {
        /// The plan's project.
        plan: String,
        /// The spec's project.
        spec: String,
    },
    /// The plan names a managed container of another project.
    #[error("{action}: container {id} belongs to project {owner}; not touching it")]
    ForeignContainer {
        /// The action, as displayed in plans.
        action: String,
        /// The container ID.
        id: String,
        /// The project the container belongs to.
        owner: String,
    },
    /// A network to recreate has containers attached that the plan does not remove
    /// (another project's, or a container composectl does not manage): nothing was changed.
    #[error(
        "{action}: network {network} has containers attached that this plan does not replace \
         ({containers}); composectl never stops them: disconnect them (docker network \
         disconnect {network} CONTAINER) and the network is recreated at the next reconcile"
    )]
    NetworkInUse {
        /// The action, as displayed in plans.
        action: String,
        /// The Docker network name.
        network: String,
        /// Short IDs of the containers in the way, comma-separated.
        containers: String,
    },
}

impl Error {
    /// The errors this one stands for: those of each failed service for
    /// [`Error::Services`], else itself.
    pub fn failures(&self) -> Vec<&Error> {
        match self {
            Self::Services { failed, .. } => failed.iter().map(|f| &f.error).collect(),
            other => vec![other],
        }
    }

    /// The one error this stands for: the error of the only failed service of an
    /// [`Error::Services`], else itself.
    #[cfg(test)]
    pub(crate) fn into_single(self) -> Error {
        match self {
            Self::Services { mut failed, .. } if failed.len() == 1 => failed.remove(0).error,
            other => other,
        }
    }
}

/// One service that failed in an execution, and why.
#[derive(Debug)]
pub struct ServiceFailure {
    /// The service (for a failure that belongs to no service, what failed).
    pub service: String,
    /// Its action's error.
    pub error: Error,
}

fn services_failed(failed: &[ServiceFailure]) -> String {
    let lines: Vec<String> = failed
        .iter()
        .map(|f| format!("service {}: {}", f.service, f.error))
        .collect();
    lines.join("\n")
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an execution did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The actions carried out, in the order they completed.
    pub done: Vec<Action>,
    /// The actions not carried out because an action they depend on failed.
    pub skipped: Vec<Action>,
    /// Runtime write calls made.
    pub writes: usize,
    /// The plan was stopped before its end because it was no longer wanted.
    pub cancelled: bool,
}

/// Carries plans out. Cheap to share: the runtime is behind an `Arc`, the store is a handle.
#[derive(Debug)]
pub struct Executor<R> {
    runtime: Arc<R>,
    store: Store,
    wait_timeout: Duration,
    /// How many actions run at once.
    parallelism: usize,
    /// Where secrets and configs are written ([`files`]); `None` refuses services that
    /// use them.
    state: Option<StateDir>,
    /// Image builds: their slots and timeout.
    builds: build::BuildSlots,
}

impl<R: ContainerRuntime> Executor<R> {
    /// An executor writing through `runtime` and recording what it creates in `store`.
    pub fn new(runtime: Arc<R>, store: Store) -> Self {
        Self {
            runtime,
            store,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            parallelism: DEFAULT_PARALLELISM,
            state: None,
            builds: build::BuildSlots::new(BuildSettings::default()),
        }
    }

    /// Runs image builds as `settings` say (how many at once, how long each may take).
    pub fn with_builds(mut self, settings: BuildSettings) -> Self {
        self.builds = build::BuildSlots::new(settings);
        self
    }

    /// Keeps secret and config files in `state` (`<state>/<project>/files/`).
    pub fn with_state_dir(mut self, state: StateDir) -> Self {
        self.state = Some(state);
        self
    }

    fn files(&self) -> Option<&StateDir> {
        self.state.as_ref()
    }

    /// Removes the secret and config files of `project` that neither its spec nor any of
    /// its containers (observed now) uses; returns their names. Run after a reconcile.
    pub fn collect_files(&self, project: &ProjectSpec) -> Result<Vec<String>, files::Error> {
        let Some(state) = &self.state else {
            return Ok(Vec::new());
        };
        let mut keep = files::referenced(project);
        let observed = self.store.snapshot();
        for c in observed.containers.values() {
            if c.project == project.name {
                keep.extend(files::mounted_by(&c.labels));
            }
        }
        files::collect(state, &project.name, &keep)
    }

    /// Lets at most `n` actions work on the engine at once (at least one); actions waiting
    /// on a container (a grace period, readiness, a dependency) do not count
    /// ([`permit`]).
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// Sets how long a `WaitFor` may wait.
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Carries out `plan` for `project` (for a removed project: a spec with only the name).
    /// Independent actions run concurrently; a failure fails its service and skips what
    /// depends on it ([`Error::Services`]).
    pub async fn execute(&self, project: &ProjectSpec, plan: &Plan) -> Result<Report> {
        self.execute_while(project, plan, || true).await
    }

    /// Like [`Self::execute`], asking `proceed` before starting each action and starting
    /// no more (with [`Report::cancelled`], once those running are done) when it says no: a
    /// prune stops when the project comes back.
    ///
    /// The plan runs as its dependency graph ([`crate::plan::graph`]): every action whose
    /// dependencies are done starts, up to the parallelism. Returns `Ok` when no action
    /// failed, else [`Error::Services`] with each failed service, what ran and what was
    /// skipped.
    pub async fn execute_while(
        &self,
        project: &ProjectSpec,
        plan: &Plan,
        proceed: impl Fn() -> bool,
    ) -> Result<Report> {
        if plan.project != project.name {
            return Err(Error::ProjectMismatch {
                plan: plan.project.clone(),
                spec: project.name.clone(),
            });
        }
        self.run_graph(project, plan, proceed).await
    }

    /// Carries out one action; returns the number of runtime writes it made.
    async fn act(
        &self,
        project: &ProjectSpec,
        plan: &Plan,
        action: &Action,
        permit: &Permit,
    ) -> Result<usize> {
        match action {
            Action::PullImage { image } => self.pull(project, action, image).await,
            Action::Build { service, hash, .. } => {
                self.build(project, action, service, hash, permit).await
            }
            Action::TagImage {
                reference,
                image_id,
                service,
                ..
            } => self.tag(action, reference, image_id, service).await,
            Action::EnsureNetwork { key } => self.ensure_network(project, action, key).await,
            Action::RecreateNetwork { key, detach, .. } => {
                self.recreate_network(project, action, key, detach, permit)
                    .await
            }
            Action::EnsureVolume { key } => self.ensure_volume(project, action, key).await,
            Action::WaitFor {
                service,
                dependency,
                condition,
            } => {
                let wait = self.wait_for(project, service, dependency, *condition);
                permit.waiting(wait).await
            }
            Action::Create {
                service, number, ..
            } => self.create(project, plan, action, service, *number).await,
            Action::Replace {
                container,
                service,
                number,
                ..
            } => {
                // Files first: a secret that cannot be written must not cost the old
                // container (writing them again for the create changes nothing).
                let files = self.files();
                containers::create_request(project, plan, action, service, *number, files)?;
                let grace = containers::grace(project, service);
                let removed = self.stop_remove(project, action, &container.id, grace, permit);
                let writes = removed.await?;
                Ok(writes + self.create(project, plan, action, service, *number).await?)
            }
            Action::ReplaceStartFirst {
                container,
                service,
                number,
                ..
            } => {
                let slot = (service.as_str(), *number);
                self.replace_start_first(project, plan, action, container, slot, permit)
                    .await
            }
            Action::Start {
                container,
                service,
                number,
                ..
            } => {
                self.start(project, action, &container.id, (service, *number))
                    .await
            }
            Action::Rename { container, name } => {
                self.rename(project, action, &container.id, name).await
            }
            Action::Remove { container, .. } => {
                let grace = self.grace_of(project, &container.id);
                self.stop_remove(project, action, &container.id, grace, permit)
                    .await
            }
            Action::PruneNetworks => self.prune_networks(project, action).await,
        }
    }
}

/// Wraps a runtime error as the failure of `action`.
fn failed(action: &Action) -> impl Fn(runtime::Error) -> Error + '_ {
    move |source| Error::Action {
        action: action.to_string(),
        source,
    }
}

/// The action names a key the project does not define.
fn unknown(action: &Action, kind: &'static str, key: &str) -> Error {
    Error::UnknownKey {
        action: action.to_string(),
        kind,
        key: key.to_owned(),
    }
}
