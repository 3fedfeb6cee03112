//! Project-level behaviour: layout, names, broken files, profiles, overrides, anchors.

use super::*;
use crate::desired::Error;

#[test]
fn a_broken_project_fails_alone_and_names_file_line_and_key() {
    let d = Desired::new();
    d.write(
        "alpha/compose.yaml",
        "services:\n  web:\n    image: nginx\n",
    )
    .write(
        "beta/docker-compose.yml",
        "services:\n  db:\n    image: postgres:16\n",
    )
    .write(
        "broken/compose.yaml",
        "services:\n  web:\n    image: nginx\n    ports:\n      - \"80:abc\"\n",
    );
    let report = d.load();
    assert_eq!(ok(&report, "alpha").spec.services["web"].image, "nginx");
    assert_eq!(ok(&report, "beta").spec.services["db"].image, "postgres:16");
    let text = err_text(&report, "broken");
    let file = d.root().join("broken/compose.yaml");
    let want = format!(
        "{}:5:9: services.web.ports[0]: \"80:abc\" has a port",
        file.display()
    );
    assert!(text.starts_with(&want), "{text}");
}

#[test]
fn truncated_and_empty_files_fail_only_their_project() {
    let d = Desired::new();
    d.write("good/compose.yaml", "services:\n  web:\n    image: nginx\n")
        .write("cut/compose.yaml", "services:\n  web:\n    image: \"ngi")
        .write("empty/compose.yaml", "")
        .write("noservices/compose.yaml", "name: x\nnetworks: {}\n");
    let report = d.load();
    ok(&report, "good");
    assert!(
        matches!(err(&report, "cut"), Error::Yaml { line: 3, .. }),
        "{}",
        err_text(&report, "cut")
    );
    assert!(err_text(&report, "empty").contains("the file is empty"));
    assert!(err_text(&report, "x").contains("services: the file defines no services"));
}

#[test]
fn top_level_yaml_files_are_projects_rooted_at_the_desired_directory() {
    let d = Desired::new();
    d.write("Monitoring.yml", "services:\n  prom:\n    image: prom/prometheus\n    volumes: [./prom.yml:/etc/prometheus/prometheus.yml:ro]\n")
        .write("notes.txt", "not a project");
    let report = d.load();
    let loaded = ok(&report, "monitoring");
    assert_eq!(
        loaded.spec.working_dir,
        std::path::absolute(d.root()).unwrap()
    );
    let mount = &loaded.spec.services["prom"].mounts[0];
    assert_eq!(
        mount.kind,
        crate::model::spec::MountKind::Bind {
            source: std::path::absolute(d.root().join("prom.yml")).unwrap(),
            create_host_path: true
        }
    );
    assert!(mount.read_only);
    assert_eq!(report.projects.len(), 1);
}

#[test]
fn dot_directories_and_dot_files_are_ignored() {
    let d = Desired::new();
    d.write(".git/compose.yaml", "services:\n  x:\n    image: x\n")
        .write(".hidden.yaml", "services:\n  x:\n    image: x\n")
        .write("app/compose.yaml", "services:\n  x:\n    image: x\n");
    let report = d.load();
    assert_eq!(report.projects.keys().collect::<Vec<_>>(), ["app"]);
}

#[test]
fn same_final_name_fails_both_sources_naming_both_paths() {
    let d = Desired::new();
    d.write("Shop/compose.yaml", "services:\n  x:\n    image: x\n")
        .write("other.yaml", "name: shop\nservices:\n  y:\n    image: y\n");
    let report = d.load();
    let text = err_text(&report, "shop");
    assert!(matches!(
        err(&report, "shop"),
        Error::DuplicateProject { .. }
    ));
    assert!(
        text.contains("Shop") && text.contains("other.yaml"),
        "{text}"
    );
}

#[test]
fn top_level_name_overrides_and_is_normalized() {
    let d = Desired::new();
    d.write(
        "dir/compose.yaml",
        "name: My.Shop\nversion: '3.8'\nservices:\n  x:\n    image: x\n",
    );
    let report = d.load();
    let loaded = ok(&report, "myshop");
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("version: `version` is obsolete"),
        "{warnings:?}"
    );
    assert_eq!(loaded.spec.networks["default"].name, "myshop_default");
}

#[test]
fn profiles_select_services_from_the_environment_or_dotenv() {
    let file =
        "services:\n  app:\n    image: app\n  debug:\n    image: busybox\n    profiles: [debug]\n";
    let d = Desired::new();
    d.write("p/compose.yaml", file);
    let names = |report: &crate::desired::LoadReport| {
        ok(report, "p")
            .spec
            .services
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&d.load()), ["app"]);
    assert_eq!(
        names(&d.load_with(&[("COMPOSE_PROFILES", "other,debug")])),
        ["app", "debug"]
    );
    d.write("p/.env", "COMPOSE_PROFILES=debug\n");
    assert_eq!(names(&d.load()), ["app", "debug"]);
    assert_eq!(
        names(&d.load_with(&[("COMPOSE_PROFILES", "none")])),
        ["app"]
    );
}

