//! Inworld characters in Godot 4.2+: the `InworldClient`, `InworldSession`,
//! `InworldCharacter` and `InworldMicrophone` nodes over the inworld
//! library's Rust API. What the
//! packets mean (`events`) and the voice's arithmetic (`voice`) carry no
//! Godot types and are tested with `cargo test`; the nodes (`nodes`, one
//! class a file) are thin.

pub mod events;
mod nodes;
pub mod voice;

use godot::prelude::*;

struct InworldExtension;

/// The entry point Godot looks up: `gdext_rust_init` (inworld.gdextension).
#[gdextension]
unsafe impl ExtensionLibrary for InworldExtension {}
