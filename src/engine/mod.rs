//! The local engine: a server of ours that speaks the Inworld protocol with
//! scripted characters, synthesized speech and injectable faults.
//!
//! The published Node SDK runs a whole session against it unchanged
//! (`tests/node_sdk_conformance.rs`), so the protocol it speaks is the real one.
//!
//! CONTRACT (the client tests and the ffi layer use these; keep them):
//!
//! ```ignore
//! pub struct EngineConfig {
//!     pub listen: std::net::SocketAddr,          // port 0 picks a free port
//!     pub workspace: Workspace,                  // scenes and characters (scene.rs)
//!     pub credentials: Vec<crate::auth::Credentials>,
//!     pub token_ttl: Duration,                   // default 1 h
//!     pub session_idle_timeout: Duration,        // default 30 min
//!     pub pacing: Pacing,                        // Instant (benchmarks) or Human (demos)
//!     pub tls: Option<(Vec<u8> /*cert PEM*/, Vec<u8> /*key PEM*/)>,
//!     pub record: bool,                          // keep every client packet (received_packets)
//!     pub max_message_bytes: usize,              // largest accepted client message
//! }
//! impl EngineConfig { pub fn new(workspace: Workspace) -> Self; }   // 127.0.0.1:0, key test-api-key / secret test-api-secret
//! impl Workspace {
//!     pub fn default_scenes() -> Workspace;  // the demo scene (README)
//!     pub fn test_scenes() -> Workspace;     // alice, bob, carol, other-scene, "please fail"
//!     pub fn from_toml_str(s: &str) -> Result<Workspace, SceneError>;
//!     pub fn from_file(path: &Path) -> Result<Workspace, SceneError>;
//!     pub fn scene_names(&self) -> Vec<String>;  // full resource names
//! }
//! pub struct RunningEngine;   // stops when dropped or on stop()
//! impl RunningEngine {
//!     pub fn start(config: EngineConfig, runtime: &tokio::runtime::Handle) -> std::io::Result<RunningEngine>; // binds before returning
//!     pub fn addr(&self) -> SocketAddr;
//!     pub fn credentials(&self) -> &Credentials;       // the first pair
//!     pub fn stop(self);                               // stops accepting and ends streams
//!     pub fn received_packets(&self) -> Vec<(String /*session id*/, InworldPacket)>; // every client packet, in order (wire checks)
//! }
//! ```
//!
//! Module map: [`config`] (options), [`scene`] (scene files), [`tokens`]
//! (GenerateToken auth and session tokens), [`sessions`] (per-session state and
//! expiry), [`world_engine`] (the WorldEngine service: GenerateToken and the
//! OpenSession stream), `inbound` (what each client packet does), [`replies`] (what characters say and how it is
//! streamed), [`speech`] (synthesized audio with phoneme timings),
//! [`feedback`], [`state`] (GetSessionState and continuations), [`wire`]
//! (building server packets), [`server`] (RunningEngine).

pub mod config;
pub mod feedback;
mod inbound;
pub mod replies;
pub mod scene;
pub mod server;
pub mod sessions;
pub mod speech;
pub mod state;
pub mod tokens;
pub mod wire;
pub mod world_engine;

mod shared;

pub use config::{EngineConfig, Pacing};
pub use scene::{SceneError, Workspace};
pub use server::RunningEngine;
