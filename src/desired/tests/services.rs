//! Service-level behaviour: references, environment precedence, secrets, conversions.

use super::*;
use crate::model::spec::{MountKind, ServiceNetwork};

#[test]
fn container_name_with_three_replicas_is_rejected() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service("    image: app\n    container_name: app\n    deploy:\n      replicas: 3\n"),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains(
            ":4:21: services.web.container_name: `container_name` cannot be used with 3 replicas"
        ),
        "{text}"
    );
}

#[test]
fn undeclared_volumes_and_networks_are_rejected() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service("    image: app\n    volumes: ['data:/data']\n    networks: [back]\n"),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("services.web.volumes[0]: volume `data` is not declared"),
        "{text}"
    );
    assert!(
        text.contains("services.web.networks[0]: network `back` is not declared"),
        "{text}"
    );
}

#[test]
fn declared_volumes_and_networks_get_project_prefixed_docker_names() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        concat!(
            "services:\n  web:\n    image: app\n",
            "    volumes: ['data:/data', {type: volume, source: ext, target: /ext}, /anon, {type: tmpfs, target: /t, tmpfs: {size: 64m}}]\n",
            "    tmpfs: /run\n",
            "    networks:\n      back:\n        aliases: [api]\n      outside: {}\n",
            "volumes:\n  data:\n  ext:\n    external: true\n",
            "networks:\n  back:\n    internal: true\n  outside:\n    external: {name: proxy}\n",
        ),
    );
    let report = d.load();
    let loaded = ok(&report, "shop");
    let spec = &loaded.spec;
    assert_eq!(spec.volumes["data"].name, "shop_data");
    assert_eq!(spec.volumes["ext"].name, "ext");
    assert_eq!(spec.networks["back"].name, "shop_back");
    assert_eq!(spec.networks["outside"].name, "proxy");
    assert!(spec.networks["outside"].external && spec.networks["back"].internal);
    assert!(!spec.networks.contains_key("default"));
    let web = &spec.services["web"];
    let kinds: Vec<_> = web.mounts.iter().map(|m| m.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            MountKind::Volume {
                name: "shop_data".into(),
                key: "data".into()
            },
            MountKind::Volume {
                name: "ext".into(),
                key: "ext".into()
            },
            MountKind::Anonymous,
            MountKind::Tmpfs {
                size: Some(64 << 20)
            },
            MountKind::Tmpfs { size: None },
        ]
    );
    assert_eq!(
        web.networks["back"],
        ServiceNetwork {
            aliases: vec!["api".into()],
            ..ServiceNetwork::default()
        }
    );
    assert_eq!(
        loaded.warnings.len(),
        1,
        "the legacy external form warns: {:?}",
        loaded.warnings
    );
}

#[test]
fn a_depends_on_cycle_is_rejected_naming_the_cycle() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on:\n      a: {condition: service_healthy}\n",
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("depends_on forms a cycle: a -> b -> a"),
        "{text}"
    );
}

#[test]
fn depends_on_an_unknown_service_is_rejected() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service("    image: x\n    depends_on: [dbb]\n"),
    );
    assert!(err_text(&d.load(), "a").contains("`dbb` is not a service of this project"));
}

#[test]
fn environment_wins_over_env_files_and_bare_keys_come_from_the_environment() {
    let d = Desired::new();
    d.write("a/common.env", "FROM_FILE=file\nOVERRIDDEN=file\n")
        .write("a/.env", "TAG=from-dotenv\nONLY_DOTENV=dotenv\n")
        .write(
            "a/compose.yaml",
            &one_service(concat!(
                "    image: app:${TAG}\n",
                "    env_file: [common.env, {path: missing.env, required: false}]\n",
                "    environment:\n",
                "      OVERRIDDEN: yaml\n      NUMBER: 1.10\n      FLAG: true\n",
                "      FROM_HOST:\n      NOT_SET:\n      ONLY_DOTENV:\n",
            )),
        );
    let report = d.load_with(&[("TAG", "from-env"), ("FROM_HOST", "host")]);
    let web = &ok(&report, "a").spec.services["web"];
    assert_eq!(
        web.image, "app:from-env",
        "the process environment wins over .env"
    );
    let env: Vec<(&str, &str)> = web
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("FLAG", "true"),
            ("FROM_FILE", "file"),
            ("FROM_HOST", "host"),
            ("NUMBER", "1.10"),
            ("ONLY_DOTENV", "dotenv"),
            ("OVERRIDDEN", "yaml"),
        ]
    );
}

