//! Image builds against the real engine (classic builder, no registry): contexts
//! `FROM scratch` with files, `.dockerignore`, a multi-stage build with a target and args,
//! and a failing build that names its step. Every test tags its images
//! `composectl-buildtest-<test>-<pid>` and removes them, even when an assertion fails.

#[path = "runtime_docker/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use composectl::build::{Context, Limits};
use composectl::model::labels;
use composectl::model::spec::BuildSpec;
use composectl::runtime::{ContainerRuntime, Error, ImageBuild};
use support::{docker, runtime};

/// Removes the images and containers a test made.
#[derive(Default)]
struct Images {
    tags: Vec<String>,
    containers: Vec<String>,
}

impl Drop for Images {
    fn drop(&mut self) {
        for c in &self.containers {
            docker(&["rm", "-f", c]);
        }
        for t in &self.tags {
            docker(&["rmi", "-f", t]);
        }
    }
}

fn tag(test: &str) -> String {
    format!("composectl-buildtest-{test}-{}:latest", std::process::id())
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    let parent = path
        .parent()
        .expect("a file in the context has a directory");
    fs::create_dir_all(parent).expect("the test's context directory is writable");
    fs::write(path, text).expect("the test's context file is writable");
}

fn request(spec: &BuildSpec, tag: &str) -> (Context, ImageBuild) {
    let (context, archive) = Context::archive(spec, &Limits::default()).expect("context read");
    let request = ImageBuild {
        tag: tag.to_owned(),
        dockerfile: context.dockerfile.clone(),
        archive: archive.into(),
        settings: spec.clone(),
        labels: BTreeMap::from([
            (labels::MANAGED.to_owned(), "true".to_owned()),
            (labels::BUILD_HASH.to_owned(), context.hash.clone()),
        ]),
        timeout: Duration::from_secs(120),
    };
    (context, request)
}

/// The files of `image` at `paths` that exist in it.
fn files_in(image: &str, paths: &[&str], cleanup: &mut Images) -> Vec<String> {
    let (ok, id) = docker(&["create", image, "/none"]);
    assert!(ok, "docker create {image}");
    cleanup.containers.push(id.clone());
    paths
        .iter()
        .filter(|p| docker(&["cp", &format!("{id}:{p}"), "-"]).0)
        .map(|p| (*p).to_owned())
        .collect()
}

fn label(image: &str, key: &str) -> String {
    docker(&[
        "image",
        "inspect",
        "-f",
        &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
        image,
    ])
    .1
}

#[tokio::test]
async fn a_scratch_context_is_built_labelled_tagged_and_listed_without_its_ignored_files() {
    let rt = runtime().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", "FROM scratch\nCOPY . /app/\n");
    write(dir.path(), "hello.txt", "hello\n");
    write(dir.path(), "secret.txt", "not sent\n");
    write(dir.path(), ".dockerignore", "secret.txt\n");
    let (main, extra) = (tag("scratch"), tag("scratch-extra"));
    let mut cleanup = Images {
        tags: vec![main.clone(), extra.clone()],
        containers: Vec::new(),
    };
    let spec = BuildSpec {
        context: dir.path().to_path_buf(),
        labels: BTreeMap::from([("team".to_owned(), "ops".to_owned())]),
        tags: vec![extra.clone()],
        ..BuildSpec::default()
    };
    let (context, request) = request(&spec, &main);
    let id = rt.build_image(&request).await.expect("built");

    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(label(&main, labels::BUILD_HASH), context.hash);
    assert_eq!(label(&main, "team"), "ops");
    assert_eq!(label(&main, labels::INSTANCE), "default");
    assert_eq!(docker(&["image", "inspect", "-f", "{{.Id}}", &extra]).1, id);
    let present = files_in(&main, &["/app/hello.txt", "/app/secret.txt"], &mut cleanup);
    assert_eq!(present, ["/app/hello.txt"]);

    let built = rt.list_built_images().await.expect("listed");
    let mine = built
        .iter()
        .find(|b| b.id == id)
        .expect("the build is listed");
    assert_eq!(mine.labels[labels::BUILD_HASH], context.hash);
    assert!(
        mine.tags
            .iter()
            .any(|t| main.starts_with(t.as_str()) || t == &main),
        "{mine:?}"
    );
}

