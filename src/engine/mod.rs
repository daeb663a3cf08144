//! The local engine: a server of ours that speaks the Inworld protocol with
//! scripted characters, synthesized speech and injectable faults.
//!
//! The published Node SDK runs a whole session against it unchanged
//! (`tests/node_sdk_conformance.rs`), so the protocol it speaks is the real one.
//!
//! ```no_run
//! use inworld::engine::{EngineConfig, Pacing, RunningEngine, Workspace};
//!
//! let runtime = tokio::runtime::Runtime::new()?;
//! let mut config = EngineConfig::new(Workspace::default_scenes()); // 127.0.0.1, a free port
//! config.pacing = Pacing::Human;
//! let engine = RunningEngine::start(config, runtime.handle())?; // bound on return
//! println!("engine at {}, key {}", engine.addr(), engine.credentials().key);
//! engine.stop();
//! # Ok::<(), std::io::Error>(())
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
