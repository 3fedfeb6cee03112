//! The fake's image builds: each records its tag and build hash, makes a new image ID (so
//! a rebuild is a new image, as on a real engine) and tags it; nothing is read from the
//! archive.

use std::collections::BTreeMap;

use super::{Call, FakeRuntime, Op};
use crate::model::labels;
use crate::model::observed::normalize_image_ref;
use crate::runtime::{BuiltImage, ImageBuild, Result};

impl FakeRuntime {
    /// `build_image`.
    pub(super) async fn build(&self, request: &ImageBuild) -> Result<String> {
        let call = Call::Build {
            tag: request.tag.clone(),
            hash: request.labels.get(labels::BUILD_HASH).cloned(),
        };
        let _busy = self.pace(&call).await;
        let mut engine = self.engine();
        engine.record(Op::BuildImage, call)?;
        let id = format!("sha256:{}", engine.new_id());
        let mut image_labels = request.settings.labels.clone();
        image_labels.extend(request.labels.clone());
        image_labels.insert(labels::MANAGED.to_owned(), "true".to_owned());
        engine.built.insert(id.clone(), image_labels);
        let tags = std::iter::once(&request.tag).chain(&request.settings.tags);
        for tag in tags {
            engine.images.insert(normalize_image_ref(tag), id.clone());
        }
        engine.emit_image("tag");
        Ok(id)
    }

    /// `list_built_images`.
    pub(super) fn built_images(&self) -> Result<Vec<BuiltImage>> {
        let mut engine = self.engine();
        engine.record(Op::ListBuiltImages, Call::ListBuiltImages)?;
        let mut tags: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (tag, id) in &engine.images {
            tags.entry(id.as_str()).or_default().push(tag.clone());
        }
        Ok(engine
            .built
            .iter()
            .map(|(id, labels)| BuiltImage {
                id: id.clone(),
                tags: tags.get(id.as_str()).cloned().unwrap_or_default(),
                labels: labels.clone(),
                // The fake's IDs count up in hex: they order the builds.
                created: i64::from_str_radix(id.trim_start_matches("sha256:"), 16).unwrap_or(0),
            })
            .collect())
    }

    /// `remove_image`: refused (false) while a container runs the image or more than one
    /// tag names it, as the engine refuses without `force`.
    pub(super) fn remove_built(&self, id: &str) -> Result<bool> {
        let mut engine = self.engine();
        let call = Call::RemoveImage { id: id.to_owned() };
        engine.record(Op::RemoveImage, call)?;
        let used = engine
            .containers
            .values()
            .any(|c| c.observed.image_id == id);
        let tags = engine.images.values().filter(|i| *i == id).count();
        if used || tags > 1 {
            return Ok(false);
        }
        engine.images.retain(|_, i| i != id);
        engine.built.remove(id);
        engine.emit_image("delete");
        Ok(true)
    }
}
