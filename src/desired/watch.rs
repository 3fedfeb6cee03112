//! Watching the desired directory: file-system events become one debounced reload signal.
//!
//! A `git pull` that rewrites ten files produces dozens of inotify events over a few
//! milliseconds; the controller should reload once, after the writes settle. [`debounce`]
//! waits for `quiet` without events (but at most `max_wait` after the first one, so a
//! directory that never stops changing is still reloaded). Events inside `.git/` and pure
//! reads are ignored. The periodic resync reloads too, so an event notify misses (inotify
//! limits, a replaced mount) only delays a change, it never loses one.

use std::path::{Component, Path};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// Errors of the watcher.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be watched.
    #[error("cannot watch {path}: {source}; check that it exists and is readable")]
    Watch {
        /// The desired directory.
        path: String,
        /// notify's error.
        #[source]
        source: notify::Error,
    },
}

/// Keeps the file-system watch alive; dropping it stops the watch.
pub struct DesiredWatcher {
    _watcher: RecommendedWatcher,
}

/// Watches `root` recursively; the receiver yields `()` once per settled burst of changes.
pub fn watch(root: &Path, quiet: Duration) -> Result<(DesiredWatcher, mpsc::Receiver<()>), Error> {
    let (raw_tx, raw_rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let relevant = match res {
            Ok(event) => is_relevant(&event),
            // An error (queue overflow, say) may hide changes: reload to be safe.
            Err(_) => true,
        };
        if relevant {
            let _ = raw_tx.send(());
        }
    })
    .map_err(|source| watch_error(root, source))?;
    watcher
        .watch(root, RecursiveMode::Recursive)
        .map_err(|source| watch_error(root, source))?;
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(debounce(raw_rx, tx, quiet, quiet * 10));
    Ok((DesiredWatcher { _watcher: watcher }, rx))
}

fn watch_error(root: &Path, source: notify::Error) -> Error {
    Error::Watch {
        path: root.display().to_string(),
        source,
    }
}

/// True for events that may change what the loader reads.
fn is_relevant(event: &notify::Event) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event.paths.is_empty() || event.paths.iter().any(|p| !inside_git_dir(p))
}

fn inside_git_dir(path: &Path) -> bool {
    path.components()
        .any(|c| matches!(c, Component::Normal(name) if name == ".git"))
}

/// Turns bursts of `raw` signals into one `out` signal each: sent once `quiet` has passed
/// without a new signal, or `max_wait` after the burst began. Ends when either side closes.
pub async fn debounce(
    mut raw: mpsc::UnboundedReceiver<()>,
    out: mpsc::Sender<()>,
    quiet: Duration,
    max_wait: Duration,
) {
    while raw.recv().await.is_some() {
        let started = Instant::now();
        let mut deadline = started + quiet;
        loop {
            tokio::select! {
                more = raw.recv() => {
                    if more.is_none() {
                        break;
                    }
                    deadline = (Instant::now() + quiet).min(started + max_wait);
                }
                () = sleep_until(deadline) => break,
            }
        }
        // A full channel already holds a pending reload, which covers this one too.
        if out.is_closed() {
            return;
        }
        let _ = out.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels() -> (
        mpsc::UnboundedSender<()>,
        mpsc::Receiver<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(debounce(
            raw_rx,
            tx,
            Duration::from_millis(500),
            Duration::from_secs(5),
        ));
        (raw_tx, rx, task)
    }

    #[tokio::test(start_paused = true)]
    async fn ten_writes_in_a_burst_are_one_reload_after_the_quiet_period() {
        let (raw, mut rx, _task) = channels();
        let start = Instant::now();
        for _ in 0..10 {
            raw.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rx.recv().await.unwrap();
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(680), "{waited:?}");
        assert!(waited < Duration::from_millis(800), "{waited:?}");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(rx.try_recv().is_err(), "one reload only");
    }

    #[tokio::test(start_paused = true)]
    async fn endless_changes_still_reload_after_max_wait() {
        let (raw, mut rx, _task) = channels();
        let start = Instant::now();
        let writer = tokio::spawn(async move {
            for _ in 0..200 {
                if raw.send(()).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        rx.recv().await.unwrap();
        assert_eq!(start.elapsed().as_secs(), 5);
        writer.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn separate_bursts_are_separate_reloads() {
        let (raw, mut rx, _task) = channels();
        raw.send(()).unwrap();
        rx.recv().await.unwrap();
        raw.send(()).unwrap();
        rx.recv().await.unwrap();
    }

    #[test]
    fn git_internals_and_reads_are_ignored() {
        use notify::event::{AccessKind, CreateKind};
        let git = notify::Event::new(EventKind::Create(CreateKind::File))
            .add_path("/srv/desired/.git/objects/ab/cdef".into());
        let compose = notify::Event::new(EventKind::Create(CreateKind::File))
            .add_path("/srv/desired/shop/compose.yaml".into());
        let read = notify::Event::new(EventKind::Access(AccessKind::Any))
            .add_path("/srv/desired/shop/compose.yaml".into());
        assert!(!is_relevant(&git));
        assert!(is_relevant(&compose));
        assert!(!is_relevant(&read));
    }

    #[tokio::test]
    async fn a_file_written_in_the_directory_signals_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (_w, mut rx) = watch(dir.path(), Duration::from_millis(50)).unwrap();
        std::fs::write(dir.path().join("app.yaml"), "services: {}\n").unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(got.unwrap(), Some(()));
    }
}