#[tokio::test]
async fn a_multi_stage_build_stops_at_its_target_and_takes_its_args() {
    let rt = runtime().await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.Dockerfile",
        "FROM scratch AS base\nARG GREETING=none\nLABEL greeting=$GREETING\nCOPY base.txt /\n\
         FROM base AS full\nCOPY full.txt /\n",
    );
    write(dir.path(), "base.txt", "b");
    write(dir.path(), "full.txt", "f");
    let image = tag("stages");
    let mut cleanup = Images {
        tags: vec![image.clone()],
        containers: Vec::new(),
    };
    let spec = BuildSpec {
        context: dir.path().to_path_buf(),
        dockerfile: Some("app.Dockerfile".into()),
        target: Some("base".into()),
        args: BTreeMap::from([("GREETING".to_owned(), "hi".to_owned())]),
        ..BuildSpec::default()
    };
    let (_, request) = request(&spec, &image);
    rt.build_image(&request).await.expect("built");

    assert_eq!(label(&image, "greeting"), "hi");
    let present = files_in(&image, &["/base.txt", "/full.txt"], &mut cleanup);
    assert_eq!(present, ["/base.txt"], "the target stage has no full.txt");
}

#[tokio::test]
async fn a_failing_build_names_its_step_and_its_last_lines_and_tags_nothing() {
    let rt = runtime().await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        "FROM scratch\nCOPY present.txt /\nCOPY missing.txt /\n",
    );
    write(dir.path(), "present.txt", "p");
    let image = tag("failing");
    let _cleanup = Images {
        tags: vec![image.clone()],
        containers: Vec::new(),
    };
    let spec = BuildSpec {
        context: dir.path().to_path_buf(),
        ..BuildSpec::default()
    };
    let (_, request) = request(&spec, &image);
    let err = rt.build_image(&request).await.expect_err("the build fails");

    let Error::BuildFailed(failure) = &err else {
        panic!("not a build failure: {err}");
    };
    let (step, message, output) = (&failure.step, &failure.message, &failure.output);
    // The engine adds steps for the labels: the step count varies, the step does not.
    let step = step.as_deref().unwrap_or_default();
    assert!(
        step.starts_with("Step 3/") && step.ends_with(": COPY missing.txt /"),
        "{err}"
    );
    assert!(message.contains("missing.txt"), "{err}");
    assert!(output.iter().any(|l| l.starts_with("Step 2/")), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("Step 3/") && text.contains("missing.txt"),
        "{text}"
    );
    assert!(
        !docker(&["image", "inspect", &image]).0,
        "nothing is tagged"
    );
}

#[tokio::test]
async fn a_built_image_is_removed_unless_a_container_uses_it_or_another_tag_names_it() {
    let rt = runtime().await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        "FROM scratch\nCOPY a.txt /a.txt\n",
    );
    write(dir.path(), "a.txt", "a\n");
    let (main, second) = (tag("remove"), tag("remove-second"));
    let mut cleanup = Images {
        tags: vec![main.clone(), second.clone()],
        containers: Vec::new(),
    };
    let spec = BuildSpec {
        context: dir.path().to_path_buf(),
        ..BuildSpec::default()
    };
    let (_, request) = request(&spec, &main);
    let id = rt.build_image(&request).await.expect("built");

    // Two tags name it: the engine refuses without force, nothing is removed.
    docker(&["tag", &main, &second]);
    assert!(!rt.remove_image(&id).await.expect("answered"));
    docker(&["rmi", &second]);

    // A container (even a stopped one) uses it: kept.
    let (ok, container) = docker(&["create", &main, "/a.txt"]);
    assert!(ok, "{container}");
    cleanup.containers.push(container.clone());
    assert!(!rt.remove_image(&id).await.expect("answered"));
    docker(&["rm", "-f", &container]);

    assert!(rt.remove_image(&id).await.expect("removed"));
    assert!(
        !docker(&["image", "inspect", &id]).0,
        "the image is still there"
    );
    // Removing it again is not an error.
    assert!(rt.remove_image(&id).await.expect("answered"));
}
