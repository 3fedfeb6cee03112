//! Secrets and configs: the files a project hands to its containers.
//!
//! The loader reads every top-level `secrets:` and `configs:` entry (from `file:`,
//! `environment:` or, for configs, `content:`) into a [`FileDef`]: its bytes and their
//! digest. A service's `secrets:` / `configs:` entries become [`FileRef`]s that carry the
//! digest of their source, so the service's config hash follows the content without holding
//! it. The executor writes each referenced file under the state directory
//! ([`FileRef::file_name`], content-addressed) and bind-mounts it read-only at
//! [`FileRef::target`].
//!
//! [`Content`] never prints its bytes (`Debug` shows the length only); it serializes them
//! because the revision history keeps whole specs for rollbacks (a 0700 directory, as for
//! environment values).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether a file is a secret or a config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FileKind {
    /// A top-level `secrets:` entry; mounted under `/run/secrets/` by default.
    #[default]
    Secret,
    /// A top-level `configs:` entry; mounted under `/` by default.
    Config,
}

impl FileKind {
    /// The compose word: `secret` or `config`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Config => "config",
        }
    }

    /// Where a target without a leading `/` (or no target) is placed.
    pub fn base_dir(self) -> &'static str {
        match self {
            Self::Secret => "/run/secrets/",
            Self::Config => "/",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bytes of a secret or config. `Debug` shows only their length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Content(pub Vec<u8>);

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Content({} bytes)", self.0.len())
    }
}

/// How [`Content`] is written in JSON: text when it is UTF-8, hex digits otherwise.
#[derive(Serialize, Deserialize)]
enum Stored {
    #[serde(rename = "text")]
    Text(String),
    #[serde(rename = "hex")]
    Hex(String),
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => Stored::Text(text.to_owned()),
            Err(_) => Stored::Hex(super::hash::hex(&self.0)),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Stored::deserialize(deserializer)? {
            Stored::Text(text) => Ok(Self(text.into_bytes())),
            Stored::Hex(hex) => {
                let bad = || serde::de::Error::custom("content: odd or non-hex digits");
                if hex.len() % 2 != 0 {
                    return Err(bad());
                }
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad()))
                    .collect::<Result<Vec<u8>, _>>()
                    .map(Self)
            }
        }
    }
}

impl Content {
    /// The sha256 of the bytes, in hex.
    pub fn digest(&self) -> String {
        super::hash::digest(&self.0)
    }
}

/// A top-level secret or config, its content read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDef {
    /// The compose key.
    pub name: String,
    /// The bytes.
    pub content: Content,
    /// [`Content::digest`] of the bytes.
    pub digest: String,
    /// The permission bits of a `file:` source: the mode a reference without `mode:` gets,
    /// as compose's bind mount of the file shows it (other sources get [`DEFAULT_MODE`]).
    #[serde(default)]
    pub source_mode: Option<u32>,
}

impl FileDef {
    /// The definition `name` with `content`, its digest computed.
    pub fn new(name: impl Into<String>, content: Vec<u8>) -> Self {
        let content = Content(content);
        Self {
            name: name.into(),
            digest: content.digest(),
            content,
            source_mode: None,
        }
    }
}

/// The default mode of a mounted secret or config (compose's: world-readable).
pub const DEFAULT_MODE: u32 = 0o444;

/// A service's use of a secret or config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// Secret or config.
    pub kind: FileKind,
    /// The top-level key (`source`).
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    /// Owner of the file (`uid`), when set.
    pub uid: Option<u32>,
    /// Group of the file (`gid`), when set.
    pub gid: Option<u32>,
    /// Permission bits (`mode`, default [`DEFAULT_MODE`]).
    pub mode: u32,
    /// The digest of the source's content, copied in so the config hash follows it.
    pub digest: String,
}

/// Hex digits of the digest in a materialized file's name.
const NAME_DIGEST_LEN: usize = 12;

impl FileRef {
    /// The name of the file the executor materializes for this reference: kind, source,
    /// content digest, mode and owner, so a file never changes in place (a new content or
    /// mode is a new file) and two references that need the same file share it.
    pub fn file_name(&self) -> String {
        let digest = &self.digest[..self.digest.len().min(NAME_DIGEST_LEN)];
        let mut name = format!("{}-{}-{digest}-{:04o}", self.kind, self.source, self.mode);
        if let Some(uid) = self.uid {
            name.push_str(&format!("-u{uid}"));
        }
        if let Some(gid) = self.gid {
            name.push_str(&format!("-g{gid}"));
        }
        name
    }

    /// The field name of this reference in the config hash and in `plan`'s drift reasons:
    /// `secret NAME` or `config NAME`.
    pub fn field_name(&self) -> String {
        format!("{} {}", self.kind, self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_never_shows_in_debug_and_round_trips_as_text_or_hex() {
        let text = FileDef::new("db", b"hunter2-secret".to_vec());
        assert!(!format!("{text:?}").contains("hunter2"));
        let binary = FileDef::new("blob", vec![0, 159, 146, 150, 255]);
        for def in [text, binary] {
            let json = serde_json::to_string(&def).unwrap();
            let back: FileDef = serde_json::from_str(&json).unwrap();
            assert_eq!(back, def);
        }
    }

    #[test]
    fn file_names_follow_content_mode_and_owner() {
        let r = FileRef {
            kind: FileKind::Secret,
            source: "db".into(),
            target: "/run/secrets/db".into(),
            uid: None,
            gid: None,
            mode: DEFAULT_MODE,
            digest: FileDef::new("db", b"x".to_vec()).digest,
        };
        assert_eq!(r.file_name(), "secret-db-2d711642b726-0444");
        let owned = FileRef {
            uid: Some(1000),
            gid: Some(50),
            mode: 0o400,
            ..r.clone()
        };
        assert_eq!(owned.file_name(), "secret-db-2d711642b726-0400-u1000-g50");
        assert_eq!(r.field_name(), "secret db");
    }
}
