//! `scripts/git-sync.sh` on real repositories: a bare "remote", a clone playing the
//! desired directory, and a second clone pushing new commits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The script under test.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/git-sync.sh")
}

/// `program` isolated from the machine's git configuration, with a fixed identity.
fn isolated(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid");
    command
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = isolated("git", dir).args(args).output().expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A bare remote, a `desired` clone (the checkout composectl reads) and an `upstream`
/// clone standing in for CI or a laptop.
struct Repos {
    root: tempfile::TempDir,
}

impl Repos {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        git(
            r,
            &["init", "--quiet", "--bare", "-b", "main", "remote.git"],
        );
        git(r, &["clone", "--quiet", "remote.git", "upstream"]);
        let repos = Self { root };
        repos.push(
            "shop/compose.yaml",
            "services: {web: {image: app:v1}}\n",
            "shop v1",
        );
        git(
            repos.root.path(),
            &["clone", "--quiet", "remote.git", "desired"],
        );
        repos
    }

    fn desired(&self) -> PathBuf {
        self.root.path().join("desired")
    }

    fn upstream(&self) -> PathBuf {
        self.root.path().join("upstream")
    }

    /// Commits `contents` to `file` in the upstream clone and pushes it.
    fn push(&self, file: &str, contents: &str, message: &str) -> String {
        commit(&self.upstream(), file, contents, message);
        git(
            &self.upstream(),
            &["push", "--quiet", "origin", "HEAD:main"],
        );
        git(&self.upstream(), &["rev-parse", "HEAD"])
    }

    fn head(&self) -> String {
        git(&self.desired(), &["rev-parse", "HEAD"])
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.desired().join(file)).unwrap()
    }

    /// Runs the sync as the timer does: the directory from `COMPOSECTL_DESIRED`.
    fn sync(&self) -> Output {
        isolated(script(), self.root.path())
            .env("COMPOSECTL_DESIRED", self.desired())
            .output()
            .expect("the sync script runs")
    }
}

fn commit(dir: &Path, file: &str, contents: &str, message: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
    git(dir, &["add", file]);
    git(dir, &["commit", "--quiet", "-m", message]);
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_pushed_commit_is_fast_forwarded_into_the_checkout_and_logged() {
    let repos = Repos::new();
    let pushed = repos.push(
        "shop/compose.yaml",
        "services: {web: {image: app:v2}}\n",
        "shop v2",
    );
    let out = repos.sync();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(repos.head(), pushed);
    assert_eq!(
        repos.read("shop/compose.yaml"),
        "services: {web: {image: app:v2}}\n"
    );
    let log = text(&out.stdout);
    assert!(log.contains("updating"), "{log}");
    assert!(log.contains("shop v2"), "the new commit is named: {log}");
    assert!(
        log.contains("shop/compose.yaml"),
        "the changed file is named: {log}"
    );
    let parents = git(
        &repos.desired(),
        &["rev-list", "--parents", "-n", "1", "HEAD"],
    );
    assert_eq!(parents.split(' ').count(), 2, "no merge commit: {parents}");
}

#[test]
fn an_up_to_date_checkout_is_left_alone() {
    let repos = Repos::new();
    let before = repos.head();
    let out = repos.sync();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("up to date"));
    assert_eq!(repos.head(), before);
}

#[test]
fn a_diverged_local_commit_is_refused_and_nothing_changes() {
    let repos = Repos::new();
    commit(
        &repos.desired(),
        "shop/compose.yaml",
        "local edit\n",
        "edited on the NAS",
    );
    let local = repos.head();
    repos.push(
        "shop/compose.yaml",
        "services: {web: {image: app:v2}}\n",
        "shop v2",
    );
    let out = repos.sync();
    assert_eq!(out.status.code(), Some(1));
    let message = text(&out.stderr);
    assert!(message.contains("refusing"), "{message}");
    assert!(message.contains("1 local commit(s)"), "{message}");
    assert!(
        message.contains("edited on the NAS"),
        "the commit is listed: {message}"
    );
    assert_eq!(repos.head(), local);
    assert_eq!(repos.read("shop/compose.yaml"), "local edit\n");
    assert_eq!(git(&repos.desired(), &["status", "--porcelain"]), "");
}

#[test]
fn local_changes_to_tracked_files_are_refused_staged_or_not() {
    for stage in [false, true] {
        let repos = Repos::new();
        let before = repos.head();
        std::fs::write(repos.desired().join("shop/compose.yaml"), "hand edit\n").unwrap();
        if stage {
            git(&repos.desired(), &["add", "shop/compose.yaml"]);
        }
        repos.push(
            "shop/compose.yaml",
            "services: {web: {image: app:v2}}\n",
            "shop v2",
        );
        let out = repos.sync();
        assert_eq!(out.status.code(), Some(1), "staged: {stage}");
        let message = text(&out.stderr);
        assert!(message.contains("local changes"), "{message}");
        assert!(message.contains("shop/compose.yaml"), "{message}");
        assert_eq!(repos.head(), before, "staged: {stage}");
        assert_eq!(
            repos.read("shop/compose.yaml"),
            "hand edit\n",
            "staged: {stage}"
        );
    }
}

#[test]
fn an_untracked_secret_file_survives_an_update() {
    let repos = Repos::new();
    std::fs::write(repos.desired().join("shop/.env"), "PASSWORD=hunter2\n").unwrap();
    let pushed = repos.push(
        "shop/compose.yaml",
        "services: {web: {image: app:v2}}\n",
        "shop v2",
    );
    let out = repos.sync();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(repos.head(), pushed);
    assert_eq!(repos.read("shop/.env"), "PASSWORD=hunter2\n");
}

#[test]
fn a_detached_head_or_a_missing_checkout_is_refused() {
    let repos = Repos::new();
    git(&repos.desired(), &["checkout", "--quiet", "--detach"]);
    let out = repos.sync();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("detached"),
        "{}",
        text(&out.stderr)
    );

    let plain = tempfile::tempdir().unwrap();
    let out = isolated(script(), plain.path())
        .arg(plain.path())
        .env("GIT_CEILING_DIRECTORIES", plain.path().parent().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a git checkout"),
        "{}",
        text(&out.stderr)
    );
}
