//! `WaitFor`: waiting until a dependency meets its `depends_on` condition, driven by the
//! store's change notifications (no polling) and bounded by the executor's wait timeout;
//! given up as soon as the engine goes away.

use tracing::{info, warn};

use super::{Error, Executor, Result};
use crate::model::spec::{DependsOn, ProjectSpec};
use crate::model::{ContainerState, Health, ObservedContainer, ObservedState};
use crate::runtime::ContainerRuntime;

/// Where a dependency stands against its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The condition holds.
    Met,
    /// Not yet.
    Pending,
    /// A replica exited with a non-zero code: it will not hold without a new container.
    Failed {
        /// The replica's name.
        container: String,
        /// Its exit code.
        exit_code: i64,
    },
}

/// The condition as `depends_on` words it.
pub(super) fn condition_name(condition: DependsOn) -> &'static str {
    match condition {
        DependsOn::Started => "started",
        DependsOn::Healthy => "healthy",
        DependsOn::CompletedSuccessfully => "completed successfully",
    }
}

/// Judges `dependency` of `project` in `state` against `condition`.
///
/// - Started: some replica runs (or ran and exited 0); a crashed replica fails the wait
///   only when no replica runs.
/// - Healthy: every replica runs and is healthy (no healthcheck counts as healthy).
/// - CompletedSuccessfully: every replica exited with code 0.
///
/// A dependency with no container yet is pending. Only its replicas numbered up to `kept`
/// (its desired count) count: a surplus replica is being removed by the same plan.
pub(super) fn verdict(
    state: &ObservedState,
    project: &str,
    dependency: &str,
    kept: u32,
    condition: DependsOn,
) -> Verdict {
    let replicas: Vec<&ObservedContainer> = state
        .project(project)
        .filter(|c| c.service == dependency && c.number <= kept)
        .collect();
    let met = !replicas.is_empty()
        && match condition {
            DependsOn::Started => replicas.iter().any(|c| started(c)),
            DependsOn::Healthy => replicas.iter().all(|c| healthy(c)),
            DependsOn::CompletedSuccessfully => replicas.iter().all(|c| completed(c)),
        };
    if met {
        return Verdict::Met;
    }
    replicas
        .iter()
        .find_map(|c| match (c.state, c.exit_code) {
            (ContainerState::Exited, Some(code)) if code != 0 => Some(Verdict::Failed {
                container: c.name.clone(),
                exit_code: code,
            }),
            _ => None,
        })
        .unwrap_or(Verdict::Pending)
}

fn started(c: &ObservedContainer) -> bool {
    c.state == ContainerState::Running || completed(c)
}

fn healthy(c: &ObservedContainer) -> bool {
    c.state == ContainerState::Running && matches!(c.health, None | Some(Health::Healthy))
}

fn completed(c: &ObservedContainer) -> bool {
    c.state == ContainerState::Exited && c.exit_code == Some(0)
}

impl<R: ContainerRuntime> Executor<R> {
    /// Waits until `dependency` meets `condition`, at most the wait timeout. Makes no writes.
    /// A dependency the service marks `required: false` that fails or times out only
    /// warns, and the service goes ahead, as compose does.
    pub(super) async fn wait_for(
        &self,
        project: &ProjectSpec,
        service: &str,
        dependency: &str,
        condition: DependsOn,
    ) -> Result<usize> {
        let waited = self
            .wait_required(project, service, dependency, condition)
            .await;
        let optional = project
            .services
            .get(service)
            .is_some_and(|s| s.optional_dependencies.contains(dependency));
        match waited {
            Err(e @ (Error::DependencyTimeout { .. } | Error::DependencyFailed { .. }))
                if optional =>
            {
                warn!(project = %project.name, service, dependency, error = %e, "optional dependency (required: false) not met; going ahead");
                Ok(0)
            }
            other => other,
        }
    }

