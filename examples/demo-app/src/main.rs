//! demo-app: composectl's test workload, a small HTTP/1.1 server.
//!
//! Everything it does is set by environment (see [`config::Config`]): the version it
//! reports, which fraction of `/` requests fail (deterministically), whether `/healthz`
//! passes, and whether it exits after a while (crash-loop tests). Endpoints: `/`,
//! `/healthz`, `/version`, `/metrics` (Prometheus text). `demo-app healthcheck [URL]` is
//! the client for a `HEALTHCHECK` in a scratch image.

mod config;
mod failure;
mod healthcheck;
mod http;
mod metrics;
mod server;
mod signal;

use std::process::ExitCode;

use config::Config;

fn main() -> ExitCode {
    signal::exit_on_termination();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => run(),
        Some("healthcheck") => healthcheck(args.get(1)),
        Some(other) => {
            eprintln!(
                "demo-app: unknown subcommand {other:?}; usage: demo-app [healthcheck [URL]]"
            );
            ExitCode::from(2)
        }
    }
}

fn run() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("demo-app: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(after) = config.exit_after {
        let code = config.exit_code;
        std::thread::spawn(move || {
            std::thread::sleep(after);
            println!("demo-app exiting with code {code} as EXIT_AFTER asked");
            std::process::exit(code);
        });
    }
    std::thread::sleep(config.startup_delay);
    match server::serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-app: cannot serve on port {}: {e}", config.port);
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(url: Option<&String>) -> ExitCode {
    let url = match url {
        Some(url) => url.clone(),
        None => match Config::from_env() {
            Ok(config) => healthcheck::default_url(config.port),
            Err(e) => {
                eprintln!("demo-app healthcheck: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    match healthcheck::check(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-app healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}
