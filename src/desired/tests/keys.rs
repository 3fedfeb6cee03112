//! The key-coverage test: every key of the compose specification's top level and of its
//! service, network, volume, secret and config definitions (the lists below are written
//! from the specification's schema, `schema/compose-spec.json`) is in composectl's key
//! tables, and each does what its table says: an applied key changes the loaded spec, a
//! rejected key fails the project naming the key, a key without effect warns naming it.

use super::{Desired, Error};
use crate::desired::keys::{self, Key, Support};

/// `properties` of the schema's top level.
const SPEC_TOP_LEVEL: &[&str] = &[
    "configs", "include", "models", "name", "networks", "secrets", "services", "version", "volumes",
];

/// `definitions.service.properties`.
const SPEC_SERVICE: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// `definitions.network.properties`.
const SPEC_NETWORK: &[&str] = &[
    "attachable",
    "driver",
    "driver_opts",
    "enable_ipv4",
    "enable_ipv6",
    "external",
    "internal",
    "ipam",
    "labels",
    "name",
];

/// `definitions.volume.properties`.
const SPEC_VOLUME: &[&str] = &["driver", "driver_opts", "external", "labels", "name"];

/// `definitions.secret.properties`.
const SPEC_SECRET: &[&str] = &[
    "driver",
    "driver_opts",
    "environment",
    "external",
    "file",
    "labels",
    "name",
    "template_driver",
];

/// `definitions.config.properties`.
const SPEC_CONFIG: &[&str] = &[
    "content",
    "environment",
    "external",
    "file",
    "labels",
    "name",
    "template_driver",
];

/// Every definition: its name, the specification's keys, composectl's table.
const DEFINITIONS: &[(&str, &[&str], &[Key])] = &[
    ("top level", SPEC_TOP_LEVEL, keys::TOP_LEVEL),
    ("service", SPEC_SERVICE, keys::SERVICE),
    ("network", SPEC_NETWORK, keys::NETWORK),
    ("volume", SPEC_VOLUME, keys::VOLUME),
    ("secret", SPEC_SECRET, keys::SECRET),
    ("config", SPEC_CONFIG, keys::CONFIG),
];

#[test]
fn every_key_of_the_specification_is_in_a_table_and_every_table_key_is_in_the_specification() {
    for (definition, spec, table) in DEFINITIONS {
        for key in *spec {
            assert!(
                keys::support(table, key).is_some(),
                "{definition} key `{key}` is neither applied, rejected nor without effect"
            );
        }
        for key in *table {
            assert!(
                spec.contains(&key.name),
                "{definition} table names `{}`, which the specification does not have",
                key.name
            );
        }
        let mut names = keys::names(table);
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "{definition} table names a key twice");
    }
}

#[test]
fn every_rejection_and_every_key_without_effect_says_why() {
    for (definition, _, table) in DEFINITIONS {
        for key in *table {
            if let Support::Rejected(why) | Support::NoEffect(why) = key.support {
                assert!(
                    why.len() > 20,
                    "{definition} key `{}` needs a reason a user can act on",
                    key.name
                );
            }
        }
    }
}

