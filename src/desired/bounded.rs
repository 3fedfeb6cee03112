//! Loading the desired directory off the async runtime, bounded in time per project.
//!
//! The loader itself is synchronous file I/O. [`BoundedLoader`] runs the directory listing
//! and then each project's load on tokio's blocking pool, each with a timeout, so a file on
//! a hung mount fails that project only (with [`Error::Timeout`]) and never the loop that
//! awaits the load. A load that timed out may still hang on its thread; while it does,
//! the same project is not loaded again (it fails with the timeout at once), so a hung
//! file costs one blocked thread, not one per reload.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Env, Error, Limits, LoadReport, ProjectLoad, Result, layout, project};
use crate::sync;

/// How long one project's load (or the directory listing) may take by default.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads desired directories with a timeout per project; remembers loads still hanging.
#[derive(Debug, Clone)]
pub struct BoundedLoader {
    timeout: Duration,
    limits: Limits,
    hanging: Arc<Mutex<BTreeSet<PathBuf>>>,
}

impl Default for BoundedLoader {
    fn default() -> Self {
        Self::new(DEFAULT_LOAD_TIMEOUT, Limits::default())
    }
}

impl BoundedLoader {
    /// A loader giving each project (and the directory listing) `timeout`, reading no
    /// file larger than `limits` allow.
    pub fn new(timeout: Duration, limits: Limits) -> Self {
        Self {
            timeout,
            limits,
            hanging: Arc::default(),
        }
    }

    /// Loads every project under `root`, as [`super::load_dir`] does, off the runtime.
    pub async fn load_dir<E>(&self, root: &Path, env: E) -> Result<LoadReport>
    where
        E: Env + Clone + Send + 'static,
    {
        let listed = {
            let root = root.to_path_buf();
            self.run(root.clone(), move || layout::discover(&root))
                .await
        };
        let found = match listed {
            Some(Ok(found)) => found,
            Some(Err(source)) => {
                return Err(Error::RootUnreadable {
                    path: root.to_path_buf(),
                    source,
                });
            }
            None => return Err(self.timed_out(root)),
        };
        let mut loads: Vec<(String, PathBuf, ProjectLoad)> = Vec::new();
        for (dir_name, source) in found.projects {
            let path = source.path().to_path_buf();
            let env = env.clone();
            let limits = self.limits;
            let name = layout::normalize_name(&dir_name);
            let loaded = self
                .run(path.clone(), move || {
                    project::load_named(&dir_name, &source, &env, &limits)
                })
                .await;
            let (name, load) = loaded.unwrap_or_else(|| (name, Err(self.timed_out(&path))));
            loads.push((name, path, load));
        }
        let (projects, sources) = project::reject_duplicates(loads);
        Ok(LoadReport {
            projects,
            sources,
            bare_dirs: found.bare_dirs,
        })
    }

    /// Runs `work` (which reads `path`) on the blocking pool; `None` when it did not finish
    /// within the timeout, or when an earlier run for `path` is still hanging.
    async fn run<T, F>(&self, path: PathBuf, work: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if !self.lock().insert(path.clone()) {
            return None;
        }
        let hanging = self.hanging.clone();
        let task = tokio::task::spawn_blocking(move || {
            let out = work();
            sync::lock(&hanging).remove(&path);
            out
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(out)) => Some(out),
            Ok(Err(panicked)) => std::panic::resume_unwind(panicked.into_panic()),
            Err(_elapsed) => None,
        }
    }

    fn timed_out(&self, path: &Path) -> Error {
        Error::Timeout {
            path: path.to_path_buf(),
            after: self.timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
        sync::lock(&self.hanging)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hanging_load_fails_its_project_only_and_is_not_started_again() {
        let loader = BoundedLoader::new(Duration::from_millis(100), Limits::default());
        let (release, released) = std::sync::mpsc::channel::<()>();
        let path = PathBuf::from("/srv/desired/hung");
        let first = loader
            .run(path.clone(), move || released.recv().is_ok())
            .await;
        assert_eq!(first, None, "the hanging load times out");
        let again = loader.run(path.clone(), || true).await;
        assert_eq!(again, None, "not started again while the first still hangs");
        let other = loader.run(PathBuf::from("/srv/desired/ok"), || 7).await;
        assert_eq!(other, Some(7), "other projects load");
        release.send(()).unwrap();
        for _ in 0..100 {
            if loader.run(path.clone(), || true).await == Some(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the project loads again once its hanging load returned");
    }

    #[tokio::test]
    async fn a_directory_loads_off_the_runtime_like_load_dir() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("shop")).unwrap();
        std::fs::write(
            root.path().join("shop/compose.yaml"),
            "services:\n  web:\n    image: nginx\n",
        )
        .unwrap();
        std::fs::create_dir(root.path().join("conf")).unwrap();
        let env = std::collections::BTreeMap::<String, String>::new();
        let report = BoundedLoader::default()
            .load_dir(root.path(), env)
            .await
            .unwrap();
        assert!(report.projects["shop"].is_ok());
        assert_eq!(report.sources["shop"], root.path().join("shop"));
        assert_eq!(report.bare_dirs, [root.path().join("conf")]);
    }
}
