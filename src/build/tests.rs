use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::model::spec::BuildSpec;

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A context with a Dockerfile, an app and some noise.
fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "Dockerfile", "FROM scratch\nCOPY . /\n");
    write(d, "src/app.py", "print('hi')\n");
    write(d, "src/util/helpers.py", "x = 1\n");
    write(d, "node_modules/dep/index.js", "module.exports = 1\n");
    write(d, "notes.md", "notes\n");
    write(d, "README.md", "readme\n");
    dir
}

fn spec(dir: &Path) -> BuildSpec {
    BuildSpec {
        context: dir.to_path_buf(),
        ..BuildSpec::default()
    }
}

fn paths(context: &Context) -> Vec<&str> {
    context.entries.iter().map(|e| e.path.as_str()).collect()
}

fn hash_of(spec: &BuildSpec) -> String {
    Context::read(spec, &Limits::default()).unwrap().hash
}

#[test]
fn ignored_entries_are_not_sent_and_the_dockerfile_and_dockerignore_always_are() {
    let dir = sample();
    write(
        dir.path(),
        ".dockerignore",
        "node_modules\n*.md\n!README.md\nDockerfile\n.dockerignore\n",
    );
    let context = Context::read(&spec(dir.path()), &Limits::default()).unwrap();
    assert_eq!(
        paths(&context),
        [
            ".dockerignore",
            "Dockerfile",
            "README.md",
            "src",
            "src/app.py",
            "src/util",
            "src/util/helpers.py"
        ]
    );
    assert_eq!(context.dockerfile, "Dockerfile");
}

#[test]
fn an_exception_under_an_ignored_directory_brings_its_file_back() {
    let dir = sample();
    write(dir.path(), ".dockerignore", "src\n!src/util/helpers.py\n");
    let context = Context::read(&spec(dir.path()), &Limits::default()).unwrap();
    let sent = paths(&context);
    assert!(sent.contains(&"src/util/helpers.py"), "{sent:?}");
    assert!(!sent.contains(&"src/app.py"), "{sent:?}");
    assert!(!sent.contains(&"src"), "{sent:?}");
}

#[test]
fn the_archive_holds_exactly_the_entries_sent() {
    let dir = sample();
    write(dir.path(), ".dockerignore", "node_modules\n");
    std::os::unix::fs::symlink("src/app.py", dir.path().join("link")).unwrap();
    let (context, bytes) = Context::archive(&spec(dir.path()), &Limits::default()).unwrap();
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "link" {
            assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink);
            let target = entry.link_name().unwrap().unwrap();
            assert_eq!(target.to_string_lossy(), "src/app.py");
        }
        names.push(name.trim_end_matches('/').to_owned());
    }
    assert_eq!(names, paths(&context));
    assert_eq!(
        context,
        Context::read(&spec(dir.path()), &Limits::default()).unwrap()
    );
}

#[test]
fn an_inline_dockerfile_is_added_under_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "file.txt", "x");
    let spec = BuildSpec {
        dockerfile_inline: Some("FROM scratch\nCOPY file.txt /\n".into()),
        ..spec(dir.path())
    };
    let (context, bytes) = Context::archive(&spec, &Limits::default()).unwrap();
    assert_eq!(context.dockerfile, INJECTED_DOCKERFILE);
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut found = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == INJECTED_DOCKERFILE {
            std::io::Read::read_to_string(&mut entry, &mut found).unwrap();
        }
    }
    assert_eq!(found, "FROM scratch\nCOPY file.txt /\n");
}

#[test]
fn a_dockerfile_outside_the_context_is_sent_with_it() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "docker/app.Dockerfile", "FROM scratch\n");
    write(root.path(), "app/main.txt", "m");
    let spec = BuildSpec {
        dockerfile: Some("../docker/app.Dockerfile".into()),
        ..spec(&root.path().join("app"))
    };
    let context = Context::read(&spec, &Limits::default()).unwrap();
    assert_eq!(context.dockerfile, INJECTED_DOCKERFILE);
    assert_eq!(context.injected.as_deref(), Some("FROM scratch\n"));
}

