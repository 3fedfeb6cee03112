//! Tests of the config file: which variables it fills in, its warnings and its errors.

use std::collections::BTreeSet;

use clap::CommandFactory;

use super::*;
use crate::cli::Cli;

fn known() -> BTreeSet<String> {
    known_settings(&Cli::command())
}

fn no_lookup(_: &str) -> Option<String> {
    None
}

/// Writes `text` to a config file in a fresh directory.
fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("composectl.env");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load_with_env(path: &Path, env: &[&str]) -> Result<Overlay> {
    let is_set = |name: &str| env.contains(&name);
    load(
        &Source::Explicit(path.to_path_buf()),
        &known(),
        &is_set,
        &no_lookup,
    )
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_setting_of_the_command_line_is_a_known_name() {
    let names = known();
    for name in [
        "DOCKER_HOST",
        "COMPOSECTL_INSTANCE",
        "COMPOSECTL_LOG",
        "COMPOSECTL_LOG_FORMAT",
        "COMPOSECTL_DESIRED",
        "COMPOSECTL_RESYNC",
        "COMPOSECTL_DEBOUNCE",
        "COMPOSECTL_WAIT_TIMEOUT",
        "COMPOSECTL_PARALLELISM",
        "COMPOSECTL_CRASH_BACKOFF",
        "COMPOSECTL_CRASH_BACKOFF_MAX",
        "COMPOSECTL_CRASH_RESET",
        "COMPOSECTL_LISTEN",
        "COMPOSECTL_STATE_DIR",
        "COMPOSECTL_WEBHOOK",
        "COMPOSECTL_WEBHOOK_FORMAT",
        "COMPOSECTL_WEBHOOK_CA_FILE",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
}

#[test]
fn the_environment_wins_over_the_file_and_the_file_fills_in_the_rest() {
    let (_dir, path) = config(
        "# composectl settings\n\
         COMPOSECTL_DESIRED=/srv/from-file\n\
         export COMPOSECTL_RESYNC=1m\n\
         DOCKER_HOST=unix:///run/docker.sock\n",
    );
    let overlay = load_with_env(&path, &["COMPOSECTL_DESIRED"]).unwrap();
    assert_eq!(
        overlay.set,
        pairs(&[
            ("COMPOSECTL_RESYNC", "1m"),
            ("DOCKER_HOST", "unix:///run/docker.sock")
        ])
    );
    assert!(overlay.warnings.is_empty(), "{:?}", overlay.warnings);
}

#[test]
fn other_names_are_exported_for_interpolation_like_an_environment_file() {
    let (_dir, path) = config("POSTGRES_PASSWORD=hunter2\nCOMPOSECTL_DESIRED=/srv/desired\n");
    let overlay = load_with_env(&path, &[]).unwrap();
    assert_eq!(
        overlay.set,
        pairs(&[
            ("POSTGRES_PASSWORD", "hunter2"),
            ("COMPOSECTL_DESIRED", "/srv/desired")
        ])
    );
    assert!(overlay.warnings.is_empty(), "{:?}", overlay.warnings);
}

#[test]
fn unknown_names_are_warnings_naming_file_and_line_without_the_value() {
    let (_dir, path) = config(
        "COMPOSECTL_DESIRED=/srv/desired\n\nCOMPOSECTL_RESYNK=secret-ish\nCOMPOSECTL_CONFIG=/x\n",
    );
    let overlay = load_with_env(&path, &[]).unwrap();
    assert_eq!(
        overlay.set,
        pairs(&[("COMPOSECTL_DESIRED", "/srv/desired")])
    );
    let shown = path.display().to_string();
    assert_eq!(overlay.warnings.len(), 2, "{:?}", overlay.warnings);
    assert!(overlay.warnings[0].contains(&format!("{shown} line 3")));
    assert!(overlay.warnings[0].contains("COMPOSECTL_RESYNK"));
    assert!(!overlay.warnings[0].contains("secret-ish"));
    assert!(overlay.warnings[1].contains(&format!("{shown} line 4")));
    assert!(overlay.warnings[1].contains("COMPOSECTL_CONFIG"));
}

#[test]
fn values_are_interpolated_from_the_environment() {
    let (_dir, path) = config("COMPOSECTL_DESIRED=${BASE}/desired\n");
    let lookup = |name: &str| (name == "BASE").then(|| "/volume1".to_string());
    let overlay = load(&Source::Explicit(path), &known(), &|_| false, &lookup).unwrap();
    assert_eq!(
        overlay.set,
        pairs(&[("COMPOSECTL_DESIRED", "/volume1/desired")])
    );
}

#[test]
fn a_missing_default_file_is_no_config_but_a_missing_named_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.env");
    let default = load(
        &Source::Default(absent.clone()),
        &known(),
        &|_| false,
        &no_lookup,
    )
    .unwrap();
    assert_eq!(default, Overlay::default());
    let err = load_with_env(&absent, &[]).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(err.to_string().contains(&absent.display().to_string()));
}

#[test]
fn a_malformed_file_is_an_error_naming_file_and_line() {
    let (_dir, path) = config("COMPOSECTL_DESIRED=/srv\nCOMPOSECTL LOG=debug\n");
    let err = load_with_env(&path, &[]).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Parse { .. }));
    assert!(
        message.contains(&format!("{}: line 2", path.display())),
        "{message}"
    );
}

#[test]
fn an_unreadable_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A directory exists but cannot be read as a file (root may read any file).
    let err = load(
        &Source::Default(dir.path().to_path_buf()),
        &known(),
        &|_| false,
        &no_lookup,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Read { .. }));
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}

#[test]
fn the_config_flag_is_explicit_and_its_absence_is_the_default_path() {
    let named = Cli::command()
        .try_get_matches_from(["composectl", "validate", "--config", "/tmp/c.env"])
        .unwrap();
    assert_eq!(
        source(&named),
        Source::Explicit(PathBuf::from("/tmp/c.env"))
    );
    if std::env::var_os(ENV).is_none() {
        let unnamed = Cli::command()
            .try_get_matches_from(["composectl", "validate"])
            .unwrap();
        assert_eq!(
            source(&unnamed),
            Source::Default(PathBuf::from(DEFAULT_PATH))
        );
    }
}

#[test]
fn help_documents_the_config_file_with_its_default_and_env_name() {
    let help = Cli::command().render_long_help().to_string();
    assert!(help.contains("--config <CONFIG>"), "{help}");
    assert!(help.contains("[env: COMPOSECTL_CONFIG"), "{help}");
    assert!(
        help.contains(&format!("[default: {DEFAULT_PATH}]")),
        "{help}"
    );
}

#[test]
fn a_config_file_that_is_a_fifo_or_too_large_fails_at_once_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("composectl.env");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = std::time::Instant::now();
    let err = load_with_env(&fifo, &[]).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let text = err.to_string();
    assert!(
        text.contains("composectl.env") && text.contains("FIFO"),
        "{text}"
    );

    let (_dir, big) = config(&"A=1\n".repeat(300_000));
    let text = load_with_env(&big, &[]).unwrap_err().to_string();
    assert!(text.contains("over the limit"), "{text}");
}

#[test]
fn exported_values_are_secrets_whether_set_now_or_already_in_the_environment() {
    let (_dir, path) = config(
        "DB_PASSWORD=from-file-pw\nAPI_TOKEN=already-set-token\nCOMPOSECTL_DESIRED=/srv/d\n\
         DOCKER_HOST=tcp://h:2375\n",
    );
    let overlay = load_with_env(&path, &["API_TOKEN"]).unwrap();
    assert_eq!(overlay.secrets, ["from-file-pw", "already-set-token"]);
}
