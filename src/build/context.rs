//! One pass over a build context: the entries `.dockerignore` lets through, each file read
//! once, hashed and (when an archive is asked for) written into the tar the engine gets.
//! Without an archive, a file unchanged since the previous pass is not read again: its
//! digest comes from [`super::digests`]; files are hashed as they stream in, so memory does
//! not grow with their size.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::digests::{self, Digests, Stamp};
use super::ignore::{self, Matcher, ParentMatches};
use super::{Error, INJECTED_DOCKERFILE, Limits, Result, hash};
use crate::model::hash::hex;
use crate::model::spec::BuildSpec;

/// What an entry of the context is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EntryKind {
    /// A regular file: its size and the SHA-256 of its content (hex).
    File {
        /// Bytes.
        size: u64,
        /// SHA-256 of the content, hex.
        digest: String,
    },
    /// A directory.
    Dir,
    /// A symlink, sent as a link (never followed).
    Symlink {
        /// Where it points, as written.
        target: String,
    },
}

/// One entry sent to the engine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Slash-separated path relative to the context.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits (`0o7777` of the mode).
    pub mode: u32,
}

/// A build context as read: what is sent, the Dockerfile and the build hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The context directory.
    pub dir: PathBuf,
    /// The entries sent, in walk order (sorted by name within each directory).
    pub entries: Vec<Entry>,
    /// The Dockerfile's path in the archive (the `dockerfile` build parameter).
    pub dockerfile: String,
    /// The Dockerfile's text when it is added to the archive under
    /// [`INJECTED_DOCKERFILE`] (inline, or outside the context).
    pub injected: Option<String>,
    /// The build hash ([`hash::build_hash`]).
    pub hash: String,
}

impl Context {
    /// Reads the context of `spec` and computes its hash, without an archive; files
    /// unchanged since the process last read them are not read again.
    pub fn read(spec: &BuildSpec, limits: &Limits) -> Result<Self> {
        Self::read_with(spec, limits, Digests::global())
    }

    /// [`Context::read`] with the digests of earlier reads kept in `digests`.
    pub fn read_with(spec: &BuildSpec, limits: &Limits, digests: &Digests) -> Result<Self> {
        scan(spec, limits, None, digests)
    }

    /// Reads the context of `spec` and writes its tar: the archive and the hash come from
    /// the same read of every file.
    pub fn archive(spec: &BuildSpec, limits: &Limits) -> Result<(Self, Vec<u8>)> {
        let mut builder = tar::Builder::new(Vec::new());
        let context = scan(spec, limits, Some(&mut builder), Digests::global())?;
        let bytes = builder.into_inner().map_err(|source| Error::Archive {
            context: context.dir.clone(),
            path: String::new(),
            source,
        })?;
        Ok((context, bytes))
    }
}

/// Where a file's bytes stream to: the hash, and the archive's copy when one is written.
struct Hashing {
    hasher: Sha256,
    content: Option<Vec<u8>>,
}

impl io::Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        if let Some(content) = &mut self.content {
            content.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Walk<'a> {
    dir: &'a Path,
    limits: &'a Limits,
    matcher: Matcher,
    entries: Vec<Entry>,
    bytes: u64,
    tar: Option<&'a mut tar::Builder<Vec<u8>>>,
    digests: digests::Scan<'a>,
}