#[test]
fn a_missing_required_env_file_is_an_error_naming_it() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service("    image: x\n    env_file: secrets.env\n"),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("services.web.env_file: env file") && text.contains("secrets.env"),
        "{text}"
    );
}

#[test]
fn interpolated_secrets_never_appear_in_errors_or_warnings() {
    let secret = "s3cr3t-value";
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service("    image: x\n    ports: ['${PASS}']\n    restart: ${PASS}\n    stop_grace_period: ${PASS}\n    user: ${NOPE}\n    environment:\n      P: ${PASS:?set it}\n"),
    );
    let report = d.load_with(&[("PASS", secret)]);
    let text = err_text(&report, "a");
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("services.web.ports[0]: the value"), "{text}");
    let d2 = Desired::new();
    d2.write(
        "b/compose.yaml",
        &one_service("    image: x\n    environment:\n      P: ${PASS:?set PASS first}\n"),
    );
    let text = err_text(&d2.load(), "b");
    assert!(
        text.contains("required variable PASS is missing a value: set PASS first")
            && text.contains(":5:"),
        "{text}"
    );
}

#[test]
fn interpolated_names_in_depends_on_networks_and_volumes_are_shown_as_written() {
    let d = Desired::new();
    d.write(
        "a/.env",
        "DEP=dep-secret-0001\nNET=net-secret-0002\nVOL=vol-secret-0003\nTYPE=typ-secret-0004\n",
    );
    d.write(
        "a/compose.yaml",
        &one_service(concat!(
            "    image: x\n",
            "    depends_on: ['${DEP}']\n",
            "    networks: ['${NET}']\n",
            "    volumes:\n",
            "      - ${VOL}:/data\n",
            "      - {type: volume, source: '${VOL}', target: /v}\n",
            "      - {type: '${TYPE}', target: /t}\n",
            "      - 'data:/d:${TYPE}'\n",
        )),
    );
    let text = err_text(&d.load(), "a");
    for secret in [
        "dep-secret-0001",
        "net-secret-0002",
        "vol-secret-0003",
        "typ-secret-0004",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    for expected in [
        "services.web.depends_on: the name `${DEP}` gives is not a service of this project",
        "services.web.networks[0]: network the name `${NET}` gives is not declared",
        "services.web.volumes[0]: the volume `${VOL}:/data` names is not declared",
        "services.web.volumes[1].source: the volume `${VOL}` names is not declared",
        "services.web.volumes[2].type: mount type the name `${TYPE}` gives is not supported",
        "services.web.volumes[3]: unknown mount option in `data:/d:${TYPE}`",
    ] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
}

#[test]
fn interpolated_values_in_the_rollout_config_are_shown_as_written() {
    let d = Desired::new();
    d.write(
        "a/.env",
        "STRATEGY=strategy-secret-0006\nGATE=gate-type-secret-0007\n",
    );
    d.write(
        "a/compose.yaml",
        &one_service("    image: x\n    x-rollout: {strategy: '${STRATEGY}'}\n"),
    );
    d.write(
        "b/compose.yaml",
        &one_service("    image: x\n    x-rollout: {gates: [{type: '${GATE}'}]}\n"),
    );
    d.write("b/.env", "GATE=gate-type-secret-0007\n");
    let report = d.load();
    let (a, b) = (err_text(&report, "a"), err_text(&report, "b"));
    assert!(!a.contains("strategy-secret-0006"), "{a}");
    assert!(a.contains("\"${STRATEGY}\""), "{a}");
    assert!(!b.contains("gate-type-secret-0007"), "{b}");
    assert!(b.contains("\"${GATE}\""), "{b}");
}

#[test]
fn secret_values_are_remembered_but_not_the_names_the_project_shows_anyway() {
    let d = Desired::new();
    d.write(
        "a/.env",
        "DB_NAME=warehouse-db\nDOTENV_TOKEN=dotenv-secret-7781\n",
    );
    d.write("a/db.env", "POSTGRES_PASSWORD=envfile-secret-7781\n");
    d.write(
        "a/compose.yaml",
        "services:\n  warehouse-db:\n    image: registry.local:5000/postgresql:16.3\n    \
         env_file: db.env\n    environment:\n      POSTGRES_USER: postgresql\n      \
         POSTGRES_DB: ${DB_NAME}\n      LITERAL: literal-secret-7781\n",
    );
    ok(&d.load(), "a");
    let line = "warehouse-db registry.local:5000/postgresql:16.3 dotenv-secret-7781 \
                envfile-secret-7781 literal-secret-7781";
    assert_eq!(
        crate::redact::text(line),
        "warehouse-db registry.local:5000/postgresql:16.3 *** *** ***"
    );
}

#[test]
fn an_environment_value_with_a_nul_byte_fails_naming_the_variable_only() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service("    image: x\n    environment:\n      TOKEN: \"nul\\0-secret-0005\"\n"),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("the value of TOKEN holds a NUL byte"),
        "{text}"
    );
    assert!(!text.contains("secret-0005"), "{text}");
}

