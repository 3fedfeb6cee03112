//! Placeholder: replaced by the webhook module of the control branch.

use serde::Serialize;

/// A rollout outcome posted to the webhook.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutEvent {
    /// `promoted`, `rolled_back` or `aborted`.
    pub event: String,
    /// The project.
    pub project: String,
    /// The service.
    pub service: String,
    /// The revision rolled out.
    pub revision: u64,
    /// The previous revision.
    pub previous_revision: u64,
    /// The image.
    pub image: String,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: String,
}

/// The webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The URL.
    pub url: String,
}

impl Webhook {
    /// Posts `event`.
    pub async fn post(&self, event: &RolloutEvent) {
        let _ = (&self.url, event);
    }
}
