//! `build:`: every key of the long form applied or refused naming what to do.

use super::*;

fn build_of(report: &LoadReport, name: &str) -> crate::model::spec::BuildSpec {
    ok(report, name).spec.services["web"].build.clone().unwrap()
}

#[test]
fn every_applied_key_of_the_long_form_reaches_the_spec() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(concat!(
            "    build:\n",
            "      context: app\n",
            "      dockerfile: docker/app.Dockerfile\n",
            "      args:\n        VERSION: ${TAG}\n        FROM_ENV:\n        UNSET:\n",
            "      target: runtime\n",
            "      labels: [team=ops]\n",
            "      network: host\n",
            "      extra_hosts: [db.local=10.0.0.5]\n",
            "      shm_size: 64m\n",
            "      cache_from: [shop-web:cache]\n",
            "      no_cache: true\n",
            "      pull: true\n",
            "      tags: [shop-web:extra]\n",
        )),
    )
    .write("shop/app/docker/app.Dockerfile", "FROM scratch\n");
    let report = d.load_with(&[("TAG", "1.2"), ("FROM_ENV", "yes")]);
    let build = build_of(&report, "shop");
    assert_eq!(
        build.context,
        std::path::absolute(d.root().join("shop/app")).unwrap()
    );
    assert_eq!(build.dockerfile.as_deref(), Some("docker/app.Dockerfile"));
    assert_eq!(build.args["VERSION"], "1.2");
    assert_eq!(build.args["FROM_ENV"], "yes");
    assert!(
        !build.args.contains_key("UNSET"),
        "a bare unset arg is left out"
    );
    assert_eq!(build.target.as_deref(), Some("runtime"));
    assert_eq!(build.labels["team"], "ops");
    assert_eq!(build.network.as_deref(), Some("host"));
    assert_eq!(build.extra_hosts, ["db.local:10.0.0.5"]);
    assert_eq!(build.shm_size, Some(64 * 1024 * 1024));
    assert_eq!(build.cache_from, ["shop-web:cache"]);
    assert!(build.no_cache && build.pull);
    assert_eq!(build.tags, ["shop-web:extra"]);
    assert_eq!(ok(&report, "shop").spec.services["web"].image, "shop-web");
}

#[test]
fn an_inline_dockerfile_and_the_hosts_platform_are_accepted() {
    let d = Desired::new();
    let host = crate::desired::convert::build::host_platform();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!(
            "    image: shop/web:1\n    build:\n      dockerfile_inline: |\n        FROM scratch\n      platforms: [{host}]\n"
        )),
    );
    let report = d.load();
    let build = build_of(&report, "shop");
    assert_eq!(build.dockerfile_inline.as_deref(), Some("FROM scratch\n"));
    assert_eq!(build.platforms, [host]);
    assert_eq!(
        build.context,
        std::path::absolute(d.root().join("shop")).unwrap()
    );
    assert_eq!(ok(&report, "shop").spec.services["web"].image, "shop/web:1");
}

#[test]
fn keys_the_classic_builder_cannot_honour_are_refused_by_name() {
    let table = [
        ("secrets: [token]", "build.secrets", "BuildKit"),
        ("ssh: [default]", "build.ssh", "BuildKit"),
        (
            "additional_contexts: {base: ./base}",
            "build.additional_contexts",
            "BuildKit",
        ),
        ("cache_to: [type=local]", "build.cache_to", "BuildKit"),
        (
            "platforms: [linux/s390x]",
            "build.platforms",
            "this host's platform only",
        ),
        (
            "dockerfile: ../../outside/Dockerfile",
            "build.dockerfile",
            "outside the desired directory",
        ),
        (
            "dockerfile: x\n      dockerfile_inline: FROM scratch",
            "build.dockerfile_inline",
            "keep one",
        ),
        (
            "context: https://github.com/a/b.git",
            "build.context",
            "remote build context",
        ),
        ("contxt: .", "build.contxt", "unknown key"),
        (
            "extra_hosts: [a=10.0.0.1, b=10.0.0.2]",
            "build.extra_hosts",
            "one build extra host",
        ),
    ];
    for (line, key, why) in table {
        let d = Desired::new();
        d.write(
            "shop/compose.yaml",
            &one_service(&format!("    build:\n      {line}\n")),
        );
        let text = err_text(&d.load(), "shop");
        assert!(
            text.contains(&format!("services.web.{key}")),
            "{line}: {text}"
        );
        assert!(text.contains(why), "{line}: {text}");
    }
}

