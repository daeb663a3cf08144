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