fn scan(
    spec: &BuildSpec,
    limits: &Limits,
    tar: Option<&mut tar::Builder<Vec<u8>>>,
    digests: &Digests,
) -> Result<Context> {
    let dir = spec.context.as_path();
    let (dockerfile, injected) = dockerfile(spec, limits)?;
    let mut patterns = dockerignore(dir, limits)?;
    let file = dir.join(".dockerignore");
    let pattern_error = |source| Error::Pattern {
        file: file.clone(),
        source,
    };
    let first = Matcher::new(&patterns).map_err(pattern_error)?;
    if first.matches(".dockerignore") {
        patterns.push("!.dockerignore".into());
    }
    if injected.is_none() && first.matches(&dockerfile) {
        patterns.push(format!("!{dockerfile}"));
    }
    let mut walk = Walk {
        dir,
        limits,
        matcher: Matcher::new(&patterns).map_err(pattern_error)?,
        entries: Vec::new(),
        bytes: 0,
        tar,
        digests: digests.scan(dir),
    };
    walk.directory(dir, "", None)?;
    if let Some(text) = &injected {
        walk.inject(INJECTED_DOCKERFILE, text)?;
    }
    walk.digests.finish();
    let hash = hash::build_hash(spec, &dockerfile, injected.as_deref(), &walk.entries);
    Ok(Context {
        dir: dir.to_path_buf(),
        entries: walk.entries,
        dockerfile,
        injected,
        hash,
    })
}

/// The Dockerfile's path in the archive, and its text when it must be added.
fn dockerfile(spec: &BuildSpec, limits: &Limits) -> Result<(String, Option<String>)> {
    let dir = &spec.context;
    if let Some(text) = &spec.dockerfile_inline {
        return Ok((INJECTED_DOCKERFILE.into(), Some(text.clone())));
    }
    let named = spec.dockerfile.as_deref().unwrap_or("Dockerfile");
    let path = crate::desired::relpaths::clean(&dir.join(named));
    let missing = || Error::NoDockerfile {
        context: dir.clone(),
        path: named.to_owned(),
    };
    if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return Err(missing());
    }
    match path.strip_prefix(dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => Ok((rel.to_string_lossy().into_owned(), None)),
        _ => {
            let bytes = read_small(&path, limits.max_control_file_bytes, dir, named)?;
            Ok((
                INJECTED_DOCKERFILE.into(),
                Some(String::from_utf8_lossy(&bytes).into_owned()),
            ))
        }
    }
}

/// The patterns of the context's `.dockerignore` (none when it has none).
fn dockerignore(dir: &Path, limits: &Limits) -> Result<Vec<String>> {
    let path = dir.join(".dockerignore");
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(Error::Read {
            context: dir.to_path_buf(),
            path: ".dockerignore".into(),
            source,
        }),
        Ok(meta) if !meta.is_file() => Err(Error::Special {
            context: dir.to_path_buf(),
            path: ".dockerignore (it must be a regular file)".into(),
        }),
        Ok(_) => {
            let bytes = read_small(&path, limits.max_control_file_bytes, dir, ".dockerignore")?;
            Ok(ignore::parse(&String::from_utf8_lossy(&bytes)))
        }
    }
}