    async fn wait_required(
        &self,
        project: &ProjectSpec,
        service: &str,
        dependency: &str,
        condition: DependsOn,
    ) -> Result<usize> {
        let kept = project.services.get(dependency).map_or(0, |s| s.replicas);
        let judged = self.store.wait_while_engine_up(|state| {
            match verdict(state, &project.name, dependency, kept, condition) {
                Verdict::Pending => None,
                decided => Some(decided),
            }
        });
        let Ok(decided) = tokio::time::timeout(self.wait_timeout, judged).await else {
            return Err(Error::DependencyTimeout {
                service: service.to_owned(),
                dependency: dependency.to_owned(),
                condition,
                timeout: self.wait_timeout,
            });
        };
        let Some(decided) = decided else {
            return Err(Error::EngineAway {
                action: format!("wait for {dependency} (before {service})"),
            });
        };
        match decided {
            Verdict::Failed {
                container,
                exit_code,
            } => Err(Error::DependencyFailed {
                service: service.to_owned(),
                dependency: dependency.to_owned(),
                container,
                exit_code,
            }),
            _ => {
                let condition = condition_name(condition);
                info!(project = %project.name, dependency, condition, "dependency ready");
                Ok(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(
        n: u32,
        state: ContainerState,
        health: Option<Health>,
        code: Option<i64>,
    ) -> ObservedContainer {
        ObservedContainer {
            id: format!("id{n}"),
            name: format!("shop-db-{n}"),
            project: "shop".into(),
            service: "db".into(),
            number: n,
            state,
            health,
            exit_code: code,
            ..ObservedContainer::default()
        }
    }

    fn state(replicas: Vec<ObservedContainer>) -> ObservedState {
        ObservedState {
            containers: replicas.into_iter().map(|c| (c.id.clone(), c)).collect(),
            ..ObservedState::default()
        }
    }

    #[test]
    fn verdicts_follow_compose_conditions() {
        use ContainerState::{Created, Exited, Running};
        use DependsOn::{CompletedSuccessfully as Done, Healthy, Started};
        let run = |n, h| replica(n, Running, h, None);
        let exit = |n, code| replica(n, Exited, None, Some(code));
        let failed = |n: u32, code| Verdict::Failed {
            container: format!("shop-db-{n}"),
            exit_code: code,
        };
        let cases = [
            ("no replica yet", vec![], Started, Verdict::Pending),
            (
                "created only",
                vec![replica(1, Created, None, None)],
                Started,
                Verdict::Pending,
            ),
            (
                "one running",
                vec![run(1, None), exit(2, 1)],
                Started,
                Verdict::Met,
            ),
            ("ran to completion", vec![exit(1, 0)], Started, Verdict::Met),
            ("crashed", vec![exit(1, 3)], Started, failed(1, 3)),
            ("no healthcheck", vec![run(1, None)], Healthy, Verdict::Met),
            (
                "all healthy",
                vec![run(1, Some(Health::Healthy)), run(2, Some(Health::Healthy))],
                Healthy,
                Verdict::Met,
            ),
            (
                "one starting",
                vec![
                    run(1, Some(Health::Healthy)),
                    run(2, Some(Health::Starting)),
                ],
                Healthy,
                Verdict::Pending,
            ),
            (
                "unhealthy may recover",
                vec![run(1, Some(Health::Unhealthy))],
                Healthy,
                Verdict::Pending,
            ),
            (
                "one crashed",
                vec![run(1, None), exit(2, 137)],
                Healthy,
                failed(2, 137),
            ),
            ("completed", vec![exit(1, 0)], Done, Verdict::Met),
            ("still running", vec![run(1, None)], Done, Verdict::Pending),
            ("completed badly", vec![exit(1, 2)], Done, failed(1, 2)),
            (
                "a crashed surplus replica is being removed",
                vec![run(1, None), run(2, None), exit(3, 1)],
                Healthy,
                Verdict::Met,
            ),
        ];
        for (name, replicas, condition, expected) in cases {
            let got = verdict(&state(replicas), "shop", "db", 2, condition);
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn other_projects_and_services_do_not_count() {
        let mut other = replica(1, ContainerState::Running, None, None);
        other.project = "blog".into();
        let mut web = replica(2, ContainerState::Running, None, None);
        web.service = "web".into();
        let got = verdict(
            &state(vec![other, web]),
            "shop",
            "db",
            2,
            DependsOn::Started,
        );
        assert_eq!(got, Verdict::Pending);
    }
}
