//! The image every equivalence fixture runs (`${EQ_IMAGE}`): Debian's static busybox
//! (package `busybox-static`) FROM scratch, with its applets linked into `/bin` and `/idle`,
//! a loop that exits at once on SIGTERM or SIGINT (so neither tool waits out a grace period).
//! A shell in the image lets the test read a secret's content inside the container.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::common::try_docker;

/// The tag; rebuilt when the inputs (busybox binary, Dockerfile, script) change.
const IMAGE: &str = "composectl-equiv:busybox";
const BUSYBOX: &str = "/bin/busybox";
const INPUTS_LABEL: &str = "io.composectl.test.inputs";

const IDLE: &str = "#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 1; done\n";

const DOCKERFILE: &str = r#"FROM scratch
ARG INPUTS=unknown
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY idle /idle
LABEL io.composectl.test.image="equiv" io.composectl.test.inputs="${INPUTS}"
ENV EQ_IMAGE_ENV=from-image
CMD ["/idle"]
"#;

/// The image reference, built once per test process (and only when its inputs changed).
pub fn equiv_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(build);
    IMAGE
}

fn build() {
    let busybox = std::fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!(
            "cannot read {BUSYBOX} ({e}): the equivalence test needs Debian's static busybox \
             (apt-get install busybox-static)"
        )
    });
    let inputs = inputs_hash(&busybox);
    let current = try_docker(&[
        "image",
        "inspect",
        "--format",
        &format!("{{{{ index .Config.Labels \"{INPUTS_LABEL}\" }}}}"),
        IMAGE,
    ])
    .unwrap_or_default();
    if current == inputs {
        return;
    }
    let context = tempfile::tempdir().expect("cannot create the build context");
    write(context.path(), "busybox", &busybox, 0o755);
    write(context.path(), "idle", IDLE.as_bytes(), 0o755);
    write(context.path(), "Dockerfile", DOCKERFILE.as_bytes(), 0o644);
    let output = Command::new("docker")
        .args(["build", "--quiet", "--tag", IMAGE, "--build-arg"])
        .arg(format!("INPUTS={inputs}"))
        .arg(context.path())
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .expect("cannot run docker build");
    assert!(
        output.status.success(),
        "docker build of {IMAGE} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn write(dir: &Path, name: &str, contents: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("cannot write the build context");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .expect("cannot set the mode");
}

/// A hash of everything the image is built from (FNV-1a, 64 bits: a change detector).
fn inputs_hash(busybox: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in busybox
        .iter()
        .chain(IDLE.as_bytes())
        .chain(DOCKERFILE.as_bytes())
    {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
