//! The local engine: a server of ours that speaks the Inworld protocol with
//! scripted characters, synthesized speech and injectable faults.
//!
//! The published Node SDK runs a whole session against it unchanged
//! (`tests/node_sdk_conformance.rs`), so the protocol it speaks is the real one.
//!
//! ```no_run
//! use inworld::engine::{EngineConfig, Pacing, RunningEngine, Workspace};
//!
//! let mut config = EngineConfig::new(Workspace::default_scenes()); // 127.0.0.1, a free port
//! config.pacing = Pacing::Human;
//! // On threads of its own, so nothing it does can stall the host's work.
//! let engine = RunningEngine::start_dedicated(config)?; // bound on return
//! println!("engine at {}, key {}", engine.addr(), engine.credentials().key);
//! engine.stop();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! What is public: the options ([`EngineConfig`]), the scene files
//! ([`scene`], [`Workspace`]), the running engine ([`RunningEngine`]), the
//! limits it enforces on clients ([`limits`]), its synthesized speech
//! ([`speech`]) and the state bytes it hands out ([`state::SavedState`]).
//! Everything else is the engine's own business.

mod brain;
mod busy;
mod config;
mod connections;
#[cfg(feature = "espeak")]
mod espeak;
mod feedback;
mod items;
pub mod limits;
mod log_limit;
mod outbound;
#[cfg(feature = "pocketsphinx")]
mod pocketsphinx;
mod recognizer;
pub mod scene;
mod server;
mod sessions;
mod shared;
pub mod speech;
pub mod state;
mod stream;
mod synthesizer;
mod template;
mod tokens;
#[cfg(feature = "whisper")]
mod whisper;
mod world_engine;

pub use config::{Brain, EngineConfig, Faults, LlmConfig, Pacing, RecognizerKind, SynthesizerKind};
pub use scene::{SceneError, Workspace};
pub use server::RunningEngine;

/// Entry points for the fuzz targets of `fuzz/` (built only by `cargo fuzz`,
/// which sets `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod fuzzing {
    /// Fills a reply line's placeholders, as a character's reply does.
    pub fn fill_in(
        template: &str,
        player: &str,
        character: &str,
        text: &str,
        previous: &str,
        params: &[(String, String)],
    ) -> String {
        let values = super::template::Values {
            player,
            character,
            text,
            previous,
            params,
        };
        super::template::fill_in(template, &values)
    }
}
