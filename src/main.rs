//! The `composectl` binary: fill the environment from the config file, parse the command
//! line, hand over to [`composectl::app`].

use std::process::ExitCode;

use clap::FromArgMatches;
use composectl::cli::{self, Cli};
use composectl::config_file;

fn main() -> ExitCode {
    let warnings = match apply_config_file() {
        Ok(warnings) => warnings,
        Err(err) => {
            composectl::errln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::from_arg_matches(&cli::command().get_matches()).unwrap_or_else(|e| e.exit());
    composectl::app::run(cli, &warnings)
}

/// Reads the config file the command line names (or the default one, if it exists) and
/// sets each of its variables the environment lacks, so clap's parse below sees them with
/// the precedence flag > environment > config file > default. Returns the file's warnings.
fn apply_config_file() -> config_file::Result<Vec<String>> {
    let command = cli::command();
    let known = config_file::known_settings(&command);
    // A first parse finds `--config` (flag, env or default); it exits on `--help` and on
    // command-line errors, as the real parse would.
    let matches = command.get_matches();
    let overlay = config_file::load(
        &config_file::source(&matches),
        &known,
        &|name| std::env::var_os(name).is_some(),
        &|name| std::env::var(name).ok(),
    )?;
    // The variables it exports for compose files (a database password kept out of git)
    // are secrets; composectl's own settings are not (the webhook URL's secret parts are
    // remembered when it is parsed).
    composectl::redact::global().remember_all(overlay.secrets.iter().map(String::as_str));
    for (key, value) in &overlay.set {
        // SAFETY: this runs first thing in `main`, before the tokio runtime or any other
        // thread exists, so nothing reads the environment concurrently.
        unsafe { std::env::set_var(key, value) };
    }
    Ok(overlay.warnings)
}
