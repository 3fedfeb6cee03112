//! One fixture through both tools, one after the other on the same ports and subnet:
//! `docker-compose up -d`, inspect, `docker-compose down -v`; then `composectl apply --once`,
//! inspect; then the normalized views are compared service by service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::image::equiv_image;
use super::normalize::{self, Inside, Names, SECRETS_DIR, Secret, View};
use crate::common::{TestProject, composectl, docker, free_port, try_docker};

/// The label holding the service name (both tools write it).
const SERVICE_LABEL: &str = "com.docker.compose.service";
/// The label holding the replica number (both tools write it).
const NUMBER_LABEL: &str = "com.docker.compose.container-number";
const PROJECT_LABEL: &str = "com.docker.compose.project";

/// One container as one tool made it.
struct Made {
    service: String,
    number: String,
    inspect: Value,
    inside: Inside,
}

/// What one tool made of the fixture.
struct Side {
    containers: Vec<Made>,
    /// The project's networks and volumes: (`network`|`volume`, compose key, inspect).
    objects: Vec<(&'static str, String, Value)>,
}

/// The outcome of one fixture: the fields compared and every difference.
pub struct Outcome {
    pub fixture: String,
    pub compared: Vec<String>,
    pub differences: Vec<String>,
    /// `apply --once`'s exit code and output when it did not succeed.
    pub apply_failure: Option<String>,
    /// composectl's warnings (keys it does not apply yet, ...).
    pub warnings: Vec<String>,
}

impl Outcome {
    /// Prints what was compared and panics with a readable diff on any difference.
    pub fn assert_equivalent(&self) {
        println!(
            "fixture {}: compared {} fields per container: {}",
            self.fixture,
            self.compared.len(),
            self.compared.join(", ")
        );
        for warning in &self.warnings {
            println!("fixture {}: composectl warned: {warning}", self.fixture);
        }
        let mut problems = Vec::new();
        if let Some(failure) = &self.apply_failure {
            problems.push(format!("composectl apply --once failed: {failure}"));
        }
        problems.extend(self.differences.iter().cloned());
        assert!(
            problems.is_empty(),
            "fixture {}: the containers of docker-compose 1.29 and composectl differ \
             ({} differences):\n  {}",
            self.fixture,
            self.differences.len(),
            problems.join("\n  ")
        );
    }
}

/// `docker-compose down -v` of the project on drop, whatever happened.
struct ComposeDown<'a> {
    project: &'a str,
    file: &'a Path,
    env: &'a [(String, String)],
}

impl Drop for ComposeDown<'_> {
    fn drop(&mut self) {
        let out = compose_command(self.project, self.file, self.env)
            .args(["down", "-v", "--remove-orphans", "-t", "1"])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "docker-compose down of {}: {}",
                self.project,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("cannot run docker-compose down: {e}"),
        }
    }
}

fn compose_command(project: &str, file: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new("docker-compose");
    command
        .args(["--no-ansi", "-p", project, "-f"])
        .arg(file)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    command
}

/// The directory of fixture `name`.
pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/equivalence")
        .join(name)
}

/// Runs fixture `name` through both tools and compares what they made.
pub fn run(name: &str) -> Outcome {
    check_tools();
    let image = equiv_image();
    let compose_project = TestProject::new(&format!("eqc-{name}"));
    let project = TestProject::new(&format!("eqx-{name}"));
    let dir = project.path(project.name());
    copy_dir(&fixture_dir(name), &dir);
    let file = dir.join("compose.yaml");
    let env = fixture_env(image, project.name());

    // docker-compose 1.29 first; down before composectl takes the same ports and subnet.
    let compose_side = {
        let _down = ComposeDown {
            project: compose_project.name(),
            file: &file,
            env: &env,
        };
        let up = compose_command(compose_project.name(), &file, &env)
            .args(["up", "-d"])
            .output()
            .expect("cannot run docker-compose (is docker-compose 1.29 installed?)");
        assert!(
            up.status.success(),
            "fixture {name}: docker-compose up failed ({}):\n{}{}",
            up.status,
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        );
        collect(compose_project.name())
    };

    let apply = composectl()
        .args(["apply", "--once", "--desired"])
        .arg(project.dir())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("NO_COLOR", "1")
        .output()
        .expect("cannot run composectl");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&apply.stdout),
        String::from_utf8_lossy(&apply.stderr)
    );
    let warnings = output
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("warning"))
        .map(str::to_owned)
        .collect();
    let apply_failure = (!apply.status.success()).then(|| format!("({})\n{output}", apply.status));
    let composectl_side = collect(project.name());

    let mut names = Names::default();
    names.add(compose_project.name(), "PROJECT");
    names.add(project.name(), "PROJECT");
    for made in compose_side
        .containers
        .iter()
        .chain(&composectl_side.containers)
    {
        names.add_container(&made.inspect, &made.service, &made.number);
    }
    let views = |side: &Side| -> BTreeMap<String, View> {
        let containers = side.containers.iter().map(|m| {
            (
                format!("{}#{}", m.service, m.number),
                normalize::view(&m.inspect, &names, &m.inside),
            )
        });
        let objects = side.objects.iter().map(|(kind, key, inspect)| {
            (
                format!("{kind} {key}"),
                normalize::object_view(kind, inspect, &names),
            )
        });
        containers.chain(objects).collect()
    };
    let (a, b) = (views(&compose_side), views(&composectl_side));
    if std::env::var_os("EQ_DUMP").is_some() {
        for (tool, views) in [("docker-compose", &a), ("composectl", &b)] {
            for (key, view) in views {
                let json = serde_json::to_string_pretty(view).expect("a view is JSON");
                println!("---- {name}/{key} as {tool} made it (normalized) ----\n{json}");
            }
        }
    }
    let mut compared = std::collections::BTreeSet::new();
    let mut differences = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) => {
                compared.extend(x.keys().chain(y.keys()).cloned());
                for line in normalize::diff(x, y) {
                    differences.push(format!("{name}/{key}: {line}"));
                }
            }
            (Some(_), None) => differences.push(format!(
                "{name}/{key}: docker-compose made it, composectl did not"
            )),
            (None, Some(_)) => differences.push(format!(
                "{name}/{key}: composectl made it, docker-compose did not"
            )),
            (None, None) => unreachable!(),
        }
    }
    Outcome {
        fixture: name.to_owned(),
        compared: compared.into_iter().collect(),
        differences,
        apply_failure,
        warnings,
    }
}