#[test]
fn a_missing_dockerfile_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let spec = BuildSpec {
        dockerfile: Some("app.Dockerfile".into()),
        ..spec(dir.path())
    };
    let err = Context::read(&spec, &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::NoDockerfile { .. }), "{err}");
    assert!(err.to_string().contains("app.Dockerfile"), "{err}");
}

#[test]
fn a_fifo_in_the_context_is_refused_unless_ignored() {
    let dir = sample();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let err = Context::read(&spec(dir.path()), &Limits::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Special { path, .. } if path == "pipe"),
        "{err}"
    );
    write(dir.path(), ".dockerignore", "pipe\n");
    Context::read(&spec(dir.path()), &Limits::default()).unwrap();
}

#[test]
fn a_context_over_its_bounds_is_refused() {
    let dir = sample();
    let few = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let err = Context::read(&spec(dir.path()), &few).unwrap_err();
    assert!(
        matches!(err, Error::TooManyEntries { limit: 3, .. }),
        "{err}"
    );
    let small = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let err = Context::read(&spec(dir.path()), &small).unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 10, .. }), "{err}");
}

#[test]
fn a_bad_dockerignore_pattern_names_the_file() {
    let dir = sample();
    write(dir.path(), ".dockerignore", "src/[a\n");
    let err = Context::read(&spec(dir.path()), &Limits::default()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(".dockerignore") && text.contains("src/[a"),
        "{text}"
    );
}

type Change = fn(&Path, &mut BuildSpec);

#[test]
fn the_hash_changes_with_what_is_built_and_with_nothing_else() {
    let changes: &[(&str, Change, bool)] = &[
        ("nothing", |_, _| {}, false),
        (
            "a file's content",
            |d, _| write(d, "src/app.py", "print('bye')\n"),
            true,
        ),
        ("a new file", |d, _| write(d, "src/new.py", ""), true),
        (
            "a removed file",
            |d, _| fs::remove_file(d.join("notes.md")).unwrap(),
            true,
        ),
        (
            "a file's mode",
            |d, _| {
                let perms = fs::Permissions::from_mode(0o755);
                fs::set_permissions(d.join("src/app.py"), perms).unwrap();
            },
            true,
        ),
        (
            "the Dockerfile",
            |d, _| write(d, "Dockerfile", "FROM scratch\n"),
            true,
        ),
        (
            "a new ignored file",
            |d, _| write(d, "node_modules/dep/more.js", "y"),
            false,
        ),
        (
            "an ignored file's content",
            |d, _| write(d, "node_modules/dep/index.js", "z"),
            false,
        ),
        (
            "the .dockerignore",
            |d, _| write(d, ".dockerignore", "node_modules\n*.md\n"),
            true,
        ),
        (
            "a modification time",
            |d, _| {
                let f = fs::File::options()
                    .write(true)
                    .open(d.join("src/app.py"))
                    .unwrap();
                f.set_modified(std::time::UNIX_EPOCH).unwrap();
            },
            false,
        ),
        (
            "a build arg",
            |_, s| {
                s.args.insert("VERSION".into(), "2".into());
            },
            true,
        ),
        ("the target", |_, s| s.target = Some("runtime".into()), true),
        (
            "an image label",
            |_, s| {
                s.labels.insert("team".into(), "ops".into());
            },
            true,
        ),
        ("no_cache", |_, s| s.no_cache = true, true),
        (
            "an extra tag",
            |_, s| s.tags.push("app:extra".into()),
            false,
        ),
        (
            "the dockerfile path",
            |d, s| {
                write(d, "other.Dockerfile", "FROM scratch\nCOPY . /\n");
                s.dockerfile = Some("other.Dockerfile".into());
            },
            true,
        ),
        (
            "an inline dockerfile",
            |_, s| {
                s.dockerfile_inline = Some("FROM scratch\n".into());
            },
            true,
        ),
    ];
    for (what, change, changes_hash) in changes {
        let dir = sample();
        write(dir.path(), ".dockerignore", "node_modules\n");
        let mut spec = spec(dir.path());
        let before = hash_of(&spec);
        change(dir.path(), &mut spec);
        let after = hash_of(&spec);
        assert_eq!(before != after, *changes_hash, "{what}");
    }
}

