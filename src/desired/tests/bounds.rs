//! The loader's bounds: files that are not regular or too large, counts, YAML shape and
//! interpolation, each refused quickly with a message naming the file and the bound.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::desired::{Limits, load_dir_with};
use crate::testing::thread_cpu_time;

const IMAGE: &str = "    image: nginx\n";

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Loads `desired` (on this thread, as the loader does) in at most `limit` of this
/// thread's CPU time, failing the test on a longer load: the bound judges the work, so a
/// loaded host (tests run side by side) does not fail it. A load that blocks (a FIFO read)
/// uses no CPU: the wall clock bounds that, far more loosely.
fn load_within(desired: &Desired, limit: Duration) -> LoadReport {
    let started = Instant::now();
    let cpu = thread_cpu_time();
    let report = desired.load();
    let (cpu, wall) = (thread_cpu_time() - cpu, started.elapsed());
    assert!(cpu < limit, "loading took {cpu:?} of CPU time");
    assert!(wall < limit * 20, "loading took {wall:?} (blocked?)");
    report
}

#[test]
fn an_env_file_that_is_a_fifo_fails_at_once() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    env_file: pipe.env\n")),
    );
    mkfifo(&d.root().join("shop/pipe.env"));
    let report = load_within(&d, Duration::from_secs(1));
    let text = err_text(&report, "shop");
    assert!(text.contains("pipe.env"), "{text}");
    assert!(text.contains("FIFO"), "{text}");
    assert!(text.contains("services.web.env_file"), "{text}");
}

#[test]
fn a_dotenv_that_is_a_fifo_fails_at_once() {
    let d = Desired::new();
    d.write("shop/compose.yaml", &one_service(IMAGE));
    mkfifo(&d.root().join("shop/.env"));
    let report = load_within(&d, Duration::from_secs(1));
    let text = err_text(&report, "shop");
    assert!(text.contains(".env") && text.contains("FIFO"), "{text}");
}

#[test]
fn an_env_file_on_dev_zero_is_refused() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    env_file: /dev/zero\n")),
    );
    let report = load_within(&d, Duration::from_secs(1));
    let text = err_text(&report, "shop");
    assert!(text.contains("/dev/zero"), "{text}");
    assert!(text.contains("character device"), "{text}");
}

#[test]
fn a_directory_as_env_file_is_refused() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!(
            "{IMAGE}    env_file:\n      - path: conf\n        required: false\n"
        )),
    );
    std::fs::create_dir(d.root().join("shop/conf")).unwrap();
    let text = err_text(&d.load(), "shop");
    assert!(text.contains("conf is a directory"), "{text}");
}

#[test]
fn a_top_level_compose_file_that_is_a_fifo_fails_at_once() {
    let d = Desired::new();
    mkfifo(&d.root().join("shop.yaml"));
    let report = load_within(&d, Duration::from_secs(1));
    let text = err_text(&report, "shop");
    assert!(
        text.contains("shop.yaml") && text.contains("FIFO"),
        "{text}"
    );
}

#[test]
fn a_dangling_symlink_as_compose_file_or_env_file_is_a_symlink_to_nowhere() {
    let d = Desired::new();
    std::os::unix::fs::symlink(d.root().join("gone.txt"), d.root().join("solo.yaml")).unwrap();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!(
            "{IMAGE}    env_file:\n      - path: link.env\n        required: false\n"
        )),
    );
    std::os::unix::fs::symlink("nowhere.env", d.root().join("shop/link.env")).unwrap();
    let report = d.load();
    for (project, file) in [("solo", "solo.yaml"), ("shop", "link.env")] {
        let text = err_text(&report, project);
        assert!(text.contains(file), "{text}");
        assert!(text.contains("is a symlink to nowhere"), "{text}");
    }
}

#[test]
fn a_symlink_loop_as_compose_file_or_env_file_is_named_as_one() {
    let d = Desired::new();
    let root = d.root();
    std::os::unix::fs::symlink(root.join("b.yaml"), root.join("a.yaml")).unwrap();
    std::os::unix::fs::symlink(root.join("a.yaml"), root.join("b.yaml")).unwrap();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    env_file: loop.env\n")),
    );
    std::os::unix::fs::symlink("loop.env", root.join("shop/loop.env")).unwrap();
    let report = d.load();
    for project in ["a", "b", "shop"] {
        let text = err_text(&report, project);
        assert!(text.contains("is a symlink loop"), "{text}");
    }
}

