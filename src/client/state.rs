//! What a session's handle and its task share: the delivery queue, the
//! snapshot the API reads without asking the task, the commands the API
//! sends it, and the count of sends not yet gone out.

use super::calls::{self, AfterClose, Call, CallContext, SceneChange};
use super::delivery::Delivery;
use super::mic::{AudioSessionConfig, MicShared, Pipeline};
use super::playback::PlaybackFeed;
use super::send_slots::{SendPermit, SendSlots};
use super::transcript::Transcript;
use super::{Error, SentIds};
use crate::packet::{
    CallResult, Character, ConnectionEvent, ConnectionState, Packet, PacketBody, Resumed,
    SceneStatus, SendFailed, SendFailure,
};
use crate::protocol::ai::inworld::packets::InworldPacket;
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A call's result on its way. Dropped undelivered (the runtime shut
/// down), it still releases what it held, so no receiver waits for it.
struct PromisedResult {
    shared: Arc<SessionShared>,
    /// Its pending-send slot, when it holds one.
    permit: Option<SendPermit>,
}

impl PromisedResult {
    fn deliver(mut self, result: CallResult) {
        // Its slot is free before the game sees the answer.
        drop(self.permit.take());
        self.shared
            .delivery
            .deliver(Packet::local(PacketBody::CallResult(result)));
    }
}

impl Drop for PromisedResult {
    fn drop(&mut self) {
        // Its slot goes with it (`permit`).
        self.shared.delivery.settle();
    }
}

/// What a send carries; the task builds the wire packet when it goes out
/// (a trigger's target is the current character at that moment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    Text(String),
    Trigger {
        name: String,
        params: Vec<(String, String)>,
        /// The character it is addressed to (resource name or agent id);
        /// `None`: the one-to-one conversation's character, or in a group
        /// whoever the service picks.
        target: Option<String>,
    },
    NarratedAction(String),
    /// AUDIO_SESSION_START: goes through the conversation like the others
    /// (after its handshake); the audio follows once it went out. With the
    /// input's mark when it was made (see `MicShared`), as the end.
    AudioSessionStart(AudioSessionConfig, u64),
    AudioSessionEnd(u64),
    /// TTS_PLAYBACK_MUTE (true) or _UNMUTE: the service leaves the speech
    /// out of replies, or puts it back.
    PlaybackMute(bool),
}

impl Outgoing {
    /// Whether the service answers it with an interaction of its own ids
    /// (audio controls carry none: the reply to speech gets fresh ones).
    pub(crate) fn awaits_reply(&self) -> bool {
        !matches!(
            self,
            Outgoing::AudioSessionStart(..)
                | Outgoing::AudioSessionEnd(_)
                | Outgoing::PlaybackMute(_)
        )
    }
}

/// Who takes part in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Members {
    /// The one-to-one chat: the current character and the player.
    Current,
    /// Characters by resource name, and the player if `player`.
    Group { names: Vec<String>, player: bool },
}

/// A send of the game's on its way: its ids (returned to the game),
/// payload, and pending-send slot (free once it went out or failed).
#[derive(Debug)]
pub(crate) struct Send {
    pub ids: SentIds,
    pub payload: Outgoing,
    pub permit: SendPermit,
}

/// A packet to the world (characters, items, a cancel of responses), with
/// its pending-send slot.
#[derive(Debug)]
pub(crate) struct WorldPacket {
    pub packet: InworldPacket,
    pub permit: SendPermit,
}

/// A call of the game's, with its pending-send slot (free once answered).
#[derive(Debug)]
pub(crate) struct CountedCall {
    pub request_id: u64,
    pub call: Call,
    pub permit: SendPermit,
}

#[derive(Debug)]
pub(crate) enum Command {
    /// Boxed: the channel's slots stay small (an idle session holds them).
    Send(Box<Send>),
    /// The game picked another current character (already in the snapshot).
    CharacterChanged,
    /// A packet to the world (characters, items), written once linked.
    World(Box<WorldPacket>),
    /// These characters (resource names) left the scene (already in the
    /// snapshot): they leave every conversation too.
    CharactersRemoved(Vec<String>),
    ChangeScene(Box<(String, SceneChange)>),
    StartConversation {
        id: String,
        members: Members,
    },
    UpdateConversation {
        id: String,
        members: Members,
    },
    EndConversation {
        id: String,
    },
    Call(Box<CountedCall>),
    /// The game opened an audio input: the task drains it from now on
    /// (replacing the previous one).
    AudioInput(Box<Pipeline>),
    /// The game opened a playback stream: the task feeds it from now on.
    OpenPlayback(Box<PlaybackFeed>),
    /// The game cancelled responses: their speech is flushed from the
    /// playback streams, and the packet goes to the world (as `World`).
    CancelResponses {
        packet: Box<WorldPacket>,
        interaction_id: String,
        utterance_ids: Vec<String>,
    },
    /// Voice detection turned on (with its settings) or off; the
    /// microphone's audio before mark `from` is stale.
    VoiceDetection {
        config: Option<crate::client::mic::VoiceDetection>,
        from: u64,
    },
    /// The game opened an echo reference: the task drains it with the
    /// audio input (replacing the previous one).
    EchoReference(Box<Pipeline>),
}

/// What the API reads without asking the task.
pub(crate) struct Snapshot {
    pub state: ConnectionState,
    /// Whether the final Connection Closed packet has gone to the game.
    pub closed_reported: bool,
    pub session_id: Option<String>,
    pub scene: Option<SceneStatus>,
    pub current: Option<Character>,
    /// The one-to-one conversation's id (fresh per session).
    pub conversation_id: String,
    /// The conversation of the open audio session.
    pub audio_conversation: Option<String>,
}

