//! Loading the desired directory into the controller's view: the bounded load, the host
//! policy's judgement of every project, the view's update and the log lines that say what
//! changed; and keeping the instance's ownership record (which projects it may prune).

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::view::Reloaded;
use super::{Controller, Shared};
use crate::desired::{self, HostEnv};
use crate::policy;
use crate::runtime::ContainerRuntime;
use crate::sync;

impl<R: ContainerRuntime> Controller<R> {
    /// Reloads the desired directory into the view (off the runtime, bounded in time),
    /// holding the projects that ask for more than the host policy allows, and logs what
    /// changed.
    pub async fn reload(&self) -> Reloaded {
        let mut load = self
            .loader
            .load_dir(&self.config.desired_dir, HostEnv)
            .await;
        if let Ok(report) = &mut load {
            let running: BTreeSet<String> = if self.shared.store.is_ready() {
                let observed = self.shared.store.snapshot();
                observed.projects().into_iter().map(str::to_owned).collect()
            } else {
                BTreeSet::new()
            };
            let judged = self.guard.apply(report, self.clock.now_ms(), &running);
            let mut privileges = sync::lock(&self.shared.privileges);
            privileges.retain(|project, _| report.projects.contains_key(project));
            privileges.extend(judged);
        }
        self.log_policy_error();
        apply_load(&self.shared, load)
    }

    /// Logs the policy file's error once per change.
    fn log_policy_error(&self) {
        let now = self.guard.file_error();
        let mut logged = sync::lock(&self.policy_error);
        if *logged != now {
            match &now {
                Some(err) => error!("{err}; the policy file's last good content applies"),
                None if logged.is_some() => info!("the policy file reads again"),
                None => {}
            }
            *logged = now;
        }
    }

    /// Each project's privileges as the host policy judged them at the latest reload.
    pub fn privileges(&self) -> BTreeMap<String, policy::Assessment> {
        sync::lock(&self.shared.privileges).clone()
    }

    /// Records which projects this instance owns, once the engine has been listed (a
    /// project is forgotten only when it is neither desired nor running), and warns about
    /// projects of this instance that another desired directory deployed.
    pub(super) fn keep_ownership(&self) {
        if !self.shared.store.is_ready() {
            return;
        }
        let running: BTreeSet<String> = self
            .shared
            .store
            .snapshot()
            .projects()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut view = sync::lock(&self.shared.view);
        view.forget_pruned(&running);
        let foreign = view.foreign(running.iter().map(String::as_str));
        self.ownership
            .warn_foreign(&foreign, &self.config.desired_dir);
        self.ownership.save(view.owned());
    }
}

/// Applies one load to the view and logs what it changed.
fn apply_load<R>(shared: &Shared<R>, load: desired::Result<desired::LoadReport>) -> Reloaded {
    let warnings: Vec<(String, String)> = load
        .iter()
        .flat_map(|report| &report.projects)
        .filter_map(|(project, loaded)| Some((project, loaded.as_ref().ok()?)))
        .flat_map(|(project, loaded)| {
            loaded
                .warnings
                .iter()
                .map(move |w| (project.clone(), w.to_string()))
        })
        .collect();
    let mut view = sync::lock(&shared.view);
    let reloaded = view.apply(load, Instant::now());
    shared.telemetry.record_load(&view);
    if let Some(err) = view.root_error() {
        error!("desired state not loaded, keeping the last good state: {err}");
    }
    for (project, err) in &reloaded.failed {
        error!(project = %project, "desired state invalid, keeping the last good state: {err}");
    }
    for project in &reloaded.changed {
        info!(project = %project, "desired state loaded");
        for (_, warning) in warnings.iter().filter(|(p, _)| p == project) {
            warn!(project = %project, "{warning}");
        }
    }
    for project in &reloaded.pending_removal {
        warn!(
            project = %project,
            confirm_in = ?reloaded.confirm_in,
            "project no longer found in the desired directory; it keeps running, and is \
             removed only if the next load agrees"
        );
    }
    for project in &reloaded.restored {
        info!(project = %project, "project found again; its removal is cancelled");
    }
    for project in &reloaded.removed {
        info!(project = %project, "project removed from the desired directory; pruning it");
    }
    reloaded
}
