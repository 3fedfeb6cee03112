//! Label keys and names: the only state composectl keeps on the host.
//!
//! Compose's own labels (`com.docker.compose.*`) make `docker-compose ps` list managed
//! containers; composectl's (`io.composectl.*`) mark what it may touch and carry what the
//! planner needs after a restart. A container without [`MANAGED`] = `"true"` is never
//! stopped, changed or removed.

use std::collections::BTreeMap;

use super::hash;
use super::spec::{ProjectSpec, ServiceSpec};

/// `com.docker.compose.project`: the project name.
pub const PROJECT: &str = "com.docker.compose.project";
/// `com.docker.compose.service`: the service name.
pub const SERVICE: &str = "com.docker.compose.service";
/// `com.docker.compose.container-number`: the replica number, from 1.
pub const NUMBER: &str = "com.docker.compose.container-number";
/// `com.docker.compose.oneoff`: always `False` (composectl runs no one-off containers).
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// `com.docker.compose.config-hash`: the service's config identity ([`hash::config_hash`]).
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// `com.docker.compose.project.working_dir`: the project directory.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// `com.docker.compose.project.config_files`: comma-separated compose files.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// `com.docker.compose.version`: the compose version the labels follow.
pub const COMPOSE_VERSION: &str = "com.docker.compose.version";
/// `com.docker.compose.network`: the compose key of a network composectl created.
pub const NETWORK: &str = "com.docker.compose.network";
/// `com.docker.compose.volume`: the compose key of a volume composectl created.
pub const VOLUME: &str = "com.docker.compose.volume";
/// `io.composectl.managed`: `"true"` on everything composectl created and may change.
pub const MANAGED: &str = "io.composectl.managed";
/// `io.composectl.instance`: which composectl instance owns the object (`--instance`,
/// default [`DEFAULT_INSTANCE`]). An instance sees and touches only its own objects, so two
/// instances with different desired directories never prune each other.
pub const INSTANCE: &str = "io.composectl.instance";
/// The instance name used when none is configured.
pub const DEFAULT_INSTANCE: &str = "default";
/// `io.composectl.fields`: per-field hashes (`command=1a2b3c4d,environment=...`), so drift
/// can name the fields that differ without storing any value.
pub const FIELDS: &str = "io.composectl.fields";
/// `io.composectl.image`: the image reference the container was created from.
pub const IMAGE: &str = "io.composectl.image";
/// `io.composectl.references`: the containers of other services a replica was created
/// against (`network_mode`, `ipc` and `pid` of `service:NAME`, `volumes_from`, `depends_on`
/// with `restart: true`), see [`super::refs::encode_references`]; the planner replaces the
/// replica when one of them is replaced, as compose does.
pub const REFERENCES: &str = "io.composectl.references";

/// `io.composectl.restart`: the container's engine restart policy (`no`, `always`,
/// `unless-stopped`, `on-failure`), so a `die` event alone says whether the engine will
/// start it again ([`crate::observed`] records the exit at once when it will not).
pub const RESTART: &str = "io.composectl.restart";

/// `io.composectl.build-hash`: on an image composectl built, the hash of its build inputs
/// ([`crate::build`]); an image carrying the current hash needs no build.
pub const BUILD_HASH: &str = "io.composectl.build-hash";

/// The value written to [`COMPOSE_VERSION`].
pub const COMPOSE_VERSION_VALUE: &str = "2.0.0";

/// The name of replica `number` of `service`: `<project>-<service>-<number>`, or the
/// service's `container_name` when it sets one.
pub fn container_name(project: &str, service: &ServiceSpec, number: u32) -> String {
    match &service.container_name {
        Some(name) => name.clone(),
        None => format!("{project}-{}-{number}", service.name),
    }
}

/// Every label of replica `number` of `service`: the user's labels, then compose's and
/// composectl's (which win over a user label of the same key).
pub fn container_labels(
    project: &ProjectSpec,
    service: &ServiceSpec,
    number: u32,
) -> BTreeMap<String, String> {
    let mut labels = service.labels.clone();
    let files: Vec<String> = project
        .config_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let own = [
        (PROJECT, project.name.clone()),
        (SERVICE, service.name.clone()),
        (NUMBER, number.to_string()),
        (ONEOFF, "False".to_owned()),
        (CONFIG_HASH, hash::config_hash(project, service)),
        (WORKING_DIR, project.working_dir.display().to_string()),
        (CONFIG_FILES, files.join(",")),
        (COMPOSE_VERSION, COMPOSE_VERSION_VALUE.to_owned()),
        (MANAGED, "true".to_owned()),
        (
            FIELDS,
            hash::encode_fields(&hash::field_hashes(project, service)),
        ),
        (IMAGE, service.image.clone()),
        (RESTART, restart_label(service.restart).to_owned()),
    ];
    labels.extend(own.into_iter().map(|(k, v)| (k.to_owned(), v)));
    labels
}

/// The [`RESTART`] label's value of `policy`.
pub fn restart_label(policy: crate::model::spec::RestartPolicy) -> &'static str {
    use crate::model::spec::RestartPolicy as P;
    match policy {
        P::No => "no",
        P::Always => "always",
        P::UnlessStopped => "unless-stopped",
        P::OnFailure { .. } => "on-failure",
    }
}

/// Labels of a network or volume composectl creates for `project` under compose key `key`.
pub fn resource_labels(
    project: &str,
    kind_key: &'static str,
    key: &str,
    user: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels = user.clone();
    labels.insert(PROJECT.to_owned(), project.to_owned());
    labels.insert(kind_key.to_owned(), key.to_owned());
    labels.insert(COMPOSE_VERSION.to_owned(), COMPOSE_VERSION_VALUE.to_owned());
    labels.insert(MANAGED.to_owned(), "true".to_owned());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_named_project_service_number() {
        let svc = ServiceSpec::new("web", "nginx");
        assert_eq!(container_name("shop", &svc, 3), "shop-web-3");
    }

    #[test]
    fn container_name_overrides_the_generated_name() {
        let mut svc = ServiceSpec::new("web", "nginx");
        svc.container_name = Some("frontend".into());
        assert_eq!(container_name("shop", &svc, 1), "frontend");
    }

    #[test]
    fn own_labels_win_over_user_labels_of_the_same_key() {
        let project = ProjectSpec {
            name: "shop".into(),
            ..ProjectSpec::default()
        };
        let mut svc = ServiceSpec::new("web", "nginx");
        svc.labels.insert(MANAGED.into(), "false".into());
        svc.labels.insert("team".into(), "ops".into());
        let labels = container_labels(&project, &svc, 2);
        assert_eq!(labels[MANAGED], "true");
        assert_eq!(labels["team"], "ops");
        assert_eq!(labels[NUMBER], "2");
        assert_eq!(labels[ONEOFF], "False");
    }
}
