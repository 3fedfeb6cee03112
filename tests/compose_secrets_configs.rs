//! Secrets and configs on the real engine: a service gets a secret from a file (short and
//! long syntax, with owner and mode), a config from `content:` (interpolated) and one from
//! `environment:` (the project's `.env`), each read-only at compose's target with its
//! content and mode as seen through `docker cp`; a changed secret file replaces the
//! container and `plan` names `secret db_password` without the value; the old file is
//! collected; nothing under the state directory is reachable by other host users (every
//! directory down to the files is 0700).

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{TestProject, demo_image, docker, run_cli, state_base, test_instance};

const OLD_PASSWORD: &str = "old-db-pass-7c1e9a24";
const NEW_PASSWORD: &str = "new-db-pass-d40b3f81";
const DOTENV_VALUE: &str = "from-dotenv-5b2a";

fn compose() -> String {
    let image = demo_image("v1");
    format!(
        r#"services:
  app:
    image: {image}
    restart: "no"
    secrets:
      - db_password
      - source: db_password
        target: custom
        uid: "1000"
        gid: "1000"
        mode: 0400
    configs:
      - app_conf
      - source: env_conf
        target: /etc/env.conf
        mode: 0440
secrets:
  db_password:
    file: ./db_password.txt
configs:
  app_conf:
    content: "listen=${{LISTEN_PORT:-8080}}"
  env_conf:
    environment: CONF_VALUE
"#
    )
}

/// One file of a container as `docker cp` streams it: (mode, uid, gid, content), read from
/// the tar header.
fn read_in(container: &str, path: &str) -> (u32, u32, u32, Vec<u8>) {
    let out = std::process::Command::new("docker")
        .args(["cp", &format!("{container}:{path}"), "-"])
        .output()
        .expect("docker cp");
    assert!(
        out.status.success(),
        "docker cp {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tar = out.stdout;
    let octal = |range: std::ops::Range<usize>| {
        let text = String::from_utf8_lossy(&tar[range]);
        u32::from_str_radix(text.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap()
    };
    let size = octal(124..136) as usize;
    (
        octal(100..108) & 0o7777,
        octal(108..116),
        octal(116..124),
        tar[512..512 + size].to_vec(),
    )
}

fn apply(project: &TestProject) {
    let run = project.apply_once();
    for secret in [OLD_PASSWORD, NEW_PASSWORD] {
        assert!(!run.all().contains(secret), "{}", run.all());
    }
}

/// Every file and directory under `dir`, with its mode.
fn modes(dir: &Path, out: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.path().symlink_metadata().unwrap();
        out.push((
            entry.path().display().to_string(),
            meta.permissions().mode() & 0o777,
        ));
        if meta.is_dir() {
            modes(&entry.path(), out);
        }
    }
}

/// Removes this test's state directory when the test ends, however it ends.
struct StateCleanup;

impl Drop for StateCleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(state_base().join(test_instance()));
    }
}

#[test]
fn secrets_and_configs_are_mounted_read_only_with_content_mode_and_owner_and_follow_changes() {
    let _cleanup = StateCleanup;
    let project = TestProject::new("secrets-configs");
    let p = project.name().to_owned();
    project.write(&format!("{p}/db_password.txt"), OLD_PASSWORD);
    // Without `mode:`, a `file:` source's own bits, as compose's bind mount shows them.
    set_mode(&project.path(&format!("{p}/db_password.txt")), 0o640);
    project.write(
        &format!("{p}/.env"),
        &format!("CONF_VALUE={DOTENV_VALUE}\n"),
    );
    project.write_compose(&compose());
    apply(&project);

    let containers = project.running();
    assert_eq!(containers.len(), 1, "{containers:?}");
    let first = containers[0].id.clone();
    let expect: [(&str, u32, Option<u32>, &[u8]); 4] = [
        (
            "/run/secrets/db_password",
            0o640,
            None,
            OLD_PASSWORD.as_bytes(),
        ),
        (
            "/run/secrets/custom",
            0o400,
            Some(1000),
            OLD_PASSWORD.as_bytes(),
        ),
        ("/app_conf", 0o444, None, b"listen=8080"),
        ("/etc/env.conf", 0o440, None, DOTENV_VALUE.as_bytes()),
    ];
    for (path, mode, owner, content) in expect {
        let (m, uid, gid, bytes) = read_in(&first, path);
        assert_eq!(m, mode, "{path} mode");
        assert_eq!(bytes, content, "{path} content");
        if let Some(owner) = owner {
            assert_eq!((uid, gid), (owner, owner), "{path} owner");
        }
    }
    let mounts = docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}}\n{{end}}",
        &first,
    ]);
    let mut mounts: Vec<&str> = mounts.lines().collect();
    mounts.sort();
    assert_eq!(
        mounts,
        [
            "bind /app_conf false",
            "bind /etc/env.conf false",
            "bind /run/secrets/custom false",
            "bind /run/secrets/db_password false",
        ]
    );

    // The secret changes: plan names it without either value, apply replaces the container.
    project.write(&format!("{p}/db_password.txt"), NEW_PASSWORD);
    let plan = run_cli(&["plan", "--desired", &project.dir().display().to_string()]);
    assert!(
        plan.all().contains("config changed: secret db_password"),
        "{}",
        plan.all()
    );
    for secret in [OLD_PASSWORD, NEW_PASSWORD] {
        assert!(!plan.all().contains(secret), "{}", plan.all());
    }
    apply(&project);
    let containers = project.running();
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_ne!(containers[0].id, first, "replaced");
    let (_, _, _, bytes) = read_in(&containers[0].id, "/run/secrets/db_password");
    assert_eq!(bytes, NEW_PASSWORD.as_bytes());

    // The old container is gone, so are its files; nothing is readable by others.
    let files = state_base().join(test_instance()).join(&p).join("files");
    // The mounted files keep the mode the container needs (0444 by default, as compose
    // sets it); every directory above them is 0700, so no other host user reaches them.
    let mut found = Vec::new();
    modes(&state_base().join(test_instance()), &mut found);
    for (path, mode) in &found {
        let in_files = Path::new(path).parent() == Some(files.as_path());
        if Path::new(path).is_dir() || !in_files {
            assert_eq!(mode & 0o077, 0, "{path} is open to others ({mode:o})");
        }
    }
    let mut dir = files.clone();
    while dir != state_base() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
        dir.pop();
    }
    let names: Vec<String> = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for name in &names {
        let content = std::fs::read(files.join(name)).unwrap();
        assert_ne!(content, OLD_PASSWORD.as_bytes(), "{name} was not collected");
    }
    let mode = std::fs::metadata(&files).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
