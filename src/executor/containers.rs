//! Container actions: create (and start), start again in place, stop and remove, with the
//! safety checks that keep the executor's hands off containers it does not manage.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::debug;

use super::permit::Permit;
use super::{Error, Executor, Result, failed, unknown};
use crate::model::spec::ProjectSpec;
use crate::model::{ContainerState, Health, ObservedContainer, labels};
use crate::plan::{Action, ContainerRef, Plan};
use crate::runtime::{self, ContainerCreate, ContainerRuntime};

/// Docker's stop grace period when the service sets none.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The stop grace period of `service` in `project` (Docker's 10 s when unknown).
pub(super) fn grace(project: &ProjectSpec, service: &str) -> Duration {
    project
        .services
        .get(service)
        .and_then(|s| s.stop_grace_period)
        .unwrap_or(DEFAULT_GRACE)
}

impl<R: ContainerRuntime> Executor<R> {
    /// Creates and starts replica `number` of `service` (from its pinned revision when the
    /// plan pins the slot), then records it in the store.
    pub(super) async fn create(
        &self,
        project: &ProjectSpec,
        plan: &Plan,
        action: &Action,
        service: &str,
        number: u32,
    ) -> Result<usize> {
        let mut request = create_request(project, plan, action, service, number, self.files())?;
        self.resolve_references(project, action, &mut request, number)?;
        self.check_not_pulled(plan, action, &request, number)?;
        let tagged = self.retag_pinned(plan, action, service, number).await?;
        self.create_started(&request, action).await?;
        Ok(2 + tagged)
    }

    /// Resolves the references of `request` to other services' containers against the
    /// store (see [`super::references`]).
    fn resolve_references(
        &self,
        project: &ProjectSpec,
        action: &Action,
        request: &mut ContainerCreate,
        number: u32,
    ) -> Result<()> {
        let state = self.store.snapshot();
        super::references::resolve(&state, &project.name, request, number).map_err(|source| {
            Error::Reference {
                action: action.to_string(),
                source,
            }
        })
    }

    /// Refuses to create a container of a service whose `pull_policy` forbids pulling
    /// (`never`, `build`) when the host lacks its image: the error names the policy,
    /// instead of the engine's bare "no such image". Pinned slots run a local image.
    fn check_not_pulled(
        &self,
        plan: &Plan,
        action: &Action,
        request: &ContainerCreate,
        number: u32,
    ) -> Result<()> {
        let svc = &request.service;
        let pinned = plan.pins.contains_key(&(svc.name.clone(), number));
        if pinned || svc.pull_policy.pulls() || self.store.snapshot().image_id(&svc.image).is_some()
        {
            return Ok(());
        }
        Err(Error::NotPulled {
            action: action.to_string(),
            service: svc.name.clone(),
            image: svc.image.clone(),
            policy: match svc.pull_policy {
                crate::model::resources::PullPolicy::Build => "build",
                _ => "never",
            },
        })
    }

    /// Points a pinned slot's `:previous` tag at the pinned image again before a create
    /// (another service of the same repository may have moved it since). One write when
    /// the slot is pinned to a tag, none otherwise.
    async fn retag_pinned(
        &self,
        plan: &Plan,
        action: &Action,
        service: &str,
        number: u32,
    ) -> Result<usize> {
        let Some(pin) = plan.pins.get(&(service.to_owned(), number)) else {
            return Ok(0);
        };
        if pin.run_image == pin.image_id {
            // Created from the image ID itself: there is no tag to point.
            return Ok(0);
        }
        self.runtime
            .tag_image(&pin.image_id, &pin.run_image)
            .await
            .map_err(failed(action))?;
        Ok(1)
    }

    /// Creates and starts `request`, records it in the store, returns its ID.
    async fn create_started(&self, request: &ContainerCreate, action: &Action) -> Result<String> {
        let id = self
            .runtime
            .create_container(request)
            .await
            .map_err(failed(action))?;
        self.runtime
            .start_container(&id)
            .await
            .map_err(failed(action))?;
        self.refresh(&id, action).await?;
        Ok(id)
    }