#[test]
fn a_context_outside_the_desired_directory_is_refused_symlinks_included() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service("    build: ../../elsewhere\n"),
    );
    let text = err_text(&d.load(), "shop");
    assert!(text.contains("services.web.build"), "{text}");
    assert!(text.contains("outside the desired directory"), "{text}");

    let d = Desired::new();
    let outside = tempfile::tempdir().unwrap();
    d.write("shop/compose.yaml", &one_service("    build: ./app\n"));
    std::os::unix::fs::symlink(outside.path(), d.root().join("shop/app")).unwrap();
    let text = err_text(&d.load(), "shop");
    assert!(text.contains("outside the desired directory"), "{text}");
}

#[test]
fn the_context_is_read_at_load_and_its_hash_follows_the_files() {
    let d = Desired::new();
    d.write("shop/compose.yaml", &one_service("    build: ./app\n"))
        .write("shop/app/Dockerfile", "FROM scratch\nCOPY site /site\n")
        .write("shop/app/site/index.html", "v1\n")
        .write("shop/app/.dockerignore", "*.log\n")
        .write("shop/app/debug.log", "noise\n");
    let first = build_of(&d.load(), "shop").inputs.expect("context read");
    let paths: Vec<&str> = first.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"site/index.html"), "{paths:?}");
    assert!(
        !paths.contains(&"debug.log"),
        "ignored file sent: {paths:?}"
    );

    d.write("shop/app/debug.log", "more noise\n");
    let ignored = build_of(&d.load(), "shop").inputs.unwrap();
    assert_eq!(ignored.hash, first.hash, "an ignored file changed the hash");

    d.write("shop/app/site/index.html", "v2\n");
    let changed = build_of(&d.load(), "shop").inputs.unwrap();
    assert_ne!(
        changed.hash, first.hash,
        "a sent file changed, the hash did not"
    );
}

#[test]
fn a_context_that_cannot_be_read_fails_the_load_at_the_build_key() {
    let d = Desired::new();
    d.write("shop/compose.yaml", &one_service("    build: ./app\n"));
    std::fs::create_dir_all(d.root().join("shop/app")).unwrap();
    let text = err_text(&d.load(), "shop");
    assert!(text.contains("services.web.build"), "{text}");
    assert!(text.contains("Dockerfile"), "{text}");
}

#[test]
fn a_built_service_takes_pull_policy_build_missing_or_never_and_refuses_a_pulling_one() {
    use crate::model::resources::PullPolicy;
    let policy_of = |policy: &str| {
        let d = Desired::new();
        d.write(
            "shop/compose.yaml",
            &one_service(&format!("    build: ./app\n{policy}")),
        )
        .write("shop/app/Dockerfile", "FROM scratch\n");
        let report = d.load();
        match report.projects.get("shop") {
            Some(Ok(loaded)) => Ok(loaded.spec.services["web"].pull_policy),
            _ => Err(err_text(&report, "shop")),
        }
    };
    assert_eq!(policy_of(""), Ok(PullPolicy::Build));
    assert_eq!(policy_of("    pull_policy: build\n"), Ok(PullPolicy::Build));
    assert_eq!(
        policy_of("    pull_policy: missing\n"),
        Ok(PullPolicy::Missing)
    );
    assert_eq!(policy_of("    pull_policy: never\n"), Ok(PullPolicy::Never));
    for pulling in ["always", "daily"] {
        let text = policy_of(&format!("    pull_policy: {pulling}\n")).unwrap_err();
        assert!(text.contains("services.web.pull_policy"), "{text}");
        assert!(text.contains("remove `build:`"), "{text}");
    }
}

#[test]
fn registry_watching_is_refused_for_a_built_or_never_pulled_image() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service("    build: ./app\n    x-rollout:\n      watch: digest\n"),
    )
    .write("shop/app/Dockerfile", "FROM scratch\n")
    .write(
        "blog/compose.yaml",
        &one_service(
            "    image: blog:1\n    pull_policy: never\n    x-rollout:\n      watch: digest\n",
        ),
    );
    let report = d.load();
    let built = err_text(&report, "shop");
    assert!(built.contains("services.web.x-rollout.watch"), "{built}");
    assert!(built.contains("built from `build:`"), "{built}");
    let never = err_text(&report, "blog");
    assert!(never.contains("services.web.x-rollout.watch"), "{never}");
    assert!(never.contains("pull_policy"), "{never}");
}
