//! The content digests of build-context files, kept from one read of a context to the next,
//! so that the periodic reload does not read and hash every unchanged file again (a context
//! with `node_modules` is hundreds of megabytes: every 30 s, on a NAS).
//!
//! A digest is reused only for a file whose [`Stamp`] (device, inode, size, modification
//! and change times) is the one it had when it was read, as git's index does: `git pull`
//! writes a changed file as a new inode, an edit in place moves its change time (which
//! nothing but the kernel sets), so a changed file is read again. Two guards keep a stale
//! digest out:
//!
//! - a file whose stamp moved while it was read (its inode, size or times after the read are
//!   not those before) is not remembered;
//! - a file changed less than [`SETTLE`] before the read is not remembered ("racily clean"
//!   in git's words): timestamps tick coarsely (a jiffy), so a write just after the read
//!   could leave the stamp as it was.
//!
//! What is remembered is the digests seen in the latest read of each context: files no
//! longer there are forgotten with it, and at most [`MAX_CONTEXTS`] contexts are kept (the
//! least recently read goes first). The clock that judges "settled" is injected; the
//! process shares one table ([`Digests::global`]).

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sync;

/// How long ago a file must have last changed for its digest to be remembered.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Contexts whose digests are kept, at most.
pub const MAX_CONTEXTS: usize = 64;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of the file `meta` describes.
    pub fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The later of the modification and change times.
    fn changed(&self) -> SystemTime {
        let (secs, nanos) = self.mtime.max(self.ctime);
        match u64::try_from(secs) {
            Ok(secs) => UNIX_EPOCH + Duration::new(secs, nanos.clamp(0, 999_999_999) as u32),
            Err(_) => UNIX_EPOCH,
        }
    }
}

#[derive(Debug, Clone)]
struct Known {
    stamp: Stamp,
    digest: String,
}

#[derive(Debug)]
struct Table {
    /// Relative path -> the digest of the version last read.
    files: HashMap<String, Known>,
    /// When it was stored, by the injected clock (for eviction).
    stored: SystemTime,
}

/// The digests kept between reads of build contexts.
#[derive(Debug)]
pub struct Digests {
    tables: Mutex<HashMap<PathBuf, Table>>,
    now: fn() -> SystemTime,
    reused: AtomicU64,
}

impl Digests {
    /// An empty table whose "settled" judgement reads `now`.
    pub fn new(now: fn() -> SystemTime) -> Self {
        Self {
            tables: Mutex::new(HashMap::new()),
            now,
            reused: AtomicU64::new(0),
        }
    }

    /// The process's table (the wall clock judges "settled").
    pub fn global() -> &'static Digests {
        static GLOBAL: OnceLock<Digests> = OnceLock::new();
        GLOBAL.get_or_init(|| Digests::new(crate::clock::system_time))
    }

    /// How many digests were reused instead of reading the file, so far.
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }

    /// Starts a read of the context `dir`: what its previous read knew, and a place for
    /// what this one learns ([`Scan::finish`] keeps it).
    pub fn scan(&self, dir: &Path) -> Scan<'_> {
        let previous = sync::lock(&self.tables)
            .remove(dir)
            .map(|table| table.files)
            .unwrap_or_default();
        Scan {
            digests: self,
            dir: dir.to_path_buf(),
            previous,
            seen: HashMap::new(),
            settled_before: (self.now)().checked_sub(SETTLE).unwrap_or(UNIX_EPOCH),
        }
    }
}

/// One read of one context.
#[derive(Debug)]
pub struct Scan<'a> {
    digests: &'a Digests,
    dir: PathBuf,
    previous: HashMap<String, Known>,
    seen: HashMap<String, Known>,
    settled_before: SystemTime,
}

impl Scan<'_> {
    /// The digest of `path` when the previous read saw the same version (`stamp`) of it.
    pub fn known(&mut self, path: &str, stamp: &Stamp) -> Option<String> {
        let known = self.previous.remove(path).filter(|k| k.stamp == *stamp)?;
        self.digests.reused.fetch_add(1, Ordering::Relaxed);
        let digest = known.digest.clone();
        self.seen.insert(path.to_owned(), known);
        Some(digest)
    }

    /// Records the digest of `path` as read: `before` is its stamp before the read,
    /// `after` its stamp after (from the open file), `size` the bytes read. Kept only when
    /// the file stayed as it was and had settled.
    pub fn read(&mut self, path: &str, before: Stamp, after: Stamp, size: u64, digest: &str) {
        if before == after && size == before.size && before.changed() < self.settled_before {
            self.seen.insert(
                path.to_owned(),
                Known {
                    stamp: before,
                    digest: digest.to_owned(),
                },
            );
        }
    }

    /// Keeps what this read learnt for the next read of the context (a read that failed is
    /// dropped instead: the next one reads everything).
    pub fn finish(self) {
        let mut tables = sync::lock(&self.digests.tables);
        while tables.len() >= MAX_CONTEXTS {
            let oldest = tables
                .iter()
                .min_by_key(|(_, table)| table.stored)
                .map(|(dir, _)| dir.clone());
            match oldest {
                Some(dir) => tables.remove(&dir),
                None => break,
            };
        }
        tables.insert(
            self.dir,
            Table {
                files: self.seen,
                stored: (self.digests.now)(),
            },
        );
    }
}
