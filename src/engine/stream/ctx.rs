//! One open OpenSession stream, shared by its reader and its reply worker:
//! the way out to the client, and the books of cancels and pings.

use crate::engine::connections::StreamGuard;
use crate::engine::limits::MAX_ID_BYTES;
use crate::engine::sessions::StoredSession;
use crate::engine::shared::EngineShared;
use crate::protocol::ai::inworld::packets::InworldPacket;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tonic::Status;

/// Outbound packets buffered per stream.
const OUTBOUND_CAPACITY: usize = 64;
/// Bounds of the per-stream cancel and ping books.
const MAX_TRACKED: usize = 1024;

pub(super) type Outbound = mpsc::Receiver<Result<InworldPacket, Status>>;

#[derive(Default)]
struct Cancels {
    interactions: HashSet<String>,
    utterances: HashSet<String>,
    /// Jobs with a smaller sequence number were interrupted.
    below: u64,
}

pub(crate) struct StreamCtx {
    /// Tells this stream from the session's others (an audio session
    /// belongs to the stream it started on).
    pub id: u64,
    pub shared: Arc<EngineShared>,
    pub session: Arc<StoredSession>,
    out: mpsc::Sender<Result<InworldPacket, Status>>,
    cancels: Mutex<Cancels>,
    pings: Mutex<HashMap<String, Instant>>,
    ended: watch::Sender<bool>,
    /// Flips to true when the engine stops serving: the stream ends.
    pub stopping: watch::Receiver<bool>,
    /// Keeps the stream's connection from counting as idle.
    _open: Option<StreamGuard>,
}

impl StreamCtx {
    pub(super) fn new(
        shared: Arc<EngineShared>,
        session: Arc<StoredSession>,
        stopping: watch::Receiver<bool>,
        open: Option<StreamGuard>,
    ) -> (Arc<StreamCtx>, Outbound) {
        let (out, rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let (ended, _) = watch::channel(false);
        static STREAMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let ctx = StreamCtx {
            id: STREAMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            shared,
            session,
            out,
            cancels: Mutex::new(Cancels::default()),
            pings: Mutex::new(HashMap::new()),
            ended,
            stopping,
            _open: open,
        };
        (Arc::new(ctx), rx)
    }

    /// Sends a packet; false when the client is gone.
    pub async fn send(&self, packet: InworldPacket) -> bool {
        self.out.send(Ok(packet)).await.is_ok()
    }

    /// Ends the stream with `status`.
    pub async fn fail(&self, status: Status) {
        if self.shared.client_log.allow() {
            log::info!(
                "session {}: ending stream with {:?}: {}",
                self.session.id,
                status.code(),
                status.message()
            );
        }
        self.end_with(status).await;
        self.ended.send_replace(true);
    }

    /// Sends the status that ends the stream, without logging it.
    pub(super) async fn end_with(&self, status: Status) {
        let _ = self.out.send(Err(status)).await;
    }

    /// Resolves when the client stops listening.
    pub(super) async fn closed(&self) {
        self.out.closed().await
    }

    /// Flips to true when the stream was ended by [`StreamCtx::fail`].
    pub(super) fn ended(&self) -> watch::Receiver<bool> {
        self.ended.subscribe()
    }

    pub fn is_cancelled(&self, seq: u64, interaction: &str, utterance: &str) -> bool {
        let c = self.cancels.lock();
        seq < c.below
            || (!interaction.is_empty() && c.interactions.contains(interaction))
            || (!utterance.is_empty() && c.utterances.contains(utterance))
    }

    /// Cancels the replies to an interaction and these utterances. Ids longer
    /// than any the engine hands out are ignored.
    pub fn cancel(&self, interaction: &str, utterances: &[String]) {
        let mut c = self.cancels.lock();
        if c.interactions.len() >= MAX_TRACKED {
            c.interactions.clear();
        }
        if !interaction.is_empty() && interaction.len() <= MAX_ID_BYTES {
            c.interactions.insert(interaction.to_string());
        }
        for u in utterances.iter().take(MAX_TRACKED) {
            if c.utterances.len() >= MAX_TRACKED {
                c.utterances.clear();
            }
            if u.len() <= MAX_ID_BYTES {
                c.utterances.insert(u.clone());
            }
        }
    }

    /// Whether the reply to input `seq` was cut off by newer player input
    /// (not cancelled by the client, which knows it did).
    pub fn is_interrupted(&self, seq: u64) -> bool {
        seq < self.cancels.lock().below
    }

    /// Player input `seq` interrupts the replies to every older input.
    pub fn interrupt_before(&self, seq: u64) {
        self.cancels.lock().below = seq;
    }

    /// The round trip of an answered PING, if it was ours.
    pub fn pong(&self, ping_packet_id: &str) -> Option<Duration> {
        self.pings
            .lock()
            .remove(ping_packet_id)
            .map(|t| t.elapsed())
    }

    pub fn ping_sent(&self, packet_id: &str) {
        let mut pings = self.pings.lock();
        if pings.len() >= MAX_TRACKED {
            pings.clear();
        }
        pings.insert(packet_id.to_string(), Instant::now());
    }
}
