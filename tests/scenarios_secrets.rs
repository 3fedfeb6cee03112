//! No secret in any output, end to end (issue 9): distinct random secrets are planted in
//! every place a secret can come from — the process environment (interpolated, and one
//! only there), `.env`, an `env_file`, a literal `environment:` value, a config file
//! exporting a variable, registry credentials (a Docker `config.json` with `auths` under a
//! temporary `DOCKER_CONFIG`), a gate URL's userinfo and query, the webhook URL's userinfo
//! and query token, and names interpolated into `depends_on`, `networks` and `volumes` —
//! plus a project whose `env_file` is `/proc/self/environ` (the daemon's whole environment).
//!
//! Then every command runs against the real engine (`validate`, `plan`, `apply --once
//! --log debug`, `run --log debug --log-format json` with a canary that promotes through an
//! authenticated http gate and one that rolls back, a webhook receiver answering 500,
//! `rollout status` and `history` as text and JSON, `healthcheck`, `--help` of every
//! subcommand with the variables set), every HTTP endpoint is read, the webhook bodies and
//! the state files on disk too, and all of it is searched for every secret: zero hits.
//! The revision history is the one file allowed to hold them (each revision's whole spec,
//! for rollbacks): it is checked for mode 0600 in 0700 directories, and outside its specs
//! for no secret. The gate must have authenticated (the receiver saw the Basic header).

// Helpers unwrap like the tests: clippy's allow-unwrap-in-tests covers only `#[test]` fns
// of an integration test (rust-clippy#11119).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, TestImages, TestProject, demo_image, free_port, http_get, wait_until};
use composectl::redact::base64;
use serde_json::Value;

/// A random secret, tagged with where it is planted.
fn secret(place: &str) -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(common::now_nanos());
    format!("{place}-{:016x}", hasher.finish())
}

/// One HTTP request as a receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: String,
}

/// A loopback HTTP server recording every request; `answer` picks the status line from
/// the request head.
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    fn start(answer: impl Fn(&str) -> &'static str + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream);
                let (mut head, mut length) = (String::new(), 0);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let status = answer(&head);
                let _ = reader.get_mut().write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                );
                let body = String::from_utf8_lossy(&body).into_owned();
                record.lock().unwrap().push(Seen { head, body });
            }
        });
        Self { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Every output read, by what it is.
#[derive(Default)]
struct Outputs(Vec<(String, String)>);

impl Outputs {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }

    /// `(output, secret tag)` for every planted secret found in an output.
    fn leaks(&self, secrets: &BTreeMap<&'static str, String>) -> Vec<(String, String)> {
        let mut leaks = Vec::new();
        for (what, text) in &self.0 {
            for (tag, value) in secrets {
                if text.contains(value.as_str()) {
                    leaks.push((what.clone(), (*tag).to_owned()));
                }
            }
        }
        leaks
    }
}

