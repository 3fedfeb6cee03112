//! Pure decisions over build contexts, for the planner: which image (if any) already
//! carries a context's hash, and which files changed between two reads of a context (what
//! `plan` names: "build (context changed: Dockerfile, src/app.py)").

use std::collections::BTreeMap;

use super::context::Entry;
use crate::model::labels;
use crate::runtime::BuiltImage;

/// The image built from the inputs hashed `hash`, when one is on the host: then no build
/// is needed, after a restart of composectl too.
pub fn current_image<'a>(built: &'a [BuiltImage], hash: &str) -> Option<&'a BuiltImage> {
    built
        .iter()
        .find(|image| image.labels.get(labels::BUILD_HASH).map(String::as_str) == Some(hash))
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

/// The first `shown` of `paths` and a count of the rest: `Dockerfile, src/app.py and 3
/// more`.
pub fn describe(paths: &[String], shown: usize) -> String {
    let mut text = paths
        .iter()
        .take(shown)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > shown {
        text.push_str(&format!(" and {} more", paths.len() - shown));
    }
    text
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
    fn a_description_names_the_first_paths_and_counts_the_rest() {
        let paths: Vec<String> = ["Dockerfile", "a", "b", "c", "d"].map(String::from).into();
        assert_eq!(describe(&paths[..2], 3), "Dockerfile, a");
        assert_eq!(describe(&paths, 3), "Dockerfile, a, b and 2 more");
    }

    #[test]
    fn the_current_image_is_the_one_labelled_with_the_hash() {
        let image = |id: &str, hash: &str| BuiltImage {
            id: id.into(),
            tags: Vec::new(),
            labels: BTreeMap::from([(labels::BUILD_HASH.to_owned(), hash.to_owned())]),
        };
        let built = [image("sha256:1", "h1"), image("sha256:2", "h2")];
        assert_eq!(
            current_image(&built, "h2").map(|i| i.id.as_str()),
            Some("sha256:2")
        );
        assert!(current_image(&built, "h3").is_none());
    }
}