#[test]
fn the_hash_does_not_depend_on_where_the_context_lies() {
    let one = sample();
    let two = sample();
    let args = BTreeMap::from([("A".to_owned(), "1".to_owned())]);
    let at = |dir: &Path| BuildSpec {
        args: args.clone(),
        ..spec(dir)
    };
    assert_eq!(hash_of(&at(one.path())), hash_of(&at(two.path())));
}

/// A clock an hour ahead: every file written by the test has settled by it.
fn hour_ahead() -> std::time::SystemTime {
    crate::clock::system_time() + std::time::Duration::from_secs(3600)
}

/// Writes `text` to `path` with the modification time `like` has (a same-size edit that
/// puts the time back).
fn write_as_of(path: &Path, text: &str, like: &Path) {
    let mtime = fs::metadata(like).unwrap().modified().unwrap();
    fs::write(path, text).unwrap();
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(mtime).unwrap();
}

fn read_with(dir: &Path, digests: &digests::Digests) -> Context {
    Context::read_with(&spec(dir), &Limits::default(), digests).unwrap()
}

#[test]
fn an_unchanged_context_is_not_read_again() {
    let dir = sample();
    let digests = digests::Digests::new(hour_ahead);
    let first = read_with(dir.path(), &digests);
    assert_eq!(digests.reused(), 0);
    let second = read_with(dir.path(), &digests);
    let files = first
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::File { .. }))
        .count();
    assert_eq!(files, 6);
    assert_eq!(digests.reused(), files as u64, "every file's digest reused");
    assert_eq!(second, first);
    // The archive path reads every byte it sends, whatever is known.
    let (archived, _) = Context::archive(&spec(dir.path()), &Limits::default()).unwrap();
    assert_eq!(archived.hash, first.hash);
}

#[test]
fn a_file_edited_in_place_is_read_again_even_with_its_size_and_mtime_put_back() {
    let dir = sample();
    let digests = digests::Digests::new(hour_ahead);
    let before = read_with(dir.path(), &digests);
    let path = dir.path().join("src/app.py");
    write_as_of(&path, "print('ho')\n", &path);
    let after = read_with(dir.path(), &digests);
    assert_ne!(after.hash, before.hash, "the change time moved: read again");
    assert_eq!(after.hash, hash_of(&spec(dir.path())));
    assert_eq!(digests.reused(), 5, "the other files were not read");
}

#[test]
fn a_file_replaced_as_git_does_is_read_again() {
    let dir = sample();
    let digests = digests::Digests::new(hour_ahead);
    let before = read_with(dir.path(), &digests);
    // git writes a new file and renames it over the old one: a new inode.
    let path = dir.path().join("src/app.py");
    let new = dir.path().join("src/.app.py.lock");
    write_as_of(&new, "print('ho')\n", &path);
    fs::rename(&new, &path).unwrap();
    let after = read_with(dir.path(), &digests);
    assert_ne!(after.hash, before.hash);
    assert_eq!(after.hash, hash_of(&spec(dir.path())));
}

#[test]
fn a_file_that_changed_just_before_the_read_is_not_trusted_later() {
    // By the wall clock, the sample's files changed a moment ago: a write in the same
    // clock tick after the read would leave their stamps as they are.
    let dir = sample();
    let digests = digests::Digests::new(crate::clock::system_time);
    read_with(dir.path(), &digests);
    read_with(dir.path(), &digests);
    assert_eq!(digests.reused(), 0);
}

#[test]
fn the_digests_of_the_least_recently_read_contexts_are_forgotten() {
    let digests = digests::Digests::new(hour_ahead);
    let dirs: Vec<_> = (0..=digests::MAX_CONTEXTS)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "Dockerfile", "FROM scratch\n");
            read_with(dir.path(), &digests);
            dir
        })
        .collect();
    read_with(dirs[digests::MAX_CONTEXTS].path(), &digests);
    assert_eq!(digests.reused(), 1, "the latest context is known");
    read_with(dirs[0].path(), &digests);
    assert_eq!(digests.reused(), 1, "the first one was forgotten");
}
