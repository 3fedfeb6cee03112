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
            })
            .collect())
    }
}
