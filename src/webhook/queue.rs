//! The outbox: a bounded queue of events and the one task that delivers them in order,
//! retrying a failed delivery with a jittered exponential backoff (backon). Pushing never
//! waits: when the queue is full the oldest event is dropped (a warning and a counter say
//! so), so a dead receiver can never hold up the controller.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::Notify;
use tracing::warn;

use super::event::Event;
use crate::sync;

/// How a failed delivery is retried, and how many events may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The first delay before a retry (doubles per retry, with jitter).
    pub first: Duration,
    /// The longest delay between retries.
    pub max: Duration,
    /// Retries after the first attempt before the event is given up.
    pub retries: usize,
    /// Events that may wait for delivery; the oldest is dropped beyond it.
    pub capacity: usize,
}

impl Default for Retry {
    /// 2 s, 4 s, ... up to 1 min between retries, 6 retries (about 2 minutes), 64 events.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(2),
            max: Duration::from_secs(60),
            retries: 6,
            capacity: 64,
        }
    }
}

/// What happened to the events so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events the receiver accepted.
    pub delivered: u64,
    /// Events given up after every retry failed, or refused for good (a 4xx answer).
    pub failed: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Events waiting now.
    pub queued: u64,
}

/// How one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong (redacted: the URL without its secrets).
    pub message: String,
    /// Whether trying again may help (no connection, a timeout, a 5xx or 429 answer).
    pub transient: bool,
}

/// The state shared by the handles and the sender task.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Event>>,
    wake: Notify,
    closed: AtomicBool,
    /// True from taking an event off the queue until its delivery ended.
    in_flight: AtomicBool,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Outbox {
    /// Queues `event`, dropping the oldest waiting one when `capacity` are waiting. Never
    /// waits.
    pub fn push(&self, event: Event, capacity: usize) {
        let dropped = {
            let mut queue = sync::lock(&self.queue);
            let dropped = if queue.len() >= capacity.max(1) {
                queue.pop_front()
            } else {
                None
            };
            queue.push_back(event);
            dropped
        };
        if let Some(old) = dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            warn!(
                event = old.event.as_str(),
                project = %old.project,
                service = old.service.as_deref().unwrap_or(""),
                capacity,
                "the webhook queue is full (the receiver is slow or down); dropped its oldest event"
            );
        }
        self.wake.notify_one();
    }

    /// Tells the sender task to end once the queue is empty.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The figures so far.
    pub fn stats(&self) -> Stats {
        Stats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: sync::lock(&self.queue).len() as u64,
        }
    }

    /// True when no event waits and none is being delivered.
    pub fn is_idle(&self) -> bool {
        let queue = sync::lock(&self.queue);
        queue.is_empty() && !self.in_flight.load(Ordering::Acquire)
    }

    /// The next event, waiting for one; `None` once closed and empty.
    async fn next(&self) -> Option<Event> {
        loop {
            {
                let mut queue = sync::lock(&self.queue);
                if let Some(event) = queue.pop_front() {
                    self.in_flight.store(true, Ordering::Release);
                    return Some(event);
                }
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            self.wake.notified().await;
        }
    }

    /// Delivers every event in order with `attempt`, retrying as `retry` says, until closed.
    pub async fn run<F, Fut>(self: Arc<Self>, retry: Retry, attempt: F)
    where
        F: Fn(Event) -> Fut,
        Fut: Future<Output = Result<(), Failure>>,
    {
        while let Some(event) = self.next().await {
            let backoff = ExponentialBuilder::default()
                .with_min_delay(retry.first)
                .with_max_delay(retry.max)
                .with_max_times(retry.retries)
                .with_jitter();
            let outcome = (|| attempt(event.clone()))
                .retry(backoff)
                .sleep(tokio::time::sleep)
                .when(|failure: &Failure| failure.transient)
                .notify(|failure: &Failure, after: Duration| {
                    warn!(
                        event = event.event.as_str(),
                        error = %failure.message,
                        retry_in = ?after,
                        "webhook delivery failed; retrying"
                    );
                })
                .await;
            self.in_flight.store(false, Ordering::Release);
            match outcome {
                Ok(()) => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(failure) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    warn!(
                        event = event.event.as_str(),
                        project = %event.project,
                        service = event.service.as_deref().unwrap_or(""),
                        error = %failure.message,
                        "the webhook event was given up"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::time::Instant;

    use super::*;
    use crate::webhook::test_receiver::{load_failed, rolled_back};

    fn retry(capacity: usize) -> Retry {
        Retry {
            capacity,
            ..Retry::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_delivery_is_retried_with_growing_delays_then_succeeds() {
        let outbox = Arc::new(Outbox::default());
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let log = attempts.clone();
        let runner = tokio::spawn(outbox.clone().run(retry(8), move |_event| {
            let log = log.clone();
            async move {
                let mut log = sync::lock(&log);
                log.push(Instant::now());
                if log.len() < 3 {
                    Err(Failure {
                        message: "POST http://h/: the receiver answered 503".into(),
                        transient: true,
                    })
                } else {
                    Ok(())
                }
            }
        }));
        let start = Instant::now();
        outbox.push(rolled_back(), 8);
        while outbox.stats().delivered == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let at: Vec<Duration> = sync::lock(&attempts).iter().map(|t| *t - start).collect();
        assert_eq!(at.len(), 3, "{at:?}");
        let (first, second) = (at[1] - at[0], at[2] - at[1]);
        assert!(first >= Duration::from_secs(2), "{at:?}");
        assert!(second >= Duration::from_secs(4), "the delay grows: {at:?}");
        assert!(
            second <= Duration::from_secs(8) + Duration::from_millis(200),
            "{at:?}"
        );
        assert_eq!(
            outbox.stats(),
            Stats {
                delivered: 1,
                failed: 0,
                dropped: 0,
                queued: 0
            }
        );
        outbox.close();
        runner.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_for_good_is_not_retried_and_retries_end() {
        let outbox = Arc::new(Outbox::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let count = calls.clone();
        let runner = tokio::spawn(outbox.clone().run(retry(8), move |event: Event| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                Err(Failure {
                    message: "refused".into(),
                    // The rollout event is refused for good; the other never gets through.
                    transient: !event.event.is_rollout(),
                })
            }
        }));
        outbox.push(rolled_back(), 8);
        outbox.push(load_failed(), 8);
        outbox.close();
        runner.await.unwrap();
        // 1 attempt for the refused event, 1 + 6 retries for the other.
        assert_eq!(calls.load(Ordering::SeqCst), 1 + 7);
        assert_eq!(outbox.stats().failed, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_its_oldest_events_and_never_waits() {
        let outbox = Arc::new(Outbox::default());
        // The receiver never answers: the first event is stuck in delivery.
        let runner = tokio::spawn(outbox.clone().run(retry(4), |_event| {
            std::future::pending::<Result<(), Failure>>()
        }));
        outbox.push(load_failed(), 4);
        tokio::task::yield_now().await;
        let pushing = Instant::now();
        for revision in 0..1000 {
            let mut event = rolled_back();
            event.rollout.as_mut().unwrap().revision = revision;
            outbox.push(event, 4);
        }
        assert_eq!(pushing.elapsed(), Duration::ZERO, "pushing never waits");
        let stats = outbox.stats();
        assert_eq!((stats.queued, stats.dropped), (4, 996), "{stats:?}");
        let waiting: Vec<u64> = sync::lock(&outbox.queue)
            .iter()
            .map(|e| e.rollout.as_ref().unwrap().revision)
            .collect();
        assert_eq!(waiting, [996, 997, 998, 999], "the newest are kept");
        runner.abort();
    }
}
