//! The `composectl` binary: parse the command line, hand over to [`composectl::app`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    composectl::app::run(composectl::cli::Cli::parse())
}
