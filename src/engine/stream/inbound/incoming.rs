//! One client packet being handled: its ids, who it is for, and the two
//! things a handler does besides changing the session, warning the client
//! and queueing player input for a reply.

use crate::engine::limits::MAX_PENDING_REPLIES;
use crate::engine::outbound::{self, Ids};
use crate::engine::stream::ctx::StreamCtx;
use crate::engine::stream::job::{Input, ReplyJob};
use std::sync::Arc;
use tokio::sync::mpsc;

pub(super) struct Incoming<'a> {
    pub ctx: &'a Arc<StreamCtx>,
    /// The packet's ids (its own packet id left out).
    pub ids: Ids,
    /// routing.target (or the first of routing.targets) when it names an agent.
    pub target_agent: Option<String>,
    /// Order of arrival on the stream.
    pub seq: u64,
    pub jobs: &'a mpsc::Sender<ReplyJob>,
}

impl Incoming<'_> {
    /// Tells the client what was wrong with its packet; the stream goes on.
    pub async fn warn(&self, message: impl AsRef<str>) {
        self.warn_with(&self.ids, message).await;
    }

    pub async fn warn_with(&self, ids: &Ids, message: impl AsRef<str>) {
        self.ctx
            .send(outbound::warning(ids, message.as_ref()))
            .await;
    }

    /// Queues player input for a character's reply (with the packet's ids).
    pub async fn reply(&self, input: Input) {
        self.reply_with(input, self.ids.clone()).await;
    }

    /// Queues player input for a reply that carries `ids`; when too many
    /// inputs are waiting it is dropped, and the client told so.
    pub async fn reply_with(&self, input: Input, ids: Ids) {
        if self.ctx.session.memory.lock().capabilities.interruptions {
            // Barge-in: a new player input cuts off older replies.
            self.ctx.interrupt_before(self.seq);
        }
        let job = ReplyJob {
            seq: self.seq,
            input,
            ids,
            target_agent: self.target_agent.clone(),
        };
        if let Err(mpsc::error::TrySendError::Full(job)) = self.jobs.try_send(job) {
            self.warn_with(
                &job.ids,
                format!(
                    "more than {MAX_PENDING_REPLIES} inputs are waiting for a reply: this one was dropped"
                ),
            )
            .await;
        }
    }
}