    /// Re-inspects container `id` into the store.
    async fn refresh(&self, id: &str, action: &Action) -> Result<()> {
        let inspected = self.runtime.inspect_container(id).await;
        if let Some(container) = inspected.map_err(failed(action))? {
            self.store.upsert(container);
        }
        Ok(())
    }

    /// Start-first: starts the new container under a temporary name, waits (on store
    /// changes, bounded by the wait timeout) until it is ready, then stops and removes
    /// `old` and gives the new container the replica's name. A new container that exits,
    /// turns unhealthy or is not ready in time is removed, `old` keeps serving, and the
    /// error says why.
    pub(super) async fn replace_start_first(
        &self,
        project: &ProjectSpec,
        plan: &Plan,
        action: &Action,
        old: &ContainerRef,
        (service, number): (&str, u32),
        permit: &Permit,
    ) -> Result<usize> {
        let mut request = create_request(project, plan, action, service, number, self.files())?;
        self.resolve_references(project, action, &mut request, number)?;
        self.retag_pinned(plan, action, service, number).await?;
        let name = std::mem::take(&mut request.name);
        let short = &old.id[..old.id.len().min(8)];
        request.name = format!("{name}{}{short}", crate::plan::TEMPORARY_INFIX);
        let id = self.create_started(&request, action).await?;
        let judged = self
            .store
            .wait_while_engine_up(|state| readiness(state.containers.get(&id)));
        let judged = permit.waiting(tokio::time::timeout(self.wait_timeout, judged));
        let why = match judged.await {
            Ok(Some(Ok(()))) => None,
            Ok(Some(Err(why))) => Some(why),
            Ok(None) => {
                return Err(Error::EngineAway {
                    action: action.to_string(),
                });
            }
            Err(_) => Some(format!("not ready after {:?}", self.wait_timeout)),
        };
        if let Some(why) = why {
            self.stop_remove(project, action, &id, Duration::ZERO, permit)
                .await?;
            return Err(Error::StartFirstFailed {
                action: action.to_string(),
                service: service.to_owned(),
                number,
                container: request.name,
                why,
            });
        }
        let grace = grace(project, service);
        let writes = self
            .stop_remove(project, action, &old.id, grace, permit)
            .await?;
        self.runtime
            .rename_container(&id, &name)
            .await
            .map_err(failed(action))?;
        self.refresh(&id, action).await?;
        Ok(writes + 3)
    }

    /// Stops and removes container `id` when the store knows it as a managed container of
    /// `project`; a container already gone is success.
    pub(super) async fn stop_remove(
        &self,
        project: &ProjectSpec,
        action: &Action,
        id: &str,
        grace: Duration,
        permit: &Permit,
    ) -> Result<usize> {
        let Some(known) = self.store.container(id) else {
            debug!(
                container = id,
                "not in the observed store (gone or unmanaged); skipping"
            );
            return Ok(0);
        };
        if known.project != project.name {
            return Err(Error::ForeignContainer {
                action: action.to_string(),
                id: id.to_owned(),
                owner: known.project,
            });
        }
        // A container that runs gets its grace period; one that already exited (the usual
        // heal) goes straight to removal, a call less on the heal's critical path.
        let mut writes = 1;
        if matches!(
            known.state,
            ContainerState::Running | ContainerState::Paused | ContainerState::Restarting
        ) {
            writes += 1;
            match permit.waiting(self.runtime.stop_container(id, grace)).await {
                Ok(()) | Err(runtime::Error::NotFound { .. }) => {}
                Err(source) => return Err(failed(action)(source)),
            }
        }
        let removed = self.runtime.remove_container(id).await;
        removed.map_err(failed(action))?;
        self.store.remove(id);
        Ok(writes)
    }

    /// True when `id` is a managed container of `project` in the store, false when the
    /// store does not know it (gone already); an error when another project owns it.
    fn is_known(&self, project: &ProjectSpec, action: &Action, id: &str) -> Result<bool> {
        match self.store.container(id) {
            Some(known) if known.project == project.name => Ok(true),
            Some(known) => Err(Error::ForeignContainer {
                action: action.to_string(),
                id: id.to_owned(),
                owner: known.project,
            }),
            None => Ok(false),
        }
    }

