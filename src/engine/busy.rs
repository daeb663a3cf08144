//! The busy-engine fault (client tests, `RunningEngine::busy_with`): an
//! engine busy with many sessions is slow to answer one session and slow to
//! answer calls of methods it does not serve (a client's liveness probe),
//! while it keeps streaming the replies it is already giving. Here that is
//! made exact: one session's replies, and every such call, wait until the
//! fault ends, however long that is, and nothing else waits.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

pub(crate) struct Busy {
    /// While the engine is busy: the session whose replies wait.
    held: watch::Sender<Option<String>>,
    /// Calls of methods the engine does not serve, received so far.
    unserved_calls: AtomicU64,
}

impl Default for Busy {
    fn default() -> Self {
        Busy {
            held: watch::Sender::new(None),
            unserved_calls: AtomicU64::new(0),
        }
    }
}

impl Busy {
    /// Busy with `session_id` held, or (`None`) not busy any more: what
    /// waited goes on.
    pub fn set(&self, session_id: Option<&str>) {
        self.held.send_replace(session_id.map(str::to_string));
    }

    /// Waits while `session_id`'s replies are held.
    pub async fn reply_may_start(&self, session_id: &str) {
        let mut held = self.held.subscribe();
        // The sender lives as long as the engine: an error cannot happen.
        let _ = held.wait_for(|h| h.as_deref() != Some(session_id)).await;
    }

    /// A call of a method the engine does not serve: counted, and let
    /// through once the engine is not busy.
    pub async fn unserved_call(&self) {
        self.unserved_calls.fetch_add(1, Ordering::AcqRel);
        let mut held = self.held.subscribe();
        let _ = held.wait_for(Option::is_none).await;
    }

    pub fn unserved_calls(&self) -> u64 {
        self.unserved_calls.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn only_the_held_session_and_unserved_calls_wait_until_the_fault_ends() {
        let busy = std::sync::Arc::new(Busy::default());
        busy.reply_may_start("a").await;
        busy.unserved_call().await;
        busy.set(Some("a"));
        busy.reply_may_start("b").await;
        let held = tokio::spawn({
            let busy = busy.clone();
            async move {
                busy.reply_may_start("a").await;
                busy.unserved_call().await;
            }
        });
        // Yields only: a hang would show as the test never ending.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!held.is_finished());
        busy.set(None);
        tokio::time::timeout(Duration::from_secs(60), held)
            .await
            .expect("released")
            .unwrap();
        assert_eq!(busy.unserved_calls(), 2);
    }
}
