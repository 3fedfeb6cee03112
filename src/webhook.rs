//! The webhook: tells a chat channel, a phone or a CI pipeline what happened — rollouts
//! started, promoted, rolled back, aborted or held ([`crate::controller::rollouts`]), and
//! conditions that start and recover: a service crash-looping, a project failing to load
//! or to reconcile ([`conditions`]).
//!
//! - **Where**: an `http://` or `https://` URL (`--webhook`). https trusts the system's
//!   root certificates, plus those of `--webhook-ca-file` when given
//!   ([`crate::gate::tls`]).
//! - **How**: a payload [`Format`] (`--webhook-format`: `json`, `slack`, `discord`,
//!   `ntfy`, `gotify`; by default guessed from the URL, or named by a `FORMAT+https://`
//!   scheme), see [`format`].
//! - **Never in the way**: [`Webhook::notify`] queues and returns at once; one task
//!   delivers the queue in order, retrying a failed delivery with backoff; a full queue
//!   drops its oldest event with a warning ([`queue`]).
//!
//! The URL is a [`Url`]: a userinfo is sent as basic auth, and logs and errors show the URL
//! without userinfo and query values (a token in `?token=...` stays secret). Bodies are
//! scrubbed by [`crate::redact`] like every other output.

pub mod conditions;
pub mod event;
pub mod format;
pub mod queue;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::debug;

use crate::gate::client;
use crate::gate::tls::{self, Tls};
use crate::redact::Url;
pub use event::{Event, EventKind, RolloutFacts};
pub use format::Format;
pub use queue::{Failure, Retry, Stats};

/// The longest wait for the receiver's answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the webhook module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured URL cannot be used.
    #[error("webhook URL {url}: {message}")]
    Url {
        /// The URL, without userinfo and query values.
        url: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// The format setting names no format.
    #[error("webhook format {0:?}: not a format; write one of {names}", names = format::NAMES)]
    Format(String),
    /// The TLS settings cannot be used (the CA file, the system's roots).
    #[error("webhook TLS: {0}")]
    Tls(#[from] tls::Error),
}

/// Result alias of the webhook module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where events go and how they are written; cheap to clone, every clone feeds the same
/// queue.
#[derive(Debug, Clone)]
pub struct Webhook {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    target: Arc<Target>,
    outbox: Arc<queue::Outbox>,
    retry: Retry,
    sender: OnceLock<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.outbox.close();
    }
}

/// The receiver: URL, format and TLS trust.
#[derive(Debug)]
struct Target {
    url: Url,
    format: Format,
    tls: Option<Tls>,
}

impl Webhook {
    /// A webhook posting to `text` in the format the URL suggests, trusting the system's
    /// roots for `https://`.
    pub fn new(text: &str) -> Result<Self> {
        Self::with_settings(text, None, None)
    }

    /// A webhook posting to `text` (`http[s]://[USER:PASS@]HOST[:PORT][/PATH]`, or
    /// `FORMAT+https://...`), in `format` (`auto` or `None`: from the URL), trusting the
    /// system's roots and the certificates of `ca_file` for `https://`.
    pub fn with_settings(text: &str, format: Option<&str>, ca_file: Option<&Path>) -> Result<Self> {
        let (from_scheme, text) = match Format::split_scheme(text) {
            Some((format, rest)) => (Some(format), rest),
            None => (None, text),
        };
        let url = Url::new(text);
        let fail = |message: &str| Error::Url {
            url: url.to_string(),
            message: message.to_owned(),
        };
        let Some(parts) = url.http_parts() else {
            return Err(fail(
                "not a usable URL; write http[s]://HOST[:PORT][/PATH] (a host, a numeric port)",
            ));
        };
        let tls_url = parts.tls;
        let named = match format.map(str::trim) {
            None | Some("" | "auto") => None,
            Some(name) => Some(Format::from_name(name).ok_or_else(|| Error::Format(name.into()))?),
        };
        let format = match (named, from_scheme) {
            (Some(a), Some(b)) if a != b => {
                return Err(fail(&format!(
                    "its scheme says {} but the format setting says {}; keep one",
                    b.as_str(),
                    a.as_str()
                )));
            }
            (Some(f), _) | (None, Some(f)) => f,
            (None, None) => Format::guess(&url),
        };
        if format == Format::Ntfy
            && parts
                .path
                .split('?')
                .next()
                .unwrap_or("/")
                .trim_matches('/')
                .is_empty()
        {
            return Err(fail(
                "an ntfy URL names its topic: write https://HOST/TOPIC",
            ));
        }
        let tls = match (tls_url, ca_file) {
            (true, Some(path)) => Some(Tls::with_ca_file(path)?),
            (true, None) => Some(Tls::system()?),
            (false, Some(path)) => {
                // Checked anyway, so a typo shows now rather than when the URL changes.
                Tls::with_ca_file(path)?;
                None
            }
            (false, None) => None,
        };
        Ok(Self::from_target(
            Target { url, format, tls },
            Retry::default(),
        ))
    }

