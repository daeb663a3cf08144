//! The async core: client configuration, the session state machine and its
//! packet queue, on the library's private tokio runtime.
//!
//! CONTRACT (the ffi layer is written against these signatures; keep them):
//!
//! ```ignore
//! pub mod runtime {
//!     pub fn set_worker_threads(n: usize) -> Result<(), Error>; // before first use; Err(AlreadyStarted) after
//!     pub fn handle() -> Result<tokio::runtime::Handle, Error>;  // starts it on first use (2 workers default); Err(Shutdown) after shutdown()
//!     pub fn shutdown();                                        // stops and joins; idempotent; later handle() is Err(Shutdown)
//! }
//! pub struct ClientConfig { .. }   // Default::default() gives the SDK's defaults (see config.rs)
//! pub struct Session;              // cheap to clone (Arc inside), Send + Sync
//! impl Session {
//!     pub fn open(config: ClientConfig) -> Result<Session, Error>;   // never waits on the network
//!     pub fn state(&self) -> SessionState;                           // Connecting / Ready / Reconnecting / Closed
//!     pub fn session_id(&self) -> Option<String>;
//!     pub fn scene(&self) -> Option<SceneStatus>;                    // last scene status
//!     pub fn characters(&self) -> Vec<Character>;
//!     pub fn current_character(&self) -> Option<Character>;
//!     pub fn set_current_character(&self, who: &str) -> Result<(), Error>; // agent id, resource name or display name
//!     pub fn send_text(&self, text: &str) -> Result<SentIds, Error>;
//!     pub fn send_trigger(&self, name: &str, params: &[(&str, &str)]) -> Result<SentIds, Error>;
//!     pub fn send_narrated_action(&self, text: &str) -> Result<SentIds, Error>;
//!     pub fn try_recv(&self) -> Option<Packet>;                      // never blocks, never allocates
//!     pub fn recv_timeout(&self, timeout: Duration) -> Option<Packet>; // blocking; for tools and tests
//!     pub fn set_handler(&self, handler: Option<PacketHandler>);    // library-thread delivery instead of the queue
//!     pub fn set_wakeup(&self, wakeup: Option<WakeupHandler>);      // called when the queue becomes non-empty
//!     pub fn close(&self);                                          // idempotent; afterwards no handler/wakeup call runs
//! }
//! pub type PacketHandler = Arc<dyn Fn(Packet) + Send + Sync>;
//! pub type WakeupHandler = Arc<dyn Fn() + Send + Sync>;
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

/// The session's connection, as the library sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SessionState {
    /// Getting a token, opening the stream, loading the scene.
    Connecting = 1,
    /// The scene is loaded; sends go out at once.
    Ready = 2,
    /// The stream broke; the library is opening a new one (sends are queued).
    Reconnecting = 3,
    /// Closed for good: by `close()`, or after an error that is not retried.
    Closed = 4,
}

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
    /// A bad argument (empty text, unknown character, ...).
    InvalidArgument(String),
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
