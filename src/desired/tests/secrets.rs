//! Secrets and configs: definitions, references, sources, bounds, and messages that never
//! hold a value.

use super::*;
use crate::desired::limits::MAX_FILE_SOURCE_BYTES;
use crate::desired::origins::HostPathUse;
use crate::model::files::FileKind;

const SECRET_VALUE: &str = "pa55-w0rd-never-shown";

fn compose(services: &str, top: &str) -> String {
    format!("services:\n  web:\n    image: x\n{services}{top}")
}

#[test]
fn short_and_long_syntax_resolve_targets_owner_and_mode_as_compose_does() {
    use std::os::unix::fs::PermissionsExt;
    let d = Desired::new();
    d.write("a/db.txt", SECRET_VALUE);
    // A reference without `mode:` shows a `file:` source's own bits, as compose's bind
    // mount of the file does; other sources get 0444.
    std::fs::set_permissions(
        d.root().join("a/db.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    d.write(
        "a/compose.yaml",
        &compose(
            concat!(
                "    secrets:\n",
                "      - db\n",
                "      - {source: db, target: other, uid: '1000', gid: 50, mode: 0400}\n",
                "      - {source: db, target: /etc/db.key, mode: \"0440\"}\n",
                "    configs:\n",
                "      - app\n",
                "      - {source: app, target: conf/app.ini, mode: 0o644}\n",
            ),
            concat!(
                "secrets:\n  db:\n    file: ./db.txt\n",
                "configs:\n  app:\n    content: |\n      port=${PORT}\n",
            ),
        ),
    );
    let report = d.load_with(&[("PORT", "8080")]);
    let loaded = ok(&report, "a");
    let web = &loaded.spec.services["web"];
    let targets: Vec<(&str, u32, Option<u32>, Option<u32>)> = web
        .secrets
        .iter()
        .chain(&web.configs)
        .map(|r| (r.target.as_str(), r.mode, r.uid, r.gid))
        .collect();
    assert_eq!(
        targets,
        [
            ("/run/secrets/db", 0o640, None, None),
            ("/run/secrets/other", 0o400, Some(1000), Some(50)),
            ("/etc/db.key", 0o440, None, None),
            ("/app", 0o444, None, None),
            ("/conf/app.ini", 0o644, None, None),
        ]
    );
    let db = &loaded.spec.secrets["db"];
    assert_eq!(db.content.0, SECRET_VALUE.as_bytes());
    assert_eq!(web.secrets[0].digest, db.digest);
    assert_eq!(web.configs[0].kind, FileKind::Config);
    assert_eq!(loaded.spec.configs["app"].content.0, b"port=8080\n");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn an_environment_source_reads_the_variable_and_dotenv() {
    let d = Desired::new();
    d.write("a/.env", "FROM_DOTENV=dotenv-value\n").write(
        "a/compose.yaml",
        &compose(
            "    secrets: [token]\n    configs: [conf]\n",
            "secrets:\n  token:\n    environment: TOKEN\nconfigs:\n  conf:\n    environment: FROM_DOTENV\n",
        ),
    );
    let report = d.load_with(&[("TOKEN", SECRET_VALUE)]);
    let spec = &ok(&report, "a").spec;
    assert_eq!(spec.secrets["token"].content.0, SECRET_VALUE.as_bytes());
    assert_eq!(spec.configs["conf"].content.0, b"dotenv-value");
    assert!(crate::redact::text(SECRET_VALUE).contains(crate::redact::MASK));
}

#[test]
fn an_unset_environment_source_names_the_variable() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &compose(
            "    secrets: [token]\n",
            "secrets:\n  token:\n    environment: TOKEN\n",
        ),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("secrets.token.environment: the variable TOKEN this secret reads is not set"),
        "{text}"
    );
}

#[test]
fn an_undeclared_secret_is_an_error_naming_it() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &compose("    secrets: [nope]\n    configs: [{source: gone}]\n", ""),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("services.web.secrets[0]: secret `nope` is not declared"),
        "{text}"
    );
    assert!(
        text.contains("config `gone` is not declared; add it under the top-level `configs:`"),
        "{text}"
    );
}