/// `composectl <args>` with `env`: exit code and both outputs.
fn cli(env: &[(&str, String)], args: &[&str]) -> (Option<i32>, String) {
    let output = common::composectl()
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("composectl runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// The canary project: `app` rolls out through an http gate that authenticates, `bad`
/// through one that fails.
fn compose(image: &str, literal: &str, gate: &str) -> String {
    let rollout = |path: &str| {
        format!(
            "{{strategy: canary, steps: [\"100%\"], monitor: 2s, gates: [{{type: http, \
             url: \"{gate}/{path}\", successes: 1, failures: 1, timeout: 2s}}]}}"
        )
    };
    let service = |name: &str, path: &str| {
        format!(
            "  {name}:\n    image: {image}\n    env_file: [app.env]\n    environment:\n      \
             FROM_PROCESS: ${{PROC_SECRET}}\n      FROM_DOTENV: ${{DOTENV_SECRET}}\n      \
             FROM_CONFIG: ${{CFG_SECRET}}\n      LITERAL: \"{literal}\"\n    \
             x-rollout: {}\n",
            rollout(path)
        )
    };
    format!(
        "services:\n{}{}",
        service("app", "ready?token=${GATE_TOKEN}"),
        service("bad", "fail?token=${GATE_TOKEN}")
    )
}

#[test]
fn no_planted_secret_appears_in_any_output() {
    let started = Instant::now();
    demo_image("v1");
    demo_image("v2");
    let secrets: BTreeMap<&'static str, String> = [
        "process",
        "process-only",
        "dotenv",
        "envfile",
        "literal",
        "config",
        "registry",
        "gate-pass",
        "gate-token",
        "hook-pass",
        "hook-token",
        "depends-on",
        "network",
        "volume",
        "help-env",
    ]
    .into_iter()
    .map(|place| (place, secret(place)))
    .collect();
    let s = |place: &str| secrets[place].clone();
    let mut all_secrets = secrets.clone();
    all_secrets.insert(
        "gate-basic",
        base64(&format!("gate-user:{}", s("gate-pass"))),
    );
    all_secrets.insert(
        "hook-basic",
        base64(&format!("hook-user:{}", s("hook-pass"))),
    );
    all_secrets.insert("registry-auth", base64(&format!("robot:{}", s("registry"))));

    // The receivers: the gate answers 200 to an authenticated /ready, 503 otherwise; the
    // webhook answers 500, so the failure path logs.
    let expected_auth = format!("authorization: basic {}", all_secrets["gate-basic"]);
    let gate = Receiver::start(move |head| {
        let lower = head.to_ascii_lowercase();
        if head.starts_with("GET /ready") && lower.contains(&expected_auth.to_ascii_lowercase()) {
            "200 OK"
        } else {
            "503 Service Unavailable"
        }
    });
    let hook = Receiver::start(|_| "500 Internal Server Error");
    let hook_url = format!(
        "http://hook-user:{}@{}/hook?token={}",
        s("hook-pass"),
        hook.addr,
        s("hook-token")
    );

    // The desired directory: the canary project, a project pulling from a registry with
    // credentials, one reading /proc/self/environ, one with interpolated names.
    let project = TestProject::new("secrets");
    let pull = TestProject::new("secrets-pull");
    let environ = TestProject::new("secrets-environ");
    let names = TestProject::new("secrets-names");
    let images = TestImages::new(&project);
    let gate_template = format!("http://gate-user:{}@{}", s("gate-pass"), gate.addr);
    let write_canary = |tag: &str| {
        project.write_compose(&compose(&images.image(tag), &s("literal"), &gate_template));
    };
    let p = project.name();
    project.write(
        &format!("{p}/.env"),
        &format!(
            "DOTENV_SECRET={}\nGATE_TOKEN={}\n",
            s("dotenv"),
            s("gate-token")
        ),
    );
    project.write(
        &format!("{p}/app.env"),
        &format!("FROM_ENV_FILE={}\n", s("envfile")),
    );
    write_canary("v1");
    let registry_port = free_port();
    project.write(
        &format!("{}/compose.yaml", pull.name()),
        &format!("services:\n  pulled:\n    image: 127.0.0.1:{registry_port}/secret/app:1\n"),
    );
    project.write(
        &format!("{}/compose.yaml", environ.name()),
        &format!(
            "services:\n  leaky:\n    image: {}\n    env_file: /proc/self/environ\n",
            images.image("v1")
        ),
    );
    let n = names.name();
    project.write(
        &format!("{n}/.env"),
        &format!(
            "DEP={}\nNET={}\nVOL={}\n",
            s("depends-on"),
            s("network"),
            s("volume")
        ),
    );
    project.write(
        &format!("{n}/compose.yaml"),
        &format!(
            "services:\n  web:\n    image: {}\n    depends_on: ['${{DEP}}']\n    \
             networks: ['${{NET}}']\n    volumes: ['${{VOL}}:/data']\n",
            images.image("v1")
        ),
    );

    // Outside the desired directory: the config file and the Docker config.
    let outside = tempfile::tempdir().unwrap();
    let config_file = outside.path().join("composectl.env");
    std::fs::write(&config_file, format!("CFG_SECRET={}\n", s("config"))).unwrap();
    let docker_config = outside.path().join("docker");
    std::fs::create_dir(&docker_config).unwrap();
    std::fs::write(
        docker_config.join("config.json"),
        format!(
            r#"{{"auths": {{"127.0.0.1:{registry_port}": {{"auth": "{}"}}}}}}"#,
            all_secrets["registry-auth"]
        ),
    )
    .unwrap();
    let env: Vec<(&str, String)> = vec![
        ("PROC_SECRET", s("process")),
        ("PROC_ONLY_SECRET", s("process-only")),
        ("DOCKER_CONFIG", docker_config.display().to_string()),
        ("COMPOSECTL_CONFIG", config_file.display().to_string()),
        ("COMPOSECTL_WEBHOOK", hook_url.clone()),
    ];
    let desired = project.dir().display().to_string();
    let mut outputs = Outputs::default();

    // One-shot commands.
    for (what, args) in [
        ("validate", vec!["validate", "-d", &desired]),
        ("plan", vec!["plan", "-d", &desired]),
        (
            "apply --once --log debug",
            vec!["apply", "--once", "-d", &desired, "--log", "debug"],
        ),
        (
            "apply --once --log debug,bollard=debug,hyper=debug",
            vec![
                "apply",
                "--once",
                "-d",
                &desired,
                "--log",
                "debug,bollard=debug,hyper=debug",
            ],
        ),
    ] {
        let (code, text) = cli(&env, &args);
        assert_ne!(code, Some(0), "{what} reports the broken projects:\n{text}");
        outputs.add(what, text);
    }
    // `--help` with every variable of every argument set to a secret (a URL with one too).
    let help_names = composectl::config_file::known_settings(&composectl::cli::command());
    let mut help_env: Vec<(&str, String)> = env
        .iter()
        .filter(|(k, _)| !help_names.contains(*k))
        .cloned()
        .collect();
    for name in &help_names {
        let value = match name.as_str() {
            "COMPOSECTL_WEBHOOK" | "DOCKER_HOST" => format!("tcp://u:{}@h:1", s("help-env")),
            _ => s("help-env"),
        };
        help_env.push((name.as_str(), value));
    }
    let closed = format!(
        "http://probe:{}@127.0.0.1:{}/healthz",
        s("gate-pass"),
        free_port()
    );
    outputs.add("healthcheck", cli(&env, &["healthcheck", &closed]).1);
    for command in [
        &[][..],
        &["run"],
        &["plan"],
        &["apply"],
        &["validate"],
        &["healthcheck"],
        &["rollout"],
        &["rollout", "status"],
        &["rollout", "pause"],
        &["rollout", "resume"],
        &["rollout", "promote"],
        &["rollout", "abort"],
        &["rollout", "undo"],
        &["rollout", "history"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let (code, text) = cli(&help_env, &args);
        assert_eq!(code, Some(0), "{args:?}: {text}");
        outputs.add(args.join(" "), text);
    }

    // The daemon, logging debug as JSON; v2 rolls out: `app` promotes, `bad` rolls back.
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let listen_text = listen.to_string();
    let flags = [
        "--log",
        "debug",
        "--log-format",
        "json",
        "--listen",
        listen_text.as_str(),
    ];
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut daemon = Daemon::start_dir_env(project.dir(), &flags, &env_refs);
    daemon.wait_ready();
    write_canary("v2");
    let target = |service: &str| format!("{p}/{service}");
    let phase = |service: &str| {
        let (_, text) = cli(&env, &["rollout", "status", "--json", &target(service)]);
        serde_json::from_str::<Value>(text.trim())
            .ok()
            .and_then(|v| v["services"][0]["phase"].as_str().map(str::to_owned))
    };
    let settled = wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
        phase("app").as_deref() == Some("complete")
            && phase("bad").as_deref() == Some("rolled_back")
            && hook.seen().len() >= 2
    });
    assert!(
        settled,
        "app {:?}, bad {:?}, webhook posts {}",
        phase("app"),
        phase("bad"),
        hook.seen().len()
    );

    // The gate authenticated with the URL's userinfo, never sent in the Host header.
    let gate_requests = gate.seen();
    assert!(
        gate_requests
            .iter()
            .any(|r| r.head.starts_with("GET /ready?token=")
                && r.head.to_ascii_lowercase().contains(&format!(
                    "authorization: basic {}",
                    all_secrets["gate-basic"].to_ascii_lowercase()
                ))),
        "the gate sent basic auth: {gate_requests:#?}"
    );
    assert!(
        gate_requests
            .iter()
            .all(|r| !r.head.to_ascii_lowercase().contains("host: gate-user")),
        "{gate_requests:#?}"
    );
    let posts = hook.seen();
    assert!(
        posts
            .iter()
            .all(|r| r.head.contains("Authorization: Basic ")),
        "the webhook sent basic auth: {posts:#?}"
    );

    for service in ["app", "bad"] {
        for args in [
            vec!["rollout", "status", &target(service)],
            vec!["rollout", "status", "--json", &target(service)],
            vec!["rollout", "history", &target(service)],
            vec!["rollout", "history", "--json", &target(service)],
        ] {
            let (code, text) = cli(&env, &args);
            assert_eq!(code, Some(0), "{args:?}: {text}");
            outputs.add(args.join(" "), text);
        }
    }
    for path in ["/metrics", "/healthz", "/readyz", "/status"] {
        let (_, body) = http_get(listen, path).expect("the endpoint answers");
        outputs.add(format!("GET {path}"), body);
    }
    let status = outputs.0.last().map(|(_, b)| b.clone()).unwrap_or_default();
    assert!(
        status.contains(environ.name()) && status.contains(n),
        "{status}"
    );
    for (i, post) in posts.iter().enumerate() {
        outputs.add(format!("webhook body {i}"), post.body.clone());
    }
    let log = daemon.log();
    assert!(log.contains("\"level\":\"DEBUG\""), "debug logs are on");
    assert!(
        log.contains("refused the rollout event"),
        "the webhook failure is logged"
    );
    drop(daemon);
    outputs.add("daemon log", log);

    // The state files: no secret outside the history's specs; modes 0600 and 0700.
    let instance_dir = common::state_base().join(common::test_instance());
    for (path, text) in state_files(&instance_dir) {
        let name = path.display().to_string();
        if path.file_name().is_some_and(|f| f == "history.json") {
            let mut history: Value = serde_json::from_str(&text).unwrap();
            for entry in history["entries"].as_array_mut().unwrap() {
                entry.as_object_mut().unwrap().remove("spec");
            }
            outputs.add(format!("{name} without its specs"), history.to_string());
        } else {
            outputs.add(name, text);
        }
    }

    // SECRETS_TEST_DUMP=DIR keeps every output read, to look at what the user sees.
    if let Some(dir) = std::env::var_os("SECRETS_TEST_DUMP") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, (what, text)) in outputs.0.iter().enumerate() {
            let name: String = what
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            std::fs::write(dir.join(format!("{i:02}-{name}.txt")), text).unwrap();
        }
    }
    let leaks = outputs.leaks(&all_secrets);
    assert!(
        leaks.is_empty(),
        "{} leaks (output, secret): {leaks:#?}",
        leaks.len()
    );
    eprintln!(
        "read {} outputs, {} secrets each: no leak; took {:?}",
        outputs.0.len(),
        all_secrets.len(),
        started.elapsed()
    );
}

/// Every state file under `dir` with its text (the control socket left out), after
/// checking the modes: directories 0700, files 0600.
fn state_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", path.display());
                files.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    assert!(
        files.iter().any(|(p, _)| p.ends_with("app/history.json")),
        "{files:?}"
    );
    files
}