#[test]
fn a_compose_file_over_the_limit_is_refused_and_accepted_with_the_limit_raised() {
    let d = Desired::new();
    let padding = format!("# {}\n", "x".repeat(1022)).repeat(2 * 1024);
    d.write(
        "shop/compose.yaml",
        &format!("{}{padding}", one_service(IMAGE)),
    );
    let text = err_text(&d.load(), "shop");
    assert!(text.contains("compose.yaml"), "{text}");
    assert!(text.contains("1048576 bytes"), "{text}");
    assert!(text.contains("--max-compose-file-size"), "{text}");

    let raised = Limits {
        compose_file_bytes: 4 << 20,
        ..Limits::default()
    };
    let report = load_dir_with(d.root(), &BTreeMap::<String, String>::new(), &raised).unwrap();
    ok(&report, "shop");
}

#[test]
fn an_env_file_over_the_limit_names_the_env_flag() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    env_file: big.env\n")),
    );
    d.write("shop/big.env", &"A=1\n".repeat(300_000));
    let text = err_text(&d.load(), "shop");
    assert!(text.contains("big.env"), "{text}");
    assert!(text.contains("--max-env-file-size"), "{text}");
}

#[test]
fn a_compose_file_that_is_not_utf8_is_refused_without_quoting_it() {
    let d = Desired::new();
    let full = d.root().join("shop.yaml");
    std::fs::write(&full, b"services:\n  web:\n    image: caf\xe9\n").unwrap();
    let text = err_text(&d.load(), "shop");
    assert!(
        text.contains("not UTF-8") && text.contains("line 3"),
        "{text}"
    );
    assert!(!text.contains("caf"), "{text}");
}

#[test]
fn a_billion_replicas_are_refused_naming_the_line_the_key_and_the_limit() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    deploy:\n      replicas: 1000000000\n")),
    );
    d.write(
        "legacy/compose.yaml",
        &one_service(&format!("{IMAGE}    scale: 101\n")),
    );
    let report = d.load();
    let text = err_text(&report, "shop");
    assert!(text.contains("compose.yaml:5"), "{text}");
    assert!(text.contains("services.web.deploy.replicas"), "{text}");
    assert!(text.contains(&MAX_REPLICAS.to_string()), "{text}");
    assert!(err_text(&report, "legacy").contains("services.web.scale"));
}

#[test]
fn a_hundred_replicas_are_fine() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    deploy:\n      replicas: 100\n")),
    );
    assert_eq!(ok(&d.load(), "shop").spec.services["web"].replicas, 100);
}

#[test]
fn a_billion_laughs_is_refused_quickly() {
    let mut text = String::from("x-0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let refs = vec![format!("*l{}", level - 1); 10].join(", ");
        text.push_str(&format!("x-{level}: &l{level} [{refs}]\n"));
    }
    text.push_str("services:\n  web:\n    image: nginx\n");
    let d = Desired::new();
    d.write("shop/compose.yaml", &text);
    let report = load_within(&d, Duration::from_secs(2));
    let message = err_text(&report, "shop");
    assert!(message.contains("billion laughs"), "{message}");
    assert!(message.contains("compose.yaml:"), "{message}");
}

#[test]
fn aliased_mapping_keys_count_towards_the_alias_budget() {
    // Keys are nodes too: an anchor used as a key doubles at each level.
    let mut text = String::from("x-0: &k0 [a, b]\n");
    for level in 1..40 {
        let prev = level - 1;
        text.push_str(&format!("x-{level}: &k{level} [*k{prev}, *k{prev}]\n"));
        text.push_str(&format!("x-key{level}: {{ ? *k{prev} : 1 }}\n"));
    }
    text.push_str("services:\n  web:\n    image: nginx\n");
    let d = Desired::new();
    d.write("shop.yaml", &text);
    let report = load_within(&d, Duration::from_secs(2));
    assert!(err_text(&report, "shop").contains("aliases"));
}