    /// Renames container `id` (a managed container of `project`) to `name`.
    pub(super) async fn rename(
        &self,
        project: &ProjectSpec,
        action: &Action,
        id: &str,
        name: &str,
    ) -> Result<usize> {
        if !self.is_known(project, action, id)? {
            return Ok(0);
        }
        self.runtime
            .rename_container(id, name)
            .await
            .map_err(failed(action))?;
        self.refresh(id, action).await?;
        Ok(1)
    }

    /// Starts container `id` (a managed container of `project` that exited, or that the
    /// engine stopped) again, in place, and records it in the store. A start the engine
    /// refuses is [`Error::StartFailed`] for `slot` (service, replica number).
    pub(super) async fn start(
        &self,
        project: &ProjectSpec,
        action: &Action,
        id: &str,
        (service, number): (&str, u32),
    ) -> Result<usize> {
        if !self.is_known(project, action, id)? {
            return Ok(0);
        }
        self.runtime
            .start_container(id)
            .await
            .map_err(|source| Error::StartFailed {
                service: service.to_owned(),
                number,
                id: id.to_owned(),
                source,
            })?;
        self.refresh(id, action).await?;
        Ok(1)
    }

    /// The stop grace period of the container `id`, from its service's spec.
    pub(super) fn grace_of(&self, project: &ProjectSpec, id: &str) -> Duration {
        self.store
            .container(id)
            .map_or(DEFAULT_GRACE, |c| grace(project, &c.service))
    }
}

/// Whether a new container is ready (`Ok`), failed (`Err` with what it did), or neither
/// yet (`None`).
fn readiness(container: Option<&ObservedContainer>) -> Option<Result<(), String>> {
    let Some(c) = container else {
        return Some(Err("it was removed".to_owned()));
    };
    match (c.state, c.health) {
        (ContainerState::Running, None | Some(Health::Healthy)) => Some(Ok(())),
        (ContainerState::Running, Some(Health::Unhealthy)) => {
            Some(Err("its health check failed".to_owned()))
        }
        (ContainerState::Exited | ContainerState::Dead, _) => Some(Err(format!(
            "it exited with code {}",
            c.exit_code
                .map_or("unknown".to_owned(), |code| code.to_string())
        ))),
        (ContainerState::Restarting, _) => Some(Err("it keeps restarting".to_owned())),
        _ => None,
    }
}

/// The complete create request for replica `number` of `service`: from the desired spec,
/// or from the pinned revision (with its `:previous` image) when the plan pins the slot;
/// its secrets and configs written under `files` and mounted ([`super::files`]).
pub(super) fn create_request(
    project: &ProjectSpec,
    plan: &Plan,
    action: &Action,
    service: &str,
    number: u32,
    files: Option<&crate::state::StateDir>,
) -> Result<ContainerCreate> {
    let pin = plan.pins.get(&(service.to_owned(), number));
    let project = pin.map_or(project, |p| &p.spec);
    let mut request = desired_request(project, action, service, number)?;
    if let Some(pin) = pin {
        request.service.image = pin.run_image.clone();
    }
    super::files::attach(files, project, &mut request).map_err(|source| Error::Files {
        action: action.to_string(),
        source,
    })?;
    Ok(request)
}

/// The create request for replica `number` of `service` of `project`.
fn desired_request(
    project: &ProjectSpec,
    action: &Action,
    service: &str,
    number: u32,
) -> Result<ContainerCreate> {
    let spec = project
        .services
        .get(service)
        .ok_or_else(|| unknown(action, "service", service))?;
    let mut networks = BTreeMap::new();
    for (key, attachment) in &spec.networks {
        let network = project
            .networks
            .get(key)
            .ok_or_else(|| unknown(action, "network", key))?;
        networks.insert(network.name.clone(), attachment.clone());
    }
    Ok(ContainerCreate {
        name: labels::container_name(&project.name, spec, number),
        service: spec.clone(),
        networks,
        labels: labels::container_labels(project, spec, number),
    })
}