#[test]
fn the_override_file_is_merged_over_the_base() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        "services:\n  web:\n    image: web:1\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
    )
    .write(
        "shop/compose.override.yaml",
        "services:\n  web:\n    image: web:2\n    ports: ['443:443']\n    environment: [B=3]\n  extra:\n    image: extra\n",
    );
    let report = d.load();
    let loaded = ok(&report, "shop");
    let web = &loaded.spec.services["web"];
    assert_eq!(web.image, "web:2");
    assert_eq!(
        web.ports.iter().map(|p| p.target).collect::<Vec<_>>(),
        [80, 443]
    );
    assert_eq!(web.environment["A"], "1");
    assert_eq!(web.environment["B"], "3");
    assert!(loaded.spec.services.contains_key("extra"));
    assert_eq!(loaded.spec.config_files.len(), 2);
}

#[test]
fn merge_keys_share_settings_through_x_anchors() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        concat!(
            "x-common: &common\n  restart: always\n  labels: {team: core}\n",
            "x-logs: &logs\n  logging: {driver: json-file, options: {max-size: 10m}}\n",
            "services:\n",
            "  one:\n    <<: *common\n    image: one\n",
            "  two:\n    <<: [*common, *logs]\n    image: two\n    restart: unless-stopped\n",
        ),
    );
    let report = d.load();
    let loaded = ok(&report, "a");
    use crate::model::spec::RestartPolicy;
    let (one, two) = (&loaded.spec.services["one"], &loaded.spec.services["two"]);
    assert_eq!(one.restart, RestartPolicy::Always);
    assert_eq!(two.restart, RestartPolicy::UnlessStopped);
    assert_eq!(two.labels["team"], "core");
    assert_eq!(two.logging.as_ref().unwrap().options["max-size"], "10m");
    assert!(loaded.spec.extensions.contains_key("x-common"));
}

#[test]
fn unknown_keys_fail_the_project_with_their_line() {
    let d = Desired::new();
    d.write("a/compose.yaml", "services:\n  web:\n    image: nginx\n    imagee: typo\n    healthcheck:\n      test: true-ish\n      intervall: 5s\n");
    let report = d.load();
    let Error::Invalid(warnings) = err(&report, "a") else {
        panic!("not Invalid")
    };
    let lines: Vec<_> = warnings.iter().map(|w| (w.key.as_str(), w.line)).collect();
    assert_eq!(
        lines,
        [
            ("services.web.imagee", Some(4)),
            ("services.web.healthcheck.intervall", Some(7))
        ]
    );
    assert!(
        warnings[0]
            .to_string()
            .contains(":4:5: services.web.imagee: unknown key `imagee`"),
        "{}",
        warnings[0]
    );
}

#[test]
fn several_problems_are_reported_at_once() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        "services:\n  web:\n    image: nginx\n    restart: sometimes\n    ports: ['99999']\n    stop_grace_period: 10\n",
    );
    let report = d.load();
    let Error::Invalid(diagnostics) = err(&report, "a") else {
        panic!("not Invalid")
    };
    let keys: Vec<_> = diagnostics.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "services.web.restart",
            "services.web.ports[0]",
            "services.web.stop_grace_period"
        ]
    );
    assert!(
        diagnostics[2].message.contains("no unit"),
        "{}",
        diagnostics[2]
    );
}

#[test]
fn an_unreadable_root_is_the_only_error_of_load_dir() {
    let env = BTreeMap::new();
    let missing = Path::new("/nonexistent/desired");
    assert!(matches!(
        load_dir(missing, &env),
        Err(Error::RootUnreadable { .. })
    ));
}

#[test]
fn compose_merge_tags_and_unknown_tags_fail_naming_the_tag_and_line() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        "services:\n  web:\n    image: nginx\n    ports: !reset []\n",
    )
    .write(
        "b/compose.yaml",
        "services:\n  web:\n    image: nginx\n    environment: !override\n      A: '1'\n",
    )
    .write(
        "c/compose.yaml",
        "services:\n  web:\n    image: nginx\n    user: !custom root\n",
    );
    let report = d.load();
    let a = err_text(&report, "a");
    assert!(
        a.contains(":4:") && a.contains("`!reset` is not supported"),
        "{a}"
    );
    let b = err_text(&report, "b");
    assert!(
        b.contains(":4:") && b.contains("`!override` is not supported"),
        "{b}"
    );
    let c = err_text(&report, "c");
    assert!(c.contains("`!custom` has no meaning"), "{c}");
}