    fn from_target(target: Target, retry: Retry) -> Self {
        Self {
            inner: Arc::new(Inner {
                target: Arc::new(target),
                outbox: Arc::default(),
                retry,
                sender: OnceLock::new(),
            }),
        }
    }

    /// The same receiver with `retry` (a fresh queue; call before the first event).
    pub fn with_retry(self, retry: Retry) -> Self {
        Self::from_target(
            Target {
                url: self.inner.target.url.clone(),
                format: self.inner.target.format,
                tls: self.inner.target.tls.clone(),
            },
            retry,
        )
    }

    /// The URL (shown without userinfo and query values).
    pub fn url(&self) -> &Url {
        &self.inner.target.url
    }

    /// The payload format.
    pub fn format(&self) -> Format {
        self.inner.target.format
    }

    /// What happened to the events so far.
    pub fn stats(&self) -> Stats {
        self.inner.outbox.stats()
    }

    /// Queues `event` for delivery and returns at once (the sender task starts with the
    /// first event; call from within the tokio runtime).
    pub fn notify(&self, event: Event) {
        self.inner.sender.get_or_init(|| {
            let outbox = self.inner.outbox.clone();
            let target = self.inner.target.clone();
            tokio::spawn(outbox.run(self.inner.retry, move |event| {
                let target = target.clone();
                async move { target.deliver(&event).await }
            }));
        });
        self.inner.outbox.push(event, self.inner.retry.capacity);
    }

    /// Waits until every queued event was delivered or given up, for at most `grace`
    /// (at shutdown, so the last events are not lost); true when nothing is left.
    pub async fn flush(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if self.inner.outbox.is_idle() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                let stats = self.stats();
                tracing::warn!(
                    queued = stats.queued,
                    "the webhook's last events were not delivered before shutdown"
                );
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One delivery attempt of `event`, now (no queue, no retry).
    pub async fn deliver(&self, event: &Event) -> Result<(), Failure> {
        self.inner.target.deliver(event).await
    }
}

impl Target {
    async fn deliver(&self, event: &Event) -> Result<(), Failure> {
        let (url, body) = self.format.render(&self.url, event);
        let (url, headers) = self.format.credential_header(&url);
        let what = if event.event.is_rollout() {
            "rollout event"
        } else {
            "notification"
        };
        let tls = self.tls.as_ref();
        let sent = client::post_with(&url, "application/json", &body, tls, &headers, TIMEOUT);
        match sent.await {
            Ok(response) if (200..300).contains(&response.status) => {
                debug!(url = %url, event = event.event.as_str(), "webhook delivered");
                Ok(())
            }
            Ok(response) => {
                let status = response.status;
                tracing::warn!(
                    url = %url,
                    status,
                    event = event.event.as_str(),
                    project = %event.project,
                    service = event.service.as_deref().unwrap_or(""),
                    "the webhook receiver refused the {what}"
                );
                Err(Failure {
                    message: format!("POST {url}: the receiver answered {status}"),
                    transient: status >= 500 || status == 429 || status == 408,
                })
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    event = event.event.as_str(),
                    project = %event.project,
                    service = event.service.as_deref().unwrap_or(""),
                    "the {what} could not be delivered to the webhook"
                );
                Err(Failure {
                    message: error.to_string(),
                    transient: true,
                })
            }
        }
    }
}

#[cfg(test)]
mod conditions_tests;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
pub(crate) mod test_receiver;
#[cfg(test)]
mod tests;
