//! The effect test: each key of the specification, set to its sample in an otherwise
//! fixed project, does what its table says: an applied key changes the loaded spec, a
//! rejected key fails the project naming the key, a key without effect warns naming it.

use super::samples::{
    CONFIG_SAMPLES, NETWORK_SAMPLES, SECRET_SAMPLES, SERVICE_SAMPLES, VOLUME_SAMPLES,
};
use super::spec::{SPEC_CONFIG, SPEC_NETWORK, SPEC_SECRET, SPEC_SERVICE, SPEC_VOLUME};
use crate::desired::keys::{self, Key, Support};
use crate::desired::tests::{Desired, Error};

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// Parts of the test project a sample may replace.
#[derive(Default)]
struct Parts<'a> {
    service: Option<&'a str>,
    network: Option<&'a str>,
    volume: Option<&'a str>,
    secret: Option<&'a str>,
    config: Option<&'a str>,
}

/// The test project: service `s` (on network `n` with volume `v`, secret `sec` and config
/// `cfg`) and service `o`, with `parts` replacing the defaults.
fn project(parts: &Parts) -> String {
    let mut service = String::new();
    let sample = parts.service.unwrap_or("");
    if !sample.starts_with("image:") {
        service.push_str("image: busybox\n");
    }
    if !sample.starts_with("networks:") && !sample.starts_with("network_mode:") {
        service.push_str("networks: [n]\n");
    }
    service.push_str(sample);
    let uses = "volumes: ['v:/data']\nsecrets: [sec]\nconfigs: [cfg]\n";
    let uses: String = uses
        .lines()
        .filter(|l| !sample.starts_with(l.split(':').next().unwrap_or_default()))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut text = String::from("services:\n  s:\n");
    text += &indent(&service, 4);
    if parts.network.is_some()
        || parts.volume.is_some()
        || parts.secret.is_some()
        || parts.config.is_some()
    {
        text += &indent(&uses, 4);
    }
    text += "  o:\n    image: busybox\n    environment: [FROM_O=1]\n    volumes: ['/srv/o']\n";
    let definition = |name: &str, body: Option<&str>, default: &str| {
        let body = body.unwrap_or(default);
        if body.is_empty() {
            format!("  {name}: {{}}\n")
        } else {
            format!("  {name}:\n{}", indent(body, 4))
        }
    };
    text += "networks:\n";
    text += &definition("n", parts.network, "");
    text += "volumes:\n";
    text += &definition("v", parts.volume, "");
    let any_part = parts.network.is_some()
        || parts.volume.is_some()
        || parts.secret.is_some()
        || parts.config.is_some();
    if any_part || sample.starts_with("secrets:") {
        text += "secrets:\n";
        text += &definition("sec", parts.secret, "file: ./sec.txt");
    }
    if any_part || sample.starts_with("configs:") {
        text += "configs:\n";
        text += &definition("cfg", parts.config, "file: ./sec.txt");
    }
    text
}