fn read_small(path: &Path, limit: u64, dir: &Path, shown: &str) -> Result<Vec<u8>> {
    let read_error = |source| Error::Read {
        context: dir.to_path_buf(),
        path: shown.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    open_nofollow(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            context: dir.to_path_buf(),
            what: shown.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

fn open_nofollow(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

impl Walk<'_> {
    fn read_error(&self, path: &str) -> impl FnOnce(io::Error) -> Error + use<> {
        let context = self.dir.to_path_buf();
        let path = path.to_owned();
        move |source| Error::Read {
            context,
            path,
            source,
        }
    }

    fn directory(&mut self, abs: &Path, rel: &str, parent: Option<&ParentMatches>) -> Result<()> {
        let shown = if rel.is_empty() { "." } else { rel };
        let mut names: Vec<_> = fs::read_dir(abs)
            .and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<Vec<_>>>()
            })
            .map_err(self.read_error(shown))?;
        names.sort();
        for name in names {
            let name = name.to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let child = abs.join(&name);
            let meta = fs::symlink_metadata(&child).map_err(self.read_error(&path))?;
            let (ignored, own) = self.matcher.matches_under(&path, parent);
            if ignored {
                let walk_on = meta.is_dir()
                    && self.matcher.has_exclusions()
                    && self.matcher.may_except_under(&path);
                if walk_on {
                    self.directory(&child, &path, Some(&own))?;
                }
                continue;
            }
            self.entry(&child, &path, &meta)?;
            if meta.is_dir() {
                self.directory(&child, &path, Some(&own))?;
            }
        }
        Ok(())
    }

    fn count(&mut self) -> Result<()> {
        if self.entries.len() >= self.limits.max_entries {
            return Err(Error::TooManyEntries {
                context: self.dir.to_path_buf(),
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn entry(&mut self, abs: &Path, path: &str, meta: &Metadata) -> Result<()> {
        self.count()?;
        let mode = meta.mode() & 0o7777;
        let mut header = tar::Header::new_gnu();
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        let file_type = meta.file_type();
        let kind = if file_type.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            self.append(&mut header, &format!("{path}/"), &[][..])?;
            EntryKind::Dir
        } else if file_type.is_symlink() {
            let target = fs::read_link(abs).map_err(self.read_error(path))?;
            let target = target.to_string_lossy().into_owned();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            if let Some(tar) = self.tar.as_deref_mut() {
                tar.append_link(&mut header, path, &target)
                    .map_err(self.archive_error(path))?;
            }
            EntryKind::Symlink { target }
        } else if file_type.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
            let (size, digest) = self.file(abs, path, meta, &mut header)?;
            EntryKind::File { size, digest }
        } else {
            return Err(Error::Special {
                context: self.dir.to_path_buf(),
                path: path.to_owned(),
            });
        };
        self.entries.push(Entry {
            path: path.to_owned(),
            kind,
            mode,
        });
        Ok(())
    }

    /// The size and digest of the regular file `abs` (`path` in the context), appended to
    /// the archive when one is written. Without an archive, the digest of an unchanged file
    /// is the one its previous read computed.
    fn file(
        &mut self,
        abs: &Path,
        path: &str,
        meta: &Metadata,
        header: &mut tar::Header,
    ) -> Result<(u64, String)> {
        let before = Stamp::of(meta);
        if self.tar.is_none()
            && let Some(digest) = self.digests.known(path, &before)
        {
            self.add_bytes(before.size())?;
            return Ok((before.size(), digest));
        }
        let file = open_nofollow(abs).map_err(self.read_error(path))?;
        let left = self.limits.max_bytes.saturating_sub(self.bytes);
        let mut sink = Hashing {
            hasher: Sha256::new(),
            content: self.tar.is_some().then(Vec::new),
        };
        let size =
            io::copy(&mut (&file).take(left + 1), &mut sink).map_err(self.read_error(path))?;
        self.add_bytes(size)?;
        let digest = hex(&sink.hasher.finalize());
        let content = sink.content.unwrap_or_default();
        let after = file.metadata().map_err(self.read_error(path))?;
        self.digests
            .read(path, before, Stamp::of(&after), size, &digest);
        header.set_size(size);
        self.append(header, path, &content[..])?;
        Ok((size, digest))
    }

    /// Counts `size` more bytes of content; an error past the context's bound.
    fn add_bytes(&mut self, size: u64) -> Result<()> {
        self.bytes += size;
        if self.bytes > self.limits.max_bytes {
            return Err(Error::TooLarge {
                context: self.dir.to_path_buf(),
                what: "the context".into(),
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    fn inject(&mut self, name: &str, text: &str) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(text.len() as u64);
        self.append(&mut header, name, text.as_bytes())
    }

    fn append(&mut self, header: &mut tar::Header, path: &str, data: &[u8]) -> Result<()> {
        let error = self.archive_error(path);
        if let Some(tar) = self.tar.as_deref_mut() {
            tar.append_data(header, path, data).map_err(error)?;
        }
        Ok(())
    }

    fn archive_error(&self, path: &str) -> impl FnOnce(io::Error) -> Error + use<> {
        let context = self.dir.to_path_buf();
        let path = path.to_owned();
        move |source| Error::Archive {
            context,
            path,
            source,
        }
    }
}
