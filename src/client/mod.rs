//! The async core: client configuration, the session state machine and its
//! packet queue, on the library's private tokio runtime.
//!
//! A [`Session`] is opened from a [`ClientConfig`] and never waits on the
//! network: its driver task (driver.rs) gets a token, opens the stream, loads
//! the scene, holds the conversation handshake, answers pings and reconnects
//! as the service's error details say. Packets reach the game through one
//! bounded queue per session (delivery.rs): [`Session::try_recv`] each frame,
//! a [`PacketHandler`] on a library thread, and an optional [`WakeupHandler`].
//! [`runtime`] owns the private tokio runtime.
//!
//! ```no_run
//! use inworld::auth::Credentials;
//! use inworld::client::{ClientConfig, Session};
//! use inworld::packet::{ConnectionState, ControlAction, PacketBody};
//! use std::time::Duration;
//!
//! let config = ClientConfig::new(
//!     "127.0.0.1:50051",
//!     "workspaces/demo/scenes/tavern",
//!     Credentials::new("test-api-key", "test-api-secret"),
//! );
//! let session = Session::open(config)?;
//! let sent = session.send_text("Hello!")?; // queued until the scene is loaded
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

pub mod config;
mod delivery;
mod driver;
pub mod runtime;
mod session;
mod wire;

pub use config::{
    Auth, Capabilities, ClientConfig, Continuation, ReconnectPolicy, SessionToken, Talker, TlsMode,
    UserConfig,
};
pub use session::Session;

pub use crate::packet::{Character, Packet, SceneStatus};
use std::fmt;
use std::sync::Arc;

/// Called with each packet on a library thread (instead of queueing it).
pub type PacketHandler = Arc<dyn Fn(Packet) + Send + Sync>;
/// Called on a library thread when the session's queue goes from empty to non-empty.
pub type WakeupHandler = Arc<dyn Fn() + Send + Sync>;

/// The session's connection, as the library sees it: the same states it
/// reports to the game as `Connection` packets.
pub type SessionState = crate::packet::ConnectionState;

/// The ids a send gave its packet (made client side), so a game can match the
/// replies (same `interaction_id`) and their `INTERACTION_END`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentIds {
    pub packet_id: String,
    pub utterance_id: String,
    pub interaction_id: String,
    pub correlation_id: String,
    pub conversation_id: String,
}

/// Why a call of the Rust API failed. The ffi maps each variant to an `IW_E_*` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A bad argument (empty text, empty character name, ...).
    InvalidArgument(String),
    /// The named thing (e.g. a character of the scene) does not exist.
    NotFound(String),
    /// The configuration is not usable; the message names the option.
    InvalidConfig(String),
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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::NotFound(m) => f.write_str(m),
            Error::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            Error::NotReady => f.write_str("the session's scene is not loaded yet"),
            Error::Closed => f.write_str("the session is closed"),
            Error::Shutdown => f.write_str("the library runtime was shut down"),
            Error::AlreadyStarted => f.write_str("the library runtime already started"),
            Error::QueueFull => f.write_str("the queue is full"),
            Error::Runtime(m) => write!(f, "runtime error: {m}"),
        }
    }
}

impl std::error::Error for Error {}
