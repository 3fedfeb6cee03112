//! The locally built test images: built once per machine state by
//! `scripts/build-images.sh`, under a file lock so parallel test binaries do not build
//! at the same time; and the controller image, by `scripts/build-controller-image.sh`.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use super::try_docker;

/// `composectl-demo:<version>` (`v1` or `v2`), built first if the engine lacks it.
pub fn demo_image(version: &str) -> String {
    let image = format!("composectl-demo:{version}");
    ensure_image(&image);
    image
}

/// `composectl-test/registry:latest`, built first if the engine lacks it.
pub fn registry_image() -> String {
    let image = "composectl-test/registry:latest".to_owned();
    ensure_image(&image);
    image
}

/// `composectl-test/nginx:latest` (Debian's nginx-light), built first if the engine lacks it.
pub fn nginx_image() -> String {
    let image = "composectl-test/nginx:latest".to_owned();
    ensure_image(&image);
    image
}

/// `composectl:latest`, the controller image, (re)built from the current sources unless its
/// input hash is unchanged (a static release build of composectl: minutes from cold).
pub fn controller_image() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let _lock = lock(root, "build-controller-image.lock");
    run_script(root, "build-controller-image.sh");
    let image = "composectl:latest".to_owned();
    assert!(
        exists(&image),
        "scripts/build-controller-image.sh did not build {image}"
    );
    image
}

/// Takes the machine-wide build lock `target/<name>` (released when the file is dropped).
fn lock(root: &Path, name: &str) -> File {
    let target = root.join("target");
    std::fs::create_dir_all(&target).expect("cannot create target/");
    let lock_path = target.join(name);
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    lock
}

fn exists(image: &str) -> bool {
    try_docker(&["image", "inspect", "--format", "{{.Id}}", image]).is_ok()
}

/// Builds every image unless `image` already exists; one build at a time per machine.
fn ensure_image(image: &str) {
    if exists(image) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let _lock = lock(root, "build-images.lock");
    // Another process may have built it while this one waited for the lock.
    if !exists(image) {
        run_script(root, "build-images.sh");
    }
    assert!(
        exists(image),
        "scripts/build-images.sh did not build {image}"
    );
}

fn run_script(root: &Path, script: &str) {
    let output = Command::new(root.join("scripts").join(script))
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/{script}: {e}"));
    assert!(
        output.status.success(),
        "scripts/{script} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
