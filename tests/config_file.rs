//! The config file through the real binary: precedence flag > environment > config file >
//! default, observed through which desired directory `composectl validate` reads.

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A desired directory holding one valid project named `project`.
fn desired_with(root: &Path, name: &str, project: &str) -> String {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join(project)).unwrap();
    std::fs::write(
        dir.join(project).join("compose.yaml"),
        "services:\n  web:\n    image: composectl-demo:v1\n",
    )
    .unwrap();
    dir.display().to_string()
}

/// `composectl validate [args]` with only the given `COMPOSECTL_*` variables set.
fn validate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_composectl"));
    command.arg("validate").args(args).stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("COMPOSECTL_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("composectl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn flag_beats_environment_beats_config_file_beats_default() {
    let root = tempfile::tempdir().unwrap();
    let from_flag = desired_with(root.path(), "flag", "from-flag");
    let from_env = desired_with(root.path(), "env", "from-env");
    let from_file = desired_with(root.path(), "file", "from-file");
    let config = root.path().join("composectl.env");
    std::fs::write(&config, format!("COMPOSECTL_DESIRED={from_file}\n")).unwrap();
    let config = config.display().to_string();

    let file_only = validate(&[], &[("COMPOSECTL_CONFIG", &config)]);
    assert!(
        stdout(&file_only).contains("ok      from-file"),
        "{file_only:?}"
    );

    let env_and_file = validate(&["--config", &config], &[("COMPOSECTL_DESIRED", &from_env)]);
    assert!(
        stdout(&env_and_file).contains("ok      from-env"),
        "{env_and_file:?}"
    );

    let all = validate(
        &["--desired", &from_flag, "--config", &config],
        &[("COMPOSECTL_DESIRED", &from_env)],
    );
    assert!(stdout(&all).contains("ok      from-flag"), "{all:?}");

    let empty = root.path().join("empty.env");
    std::fs::write(&empty, "# nothing set\n").unwrap();
    let default = validate(&["--config", &empty.display().to_string()], &[]);
    let stderr = String::from_utf8_lossy(&default.stderr);
    assert!(stderr.contains("/srv/desired"), "{default:?}");
}

#[test]
fn a_named_config_file_that_is_missing_or_malformed_stops_the_command() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("missing.env").display().to_string();
    let output = validate(&["--config", &missing], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&missing));

    let malformed = root.path().join("malformed.env");
    std::fs::write(&malformed, "COMPOSECTL_LOG=info\n'unclosed\n").unwrap();
    let malformed = malformed.display().to_string();
    let output = validate(&[], &[("COMPOSECTL_CONFIG", &malformed)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{malformed}: line 2")), "{stderr}");
}
