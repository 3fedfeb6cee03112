//! `include` and `extends`: what joins the project, from where, merged how.

use super::*;
use crate::model::spec::{DependsOn, MountKind};

fn abs(d: &Desired, path: &str) -> std::path::PathBuf {
    std::path::absolute(d.root().join(path)).unwrap()
}

#[test]
fn short_include_adds_the_included_services_networks_and_volumes() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        "include:\n  - db/db.yaml\nservices:\n  web:\n    image: nginx\n    depends_on: [db]\n",
    )
    .write(
        "shop/db/db.yaml",
        "services:\n  db:\n    image: postgres:16\n    env_file: db.env\n    volumes: [./init:/docker-entrypoint-initdb.d, data:/var/lib/postgresql/data]\n    networks: [back]\nnetworks:\n  back: {}\nvolumes:\n  data: {}\n",
    )
    .write("shop/db/db.env", "POSTGRES_DB=shop\n");
    let report = d.load();
    let loaded = ok(&report, "shop");
    let spec = &loaded.spec;
    assert_eq!(spec.services.keys().collect::<Vec<_>>(), ["db", "web"]);
    let db = &spec.services["db"];
    assert_eq!(db.environment["POSTGRES_DB"], "shop");
    assert!(
        matches!(&db.mounts[0].kind, MountKind::Bind { source, .. } if *source == abs(&d, "shop/db/init"))
    );
    assert_eq!(spec.networks["back"].name, "shop_back");
    assert_eq!(spec.volumes["data"].name, "shop_data");
    assert_eq!(spec.services["web"].depends_on["db"], DependsOn::Started);
    assert_eq!(
        spec.config_files,
        [abs(&d, "shop/compose.yaml"), abs(&d, "shop/db/db.yaml")]
    );
}

#[test]
fn a_file_holding_only_include_is_a_project() {
    let d = Desired::new();
    d.write("only/compose.yaml", "include: [parts/web.yaml]\n")
        .write(
            "only/parts/web.yaml",
            "services:\n  web:\n    image: nginx\n",
        );
    let report = d.load();
    assert_eq!(ok(&report, "only").spec.services["web"].image, "nginx");
}

#[test]
fn long_include_merges_its_paths_and_interpolates_with_its_own_env_under_the_projects() {
    let d = Desired::new();
    d.write(
        "app/compose.yaml",
        "include:\n  - path: [lib/base.yaml, lib/over.yaml]\n    project_directory: lib\n    env_file: lib/vars.env\n",
    )
    .write(
        "app/lib/base.yaml",
        "services:\n  api:\n    image: api:${TAG}\n    environment: [A=1, B=2]\n    build: {dockerfile: Dockerfile}\n",
    )
    .write(
        "app/lib/over.yaml",
        "services:\n  api:\n    environment:\n      B: ${B_VALUE}\n",
    )
    .write("app/lib/vars.env", "TAG=1.0\nB_VALUE=from-env-file\n")
    .write("app/.env", "B_VALUE=from-project\n")
    .write("app/lib/Dockerfile", "FROM scratch\n");
    let report = d.load_with(&[("TAG", "2.0")]);
    let api = &ok(&report, "app").spec.services["api"];
    assert_eq!(api.image, "api:2.0", "the project's environment wins");
    assert_eq!(api.environment["A"], "1");
    assert_eq!(api.environment["B"], "from-project");
    assert_eq!(api.build.as_ref().unwrap().context, abs(&d, "app/lib"));
}

#[test]
fn an_included_project_reads_its_own_dotenv_by_default() {
    let d = Desired::new();
    d.write("p/compose.yaml", "include: [sub/compose.yaml]\n")
        .write(
            "p/sub/compose.yaml",
            "services:\n  s:\n    image: busybox:${V}\n",
        )
        .write("p/sub/.env", "V=1.36\n");
    let report = d.load();
    assert_eq!(ok(&report, "p").spec.services["s"].image, "busybox:1.36");
}

#[test]
fn includes_nest_and_a_cycle_is_an_error_naming_the_chain() {
    let d = Desired::new();
    d.write("n/compose.yaml", "include: [a/a.yaml]\n")
        .write(
            "n/a/a.yaml",
            "include: [../b/b.yaml]\nservices:\n  a:\n    image: a\n",
        )
        .write("n/b/b.yaml", "services:\n  b:\n    image: b\n");
    let report = d.load();
    assert_eq!(
        ok(&report, "n").spec.services.keys().collect::<Vec<_>>(),
        ["a", "b"]
    );

    let d = Desired::new();
    d.write("c/compose.yaml", "include: [a.yaml]\n")
        .write(
            "c/a.yaml",
            "include: [b.yaml]\nservices:\n  a:\n    image: a\n",
        )
        .write(
            "c/b.yaml",
            "include: [a.yaml]\nservices:\n  b:\n    image: b\n",
        );
    let report = d.load();
    let text = err_text(&report, "c");
    assert!(text.contains("include cycle"), "{text}");
    assert!(
        text.contains(&format!("{}:1:", abs(&d, "c/b.yaml").display())),
        "{text}"
    );
}

