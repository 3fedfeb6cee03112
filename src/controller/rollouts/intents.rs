//! Control commands waiting for the driver: the control socket queues an intent per
//! service and waits; the driver applies it on its next pass of the service and answers.
//! So a rollout record has one writer, as `kubectl rollout pause` only sets `spec.paused`
//! and the deployment controller acts on it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::model::ServiceRef;
use crate::rollout::command::{Command, Refusal};

/// What a user asked of one service's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Pause, resume, promote or abort the rollout in progress.
    Command(Command),
    /// Roll back to revision `to` (default: the one before the desired revision).
    Undo {
        /// The revision.
        to: Option<u64>,
    },
}

/// The driver's answer: what it did, or why not.
pub type Answer = Result<String, Refusal>;

/// An intent and where its answer goes.
pub struct Pending {
    /// The intent.
    pub intent: Intent,
    reply: oneshot::Sender<Answer>,
}

impl Pending {
    /// Whether the asker still waits (an intent nobody waits for any more is dropped
    /// unapplied: the asker was told it was not applied).
    pub fn is_wanted(&self) -> bool {
        !self.reply.is_closed()
    }

    /// Sends the answer.
    pub fn answer(self, answer: Answer) {
        let _ = self.reply.send(answer);
    }
}

/// Intents by service, in the order they were asked.
#[derive(Default)]
pub struct Intents {
    queue: Mutex<BTreeMap<ServiceRef, Vec<Pending>>>,
}

impl Intents {
    /// Queues `intent` for `service`; the receiver gets the driver's answer.
    pub fn submit(&self, service: ServiceRef, intent: Intent) -> oneshot::Receiver<Answer> {
        let (reply, answer) = oneshot::channel();
        crate::sync::lock(&self.queue)
            .entry(service)
            .or_default()
            .push(Pending { intent, reply });
        answer
    }

    /// Takes the intents queued for `service` that someone still waits for.
    pub fn take(&self, service: &ServiceRef) -> Vec<Pending> {
        let taken = crate::sync::lock(&self.queue)
            .remove(service)
            .unwrap_or_default();
        taken.into_iter().filter(Pending::is_wanted).collect()
    }
}