/// A value for each service key, written under the service `s` (lines indented by four).
/// Samples are never the default, so an applied key must change the loaded spec.
const SERVICE_SAMPLES: &[(&str, &str)] = &[
    ("annotations", "annotations:\n  com.example.a: b"),
    ("attach", "attach: false"),
    ("blkio_config", "blkio_config:\n  weight: 300"),
    ("build", "build: ."),
    ("cap_add", "cap_add: [NET_ADMIN]"),
    ("cap_drop", "cap_drop: [NET_RAW]"),
    ("cgroup", "cgroup: private"),
    ("cgroup_parent", "cgroup_parent: m-executor"),
    ("command", "command: [sleep, '1']"),
    ("configs", "configs: [cfg]"),
    ("container_name", "container_name: fixed"),
    ("cpu_count", "cpu_count: 2"),
    ("cpu_percent", "cpu_percent: 50"),
    ("cpu_period", "cpu_period: 100000"),
    ("cpu_quota", "cpu_quota: 50000"),
    ("cpu_rt_period", "cpu_rt_period: 1000000"),
    ("cpu_rt_runtime", "cpu_rt_runtime: 950000"),
    ("cpu_shares", "cpu_shares: 512"),
    ("cpus", "cpus: 0.5"),
    ("cpuset", "cpuset: '0'"),
    ("credential_spec", "credential_spec:\n  file: spec.json"),
    ("depends_on", "depends_on: [o]"),
    ("deploy", "deploy:\n  replicas: 2"),
    (
        "develop",
        "develop:\n  watch:\n    - path: ./src\n      action: sync\n      target: /src",
    ),
    ("device_cgroup_rules", "device_cgroup_rules: ['c 1:3 mr']"),
    ("devices", "devices: ['/dev/null:/dev/xnull']"),
    ("dns", "dns: 192.0.2.53"),
    ("dns_opt", "dns_opt: [use-vc]"),
    ("dns_search", "dns_search: example.com"),
    ("domainname", "domainname: example.com"),
    ("entrypoint", "entrypoint: [sh]"),
    ("env_file", "env_file: vars.env"),
    ("environment", "environment: [A=1]"),
    ("expose", "expose: ['80']"),
    ("extends", "extends: o"),
    ("external_links", "external_links: ['foreign:alias']"),
    ("extra_hosts", "extra_hosts: ['h:192.0.2.1']"),
    ("gpus", "gpus: all"),
    ("group_add", "group_add: ['100']"),
    ("healthcheck", "healthcheck:\n  test: [CMD, 'true']"),
    ("hostname", "hostname: h"),
    ("image", "image: alpine"),
    ("init", "init: true"),
    ("ipc", "ipc: shareable"),
    ("isolation", "isolation: default"),
    ("label_file", "label_file: labels.txt"),
    ("labels", "labels: [a=b]"),
    ("links", "links: [o]"),
    ("logging", "logging:\n  driver: none"),
    ("mac_address", "mac_address: '02:42:ac:11:00:02'"),
    ("mem_limit", "mem_limit: 64m"),
    ("mem_reservation", "mem_reservation: 32m"),
    ("mem_swappiness", "mem_swappiness: 10"),
    ("memswap_limit", "memswap_limit: 128m"),
    ("models", "models: [m]"),
    ("network_mode", "network_mode: none"),
    ("networks", "networks: [n]"),
    ("oom_kill_disable", "oom_kill_disable: true"),
    ("oom_score_adj", "oom_score_adj: 100"),
    ("pid", "pid: host"),
    ("pids_limit", "pids_limit: 10"),
    ("platform", "platform: linux/amd64"),
    ("ports", "ports: ['8080:80']"),
    ("post_start", "post_start:\n  - command: ['true']"),
    ("pre_stop", "pre_stop:\n  - command: ['true']"),
    ("privileged", "privileged: true"),
    ("profiles", "profiles: [off]"),
    ("provider", "provider:\n  type: model"),
    ("pull_policy", "pull_policy: always"),
    (
        "pull_refresh_after",
        "pull_policy: refresh\npull_refresh_after: 1h",
    ),
    ("read_only", "read_only: true"),
    ("restart", "restart: always"),
    ("runtime", "runtime: runc"),
    ("scale", "scale: 2"),
    ("secrets", "secrets: [sec]"),
    ("security_opt", "security_opt: ['no-new-privileges:true']"),
    ("shm_size", "shm_size: 128m"),
    ("stdin_open", "stdin_open: true"),
    ("stop_grace_period", "stop_grace_period: 3s"),
    ("stop_signal", "stop_signal: SIGINT"),
    ("storage_opt", "storage_opt:\n  size: 1G"),
    ("sysctls", "sysctls:\n  net.core.somaxconn: '1024'"),
    ("tmpfs", "tmpfs: [/tmp]"),
    ("tty", "tty: true"),
    ("ulimits", "ulimits:\n  nofile: 1024"),
    ("use_api_socket", "use_api_socket: true"),
    ("user", "user: '1000'"),
    ("userns_mode", "userns_mode: host"),
    ("uts", "uts: host"),
    ("volumes", "volumes: ['v:/data']"),
    ("volumes_from", "volumes_from: [o]"),
    ("working_dir", "working_dir: /srv"),
];

