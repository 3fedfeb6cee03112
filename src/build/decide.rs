//! Pure decisions over builds: which files changed between two reads of a context (what
//! `plan` names: "build (context changed: Dockerfile, src/app.py)"), and which images
//! composectl built are no longer needed.

use std::collections::{BTreeMap, BTreeSet};

use super::context::Entry;
use crate::model::labels;
use crate::runtime::BuiltImage;

/// Images built for a service that are kept besides those in use or tagged: the newest
/// few, for `rollout undo` to older revisions.
pub const KEEP_BUILT: usize = 3;

/// The images of `built` (this instance's builds) that may be removed for `project`: built
/// for it, not among the [`KEEP_BUILT`] newest of their service, without a tag (the
/// service's current image and a rollout's `:previous` are tagged) and run by no container
/// (`in_use`, image IDs). Oldest first.
pub fn unused(built: &[BuiltImage], project: &str, in_use: &BTreeSet<&str>) -> Vec<String> {
    let mut by_service: BTreeMap<&str, Vec<&BuiltImage>> = BTreeMap::new();
    for image in built {
        if image.labels.get(labels::PROJECT).map(String::as_str) != Some(project) {
            continue;
        }
        let service = image.labels.get(labels::SERVICE).map_or("", String::as_str);
        by_service.entry(service).or_default().push(image);
    }
    let mut out: Vec<&BuiltImage> = by_service
        .into_values()
        .flat_map(|mut images| {
            images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
            images.into_iter().skip(KEEP_BUILT)
        })
        .filter(|image| image.tags.is_empty() && !in_use.contains(image.id.as_str()))
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    out.into_iter().map(|image| image.id.clone()).collect()
}

/// The paths added, removed or changed (content, mode, kind) from `before` to `after`,
/// sorted.
pub fn changed_paths(before: &[Entry], after: &[Entry]) -> Vec<String> {
    let old: BTreeMap<&str, &Entry> = before.iter().map(|e| (e.path.as_str(), e)).collect();
    let new: BTreeMap<&str, &Entry> = after.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut paths: Vec<String> = new
        .iter()
        .filter(|(path, entry)| old.get(*path) != Some(*entry))
        .map(|(path, _)| (*path).to_owned())
        .chain(
            old.keys()
                .filter(|path| !new.contains_key(*path))
                .map(|path| (*path).to_owned()),
        )
        .collect();
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::EntryKind;

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

    #[test]
    fn added_removed_and_changed_paths_are_named_in_order() {
        let before = [
            file("Dockerfile", "a"),
            file("old.txt", "b"),
            file("same", "c"),
        ];
        let after = [
            file("Dockerfile", "z"),
            file("same", "c"),
            file("src/app.py", "d"),
        ];
        assert_eq!(
            changed_paths(&before, &after),
            ["Dockerfile", "old.txt", "src/app.py"]
        );
        let mut mode = file("same", "c");
        mode.mode = 0o755;
        assert_eq!(changed_paths(&[file("same", "c")], &[mode]), ["same"]);
        assert!(changed_paths(&before, &before).is_empty());
    }

    #[test]
    fn only_old_untagged_unused_builds_of_the_project_are_removed() {
        let image = |id: &str, created: i64, service: &str, tagged: bool| BuiltImage {
            id: id.into(),
            tags: if tagged {
                vec!["x:previous".into()]
            } else {
                Vec::new()
            },
            labels: BTreeMap::from([
                (labels::BUILD_HASH.to_owned(), format!("h{id}")),
                (labels::PROJECT.to_owned(), "shop".to_owned()),
                (labels::SERVICE.to_owned(), service.to_owned()),
            ]),
            created,
        };
        let mut other = image("o1", 1, "web", false);
        other.labels.insert(labels::PROJECT.into(), "blog".into());
        let built = vec![
            image("w1", 1, "web", false),
            image("w2", 2, "web", true),
            image("w3", 3, "web", false),
            image("w4", 4, "web", false),
            image("w5", 5, "web", false),
            image("w6", 6, "web", false),
            image("a1", 1, "api", false),
            other,
        ];
        let in_use = BTreeSet::from(["w3"]);
        // w6, w5, w4 are the newest three; w3 runs; w2 is tagged; a1 is api's only build.
        assert_eq!(unused(&built, "shop", &in_use), vec!["w1".to_owned()]);
        assert!(unused(&built, "blog", &BTreeSet::new()).is_empty());
    }
}