/// Fails loudly when docker or docker-compose is missing.
fn check_tools() {
    docker(&["version", "--format", "{{.Server.Version}}"]);
    let version = Command::new("docker-compose")
        .arg("version")
        .arg("--short")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run docker-compose ({e}): install docker-compose 1.29 (Debian: apt-get install docker-compose)")
        });
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.trim().starts_with("1.29"),
        "the equivalence test compares with docker-compose 1.29, found {version:?}"
    );
}

/// The variables both tools interpolate: the image, a /24 of 10.214 derived from the
/// project name (so parallel fixtures never share a subnet), and free host ports.
fn fixture_env(image: &str, project: &str) -> Vec<(String, String)> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    project.hash(&mut hasher);
    let net = 1 + hasher.finish() % 250;
    let range = free_range();
    vec![
        ("EQ_IMAGE".into(), image.into()),
        ("EQ_NET".into(), net.to_string()),
        ("EQ_PORT1".into(), free_port().to_string()),
        ("EQ_PORT2".into(), free_port().to_string()),
        ("EQ_RANGE_LO".into(), range.to_string()),
        ("EQ_RANGE_HI".into(), (range + 1).to_string()),
    ]
}

/// The first of two consecutive ports free for TCP and UDP.
fn free_range() -> u16 {
    use std::net::{TcpListener, UdpSocket};
    for _ in 0..200 {
        let base = free_port();
        if base == u16::MAX {
            continue;
        }
        let free = |p: u16| {
            TcpListener::bind(("0.0.0.0", p)).is_ok() && UdpSocket::bind(("0.0.0.0", p)).is_ok()
        };
        if free(base) && free(base + 1) {
            return base;
        }
    }
    panic!("no two consecutive free ports");
}

/// Inspects every container of `project` and reads the secrets mounted in each.
fn collect(project: &str) -> Side {
    let ids = docker(&[
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label={PROJECT_LABEL}={project}"),
    ]);
    let ids: Vec<&str> = ids.lines().collect();
    let objects = objects(project, "network", "com.docker.compose.network")
        .into_iter()
        .chain(objects(project, "volume", "com.docker.compose.volume"))
        .collect();
    if ids.is_empty() {
        return Side {
            containers: Vec::new(),
            objects,
        };
    }
    let mut args = vec!["inspect"];
    args.extend(&ids);
    let all: Value = serde_json::from_str(&docker(&args)).expect("docker inspect printed JSON");
    let containers = all
        .as_array()
        .expect("an array")
        .iter()
        .map(|inspect| {
            let label = |k: &str| {
                inspect["Config"]["Labels"][k]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned()
            };
            Made {
                service: label(SERVICE_LABEL),
                number: label(NUMBER_LABEL),
                inside: inside(inspect),
                inspect: inspect.clone(),
            }
        })
        .collect();
    Side {
        containers,
        objects,
    }
}

/// The networks or volumes (`kind`) of `project`: (kind, compose key from `key_label`,
/// inspect).
fn objects(
    project: &str,
    kind: &'static str,
    key_label: &str,
) -> Vec<(&'static str, String, Value)> {
    let names = docker(&[
        kind,
        "ls",
        "-q",
        "--filter",
        &format!("label={PROJECT_LABEL}={project}"),
    ]);
    let names: Vec<&str> = names.lines().collect();
    if names.is_empty() {
        return Vec::new();
    }
    let mut args = vec![kind, "inspect"];
    args.extend(&names);
    let all: Value = serde_json::from_str(&docker(&args)).expect("docker inspect printed JSON");
    all.as_array()
        .expect("an array")
        .iter()
        .map(|inspect| {
            let key = inspect["Labels"][key_label]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            (kind, key, inspect.clone())
        })
        .collect()
}

/// What a running container shows inside: its mounts as the kernel has them and the
/// content of each mount under /run/secrets/. Empty when it does not run.
fn inside(inspect: &Value) -> Inside {
    let id = inspect["Id"].as_str().unwrap_or_default();
    if inspect["State"]["Running"] != Value::Bool(true) {
        return Inside::default();
    }
    let mount_options = try_docker(&["exec", id, "cat", "/proc/mounts"])
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.as_slice() {
                [_, point, kind, options, ..] => {
                    Some(((*point).to_owned(), format!("{kind} {options}")))
                }
                _ => None,
            }
        })
        .collect();
    let secrets = inspect["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Destination"].as_str())
        .filter(|d| d.starts_with(SECRETS_DIR))
        .map(|path| {
            let read = |command: &[&str]| {
                let mut args = vec!["exec", id];
                args.extend(command);
                try_docker(&args).unwrap_or_else(|e| format!("(cannot: {e})"))
            };
            let secret = Secret {
                content: read(&["cat", path]),
                mode: read(&["stat", "-L", "-c", "%a %u:%g", path]),
            };
            (path.to_owned(), secret)
        })
        .collect();
    Inside {
        secrets,
        mount_options,
    }
}

/// Copies the directory `from` to `to` (created), recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("cannot create the project directory");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("cannot copy a fixture file");
        }
    }
}