/// A value for each key of the network `n`, the volume `v`, the secret `sec` and the config
/// `cfg` (the base defines them with nothing, or `file: ./sec.txt` for the secret and the
/// config; a sample replaces that definition).
const NETWORK_SAMPLES: &[(&str, &str)] = &[
    ("attachable", "attachable: true"),
    ("driver", "driver: bridge"),
    (
        "driver_opts",
        "driver_opts:\n  com.docker.network.driver.mtu: '1400'",
    ),
    ("enable_ipv4", "enable_ipv4: false"),
    ("enable_ipv6", "enable_ipv6: true"),
    ("external", "external: true"),
    ("internal", "internal: true"),
    ("ipam", "ipam:\n  config:\n    - subnet: 10.213.0.0/24"),
    ("labels", "labels: [a=b]"),
    ("name", "name: custom"),
];

const VOLUME_SAMPLES: &[(&str, &str)] = &[
    ("driver", "driver: local"),
    (
        "driver_opts",
        "driver_opts:\n  type: tmpfs\n  device: tmpfs",
    ),
    ("external", "external: true"),
    ("labels", "labels: [a=b]"),
    ("name", "name: custom"),
];

const SECRET_SAMPLES: &[(&str, &str)] = &[
    ("driver", "file: ./sec.txt\ndriver: vault"),
    ("driver_opts", "file: ./sec.txt\ndriver_opts:\n  a: b"),
    ("environment", "environment: SECRET_VAR"),
    ("external", "external: true"),
    ("file", "file: ./other.txt"),
    ("labels", "file: ./sec.txt\nlabels: [a=b]"),
    ("name", "file: ./sec.txt\nname: custom"),
    (
        "template_driver",
        "file: ./sec.txt\ntemplate_driver: golang",
    ),
];

const CONFIG_SAMPLES: &[(&str, &str)] = &[
    ("content", "content: hello"),
    ("environment", "environment: SECRET_VAR"),
    ("external", "external: true"),
    ("file", "file: ./other.txt"),
    ("labels", "file: ./sec.txt\nlabels: [a=b]"),
    ("name", "file: ./sec.txt\nname: custom"),
    (
        "template_driver",
        "file: ./sec.txt\ntemplate_driver: golang",
    ),
];

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
        .write("p/other.txt", "another secret\n");
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

const README_BEGIN: &str = "<!-- compose keys: generated from src/desired/keys.rs -->\n";
const README_END: &str = "<!-- end of compose keys -->\n";

/// The README's key tables, rendered from [`keys`].
fn readme_tables() -> String {
    let sections: [(&str, &[Key]); 6] = [
        ("Top level", keys::TOP_LEVEL),
        ("Services (`services.NAME`)", keys::SERVICE),
        ("Networks (`networks.NAME`)", keys::NETWORK),
        ("Volumes (`volumes.NAME`)", keys::VOLUME),
        ("Secrets (`secrets.NAME`)", keys::SECRET),
        ("Configs (`configs.NAME`)", keys::CONFIG),
    ];
    let mut out = String::new();
    for (title, table) in sections {
        out += &format!("\n#### {title}\n\n| key | what composectl does |\n|---|---|\n");
        let mut rows: Vec<&Key> = table.iter().collect();
        rows.sort_by_key(|k| k.name);
        for key in rows {
            let name = key.name;
            let what = match key.support {
                Support::Applied if key.note.is_empty() => "applied".to_owned(),
                Support::Applied => format!("applied: {}", key.note),
                Support::Rejected(why) => format!("**refused**: `{name}` {why}"),
                Support::NoEffect(why) => format!("no effect (a warning): `{name}` {why}"),
            };
            out += &format!("| `{name}` | {} |\n", what.replace('|', "\\|"));
        }
    }
    out + "\n"
}

#[test]
fn the_readme_key_tables_are_the_key_tables() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md reads");
    let (Some(begin), Some(end)) = (readme.find(README_BEGIN), readme.find(README_END)) else {
        panic!("README.md has no {README_BEGIN:?} ... {README_END:?} section");
    };
    let current = &readme[begin + README_BEGIN.len()..end];
    let expected = readme_tables();
    if current != expected && std::env::var_os("COMPOSECTL_WRITE_README").is_some() {
        let written = format!(
            "{}{expected}{}",
            &readme[..begin + README_BEGIN.len()],
            &readme[end..]
        );
        std::fs::write(&path, written).expect("README.md writes");
        return;
    }
    assert!(
        current == expected,
        "README.md's key tables differ from src/desired/keys.rs; run \
         `COMPOSECTL_WRITE_README=1 cargo test --lib the_readme_key_tables` to rewrite them"
    );
}
