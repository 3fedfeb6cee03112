//! Which services' images are built, and which built image a service's tag goes back to.
//! Pure: the loader read each context ([`crate::model::spec::BuildInputs`]) and the
//! observed store knows each built image by its build hash.
//!
//! For a service with `build:` and `pull_policy` `build` (its default): when the image
//! under the service's name already carries the inputs' hash, nothing; when another image
//! on the host carries it (a revert to inputs built before), the tag is pointed back at
//! it ([`Action::TagImage`], no build); else the image is built ([`Action::Build`]),
//! unless a build of these very inputs failed: then a note says so, and it is tried again
//! only when the inputs change or on `composectl rollout rebuild`. `missing` builds only when
//! the host lacks the image; `never` never builds.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::build::Entry;
use crate::build::decide;
use crate::model::ObservedState;
use crate::model::observed::normalize_image_ref;
use crate::model::resources::PullPolicy;
use crate::model::spec::{ProjectSpec, ServiceSpec};

use super::{Action, BuildReason, Note, PlanContext, TagPurpose};

/// Changed paths `plan` names before "and N more".
pub const SHOWN_PATHS: usize = 3;

/// The builds and tag moves the project's built services need, in service order;
/// services that build one image from the same inputs share one (the first's).
pub(super) fn builds(
    spec: &ProjectSpec,
    observed: &ObservedState,
    ctx: &PlanContext,
) -> Vec<Action> {
    let mut seen = std::collections::BTreeSet::new();
    spec.services
        .values()
        .filter_map(|s| build_of(s, observed, ctx))
        .filter(|action| {
            let (image, what) = match action {
                Action::Build { image, hash, .. } => (image, hash),
                Action::TagImage {
                    reference,
                    image_id,
                    ..
                } => (reference, image_id),
                _ => return true,
            };
            seen.insert((normalize_image_ref(image), what.clone()))
        })
        .collect()
}

fn build_of(s: &ServiceSpec, observed: &ObservedState, ctx: &PlanContext) -> Option<Action> {
    let hash = &s.build.as_ref()?.inputs.as_ref()?.hash;
    let current = observed.image_id(&s.image);
    match s.pull_policy {
        PullPolicy::Never => return None,
        PullPolicy::Missing if current.is_some() => return None,
        _ => {}
    }
    if let Some(id) = observed.built.get(hash) {
        return (current != Some(id.as_str())).then(|| Action::TagImage {
            reference: s.image.clone(),
            image_id: id.clone(),
            service: s.name.clone(),
            purpose: TagPurpose::Built,
        });
    }
    if ctx.failed_builds.get(&s.name) == Some(hash) {
        return None;
    }
    let reason = match (current, ctx.built_from.get(&s.name)) {
        (None, _) => BuildReason::Missing,
        (Some(_), Some(before)) => changed(before, s),
        (Some(_), None) => BuildReason::InputsChanged,
    };
    Some(Action::Build {
        service: s.name.clone(),
        image: s.image.clone(),
        hash: hash.clone(),
        reason,
    })
}

/// The reason naming the files changed from `before` to the service's inputs now.
fn changed(before: &Arc<Vec<Entry>>, s: &ServiceSpec) -> BuildReason {
    let Some(inputs) = s.build.as_ref().and_then(|b| b.inputs.as_ref()) else {
        return BuildReason::InputsChanged;
    };
    let paths = decide::changed_paths(before, &inputs.entries);
    if paths.is_empty() {
        return BuildReason::InputsChanged;
    }
    BuildReason::ContextChanged {
        count: paths.len(),
        paths: paths.into_iter().take(SHOWN_PATHS).collect(),
    }
}

/// A note for each service whose current inputs failed to build (not tried again until
/// they change), with what to do.
pub(super) fn failed_notes(spec: &ProjectSpec, ctx: &PlanContext) -> Vec<Note> {
    let failed: &BTreeMap<String, String> = &ctx.failed_builds;
    spec.services
        .values()
        .filter(|s| {
            let hash = s.build.as_ref().and_then(|b| b.inputs.as_ref()).map(|i| &i.hash);
            hash.is_some() && failed.get(&s.name) == hash
        })
        .map(|s| Note {
            subject: format!("service {}", s.name),
            text: format!(
                "the build of image {} from these inputs failed; it keeps its current image until the inputs change (fix the Dockerfile or the context and commit) or `composectl rollout rebuild {}/{}`",
                s.image, spec.name, s.name
            ),
        })
        .collect()
}