#[test]
fn external_and_swarm_keys_are_errors_and_name_and_labels_warn() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &compose(
            "    secrets: [ext]\n",
            concat!(
                "secrets:\n  ext:\n    external: true\n",
                "  drv:\n    file: x\n    driver: vault\n    driver_opts: {a: b}\n",
                "configs:\n  tpl:\n    content: x\n    template_driver: golang\n",
            ),
        ),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("secrets.ext.external: an external secret lives in a Docker Swarm"),
        "{text}"
    );
    assert!(
        text.contains("secrets.drv.driver: `driver` names a Swarm"),
        "{text}"
    );
    assert!(text.contains("secrets.drv.driver_opts"), "{text}");
    assert!(text.contains("configs.tpl.template_driver"), "{text}");

    let d = Desired::new();
    d.write("a/k", "k").write(
        "a/compose.yaml",
        &compose(
            "    secrets: [k]\n",
            "secrets:\n  k:\n    file: k\n    name: real-name\n    labels: {a: b}\n",
        ),
    );
    let report = d.load();
    let warnings: Vec<String> = ok(&report, "a")
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().all(|w| w.contains("has no effect")),
        "{warnings:?}"
    );
}

#[test]
fn a_definition_needs_exactly_one_source_and_secrets_have_no_content() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &compose(
            "    secrets: [none, two]\n",
            "secrets:\n  none: {}\n  two:\n    file: a\n    environment: B\n  inline:\n    content: x\n",
        ),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("secrets.none: the secret has no source"),
        "{text}"
    );
    assert!(
        text.contains("secrets.two: the secret has more than one source"),
        "{text}"
    );
    assert!(
        text.contains("secrets.inline.content: unknown key"),
        "{text}"
    );
}

#[test]
fn a_secret_file_over_the_limit_or_missing_is_an_error_without_its_content() {
    let d = Desired::new();
    let big = SECRET_VALUE.repeat((MAX_FILE_SOURCE_BYTES as usize) / SECRET_VALUE.len() + 1);
    d.write("a/big.txt", &big).write(
        "a/compose.yaml",
        &compose(
            "    secrets: [big, missing]\n",
            "secrets:\n  big:\n    file: big.txt\n  missing:\n    file: missing.txt\n",
        ),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("secrets.big.file: secret file") && text.contains("over the limit"),
        "{text}"
    );
    assert!(text.contains("missing.txt does not exist"), "{text}");
    assert!(!text.contains(SECRET_VALUE), "{text}");
}

#[test]
fn bad_modes_ids_and_targets_are_errors_without_values() {
    let d = Desired::new();
    d.write("a/s", SECRET_VALUE).write(
        "a/compose.yaml",
        &compose(
            concat!(
                "    secrets:\n",
                "      - {source: s, mode: \"9\"}\n",
                "      - {source: s, uid: root}\n",
                "      - {source: s, target: ../../etc/passwd}\n",
                "      - {source: s, typo: 1}\n",
            ),
            "secrets:\n  s:\n    file: s\n",
        ),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("secrets[0].mode: \"9\" is not a file mode"),
        "{text}"
    );
    assert!(
        text.contains("secrets[1].uid: expected a numeric ID"),
        "{text}"
    );
    assert!(text.contains("secrets[2].target"), "{text}");
    assert!(text.contains("secrets[3].typo: unknown key"), "{text}");
    assert!(!text.contains(SECRET_VALUE), "{text}");
}

#[test]
fn a_file_source_outside_the_desired_directory_is_recorded_for_the_host_policy() {
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("db.key");
    std::fs::write(&file, SECRET_VALUE).unwrap();
    let d = Desired::new();
    d.write("a/inside.txt", "inside").write(
        "a/compose.yaml",
        &compose(
            "    secrets: [outside, inside]\n",
            &format!(
                "secrets:\n  outside:\n    file: {}\n  inside:\n    file: inside.txt\n  unused:\n    file: /nonexistent\n",
                file.display()
            ),
        ),
    );
    let report = d.load();
    let loaded = ok(&report, "a");
    let used: Vec<_> = loaded
        .origins
        .host_paths
        .iter()
        .filter(|h| h.usage == HostPathUse::FileSource)
        .map(|h| (h.path.clone(), h.origin.key.clone()))
        .collect();
    assert_eq!(used.len(), 2, "{used:?}");
    assert!(used.contains(&(file.canonicalize().unwrap(), "secrets.outside.file".into())));
    assert!(
        !loaded.spec.secrets.contains_key("unused"),
        "unused definitions are not read"
    );
}

#[test]
fn an_override_entry_for_the_same_target_replaces_the_base_entry() {
    let d = Desired::new();
    d.write("a/one", "one")
        .write("a/two", "two")
        .write(
            "a/compose.yaml",
            &compose(
                "    secrets: [{source: one, target: key}]\n",
                "secrets:\n  one:\n    file: one\n  two:\n    file: two\n",
            ),
        )
        .write(
            "a/compose.override.yaml",
            "services:\n  web:\n    secrets: [{source: two, target: key}]\n",
        );
    let report = d.load();
    let web = &ok(&report, "a").spec.services["web"];
    assert_eq!(web.secrets.len(), 1, "{:?}", web.secrets);
    assert_eq!(web.secrets[0].source, "two");
}
