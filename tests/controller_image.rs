//! The controller image: `composectl:latest` (the root `Dockerfile`, built by
//! `scripts/build-controller-image.sh`) run by testcontainers against the host engine, with
//! the engine's socket and a desired directory mounted, the way the README runs it.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{
    TestProject, controller_image, demo_image, docker, http_get, test_instance, try_docker,
    wait_until,
};
use testcontainers::core::{AccessMode, IntoContainerPort, Mount};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

/// The port `composectl run` listens on inside the image (`COMPOSECTL_LISTEN`).
const PORT: u16 = 9631;

/// The engine's socket on this host (`DOCKER_HOST=unix://...` or the default path).
fn docker_socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(str::to_owned))
        .unwrap_or_else(|| "/var/run/docker.sock".to_owned())
}

/// Starts `image` on `project`'s desired directory, as this test's instance.
fn start_controller(image: &str, project: &TestProject) -> Container<GenericImage> {
    let (name, tag) = image.rsplit_once(':').expect("a tagged image");
    let socket = docker_socket();
    GenericImage::new(name, tag)
        .with_exposed_port(PORT.tcp())
        .with_mount(Mount::bind_mount(socket.clone(), "/var/run/docker.sock"))
        .with_mount(
            Mount::bind_mount(project.dir().display().to_string(), "/desired")
                .with_access_mode(AccessMode::ReadOnly),
        )
        .with_env_var("COMPOSECTL_INSTANCE", test_instance())
        .start()
        .unwrap_or_else(|e| panic!("cannot start {image}: {e}"))
}

/// The controller's logs, for failure messages.
fn logs(controller: &Container<GenericImage>) -> String {
    let stdout = controller.stdout_to_vec().unwrap_or_default();
    let stderr = controller.stderr_to_vec().unwrap_or_default();
    format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    )
}

/// Asserts that `/readyz` answers 200 within a few seconds.
fn assert_ready(controller: &Container<GenericImage>, addr: SocketAddr) {
    let ready = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        matches!(http_get(addr, "/readyz"), Ok((200, _)))
    });
    assert!(
        ready,
        "/readyz on {addr} never answered 200 (last: {:?}); controller logs:\n{}",
        http_get(addr, "/readyz"),
        logs(controller)
    );
}

/// Asserts that the image's `HEALTHCHECK` is `composectl healthcheck` and that the command
/// passes inside the running container (with the image's `COMPOSECTL_LISTEN`).
fn assert_healthcheck_passes(controller: &Container<GenericImage>, image: &str) {
    let configured = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck.Test}}",
        image,
    ]);
    assert_eq!(configured, r#"["CMD","/composectl","healthcheck"]"#);
    let exec = try_docker(&["exec", controller.id(), "/composectl", "healthcheck"]);
    assert!(exec.is_ok(), "composectl healthcheck failed: {exec:?}");
}

#[test]
fn the_controller_image_converges_a_mounted_desired_directory_and_becomes_ready() {
    let image = controller_image();
    let demo = demo_image("v1");
    let project = TestProject::new("controller-image");
    project.write_compose(&format!(
        "services:\n  web:\n    image: {demo}\n    deploy:\n      replicas: 2\n"
    ));
    // Declared after the project, so it stops before the project's containers are removed.
    let controller = start_controller(&image, &project);

    let converged = wait_until(Duration::from_secs(60), Duration::from_millis(250), || {
        project.running().len() == 2
    });
    assert!(
        converged,
        "the project never ran 2 replicas: {:?}\ncontroller logs:\n{}",
        project.containers(),
        logs(&controller)
    );
    for replica in project.running() {
        assert_eq!(
            replica.label("io.composectl.instance"),
            Some(test_instance().as_str()),
            "{replica:?}"
        );
        assert_eq!(replica.image, demo);
    }

    let port = controller
        .get_host_port_ipv4(PORT.tcp())
        .unwrap_or_else(|e| panic!("the controller publishes no port {PORT}: {e}"));
    assert_ready(&controller, SocketAddr::from(([127, 0, 0, 1], port)));
    assert_healthcheck_passes(&controller, &image);
}
