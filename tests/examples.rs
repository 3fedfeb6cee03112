//! The examples under `examples/` stay correct: the NAS stack validates with the real
//! binary (and fails naming the file and line without its secrets), the alert rules pass
//! `promtool check rules` and their own `promtool test rules` unit tests, and the Grafana
//! dashboard is valid JSON whose queries parse and use only composectl's metric names.
//!
//! `promtool` comes from Debian's `prometheus` package (installed by `.ci/run`); without it
//! the promtool tests fail, saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use composectl::desired::{self, ProjectLoad};
use composectl::model::spec::{DependsOn, MountKind, ProjectSpec};

/// The secrets the NAS stack takes from composectl's environment, with test values.
const NAS_SECRETS: [(&str, &str); 3] = [
    ("POSTGRES_PASSWORD", "pg-secret-value-7f3a"),
    ("MINIO_ROOT_PASSWORD", "minio-secret-value-91c2"),
    ("GRAFANA_ADMIN_PASSWORD", "grafana-secret-value-5d10"),
];

/// The metric names composectl exports (issue 4's list); a histogram also has its
/// `_bucket`, `_sum` and `_count` series.
const METRICS: [&str; 18] = [
    "composectl_reconcile_duration_seconds",
    "composectl_last_successful_reconcile_timestamp_seconds",
    "composectl_desired_load_errors_total",
    "composectl_desired_valid",
    "composectl_drift_detected_total",
    "composectl_managed_containers",
    "composectl_heals_total",
    "composectl_crash_backoff_seconds",
    "composectl_docker_api_calls_total",
    "composectl_docker_api_call_duration_seconds_total",
    "composectl_event_stream_reconnects_total",
    "composectl_event_stream_up",
    "composectl_rollouts_total",
    "composectl_rollout_step",
    "composectl_gate_evaluations_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
];

const HISTOGRAMS: [&str; 1] = ["composectl_reconcile_duration_seconds"];

