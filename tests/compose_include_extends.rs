//! `include` and `extends` on the real engine: `composectl apply --once` loads a project
//! that includes another application and whose services extend services of the same and
//! of another file, and `docker inspect` shows the containers compose's merge promises:
//! their names, environment (the base's, its `env_file` read from the base's directory,
//! overridden by the extending service) and labels. The environment and labels of the
//! extending services are also compared with what `docker-compose` 1.29 resolves for the
//! same files (`docker-compose config`; 1.29 knows `extends` but not `include`).

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{TestProject, demo_image, docker, run_cli};
use composectl::desired::yaml::{self, Node};

/// The project's own file: includes `lib/cache.yaml`, extends `common/base.yaml`.
fn compose(image: &str) -> String {
    format!(
        r#"include:
  - lib/cache.yaml
services:
  web:
    extends:
      file: common/base.yaml
      service: app
    environment:
      MODE: prod
    labels:
      tier: web
  api:
    extends: web
    environment: [API=1]
    labels: [tier=api]
x-image: {image}
"#
    )
}

fn base(image: &str) -> String {
    format!(
        r#"services:
  app:
    extends: core
    env_file: app.env
    labels: [team=core]
  core:
    image: {image}
    environment: [MODE=dev, CORE=yes]
"#
    )
}

/// The included application: its own `.env` gives `CACHE_SIZE`.
fn cache(image: &str) -> String {
    format!(
        r#"services:
  cache:
    image: {image}
    environment:
      SIZE: ${{CACHE_SIZE}}
    env_file: cache.env
    labels:
      role: cache
"#
    )
}

fn write_project(project: &TestProject, image: &str) {
    let dir = project.name();
    project.write(&format!("{dir}/compose.yaml"), &compose(image));
    project.write(&format!("{dir}/common/base.yaml"), &base(image));
    project.write(&format!("{dir}/common/app.env"), "FROM_FILE=base\n");
    project.write(&format!("{dir}/lib/cache.yaml"), &cache(image));
    project.write(&format!("{dir}/lib/.env"), "CACHE_SIZE=64m\n");
    project.write(&format!("{dir}/lib/cache.env"), "FROM_CACHE_FILE=yes\n");
}

/// A container's (or a resolved service's) environment and labels.
type EnvAndLabels = (BTreeMap<String, String>, BTreeMap<String, String>);

/// The environment (`K=V` lines) and labels of a container.
fn inspect(container: &str) -> EnvAndLabels {
    let env = docker(&[
        "inspect",
        "-f",
        "{{range .Config.Env}}{{println .}}{{end}}",
        container,
    ]);
    let env = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let labels = docker(&["inspect", "-f", "{{json .Config.Labels}}", container]);
    let labels: BTreeMap<String, String> = serde_json::from_str(&labels).expect("labels as JSON");
    (env, labels)
}

/// The string entries of the mapping `node` (`None` values as empty).
fn entries(node: Option<&Node>) -> BTreeMap<String, String> {
    node.and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| (k.name.clone(), v.scalar_text().unwrap_or_default()))
        .collect()
}

/// `docker-compose config` of the extends part (the file without `include`), per service:
/// (environment, labels).
fn compose_v1_config(dir: &Path, image: &str) -> BTreeMap<String, EnvAndLabels> {
    let text = compose(image).replace("include:\n  - lib/cache.yaml\n", "");
    let file = dir.join("v1-compose.yaml");
    std::fs::write(&file, text).unwrap();
    let output = std::process::Command::new("docker-compose")
        .args(["-p", "v1check", "-f"])
        .arg(&file)
        .arg("config")
        .current_dir(dir)
        .output()
        .expect("docker-compose 1.29 is installed");
    std::fs::remove_file(&file).unwrap();
    assert!(
        output.status.success(),
        "docker-compose config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let doc = yaml::parse(&text, Path::new("docker-compose-config.yaml"))
        .unwrap()
        .unwrap();
    doc.get("services")
        .and_then(Node::as_map)
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.name.clone(),
                (entries(v.get("environment")), entries(v.get("labels"))),
            )
        })
        .collect()
}

#[test]
fn included_and_extended_services_run_with_the_merged_environment_and_labels() {
    let image = demo_image("v1");
    let project = TestProject::new("incext");
    write_project(&project, &image);
    let desired = project.dir().display().to_string();
    let run = run_cli(&["apply", "--once", "--desired", &desired]);
    assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());

    let mut names: Vec<String> = project.containers().into_iter().map(|c| c.name).collect();
    names.sort();
    let name = |service: &str| format!("{}-{service}-1", project.name());
    assert_eq!(names, [name("api"), name("cache"), name("web")]);

    let (env, labels) = inspect(&name("web"));
    assert_eq!(env["MODE"], "prod", "the extending service wins");
    assert_eq!(env["CORE"], "yes", "inherited through the chain");
    assert_eq!(
        env["FROM_FILE"], "base",
        "the base's env_file, from its directory"
    );
    assert_eq!(
        (labels["team"].as_str(), labels["tier"].as_str()),
        ("core", "web")
    );

    let (env, labels) = inspect(&name("api"));
    assert_eq!((env["API"].as_str(), env["MODE"].as_str()), ("1", "prod"));
    assert_eq!(
        (labels["team"].as_str(), labels["tier"].as_str()),
        ("core", "api")
    );

    let (env, labels) = inspect(&name("cache"));
    assert_eq!(
        env["SIZE"], "64m",
        "interpolated from the included project's .env"
    );
    assert_eq!(
        env["FROM_CACHE_FILE"], "yes",
        "its env_file, from its directory"
    );
    assert_eq!(labels["role"], "cache");
    let config_files = &labels["com.docker.compose.project.config_files"];
    for file in ["compose.yaml", "common/base.yaml", "lib/cache.yaml"] {
        assert!(config_files.contains(file), "{config_files}");
    }

    // docker-compose 1.29 resolves the same extends to the same environment and labels.
    let v1 = compose_v1_config(&project.path(project.name()), &image);
    for service in ["web", "api"] {
        let (want_env, want_labels) = &v1[service];
        let (env, labels) = inspect(&name(service));
        for (key, value) in want_env {
            assert_eq!(env.get(key), Some(value), "{service}: environment {key}");
        }
        for (key, value) in want_labels {
            assert_eq!(labels.get(key), Some(value), "{service}: label {key}");
        }
        let from_image = docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", &image]);
        let from_image: BTreeMap<String, String> =
            serde_json::from_str(&from_image).unwrap_or_default();
        let extra: Vec<&String> = labels
            .keys()
            .filter(|k| !k.starts_with("com.docker.compose.") && !k.starts_with("io.composectl."))
            .filter(|k| !want_labels.contains_key(*k) && !from_image.contains_key(*k))
            .collect();
        assert!(
            extra.is_empty(),
            "{service}: labels compose would not set: {extra:?}"
        );
    }
}
