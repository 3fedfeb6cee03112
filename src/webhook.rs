//! The rollout webhook: one JSON POST per rollout outcome (promoted, rolled back,
//! aborted), so a chat channel or a CI pipeline learns what happened.
//!
//! Best effort by design: a failed or slow receiver is logged (warn) and never holds up or
//! fails the rollout. The request goes through the crate's one HTTP client
//! ([`crate::gate::client`]), so only `http://` URLs work; `https://` is refused when the
//! webhook is configured (put a local relay in front of an https receiver).
//!
//! The URL is a [`Url`]: a userinfo is sent as basic auth, and logs show the URL without
//! userinfo and query values (a token in `?token=...` stays secret). The body is scrubbed
//! by [`crate::redact`] like every other output.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::gate::client;
use crate::redact::{self, Url};

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
        message: &'static str,
    },
}

/// Result alias of the webhook module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What happened to a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Every replica runs the new revision.
    Promoted,
    /// A gate failed; every replica is back on the previous revision.
    RolledBack,
    /// `rollout abort`; every replica is back on the previous revision.
    Aborted,
}

/// The JSON body of a webhook POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutEvent {
    /// What happened.
    pub event: EventKind,
    /// The project.
    pub project: String,
    /// The service.
    pub service: String,
    /// The revision rolled out (history number).
    pub revision: u64,
    /// The revision rollbacks restore.
    pub previous_revision: u64,
    /// The image reference of `revision`.
    pub image: String,
    /// Why it rolled back or was aborted.
    pub reason: Option<String>,
    /// When, RFC 3339 UTC ([`crate::timefmt::rfc3339`]).
    pub at: String,
}

/// Where rollout events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    url: Url,
}

impl Webhook {
    /// A webhook posting to `url`, which must be `http://HOST[:PORT][/PATH]` (`https://` is
    /// not supported).
    pub fn new(text: &str) -> Result<Self> {
        let url = Url::new(text);
        let fail = |message| Error::Url {
            url: url.to_string(),
            message,
        };
        if text.starts_with("https://") {
            return Err(fail(
                "https:// is not supported (composectl speaks plain HTTP only); use an \
                 http:// URL, for example a relay on localhost",
            ));
        }
        if !text.starts_with("http://") {
            return Err(fail("not an http:// URL; write http://HOST[:PORT][/PATH]"));
        }
        if url.http_parts().is_none() {
            return Err(fail(
                "the URL names no host (or a port that is no number); write http://HOST[:PORT][/PATH]",
            ));
        }
        Ok(Self { url })
    }

    /// The URL (shown without userinfo and query values).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// POSTs `event` as JSON within [`TIMEOUT`]. A failure (no connection, no answer in
    /// time, a status other than 2xx) is logged and otherwise ignored.
    pub async fn post(&self, event: &RolloutEvent) {
        let body = serde_json::to_vec(&redact::to_json(event)).unwrap_or_default();
        match client::post(&self.url, "application/json", &body, TIMEOUT).await {
            Ok(response) if (200..300).contains(&response.status) => {
                debug!(url = %self.url, event = ?event.event, "webhook delivered");
            }
            Ok(response) => warn!(
                url = %self.url,
                status = response.status,
                project = %event.project,
                service = %event.service,
                "the webhook receiver refused the rollout event"
            ),
            Err(error) => warn!(
                %error,
                project = %event.project,
                service = %event.service,
                "the rollout event could not be delivered to the webhook"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
