//! The build hash: one SHA-256 over every input of a build that changes the image, and
//! nothing else (see [`super`] for the list).

use sha2::{Digest, Sha256};

use super::context::{Entry, EntryKind};
use crate::model::hash::hex;
use crate::model::spec::BuildSpec;

/// Version of the hash's layout: changing what is hashed changes this, so images built by
/// an older composectl are rebuilt once rather than taken for current.
const LAYOUT: &str = "composectl-build-hash-v1";

/// The build settings that count, as hashed: `spec` without its context's place on disk,
/// its extra tags and its inline Dockerfile (hashed as the Dockerfile's text).
fn settings(spec: &BuildSpec) -> Vec<u8> {
    let counted = BuildSpec {
        context: Default::default(),
        tags: Vec::new(),
        dockerfile_inline: None,
        inputs: None,
        ..spec.clone()
    };
    serde_json::to_vec(&counted).expect("a build spec serializes to JSON")
}

/// The build hash of `spec` with the Dockerfile at `dockerfile` in the archive, its text
/// when `injected`, and the context's `entries`.
pub fn build_hash(
    spec: &BuildSpec,
    dockerfile: &str,
    injected: Option<&str>,
    entries: &[Entry],
) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(LAYOUT.as_bytes());
    field(&settings(spec));
    field(dockerfile.as_bytes());
    match injected {
        Some(text) => field(&Sha256::digest(text.as_bytes())),
        None => field(b""),
    }
    for entry in entries {
        field(entry.path.as_bytes());
        field(&entry.mode.to_be_bytes());
        match &entry.kind {
            EntryKind::Dir => field(b"dir"),
            EntryKind::File { digest, .. } => {
                field(b"file");
                field(digest.as_bytes());
            }
            EntryKind::Symlink { target } => {
                field(b"symlink");
                field(target.as_bytes());
            }
        }
    }
    hex(&h.finalize())
}