/// The alerts composectl-alerts.yml defines.
const ALERTS: [&str; 8] = [
    "ComposectlDown",
    "ComposectlAbsent",
    "ComposectlReconcileFailing",
    "ComposectlDesiredStateInvalid",
    "ComposectlRolloutRolledBack",
    "ComposectlReplicaCrashLooping",
    "ComposectlReplicaHealedRepeatedly",
    "ComposectlEventStreamDown",
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn nas_compose() -> PathBuf {
    examples().join("nas/nas/compose.yaml")
}

/// `composectl validate --desired examples/nas` with only `env` in its environment, as on
/// a fresh host (an empty state directory of its own: never the host's privilege records).
fn validate_nas(env: &[(&str, &str)]) -> Output {
    let state = tempfile::tempdir().expect("a temporary state directory");
    Command::new(env!("CARGO_BIN_EXE_composectl"))
        .arg("--state-dir")
        .arg(state.path())
        .args(["validate", "--desired"])
        .arg(examples().join("nas"))
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the composectl binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The NAS project loaded through the library, with the test secrets.
fn nas_spec() -> ProjectSpec {
    let env: BTreeMap<String, String> = NAS_SECRETS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let report = desired::load_dir(&examples().join("nas"), &env).expect("examples/nas lists");
    let load: ProjectLoad = report
        .projects
        .into_iter()
        .find_map(|(name, load)| (name == "nas").then_some(load))
        .expect("examples/nas holds the project nas");
    load.expect("the nas project loads").spec
}

/// 1-based numbers of the lines of `file` that contain `needle`.
fn lines_containing(file: &Path, needle: &str) -> Vec<usize> {
    let content = std::fs::read_to_string(file).expect("the file reads");
    let found: Vec<usize> = content
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert!(!found.is_empty(), "{} has no {needle:?}", file.display());
    found
}

#[test]
fn nas_stack_validates_without_warnings() {
    let out = validate_nas(&NAS_SECRETS);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "validate failed:\n{stdout}\n{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "validate wrote to stderr:\n{stderr}"
    );
    assert!(stdout.contains("nas (11 services)"), "stdout: {stdout}");
}

#[test]
fn nas_stack_without_postgres_password_fails_naming_the_variable_and_its_lines() {
    let others: Vec<(&str, &str)> = NAS_SECRETS
        .into_iter()
        .filter(|(k, _)| *k != "POSTGRES_PASSWORD")
        .collect();
    let out = validate_nas(&others);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    for line in lines_containing(&nas_compose(), "${POSTGRES_PASSWORD:?") {
        let at = format!("nas/compose.yaml:{line}:");
        let named = stderr
            .lines()
            .any(|l| l.contains(&at) && l.contains("POSTGRES_PASSWORD"));
        assert!(
            named,
            "no error at {at} naming POSTGRES_PASSWORD in:\n{stderr}"
        );
    }
    let errors = stderr
        .lines()
        .filter(|l| l.contains("compose.yaml:"))
        .count();
    // (The secret db_password reads POSTGRES_PASSWORD too; interpolation fails first.)
    let uses = lines_containing(&nas_compose(), "${POSTGRES_PASSWORD:?").len();
    assert_eq!(
        errors, uses,
        "only the missing variable is an error:\n{stderr}"
    );
    for (_, value) in others {
        assert!(!stderr.contains(value), "a secret value was printed");
    }
}

#[test]
fn nas_stack_runs_three_app_replicas_under_a_canary_behind_healthy_dependencies() {
    let spec = nas_spec();
    let app = &spec.services["app"];
    assert_eq!(app.replicas, 3);
    assert_eq!(app.limits.memory, Some(768 * 1024 * 1024));
    assert!(app.healthcheck.is_some(), "app has a healthcheck");
    let rollout = &app.extensions["x-rollout"];
    assert_eq!(rollout["strategy"], "canary");
    assert_eq!(rollout["steps"], serde_json::json!([1, "100%"]));
    assert_eq!(rollout["monitor"], "60s");
    let threshold = rollout["gates"][1]["max"].as_f64();
    assert_eq!(threshold, Some(0.05), "the 5 % 5xx gate");
    let config = composectl::rollout::RolloutConfig::from_service(app).unwrap();
    assert_eq!(config.strategy.name(), "canary");
    assert_eq!(config.canary.monitor, std::time::Duration::from_secs(60));
    for dependency in ["postgres", "redis", "minio"] {
        assert_eq!(app.depends_on.get(dependency), Some(&DependsOn::Healthy));
    }
    assert_eq!(
        spec.services["nginx"].depends_on.get("app"),
        Some(&DependsOn::Healthy)
    );
    let postgres = &spec.services["postgres"];
    assert_eq!(postgres.shm_size, Some(256 * 1024 * 1024));
    assert_eq!(
        postgres
            .environment
            .get("POSTGRES_PASSWORD_FILE")
            .map(String::as_str),
        Some("/run/secrets/db_password")
    );
    assert!(!postgres.environment.contains_key("POSTGRES_PASSWORD"));
    let secret = &postgres.secrets[0];
    assert_eq!(
        (secret.source.as_str(), secret.target.as_str()),
        ("db_password", "/run/secrets/db_password")
    );
    assert_eq!(
        spec.secrets["db_password"].digest,
        composectl::model::files::FileDef::new("db_password", b"pg-secret-value-7f3a".to_vec())
            .digest,
        "the secret holds POSTGRES_PASSWORD from composectl's environment"
    );
    let expected = [
        "alertmanager",
        "app",
        "grafana",
        "loki",
        "minio",
        "nginx",
        "postgres",
        "prometheus",
        "promtail",
        "redis",
        "zipkin",
    ];
    let names: Vec<&str> = spec.services.keys().map(String::as_str).collect();
    assert_eq!(names, expected);
}

#[test]
fn nas_stack_mounts_only_config_files_that_exist_in_the_repository() {
    let spec = nas_spec();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for service in spec.services.values() {
        for mount in &service.mounts {
            let MountKind::Bind { source, .. } = &mount.kind else {
                continue;
            };
            if !source.starts_with(root) {
                continue; // a host path (certificates, the Docker socket)
            }
            let exists = source.exists();
            assert!(exists, "{}: {} is missing", service.name, source.display());
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} repository files are mounted");
}

#[test]
fn nas_stack_config_files_parse() {
    let dir = examples().join("nas/nas");
    let files = [
        "alertmanager/alertmanager.yml",
        "loki/loki.yaml",
        "promtail/promtail.yaml",
        "grafana/provisioning/datasources/datasources.yaml",
        "grafana/provisioning/dashboards/dashboards.yaml",
    ];
    for file in files {
        let path = dir.join(file);
        let content = std::fs::read_to_string(&path).expect("the config file reads");
        let parsed = desired::yaml::parse(&content, &path);
        assert!(matches!(parsed, Ok(Some(_))), "{file}: {parsed:?}");
    }
    let (ok, out) = promtool(&dir, &["check", "config", "prometheus/prometheus.yml"]);
    assert!(ok, "promtool check config failed:\n{out}");
}

/// Runs `promtool args` in `dir`; panics when promtool is not installed.
fn promtool(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): install Debian's `prometheus` package")
        });
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.success(), all)
}