#[test]
fn an_unset_variable_becomes_empty_with_a_warning() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service("    image: nginx\n    hostname: web${SUFFIX}\n"),
    );
    let report = d.load();
    let loaded = ok(&report, "a");
    assert_eq!(loaded.spec.services["web"].hostname.as_deref(), Some("web"));
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0]
            .to_string()
            .contains(":4:15: services.web.hostname: variable SUFFIX is not set"),
        "{}",
        loaded.warnings[0]
    );
}

#[test]
fn build_without_image_gets_the_compose_v2_default_name_and_an_absolute_context() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service("    build:\n      context: ./app\n      args: [VERSION=1]\n"),
    )
    .write("x/compose.yaml", &one_service("    command: echo hi\n"))
    .write("shop/app/Dockerfile", "FROM scratch\n");
    let report = d.load();
    let web = &ok(&report, "shop").spec.services["web"];
    assert_eq!(web.image, "shop-web");
    let build = web.build.as_ref().unwrap();
    assert_eq!(
        build.context,
        std::path::absolute(d.root().join("shop/app")).unwrap()
    );
    assert_eq!(build.args["VERSION"], "1");
    assert!(err_text(&report, "x").contains("neither `image` nor `build`"));
}

#[test]
fn commands_ulimits_hosts_and_limits_convert() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service(concat!(
            "    image: x\n    command: nginx -g 'daemon off;'\n    entrypoint: [/bin/sh, -c]\n",
            "    ulimits:\n      nofile: {soft: 1024, hard: 2048}\n      nproc: 512\n",
            "    extra_hosts: ['db=10.0.0.5', 'cache:10.0.0.6']\n",
            "    restart: on-failure:3\n    scale: 2\n",
            "    deploy:\n      resources:\n        limits: {cpus: '0.5', memory: 768m, pids: 100}\n",
            "      update_config: {parallelism: 1, delay: 10s, order: start-first, failure_action: rollback}\n",
        )),
    );
    let report = d.load();
    let web = &ok(&report, "a").spec.services["web"];
    assert_eq!(
        web.command.as_deref().unwrap(),
        ["nginx", "-g", "daemon off;"]
    );
    assert_eq!(web.entrypoint.as_deref().unwrap(), ["/bin/sh", "-c"]);
    assert_eq!(
        (
            web.ulimits["nofile"].soft,
            web.ulimits["nofile"].hard,
            web.ulimits["nproc"].hard
        ),
        (1024, 2048, 512)
    );
    assert_eq!(web.extra_hosts, ["db:10.0.0.5", "cache:10.0.0.6"]);
    assert_eq!(
        web.restart,
        crate::model::spec::RestartPolicy::OnFailure {
            max_retries: Some(3)
        }
    );
    assert_eq!(web.replicas, 2);
    assert_eq!(
        (web.limits.cpus, web.limits.memory, web.limits.pids),
        (Some(0.5), Some(768 << 20), Some(100))
    );
    let update = web.update_config.as_ref().unwrap();
    assert_eq!(update.delay, Some(std::time::Duration::from_secs(10)));
    assert_eq!(update.order.as_deref(), Some("start-first"));
}

#[test]
fn a_bad_rollout_setting_fails_the_project_and_names_the_key() {
    let d = Desired::new();
    d.write(
        "a/compose.yaml",
        &one_service(
            "    image: app\n    deploy:\n      replicas: 2\n    x-rollout:\n      steps: [1, 150%]\n",
        ),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains(":7:7: services.web.x-rollout.steps[1]: \"150%\" is over 100%"),
        "{text}"
    );
    d.write(
        "a/compose.yaml",
        &one_service(
            "    image: app\n    x-rollout:\n      gates:\n        - type: http\n          url: http://{ip}/\n          succeses: 2\n",
        ),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("services.web.x-rollout.gates[0].succeses"),
        "{text}"
    );
    d.write(
        "a/compose.yaml",
        &one_service(
            "    image: app\n    deploy:\n      update_config:\n        order: sideways\n",
        ),
    );
    let text = err_text(&d.load(), "a");
    assert!(
        text.contains("services.web.deploy.update_config.order: \"sideways\" is not allowed"),
        "{text}"
    );
}