#[test]
fn a_resource_defined_twice_is_an_error_naming_both_files() {
    let d = Desired::new();
    d.write(
        "x/compose.yaml",
        "include: [other.yaml]\nservices:\n  web:\n    image: nginx\nnetworks:\n  back: {}\n",
    )
    .write(
        "x/other.yaml",
        "services:\n  web:\n    image: httpd\nnetworks:\n  back: {}\n",
    );
    let report = d.load();
    let text = err_text(&report, "x");
    let other = abs(&d, "x/other.yaml");
    let main = d.root().join("x/compose.yaml");
    assert!(
        text.contains(&format!(
            "{}:2:3: services.web: `web` is also defined at {}:3",
            other.display(),
            main.display()
        )),
        "{text}"
    );
    assert!(text.contains("conflicts with imported resource"), "{text}");
    assert!(
        !text.contains("networks.back"),
        "identical definitions are fine: {text}"
    );
}

#[test]
fn included_and_extended_files_must_lie_inside_the_desired_directory() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("evil.yaml"),
        "services:\n  x:\n    image: x\n",
    )
    .unwrap();
    let evil = outside.path().join("evil.yaml");
    let d = Desired::new();
    d.write(
        "o/compose.yaml",
        &format!(
            "include: [{}]\nservices:\n  web:\n    image: nginx\n",
            evil.display()
        ),
    )
    .write(
        "e/compose.yaml",
        &format!(
            "services:\n  web:\n    extends: {{file: {}, service: x}}\n",
            evil.display()
        ),
    );
    std::os::unix::fs::symlink(&evil, d.root().join("o/link.yaml")).unwrap();
    d.write(
        "l/compose.yaml",
        "include: [../o/link.yaml]\nservices:\n  web:\n    image: nginx\n",
    );
    let report = d.load();
    for name in ["o", "e", "l"] {
        let text = err_text(&report, name);
        assert!(
            text.contains("is outside the desired directory"),
            "{name}: {text}"
        );
    }
}

#[test]
fn unknown_include_keys_and_missing_files_are_errors() {
    let d = Desired::new();
    d.write(
        "k/compose.yaml",
        "include:\n  - path: a.yaml\n    required: false\n  - missing.yaml\nservices:\n  web:\n    image: nginx\n",
    )
    .write("k/a.yaml", "services:\n  a:\n    image: a\n");
    let report = d.load();
    let text = err_text(&report, "k");
    assert!(
        text.contains("include[0].required: `required` is not a key of an include"),
        "{text}"
    );
    assert!(
        text.contains("include[1]") && text.contains("does not exist"),
        "{text}"
    );
}

#[test]
fn extends_in_the_same_file_merges_environment_labels_and_replaces_command() {
    let d = Desired::new();
    d.write(
        "s/compose.yaml",
        "services:\n  base:\n    image: app:1\n    command: [serve, --slow]\n    environment: [TZ=utc, PORT=80]\n    labels: {team: a}\n    cap_add: [NET_ADMIN]\n    volumes: ['data:/data']\n  web:\n    extends: base\n    command: [serve]\n    environment:\n      PORT: 8080\n    labels: [tier=web]\n    cap_add: [NET_ADMIN, SYS_TIME]\n    volumes: ['other:/data:ro']\n  api:\n    extends: {service: web}\n    image: app:2\nvolumes: {data: {}, other: {}}\n",
    );
    let report = d.load();
    let spec = &ok(&report, "s").spec;
    let web = &spec.services["web"];
    assert_eq!(web.image, "app:1");
    assert_eq!(web.command.as_deref().unwrap(), ["serve"]);
    assert_eq!(web.environment["TZ"], "utc");
    assert_eq!(web.environment["PORT"], "8080");
    assert_eq!(web.labels["team"], "a");
    assert_eq!(web.labels["tier"], "web");
    assert_eq!(web.cap_add, ["NET_ADMIN", "SYS_TIME"]);
    assert_eq!(web.mounts.len(), 1);
    assert!(web.mounts[0].read_only);
    let api = &spec.services["api"];
    assert_eq!(api.image, "app:2");
    assert_eq!(api.environment["PORT"], "8080", "chains follow");
}