#[test]
fn a_large_string_aliased_many_times_is_refused() {
    let big = "y".repeat(512 * 1024);
    let refs = vec!["*big"; 100].join(", ");
    let text =
        format!("x-big: &big {big}\nx-many: [{refs}]\nservices:\n  web:\n    image: nginx\n");
    let d = Desired::new();
    d.write("shop.yaml", &text);
    let report = load_within(&d, Duration::from_secs(2));
    let message = err_text(&report, "shop");
    assert!(message.contains("bytes of text"), "{message}");
    assert!(!message.contains("yyyy"), "{message}");
}

#[test]
fn deep_nesting_is_refused_without_a_crash() {
    let deep_block = format!("x-deep:\n  {}x\n", "- ".repeat(100_000));
    let deep_flow = format!("x-deep: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let deep_map = format!(
        "x-deep: {}a{}\n",
        "{a: ".repeat(100_000),
        "}".repeat(100_000)
    );
    for (i, deep) in [deep_block, deep_flow, deep_map].iter().enumerate() {
        let d = Desired::new();
        d.write(
            "shop.yaml",
            &format!("{deep}services:\n  web:\n    image: nginx\n"),
        );
        let report = load_within(&d, Duration::from_secs(2));
        let text = err_text(&report, "shop");
        assert!(text.contains("shop.yaml:"), "case {i}: {text}");
        assert!(
            text.contains("nests deeper") || text.contains("recursion limit"),
            "case {i}: {text}"
        );
    }
}

#[test]
fn nesting_within_the_depth_limit_loads() {
    let levels = MAX_YAML_DEPTH - 2;
    let deep = format!("x-deep:\n  {}x\n", "- ".repeat(levels));
    let d = Desired::new();
    d.write(
        "shop.yaml",
        &format!("{deep}services:\n  web:\n    image: nginx\n"),
    );
    ok(&d.load(), "shop");
}

#[test]
fn an_alias_that_nests_too_deep_is_refused() {
    let half = MAX_YAML_DEPTH / 2 + 2;
    let text = format!(
        "x-a: &a\n  {}x\nx-b:\n  {}*a\nservices:\n  web:\n    image: nginx\n",
        "- ".repeat(half),
        "- ".repeat(half)
    );
    let d = Desired::new();
    d.write("shop.yaml", &text);
    assert!(err_text(&d.load(), "shop").contains("nest deeper"));
}

#[test]
fn a_doubling_dotenv_is_refused() {
    let mut env = String::from("A0=xxxxxxxxxxxxxxxx\n");
    for i in 1..40 {
        env.push_str(&format!("A{i}=${{A{p}}}${{A{p}}}\n", p = i - 1));
    }
    let d = Desired::new();
    d.write("shop/compose.yaml", &one_service(IMAGE));
    d.write("shop/.env", &env);
    let report = load_within(&d, Duration::from_secs(5));
    let text = err_text(&report, "shop");
    assert!(
        text.contains(".env") && text.contains("more than"),
        "{text}"
    );
}

#[test]
fn deeply_nested_defaults_are_refused() {
    let template = format!("{}x{}", "${A:-".repeat(100_000), "}".repeat(100_000));
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    hostname: \"{template}\"\n")),
    );
    let report = load_within(&d, Duration::from_secs(5));
    let text = err_text(&report, "shop");
    assert!(
        text.contains("services.web.hostname") && text.contains("nests deeper"),
        "{text}"
    );
}