/// What loading `text` gave: the spec as JSON, or the error text; and the warnings.
fn load(text: &str) -> (Result<serde_json::Value, String>, Vec<String>) {
    let d = Desired::new();
    d.write("p/compose.yaml", text)
        .write("p/vars.env", "A=1\n")
        .write("p/labels.txt", "com.example.a=b\n")
        .write("p/sec.txt", "the secret\n")
        .write("p/other.txt", "another secret\n")
        .write("p/Dockerfile", "FROM scratch\n");
    let report = d.load_with(&[("SECRET_VAR", "from the environment")]);
    match report.projects.get("p") {
        Some(Ok(loaded)) => (
            Ok(serde_json::to_value(&loaded.spec).expect("spec serializes")),
            loaded.warnings.iter().map(ToString::to_string).collect(),
        ),
        Some(Err(Error::Invalid(diagnostics))) => (
            Err(diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")),
            Vec::new(),
        ),
        other => panic!("project p: {other:?}"),
    }
}

/// Applied keys whose sample is the one value composectl refuses (with the reason), the
/// others being applied: `external: true` of a secret or config is a Swarm object,
/// `enable_ipv4: false` needs a newer engine.
const REFUSED_VALUES: &[(&str, &str)] = &[
    ("secret", "external"),
    ("config", "external"),
    ("network", "enable_ipv4"),
];

/// Checks that `key` of `definition` does what `table` says when `parts` set it.
fn check(definition: &str, table: &[Key], key: &str, parts: &Parts, path: &str) -> Option<String> {
    let (base, base_warnings) = load(&project(&Parts {
        service: None,
        network: parts.network.map(|_| ""),
        volume: parts.volume.map(|_| ""),
        secret: parts.secret.map(|_| "file: ./sec.txt"),
        config: parts.config.map(|_| "file: ./sec.txt"),
    }));
    let base = match base {
        Ok(spec) => spec,
        Err(e) => {
            return Some(format!(
                "{definition} `{key}`: the base project fails:\n{e}"
            ));
        }
    };
    let text = project(parts);
    let (variant, warnings) = load(&text);
    let support = keys::support(table, key).expect("covered by the first test");
    match (support, variant) {
        (Support::Applied, Ok(spec)) if spec != base => None,
        (Support::Applied, Ok(_)) => Some(format!(
            "{definition} `{key}` is applied, yet the spec does not change:\n{text}"
        )),
        (Support::Rejected(_), Err(e)) if e.contains(path) => None,
        (Support::Applied, Err(e))
            if REFUSED_VALUES.contains(&(definition, key)) && e.contains(path) =>
        {
            None
        }
        (Support::NoEffect(why), Ok(_))
            if warnings.iter().any(|w| w.contains(path) && w.contains(why))
                && warnings.len() > base_warnings.len() =>
        {
            None
        }
        (support, Ok(_)) => Some(format!(
            "{definition} `{key}` is {support:?}, yet it loads with warnings {warnings:?}:\n{text}"
        )),
        (support, Err(e)) => Some(format!(
            "{definition} `{key}` is {support:?}, yet the project fails:\n{e}\n{text}"
        )),
    }
}

#[test]
fn every_key_does_what_its_table_says() {
    let mut failures = Vec::new();
    for key in SPEC_SERVICE {
        let sample = SERVICE_SAMPLES
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no sample for service key `{key}`"))
            .1;
        let parts = Parts {
            service: Some(sample),
            ..Parts::default()
        };
        failures.extend(check(
            "service",
            keys::SERVICE,
            key,
            &parts,
            &format!("services.s.{key}"),
        ));
    }
    type Place = fn(&str) -> Parts<'_>;
    type Definition<'a> = (
        &'a str,
        &'a [&'a str],
        &'a [(&'a str, &'a str)],
        &'a [Key],
        &'a str,
        Place,
    );
    let others: [Definition; 4] = [
        (
            "network",
            SPEC_NETWORK,
            NETWORK_SAMPLES,
            keys::NETWORK,
            "networks.n",
            |s| Parts {
                network: Some(s),
                ..Parts::default()
            },
        ),
        (
            "volume",
            SPEC_VOLUME,
            VOLUME_SAMPLES,
            keys::VOLUME,
            "volumes.v",
            |s| Parts {
                volume: Some(s),
                ..Parts::default()
            },
        ),
        (
            "secret",
            SPEC_SECRET,
            SECRET_SAMPLES,
            keys::SECRET,
            "secrets.sec",
            |s| Parts {
                secret: Some(s),
                ..Parts::default()
            },
        ),
        (
            "config",
            SPEC_CONFIG,
            CONFIG_SAMPLES,
            keys::CONFIG,
            "configs.cfg",
            |s| Parts {
                config: Some(s),
                ..Parts::default()
            },
        ),
    ];
    for (definition, spec, samples, table, at, place) in others {
        for key in spec {
            let sample = samples
                .iter()
                .find(|(k, _)| k == key)
                .unwrap_or_else(|| panic!("no sample for {definition} key `{key}`"))
                .1;
            failures.extend(check(
                definition,
                table,
                key,
                &place(sample),
                &format!("{at}.{key}"),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
