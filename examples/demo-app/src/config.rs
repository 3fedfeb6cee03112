//! Settings read from the environment: port, version, failure rate, health, timed exit and
//! startup delay. Parsing takes a lookup function so tests need no process environment.

use std::time::Duration;

/// Errors in the environment settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A variable is set but its value does not parse; the value itself is not echoed.
    #[error("{name} is not a valid {expected}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// What the value should have been.
        expected: &'static str,
    },
}

/// This module's result.
pub type Result<T> = std::result::Result<T, Error>;

/// What `/healthz` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// 200 OK.
    Ok,
    /// 503 Service Unavailable.
    Fail,
}

/// The whole configuration of one server process.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `PORT`: TCP port to listen on (8080).
    pub port: u16,
    /// `VERSION`: the version the app reports (`v1`).
    pub version: String,
    /// `FAILURE_RATE`: fraction of `/` requests answered 500 (0.0).
    pub failure_rate: f64,
    /// `HEALTH`: what `/healthz` answers (`ok`).
    pub health: Health,
    /// `EXIT_AFTER`: exit this long after start (never).
    pub exit_after: Option<Duration>,
    /// `EXIT_CODE`: the code of that exit (1).
    pub exit_code: i32,
    /// `STARTUP_DELAY`: wait this long before listening (none).
    pub startup_delay: Duration,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable's value, if set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            port: parse(&get, "PORT", "port number")?.unwrap_or(8080),
            version: get("VERSION").unwrap_or_else(|| "v1".to_owned()),
            failure_rate: failure_rate(&get)?,
            health: health(&get)?,
            exit_after: seconds(&get, "EXIT_AFTER")?,
            exit_code: parse(&get, "EXIT_CODE", "exit code")?.unwrap_or(1),
            startup_delay: seconds(&get, "STARTUP_DELAY")?.unwrap_or_default(),
        })
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    expected: &'static str,
) -> Result<Option<T>> {
    get(name)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| Error::Invalid { name, expected })
        })
        .transpose()
}

fn failure_rate(get: &impl Fn(&str) -> Option<String>) -> Result<f64> {
    const EXPECTED: &str = "fraction between 0.0 and 1.0";
    let rate: f64 = parse(get, "FAILURE_RATE", EXPECTED)?.unwrap_or(0.0);
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(Error::Invalid {
            name: "FAILURE_RATE",
            expected: EXPECTED,
        })
    }
}

fn health(get: &impl Fn(&str) -> Option<String>) -> Result<Health> {
    match get("HEALTH").as_deref().map(str::trim) {
        None | Some("ok") => Ok(Health::Ok),
        Some("fail") => Ok(Health::Fail),
        Some(_) => Err(Error::Invalid {
            name: "HEALTH",
            expected: "health (ok | fail)",
        }),
    }
}

fn seconds(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<Duration>> {
    let invalid = Error::Invalid {
        name,
        expected: "number of seconds",
    };
    match parse::<f64>(get, name, "number of seconds")? {
        None => Ok(None),
        Some(s) => Duration::try_from_secs_f64(s)
            .map(Some)
            .map_err(|_| invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn empty_environment_gives_the_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.version, "v1");
        assert_eq!(c.failure_rate, 0.0);
        assert_eq!(c.health, Health::Ok);
        assert_eq!(c.exit_after, None);
        assert_eq!(c.exit_code, 1);
        assert_eq!(c.startup_delay, Duration::ZERO);
    }

    #[test]
    fn every_variable_is_read() {
        let c = config(&[
            ("PORT", "9000"),
            ("VERSION", "v2"),
            ("FAILURE_RATE", "0.2"),
            ("HEALTH", "fail"),
            ("EXIT_AFTER", "1.5"),
            ("EXIT_CODE", "3"),
            ("STARTUP_DELAY", "2"),
        ])
        .unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.version, "v2");
        assert_eq!(c.failure_rate, 0.2);
        assert_eq!(c.health, Health::Fail);
        assert_eq!(c.exit_after, Some(Duration::from_millis(1500)));
        assert_eq!(c.exit_code, 3);
        assert_eq!(c.startup_delay, Duration::from_secs(2));
    }

    #[test]
    fn invalid_values_are_rejected_with_the_variable_name() {
        let cases = [
            ("PORT", "http"),
            ("PORT", "70000"),
            ("FAILURE_RATE", "1.5"),
            ("FAILURE_RATE", "-0.1"),
            ("HEALTH", "maybe"),
            ("EXIT_AFTER", "-1"),
            ("EXIT_CODE", "seven"),
            ("STARTUP_DELAY", "soon"),
        ];
        for (name, value) in cases {
            let err = config(&[(name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{name}={value}: {err}");
            assert!(!err.to_string().contains(value), "the value is not echoed");
        }
    }
}