pub(crate) struct SessionShared {
    pub delivery: Delivery,
    pub snapshot: Mutex<Snapshot>,
    /// The session's workspace (its scene's): scene changes and characters
    /// stay in it.
    pub workspace: String,
    /// The dialog so far (the task writes it; the game may read it).
    pub transcript: Mutex<Transcript>,
    /// The id of the next call (feedback, saved state).
    next_request: std::sync::atomic::AtomicU64,
    /// Wakes the task when the game closes the session.
    pub close_signal: Notify,
    /// Sends accepted and neither gone out nor reported failed yet.
    sends: Arc<SendSlots>,
    /// Set when the task ends after the session had a token: calls made
    /// after it closed use that token.
    pub after_close: Mutex<Option<AfterClose>>,
    /// What the audio thread reads (no lock): whether an audio session is
    /// open, and the frames dropped.
    pub mic: Arc<MicShared>,
}

impl SessionShared {
    pub(crate) fn new(
        queue_capacity: usize,
        status_reserve: usize,
        max_pending_sends: usize,
        state: ConnectionState,
        workspace: String,
    ) -> Self {
        SessionShared {
            delivery: Delivery::new(queue_capacity, status_reserve),
            workspace,
            transcript: Mutex::new(Transcript::default()),
            next_request: std::sync::atomic::AtomicU64::new(1),
            snapshot: Mutex::new(Snapshot {
                state,
                closed_reported: state == ConnectionState::Closed,
                session_id: None,
                scene: None,
                current: None,
                conversation_id: uuid::Uuid::new_v4().to_string(),
                audio_conversation: None,
            }),
            close_signal: Notify::new(),
            sends: SendSlots::new(max_pending_sends),
            after_close: Mutex::new(None),
            mic: Arc::default(),
        }
    }

    /// Makes a call for the game; its result arrives as a CallResult
    /// packet, after Closed too. `permit`: the pending-send slot it holds
    /// until answered, if any.
    pub(crate) fn spawn_call(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        request_id: u64,
        call: Call,
        cx: CallContext,
        permit: Option<SendPermit>,
    ) {
        self.delivery.promise();
        let promised = PromisedResult {
            shared: self.clone(),
            permit,
        };
        calls::spawn(runtime, request_id, call, cx, move |result| {
            promised.deliver(result)
        });
    }

    /// A call made after the session closed, with its last token; `Closed`
    /// when it never had one.
    pub(crate) fn call_after_close(
        self: &Arc<Self>,
        request_id: u64,
        call: Call,
    ) -> Result<(), Error> {
        let Some(after) = self.after_close.lock().clone() else {
            return Err(Error::Closed);
        };
        self.spawn_call(&after.runtime, request_id, call, after.context, None);
        Ok(())
    }

    pub(crate) fn state(&self) -> ConnectionState {
        self.snapshot.lock().state
    }

    /// Moves to `state` and reports it as a Connection packet (once per
    /// change; every Reconnecting is reported, with its delay). Closed is
    /// final: see [`SessionShared::finish`].
    pub(crate) fn set_state(&self, state: ConnectionState, retry_in: Duration, resumed: Resumed) {
        debug_assert!(state != ConnectionState::Closed, "use finish()");
        {
            let mut snapshot = self.snapshot.lock();
            if snapshot.state == ConnectionState::Closed
                || (snapshot.state == state && state != ConnectionState::Reconnecting)
            {
                return;
            }
            snapshot.state = state;
        }
        self.delivery
            .deliver(Packet::local(PacketBody::Connection(ConnectionEvent {
                state,
                retry_in,
                resumed,
            })));
    }

    /// Marks the session closed at once (what `state()` says); the task then
    /// reports what was left unsent and calls [`SessionShared::finish`].
    pub(crate) fn mark_closed(&self) {
        self.mic.close();
        self.snapshot.lock().state = ConnectionState::Closed;
    }

    /// The session's last packet: Connection Closed, once.
    pub(crate) fn finish(&self) {
        self.mic.close();
        {
            let mut snapshot = self.snapshot.lock();
            snapshot.state = ConnectionState::Closed;
            if snapshot.closed_reported {
                return;
            }
            snapshot.closed_reported = true;
        }
        self.delivery
            .deliver_last(Packet::local(PacketBody::Connection(ConnectionEvent {
                state: ConnectionState::Closed,
                retry_in: Duration::ZERO,
                resumed: Resumed::No,
            })));
    }

    /// A fresh request id (never 0).
    pub(crate) fn request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    /// A pending-send slot for a send, or `None` when too many wait already.
    pub(crate) fn reserve_send(&self) -> Option<SendPermit> {
        self.sends.reserve()
    }

    /// Reports a send that failed, with its ids.
    pub(crate) fn report_failed(&self, ids: &SentIds, reason: SendFailure, message: &str) {
        self.report_failed_packet(ids.packet_ids(), reason, message);
    }

    /// Reports a packet that failed (a send, or a packet to the world).
    pub(crate) fn report_failed_packet(
        &self,
        ids: crate::packet::PacketIds,
        reason: SendFailure,
        message: &str,
    ) {
        let mut packet = Packet::local(PacketBody::SendFailed(SendFailed {
            reason,
            message: message.into(),
        }));
        packet.ids = ids;
        self.delivery.deliver(packet);
    }
}