#[test]
fn alert_rules_pass_promtool_check_with_every_alert() {
    let dir = examples().join("monitoring");
    let (ok, out) = promtool(&dir, &["check", "rules", "composectl-alerts.yml"]);
    assert!(ok, "promtool check rules failed:\n{out}");
    let count = format!("SUCCESS: {} rules found", ALERTS.len());
    assert!(out.contains(&count), "expected {count:?}:\n{out}");
    let rules = std::fs::read_to_string(dir.join("composectl-alerts.yml")).unwrap();
    for alert in ALERTS {
        assert!(rules.contains(&format!("- alert: {alert}\n")), "{alert}");
    }
    assert_eq!(rules.matches("severity:").count(), ALERTS.len());
    assert_eq!(rules.matches("summary:").count(), ALERTS.len());
    assert_eq!(rules.matches("description:").count(), ALERTS.len());
    assert_only_known_metrics("composectl-alerts.yml", &rules);
}

#[test]
fn alert_rules_unit_tests_pass_and_cover_firing_and_quiet_cases() {
    let dir = examples().join("monitoring");
    let (ok, out) = promtool(&dir, &["test", "rules", "composectl-alerts.test.yml"]);
    assert!(ok, "promtool test rules failed:\n{out}");
    let tests = std::fs::read_to_string(dir.join("composectl-alerts.test.yml")).unwrap();
    let tests = tests.replace("\r\n", "\n");
    for alert in ALERTS {
        let case = format!("alertname: {alert}\n        exp_alerts:");
        let fires = format!("{case}\n          - exp_labels:");
        let quiet = format!("{case} []");
        assert!(tests.contains(&fires), "no test where {alert} fires");
        assert!(tests.contains(&quiet), "no test where {alert} stays quiet");
    }
}

/// Every `composectl_*` / `process_*` name in `text` is one of [`METRICS`].
fn assert_only_known_metrics(source: &str, text: &str) {
    for name in metric_names(text) {
        assert!(is_known_metric(&name), "{source}: unknown metric {name}");
    }
}

fn is_known_metric(name: &str) -> bool {
    METRICS.contains(&name)
        || HISTOGRAMS.iter().any(|h| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| name == format!("{h}{suffix}"))
        })
}

/// The `composectl_[a-z_]+` and `process_[a-z_]+` tokens of `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    for prefix in ["composectl_", "process_"] {
        for (start, _) in text.match_indices(prefix) {
            let glued = start > 0 && is_name_byte(bytes[start - 1]);
            if glued {
                continue;
            }
            let end = text[start..]
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .map_or(text.len(), |n| start + n);
            names.insert(text[start..end].to_string());
        }
    }
    names
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn dashboard() -> serde_json::Value {
    let path = examples().join("monitoring/composectl-dashboard.json");
    let raw = std::fs::read_to_string(&path).expect("the dashboard reads");
    serde_json::from_str(&raw).expect("the dashboard is valid JSON")
}

/// Every panel, including those nested in collapsed rows.
fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels is a list") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// (panel title, PromQL) of every query of the dashboard.
fn queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("?").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            found.push((title.clone(), expr.to_string()));
        }
    }
    found
}

#[test]
fn dashboard_has_a_prometheus_datasource_variable_used_by_every_panel() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let datasource = variables
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["query"], "prometheus");
    let reference = format!("${{{}}}", datasource["name"].as_str().unwrap());
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        assert!(
            ids.insert(panel["id"].as_u64()),
            "duplicate id {}",
            panel["id"]
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"],
            reference.as_str(),
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().expect("targets") {
            assert_eq!(target["datasource"]["uid"], reference.as_str());
        }
    }
}

#[test]
fn dashboard_queries_use_only_composectl_metrics_and_show_each_of_them() {
    let dashboard = dashboard();
    let mut shown = BTreeSet::new();
    for (title, expr) in queries(&dashboard) {
        assert_only_known_metrics(&title, &expr);
        shown.extend(metric_names(&expr));
    }
    let missing: Vec<&str> = METRICS
        .iter()
        .copied()
        .filter(|m| !shown.iter().any(|s| s.starts_with(m)))
        .collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
}

#[test]
fn dashboard_queries_parse_as_promql() {
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let queries = queries(&dashboard());
    for (i, (_, expr)) in queries.iter().enumerate() {
        let concrete = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "1h")
            .replace("$job", "composectl")
            .replace("$instance", ".*")
            .replace("$project", ".*");
        let quoted = serde_json::to_string(&concrete).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    std::fs::write(dir.path().join("dashboard.yml"), rules).unwrap();
    let (ok, out) = promtool(dir.path(), &["check", "rules", "dashboard.yml"]);
    assert!(ok, "a dashboard query does not parse:\n{out}");
    let count = format!("SUCCESS: {} rules found", queries.len());
    assert!(out.contains(&count), "expected {count:?}:\n{out}");
}
