//! The async core: a [`Client`] (configuration, one shared HTTP/2 connection,
//! tokens) from which [`Session`]s are opened; each session's task runs the
//! protocol on a tokio runtime (the library's private one, or the host's).
//!
//! A session never waits on the network in the caller's thread: its task
//! gets a token, opens the stream, loads the scene, holds the conversation
//! handshake, answers pings, notices a dead connection and reconnects as the
//! service's error details say. Packets reach the game through one bounded
//! queue per session: [`Session::try_recv`] each frame, [`Session::recv`] in
//! async code, a [`PacketHandler`] on a library thread, and an optional
//! [`WakeupHandler`].
//!
//! Where things live: `client.rs` (the Client), `connection.rs` (dialling,
//! tokens), `session/` (the handle's API; its audio and group conversations
//! in files of their own), `state.rs` (what the handle shares with its
//! task), `send_slots.rs` (the bound on sends not yet gone out: a permit per
//! send), `driver/` (the task: one stream at a time,
//! liveness, the game's commands, reconnect decisions, classifying received
//! packets, and the audio sessions, voice detection and speakers as plain
//! values), `scene.rs` and
//! `conversations.rs` (state machines that return packets to send),
//! `outbound.rs` (the packets the client writes), `delivery.rs` (the queue),
//! `mic/` (audio in: the audio thread's input, resampling and framing),
//! `playback.rs` (speech out: the stream the game's audio thread pulls).
//!
//! ```no_run
//! use inworld::auth::Credentials;
//! use inworld::client::{Client, ClientConfig};
//! use inworld::packet::{ConnectionState, ControlAction, PacketBody};
//! use std::time::Duration;
//!
//! let client = Client::new(ClientConfig::new(
//!     "127.0.0.1:50051",
//!     "workspaces/demo/scenes/tavern",
//!     Credentials::new("test-api-key", "test-api-secret"),
//! ))?;
//! let session = client.open_session()?;
//! let sent = session.send_text("Hello!")?; // goes out once the session is ready
//! while let Some(packet) = session.recv_timeout(Duration::from_secs(10)) {
//!     match &packet.body {
//!         PacketBody::Text(t) => println!("{}", t.text),
//!         PacketBody::Control(c)
//!             if c.action == ControlAction::InteractionEnd
//!                 && packet.ids.interaction_id == sent.interaction_id.as_str() =>
//!         {
//!             break
//!         }
//!         PacketBody::Connection(c) if c.state == ConnectionState::Closed => break,
//!         _ => {}
//!     }
//! }
//! session.close();
//! # Ok::<(), inworld::client::Error>(())
//! ```

mod calls;
#[allow(clippy::module_inception)]
mod client;
pub mod config;
mod connection;
mod conversations;
mod delivery;
mod driver;
mod face;
mod in_flight;
pub mod mic;
mod outbound;
pub mod playback;
pub mod runtime;
mod scene;
mod send_slots;
mod session;
mod state;
mod transcript;

pub use calls::{DislikeType, EntityItem, ItemsInEntities, SceneChange};
pub use client::Client;
pub use config::{
    Auth, Capabilities, ClientConfig, Continuation, ReconnectPolicy, SessionConfig, SessionToken,
    Talker, Timeouts, TlsMode, TokenFuture, TokenProvider, TokenRequest, UserConfig,
};
pub use face::{expression_of, strength_of};
pub use mic::{
    AudioFormat, AudioInput, AudioSessionConfig, EchoReference, MicrophoneMode, PushError,
    UnderstandingMode, VoiceDetection,
};
pub use playback::{Playback, PlaybackFormat, PlaybackMonitor};
pub use session::{Conversation, Session, NEXT_TURN_TRIGGER};

pub use crate::packet::{Character, ConnectionState, Packet, SceneStatus};
use crate::packet::{PacketIds, Text};
use std::fmt;
use std::sync::Arc;

/// Called with each packet on a library thread (instead of queueing it).
pub type PacketHandler = Arc<dyn Fn(Packet) + Send + Sync>;
/// Called on a library thread when the session's queue goes from empty to non-empty.
pub type WakeupHandler = Arc<dyn Fn() + Send + Sync>;

/// The ids a send gave its packet (made client side), so a game can match the
/// replies (same `interaction_id`) and their `INTERACTION_END`, and the
/// report of a send that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentIds {
    pub packet_id: String,
    pub utterance_id: String,
    pub interaction_id: String,
    pub correlation_id: String,
    pub conversation_id: String,
}

impl SentIds {
    /// Fresh ids for a packet of `conversation_id`.
    pub(crate) fn fresh(conversation_id: String) -> Self {
        let id = || uuid::Uuid::new_v4().to_string();
        SentIds {
            packet_id: id(),
            utterance_id: id(),
            interaction_id: id(),
            correlation_id: id(),
            conversation_id,
        }
    }

    /// The same ids as the packet model carries them.
    pub(crate) fn packet_ids(&self) -> PacketIds {
        PacketIds {
            packet_id: Text::from(self.packet_id.as_str()),
            utterance_id: Text::from(self.utterance_id.as_str()),
            interaction_id: Text::from(self.interaction_id.as_str()),
            correlation_id: Text::from(self.correlation_id.as_str()),
            conversation_id: Text::from(self.conversation_id.as_str()),
        }
    }
}

/// Why a call of the Rust API failed. The ffi maps each variant to an `IW_E_*` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A bad argument (empty text, ...).
    InvalidArgument(String),
    /// The configuration is not usable; the message names the option.
    InvalidConfig(String),
    /// The named thing (a character, ...) does not exist.
    NotFound(String),
    /// The call needs a loaded scene.
    NotReady,
    /// The session is closed.
    Closed,
    /// The runtime was shut down.
    Shutdown,
    /// Too late: the runtime already started.
    AlreadyStarted,
    /// A bounded queue is full.
    QueueFull,
    /// The runtime failed (could not start threads, ...).
    Runtime(String),
    /// The service refused or failed a call, or did not answer in time
    /// (the message names the gRPC status).
    Service(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            Error::NotFound(m) => f.write_str(m),
            Error::NotReady => f.write_str("the session's scene is not loaded yet"),
            Error::Closed => f.write_str("the session is closed"),
            Error::Shutdown => f.write_str("the library runtime was shut down"),
            Error::AlreadyStarted => f.write_str("the library runtime already started"),
            Error::QueueFull => f.write_str(
                "too many sends are waiting to go out (the session is connecting or \
                 reconnecting); try again later",
            ),
            Error::Runtime(m) => write!(f, "runtime error: {m}"),
            Error::Service(m) => write!(f, "the service failed the call: {m}"),
        }
    }
}

impl std::error::Error for Error {}