#[test]
fn extends_from_another_file_resolves_the_bases_paths_against_its_own_directory() {
    let d = Desired::new();
    d.write(
        "f/compose.yaml",
        "services:\n  web:\n    extends:\n      file: common/base.yaml\n      service: app\n    environment:\n      MODE: prod\n",
    )
    .write(
        "f/common/base.yaml",
        "services:\n  app:\n    extends: core\n    build: ./src\n    env_file: app.env\n    volumes: ['./conf:/etc/app:ro']\n  core:\n    image: core:${CORE_TAG:-1}\n    environment: [MODE=dev, CORE=yes]\n",
    )
    .write("f/common/app.env", "FROM_FILE=1\n")
    .write("f/common/src/Dockerfile", "FROM scratch\n");
    let report = d.load_with(&[("CORE_TAG", "7")]);
    let loaded = ok(&report, "f");
    let web = &loaded.spec.services["web"];
    assert_eq!(
        web.image, "core:7",
        "interpolated with the project's variables"
    );
    assert_eq!(web.environment["MODE"], "prod");
    assert_eq!(web.environment["CORE"], "yes");
    assert_eq!(web.environment["FROM_FILE"], "1");
    assert_eq!(web.build.as_ref().unwrap().context, abs(&d, "f/common/src"));
    assert!(
        matches!(&web.mounts[0].kind, MountKind::Bind { source, .. } if *source == abs(&d, "f/common/conf"))
    );
    assert!(
        loaded
            .spec
            .config_files
            .contains(&abs(&d, "f/common/base.yaml"))
    );
}

#[test]
fn extends_cycles_unknown_services_and_bad_keys_are_errors() {
    let d = Desired::new();
    d.write(
        "c/compose.yaml",
        "services:\n  a:\n    extends: b\n  b:\n    extends: a\n    image: x\n",
    )
    .write(
        "u/compose.yaml",
        "services:\n  a:\n    image: x\n    extends: {service: nope}\n",
    )
    .write(
        "k/compose.yaml",
        "services:\n  a:\n    image: x\n    extends: {service: b, files: x.yaml}\n  b:\n    image: y\n",
    )
    .write(
        "s/compose.yaml",
        "services:\n  a:\n    image: x\n    extends: a\n",
    );
    let report = d.load();
    let text = err_text(&report, "c");
    assert!(
        text.contains("compose.yaml:5:14: services.b.extends: `extends` forms a cycle: a ("),
        "{text}"
    );
    let text = err_text(&report, "u");
    assert!(
        text.contains("services.a.extends: `nope` is not a service of"),
        "{text}"
    );
    assert!(text.contains(":4:14:"), "names the line: {text}");
    let text = err_text(&report, "k");
    assert!(text.contains("`files` is not a key of `extends`"), "{text}");
    assert!(err_text(&report, "s").contains("forms a cycle"));
}

#[test]
fn the_base_of_extends_passes_on_depends_on_which_must_then_exist() {
    let d = Desired::new();
    d.write(
        "d/compose.yaml",
        "services:\n  base:\n    image: x\n    depends_on: [db]\n  db:\n    image: pg\n  web:\n    extends: base\n",
    );
    let report = d.load();
    assert_eq!(
        ok(&report, "d").spec.services["web"].depends_on["db"],
        DependsOn::Started
    );
    let d = Desired::new();
    d.write(
        "m/compose.yaml",
        "services:\n  web:\n    extends: {file: lib.yaml, service: base}\n",
    )
    .write(
        "m/lib.yaml",
        "services:\n  base:\n    image: x\n    depends_on: [db]\n  db:\n    image: pg\n",
    );
    let report = d.load();
    assert!(err_text(&report, "m").contains("depends_on"));
}

#[test]
fn a_service_may_extend_an_included_service() {
    let d = Desired::new();
    d.write(
        "i/compose.yaml",
        "include: [lib/lib.yaml]\nservices:\n  web:\n    extends: base\n    image: web\n",
    )
    .write(
        "i/lib/lib.yaml",
        "services:\n  base:\n    image: base\n    env_file: base.env\n",
    )
    .write("i/lib/base.env", "X=1\n");
    let report = d.load();
    let spec = &ok(&report, "i").spec;
    assert_eq!(spec.services["web"].image, "web");
    assert_eq!(spec.services["web"].environment["X"], "1");
}

#[test]
fn errors_in_included_files_name_the_included_file_and_line() {
    let d = Desired::new();
    d.write("e/compose.yaml", "include: [lib.yaml]\n").write(
        "e/lib.yaml",
        "services:\n  web:\n    image: nginx\n    ports: [\"80:abc\"]\n",
    );
    let report = d.load();
    let text = err_text(&report, "e");
    let want = format!(
        "{}:4:13: services.web.ports[0]",
        abs(&d, "e/lib.yaml").display()
    );
    assert!(text.contains(&want), "{text}");
}
