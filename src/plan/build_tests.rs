//! The planner's builds: a built service's image is built when no image carries its
//! inputs' hash, tagged back when another image does, named with the files that changed,
//! and never built again from inputs that failed.

use std::sync::Arc;

use crate::build::{Entry, EntryKind};
use crate::model::ObservedState;
use crate::model::resources::PullPolicy;
use crate::model::spec::{BuildInputs, BuildSpec, ProjectSpec};

use super::fixtures::{ObservedExt, ProjectExt, observed, project, svc};
use super::graph::graph;
use super::{Action, BuildReason, PlanContext, TagPurpose, plan, render};

fn file(path: &str, digest: &str) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::File {
            size: 1,
            digest: digest.into(),
        },
        mode: 0o644,
    }
}

fn built(hash: &str, entries: Vec<Entry>, policy: PullPolicy) -> ProjectSpec {
    let mut web = svc("web");
    web.image = "shop-web".into();
    web.pull_policy = policy;
    web.build = Some(BuildSpec {
        context: "/srv/desired/shop/web".into(),
        inputs: Some(BuildInputs {
            hash: hash.into(),
            entries: Arc::new(entries),
        }),
        ..BuildSpec::default()
    });
    project("shop").service(web)
}

fn with_built(host: ObservedState, hash: &str, id: &str) -> ObservedState {
    let mut host = host;
    host.built.insert(hash.into(), id.into());
    host
}

fn builds(p: &ProjectSpec, host: &ObservedState, ctx: &PlanContext) -> Vec<Action> {
    plan("shop", Some(p), host, ctx)
        .actions
        .into_iter()
        .filter(|a| matches!(a, Action::Build { .. } | Action::TagImage { .. }))
        .collect()
}

#[test]
fn a_missing_image_is_built_before_the_create_that_waits_for_it() {
    let p = built("h1", vec![file("Dockerfile", "d1")], PullPolicy::Build);
    let plan = plan("shop", Some(&p), &observed(), &PlanContext::default());
    let texts: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    let at = |text: &str| texts.iter().position(|t| t == text).expect(text);
    let build = at("build image shop-web for web (image missing)");
    let create = at("create web #1 (replica missing)");
    assert!(
        graph(&plan, &p).deps[create].contains(&build),
        "the create waits for the build: {texts:?}"
    );
    assert!(
        texts.iter().all(|t| !t.starts_with("pull")),
        "a built image is never pulled"
    );
}

#[test]
fn an_image_carrying_the_hash_is_not_built_again_and_one_elsewhere_is_tagged_back() {
    let p = built("h1", Vec::new(), PullPolicy::Build);
    let current = with_built(observed().tag("shop-web", "sha256:a"), "h1", "sha256:a");
    assert!(builds(&p, &current, &PlanContext::default()).is_empty());

    // The inputs went back to what an older image was built from: no build, a tag.
    let older = with_built(
        with_built(observed().tag("shop-web", "sha256:b"), "h2", "sha256:b"),
        "h1",
        "sha256:a",
    );
    assert_eq!(
        builds(&p, &older, &PlanContext::default()),
        vec![Action::TagImage {
            reference: "shop-web".into(),
            image_id: "sha256:a".into(),
            service: "web".into(),
            purpose: TagPurpose::Built,
        }]
    );
}

#[test]
fn a_changed_context_names_the_first_files_and_counts_the_rest() {
    let before = vec![
        file("Dockerfile", "d1"),
        file("src/app.py", "a1"),
        file("src/util.py", "u1"),
        file("static/a.css", "c1"),
        file("static/b.css", "b1"),
    ];
    let after = vec![
        file("Dockerfile", "d2"),
        file("src/app.py", "a2"),
        file("src/util.py", "u2"),
        file("static/a.css", "c2"),
        file("static/b.css", "b1"),
    ];
    let p = built("h2", after, PullPolicy::Build);
    let host = with_built(observed().tag("shop-web", "sha256:a"), "h1", "sha256:a");
    let ctx = PlanContext {
        built_from: [("web".to_owned(), Arc::new(before))].into(),
        ..PlanContext::default()
    };
    let plan = plan("shop", Some(&p), &host, &ctx);
    let text = render(&plan);
    assert!(
        text.contains("build (context changed: Dockerfile, src/app.py, src/util.py and 1 more)"),
        "{text}"
    );
    assert!(text.contains("1 image to build"), "{text}");
    // Without the entries of the running image's build, the plan says the inputs changed.
    let unknown = builds(&p, &host, &PlanContext::default());
    assert!(
        matches!(&unknown[..], [Action::Build { reason: BuildReason::InputsChanged, hash, .. }] if hash == "h2"),
        "{unknown:?}"
    );
}

#[test]
fn inputs_that_failed_to_build_are_not_built_again_and_the_plan_says_why() {
    let p = built("h2", Vec::new(), PullPolicy::Build);
    let host = with_built(observed().tag("shop-web", "sha256:a"), "h1", "sha256:a");
    let ctx = PlanContext {
        failed_builds: [("web".to_owned(), "h2".to_owned())].into(),
        ..PlanContext::default()
    };
    let plan = plan("shop", Some(&p), &host, &ctx);
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Build { .. })),
        "{:?}",
        plan.actions
    );
    assert_eq!(plan.notes.len(), 1);
    assert!(
        plan.notes[0]
            .text
            .contains("composectl rollout rebuild shop/web")
    );

    let changed = built("h3", Vec::new(), PullPolicy::Build);
    assert_eq!(
        builds(&changed, &host, &ctx).len(),
        1,
        "new inputs are built"
    );
}

#[test]
fn missing_builds_only_an_absent_image_and_never_never_builds() {
    let stale = with_built(observed().tag("shop-web", "sha256:a"), "h1", "sha256:a");
    let missing = built("h2", Vec::new(), PullPolicy::Missing);
    assert!(builds(&missing, &stale, &PlanContext::default()).is_empty());
    assert_eq!(
        builds(&missing, &observed(), &PlanContext::default()).len(),
        1
    );
    let never = built("h2", Vec::new(), PullPolicy::Never);
    assert!(builds(&never, &observed(), &PlanContext::default()).is_empty());
    let pulls = plan("shop", Some(&missing), &observed(), &PlanContext::default())
        .actions
        .iter()
        .filter(|a| matches!(a, Action::PullImage { .. }))
        .count();
    assert_eq!(pulls, 0, "a built service is never pulled");
}

#[test]
fn services_built_from_the_same_inputs_into_one_image_share_one_build() {
    let p = built("h1", Vec::new(), PullPolicy::Build);
    let mut worker = p.services["web"].clone();
    worker.name = "worker".into();
    let p = p.service(worker);
    let plan = plan("shop", Some(&p), &observed(), &PlanContext::default());
    let texts: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
    let builds = texts.iter().filter(|t| t.starts_with("build")).count();
    assert_eq!(builds, 1, "{texts:?}");
    let build = texts.iter().position(|t| t.starts_with("build")).unwrap();
    let create = texts
        .iter()
        .position(|t| t == "create worker #1 (replica missing)")
        .unwrap();
    assert!(
        graph(&plan, &p).deps[create].contains(&build),
        "worker waits for the build of the image it runs: {texts:?}"
    );
}
