//! End-to-end scenario of an image composectl must pull: pushed to a throwaway local
//! registry, absent from the engine, referenced by the desired state.

mod common;

use common::{Registry, TestProject, demo_image, run_cli, try_docker};

#[test]
fn a_missing_image_is_pulled_from_the_registry_and_run() {
    let registry = Registry::start();
    let project = TestProject::new("sc-pull");
    let reference = registry.push(
        &demo_image("v2"),
        &format!("{}/demo:pulled", project.name()),
    );
    assert!(
        try_docker(&["image", "inspect", &reference]).is_err(),
        "{reference} is still present locally"
    );
    project.write_compose(&format!(
        "services:\n  web:\n    image: {reference}\n    restart: \"no\"\n"
    ));

    let desired = project.dir().display().to_string();
    let run = run_cli(&["apply", "--once", "--desired", &desired]);

    assert_eq!(run.code, Some(0), "apply --once failed:\n{}", run.all());
    assert!(
        try_docker(&["image", "inspect", &reference]).is_ok(),
        "{reference} was not pulled"
    );
    let running = project.running();
    assert_eq!(running.len(), 1, "{running:#?}");
    assert_eq!(running[0].name, format!("{}-web-1", project.name()));
    assert_eq!(running[0].image, reference);
}
