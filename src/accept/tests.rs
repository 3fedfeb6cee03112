//! Tests of the bounded accept loop on a scripted listener (the cap, the pause after a
//! failed accept) and of [`WriteTimeout`] on an in-memory pipe, all on tokio's paused
//! clock.

use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, Notify, mpsc};

use super::*;

/// A listener that yields what the test sends it, and counts its accepts.
struct Scripted {
    queue: Mutex<mpsc::UnboundedReceiver<io::Result<u32>>>,
    attempts: AtomicUsize,
}

impl Scripted {
    fn new() -> (Self, mpsc::UnboundedSender<io::Result<u32>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let listener = Self {
            queue: Mutex::new(rx),
            attempts: AtomicUsize::new(0),
        };
        (listener, tx)
    }
}

impl Listener for Scripted {
    type Stream = u32;

    async fn accept_one(&self) -> io::Result<u32> {
        let next = self.queue.lock().await.recv().await;
        self.attempts.fetch_add(1, Ordering::SeqCst);
        match next {
            Some(result) => result,
            None => std::future::pending().await,
        }
    }
}

/// Lets the spawned tasks run until all of them wait.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_loop_holds_at_most_its_slots_and_takes_the_next_client_when_one_closes() {
    let (listener, clients) = Scripted::new();
    let listener = Arc::new(listener);
    let slots = Slots::new(4);
    let served = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    for client in 0..54 {
        clients.send(Ok(client)).unwrap();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let (listener, slots, served, release) = (
            listener.clone(),
            slots.clone(),
            served.clone(),
            release.clone(),
        );
        async move {
            let open = run(&*listener, &slots, "test", stopped, |_client| {
                let (served, release) = (served.clone(), release.clone());
                async move {
                    served.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                }
            })
            .await;
            open.len()
        }
    });
    settle().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(slots.open(), 4);
    assert_eq!(
        served.load(Ordering::SeqCst),
        4,
        "only as many as there are slots"
    );

    release.notify_one();
    settle().await;
    assert_eq!(
        served.load(Ordering::SeqCst),
        5,
        "a freed slot takes the next client"
    );
    assert_eq!(slots.open(), 4);

    stop.send(()).unwrap();
    assert_eq!(
        task.await.unwrap(),
        4,
        "the open connections are handed back"
    );
}

#[tokio::test(start_paused = true)]
async fn failed_accepts_neither_end_the_loop_nor_spin_it() {
    let (listener, clients) = Scripted::new();
    let listener = Arc::new(listener);
    for _ in 0..20 {
        let emfile = io::Error::from_raw_os_error(24);
        clients.send(Err(emfile)).unwrap();
    }
    clients.send(Ok(7)).unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn({
        let (listener, served) = (listener.clone(), served.clone());
        async move {
            run(&*listener, &Slots::new(4), "test", stopped, |_client| {
                let served = served.clone();
                async move {
                    served.fetch_add(1, Ordering::SeqCst);
                }
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = listener.attempts.load(Ordering::SeqCst);
    assert!(
        (9..=11).contains(&attempts),
        "one attempt per {ACCEPT_PAUSE:?}, not a spin: {attempts} in 1 s"
    );
    assert_eq!(served.load(Ordering::SeqCst), 0);

    // Once the descriptors are back, the loop serves again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(listener.attempts.load(Ordering::SeqCst), 21);
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[test]
fn a_server_has_at_least_one_slot() {
    assert_eq!(Slots::new(0).max(), 1);
    assert_eq!(Slots::new(0).open(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_write_the_peer_never_reads_fails_after_the_timeout() {
    let (ours, _theirs) = tokio::io::duplex(64);
    let mut stream = WriteTimeout::new(ours, Duration::from_secs(10));
    let started = Instant::now();
    let error = stream.write_all(&[0; 1024]).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_that_keeps_reading_is_not_cut_off() {
    use tokio::io::AsyncReadExt;
    let (ours, mut theirs) = tokio::io::duplex(64);
    let mut stream = WriteTimeout::new(ours, Duration::from_secs(10));
    let reader = tokio::spawn(async move {
        let mut total = 0;
        let mut buf = [0; 64];
        while total < 1024 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            total += theirs.read(&mut buf).await.unwrap();
        }
        total
    });
    stream.write_all(&[0; 1024]).await.unwrap();
    assert_eq!(reader.await.unwrap(), 1024);
}