#[test]
fn a_huge_port_range_is_refused() {
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    ports: [\"1-65535\"]\n")),
    );
    d.write(
        "many/compose.yaml",
        &one_service(&format!(
            "{IMAGE}    ports: [{}]\n",
            (0..20)
                .map(|i| format!("\"{}-{}\"", 2000 + i * 100, 2099 + i * 100))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    );
    let report = d.load();
    assert!(err_text(&report, "shop").contains("services.web.ports[0]"));
    let text = err_text(&report, "many");
    assert!(text.contains(&MAX_PORTS_PER_SERVICE.to_string()), "{text}");
}

#[test]
fn the_same_env_file_listed_too_often_is_refused() {
    let d = Desired::new();
    let list = vec!["a.env"; MAX_ENV_FILES_PER_SERVICE + 1].join(", ");
    d.write(
        "shop/compose.yaml",
        &one_service(&format!("{IMAGE}    env_file: [{list}]\n")),
    );
    d.write("shop/a.env", "A=1\n");
    let text = err_text(&d.load(), "shop");
    assert!(text.contains("services.web.env_file"), "{text}");
}

#[test]
fn one_large_env_file_in_every_service_is_refused_once_the_project_total_is_over() {
    let d = Desired::new();
    let services: String = (0..20)
        .map(|i| format!("  s{i}:\n{IMAGE}    env_file: big.env\n"))
        .collect();
    d.write("shop/compose.yaml", &format!("services:\n{services}"));
    d.write("shop/big.env", &format!("BIG={}\n", "v".repeat(1_000_000)));
    let text = err_text(&d.load(), "shop");
    assert!(text.contains("environments add up"), "{text}");
}

#[test]
fn too_many_services_are_refused() {
    let d = Desired::new();
    let services: String = (0..=MAX_SERVICES)
        .map(|i| format!("  s{i}:\n{IMAGE}"))
        .collect();
    d.write("shop/compose.yaml", &format!("services:\n{services}"));
    let text = err_text(&d.load(), "shop");
    assert!(text.contains(&MAX_SERVICES.to_string()), "{text}");
}

#[test]
fn wide_maps_merge_in_linear_time() {
    let keys: String = (0..50_000).map(|i| format!("  k{i}: {i}\n")).collect();
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &format!("{}x-wide:\n{keys}", one_service(IMAGE)),
    );
    d.write("shop/compose.override.yaml", &format!("x-wide:\n{keys}"));
    ok(&load_within(&d, Duration::from_secs(5)), "shop");
}

#[test]
fn long_lists_of_dependencies_mounts_and_env_lines_load_in_linear_time() {
    let deps: String = (0..20_000).map(|i| format!("      - s{i}\n")).collect();
    let mounts = "      - data:/data\n".repeat(20_000);
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &one_service(&format!(
            "{IMAGE}    env_file: a.env\n    depends_on:\n{deps}    volumes:\n{mounts}"
        )),
    );
    let env: String = (0..100_000)
        .map(|i| format!("K{i}=$K{}\n", i / 2))
        .collect();
    d.write("shop/a.env", &env);
    let report = load_within(&d, Duration::from_secs(5));
    assert!(err_text(&report, "shop").contains("`s19999` is not a service"));
}

#[test]
fn a_dependency_chain_through_every_allowed_service_loads_on_a_small_stack() {
    let chain: String = (0..MAX_SERVICES - 1)
        .map(|i| format!("  s{i}:\n{IMAGE}    depends_on: [s{}]\n", i + 1))
        .collect();
    let d = Desired::new();
    d.write(
        "shop/compose.yaml",
        &format!("services:\n{chain}  s{}:\n{IMAGE}", MAX_SERVICES - 1),
    );
    let services = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || ok(&d.load(), "shop").spec.services.len())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(services, MAX_SERVICES);
}

#[test]
fn anchors_nested_inside_each_other_are_refused_before_copying_the_data_per_level() {
    // Each anchored node is copied once; nested anchors copy the inner list once per level.
    let depth = 60;
    let inner = format!("[{}]", vec!["a"; 5_000].join(","));
    let opens: String = (0..depth).map(|i| format!("&a{i} [")).collect();
    let text = format!(
        "x: {opens}{inner}{}\nservices:\n  web:\n    image: nginx\n",
        "]".repeat(depth)
    );
    let d = Desired::new();
    d.write("shop.yaml", &text);
    let report = load_within(&d, Duration::from_secs(2));
    let message = err_text(&report, "shop");
    assert!(message.contains("anchors (`&name`) nested"), "{message}");
}

#[test]
fn the_project_environment_bound_is_reported_once() {
    let d = Desired::new();
    let services: String = (0..40)
        .map(|i| format!("  s{i}:\n{IMAGE}    env_file: big.env\n"))
        .collect();
    d.write("shop/compose.yaml", &format!("services:\n{services}"));
    d.write("shop/big.env", &format!("BIG={}\n", "v".repeat(1_000_000)));
    let report = d.load();
    let Error::Invalid(problems) = err(&report, "shop") else {
        panic!("not a list of problems");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "services.s16");
}
